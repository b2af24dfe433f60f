//! The HTTP layer's view of the node (`http::Backend`): each request goes into the node thread's inbox
//! with a responder, and comes back as an answer; writes wait a little for a leader to appear.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use store::StoreError;
use tokio::sync::{mpsc, oneshot};

use super::disk_space::DiskSpace;
use super::inbox::{Input, Responder, WatchSink};
use super::unix_nanos;
use crate::config::{Url, added_member_id};
use crate::http::backend as api;
use crate::node::{self, Reply, RequestError};

/// How long a write waits for a leader to appear before failing, within its request timeout.
pub(super) const NO_LEADER_RETRY: Duration = Duration::from_millis(25);

/// The node as the HTTP layer sees it: a channel into the node thread plus a status copy.
#[derive(Clone)]
pub struct NodeBackend {
    pub(super) inbox: std_mpsc::SyncSender<Input>,
    pub(super) status: Arc<RwLock<api::NodeStatus>>,
    pub(super) request_timeout: Duration,
    /// Whether the data disk is below its reserve: client writes are refused meanwhile.
    pub(super) disk_space: DiskSpace,
}

impl NodeBackend {
    pub(super) async fn ask(&self, request: node::ClientRequest) -> Result<node::Answer, api::ServerError> {
        let (sender, receiver) = oneshot::channel();
        self.send(Input::Request { request, responder: Responder::Once(sender) })?;
        receiver.await.map_err(|_| api::ServerError::Stopped)
    }
    pub(super) fn send(&self, input: Input) -> Result<(), api::ServerError> {
        self.inbox.send(input).map_err(|_| api::ServerError::Stopped)
    }
    /// Sends a request, retrying while no leader is known, until the request timeout.
    pub(super) async fn ask_with_retry(
        &self,
        request: node::ClientRequest,
    ) -> Result<node::Answer, api::ServerError> {
        let deadline = tokio::time::Instant::now() + self.request_timeout;
        loop {
            let answer = tokio::time::timeout_at(deadline, self.ask(request.clone()))
                .await
                .map_err(|_| api::ServerError::Timeout)??;
            match answer.result {
                Err(RequestError::NoLeader) if tokio::time::Instant::now() + NO_LEADER_RETRY < deadline => {
                    tokio::time::sleep(NO_LEADER_RETRY).await;
                }
                _ => return Ok(answer),
            }
        }
    }
}

pub(super) fn server_error(error: RequestError) -> api::ServerError {
    match error {
        RequestError::Store(error) => api::ServerError::Store(error),
        RequestError::NoLeader => api::ServerError::NoLeader,
        RequestError::Timeout => api::ServerError::Timeout,
        RequestError::Removed => api::ServerError::Stopped,
        other => api::ServerError::Store(StoreError::raft_internal(other.to_string(), 0)),
    }
}

pub(super) fn member_error(error: RequestError) -> api::MemberError {
    match error {
        RequestError::MemberNotFound(id) => api::MemberError::NotFound(id),
        RequestError::MemberRemoved(id) => api::MemberError::Removed(id),
        RequestError::PeerUrlExists => api::MemberError::PeerUrlExists,
        // Refusals in etcd's own words keep them (gRPC then answers with that error's code).
        RequestError::Refused(why) if why.starts_with("etcdserver: ") => api::MemberError::Internal(why),
        other => api::MemberError::Internal(other.to_string()),
    }
}

impl NodeBackend {
    /// A keys request, trusted (`None`: internal, such as the health probe) or on behalf of a caller.
    async fn keys_request(
        &self,
        caller: Option<api::Caller>,
        request: api::ClientRequest,
    ) -> api::ClientResponse {
        if matches!(request, api::ClientRequest::Write(_)) && self.disk_space.is_low() {
            return Err(api::ServerError::Store(StoreError::raft_internal(DiskSpace::refusal(), 0)));
        }
        let request = match request {
            api::ClientRequest::Write(command) => node::ClientRequest::Write(command),
            api::ClientRequest::Get { key, recursive, sorted, quorum, now: _ } => {
                node::ClientRequest::Get { key, recursive, sorted, quorum }
            }
        };
        let request = match caller {
            Some(caller) => node::ClientRequest::AsCaller { caller, request: Box::new(request) },
            None => request,
        };
        let answer = self.ask_with_retry(request).await?;
        match answer.result {
            Ok(Reply::Event(event)) => {
                Ok(api::Answer { event, raft_index: answer.raft_index, raft_term: answer.raft_term })
            }
            Ok(other) => {
                Err(api::ServerError::Store(StoreError::raft_internal(format!("unexpected {other:?}"), 0)))
            }
            Err(error) => Err(server_error(error)),
        }
    }

    /// Starts a watch, trusted or on behalf of a caller.
    async fn start_watch(
        &self,
        caller: Option<api::Caller>,
        request: api::WatchRequest,
    ) -> Result<api::WatchStream, StoreError> {
        let (events, receiver) = mpsc::channel(api::WATCH_CHANNEL_CAPACITY);
        let (start, started) = oneshot::channel();
        let sink = WatchSink { events, stream: request.stream };
        let node_request = node::ClientRequest::Watch {
            key: request.key,
            recursive: request.recursive,
            stream: request.stream,
            wait_index: request.since_index,
        };
        let node_request = match caller {
            Some(caller) => node::ClientRequest::AsCaller { caller, request: Box::new(node_request) },
            None => node_request,
        };
        let stopped = || StoreError::raft_internal("etcdserver: server stopped", 0);
        self.send(Input::Request {
            request: node_request,
            responder: Responder::Watch { start: Some(start), watch: sink },
        })
        .map_err(|_| stopped())?;
        let mut stream = started.await.map_err(|_| stopped())??;
        stream.events = receiver;
        Ok(stream)
    }
}

impl api::Backend for NodeBackend {
    async fn request(&self, request: api::ClientRequest) -> api::ClientResponse {
        self.keys_request(None, request).await
    }
    async fn request_as(&self, caller: api::Caller, request: api::ClientRequest) -> api::ClientResponse {
        self.keys_request(Some(caller), request).await
    }
    async fn watch_as(
        &self,
        caller: api::Caller,
        request: api::WatchRequest,
    ) -> Result<api::WatchStream, StoreError> {
        self.start_watch(Some(caller), request).await
    }
    fn auth_enabled(&self) -> bool {
        self.status.read().is_ok_and(|status| status.auth_enabled)
    }
    async fn auth_state(&self) -> Result<api::Auth, api::ServerError> {
        let answer = self.ask(node::ClientRequest::AuthState).await?;
        match answer.result {
            Ok(Reply::AuthState(auth)) => Ok(*auth),
            Ok(other) => {
                Err(api::ServerError::Store(StoreError::raft_internal(format!("unexpected {other:?}"), 0)))
            }
            Err(error) => Err(server_error(error)),
        }
    }
    async fn auth_write(
        &self,
        caller: api::Caller,
        command: api::AuthCommand,
    ) -> Result<api::AuthReply, api::AuthError> {
        let internal = |why: String| {
            tracing::warn!("v2 auth write failed: {why}");
            api::AuthError { status: 500, message: "Internal Server Error".to_string() }
        };
        let answer = self
            .ask_with_retry(node::ClientRequest::Auth { caller, command })
            .await
            .map_err(|error| internal(format!("{error:?}")))?;
        match answer.result {
            Ok(Reply::Auth(reply)) => Ok(reply),
            Ok(other) => Err(internal(format!("unexpected {other:?}"))),
            Err(RequestError::Auth(error)) => Err(error),
            Err(error) => Err(internal(error.to_string())),
        }
    }
    async fn watch(&self, request: api::WatchRequest) -> Result<api::WatchStream, StoreError> {
        self.start_watch(None, request).await
    }
    fn status(&self) -> api::NodeStatus {
        self.status.read().map(|status| status.clone()).unwrap_or_default()
    }
    async fn member_add(&self, peer_urls: Vec<String>) -> Result<api::Member, api::MemberError> {
        self.member_add_as(peer_urls, false).await
    }
    async fn member_remove(&self, id: u64) -> Result<(), api::MemberError> {
        let answer = self
            .ask_with_retry(node::ClientRequest::RemoveMember { id })
            .await
            .map_err(|error| api::MemberError::Internal(format!("{error:?}")))?;
        answer.result.map(|_| ()).map_err(member_error)
    }
    async fn member_update(&self, id: u64, peer_urls: Vec<String>) -> Result<(), api::MemberError> {
        let answer = self
            .ask_with_retry(node::ClientRequest::UpdateMember { id, peer_urls })
            .await
            .map_err(|error| api::MemberError::Internal(format!("{error:?}")))?;
        answer.result.map(|_| ()).map_err(member_error)
    }
}

impl NodeBackend {
    /// Adds a member (a voter, or a learner that stays one until promoted) with an ID salted by time.
    pub(super) async fn member_add_as(
        &self,
        peer_urls: Vec<String>,
        is_learner: bool,
    ) -> Result<api::Member, api::MemberError> {
        let parsed: Vec<Url> = peer_urls
            .iter()
            .map(|url| Url::parse(url))
            .collect::<Result<_, _>>()
            .map_err(api::MemberError::Internal)?;
        let now_seconds = unix_nanos() / 1_000_000_000;
        let id = added_member_id(&parsed, now_seconds);
        let member = node::Member { id, peer_urls: peer_urls.clone(), is_learner, ..node::Member::default() };
        let answer = self
            .ask_with_retry(node::ClientRequest::AddMember { member })
            .await
            .map_err(|error| api::MemberError::Internal(format!("{error:?}")))?;
        answer.result.map_err(member_error)?;
        Ok(api::Member { id, peer_urls, is_learner, ..api::Member::default() })
    }
}
