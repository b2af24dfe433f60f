//! The client-side pieces of etcd's Go `concurrency` package that `lock` and `elect` build on: a
//! session (a lease kept alive in the background, `done` once it is lost), waiting for every key
//! under a prefix created before a revision to be deleted, the create-revision comparison and the delete
//! both recipes use, and the signals that end a command.

use std::time::Duration;

use super::connection::Conn;
use api::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use api::etcdserverpb::kv_client::KvClient;
use api::etcdserverpb::lease_client::LeaseClient;
use api::etcdserverpb::range_request::{SortOrder, SortTarget};
use api::etcdserverpb::watch_client::WatchClient;
use api::etcdserverpb::watch_request::RequestUnion;
use api::etcdserverpb::{
    Compare, DeleteRangeRequest, LeaseGrantRequest, LeaseKeepAliveRequest, RangeRequest, ResponseHeader,
    WatchCreateRequest, WatchRequest,
};
use api::mvccpb::event::EventType;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use super::connection::{Settings, call, dial};
use super::errors::RpcError;
use super::kv::prefix_end;

/// The Go client's default session TTL, in seconds.
pub const DEFAULT_SESSION_TTL_SECONDS: i64 = 60;
/// Shortest pause between two renewals of the session lease.
const MIN_RENEW_INTERVAL: Duration = Duration::from_millis(500);
/// A deadline far enough away to mean "none" (the Go recipes wait without one).
const FOREVER: Duration = Duration::from_secs(365 * 86_400);

/// Why a recipe stopped waiting.
#[derive(Debug)]
pub enum Stop {
    /// A call failed.
    Rpc(RpcError),
    /// SIGINT or SIGTERM arrived (Go's `context canceled`).
    Interrupted,
}

impl From<RpcError> for Stop {
    fn from(error: RpcError) -> Stop {
        Stop::Rpc(error)
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Rpc(error) => write!(formatter, "{error}"),
            Stop::Interrupted => write!(formatter, "context canceled"),
        }
    }
}

/// A deadline for calls the recipes make without one.
pub fn unbounded() -> tokio::time::Instant {
    tokio::time::Instant::now() + FOREVER
}

/// A lease granted for this client and renewed every third of its TTL until the process ends.
pub struct Session {
    pub channel: Conn,
    pub lease_id: i64,
    alive: watch::Receiver<bool>,
}

impl Session {
    /// Connects and grants the session lease (`ttl_seconds` <= 0 means the default, as `WithTTL`).
    pub async fn open(settings: &Settings, ttl_seconds: i64) -> Result<Session, RpcError> {
        let ttl = if ttl_seconds > 0 { ttl_seconds } else { DEFAULT_SESSION_TTL_SECONDS };
        let channel = dial(settings, settings.connect_deadline()).await?;
        let mut lease = LeaseClient::new(channel.clone());
        let granted =
            call(settings.connect_deadline(), lease.lease_grant(LeaseGrantRequest { ttl, id: 0 })).await?;
        let (alive_sender, alive) = watch::channel(true);
        tokio::spawn(keep_alive(lease, granted.id, alive_sender));
        Ok(Session { channel, lease_id: granted.id, alive })
    }

    /// Resolves once the lease is lost (expired, revoked, or the keep-alive stream ended).
    pub async fn done(&mut self) {
        let _ = self.alive.wait_for(|alive| !alive).await;
    }
}

/// Renews the lease until it is gone, then says so.
async fn keep_alive(mut lease: LeaseClient<Conn>, id: i64, alive: watch::Sender<bool>) {
    let (requests, request_stream) = mpsc::channel(1);
    if requests.send(LeaseKeepAliveRequest { id }).await.is_ok()
        && let Ok(mut responses) =
            call(unbounded(), lease.lease_keep_alive(ReceiverStream::new(request_stream))).await
    {
        // One round per renewal, for as long as the lease lives.
        while let Ok(Some(response)) = responses.message().await {
            if response.ttl <= 0 {
                break;
            }
            let pause = Duration::from_secs(response.ttl.unsigned_abs()) / 3;
            tokio::time::sleep(pause.max(MIN_RENEW_INTERVAL)).await;
            if requests.send(LeaseKeepAliveRequest { id }).await.is_err() {
                break;
            }
        }
    }
    let _ = alive.send(false);
}

/// Resolves on SIGINT or SIGTERM (never, if the handlers cannot be installed).
pub async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

/// The range request for the keys under `prefix`, one key, by create revision (`WithFirstCreate` /
/// `WithLastCreate`), optionally only those created at or before `max_create_revision`.
pub fn by_create_revision(prefix: &str, order: SortOrder, max_create_revision: i64) -> RangeRequest {
    RangeRequest {
        key: prefix.as_bytes().to_vec(),
        range_end: prefix_end(prefix.as_bytes()),
        limit: 1,
        sort_order: order as i32,
        sort_target: SortTarget::Create as i32,
        max_create_revision,
        ..RangeRequest::default()
    }
}

/// `waitDeletes`: waits until no key under `prefix` has a create revision at or below
/// `max_create_revision`, watching the newest of them each round; returns the last header seen.
pub async fn wait_deletes(
    channel: &Conn,
    prefix: &str,
    max_create_revision: i64,
) -> Result<ResponseHeader, RpcError> {
    let mut kv = KvClient::new(channel.clone());
    // Each round waits for one key to go; keys created later are not counted, so the rounds are
    // bounded by the keys that existed when waiting began.
    loop {
        let request = by_create_revision(prefix, SortOrder::Descend, max_create_revision);
        let response = call(unbounded(), kv.range(request)).await?;
        let header = response.header.unwrap_or_default();
        let Some(newest) = response.kvs.first() else { return Ok(header) };
        wait_delete(channel, &newest.key, header.revision).await?;
    }
}

/// Waits for the deletion of `key`, watching from `revision`.
async fn wait_delete(channel: &Conn, key: &[u8], revision: i64) -> Result<(), RpcError> {
    let (_requests, mut responses) = watch_from(channel, key, Vec::new(), revision).await?;
    while let Some(response) = responses.message().await.map_err(RpcError::Status)? {
        if response.events.iter().any(|event| event.r#type == EventType::Delete as i32) {
            return Ok(());
        }
        if response.canceled {
            break;
        }
    }
    Err(RpcError::Status(tonic::Status::cancelled("watch closed")))
}

/// A watch on `[key, range_end)` from `revision`; keep the sender for as long as the watch is wanted.
pub async fn watch_from(
    channel: &Conn,
    key: &[u8],
    range_end: Vec<u8>,
    revision: i64,
) -> Result<(mpsc::Sender<WatchRequest>, tonic::Streaming<api::etcdserverpb::WatchResponse>), RpcError> {
    let (requests, request_stream) = mpsc::channel(1);
    let create = WatchCreateRequest {
        key: key.to_vec(),
        range_end,
        start_revision: revision,
        ..WatchCreateRequest::default()
    };
    let _ = requests.send(WatchRequest { request_union: Some(RequestUnion::CreateRequest(create)) }).await;
    let mut client = WatchClient::new(channel.clone());
    let responses = call(unbounded(), client.watch(ReceiverStream::new(request_stream))).await?;
    Ok((requests, responses))
}

/// The comparison "`key`'s create revision is `revision`" (0: the key does not exist).
pub fn create_revision_is(key: &str, revision: i64) -> Compare {
    Compare {
        result: CompareResult::Equal as i32,
        target: CompareTarget::Create as i32,
        key: key.as_bytes().to_vec(),
        target_union: Some(TargetUnion::CreateRevision(revision)),
        ..Compare::default()
    }
}

/// Deletes `key` (`Mutex.Unlock`, and what a campaign or a wait leaves behind when interrupted).
pub async fn delete_key(channel: &Conn, key: &str) -> Result<(), RpcError> {
    let mut kv = KvClient::new(channel.clone());
    let request = DeleteRangeRequest { key: key.as_bytes().to_vec(), ..DeleteRangeRequest::default() };
    call(unbounded(), kv.delete_range(request)).await.map(|_| ())
}
