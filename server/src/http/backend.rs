//! What the HTTP layer needs from the node, as a trait (`Backend`) plus the plain data types that cross
//! it. The production node implements `Backend`; `fake::FakeBackend` implements it over a local
//! `store::Store` for tests. Nothing here does IO.

use std::future::Future;

pub use store::auth::{Auth, AuthCommand, AuthError, AuthReply, Caller};

/// One keys request after parsing, ready for the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientRequest {
    /// A write through consensus. The HTTP layer has stamped `now` (the node may re-stamp it).
    Write(store::Command),
    /// A read. `quorum` asks for a linearizable read (ReadIndex); otherwise the local store answers.
    /// `now` only renders the remaining `ttl` of nodes.
    Get { key: String, recursive: bool, sorted: bool, quorum: bool, now: i64 },
}

/// A successful answer: the store's event plus the Raft position for `X-Raft-Index` / `X-Raft-Term`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub event: store::Event,
    pub raft_index: u64,
    pub raft_term: u64,
}

/// Why a request got no event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerError {
    /// The store refused the operation (carries etcd's code, cause and store index).
    Store(store::StoreError),
    /// No answer within the request timeout: etcd 3.4 answers 300 "etcdserver: request timed out".
    Timeout,
    /// The leader changed or vanished while the request waited: 300 with etcd's "possibly due to
    /// previous leader failure" cause.
    LeaderFailed,
    /// No leader was known for the whole bounded wait: 301 "During Leader Election".
    NoLeader,
    /// The node is shutting down: 300 "etcdserver: server stopped".
    Stopped,
}

impl ServerError {
    /// The etcd v2 error the client sees. Errors that are not the store's carry index 0, as etcd's.
    pub fn to_store_error(&self) -> store::StoreError {
        match self {
            ServerError::Store(error) => error.clone(),
            ServerError::Timeout => store::StoreError::raft_internal("etcdserver: request timed out", 0),
            ServerError::LeaderFailed => store::StoreError::raft_internal(
                "etcdserver: request timed out, possibly due to previous leader failure",
                0,
            ),
            ServerError::NoLeader => store::StoreError::leader_elect("etcdserver: no leader", 0),
            ServerError::Stopped => store::StoreError::raft_internal("etcdserver: server stopped", 0),
        }
    }
}

impl From<store::StoreError> for ServerError {
    fn from(error: store::StoreError) -> ServerError {
        ServerError::Store(error)
    }
}

/// The node's answer to a `ClientRequest`.
pub type ClientResponse = Result<Answer, ServerError>;

/// A `wait=true` GET.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchRequest {
    pub key: String,
    pub recursive: bool,
    /// `stream=true`: every matching event, until the client leaves; otherwise one event.
    pub stream: bool,
    /// etcd's `waitIndex`; `None` = from the next event.
    pub since_index: Option<u64>,
}

/// Events a watch stream buffers between the node and the connection. The node must never block on
/// a slow client: when this is full it closes the watch (the response ends), as etcd does.
pub const WATCH_CHANNEL_CAPACITY: usize = 128;

/// A started watch. The HTTP layer sends its headers at once, then one line per event received.
/// Contract with the backend: the stream ends when `events` closes (all senders dropped); dropping
/// the `WatchStream` (the client went away) closes the receiver, which the backend observes with
/// `Sender::is_closed` / `Sender::closed` and must answer by cancelling the store watcher.
#[derive(Debug)]
pub struct WatchStream {
    /// `X-Etcd-Index`: the store index when the watch started.
    pub etcd_index: u64,
    pub raft_index: u64,
    pub raft_term: u64,
    pub events: tokio::sync::mpsc::Receiver<store::Event>,
}

/// One cluster member, as `/v2/members` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    /// Empty until the member has started and published its name.
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    /// Learners replicate the log but do not vote (shown by the v3 API only; v2 has no learners).
    pub is_learner: bool,
}

/// Why a membership change was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberError {
    /// 409 `membership: ID exists`.
    IdExists,
    /// 409 `membership: peerURL exists`.
    PeerUrlExists,
    /// 404 `No such member: <id>`.
    NotFound(u64),
    /// 410 `Member permanently removed: <id>`.
    Removed(u64),
    /// 500 `Internal Server Error` (timeout, no leader, refused by strict reconfiguration checks...).
    /// The text is for logs only: etcd does not show it to the client.
    Internal(String),
}

/// Counters and latencies of one follower, as the leader sees them (`/v2/stats/leader`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FollowerStats {
    pub id: u64,
    pub success: u64,
    pub fail: u64,
    /// Milliseconds.
    pub latency_current: f64,
    pub latency_average: f64,
    pub latency_standard_deviation: f64,
    pub latency_minimum: f64,
    pub latency_maximum: f64,
}

/// A Prometheus histogram: `bucket_counts[i]` is the CUMULATIVE count of observations `<=
/// bucket_bounds[i]` (seconds); `count` includes the `+Inf` bucket.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    pub bucket_bounds: Vec<f64>,
    pub bucket_counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    /// etcd's buckets for disk durations: 1 ms doubling up to 8.192 s.
    pub fn etcd_disk_buckets() -> Histogram {
        let bucket_bounds: Vec<f64> = (0..14).map(|power| 0.001 * f64::from(1u32 << power)).collect();
        let bucket_counts = vec![0; bucket_bounds.len()];
        Histogram { bucket_bounds, bucket_counts, sum: 0.0, count: 0 }
    }

    /// Records one observation of `seconds`.
    pub fn observe(&mut self, seconds: f64) {
        debug_assert_eq!(self.bucket_bounds.len(), self.bucket_counts.len());
        for (bound, count) in self.bucket_bounds.iter().zip(self.bucket_counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// The numbers `/metrics` exposes under etcd's names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerMetrics {
    pub leader_changes_seen: u64,
    pub proposals_committed: u64,
    pub proposals_applied: u64,
    pub proposals_pending: u64,
    pub proposals_failed: u64,
    pub wal_fsync_seconds: Histogram,
    pub backend_commit_seconds: Histogram,
    /// Watchers registered now, and watches refused at `--max-watchers`.
    pub watchers: u64,
    pub watchers_refused: u64,
    /// Messages dropped by the Raft core (its outbox full) and by the peer transport (queues full,
    /// peers unknown or down), since the process started.
    pub raft_messages_dropped: u64,
    pub transport_messages_dropped: u64,
}

/// A snapshot of the node for the status endpoints. Times are Unix nanoseconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeStatus {
    pub name: String,
    pub member_id: u64,
    pub cluster_id: u64,
    /// 0 when no leader is known.
    pub leader_id: u64,
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    /// Sorted by id.
    pub members: Vec<Member>,
    pub start_time: i64,
    /// When the current leader became leader (as far as this member knows).
    pub leader_start_time: i64,
    pub recv_append_requests: u64,
    pub send_append_requests: u64,
    /// Only on the leader: `None` answers `/v2/stats/leader` with 403.
    pub followers: Option<Vec<FollowerStats>>,
    pub store_stats: store::StoreStats,
    pub metrics: ServerMetrics,
    /// The v3 keyspace's current revision and an estimate of its size (etcd's "DB SIZE").
    pub v3_revision: i64,
    pub v3_size_bytes: i64,
    /// Whether v2 authentication is on (credentials are checked only then).
    pub auth_enabled: bool,
}

impl NodeStatus {
    pub fn is_leader(&self) -> bool {
        self.leader_id != 0 && self.leader_id == self.member_id
    }
}

/// The node, as the HTTP layer sees it. Every method must answer in bounded time.
pub trait Backend: Clone + Send + Sync + 'static {
    /// A write (through consensus) or a read (local, or linearizable with `quorum`).
    fn request(&self, request: ClientRequest) -> impl Future<Output = ClientResponse> + Send;
    /// Starts a watch (see `WatchStream` for the cancellation contract).
    fn watch(
        &self,
        request: WatchRequest,
    ) -> impl Future<Output = Result<WatchStream, store::StoreError>> + Send;
    fn status(&self) -> NodeStatus;
    /// Whether v2 authentication is on, cheaply (asked before every keys request).
    fn auth_enabled(&self) -> bool {
        self.status().auth_enabled
    }
    /// A keys request on behalf of `caller`: the node checks its permission (reads when served,
    /// writes when applied) and answers a denial with etcd's 110. Backends without v2 auth (the test
    /// fakes) keep this default: their `auth_write` refuses everything, so auth is never on there.
    fn request_as(
        &self,
        caller: Caller,
        request: ClientRequest,
    ) -> impl Future<Output = ClientResponse> + Send {
        let _ = caller;
        self.request(request)
    }
    /// A watch on behalf of `caller` (read permission on the key, or on the prefix when recursive).
    fn watch_as(
        &self,
        caller: Caller,
        request: WatchRequest,
    ) -> impl Future<Output = Result<WatchStream, store::StoreError>> + Send {
        let _ = caller;
        self.watch(request)
    }
    /// A copy of the member's v2 auth state (users with their password hashes, roles, the flag).
    fn auth_state(&self) -> impl Future<Output = Result<Auth, ServerError>> + Send {
        std::future::ready(Ok(Auth::default()))
    }
    /// A v2 auth write through consensus on behalf of `caller`.
    fn auth_write(
        &self,
        caller: Caller,
        command: AuthCommand,
    ) -> impl Future<Output = Result<AuthReply, AuthError>> + Send {
        let _ = (caller, command);
        std::future::ready(Err(AuthError { status: 500, message: "Internal Server Error".to_string() }))
    }
    fn member_add(&self, peer_urls: Vec<String>) -> impl Future<Output = Result<Member, MemberError>> + Send;
    fn member_remove(&self, id: u64) -> impl Future<Output = Result<(), MemberError>> + Send;
    fn member_update(
        &self,
        id: u64,
        peer_urls: Vec<String>,
    ) -> impl Future<Output = Result<(), MemberError>> + Send;
}
