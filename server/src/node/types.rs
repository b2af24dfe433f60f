//! The node's public API types: how a member is configured (`NodeConfig`), what a client asks
//! (`ClientRequest`) and is answered (`Answer`, `Reply`, `RequestError`), what one `process()` hands the
//! shell (`Output`), why a node stops (`NodeError`), and the members as the cluster knows them.

use std::fmt;
use std::path::PathBuf;

use raft::{Index, Message, NodeId, Role, SoftState, Term};
use serde::{Deserialize, Serialize};
use store::auth::{Auth, AuthCommand, AuthError, AuthReply, Caller};
use store::{Command, Event, StoreError};

use super::v3_types::{V3Reply, V3Request, WatchCreate, WatchUpdate};
use crate::storage::snap::SnapError;
use crate::storage::wal::WalError;

/// How the leader compacts the v3 keyspace by itself (etcd's auto-compaction), in ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Only clients compact (retention 0, etcd's default).
    #[default]
    Off,
    /// Every `interval_ticks`, compact to the revision that was current `retention_ticks` ago.
    Periodic { retention_ticks: u64, interval_ticks: u64 },
    /// Every `interval_ticks`, compact to the current revision minus `retention_revisions`.
    Revision { retention_revisions: i64, interval_ticks: u64 },
}

/// Watchers one member serves at once unless `--max-watchers` says otherwise.
pub const DEFAULT_MAX_WATCHERS: usize = 100_000;

/// A member as the cluster knows it: etcd's `/v2/members` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: NodeId,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    /// Learners replicate the log but do not vote.
    pub is_learner: bool,
    /// A member added as a voter joins as a learner first and the leader promotes it once it has
    /// caught up, so adding a member never costs the cluster its quorum (a 1-member cluster that
    /// adds a second member keeps accepting writes).
    pub promote_when_caught_up: bool,
}

/// How to start one member.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub id: NodeId,
    pub cluster_id: u64,
    /// The members of a brand-new cluster (`--initial-cluster`); ignored when the data dir has data.
    pub initial_members: Vec<Member>,
    /// `--initial-cluster-state existing`: this member joins a running cluster, so it starts with no
    /// configuration of its own and never campaigns before the leader has told it the membership.
    pub join_existing: bool,
    /// `--force-new-cluster`: on open, drop the uncommitted tail of the log and append (and commit
    /// locally) changes that remove every other member, so this member restarts alone with every
    /// committed write (disaster recovery after losing a quorum for good).
    pub force_new_cluster: bool,
    /// This member's advertised peer URLs (`--initial-advertise-peer-urls`). `--force-new-cluster`
    /// gives them to the member record it adds when this member is not yet in the configuration (a
    /// restored backup under a new member ID); etcd's default `http://localhost:2380` when empty.
    pub advertise_peer_urls: Vec<String>,
    pub election_ticks: u32,
    pub heartbeat_ticks: u32,
    /// Applied entries between two snapshots (`--snapshot-count`).
    pub snapshot_count: u64,
    /// Entries kept in the log behind a snapshot so that slightly slow followers catch up from the
    /// log rather than by a whole snapshot (etcd keeps 5000).
    pub snapshot_catchup_entries: u64,
    /// Ticks after which a request that was not answered fails with a timeout (its outcome unknown).
    pub request_timeout_ticks: u64,
    /// Ticks between two TTL sync proposals of the leader (etcd: 500 ms).
    pub sync_interval_ticks: u64,
    pub data_dir: PathBuf,
    /// `--wal-dir`; `<data-dir>/member/wal` when not given.
    pub wal_dir: Option<PathBuf>,
    pub max_wals: usize,
    pub max_snapshots: usize,
    /// Watchers this member serves at once at most; beyond it a watch is refused (`--max-watchers`).
    pub max_watchers: usize,
    /// The v2 events kept for `waitIndex` (`--v2-watch-history`, `--v2-watch-history-bytes`).
    pub v2_watch_history: store::HistoryLimits,
    /// `--linearizable-reads`: plain v2 GETs go through ReadIndex like `quorum=true` ones.
    pub linearizable_reads: bool,
    /// Milliseconds per tick (the heartbeat interval): lease TTLs and the lease promotion on a leader
    /// change are counted in it.
    pub tick_ms: u64,
    /// Operations in one v3 txn at most (`--max-txn-ops`, etcd's default 128).
    pub max_txn_ops: usize,
    /// The v3 keyspace's space quota (`--quota-backend-bytes`; etcd's default 2 GiB); `None`: no quota.
    pub quota_backend_bytes: Option<u64>,
    /// `--auto-compaction-mode` and `--auto-compaction-retention`: the leader compacts the v3 keyspace.
    pub auto_compaction: AutoCompaction,
    /// Seeds the Raft core's RNG.
    pub seed: u64,
    /// Distinguishes this run of the process from earlier ones, so that an entry proposed before a
    /// restart is never mistaken for a request of this run (production: start time; simulator: count).
    pub incarnation: u64,
    #[cfg(feature = "planted-bugs")]
    pub planted_bug: Option<PlantedBug>,
}

impl NodeConfig {
    /// etcd's defaults at one tick = 100 ms for a member `id` of the cluster `initial_members`.
    pub fn new(id: NodeId, cluster_id: u64, initial_members: Vec<Member>, data_dir: PathBuf) -> NodeConfig {
        NodeConfig {
            id,
            cluster_id,
            initial_members,
            join_existing: false,
            force_new_cluster: false,
            advertise_peer_urls: Vec::new(),
            election_ticks: 10,
            heartbeat_ticks: 1,
            snapshot_count: 100_000,
            snapshot_catchup_entries: 5_000,
            request_timeout_ticks: 70,
            sync_interval_ticks: 5,
            data_dir,
            wal_dir: None,
            max_wals: 5,
            max_snapshots: 5,
            max_watchers: DEFAULT_MAX_WATCHERS,
            v2_watch_history: store::HistoryLimits::default(),
            linearizable_reads: false,
            tick_ms: 100,
            max_txn_ops: mvcc::DEFAULT_MAX_TXN_OPS,
            quota_backend_bytes: Some(super::DEFAULT_QUOTA_BACKEND_BYTES),
            auto_compaction: AutoCompaction::Off,
            seed: id,
            incarnation: 0,
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }
    pub(super) fn wal_dir(&self) -> PathBuf {
        self.wal_dir.clone().unwrap_or_else(|| self.data_dir.join("member").join("wal"))
    }
    pub(super) fn snap_dir(&self) -> PathBuf {
        self.data_dir.join("member").join("snap")
    }
}

/// Known bugs the simulator must catch: Raft's own (forwarded to the core) and the node's.
#[cfg(feature = "planted-bugs")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    Raft(raft::PlantedBug),
    /// Acknowledge Raft persistence (and so answer clients) without fsyncing the WAL.
    AckBeforeDurable,
    /// Apply v3 writes without checking them against the auth state they are applied in.
    AuthUncheckedAtApply,
    /// Check a linearizable v3 range's permission when it arrives, not once its read index is applied.
    AuthCheckBeforeReadIndex,
}

#[cfg(feature = "planted-bugs")]
impl std::str::FromStr for PlantedBug {
    type Err = String;
    fn from_str(name: &str) -> Result<PlantedBug, String> {
        match name {
            "AckBeforeDurable" => return Ok(PlantedBug::AckBeforeDurable),
            "AuthUncheckedAtApply" => return Ok(PlantedBug::AuthUncheckedAtApply),
            "AuthCheckBeforeReadIndex" => return Ok(PlantedBug::AuthCheckBeforeReadIndex),
            _ => {}
        }
        name.parse::<raft::PlantedBug>()
            .map(PlantedBug::Raft)
            .map_err(|_| format!("unknown planted bug {name:?}"))
    }
}

/// What a client asks a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientRequest {
    /// A write, proposed through Raft and answered once applied on this member.
    Write(Command),
    /// A read: `quorum` reads are linearizable (ReadIndex), others read this member's store.
    Get {
        key: String,
        recursive: bool,
        sorted: bool,
        quorum: bool,
    },
    /// A watch (`wait=true`): answered by `WatchStarted` or at once by an event from the history,
    /// then by `WatchEvent`s (one for a one-shot watch, every one for a stream).
    Watch {
        key: String,
        recursive: bool,
        stream: bool,
        wait_index: Option<u64>,
    },
    /// Forget the watch started by the request with this id (its client went away).
    CancelWatch {
        watch_request_id: u64,
    },
    /// Membership changes (`/v2/members`).
    AddMember {
        member: Member,
    },
    RemoveMember {
        id: NodeId,
    },
    UpdateMember {
        id: NodeId,
        peer_urls: Vec<String>,
    },
    /// This member announces its name and client URLs to the cluster once it runs (etcd's publish),
    /// so `/v2/members` and `cluster-health` can show them.
    Publish {
        name: String,
        client_urls: Vec<String>,
    },
    /// Turns a learner added with the learner flag into a voter (v3 `MemberPromote`).
    PromoteMember {
        id: NodeId,
    },
    /// Hands leadership to `target`; answered once it leads (v3 `MoveLeader`).
    MoveLeader {
        target: NodeId,
    },
    /// A request to the v3 keyspace or its leases.
    V3(V3Request),
    /// A v3 watch: answered by `V3Watch(Created)` (or `Compacted`), then by `V3Watch` updates.
    V3Watch(WatchCreate),
    /// Forget the v3 watch started by the request with this id (its client went away or canceled).
    V3CancelWatch {
        watch_request_id: u64,
    },
    /// A keys request (`Get`, `Write` or `Watch`) on behalf of `caller`, checked against the v2 auth
    /// state: reads and watches when served, writes when applied. The bare variants are trusted.
    AsCaller {
        caller: Caller,
        request: Box<ClientRequest>,
    },
    /// A v2 auth write on behalf of `caller`, through the log (its password hash made beforehand).
    Auth {
        caller: Caller,
        command: AuthCommand,
    },
    /// A copy of this member's v2 auth state (`Reply::AuthState`), for credentials and auth reads.
    AuthState,
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Event(Event),
    /// A watcher waits; `start_index` is the store index to send in `X-Etcd-Index` at once.
    WatchStarted {
        start_index: u64,
    },
    WatchEvent(Event),
    /// The watch ended without an event (the watcher fell behind or the store was replaced).
    WatchClosed,
    /// A membership change was applied.
    MemberChanged,
    /// Leadership moved to the requested member.
    LeaderMoved,
    V3(V3Reply),
    V3Watch(WatchUpdate),
    /// An applied v2 auth write.
    Auth(AuthReply),
    AuthState(Box<Auth>),
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The store refused the operation (etcd's error codes).
    Store(StoreError),
    /// No leader is known; nothing was proposed.
    NoLeader,
    /// The request was not answered in time; a write may or may not have been applied.
    Timeout,
    /// Raft refused the proposal for another reason; nothing was proposed.
    Refused(String),
    /// This member was removed from the cluster.
    Removed,
    /// A membership request names an unknown member.
    MemberNotFound(NodeId),
    /// A membership request names a member that was removed.
    MemberRemoved(NodeId),
    /// A membership request would add a peer URL some member already has.
    PeerUrlExists,
    /// The member already serves `max_watchers` watchers; nothing was registered.
    TooManyWatchers,
    /// The v3 keyspace refused the request (etcd's texts and gRPC codes).
    V3(mvcc::Error),
    /// A v3 `MemberPromote` of a member that is not a learner or has not caught up.
    CannotPromote,
    /// The v2 auth state refused the write (etcd's status and message).
    Auth(AuthError),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Store(error) => write!(f, "{}: {} ({})", error.code, error.message, error.cause),
            RequestError::NoLeader => f.write_str("no leader"),
            RequestError::Timeout => f.write_str("request timed out"),
            RequestError::Refused(why) => write!(f, "proposal refused: {why}"),
            RequestError::Removed => f.write_str("this member has been permanently removed from the cluster"),
            RequestError::MemberNotFound(id) => write!(f, "No such member: {id:x}"),
            RequestError::MemberRemoved(id) => write!(f, "Member permanently removed: {id:x}"),
            RequestError::PeerUrlExists => f.write_str("membership: peerURL exists"),
            RequestError::TooManyWatchers => f.write_str("etcdserver: too many watchers"),
            RequestError::V3(error) => f.write_str(error.message()),
            RequestError::CannotPromote => {
                f.write_str("etcdserver: can only promote a learner member which is in sync with leader")
            }
            RequestError::Auth(error) => write!(f, "{} {}", error.status, error.message),
        }
    }
}

/// The answer to one request, with the Raft position it was answered at (etcd's `X-Raft-Index` and
/// `X-Raft-Term` headers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub request_id: u64,
    pub result: Result<Reply, RequestError>,
    pub raft_index: Index,
    pub raft_term: Term,
}

/// What one `process()` produced for the shell to carry out.
#[derive(Debug, Default)]
pub struct Output {
    /// Raft messages to send to peers.
    pub messages: Vec<Message>,
    /// Client answers to deliver.
    pub answers: Vec<Answer>,
    /// Set when the leader or this member's role changed.
    pub soft_state: Option<SoftState>,
    /// Set when this member learned that it was removed: the process should exit.
    pub removed: bool,
    /// A snapshot image to write off the node thread; its result goes back through
    /// `Node::snapshot_written`. At most one is in flight.
    pub snapshot_job: Option<super::SnapshotJob>,
}

/// Why the node cannot go on. A node that returned one must be stopped: its disk state is unknown.
#[derive(Debug)]
pub enum NodeError {
    Wal(WalError),
    Snap(SnapError),
    Start(raft::StartError),
    /// The data directory belongs to another member or cluster, or is otherwise unusable.
    DataDir(String),
    /// A snapshot, from disk or from the leader, could not be decoded or restored.
    SnapshotData(String),
    /// The node already failed; the first error says why.
    Failed(String),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Wal(error) => write!(f, "wal: {error}"),
            NodeError::Snap(error) => write!(f, "snapshot: {error}"),
            NodeError::Start(error) => write!(f, "{error}"),
            NodeError::DataDir(why) => write!(f, "data dir: {why}"),
            NodeError::SnapshotData(why) => write!(f, "snapshot data: {why}"),
            NodeError::Failed(why) => write!(f, "node stopped after an earlier failure: {why}"),
        }
    }
}

impl std::error::Error for NodeError {}

impl From<WalError> for NodeError {
    fn from(error: WalError) -> NodeError {
        NodeError::Wal(error)
    }
}

impl From<SnapError> for NodeError {
    fn from(error: SnapError) -> NodeError {
        NodeError::Snap(error)
    }
}

/// A cheap copy of what the HTTP layer shows about this member.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStatus {
    pub id: NodeId,
    pub cluster_id: u64,
    pub leader: Option<NodeId>,
    pub role: Option<Role>,
    pub term: Term,
    pub commit_index: Index,
    pub applied_index: Index,
    pub last_index: Index,
    pub store_index: u64,
    pub members: Vec<Member>,
    /// Watchers registered now (v2 and v3), and watches refused because `max_watchers` were registered.
    pub watchers: usize,
    pub watchers_refused: u64,
    /// The v3 keyspace's current revision, and its size (retained revisions and leases).
    pub v3_revision: i64,
    pub v3_records: usize,
    /// The estimated size of etcd's backend for the v3 keyspace (what the quota is checked against).
    pub v3_size_bytes: u64,
}
