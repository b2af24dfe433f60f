//! The production shell: the thin layer that gives the sans-IO node real time, real disks and real
//! sockets. Nothing here decides anything the simulator could not also exercise; it only moves inputs
//! into the node thread and outputs out of it.
//!
//! Shape: one dedicated OS thread owns the `Node` (so the fsync inside `process()` blocks nobody else)
//! and runs a loop: wait for the first input or the next tick, drain every input already queued (this is
//! what makes group commit: all proposals that arrived during the previous fsync go into one Ready and
//! one fsync), tick if due, `process()`, then hand messages to the transport and answers to their
//! waiting HTTP requests. The tokio runtime runs the HTTP API, the peer transport and signal handling.

//!
//! Where each job lives: `mod.rs` (`run`: start-up wiring and shutdown), `bootstrap.rs` (member or
//! proxy, and discovery before a first start), `join.rs` (asking a running
//! cluster for its membership before joining it), `inbox.rs` (what goes into the node thread),
//! `backend.rs` (the HTTP layer's view of the node: requests in, answers out), `node_loop.rs` (the node
//! thread's loop), `watch_delivery.rs` (answers and watch events back to their HTTP requests),
//! `strict_check.rs` (`--strict-reconfig-check`), `peers.rs` (keeping the transport's peer table equal to
//! the membership), `status.rs` (the status copy behind `/v2/stats`, `/metrics` and `/health`),
//! `timed_disk.rs` (fsync durations for `/metrics`).

mod backend;
mod bootstrap;
mod disk_space;
mod inbox;
mod join;
mod node_loop;
mod peers;
mod status;
mod strict_check;
mod timed_disk;
mod v3_backend;
mod watch_delivery;

use std::collections::BTreeMap;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use raft::{Message, NodeId};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::{AutoCompactionFlags, ClusterState, ServerConfig, format_id};
use crate::http::backend as api;
use crate::node::{self, Node, NodeConfig};
use crate::storage::disk::{Disk, OsDisk};
use crate::transport::{Transport, TransportConfig, TransportEvent, TransportLimits};
use backend::NodeBackend;
use inbox::Input;
use node_loop::NodeLoop;
use timed_disk::{DiskTimings, TimedDisk};

/// Bound of the queue into the node thread; beyond it HTTP requests wait (tokio side) and peer
/// messages are dropped by the transport's own bounded channel.
const NODE_INBOX_CAPACITY: usize = 65_536;
/// Bound of the transport's event queue into the shell.
const TRANSPORT_EVENTS_CAPACITY: usize = 1024;
/// How long a stopping member waits for its node thread to hand leadership over and stop.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);
/// Pause between two attempts to publish this member's name and client URLs.
const PUBLISH_RETRY: Duration = Duration::from_millis(500);

/// This member's and its cluster's IDs, and the members the node starts knowing.
struct Identity {
    local_id: NodeId,
    cluster_id: u64,
    members: Vec<node::Member>,
}

/// Why the server stopped abnormally.
#[derive(Debug)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

fn unix_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos() as i64)
}

/// Runs a member until SIGINT/SIGTERM. Errors at start (bad data dir, ports in use) come back as
/// `RunError` with a one-line reason.
pub async fn run(config: ServerConfig) -> Result<(), RunError> {
    let disk_timings = Arc::new(DiskTimings::default());
    let disk: Arc<dyn Disk> = Arc::new(TimedDisk { inner: OsDisk::new(), timings: disk_timings.clone() });
    let config = match bootstrap::decide(config, &*disk).await? {
        bootstrap::Start::Member(config) => *config,
        bootstrap::Start::Proxy(config, mode, peer_urls) => {
            return crate::proxy::run(&config, mode, peer_urls, wait_for_signal())
                .await
                .map_err(|error| RunError(error.0));
        }
    };
    // Every certificate and key is read (and auto-TLS ones made) before the data dir is opened.
    let tls = crate::tls::build(&config).map_err(|error| RunError(error.to_string()))?;
    let identity = resolve_identity(&config, &*disk, &tls.peer.dialer).await?;
    let start_nanos = unix_nanos();
    let node_config = node_config(&config, &identity, start_nanos);
    let request_timeout = request_timeout(&config);
    let node = open_node(node_config, disk).await?;
    tracing::info!(
        name = %config.name,
        member_id = %format_id(identity.local_id),
        cluster_id = %format_id(identity.cluster_id),
        data_dir = %config.data_dir.display(),
        "starting concord member"
    );
    let cancel = CancellationToken::new();
    let (inbox, inputs) = std_mpsc::sync_channel::<Input>(NODE_INBOX_CAPACITY);
    let transport =
        Arc::new(start_transport(&config, &identity, &node, &tls.peer, inbox.clone(), &cancel).await?);
    let status = Arc::new(RwLock::new(api::NodeStatus::default()));
    let mut watched_directories = vec![config.data_dir.clone(), config.effective_wal_dir()];
    watched_directories.dedup();
    let disk_space = disk_space::watch_disk_space(watched_directories, cancel.clone());
    let backend = NodeBackend { inbox: inbox.clone(), status: status.clone(), request_timeout, disk_space };
    let node_loop = NodeLoop::new(
        node,
        transport,
        status,
        disk_timings,
        &config,
        heartbeat(&config),
        start_nanos,
        inbox.clone(),
    );
    let (node_thread, node_stopped) = node_loop.spawn(inputs)?;
    let servers = serve_clients(&config, &backend, tls.client.as_ref(), &cancel).await?;
    publish_member(&config, backend, cancel.clone());
    tokio::select! {
        () = wait_for_signal() => {
            tracing::info!("received a stop signal: handing over leadership and shutting down");
        }
        () = node_stopped.cancelled() => {}
    }
    let (done, stopped) = oneshot::channel();
    if inbox.send(Input::Shutdown(done)).is_ok() {
        let _ = tokio::time::timeout(SHUTDOWN_WAIT, stopped).await;
    }
    cancel.cancel();
    for server in servers {
        let _ = server.await;
    }
    drop(inbox);
    match tokio::task::spawn_blocking(move || node_thread.join()).await {
        Ok(Ok(Err(error))) => Err(error),
        _ => Ok(()),
    }
}

/// A restart takes its identity from the WAL and ignores the `--initial-*` flags, as etcd does; only a
/// fresh data dir runs the bootstrap checks and derives the IDs from the flags, or, when joining, asks
/// the running cluster.
async fn resolve_identity(
    config: &ServerConfig,
    disk: &dyn Disk,
    peer_dialer: &crate::tls::TlsDialer,
) -> Result<Identity, RunError> {
    let stored = node::read_identity(disk, &config.effective_wal_dir()).map_err(|error| {
        RunError(format!("cannot read the data dir {}: {error}", config.data_dir.display()))
    })?;
    if let Some((local_id, cluster_id)) = stored {
        return Ok(Identity { local_id, cluster_id, members: Vec::new() });
    }
    // Validates the flags (local name present, no duplicate URLs) in both cases.
    let membership = config.initial_membership().map_err(|error| RunError(error.message().to_string()))?;
    if config.initial_cluster_state == ClusterState::Existing {
        let (local_id, cluster_id, members) = join::join_existing_cluster(config, peer_dialer).await?;
        return Ok(Identity { local_id, cluster_id, members });
    }
    let members = membership
        .members
        .iter()
        .map(|member| node::Member {
            id: member.id,
            name: member.name.clone(),
            peer_urls: member.peer_urls.iter().map(|url| url.to_string()).collect(),
            ..node::Member::default()
        })
        .collect();
    Ok(Identity { local_id: membership.local_id, cluster_id: membership.cluster_id, members })
}

/// One tick is one heartbeat interval.
fn heartbeat(config: &ServerConfig) -> Duration {
    Duration::from_millis(config.heartbeat_interval_ms.max(1))
}

/// etcd's request timeout: 5 s plus two election timeouts.
fn request_timeout(config: &ServerConfig) -> Duration {
    Duration::from_millis(5_000 + 2 * config.election_timeout_ms)
}

/// The node's settings from etcd's flags, in ticks of one heartbeat interval.
fn node_config(config: &ServerConfig, identity: &Identity, start_nanos: i64) -> NodeConfig {
    let heartbeat_ms = heartbeat(config).as_millis().max(1);
    let mut node_config = NodeConfig::new(
        identity.local_id,
        identity.cluster_id,
        identity.members.clone(),
        config.data_dir.clone(),
    );
    node_config.join_existing = config.initial_cluster_state == ClusterState::Existing;
    node_config.force_new_cluster = config.force_new_cluster;
    node_config.advertise_peer_urls =
        config.initial_advertise_peer_urls.iter().map(|url| url.to_string()).collect();
    node_config.election_ticks = u32::try_from(config.election_ticks().max(2)).unwrap_or(u32::MAX);
    node_config.heartbeat_ticks = 1;
    node_config.snapshot_count = config.snapshot_count.max(1);
    node_config.wal_dir = config.wal_dir.clone();
    node_config.max_wals = config.max_wals as usize;
    node_config.max_snapshots = config.max_snapshots as usize;
    node_config.max_watchers = config.max_watchers;
    node_config.v2_watch_history = config.v2_watch_history;
    node_config.linearizable_reads = config.linearizable_reads;
    node_config.tick_ms = heartbeat_ms as u64;
    node_config.max_txn_ops = usize::try_from(config.max_txn_ops).unwrap_or(usize::MAX);
    node_config.quota_backend_bytes = config.quota_backend_bytes;
    node_config.auto_compaction = auto_compaction_ticks(config.auto_compaction, heartbeat_ms as u64);
    node_config.request_timeout_ticks = (request_timeout(config).as_millis() / heartbeat_ms) as u64;
    node_config.sync_interval_ticks = (500 / heartbeat_ms).max(1) as u64;
    node_config.seed = start_nanos as u64 ^ identity.local_id;
    node_config.incarnation = start_nanos as u64;
    node_config
}

/// etcd 3.4's compactors in ticks: periodic mode compacts every retention period (every tenth of it
/// when it is an hour or more), revision mode checks every five minutes.
fn auto_compaction_ticks(flags: AutoCompactionFlags, tick_ms: u64) -> node::AutoCompaction {
    const HOUR_MS: u64 = 3_600_000;
    const REVISION_CHECK_MS: u64 = 5 * 60_000;
    let ticks = |ms: u64| (ms / tick_ms.max(1)).max(1);
    match flags {
        AutoCompactionFlags::Off => node::AutoCompaction::Off,
        AutoCompactionFlags::Periodic { retention_ms } => {
            let interval_ms = if retention_ms >= HOUR_MS { retention_ms / 10 } else { retention_ms };
            node::AutoCompaction::Periodic {
                retention_ticks: ticks(retention_ms),
                interval_ticks: ticks(interval_ms),
            }
        }
        AutoCompactionFlags::Revision { retention_revisions } => node::AutoCompaction::Revision {
            retention_revisions: i64::try_from(retention_revisions).unwrap_or(i64::MAX),
            interval_ticks: ticks(REVISION_CHECK_MS),
        },
    }
}

/// Opens the data dir off the async runtime (recovery reads and fsyncs files).
async fn open_node(node_config: NodeConfig, disk: Arc<dyn Disk>) -> Result<Node, RunError> {
    let local_id = node_config.id;
    tokio::task::spawn_blocking(move || Node::open(node_config, disk))
        .await
        .map_err(|error| RunError(format!("node start panicked: {error}")))?
        .map_err(|error| RunError(format!("cannot start member {}: {error}", format_id(local_id))))
}

/// Listens for peers and dials the members the node knows; peer messages and transport events are
/// forwarded into the node thread's inbox.
async fn start_transport(
    config: &ServerConfig,
    identity: &Identity,
    node: &Node,
    peer_tls: &crate::tls::PeerTls,
    inbox: std_mpsc::SyncSender<Input>,
    cancel: &CancellationToken,
) -> Result<Transport, RunError> {
    let (inbound_sender, inbound) = mpsc::channel::<Message>(NODE_INBOX_CAPACITY);
    let (event_sender, transport_events) = mpsc::channel::<TransportEvent>(TRANSPORT_EVENTS_CAPACITY);
    let mut peers: BTreeMap<NodeId, Vec<String>> = node
        .members()
        .values()
        .filter(|member| member.id != identity.local_id)
        .map(|member| (member.id, member.peer_urls.clone()))
        .collect();
    // Our own entry: the peer URLs our handshakes announce (etcd's X-PeerURLs, its advertised peer
    // URLs), so a member that lags behind the change that added us can still answer us.
    peers.insert(
        identity.local_id,
        config.initial_advertise_peer_urls.iter().map(|url| url.to_string()).collect(),
    );
    let transport_config = TransportConfig {
        member_id: identity.local_id,
        cluster_id: identity.cluster_id,
        listen_peer_urls: config.listen_peer_urls.iter().map(|url| url.to_string()).collect(),
        peers,
        limits: TransportLimits {
            max_frame_bytes: config.network_limits.max_peer_frame_bytes,
            max_inbound_connections: config.network_limits.max_peer_connections,
            ..TransportLimits::default()
        },
        tls: Some(peer_tls.clone()),
    };
    let transport = Transport::start(transport_config, inbound_sender, Some(event_sender), cancel.clone())
        .await
        .map_err(|error| RunError(format!("cannot listen for peers: {error}")))?;
    peers::forward_peer_messages(inbox.clone(), inbound);
    peers::forward_transport_events(inbox, transport_events);
    Ok(transport)
}

/// The client API on every listen URL, until `cancel`.
async fn serve_clients(
    config: &ServerConfig,
    backend: &NodeBackend,
    client_tls: Option<&crate::tls::TlsServer>,
    cancel: &CancellationToken,
) -> Result<Vec<tokio::task::JoinHandle<()>>, RunError> {
    let mut servers = Vec::new();
    for url in &config.listen_client_urls {
        let listener = tokio::net::TcpListener::bind(url.authority())
            .await
            .map_err(|error| RunError(format!("listen tcp {}: bind: {error}", url.authority())))?;
        tracing::info!(address = %url, "serving client requests");
        let backend = backend.clone();
        let cancel = cancel.clone();
        let options = crate::http::ServeOptions {
            cors: config.cors.clone(),
            max_client_connections: config.max_client_connections,
            tls: if url.scheme() == crate::config::Scheme::Https { client_tls.cloned() } else { None },
            max_request_bytes: usize::try_from(config.max_request_bytes).unwrap_or(usize::MAX),
            max_request_header_bytes: config.network_limits.max_request_header_bytes,
            read_timeout: Duration::from_millis(config.network_limits.client_read_timeout_ms),
            max_connection_requests_per_second: config.network_limits.max_connection_requests_per_second,
        };
        let defaults = crate::grpc::GrpcOptions::default();
        let grpc_options = crate::grpc::GrpcOptions {
            max_request_bytes: usize::try_from(config.max_request_bytes).unwrap_or(usize::MAX),
            max_txn_ops: usize::try_from(config.max_txn_ops).unwrap_or(usize::MAX),
            progress_notify_interval: config
                .watch_progress_notify_interval_ms
                .map_or(defaults.progress_notify_interval, Duration::from_millis),
        };
        servers.push(tokio::spawn(async move {
            let shutdown = async move { cancel.cancelled().await };
            let _ = crate::http::serve_with_grpc(listener, backend, options, grpc_options, shutdown).await;
        }));
    }
    Ok(servers)
}

/// Publishes this member's name and client URLs through Raft, retrying until it is applied.
fn publish_member(config: &ServerConfig, backend: NodeBackend, cancel: CancellationToken) {
    let name = config.name.clone();
    let client_urls: Vec<String> = config.advertise_client_urls.iter().map(|url| url.to_string()).collect();
    tokio::spawn(async move {
        loop {
            let request =
                node::ClientRequest::Publish { name: name.clone(), client_urls: client_urls.clone() };
            if let Ok(answer) = backend.ask_with_retry(request).await
                && answer.result.is_ok()
            {
                tracing::info!(name = %name, "published local member to cluster");
                return;
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(PUBLISH_RETRY) => {}
            }
        }
    });
}

async fn wait_for_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
