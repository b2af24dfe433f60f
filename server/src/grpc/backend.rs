//! The node as the gRPC services see it: v3 requests in, answers with etcd's response header out,
//! watch streams, and the member's status. The production shell implements it over the node thread;
//! `fake` implements it over an in-process keyspace for the services' own tests.

use std::future::Future;

use tokio::sync::mpsc;

use crate::http::Backend;
use crate::node::{V3Reply, V3Request, WatchCreate, WatchUpdate};

/// etcd's `ResponseHeader`: which cluster and member answered, at which keyspace revision and Raft term.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub cluster_id: u64,
    pub member_id: u64,
    pub revision: i64,
    pub raft_term: u64,
}

/// A v3 answer with its header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V3Answer {
    pub header: Header,
    pub reply: V3Reply,
}

/// Why a v3 request failed. The services turn each into etcd's gRPC status (`api::errors`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V3Error {
    /// The keyspace refused the request (etcd's texts and codes).
    Keyspace(mvcc::Error),
    /// No leader is known (`etcdserver: no leader`).
    NoLeader,
    /// Not answered in time; a write may or may not have happened (`etcdserver: request timed out`).
    Timeout,
    /// The member is stopping or was removed (`etcdserver: server stopped`).
    Stopped,
    /// Too many requests or watchers wait on this member (`etcdserver: too many requests`).
    Overloaded,
    /// The request is larger than `--max-request-bytes` (`etcdserver: request is too large`).
    TooLarge,
    /// Anything else, with its reason (gRPC `Unknown`).
    Other(String),
}

/// A registered watch: its updates arrive on `updates` in revision order. Dropping the receiver
/// cancels the watch.
#[derive(Debug)]
pub struct V3WatchStream {
    pub header: Header,
    pub updates: mpsc::Receiver<WatchUpdate>,
}

/// What `endpoint status` prints (etcd's `StatusResponse`), plus the header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberStatus {
    pub header: Header,
    /// The server version etcd reports (Concord answers etcd 3.4's).
    pub version: String,
    pub db_size_bytes: i64,
    pub db_size_in_use_bytes: i64,
    /// 0 when no leader is known.
    pub leader: u64,
    pub raft_index: u64,
    pub raft_term: u64,
    pub raft_applied_index: u64,
    pub is_learner: bool,
    pub errors: Vec<String>,
}

/// The node, as the gRPC services see it. Every method must answer in bounded time.
pub trait V3Backend: Backend {
    /// A KV, lease or hash request: writes through consensus, reads linearizable unless serializable.
    fn v3(&self, request: V3Request) -> impl Future<Output = Result<V3Answer, V3Error>> + Send;
    /// Registers a watch (see `V3WatchStream` for cancellation).
    fn v3_watch(&self, request: WatchCreate) -> impl Future<Output = Result<V3WatchStream, V3Error>> + Send;
    /// This member's status, from the status copy (no round trip to the node thread).
    fn v3_status(&self) -> MemberStatus;
    /// Hands leadership to `target` (a voter); answers once it moved or failed.
    fn move_leader(&self, target: u64) -> impl Future<Output = Result<Header, V3Error>> + Send;
    /// Adds a member as a voter or a learner (v3 `MemberAdd`).
    fn member_add_v3(
        &self,
        peer_urls: Vec<String>,
        is_learner: bool,
    ) -> impl Future<Output = Result<crate::http::Member, crate::http::MemberError>> + Send;
    /// Promotes a learner to a voter once it has caught up (v3 `MemberPromote`).
    fn member_promote(&self, id: u64) -> impl Future<Output = Result<(), crate::http::MemberError>> + Send;
}
