//! The gRPC layer's view of the node (`grpc::V3Backend`): v3 requests, watches, leader moves and the
//! v3 member calls go into the node thread like v2 requests do, and come back with etcd's header.

use tokio::sync::{mpsc, oneshot};

use super::backend::NodeBackend;
use super::inbox::{Input, Responder};
use crate::grpc::{Header, MemberStatus, V3Answer, V3Backend, V3Error, V3WatchStream};
use crate::http::backend as api;
use crate::http::{Backend, ServerError};
use crate::node::{self, Reply, RequestError, V3Reply, V3Request, WatchCreate};

/// Updates a v3 watch may have in flight to its gRPC stream; a stream that falls further behind is
/// canceled (its client sees the watch end).
pub(super) const V3_WATCH_CHANNEL_CAPACITY: usize = 1024;

impl NodeBackend {
    fn header(&self, revision: i64, raft_term: u64) -> Header {
        let status = self.status();
        let revision = if revision > 0 { revision } else { status.v3_revision };
        Header { cluster_id: status.cluster_id, member_id: status.member_id, revision, raft_term }
    }
}

impl V3Backend for NodeBackend {
    async fn v3(&self, request: V3Request) -> Result<V3Answer, V3Error> {
        if self.disk_space.is_low() && grows_the_log(&request) {
            // etcd's answer to a write it has no room for (its NOSPACE alarm's error).
            return Err(V3Error::Keyspace(mvcc::Error::NoSpace));
        }
        let answer = self.ask_with_retry(node::ClientRequest::V3(request)).await.map_err(server_v3_error)?;
        match answer.result {
            Ok(Reply::V3(reply)) => {
                let header = self.header(reply_revision(&reply), answer.raft_term);
                Ok(V3Answer { header, reply })
            }
            Ok(other) => Err(V3Error::Other(format!("unexpected answer {other:?}"))),
            Err(error) => Err(v3_error(error)),
        }
    }

    async fn v3_watch(&self, request: WatchCreate) -> Result<V3WatchStream, V3Error> {
        let (updates, receiver) = mpsc::channel(V3_WATCH_CHANNEL_CAPACITY);
        let (start, started) = oneshot::channel();
        let responder = Responder::V3Watch { start: Some(start), updates, receiver: Some(receiver) };
        self.send(Input::Request { request: node::ClientRequest::V3Watch(request), responder })
            .map_err(|_| V3Error::Stopped)?;
        let updates = started.await.map_err(|_| V3Error::Stopped)??;
        Ok(V3WatchStream { header: self.header(0, self.status().term), updates })
    }

    fn v3_status(&self) -> MemberStatus {
        let status = self.status();
        MemberStatus {
            header: Header {
                cluster_id: status.cluster_id,
                member_id: status.member_id,
                revision: status.v3_revision,
                raft_term: status.term,
            },
            version: crate::grpc::ETCD_SERVER_VERSION.to_string(),
            db_size_bytes: status.v3_size_bytes,
            db_size_in_use_bytes: status.v3_size_bytes,
            leader: status.leader_id,
            raft_index: status.commit_index,
            raft_term: status.term,
            raft_applied_index: status.applied_index,
            is_learner: status
                .members
                .iter()
                .any(|member| member.id == status.member_id && member.is_learner),
            errors: Vec::new(),
        }
    }

    async fn move_leader(&self, target: u64) -> Result<Header, V3Error> {
        let answer =
            self.ask_with_retry(node::ClientRequest::MoveLeader { target }).await.map_err(server_v3_error)?;
        match answer.result {
            Ok(_) => Ok(self.header(0, answer.raft_term)),
            Err(error) => Err(v3_error(error)),
        }
    }

    async fn member_add_v3(
        &self,
        peer_urls: Vec<String>,
        is_learner: bool,
    ) -> Result<api::Member, api::MemberError> {
        self.member_add_as(peer_urls, is_learner).await
    }

    async fn member_promote(&self, id: u64) -> Result<(), api::MemberError> {
        let answer = self
            .ask_with_retry(node::ClientRequest::PromoteMember { id })
            .await
            .map_err(|error| api::MemberError::Internal(format!("{error:?}")))?;
        answer.result.map(|_| ()).map_err(super::backend::member_error)
    }
}

/// The keyspace revision a reply's header carries.
fn reply_revision(reply: &V3Reply) -> i64 {
    match reply {
        V3Reply::Range(response) => response.header.revision,
        V3Reply::Put(response) => response.header.revision,
        V3Reply::DeleteRange(response) => response.header.revision,
        V3Reply::Txn(response) => response.header.revision,
        V3Reply::Compact(response) => response.header.revision,
        V3Reply::LeaseGrant(response) => response.header.revision,
        V3Reply::LeaseRevoke(response) => response.header.revision,
        V3Reply::LeaseKeepAlive(response) => response.header.revision,
        V3Reply::LeaseTimeToLive(response) => response.header.revision,
        V3Reply::LeaseLeases(response) => response.header.revision,
        V3Reply::HashKv(response) => response.header.revision,
        V3Reply::Hash(response) => response.header.revision,
        V3Reply::Snapshot(image) => image.keyspace.current_revision,
        V3Reply::Alarm(_) | V3Reply::Auth(_) => 0,
    }
}

/// The v3 requests a nearly full disk refuses: the client writes (reads, lease keep-alives and
/// revokes, compactions and maintenance go on; a revoke or a compaction frees room).
fn grows_the_log(request: &V3Request) -> bool {
    match request {
        V3Request::Put(_) | V3Request::DeleteRange(_) | V3Request::Txn(_) | V3Request::LeaseGrant { .. } => {
            true
        }
        V3Request::Authorized { request, .. } => grows_the_log(request),
        _ => false,
    }
}

pub(super) fn v3_error(error: RequestError) -> V3Error {
    match error {
        RequestError::V3(error) => V3Error::Keyspace(error),
        RequestError::NoLeader => V3Error::NoLeader,
        RequestError::Timeout => V3Error::Timeout,
        RequestError::Removed => V3Error::Stopped,
        RequestError::TooManyWatchers => V3Error::Overloaded,
        RequestError::Refused(why) if why.contains("too many pending") => V3Error::Overloaded,
        // Refusals in etcd's own words pass through as they are (their code comes from etcd's table).
        RequestError::Refused(why) if why.starts_with("etcdserver: ") => V3Error::Other(why),
        other => V3Error::Other(other.to_string()),
    }
}

fn server_v3_error(error: ServerError) -> V3Error {
    match error {
        ServerError::Timeout | ServerError::LeaderFailed => V3Error::Timeout,
        ServerError::NoLeader => V3Error::NoLeader,
        ServerError::Stopped => V3Error::Stopped,
        ServerError::Store(error) => V3Error::Other(error.message.clone()),
    }
}
