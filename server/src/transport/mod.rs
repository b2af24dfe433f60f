//! The peer transport: Raft messages between members over TCP, on the peer URLs.
//!
//! Job: deliver `raft::Message`s best-effort. Each member dials one long-lived stream to each peer
//! (a writer task per peer owns that peer's bounded queue, batches queued frames into few writes,
//! and reconnects with exponential backoff and jitter); it accepts the peers' streams on its listen
//! URLs and hands what arrives to the node through a bounded channel. Raft tolerates loss, so every
//! bound drops and counts instead of blocking: `send` never waits, and a slow node never stalls a
//! socket reader. A handshake refuses members of other clusters and removed members with a logged
//! reason. Snapshots travel in bounded chunks (see `wire`).
//!
//! Remotes: a member that lagged behind membership changes does not know the members added since,
//! yet one of them may be the leader that must catch it up, or a candidate that needs its vote. So
//! a dialer of the same cluster that is neither a peer nor removed is taken on as a *remote* (etcd's
//! `AddRemote`): its stream is accepted and a writer dials back on the peer URLs its handshake
//! announced, so the member can answer it. A remote is not a member: it does not show in
//! [`Transport::peer_status`]; `add_peer` turns it into a peer once the membership catches up, and
//! `remove_peer` cuts it off for good like any removed member. Remotes are bounded
//! ([`TransportLimits::max_remote_peers`]); past the bound, and for a dialer that announced no
//! usable URL, the stream is refused as an unknown sender.
//!
//! Boundaries: this is the IO shell. It does not interpret messages beyond checking that their
//! sender and receiver match the connection; it reports peers becoming active or unreachable through
//! [`TransportEvent`]s and [`Transport::peer_status`], and the node decides what Raft makes of that.

pub mod wire;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use raft::types::{EntryPayload, Message, MessageBody, NodeId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

pub use crate::url::{PeerAddr, UrlError, parse_peer_url};
use self::wire::{
    Frame, FrameRef, Hello, HelloAnswer, MembershipAnswer, OutgoingSnapshot, RefusalReason,
    SnapshotAssembler, WireError,
};

/// Every bound the transport keeps. The defaults suit a LAN cluster with etcd's 1.5 MiB request cap.
#[derive(Clone, Debug)]
pub struct TransportLimits {
    /// Messages queued per peer before `send` drops (etcd's stream buffer is 4096 too).
    pub queue_messages: usize,
    /// Approximate bytes queued per peer before `send` drops.
    pub queue_bytes: usize,
    /// The largest frame written or accepted; a larger header closes the connection.
    pub max_frame_bytes: usize,
    /// Snapshot data carried per chunk frame; must leave room for the frame's own fields.
    pub snapshot_chunk_bytes: usize,
    /// The largest snapshot a receiver reassembles.
    pub max_snapshot_bytes: u64,
    /// Inbound connections served at once; more are refused.
    pub max_inbound_connections: usize,
    /// Time a dialer has to complete its handshake, and a dialer waits for the answer.
    pub handshake_timeout: Duration,
    /// Time one batch write may take before the connection is declared dead.
    pub write_timeout: Duration,
    /// First reconnection delay; it doubles per failure up to `backoff_max`, with jitter.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Bytes buffered before a write syscall while draining a long queue.
    pub write_batch_bytes: usize,
    /// How long a received snapshot may wait for room in the inbound channel before it is dropped
    /// (other messages are dropped at once when the channel is full; a snapshot is costly to resend).
    pub snapshot_delivery_timeout: Duration,
    /// Unacknowledged data older than this breaks the connection (TCP_USER_TIMEOUT), and idle
    /// connections are probed after it (TCP keepalive), so a partitioned peer is noticed.
    pub dead_peer_timeout: Duration,
    /// Remotes (dialers outside our membership we answer, see the module comment) kept at once. A
    /// lagging member only needs the members added since it lost touch, a handful in practice (etcd
    /// advises at most 7 voters, and learners are few); each remote costs a writer task and a queue,
    /// so a misconfigured member sharing our cluster ID cannot make us dial an unbounded crowd.
    pub max_remote_peers: usize,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            queue_messages: 4096,
            queue_bytes: 64 << 20,
            max_frame_bytes: 8 << 20,
            snapshot_chunk_bytes: 1 << 20,
            max_snapshot_bytes: 4 << 30,
            max_inbound_connections: 256,
            handshake_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            write_batch_bytes: 256 << 10,
            snapshot_delivery_timeout: Duration::from_secs(5),
            dead_peer_timeout: Duration::from_secs(10),
            max_remote_peers: 8,
        }
    }
}

/// How to start a transport.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    pub member_id: NodeId,
    pub cluster_id: u64,
    /// `http://host:port` URLs to listen on (port 0 picks a free port; see `local_addrs`).
    pub listen_peer_urls: Vec<String>,
    /// The other members and their peer URLs. The entry for `member_id` itself, if any, holds this
    /// member's advertised peer URLs, announced in every handshake so a member that does not know us
    /// yet can answer (see the module comment); without it the bound listen addresses are announced,
    /// which suits tests on loopback but not a wildcard listen address.
    pub peers: BTreeMap<NodeId, Vec<String>>,
    pub limits: TransportLimits,
}

/// What the node hears about peers besides their messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportEvent {
    /// A stream to the peer is established.
    PeerActive(NodeId),
    /// The peer cannot be reached (or its stream broke); messages queued for it are being discarded
    /// until it is back. Emitted once per outage (at the first failed attempt after being active, or
    /// since start): the node should tell Raft (`report_unreachable`) so it stops pipelining to
    /// that peer and probes instead.
    PeerUnreachable(NodeId),
    /// The peer refused our stream. `RemovedMember` means this member was removed from the cluster.
    PeerRefused { peer: NodeId, reason: RefusalReason },
    /// An `InstallSnapshot` to the peer was written out whole (`success`), or was lost: the stream
    /// broke during the transfer or the peer was unreachable. The node passes it to Raft's
    /// `report_snapshot` so a leader does not wait forever for a snapshot that never left.
    SnapshotSent { peer: NodeId, success: bool },
}

/// A peer's reachability as the outgoing stream sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    pub active: bool,
    /// When `active` last changed (or the peer was added).
    pub since: Instant,
    /// Messages written to the peer's stream.
    pub sent_messages: u64,
    /// Messages dropped: queue full, peer unreachable, or too large for a frame.
    pub dropped_messages: u64,
    /// Why the last connection attempt or stream failed, if it did.
    pub last_error: Option<String>,
}

/// Totals since start, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Messages written to peer streams (a snapshot counts once, when its last chunk is written).
    pub sent_messages: u64,
    /// Frame bytes written to peer streams, framing included.
    pub sent_bytes: u64,
    /// Dropped by `send` because the peer's queue was full (or a newer snapshot replaced it).
    pub dropped_queue_full: u64,
    /// Discarded from a queue because the peer could not be reached (or was removed).
    pub dropped_unreachable: u64,
    /// Dropped by `send` because the destination is not a peer.
    pub dropped_unknown_peer: u64,
    /// Dropped because the message does not fit in one frame.
    pub dropped_oversized: u64,
    /// Messages read from peer streams, including those then dropped for a full inbound channel.
    pub received_messages: u64,
    /// Frame bytes read from peer streams after the handshake, framing included.
    pub received_bytes: u64,
    /// Received but dropped because the node's inbound channel was full.
    pub dropped_inbound_full: u64,
    /// Handshakes refused, by us (inbound) or by the peer (outbound).
    pub refused_connections: u64,
    /// Dialers outside the membership taken on as remotes.
    pub remotes_added: u64,
    /// Established streams that ended on an error (either direction).
    pub broken_connections: u64,
}

/// Why the transport cannot start or a peer cannot be changed.
#[derive(Debug)]
pub enum TransportError {
    Url(UrlError),
    NoListenUrl,
    Resolve {
        url: String,
        error: std::io::Error,
    },
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    InvalidMemberId(NodeId),
    /// The peer was removed; member IDs are never reused.
    PeerRemoved(NodeId),
    PeerExists(NodeId),
    UnknownPeer(NodeId),
    InvalidLimits(&'static str),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Url(error) => write!(f, "{error}"),
            TransportError::NoListenUrl => write!(f, "no listen peer URL given"),
            TransportError::Resolve { url, error } => write!(f, "cannot resolve peer URL {url:?}: {error}"),
            TransportError::Bind { addr, error } => write!(f, "cannot listen for peers on {addr}: {error}"),
            TransportError::InvalidMemberId(id) => write!(f, "invalid member ID {id:016x}"),
            TransportError::PeerRemoved(id) => {
                write!(f, "member {id:016x} was removed and cannot be re-added")
            }
            TransportError::PeerExists(id) => write!(f, "member {id:016x} is already a peer"),
            TransportError::UnknownPeer(id) => write!(f, "member {id:016x} is not a peer"),
            TransportError::InvalidLimits(reason) => write!(f, "invalid transport limits: {reason}"),
        }
    }
}

impl std::error::Error for TransportError {}

impl From<UrlError> for TransportError {
    fn from(error: UrlError) -> Self {
        TransportError::Url(error)
    }
}

/// The running transport. Dropping it cancels every task; `shutdown` also waits for them.
pub struct Transport {
    shared: Arc<Shared>,
    local_addrs: Vec<SocketAddr>,
}

struct Shared {
    member_id: NodeId,
    cluster_id: u64,
    limits: TransportLimits,
    membership: RwLock<Membership>,
    inbound: mpsc::Sender<Message>,
    events: Option<mpsc::Sender<TransportEvent>>,
    cancel: CancellationToken,
    tasks: TaskTracker,
    inbound_connections: AtomicUsize,
    /// Numbers inbound streams, so a finished stream can tell whether a newer one replaced it.
    next_stream_id: AtomicU64,
    counters: Counters,
    /// What this member answers to a membership query (`None`: not known yet, the query is closed).
    membership_view: RwLock<Option<MembershipAnswer>>,
    /// This member's peer URLs, announced in every handshake it dials.
    announced_peer_urls: Vec<String>,
}

#[derive(Default)]
struct Membership {
    peers: BTreeMap<NodeId, Arc<Peer>>,
    /// Dialers outside the membership that we answer (see the module comment). Disjoint from
    /// `peers` and `removed`; at most `TransportLimits::max_remote_peers`.
    remotes: BTreeMap<NodeId, Arc<Peer>>,
    removed: BTreeSet<NodeId>,
    /// Destinations already logged as unknown, so a misdirected stream of messages logs once each.
    logged_unknown: BTreeSet<NodeId>,
}

/// Bound on `Membership::logged_unknown`, so a stream of bogus destinations cannot grow it.
const MAX_LOGGED_UNKNOWN: usize = 1024;

#[derive(Default)]
struct Counters {
    sent_messages: AtomicU64,
    sent_bytes: AtomicU64,
    received_bytes: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_unreachable: AtomicU64,
    dropped_unknown_peer: AtomicU64,
    dropped_oversized: AtomicU64,
    received_messages: AtomicU64,
    dropped_inbound_full: AtomicU64,
    refused_connections: AtomicU64,
    broken_connections: AtomicU64,
    remotes_added: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

struct Peer {
    id: NodeId,
    urls: Mutex<Vec<PeerAddr>>,
    /// Set by `update_peer` when the URLs change, so the writer redials the new ones at once.
    urls_changed: AtomicBool,
    queue: Mutex<PeerQueue>,
    /// Wakes the writer when the queue goes from empty to non-empty (permits are stored).
    wakeup: Notify,
    /// Cancelled when the peer is removed or the transport stops; parents the peer's tasks.
    cancel: CancellationToken,
    /// The inbound stream from this peer being served (its number and closer), closed when the peer
    /// dials a new one.
    inbound_stream: Mutex<Option<(u64, CancellationToken)>>,
    status: Mutex<PeerStatus>,
}

/// The messages waiting for a peer's writer. Snapshots do not count against the byte bound (one may
/// exceed it by itself); instead at most one waits, and a newer one replaces it.
#[derive(Default)]
struct PeerQueue {
    messages: VecDeque<Message>,
    bytes: usize,
    snapshot: Option<Message>,
}

impl PeerQueue {
    fn len(&self) -> usize {
        self.messages.len() + usize::from(self.snapshot.is_some())
    }

    /// Empties the queue; returns how many messages it held and whether one was a snapshot.
    fn clear(&mut self) -> (usize, bool) {
        let discarded = self.len();
        self.messages.clear();
        self.bytes = 0;
        (discarded, self.snapshot.take().is_some())
    }
}

/// A cheap estimate of a message's encoded size, for the per-peer byte bound.
fn approximate_bytes(message: &Message) -> usize {
    const HEADER: usize = 32;
    HEADER
        + match &message.body {
            MessageBody::AppendEntries { entries, .. } => {
                entries.iter().map(|entry| entry.size_bytes()).sum()
            }
            MessageBody::Propose { entries } => entries
                .iter()
                .map(|payload| match payload {
                    EntryPayload::Empty => 1,
                    EntryPayload::Normal(data) => data.len() + 8,
                    EntryPayload::ConfChange(change) => change.context.len() + 16 * change.changes.len() + 8,
                })
                .sum(),
            MessageBody::InstallSnapshot { snapshot } => snapshot.data.len(),
            _ => 0,
        }
}

impl Peer {
    fn new(id: NodeId, urls: Vec<PeerAddr>, parent: &CancellationToken) -> Peer {
        Peer {
            id,
            urls: Mutex::new(urls),
            urls_changed: AtomicBool::new(false),
            queue: Mutex::new(PeerQueue::default()),
            wakeup: Notify::new(),
            cancel: parent.child_token(),
            inbound_stream: Mutex::new(None),
            status: Mutex::new(PeerStatus {
                active: false,
                since: Instant::now(),
                sent_messages: 0,
                dropped_messages: 0,
                last_error: None,
            }),
        }
    }

    /// Replaces the URLs the writer dials; a change redials at once.
    fn set_urls(&self, urls: Vec<PeerAddr>) {
        let mut current = self.urls.lock().expect("urls lock");
        if *current != urls {
            info!(peer = %format_args!("{:016x}", self.id), urls = ?urls, "peer URLs updated, redialling");
            *current = urls;
            self.urls_changed.store(true, Ordering::Release);
            self.wakeup.notify_one();
        }
    }

    fn note_dropped(&self, count: usize) {
        if count > 0 {
            self.status.lock().expect("status lock").dropped_messages += count as u64;
        }
    }

    /// Marks the peer active or not; returns whether that is a change.
    fn set_active(&self, active: bool, error: Option<String>) -> bool {
        let mut status = self.status.lock().expect("status lock");
        if error.is_some() || active {
            status.last_error = error;
        }
        if status.active == active {
            return false;
        }
        status.active = active;
        status.since = Instant::now();
        true
    }
}

/// The advertised peer URLs a handshake can carry: those a receiver accepts (see
/// `Hello::announced_peer_addrs`), at most `MAX_ANNOUNCED_PEER_URLS`. Others are left out with a
/// warning rather than failing the start: they only matter to members that do not know us yet.
fn announceable_peer_urls(advertised: &[String]) -> Vec<String> {
    let announced: Vec<String> = advertised
        .iter()
        .filter(|url| wire::check_announced_peer_urls(std::slice::from_ref(*url)).is_ok())
        .take(wire::MAX_ANNOUNCED_PEER_URLS)
        .cloned()
        .collect();
    if announced.len() < advertised.len() {
        warn!(
            advertised = ?advertised,
            announced = ?announced,
            "some advertised peer URLs cannot be announced to peers (not http://host:port, too long, or too many); \
             a member that does not know us yet can answer only on the others"
        );
    }
    debug_assert!(announced.is_empty() || wire::check_announced_peer_urls(&announced).is_ok());
    announced
}

fn parse_urls(urls: &[String]) -> Result<Vec<PeerAddr>, TransportError> {
    urls.iter().map(|url| parse_peer_url(url).map_err(TransportError::from)).collect()
}

impl Transport {
    /// Binds the listen URLs and starts the listener and one writer per peer. Messages from peers go
    /// to `inbound`; peer events, if wanted, to `events`. Cancelling `cancel` stops everything.
    pub async fn start(
        config: TransportConfig,
        inbound: mpsc::Sender<Message>,
        events: Option<mpsc::Sender<TransportEvent>>,
        cancel: CancellationToken,
    ) -> Result<Transport, TransportError> {
        let limits = config.limits;
        if config.member_id == 0 {
            return Err(TransportError::InvalidMemberId(0));
        }
        if limits.queue_messages == 0 || limits.max_inbound_connections == 0 {
            return Err(TransportError::InvalidLimits("queue and connection bounds must be positive"));
        }
        // A chunk frame holds the chunk plus a few bytes of framing and offset.
        if limits.snapshot_chunk_bytes == 0 || limits.snapshot_chunk_bytes + 64 > limits.max_frame_bytes {
            return Err(TransportError::InvalidLimits(
                "snapshot chunks must be non-empty and fit in a frame",
            ));
        }
        if config.listen_peer_urls.is_empty() {
            return Err(TransportError::NoListenUrl);
        }
        let mut peers = BTreeMap::new();
        for (&id, urls) in &config.peers {
            if id == 0 {
                return Err(TransportError::InvalidMemberId(id));
            }
            if id != config.member_id {
                peers.insert(id, parse_urls(urls)?);
            }
        }
        let mut listeners = Vec::new();
        for url in &config.listen_peer_urls {
            let addr = parse_peer_url(url)?;
            // Resolve up front (etcd does too) so a bad name fails at start, not at first contact.
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((addr.host.as_str(), addr.port))
                .await
                .map_err(|error| TransportError::Resolve { url: url.clone(), error })?
                .collect();
            let Some(&socket_addr) = resolved.iter().find(|a| a.is_ipv4()).or(resolved.first()) else {
                return Err(TransportError::Resolve {
                    url: url.clone(),
                    error: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
                });
            };
            let listener = TcpListener::bind(socket_addr)
                .await
                .map_err(|error| TransportError::Bind { addr: socket_addr, error })?;
            listeners.push(listener);
        }
        let local_addrs: Vec<SocketAddr> = listeners.iter().filter_map(|l| l.local_addr().ok()).collect();
        let advertised = match config.peers.get(&config.member_id) {
            Some(urls) => urls.clone(),
            None => local_addrs.iter().map(|addr| format!("http://{addr}")).collect(),
        };
        let announced_peer_urls = announceable_peer_urls(&advertised);

        let shared = Arc::new(Shared {
            member_id: config.member_id,
            cluster_id: config.cluster_id,
            limits,
            membership: RwLock::new(Membership::default()),
            inbound,
            events,
            // A child: the caller's cancellation stops us, but dropping us does not cancel the caller.
            cancel: cancel.child_token(),
            tasks: TaskTracker::new(),
            inbound_connections: AtomicUsize::new(0),
            next_stream_id: AtomicU64::new(0),
            counters: Counters::default(),
            membership_view: RwLock::new(None),
            announced_peer_urls,
        });
        info!(
            member_id = %format_args!("{:016x}", shared.member_id),
            cluster_id = %format_args!("{:016x}", shared.cluster_id),
            listen = ?local_addrs,
            peers = peers.len(),
            "peer transport started"
        );
        for listener in listeners {
            shared.tasks.spawn(accept_loop(shared.clone(), listener));
        }
        for (id, urls) in peers {
            shared.add_peer(id, urls)?;
        }
        Ok(Transport { shared, local_addrs })
    }

    /// The addresses actually bound, in the order of `listen_peer_urls`.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    pub fn member_id(&self) -> NodeId {
        self.shared.member_id
    }

    /// Queues `message` for its destination and returns at once. A full queue or an unknown or
    /// removed destination drops the message (counted; an unknown destination is logged once).
    pub fn send(&self, message: Message) {
        let shared = &self.shared;
        let peer = {
            let membership = shared.membership.read().expect("membership lock");
            membership.peers.get(&message.to).or_else(|| membership.remotes.get(&message.to)).cloned()
        };
        let Some(peer) = peer else {
            bump(&shared.counters.dropped_unknown_peer, 1);
            let mut membership = shared.membership.write().expect("membership lock");
            if membership.logged_unknown.len() < MAX_LOGGED_UNKNOWN
                && membership.logged_unknown.insert(message.to)
            {
                warn!(peer = %format_args!("{:016x}", message.to), "dropping message to unknown or removed peer");
            }
            return;
        };
        let bytes = approximate_bytes(&message);
        let was_empty;
        {
            let mut queue = peer.queue.lock().expect("queue lock");
            was_empty = queue.len() == 0;
            if matches!(message.body, MessageBody::InstallSnapshot { .. }) {
                if queue.snapshot.replace(message).is_some() {
                    // The newer snapshot supersedes the older one, which was never sent.
                    bump(&shared.counters.dropped_queue_full, 1);
                    drop(queue);
                    peer.note_dropped(1);
                }
            } else if queue.messages.len() >= shared.limits.queue_messages
                || queue.bytes + bytes > shared.limits.queue_bytes
            {
                drop(queue);
                bump(&shared.counters.dropped_queue_full, 1);
                peer.note_dropped(1);
                debug!(peer = %format_args!("{:016x}", peer.id), "send queue full, dropping message");
                return;
            } else {
                queue.bytes += bytes;
                queue.messages.push_back(message);
            }
        }
        if was_empty {
            peer.wakeup.notify_one();
        }
    }

    /// Adds a member (e.g. after a committed AddNode). A removed member cannot come back. A remote
    /// becomes a peer, keeping its streams and queue, and is dialed on `urls` from now on.
    pub fn add_peer(&self, id: NodeId, urls: &[String]) -> Result<(), TransportError> {
        if id == 0 || id == self.shared.member_id {
            return Err(TransportError::InvalidMemberId(id));
        }
        self.shared.add_peer(id, parse_urls(urls)?)
    }

    /// Replaces a member's peer URLs; the next connection attempt uses them.
    pub fn update_peer(&self, id: NodeId, urls: &[String]) -> Result<(), TransportError> {
        let urls = parse_urls(urls)?;
        let membership = self.shared.membership.read().expect("membership lock");
        let peer = membership.peers.get(&id).ok_or(TransportError::UnknownPeer(id))?;
        peer.set_urls(urls);
        Ok(())
    }

    /// Sets what this member answers to a membership query from a joining member (the node's view of
    /// the cluster; the shell refreshes it whenever the membership changes).
    pub fn set_membership_view(&self, view: MembershipAnswer) {
        *self.shared.membership_view.write().expect("membership view lock") = Some(view);
    }

    /// Removes a member (or a remote): closes its streams, discards its queue, and refuses it from
    /// now on.
    pub fn remove_peer(&self, id: NodeId) {
        let mut membership = self.shared.membership.write().expect("membership lock");
        membership.removed.insert(id);
        let removed = membership.peers.remove(&id).or_else(|| membership.remotes.remove(&id));
        if let Some(peer) = removed {
            peer.cancel.cancel();
            let (discarded, _) = peer.queue.lock().expect("queue lock").clear();
            bump(&self.shared.counters.dropped_unreachable, discarded as u64);
            info!(peer = %format_args!("{id:016x}"), "peer removed");
        }
    }

    /// The remotes this member currently answers (see the module comment), in ID order.
    pub fn remote_peers(&self) -> Vec<NodeId> {
        self.shared.membership.read().expect("membership lock").remotes.keys().copied().collect()
    }

    /// The reachability of every current peer.
    pub fn peer_status(&self) -> BTreeMap<NodeId, PeerStatus> {
        let membership = self.shared.membership.read().expect("membership lock");
        membership
            .peers
            .iter()
            .map(|(&id, peer)| (id, peer.status.lock().expect("status lock").clone()))
            .collect()
    }

    pub fn stats(&self) -> TransportStats {
        let c = &self.shared.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        TransportStats {
            sent_messages: get(&c.sent_messages),
            sent_bytes: get(&c.sent_bytes),
            received_bytes: get(&c.received_bytes),
            dropped_queue_full: get(&c.dropped_queue_full),
            dropped_unreachable: get(&c.dropped_unreachable),
            dropped_unknown_peer: get(&c.dropped_unknown_peer),
            dropped_oversized: get(&c.dropped_oversized),
            received_messages: get(&c.received_messages),
            dropped_inbound_full: get(&c.dropped_inbound_full),
            refused_connections: get(&c.refused_connections),
            broken_connections: get(&c.broken_connections),
            remotes_added: get(&c.remotes_added),
        }
    }

    /// Stops listening, closes every stream and waits for all tasks to end.
    pub async fn shutdown(self) {
        self.shared.cancel.cancel();
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
        info!(member_id = %format_args!("{:016x}", self.shared.member_id), "peer transport stopped");
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

impl Shared {
    fn add_peer(self: &Arc<Self>, id: NodeId, urls: Vec<PeerAddr>) -> Result<(), TransportError> {
        let mut membership = self.membership.write().expect("membership lock");
        if membership.removed.contains(&id) {
            return Err(TransportError::PeerRemoved(id));
        }
        if membership.peers.contains_key(&id) {
            return Err(TransportError::PeerExists(id));
        }
        if let Some(remote) = membership.remotes.remove(&id) {
            // The membership caught up with a member we were answering as a remote: the same writer
            // and streams carry on, now on the URLs the membership records.
            remote.set_urls(urls);
            membership.peers.insert(id, remote);
            info!(peer = %format_args!("{id:016x}"), "remote became a member, now a peer");
            return Ok(());
        }
        let peer = Arc::new(Peer::new(id, urls, &self.cancel));
        membership.peers.insert(id, peer.clone());
        membership.logged_unknown.remove(&id);
        drop(membership);
        debug!(peer = %format_args!("{id:016x}"), "peer added");
        self.tasks.spawn(run_writer(self.clone(), peer));
        Ok(())
    }

    /// Takes on a dialer outside the membership as a remote (see the module comment), or refuses
    /// it. Called with the membership lock held by the handshake, which checked the sender is
    /// neither a peer nor removed.
    fn add_remote(self: &Arc<Self>, membership: &mut Membership, hello: &Hello) -> Result<Arc<Peer>, String> {
        debug_assert!(
            !membership.peers.contains_key(&hello.from) && !membership.removed.contains(&hello.from)
        );
        let addrs = hello.announced_peer_addrs().map_err(|reason| format!("cannot be answered: {reason}"))?;
        if let Some(remote) = membership.remotes.get(&hello.from) {
            // The dialer knows its own URLs best (it may have moved since it first dialed).
            remote.set_urls(addrs);
            return Ok(remote.clone());
        }
        if membership.remotes.len() >= self.limits.max_remote_peers {
            return Err(format!("already answering {} remotes, the bound", membership.remotes.len()));
        }
        let remote = Arc::new(Peer::new(hello.from, addrs, &self.cancel));
        membership.remotes.insert(hello.from, remote.clone());
        membership.logged_unknown.remove(&hello.from);
        bump(&self.counters.remotes_added, 1);
        info!(
            remote = %format_args!("{:016x}", hello.from),
            urls = ?hello.peer_urls,
            "answering a member outside our membership as a remote (this member may lag behind membership changes)"
        );
        self.tasks.spawn(run_writer(self.clone(), remote.clone()));
        Ok(remote)
    }

    fn emit(&self, event: TransportEvent) {
        if let Some(events) = &self.events
            && let Err(error) = events.try_send(event)
        {
            debug!(event = ?error.into_inner(), "event channel full or closed, dropping transport event");
        }
    }
}

/// Exponential backoff with jitter in [delay/2, delay], so peers that lost the same member do not
/// redial it in lockstep. The jitter source is a small seeded generator: this is the IO layer, but a
/// seed per peer pair keeps runs reproducible where it costs nothing.
struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
    rng_state: u64,
}

impl Backoff {
    fn new(initial: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff { initial, max, current: initial, rng_state: seed }
    }

    fn reset(&mut self) {
        self.current = self.initial;
    }

    fn next_delay(&mut self) -> Duration {
        // SplitMix64.
        self.rng_state = self.rng_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let delay = self.current;
        let half = delay / 2;
        let jitter_nanos = half.as_nanos() as u64;
        let jitter =
            if jitter_nanos == 0 { Duration::ZERO } else { Duration::from_nanos(z % (jitter_nanos + 1)) };
        self.current = (self.current * 2).min(self.max);
        half + jitter
    }
}

/// Why a stream to a peer ended.
enum StreamEnd {
    Cancelled,
    Broken(String),
    /// The peer's URLs changed: redial at once, keeping the queue.
    UrlsChanged,
}

/// The writer task of one peer: connect, stream, and on failure discard the queue and retry.
async fn run_writer(shared: Arc<Shared>, peer: Arc<Peer>) {
    let seed = shared.member_id.rotate_left(32) ^ peer.id;
    let mut backoff = Backoff::new(shared.limits.backoff_initial, shared.limits.backoff_max, seed);
    let peer_hex = format!("{:016x}", peer.id);
    let mut failures_in_a_row: u64 = 0;
    // The snapshot being sent, kept here so a broken stream can report it lost.
    let mut snapshot: Option<OutgoingSnapshot> = None;
    loop {
        if peer.cancel.is_cancelled() {
            break;
        }
        let outcome = tokio::select! {
            outcome = connect(&shared, &peer) => outcome,
            _ = peer.cancel.cancelled() => break,
        };
        let error = match outcome {
            Ok(stream) => {
                failures_in_a_row = 0;
                backoff.reset();
                peer.set_active(true, None);
                info!(peer = %peer_hex, "peer became active");
                shared.emit(TransportEvent::PeerActive(peer.id));
                match stream_to_peer(&shared, &peer, stream, &mut snapshot).await {
                    StreamEnd::Cancelled => break,
                    StreamEnd::UrlsChanged => {
                        peer.set_active(false, None);
                        // A transfer cannot continue on a new stream (the receiver reassembles per
                        // stream): report it lost so Raft sends it again.
                        if snapshot.take().is_some() {
                            peer.note_dropped(1);
                            shared.emit(TransportEvent::SnapshotSent { peer: peer.id, success: false });
                        }
                        continue;
                    }
                    StreamEnd::Broken(reason) => {
                        bump(&shared.counters.broken_connections, 1);
                        reason
                    }
                }
            }
            Err(ConnectError::Refused(reason)) => {
                bump(&shared.counters.refused_connections, 1);
                warn!(peer = %peer_hex, %reason, "peer refused our stream");
                shared.emit(TransportEvent::PeerRefused { peer: peer.id, reason });
                format!("refused: {reason}")
            }
            Err(ConnectError::Failed(reason)) => reason,
        };
        failures_in_a_row += 1;
        let became_inactive = peer.set_active(false, Some(error.clone()));
        if became_inactive {
            warn!(peer = %peer_hex, reason = %error, "peer became inactive");
        } else if failures_in_a_row == 1 {
            // Never connected yet: say so once, not on every retry.
            info!(peer = %peer_hex, reason = %error, "cannot reach peer yet, will keep retrying");
        } else {
            debug!(peer = %peer_hex, reason = %error, "peer still unreachable");
        }
        // Stale messages would only confuse a peer that comes back; Raft resends what matters.
        let (mut discarded, mut snapshot_lost) = peer.queue.lock().expect("queue lock").clear();
        if snapshot.take().is_some() {
            discarded += 1;
            snapshot_lost = true;
        }
        bump(&shared.counters.dropped_unreachable, discarded as u64);
        peer.note_dropped(discarded);
        if snapshot_lost {
            shared.emit(TransportEvent::SnapshotSent { peer: peer.id, success: false });
        }
        // Once per outage (the first failure after being active, or since start): Raft's
        // report_unreachable moves the peer to probing, and nothing can move it back before the
        // stream is up again, so repeating it every retry would only flood the node's logs.
        if failures_in_a_row == 1 {
            shared.emit(TransportEvent::PeerUnreachable(peer.id));
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.next_delay()) => {}
            _ = peer.cancel.cancelled() => break,
        }
    }
    if peer.set_active(false, None) {
        debug!(peer = %peer_hex, "stream to peer closed");
    }
}

enum ConnectError {
    Failed(String),
    Refused(RefusalReason),
}

/// Dials the peer's URLs in order and completes the handshake on the first that answers.
async fn connect(shared: &Shared, peer: &Peer) -> Result<TcpStream, ConnectError> {
    peer.urls_changed.store(false, Ordering::Release);
    let urls = peer.urls.lock().expect("urls lock").clone();
    if urls.is_empty() {
        return Err(ConnectError::Failed("peer has no URLs".into()));
    }
    let mut last_error = String::new();
    for url in urls {
        let attempt = async {
            let mut stream = TcpStream::connect((url.host.as_str(), url.port))
                .await
                .map_err(|error| ConnectError::Failed(format!("connect {url}: {error}")))?;
            configure_socket(&stream, shared.limits.dead_peer_timeout)
                .map_err(|error| ConnectError::Failed(format!("{url}: {error}")))?;
            let mut out = wire::preamble().to_vec();
            let hello = Hello {
                cluster_id: shared.cluster_id,
                from: shared.member_id,
                to: peer.id,
                peer_urls: shared.announced_peer_urls.clone(),
            };
            wire::encode_frame(&hello, wire::MAX_HANDSHAKE_FRAME_BYTES, &mut out)
                .map_err(|error| ConnectError::Failed(error.to_string()))?;
            stream.write_all(&out).await.map_err(|error| ConnectError::Failed(format!("{url}: {error}")))?;
            let answer: HelloAnswer = read_frame(&mut stream, wire::MAX_HANDSHAKE_FRAME_BYTES)
                .await
                .map_err(|error| ConnectError::Failed(format!("handshake with {url}: {error}")))?
                .ok_or_else(|| {
                    ConnectError::Failed(format!("{url} closed the connection during the handshake"))
                })?;
            match answer {
                HelloAnswer::Accepted => Ok(stream),
                HelloAnswer::Refused(reason) => Err(ConnectError::Refused(reason)),
            }
        };
        match tokio::time::timeout(shared.limits.handshake_timeout, attempt).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(ConnectError::Refused(reason))) => return Err(ConnectError::Refused(reason)),
            Ok(Err(ConnectError::Failed(reason))) => last_error = reason,
            Err(_) => last_error = format!("handshake with {url} timed out"),
        }
    }
    Err(ConnectError::Failed(last_error))
}

/// Reads one frame and its size on the wire, or `None` on a clean end of stream between frames.
/// `payload` is scratch space reused across frames (no allocation per frame on a busy stream).
async fn read_frame_sized<T, R>(
    reader: &mut R,
    max_frame_bytes: usize,
    payload: &mut Vec<u8>,
) -> Result<Option<(T, usize)>, WireError>
where
    T: serde::de::DeserializeOwned,
    R: AsyncReadExt + Unpin,
{
    /// Scratch kept between frames; a rare larger frame's buffer is released after use.
    const KEPT_SCRATCH_BYTES: usize = 1 << 20;
    let mut header = [0u8; wire::FRAME_HEADER_BYTES];
    let first = reader.read(&mut header).await?;
    if first == 0 {
        return Ok(None);
    }
    reader.read_exact(&mut header[first..]).await?;
    let (length, checksum) = wire::parse_frame_header(header, max_frame_bytes)?;
    payload.resize(length, 0);
    reader.read_exact(&mut payload[..]).await?;
    let value = wire::decode_payload(payload, checksum);
    if payload.capacity() > KEPT_SCRATCH_BYTES {
        *payload = Vec::new();
    }
    Ok(Some((value?, wire::FRAME_HEADER_BYTES + length)))
}

/// Reads one frame, or `None` on a clean end of stream between frames.
async fn read_frame<T, R>(reader: &mut R, max_frame_bytes: usize) -> Result<Option<T>, WireError>
where
    T: serde::de::DeserializeOwned,
    R: AsyncReadExt + Unpin,
{
    let mut payload = Vec::new();
    Ok(read_frame_sized(reader, max_frame_bytes, &mut payload).await?.map(|(value, _)| value))
}

/// Writes the peer's queue to an established stream until it breaks or the peer is cancelled.
async fn stream_to_peer(
    shared: &Shared,
    peer: &Peer,
    stream: TcpStream,
    snapshot: &mut Option<OutgoingSnapshot>,
) -> StreamEnd {
    let limits = &shared.limits;
    let (mut read_half, mut write_half) = stream.into_split();
    let mut out: Vec<u8> = Vec::with_capacity(limits.write_batch_bytes + 1024);
    let mut batch: Vec<Message> = Vec::new();
    let mut probe = [0u8; 1];
    loop {
        if peer.urls_changed.load(Ordering::Acquire) {
            return StreamEnd::UrlsChanged;
        }
        // Take everything queued (bounded by the queue's own bounds) in one lock.
        let snapshot_replaced;
        {
            let mut queue = peer.queue.lock().expect("queue lock");
            batch.extend(queue.messages.drain(..));
            queue.bytes = 0;
            let newer = queue.snapshot.take();
            snapshot_replaced = newer.is_some() && snapshot.is_some();
            if let Some(newer) = newer {
                *snapshot = OutgoingSnapshot::from_message(newer, limits.snapshot_chunk_bytes);
            }
        }
        if snapshot_replaced {
            debug!(peer = %format_args!("{:016x}", peer.id), "newer snapshot replaces the one being sent");
        }
        if batch.is_empty() && snapshot.is_none() {
            // Idle: wait for work, cancellation, or the peer closing (it never writes after the
            // handshake, so any read result means the stream is gone).
            tokio::select! {
                _ = peer.wakeup.notified() => continue,
                _ = peer.cancel.cancelled() => return StreamEnd::Cancelled,
                read = read_half.read(&mut probe) => {
                    return StreamEnd::Broken(match read {
                        Ok(0) => "peer closed the stream".into(),
                        Ok(_) => "peer wrote on a one-way stream".into(),
                        Err(error) => format!("stream read error: {error}"),
                    });
                }
            }
        }
        let mut written = 0u64;
        for message in batch.drain(..) {
            match wire::encode_frame(&FrameRef::Message(&message), limits.max_frame_bytes, &mut out) {
                Ok(()) => written += 1,
                Err(error) => {
                    bump(&shared.counters.dropped_oversized, 1);
                    peer.note_dropped(1);
                    warn!(peer = %format_args!("{:016x}", peer.id), %error, "dropping message too large to send");
                }
            }
            if out.len() >= limits.write_batch_bytes
                && let Err(reason) =
                    write_out(&mut write_half, &mut out, limits.write_timeout, &shared.counters.sent_bytes)
                        .await
            {
                return StreamEnd::Broken(reason);
            }
        }
        // One snapshot chunk per round, so heartbeats and appends queued meanwhile go out between
        // chunks and the follower does not time the leader out during a long transfer.
        let mut snapshot_finished = None;
        if let Some(outgoing) = snapshot.as_mut() {
            if let Err(error) = outgoing.encode_next(limits.max_frame_bytes, &mut out) {
                warn!(peer = %format_args!("{:016x}", peer.id), %error, "dropping snapshot that cannot be framed");
                bump(&shared.counters.dropped_oversized, 1);
                peer.note_dropped(1);
                *snapshot = None;
                snapshot_finished = Some(false);
            } else if outgoing.is_done() {
                written += 1;
                // Still owned until written, so a failing write below reports it lost.
                snapshot_finished = Some(true);
            }
        }
        if let Err(reason) =
            write_out(&mut write_half, &mut out, limits.write_timeout, &shared.counters.sent_bytes).await
        {
            return StreamEnd::Broken(reason);
        }
        if let Some(success) = snapshot_finished {
            *snapshot = None;
            shared.emit(TransportEvent::SnapshotSent { peer: peer.id, success });
        }
        if written > 0 {
            bump(&shared.counters.sent_messages, written);
            peer.status.lock().expect("status lock").sent_messages += written;
        }
        if peer.cancel.is_cancelled() {
            return StreamEnd::Cancelled;
        }
    }
}

/// No Nagle delay (Raft messages are latency-bound and the writer batches by itself); keepalive and,
/// on Linux, a user timeout so a peer that vanished without a FIN or RST is noticed.
fn configure_socket(stream: &TcpStream, dead_peer_timeout: Duration) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let socket = socket2::SockRef::from(stream);
    let probe_interval = (dead_peer_timeout / 3).max(Duration::from_secs(1));
    socket.set_tcp_keepalive(
        &socket2::TcpKeepalive::new().with_time(dead_peer_timeout).with_interval(probe_interval),
    )?;
    #[cfg(target_os = "linux")]
    socket.set_tcp_user_timeout(Some(dead_peer_timeout))?;
    Ok(())
}

async fn write_out(
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    out: &mut Vec<u8>,
    timeout: Duration,
    sent_bytes: &AtomicU64,
) -> Result<(), String> {
    if out.is_empty() {
        return Ok(());
    }
    let result = tokio::time::timeout(timeout, writer.write_all(out)).await;
    let length = out.len() as u64;
    out.clear();
    match result {
        Ok(Ok(())) => {
            bump(sent_bytes, length);
            Ok(())
        }
        Ok(Err(error)) => Err(format!("stream write error: {error}")),
        Err(_) => Err(format!("stream write blocked for more than {timeout:?}")),
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shared.cancel.cancelled() => return,
        };
        match accepted {
            Ok((stream, remote)) => {
                let serving = shared.inbound_connections.fetch_add(1, Ordering::AcqRel);
                let shared_for_task = shared.clone();
                shared.tasks.spawn(async move {
                    let over_limit = serving >= shared_for_task.limits.max_inbound_connections;
                    serve_inbound(&shared_for_task, stream, remote, over_limit).await;
                    shared_for_task.inbound_connections.fetch_sub(1, Ordering::AcqRel);
                });
            }
            Err(error) => {
                // Usually fd exhaustion; back off briefly instead of spinning.
                warn!(%error, "accepting a peer connection failed");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = shared.cancel.cancelled() => return,
                }
            }
        }
    }
}

/// Answers a membership query with one frame and closes; without a view yet it just closes.
async fn answer_membership_query(shared: &Shared, mut stream: TcpStream, remote: SocketAddr) {
    let view = shared.membership_view.read().expect("membership view lock").clone();
    let Some(view) = view else {
        debug!(%remote, "membership query before the membership is known: closing");
        return;
    };
    let mut out = Vec::new();
    if let Err(error) = wire::encode_frame(&view, wire::MAX_MEMBERSHIP_FRAME_BYTES, &mut out) {
        warn!(%remote, %error, "cannot encode the membership answer");
        return;
    }
    debug!(%remote, "answering a membership query");
    let _ = tokio::time::timeout(shared.limits.handshake_timeout, stream.write_all(&out)).await;
}

/// Asks the member at `url` for the cluster's membership (see [`Hello::MEMBERSHIP_QUERY`]).
pub async fn query_membership(url: &str, timeout: Duration) -> Result<MembershipAnswer, String> {
    let addr = parse_peer_url(url).map_err(|error| error.to_string())?;
    let attempt = async {
        let mut stream = TcpStream::connect((addr.host.as_str(), addr.port))
            .await
            .map_err(|error| format!("connect {addr}: {error}"))?;
        let mut out = wire::preamble().to_vec();
        wire::encode_frame(&Hello::MEMBERSHIP_QUERY, wire::MAX_HANDSHAKE_FRAME_BYTES, &mut out)
            .map_err(|error| error.to_string())?;
        stream.write_all(&out).await.map_err(|error| format!("{addr}: {error}"))?;
        read_frame::<MembershipAnswer, _>(&mut stream, wire::MAX_MEMBERSHIP_FRAME_BYTES)
            .await
            .map_err(|error| format!("{addr}: {error}"))?
            .ok_or_else(|| format!("{addr} closed the connection without an answer"))
    };
    tokio::time::timeout(timeout, attempt).await.map_err(|_| format!("{addr}: timed out"))?
}

/// Serves one inbound stream: handshake, then frames until the stream ends or breaks the protocol.
async fn serve_inbound(shared: &Arc<Shared>, mut stream: TcpStream, remote: SocketAddr, over_limit: bool) {
    if let Err(error) = configure_socket(&stream, shared.limits.dead_peer_timeout) {
        debug!(%remote, %error, "cannot set peer socket options");
    }
    let handshake = async {
        let mut preamble = [0u8; wire::PREAMBLE_BYTES];
        stream.read_exact(&mut preamble).await?;
        let version = wire::parse_preamble(preamble)?;
        let hello: Hello = read_frame(&mut stream, wire::MAX_HANDSHAKE_FRAME_BYTES)
            .await?
            .ok_or_else(|| WireError::Protocol("closed before the handshake".into()))?;
        Ok::<_, WireError>((version, hello))
    };
    let (version, hello) = tokio::select! {
        result = tokio::time::timeout(shared.limits.handshake_timeout, handshake) => match result {
            Ok(Ok(pair)) => pair,
            Ok(Err(error)) => {
                bump(&shared.counters.refused_connections, 1);
                warn!(%remote, %error, "closing peer connection: bad handshake");
                return;
            }
            Err(_) => {
                bump(&shared.counters.refused_connections, 1);
                warn!(%remote, "closing peer connection: handshake timed out");
                return;
            }
        },
        _ = shared.cancel.cancelled() => return,
    };
    if hello.is_membership_query() {
        answer_membership_query(shared, stream, remote).await;
        return;
    }
    let sender_hex = format!("{:016x}", hello.from);
    let peer = {
        let mut membership = shared.membership.write().expect("membership lock");
        if over_limit {
            Err((RefusalReason::TooManyConnections, None))
        } else if version != wire::PROTOCOL_VERSION {
            Err((RefusalReason::VersionMismatch { receiver_version: wire::PROTOCOL_VERSION }, None))
        } else if hello.cluster_id != shared.cluster_id {
            Err((RefusalReason::ClusterIdMismatch { receiver_cluster_id: shared.cluster_id }, None))
        } else if hello.to != shared.member_id {
            Err((RefusalReason::WrongReceiver { receiver_id: shared.member_id }, None))
        } else if hello.from == 0 || hello.from == shared.member_id {
            // Never a member: zero is no ID, and our own ID would make us our own remote.
            Err((RefusalReason::UnknownSender, Some("invalid sender ID".to_string())))
        } else if membership.removed.contains(&hello.from) {
            Err((RefusalReason::RemovedMember, None))
        } else if let Some(peer) = membership.peers.get(&hello.from) {
            Ok(peer.clone())
        } else {
            // Same cluster, not removed, not in our membership: a member added while we were not
            // following (etcd's AddRemote). Take it on so we can answer it.
            shared
                .add_remote(&mut membership, &hello)
                .map_err(|detail| (RefusalReason::UnknownSender, Some(detail)))
        }
    };
    let peer = match peer {
        Ok(peer) => peer,
        Err((reason, detail)) => {
            bump(&shared.counters.refused_connections, 1);
            warn!(
                %remote,
                sender = %sender_hex,
                sender_cluster_id = %format_args!("{:016x}", hello.cluster_id),
                %reason,
                detail = detail.as_deref().unwrap_or(""),
                "refusing peer connection"
            );
            let mut out = Vec::new();
            if wire::encode_frame(&HelloAnswer::Refused(reason), wire::MAX_HANDSHAKE_FRAME_BYTES, &mut out)
                .is_ok()
            {
                let _ = tokio::time::timeout(shared.limits.handshake_timeout, stream.write_all(&out)).await;
            }
            return;
        }
    };
    // One inbound stream per peer: a redial (the peer restarted, or saw its old stream break first)
    // replaces the previous stream, which may be half-open.
    let stream_cancel = peer.cancel.child_token();
    let stream_id = shared.next_stream_id.fetch_add(1, Ordering::Relaxed);
    let previous =
        peer.inbound_stream.lock().expect("inbound lock").replace((stream_id, stream_cancel.clone()));
    if let Some((_, previous)) = previous
        && !previous.is_cancelled()
    {
        // Normal after the peer restarted or saw its side break first; if it repeats constantly,
        // two processes are running with the same member ID.
        info!(%remote, sender = %sender_hex, "peer opened a new stream, closing its previous one");
        previous.cancel();
    }
    let mut out = Vec::new();
    wire::encode_frame(&HelloAnswer::Accepted, wire::MAX_HANDSHAKE_FRAME_BYTES, &mut out)
        .expect("tiny frame");
    if let Err(error) = stream.write_all(&out).await {
        debug!(%remote, sender = %sender_hex, %error, "peer stream closed during the handshake");
        return;
    }
    debug!(%remote, sender = %sender_hex, "accepted peer stream");

    let mut assembler = SnapshotAssembler::new(shared.limits.max_snapshot_bytes);
    let mut reader = tokio::io::BufReader::with_capacity(64 << 10, stream);
    let mut scratch = Vec::new();
    let end: Result<(), WireError> = loop {
        let frame: Frame = tokio::select! {
            frame = read_frame_sized(&mut reader, shared.limits.max_frame_bytes, &mut scratch) => match frame {
                Ok(Some((frame, size))) => {
                    bump(&shared.counters.received_bytes, size as u64);
                    frame
                }
                Ok(None) => break Ok(()),
                Err(error) => break Err(error),
            },
            _ = stream_cancel.cancelled() => break Ok(()),
        };
        let delivered = match frame {
            Frame::Message(message) => Ok(Some(message)),
            Frame::SnapshotBegin { from, to, term, meta, total_bytes } => {
                assembler.begin(from, to, term, meta, total_bytes)
            }
            Frame::SnapshotChunk { offset, data } => assembler.chunk(offset, &data),
        };
        let message = match delivered {
            Ok(Some(message)) => message,
            Ok(None) => continue,
            Err(error) => break Err(error),
        };
        if message.from != hello.from || message.to != shared.member_id {
            break Err(WireError::Protocol(format!(
                "message from {:016x} to {:016x} on the stream from {sender_hex}",
                message.from, message.to
            )));
        }
        bump(&shared.counters.received_messages, 1);
        if matches!(message.body, MessageBody::InstallSnapshot { .. }) {
            // Worth a bounded wait: resending it costs the whole transfer again.
            match shared.inbound.send_timeout(message, shared.limits.snapshot_delivery_timeout).await {
                Ok(()) => {}
                Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                    bump(&shared.counters.dropped_inbound_full, 1);
                    warn!(%remote, sender = %sender_hex, "node did not take a received snapshot in time, dropped");
                }
                Err(mpsc::error::SendTimeoutError::Closed(_)) => break Ok(()),
            }
            continue;
        }
        match shared.inbound.try_send(message) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                // The node is behind; Raft resends, so dropping beats stalling the socket.
                bump(&shared.counters.dropped_inbound_full, 1);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => break Ok(()),
        }
    };
    {
        // Forget this stream's slot unless a newer stream already took it.
        let mut current = peer.inbound_stream.lock().expect("inbound lock");
        if current.as_ref().is_some_and(|(id, _)| *id == stream_id) {
            *current = None;
        }
    }
    match end {
        Ok(()) => debug!(%remote, sender = %sender_hex, "peer stream ended"),
        Err(error) => {
            bump(&shared.counters.broken_connections, 1);
            warn!(%remote, sender = %sender_hex, %error, "closing peer stream");
        }
    }
}
