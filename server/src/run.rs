//! The production shell: the thin layer that gives the sans-IO node real time, real disks and real
//! sockets. Nothing here decides anything the simulator could not also exercise; it only moves inputs
//! into the node thread and outputs out of it.
//!
//! Shape: one dedicated OS thread owns the `Node` (so the fsync inside `process()` blocks nobody else)
//! and runs a loop: wait for the first input or the next tick, drain every input already queued (this is
//! what makes group commit: all proposals that arrived during the previous fsync go into one Ready and
//! one fsync), tick if due, `process()`, then hand messages to the transport and answers to their
//! waiting HTTP requests. The tokio runtime runs the HTTP API, the peer transport and signal handling.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use raft::{Message, NodeId, Role};
use store::{Event, StoreError};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::{ClusterState, ServerConfig, Url, added_member_id, format_id};
use crate::http::backend as api;
use crate::node::{self, Node, NodeConfig, Reply, RequestError};
use crate::storage::disk::{Disk, OsDisk};
use crate::transport::wire::{MemberInfo, MembershipAnswer, RefusalReason};
use crate::transport::{Transport, TransportConfig, TransportEvent, TransportLimits, query_membership};

/// Inputs drained per loop turn at most, so ticks and outputs are never starved by a flood.
const MAX_INPUTS_PER_TURN: usize = 8192;
/// Bound of the queue into the node thread; beyond it HTTP requests wait (tokio side) and peer
/// messages are dropped by the transport's own bounded channel.
const NODE_INBOX_CAPACITY: usize = 65_536;
/// How long a write waits for a leader to appear before failing, within its request timeout.
const NO_LEADER_RETRY: Duration = Duration::from_millis(25);

/// This member's and its cluster's IDs.
struct Identity {
    local_id: NodeId,
    cluster_id: u64,
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

enum Input {
    Message(Message),
    Request {
        request: node::ClientRequest,
        responder: Responder,
    },
    Unreachable(NodeId),
    /// A peer refused our stream because this member was removed from the cluster.
    RemovedByPeer(NodeId),
    SnapshotSent {
        peer: NodeId,
        success: bool,
    },
    Shutdown(oneshot::Sender<()>),
}

enum Responder {
    Once(oneshot::Sender<node::Answer>),
    Watch { start: Option<oneshot::Sender<Result<api::WatchStream, StoreError>>>, watch: WatchSink },
}

/// The node-thread end of a watch: events go to the HTTP connection's channel.
struct WatchSink {
    events: mpsc::Sender<Event>,
    stream: bool,
}

fn unix_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos() as i64)
}

/// The node as the HTTP layer sees it: a channel into the node thread plus a status copy.
#[derive(Clone)]
pub struct NodeBackend {
    inbox: std_mpsc::SyncSender<Input>,
    status: Arc<RwLock<api::NodeStatus>>,
    request_timeout: Duration,
}

impl NodeBackend {
    async fn ask(&self, request: node::ClientRequest) -> Result<node::Answer, api::ServerError> {
        let (sender, receiver) = oneshot::channel();
        self.send(Input::Request { request, responder: Responder::Once(sender) })?;
        receiver.await.map_err(|_| api::ServerError::Stopped)
    }

    fn send(&self, input: Input) -> Result<(), api::ServerError> {
        self.inbox.send(input).map_err(|_| api::ServerError::Stopped)
    }

    /// Sends a request, retrying while no leader is known, until the request timeout.
    async fn ask_with_retry(&self, request: node::ClientRequest) -> Result<node::Answer, api::ServerError> {
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

fn server_error(error: RequestError) -> api::ServerError {
    match error {
        RequestError::Store(error) => api::ServerError::Store(error),
        RequestError::NoLeader => api::ServerError::NoLeader,
        RequestError::Timeout => api::ServerError::Timeout,
        RequestError::Removed => api::ServerError::Stopped,
        other => api::ServerError::Store(StoreError::raft_internal(other.to_string(), 0)),
    }
}

fn member_error(error: RequestError) -> api::MemberError {
    match error {
        RequestError::MemberNotFound(id) => api::MemberError::NotFound(id),
        RequestError::MemberRemoved(id) => api::MemberError::Removed(id),
        RequestError::PeerUrlExists => api::MemberError::PeerUrlExists,
        other => api::MemberError::Internal(other.to_string()),
    }
}

impl api::Backend for NodeBackend {
    async fn request(&self, request: api::ClientRequest) -> api::ClientResponse {
        let request = match request {
            api::ClientRequest::Write(command) => node::ClientRequest::Write(command),
            api::ClientRequest::Get { key, recursive, sorted, quorum, now: _ } => {
                node::ClientRequest::Get { key, recursive, sorted, quorum }
            }
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

    async fn watch(&self, request: api::WatchRequest) -> Result<api::WatchStream, StoreError> {
        let (events, receiver) = mpsc::channel(api::WATCH_CHANNEL_CAPACITY);
        let (start, started) = oneshot::channel();
        let sink = WatchSink { events, stream: request.stream };
        let node_request = node::ClientRequest::Watch {
            key: request.key,
            recursive: request.recursive,
            stream: request.stream,
            wait_index: request.since_index,
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

    fn status(&self) -> api::NodeStatus {
        self.status.read().map(|status| status.clone()).unwrap_or_default()
    }

    async fn member_add(&self, peer_urls: Vec<String>) -> Result<api::Member, api::MemberError> {
        let parsed: Vec<Url> = peer_urls
            .iter()
            .map(|url| Url::parse(url))
            .collect::<Result<_, _>>()
            .map_err(api::MemberError::Internal)?;
        let now_seconds = unix_nanos() / 1_000_000_000;
        let id = added_member_id(&parsed, now_seconds);
        let member = node::Member { id, peer_urls: peer_urls.clone(), ..node::Member::default() };
        let answer = self
            .ask_with_retry(node::ClientRequest::AddMember { member })
            .await
            .map_err(|error| api::MemberError::Internal(format!("{error:?}")))?;
        answer.result.map_err(member_error)?;
        Ok(api::Member { id, name: String::new(), peer_urls, client_urls: Vec::new() })
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

/// Runs a member until SIGINT/SIGTERM. Errors at start (bad data dir, ports in use) come back as
/// `RunError` with a one-line reason.
pub async fn run(config: ServerConfig) -> Result<(), RunError> {
    let disk_timings = Arc::new(DiskTimings::default());
    let disk: Arc<dyn Disk> = Arc::new(TimedDisk { inner: OsDisk::new(), timings: disk_timings.clone() });
    // A restart takes its identity from the WAL and ignores the `--initial-*` flags, as etcd does; only
    // a fresh data dir runs the bootstrap checks and derives the IDs from the flags.
    let stored = node::read_identity(&*disk, &config.effective_wal_dir()).map_err(|error| {
        RunError(format!("cannot read the data dir {}: {error}", config.data_dir.display()))
    })?;
    let (local_id, cluster_id, members) = match stored {
        Some((local_id, cluster_id)) => (local_id, cluster_id, Vec::new()),
        None if config.initial_cluster_state == ClusterState::Existing => {
            // Validates the flags (local name present, no duplicate URLs); the IDs come from the cluster.
            config.initial_membership().map_err(|error| RunError(error.message().to_string()))?;
            join_existing_cluster(&config).await?
        }
        None => {
            let membership =
                config.initial_membership().map_err(|error| RunError(error.message().to_string()))?;
            let members: Vec<node::Member> = membership
                .members
                .iter()
                .map(|member| node::Member {
                    id: member.id,
                    name: member.name.clone(),
                    peer_urls: member.peer_urls.iter().map(|url| url.to_string()).collect(),
                    ..node::Member::default()
                })
                .collect();
            (membership.local_id, membership.cluster_id, members)
        }
    };
    let membership = Identity { local_id, cluster_id };
    let heartbeat = Duration::from_millis(config.heartbeat_interval_ms.max(1));
    let election_ticks = config.election_ticks().max(2);
    let mut node_config =
        NodeConfig::new(membership.local_id, membership.cluster_id, members, config.data_dir.clone());
    node_config.join_existing = config.initial_cluster_state == ClusterState::Existing;
    node_config.force_new_cluster = config.force_new_cluster;
    node_config.election_tick = u32::try_from(election_ticks).unwrap_or(u32::MAX);
    node_config.heartbeat_tick = 1;
    node_config.snapshot_count = config.snapshot_count.max(1);
    node_config.wal_dir = config.wal_dir.clone();
    node_config.max_wals = config.max_wals as usize;
    node_config.max_snapshots = config.max_snapshots as usize;
    // etcd's request timeout: 5 s plus two election timeouts.
    let request_timeout = Duration::from_millis(5_000 + 2 * config.election_timeout_ms);
    node_config.request_timeout_ticks = (request_timeout.as_millis() / heartbeat.as_millis().max(1)) as u64;
    node_config.sync_interval_ticks = (500 / heartbeat.as_millis().max(1)).max(1) as u64;
    let start_nanos = unix_nanos();
    node_config.seed = start_nanos as u64 ^ membership.local_id;
    node_config.incarnation = start_nanos as u64;

    let open_config = node_config.clone();
    let node = tokio::task::spawn_blocking(move || Node::open(open_config, disk))
        .await
        .map_err(|error| RunError(format!("node start panicked: {error}")))?
        .map_err(|error| {
            RunError(format!("cannot start member {}: {error}", format_id(membership.local_id)))
        })?;
    tracing::info!(
        name = %config.name,
        member_id = %format_id(membership.local_id),
        cluster_id = %format_id(membership.cluster_id),
        data_dir = %config.data_dir.display(),
        "starting concord member"
    );

    let cancel = CancellationToken::new();
    let (inbound_sender, mut inbound) = mpsc::channel::<Message>(NODE_INBOX_CAPACITY);
    let (event_sender, mut transport_events) = mpsc::channel::<TransportEvent>(1024);
    let mut peers: BTreeMap<NodeId, Vec<String>> = node
        .members()
        .values()
        .filter(|member| member.id != membership.local_id)
        .map(|member| (member.id, member.peer_urls.clone()))
        .collect();
    // Our own entry: the peer URLs our handshakes announce (etcd's X-PeerURLs, its advertised peer
    // URLs), so a member that lags behind the change that added us can still answer us.
    peers.insert(
        membership.local_id,
        config.initial_advertise_peer_urls.iter().map(|url| url.to_string()).collect(),
    );
    let transport = Transport::start(
        TransportConfig {
            member_id: membership.local_id,
            cluster_id: membership.cluster_id,
            listen_peer_urls: config.listen_peer_urls.iter().map(|url| url.to_string()).collect(),
            peers,
            limits: TransportLimits::default(),
        },
        inbound_sender,
        Some(event_sender),
        cancel.clone(),
    )
    .await
    .map_err(|error| RunError(format!("cannot listen for peers: {error}")))?;
    let transport = Arc::new(transport);

    let (inbox, inputs) = std_mpsc::sync_channel::<Input>(NODE_INBOX_CAPACITY);
    let status = Arc::new(RwLock::new(api::NodeStatus::default()));
    let backend = NodeBackend { inbox: inbox.clone(), status: status.clone(), request_timeout };

    // Peer messages and transport events into the node thread.
    {
        let inbox = inbox.clone();
        tokio::spawn(async move {
            while let Some(message) = inbound.recv().await {
                if inbox.send(Input::Message(message)).is_err() {
                    return;
                }
            }
        });
    }
    {
        let inbox = inbox.clone();
        tokio::spawn(async move {
            while let Some(event) = transport_events.recv().await {
                match event {
                    TransportEvent::PeerActive(peer) => {
                        tracing::info!(peer = %format_id(peer), "peer became active")
                    }
                    TransportEvent::PeerUnreachable(peer) => {
                        tracing::warn!(peer = %format_id(peer), "peer became unreachable");
                        if inbox.send(Input::Unreachable(peer)).is_err() {
                            return;
                        }
                    }
                    TransportEvent::PeerRefused { peer, reason } => {
                        tracing::warn!(peer = %format_id(peer), reason = ?reason, "peer refused our stream");
                        // The cluster removed us (and may never tell us through Raft: the leader
                        // stops replicating to a removed member), so this member stops for good.
                        if reason == RefusalReason::RemovedMember
                            && inbox.send(Input::RemovedByPeer(peer)).is_err()
                        {
                            return;
                        }
                    }
                    TransportEvent::SnapshotSent { peer, success } => {
                        if inbox.send(Input::SnapshotSent { peer, success }).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }

    let loop_state = NodeLoop {
        disk_timings,
        node,
        transport: transport.clone(),
        status: status.clone(),
        name: config.name.clone(),
        heartbeat,
        responders: BTreeMap::new(),
        parked_watches: Vec::new(),
        next_request_id: 1,
        known_peers: BTreeMap::new(),
        known_removed: BTreeSet::new(),
        strict_reconfig_check: config.strict_reconfig_check,
        removed_by_peer: None,
        known_membership_version: u64::MAX,
        runtime: tokio::runtime::Handle::current(),
        start_nanos,
        leader_since: start_nanos,
        leader_changes: 0,
    };
    let node_stopped = CancellationToken::new();
    let node_thread = std::thread::Builder::new()
        .name("concord-node".into())
        .spawn({
            // The node thread can end by itself (removed from the cluster, disk failure): the
            // process must then stop too, not wait for a signal.
            let node_stopped = node_stopped.clone();
            move || {
                let result = loop_state.run(inputs);
                node_stopped.cancel();
                result
            }
        })
        .map_err(|error| RunError(format!("cannot start the node thread: {error}")))?;

    // The client API on every listen URL.
    let mut servers = Vec::new();
    for url in &config.listen_client_urls {
        let listener = tokio::net::TcpListener::bind(url.authority())
            .await
            .map_err(|error| RunError(format!("listen tcp {}: bind: {error}", url.authority())))?;
        tracing::info!(address = %url, "serving client requests");
        let backend = backend.clone();
        let cancel = cancel.clone();
        servers.push(tokio::spawn(async move {
            let _ =
                crate::http::serve_with_shutdown(listener, backend, async move { cancel.cancelled().await })
                    .await;
        }));
    }

    // Publish this member's name and client URLs through Raft, retrying until it is applied.
    {
        let backend = backend.clone();
        let name = config.name.clone();
        let client_urls: Vec<String> =
            config.advertise_client_urls.iter().map(|url| url.to_string()).collect();
        let cancel = cancel.clone();
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
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        });
    }

    tokio::select! {
        () = wait_for_signal() => {
            tracing::info!("received a stop signal: handing over leadership and shutting down");
        }
        () = node_stopped.cancelled() => {}
    }
    let (done, stopped) = oneshot::channel();
    if inbox.send(Input::Shutdown(done)).is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(3), stopped).await;
    }
    cancel.cancel();
    for server in servers {
        let _ = server.await;
    }
    drop(inbox);
    let result = tokio::task::spawn_blocking(move || node_thread.join()).await;
    if let Ok(Ok(Err(error))) = result {
        return Err(error);
    }
    Ok(())
}

/// How long a peer must have been connected to count for `--strict-reconfig-check` (etcd's
/// HealthInterval).
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
const ERR_NOT_ENOUGH_STARTED_MEMBERS: &str =
    "etcdserver: re-configuration failed due to not enough started members";
const ERR_UNHEALTHY: &str = "etcdserver: unhealthy cluster";

fn quorum(voters: usize) -> usize {
    voters / 2 + 1
}

/// Whether `--strict-reconfig-check` counts `member` as a voting member: a voter, or a member added
/// as a voter that is a learner only until it catches up (see `NodeLoop::reconfig_refusal`).
fn votes_for_strict_check(member: &node::Member) -> bool {
    !member.is_learner || member.promote_when_caught_up
}

/// How long one peer has to answer a membership query.
const MEMBERSHIP_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// etcd's GetClusterFromRemotePeers: asks the `--initial-cluster` peers (other than this member's own
/// URLs) for the running cluster's ID and members, and finds this member among them by its advertised
/// peer URLs (the ones `member add` was given). The answer is the ID to start under, the cluster ID,
/// and the members the node starts knowing (so it can answer the leader before it has the log).
async fn join_existing_cluster(config: &ServerConfig) -> Result<(NodeId, u64, Vec<node::Member>), RunError> {
    let own_urls: BTreeSet<String> =
        config.initial_advertise_peer_urls.iter().map(|url| url.to_string()).collect();
    let candidates: Vec<String> = config
        .initial_cluster
        .iter()
        .flat_map(|member| member.peer_urls.iter().map(|url| url.to_string()))
        .filter(|url| !own_urls.contains(url))
        .collect();
    let normalize = |url: &String| Url::parse(url).map_or_else(|_| url.clone(), |parsed| parsed.to_string());
    let find_local = |answer: &MembershipAnswer| {
        answer
            .members
            .iter()
            .find(|member| {
                !member.peer_urls.is_empty()
                    && member.peer_urls.iter().map(normalize).all(|url| own_urls.contains(&url))
            })
            .map(|member| member.id)
    };
    // A peer that has not applied our addition yet lists the cluster without us: ask the next one.
    let mut answered = None;
    let mut joined = None;
    for url in &candidates {
        match query_membership(url, MEMBERSHIP_QUERY_TIMEOUT).await {
            Ok(found) => {
                if let Some(local_id) = find_local(&found) {
                    joined = Some((local_id, found));
                    break;
                }
                answered = Some(found);
            }
            Err(error) => tracing::warn!(peer_url = %url, "cannot fetch the cluster membership: {error}"),
        }
    }
    let Some((local_id, answer)) = joined else {
        return Err(RunError(match answered {
            None => {
                "cannot fetch cluster info from peer urls: could not retrieve cluster information from the \
                     given URLs"
                    .into()
            }
            Some(answer) => format!(
                "error validating peerURLs: member with peer URLs {} is not in cluster {} (add it with `member \
                 add` first)",
                own_urls.iter().cloned().collect::<Vec<_>>().join(","),
                format_id(answer.cluster_id)
            ),
        }));
    };
    let local = answer.members.iter().find(|member| member.id == local_id).expect("found above");
    tracing::info!(
        member_id = %format_id(local.id),
        cluster_id = %format_id(answer.cluster_id),
        "joining an existing cluster"
    );
    let members = answer
        .members
        .iter()
        .map(|member| node::Member {
            id: member.id,
            name: member.name.clone(),
            peer_urls: member.peer_urls.clone(),
            client_urls: member.client_urls.clone(),
            is_learner: member.is_learner,
            promote_when_caught_up: false,
        })
        .collect();
    Ok((local.id, answer.cluster_id, members))
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

/// Everything the node thread owns.
struct NodeLoop {
    disk_timings: Arc<DiskTimings>,
    node: Node,
    transport: Arc<Transport>,
    status: Arc<RwLock<api::NodeStatus>>,
    name: String,
    heartbeat: Duration,
    responders: BTreeMap<u64, Responder>,
    /// Stream watches answered from the history: etcd sends that one event and then keeps the
    /// connection open in silence; we hold the sender until the client leaves.
    parked_watches: Vec<mpsc::Sender<Event>>,
    next_request_id: u64,
    known_peers: BTreeMap<NodeId, Vec<String>>,
    /// Removed members already handed to the transport (which then refuses them).
    known_removed: BTreeSet<NodeId>,
    /// `--strict-reconfig-check`.
    strict_reconfig_check: bool,
    /// Set when a peer refused us as a removed member: the loop stops with etcd's message.
    removed_by_peer: Option<NodeId>,
    known_membership_version: u64,
    /// The transport spawns tasks when peers are added: the node thread enters the runtime for it.
    runtime: tokio::runtime::Handle,
    start_nanos: i64,
    leader_since: i64,
    leader_changes: u64,
}

impl NodeLoop {
    fn run(mut self, inputs: std_mpsc::Receiver<Input>) -> Result<(), RunError> {
        let mut next_tick = Instant::now() + self.heartbeat;
        let mut shutdown: Option<(oneshot::Sender<()>, Instant)> = None;
        let runtime = self.runtime.clone();
        let _runtime_context = runtime.enter();
        self.sync_peers();
        self.publish_membership_view();
        self.publish_status();
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let first = match inputs.recv_timeout(wait) {
                Ok(input) => Some(input),
                Err(std_mpsc::RecvTimeoutError::Timeout) => None,
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            };
            let mut handled = 0;
            let mut next = first;
            while let Some(input) = next.take() {
                if let Input::Shutdown(done) = input {
                    self.begin_shutdown();
                    shutdown = Some((done, Instant::now() + Duration::from_secs(2)));
                } else {
                    self.handle(input);
                }
                handled += 1;
                if handled < MAX_INPUTS_PER_TURN {
                    next = inputs.try_recv().ok();
                }
            }
            let now = Instant::now();
            if now >= next_tick {
                self.node.tick(unix_nanos());
                next_tick = now.max(next_tick) + self.heartbeat;
                self.sweep_watches();
            }
            let transport = &self.transport;
            let output = match self.node.process_with(&mut |message| transport.send(message)) {
                Ok(output) => output,
                Err(error) => {
                    tracing::error!(error = %error, "stopping: the node failed");
                    self.publish_status();
                    return Err(RunError(format!("member stopped: {error}")));
                }
            };
            if self.node.membership_version() != self.known_membership_version {
                // At once, not on the next tick: a member added a moment ago may already be asking.
                self.known_membership_version = self.node.membership_version();
                self.sync_peers();
                self.publish_membership_view();
            }
            if let Some(soft_state) = output.soft_state {
                self.on_soft_state(soft_state);
            }
            for message in output.messages {
                self.transport.send(message);
            }
            // The status copy is brought up to date before anyone is answered, so a client that reads
            // `/v2/members` right after its member add was answered sees the new member.
            if handled > 0
                || !output.answers.is_empty()
                || now >= next_tick.checked_sub(self.heartbeat).unwrap_or(now)
            {
                self.publish_status();
            }
            for answer in output.answers {
                self.deliver(answer);
            }
            if output.removed || self.removed_by_peer.is_some() {
                tracing::error!("this member has been permanently removed from the cluster");
                self.publish_status();
                return Err(RunError("this member has been permanently removed from the cluster".into()));
            }
            if let Some((_, deadline)) = &shutdown {
                let handed_over = self.node.raft().role() != Role::Leader;
                if handed_over || Instant::now() >= *deadline {
                    if let Some((done, _)) = shutdown.take() {
                        let _ = done.send(());
                    }
                    return Ok(());
                }
            }
        }
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Message(message) => self.node.receive(message),
            Input::Unreachable(peer) => self.node.report_unreachable(peer),
            Input::RemovedByPeer(peer) => {
                tracing::warn!(peer = %format_id(peer), "a peer says this member was removed from the cluster");
                self.removed_by_peer = Some(peer);
            }
            Input::SnapshotSent { peer, success } => self.node.report_snapshot(peer, success),
            Input::Request { request, responder } => {
                let request_id = self.next_request_id;
                self.next_request_id += 1;
                self.responders.insert(request_id, responder);
                if let Some(refusal) = self.reconfig_refusal(&request) {
                    tracing::warn!(request = ?request, "refusing a membership change: {refusal}");
                    let answer = node::Answer {
                        request_id,
                        result: Err(RequestError::Refused(refusal.into())),
                        raft_index: self.node.raft().commit_index(),
                        raft_term: self.node.raft().term(),
                    };
                    self.deliver(answer);
                    return;
                }
                self.node.submit(request_id, request, unix_nanos());
            }
            Input::Shutdown(_) => unreachable!("handled by the loop"),
        }
    }

    /// On a graceful stop a leader hands leadership to its most up-to-date voter first (etcd does the
    /// same), so the cluster has a new leader in milliseconds instead of an election timeout.
    fn begin_shutdown(&mut self) {
        let raft = self.node.raft();
        if raft.role() != Role::Leader {
            return;
        }
        let me = raft.id();
        let best = raft
            .conf_state()
            .voters
            .iter()
            .filter(|id| **id != me)
            .filter_map(|id| raft.progress(*id).map(|progress| (progress.match_index, *id)))
            .max();
        if let Some((_, target)) = best {
            tracing::info!(target = %format_id(target), "transferring leadership before stopping");
            let _ = self.node.transfer_leader(target);
        }
    }

    fn deliver(&mut self, answer: node::Answer) {
        let Some(responder) = self.responders.remove(&answer.request_id) else { return };
        match responder {
            Responder::Once(sender) => {
                let _ = sender.send(answer);
            }
            Responder::Watch { start, watch } => self.deliver_watch(answer, start, watch),
        }
    }

    fn deliver_watch(
        &mut self,
        answer: node::Answer,
        start: Option<oneshot::Sender<Result<api::WatchStream, StoreError>>>,
        watch: WatchSink,
    ) {
        let request_id = answer.request_id;
        let begin = |start: Option<oneshot::Sender<_>>, etcd_index: u64| {
            if let Some(start) = start {
                let (_, placeholder) = mpsc::channel(1);
                let _ = start.send(Ok(api::WatchStream {
                    etcd_index,
                    raft_index: answer.raft_index,
                    raft_term: answer.raft_term,
                    events: placeholder,
                }));
            }
        };
        match answer.result {
            Ok(Reply::WatchStarted { start_index }) => {
                begin(start, start_index);
                self.responders.insert(request_id, Responder::Watch { start: None, watch });
            }
            Ok(Reply::Event(event)) => {
                begin(start, event.etcd_index);
                let _ = watch.events.try_send(event);
                if watch.stream {
                    self.parked_watches.push(watch.events);
                }
            }
            Ok(Reply::WatchEvent(event)) => {
                let delivered = watch.events.try_send(event).is_ok();
                if !delivered {
                    // A client too slow to drain its channel loses the watch, as in etcd.
                    self.node.submit(
                        0,
                        node::ClientRequest::CancelWatch { watch_request_id: request_id },
                        unix_nanos(),
                    );
                } else if watch.stream {
                    self.responders.insert(request_id, Responder::Watch { start: None, watch });
                }
            }
            Ok(_) => {}
            Err(error) => {
                if let Some(start) = start {
                    let _ = start.send(Err(server_error(error).to_store_error()));
                }
            }
        }
    }

    /// Cancels the store watchers of clients that went away.
    fn sweep_watches(&mut self) {
        let gone: Vec<u64> = self
            .responders
            .iter()
            .filter_map(|(id, responder)| match responder {
                Responder::Watch { start: None, watch } if watch.events.is_closed() => Some(*id),
                _ => None,
            })
            .collect();
        for request_id in gone {
            self.responders.remove(&request_id);
            self.node.submit(
                0,
                node::ClientRequest::CancelWatch { watch_request_id: request_id },
                unix_nanos(),
            );
        }
        self.parked_watches.retain(|sender| !sender.is_closed());
    }

    /// `--strict-reconfig-check`, as etcd's mayAddMember / mayRemoveMember: a change must not leave the
    /// cluster without a quorum of started (published) and connected voters. "Connected" is this
    /// member's transport view: an active stream for at least `HEALTH_INTERVAL`, like etcd's.
    ///
    /// "Voters" include members added as voters that are still learners waiting to be promoted
    /// (`promote_when_caught_up`): to the operator, and to etcd, which adds them as voting members
    /// at once, they vote from the moment `member add` returns, and they will once caught up. So a
    /// member added but never started counts in the quorum but not as started, and a second
    /// addition before it starts is refused, as etcd 3.4 refuses it; removing it is a voter's
    /// removal (quorum of the others, safe while it is down).
    fn reconfig_refusal(&self, request: &node::ClientRequest) -> Option<&'static str> {
        if !self.strict_reconfig_check {
            return None;
        }
        let me = self.node.id();
        let voters: Vec<&node::Member> =
            self.node.members().values().filter(|member| votes_for_strict_check(member)).collect();
        let statuses = self.transport.peer_status();
        let healthy_since = Instant::now().checked_sub(HEALTH_INTERVAL);
        let connected = |id: NodeId| {
            id == me
                || statuses.get(&id).is_some_and(|status| {
                    status.active && healthy_since.is_some_and(|limit| status.since <= limit)
                })
        };
        let started = |member: &&&node::Member| !member.name.is_empty();
        match request {
            node::ClientRequest::AddMember { member } => {
                // The new member joins as a learner, but is meant to vote: count it as a voter.
                if votes_for_strict_check(member) {
                    let started_voters = voters.iter().filter(started).count();
                    // etcd's exception: a 1-member cluster may always add a second member (restoring a
                    // cluster from one member's data starts that way).
                    let restoring = started_voters == 1 && voters.len() == 1;
                    if !restoring && started_voters < quorum(voters.len() + 1) {
                        return Some(ERR_NOT_ENOUGH_STARTED_MEMBERS);
                    }
                }
                if !voters.iter().all(|member| connected(member.id)) {
                    return Some(ERR_UNHEALTHY);
                }
                None
            }
            node::ClientRequest::RemoveMember { id } => {
                let target = self.node.members().get(id)?;
                if !votes_for_strict_check(target) {
                    return None;
                }
                let started_others = voters.iter().filter(started).filter(|member| member.id != *id).count();
                if started_others < quorum(voters.len() - 1) {
                    return Some(ERR_NOT_ENOUGH_STARTED_MEMBERS);
                }
                // A member that is down is safe to remove: it is not part of the active quorum.
                if *id != me && !statuses.get(id).is_some_and(|status| status.active) {
                    return None;
                }
                let active = voters.iter().filter(|member| connected(member.id)).count();
                if active.saturating_sub(1) < 1 + voters.len().saturating_sub(1) / 2 {
                    return Some(ERR_UNHEALTHY);
                }
                None
            }
            _ => None,
        }
    }

    /// Keeps the transport's peer table equal to the membership. Remotes (strangers the transport
    /// answers, see `transport`) are left alone: only IDs the membership records as removed, or
    /// members that left it, are handed to `remove_peer`, so a member of a newer configuration we do
    /// not know yet is never marked removed; when its addition applies here, `add_peer` makes it a
    /// peer.
    fn sync_peers(&mut self) {
        let me = self.node.id();
        let wanted: BTreeMap<NodeId, Vec<String>> = self
            .node
            .members()
            .values()
            .filter(|member| member.id != me)
            .map(|member| (member.id, member.peer_urls.clone()))
            .collect();
        let removed = self.node.removed_members();
        if removed.len() != self.known_removed.len() {
            for id in removed.difference(&self.known_removed) {
                if *id != me {
                    self.transport.remove_peer(*id);
                }
            }
            self.known_removed = removed.clone();
            self.publish_membership_view();
        }
        if wanted == self.known_peers {
            return;
        }
        for (id, urls) in &wanted {
            match self.known_peers.get(id) {
                None => {
                    let _ =
                        self.transport.add_peer(*id, urls).or_else(|_| self.transport.update_peer(*id, urls));
                }
                Some(old) if old != urls => {
                    let _ = self.transport.update_peer(*id, urls);
                }
                Some(_) => {}
            }
        }
        for id in self.known_peers.keys() {
            if !wanted.contains_key(id) {
                self.transport.remove_peer(*id);
            }
        }
        self.known_peers = wanted;
        self.publish_membership_view();
    }

    /// What this member answers to a joining member's membership query. Names and client URLs are
    /// refreshed on the next membership change; joiners need only IDs and peer URLs.
    fn publish_membership_view(&self) {
        let status = self.node.status();
        self.transport.set_membership_view(MembershipAnswer {
            cluster_id: status.cluster_id,
            members: status
                .members
                .iter()
                .map(|member| MemberInfo {
                    id: member.id,
                    name: member.name.clone(),
                    peer_urls: member.peer_urls.clone(),
                    client_urls: member.client_urls.clone(),
                    is_learner: member.is_learner,
                })
                .collect(),
            removed: self.node.removed_members().iter().copied().collect(),
        });
    }

    fn on_soft_state(&mut self, soft_state: raft::SoftState) {
        self.leader_changes += 1;
        self.leader_since = unix_nanos();
        match soft_state.leader {
            Some(leader) => tracing::info!(
                leader = %format_id(leader),
                term = self.node.raft().term(),
                role = ?soft_state.role,
                "raft leader known"
            ),
            None => {
                tracing::info!(term = self.node.raft().term(), role = ?soft_state.role, "raft leader lost")
            }
        }
    }

    fn publish_status(&self) {
        let node_status = self.node.status();
        let raft = self.node.raft();
        let followers = (raft.role() == Role::Leader).then(|| {
            raft.conf_state()
                .all_members()
                .into_iter()
                .filter(|id| *id != node_status.id)
                .map(|id| api::FollowerStats { id, ..api::FollowerStats::default() })
                .collect()
        });
        let status = api::NodeStatus {
            name: self.name.clone(),
            member_id: node_status.id,
            cluster_id: node_status.cluster_id,
            leader_id: node_status.leader.unwrap_or(0),
            term: node_status.term,
            commit_index: node_status.commit_index,
            applied_index: node_status.applied_index,
            members: node_status
                .members
                .iter()
                .map(|member| api::Member {
                    id: member.id,
                    name: member.name.clone(),
                    peer_urls: member.peer_urls.clone(),
                    client_urls: member.client_urls.clone(),
                })
                .collect(),
            start_time: self.start_nanos,
            leader_start_time: self.leader_since,
            followers,
            store_stats: self.node.store().stats(),
            metrics: api::ServerMetrics {
                leader_changes_seen: self.leader_changes,
                proposals_committed: node_status.commit_index,
                proposals_applied: node_status.applied_index,
                proposals_pending: self.node.pending_requests() as u64,
                wal_fsync_seconds: self.disk_timings.wal_fsync.lock().map(|h| h.clone()).unwrap_or_default(),
                backend_commit_seconds: self
                    .disk_timings
                    .snapshot_fsync
                    .lock()
                    .map(|h| h.clone())
                    .unwrap_or_default(),
                ..api::ServerMetrics::default()
            },
            ..api::NodeStatus::default()
        };
        if let Ok(mut shared) = self.status.write() {
            *shared = status;
        }
    }
}

/// fsync durations for `/metrics`, measured where the disk is touched. Syncs of WAL segments are
/// etcd's `etcd_disk_wal_fsync_duration_seconds`; every other file sync (snapshot files, a new WAL
/// segment before its rename) stands in for etcd's backend commits
/// (`etcd_disk_backend_commit_duration_seconds`), the other place a member waits for its disk.
struct DiskTimings {
    wal_fsync: std::sync::Mutex<api::Histogram>,
    snapshot_fsync: std::sync::Mutex<api::Histogram>,
}

impl Default for DiskTimings {
    fn default() -> DiskTimings {
        DiskTimings {
            wal_fsync: std::sync::Mutex::new(api::Histogram::etcd_disk_buckets()),
            snapshot_fsync: std::sync::Mutex::new(api::Histogram::etcd_disk_buckets()),
        }
    }
}

/// The real disk with a stopwatch on `sync_file`: the shell's clock stays in the shell, and the node
/// below keeps seeing a plain `Disk`.
#[derive(Debug)]
struct TimedDisk {
    inner: OsDisk,
    timings: Arc<DiskTimings>,
}

impl std::fmt::Debug for DiskTimings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DiskTimings")
    }
}

impl Disk for TimedDisk {
    fn create_dir_all(&self, dir: &std::path::Path) -> std::io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn list(&self, dir: &std::path::Path) -> std::io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn exists(&self, path: &std::path::Path) -> std::io::Result<bool> {
        self.inner.exists(path)
    }
    fn read(&self, path: &std::path::Path) -> std::io::Result<Vec<u8>> {
        self.inner.read(path)
    }
    fn file_len(&self, path: &std::path::Path) -> std::io::Result<u64> {
        self.inner.file_len(path)
    }
    fn create_new(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.inner.create_new(path)
    }
    fn append(&self, path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
        self.inner.append(path, data)
    }
    fn truncate(&self, path: &std::path::Path, len: u64) -> std::io::Result<()> {
        self.inner.truncate(path, len)
    }
    fn sync_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        let started = Instant::now();
        let result = self.inner.sync_file(path);
        let seconds = started.elapsed().as_secs_f64();
        let histogram = if path.extension().is_some_and(|extension| extension == "wal") {
            &self.timings.wal_fsync
        } else {
            &self.timings.snapshot_fsync
        };
        if let Ok(mut histogram) = histogram.lock() {
            histogram.observe(seconds);
        }
        result
    }
    fn sync_dir(&self, dir: &std::path::Path) -> std::io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn rename(&self, from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.inner.remove(path)
    }
    fn lock(&self, dir: &std::path::Path) -> std::io::Result<crate::storage::disk::DirLock> {
        self.inner.lock(dir)
    }
}
