//! The sans-IO node: one member of a Concord cluster without sockets or a clock.
//!
//! It owns the Raft core, the v2 store, the WAL and the snapshot files (over the `Disk` trait), and the
//! bookkeeping of client requests waiting for their entry to be applied or their read to be confirmed.
//! The simulator and the production shell both drive it through the same four calls: `tick(now)`,
//! `receive(message)`, `submit(request_id, request, now)` and `process()`. Everything it does is a
//! function of those calls and of its disk, so a seed replays a whole cluster exactly.
//!
//! Durability rule: `process()` writes each Raft Ready to the WAL and fsyncs it before acknowledging
//! it to Raft (`on_persisted`) and before releasing the messages that depend on it (vote and append
//! answers). A client is answered only when its entry is applied, which Raft allows only once the
//! entry is committed (durable on a quorum) and durable locally.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use raft::{
    ConfChange, ConfChangeKind, Entry, EntryPayload, Index, Message, NodeId, ProposeError, Raft, ReadState,
    RestoreState, Role, Snapshot, SnapshotMeta, SoftState, Term,
};
use serde::{Deserialize, Serialize};
use store::{Command, Event, Store, StoreError, WatchNotice, WatchStart, WatcherId};

use crate::codec;
use crate::disk::{DirLock, Disk};
use crate::snap::{SnapError, Snapshotter};
use crate::wal::{Wal, WalError, WalOptions, WalSnapshot};

/// Version of the node's snapshot payload (`NodeSnapshotData`); bumped on any layout change.
const SNAPSHOT_DATA_VERSION: u32 = 3;
/// The cluster version this release speaks (etcd's `etcdcluster` in `/version`).
pub const CLUSTER_VERSION: &str = "3.4.0";
/// Bound of client requests waiting for an apply or a read confirmation. Beyond it new requests are
/// refused at once rather than queued without limit.
pub const MAX_PENDING_REQUESTS: usize = 64 * 1024;

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
    pub election_tick: u32,
    pub heartbeat_tick: u32,
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
            election_tick: 10,
            heartbeat_tick: 1,
            snapshot_count: 100_000,
            snapshot_catchup_entries: 5_000,
            request_timeout_ticks: 70,
            sync_interval_ticks: 5,
            data_dir,
            wal_dir: None,
            max_wals: 5,
            max_snapshots: 5,
            seed: id,
            incarnation: 0,
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }

    fn wal_dir(&self) -> PathBuf {
        self.wal_dir.clone().unwrap_or_else(|| self.data_dir.join("member").join("wal"))
    }

    fn snap_dir(&self) -> PathBuf {
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
}

#[cfg(feature = "planted-bugs")]
impl std::str::FromStr for PlantedBug {
    type Err = String;
    fn from_str(name: &str) -> Result<PlantedBug, String> {
        if name == "AckBeforeDurable" {
            return Ok(PlantedBug::AckBeforeDurable);
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

/// The WAL's metadata record: who this data dir belongs to and how the cluster began.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct WalMetadata {
    member_id: NodeId,
    cluster_id: u64,
    initial_members: Vec<Member>,
    join_existing: bool,
}

/// The member and cluster IDs recorded in an existing data dir's WAL, or `None` for a fresh data dir.
/// On a restart these win over anything the flags would derive (etcd ignores `--initial-*` then).
pub fn read_identity(disk: &dyn Disk, wal_dir: &std::path::Path) -> Result<Option<(NodeId, u64)>, NodeError> {
    if !Wal::exists(disk, wal_dir)? {
        return Ok(None);
    }
    let metadata: WalMetadata = codec::decode(&Wal::read_metadata(disk, wal_dir)?)
        .map_err(|error| NodeError::DataDir(format!("unreadable WAL metadata: {error}")))?;
    Ok(Some((metadata.member_id, metadata.cluster_id)))
}

/// A normal log entry's payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Proposal {
    /// The member that took the client request, with its incarnation and a sequence number: only
    /// that member answers, and only in the same run of its process.
    origin: NodeId,
    incarnation: u64,
    seq: u64,
    operation: Operation,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Operation {
    Store(Command),
    /// New peer URLs for an existing member.
    UpdateMember {
        id: NodeId,
        peer_urls: Vec<String>,
    },
    /// The cluster version, proposed once by a leader when every member has published (etcd's
    /// `/0/version`).
    ClusterVersion {
        version: String,
    },
    /// A member's name and client URLs.
    Publish {
        id: NodeId,
        name: String,
        client_urls: Vec<String>,
    },
}

/// The payload of a node snapshot: the store's own snapshot plus the membership.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct NodeSnapshotData {
    version: u32,
    members: BTreeMap<NodeId, Member>,
    removed: BTreeSet<NodeId>,
    applied_requests: BTreeMap<NodeId, (u64, u64)>,
    cluster_version: Option<String>,
    store: Vec<u8>,
}

/// What a pending request waits for.
#[derive(Clone, Debug)]
enum Waiting {
    /// The proposal with this sequence number to be applied.
    Apply,
    /// A ReadIndex confirmation, then the apply of the read index.
    Read { key: String, recursive: bool, sorted: bool },
}

#[derive(Clone, Debug)]
struct Pending {
    request_id: u64,
    deadline_tick: u64,
    waiting: Waiting,
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
}

pub struct Node {
    config: NodeConfig,
    raft: Raft,
    store: Store,
    wal: Wal,
    snapshotter: Snapshotter,
    _lock: DirLock,
    members: BTreeMap<NodeId, Member>,
    removed: BTreeSet<NodeId>,
    /// The newest (incarnation, seq) applied from each member: replicated state (it is in snapshots),
    /// so every member skips the same duplicates.
    applied_requests: BTreeMap<NodeId, (u64, u64)>,
    /// The cluster version once a leader has recorded it (replicated, in snapshots).
    cluster_version: Option<String>,
    /// The term and vote last written to the WAL, to tell a hard state that must be fsynced from one
    /// that only moves the commit index.
    durable_term_vote: (Term, Option<NodeId>),
    /// Whether a read index confirmed by the leader has been applied since this process started; until
    /// then plain reads are served as quorum reads.
    read_barrier_passed: bool,
    /// Virtual ticks since the node started; request deadlines are counted in them.
    ticks: u64,
    ticks_since_sync: u64,
    /// The latest wall-clock time the shell gave, in Unix nanoseconds.
    now: i64,
    next_seq: u64,
    /// Writes and quorum reads waiting, by proposal sequence number / read context.
    pending: BTreeMap<u64, Pending>,
    /// Confirmed quorum reads waiting for the apply of their read index.
    reads_to_serve: Vec<(Index, Pending)>,
    /// Registered watchers: the request each answers and whether it streams (else one event ends it).
    watch_requests: BTreeMap<WatcherId, (u64, bool)>,
    watchers_by_request: BTreeMap<u64, WatcherId>,
    /// Answers produced outside `process()` (immediate reads, timeouts) waiting to be returned.
    answers: Vec<Answer>,
    soft_state: SoftState,
    snapshot_index: Index,
    removed_self: bool,
    /// Bumped whenever `members` or `removed` change, so the shell refreshes its peer table and the
    /// membership it tells joiners without comparing the whole map on every turn.
    membership_version: u64,
    failure: Option<String>,
    /// Output produced inside `open` (replaying committed entries), returned by the first `process()`.
    carried: Output,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.config.id)
            .field("term", &self.raft.term())
            .field("role", &self.raft.role())
            .field("commit", &self.raft.commit_index())
            .finish()
    }
}

impl Node {
    /// Bootstraps a new member, or recovers one from its data dir: the newest snapshot the WAL
    /// recorded, then the WAL after it.
    pub fn open(config: NodeConfig, disk: Arc<dyn Disk>) -> Result<Node, NodeError> {
        let wal_dir = config.wal_dir();
        let snap_dir = config.snap_dir();
        disk.create_dir_all(&config.data_dir).map_err(|error| {
            NodeError::DataDir(format!("cannot create {}: {error}", config.data_dir.display()))
        })?;
        crate::disk::check_writable(&*disk, &config.data_dir).map_err(|error| {
            NodeError::DataDir(format!("{} is not writable: {error}", config.data_dir.display()))
        })?;
        let lock = disk.lock(&config.data_dir).map_err(|error| {
            NodeError::DataDir(format!(
                "cannot lock {} (another process uses it?): {error}",
                config.data_dir.display()
            ))
        })?;
        let wal_options = WalOptions { max_wals: config.max_wals, ..WalOptions::default() };
        let snapshotter = Snapshotter::new(disk.clone(), &snap_dir, config.max_snapshots)?;

        let (wal, metadata, restore) = if Wal::exists(&*disk, &wal_dir)? {
            let markers = Wal::snapshot_markers(&*disk, &wal_dir)?;
            let snapshot = snapshotter.load_newest_of(&markers)?;
            let at = snapshot
                .as_ref()
                .map_or(WalSnapshot::default(), |s| WalSnapshot { index: s.meta.index, term: s.meta.term });
            let (wal, recovered) = Wal::open(disk.clone(), &wal_dir, at, wal_options)?;
            for warning in &recovered.warnings {
                tracing::warn!(member = %format!("{:x}", config.id), "{warning}");
            }
            let metadata: WalMetadata = codec::decode(&recovered.metadata)
                .map_err(|error| NodeError::DataDir(format!("unreadable WAL metadata: {error}")))?;
            if metadata.member_id != config.id || metadata.cluster_id != config.cluster_id {
                return Err(NodeError::DataDir(format!(
                    "data dir belongs to member {:x} of cluster {:x}, not member {:x} of cluster {:x}",
                    metadata.member_id, metadata.cluster_id, config.id, config.cluster_id
                )));
            }
            let mut restore = RestoreState {
                hard_state: recovered.hard_state,
                applied: snapshot.as_ref().map_or(0, |s| s.meta.index),
                snapshot,
                entries: recovered.entries,
                initial_conf: initial_conf(&metadata),
            };
            adopt_the_logs_term(&mut restore, config.id);
            let mut wal = wal;
            if config.force_new_cluster {
                force_new_cluster(&mut wal, &mut restore, config.id)?;
            }
            (wal, metadata, restore)
        } else {
            let metadata = WalMetadata {
                member_id: config.id,
                cluster_id: config.cluster_id,
                // For a joiner: the running cluster's members as a peer told them, so it can answer
                // the leader at once; its Raft configuration still starts empty (`initial_conf`).
                initial_members: config.initial_members.clone(),
                join_existing: config.join_existing,
            };
            let wal = Wal::create(disk.clone(), &wal_dir, &codec::encode(&metadata), wal_options)?;
            // Raft writes the initial membership into the log itself (one change per member at term 1).
            let restore = RestoreState { initial_conf: initial_conf(&metadata), ..RestoreState::default() };
            (wal, metadata, restore)
        };

        let mut members: BTreeMap<NodeId, Member> =
            metadata.initial_members.iter().map(|member| (member.id, member.clone())).collect();
        let mut removed = BTreeSet::new();
        let mut applied_requests = BTreeMap::new();
        let mut cluster_version = None;
        let mut store = Store::new();
        let snapshot_index = restore.snapshot.as_ref().map_or(0, |s| s.meta.index);
        if let Some(snapshot) = &restore.snapshot {
            let data = decode_snapshot_data(&snapshot.data)?;
            store =
                Store::restore(&data.store).map_err(|error| NodeError::SnapshotData(error.to_string()))?;
            members = data.members;
            removed = data.removed;
            applied_requests = data.applied_requests;
            cluster_version = data.cluster_version;
        }

        let mut raft_config = raft::Config::new(config.id, config.seed);
        raft_config.election_tick = config.election_tick;
        raft_config.heartbeat_tick = config.heartbeat_tick;
        #[cfg(feature = "planted-bugs")]
        if let Some(PlantedBug::Raft(bug)) = config.planted_bug {
            raft_config.planted_bug = Some(bug);
        }
        let raft = Raft::new(raft_config, restore).map_err(NodeError::Start)?;
        let soft_state = raft.soft_state();
        let hard_state = raft.hard_state();
        let next_seq = 1;
        let mut node = Node {
            config,
            raft,
            store,
            wal,
            snapshotter,
            _lock: lock,
            members,
            removed,
            applied_requests,
            cluster_version,
            durable_term_vote: (hard_state.term, hard_state.vote),
            read_barrier_passed: false,
            ticks: 0,
            ticks_since_sync: 0,
            now: 0,
            next_seq,
            pending: BTreeMap::new(),
            reads_to_serve: Vec::new(),
            watch_requests: BTreeMap::new(),
            watchers_by_request: BTreeMap::new(),
            answers: Vec::new(),
            soft_state,
            snapshot_index,
            removed_self: false,
            membership_version: 0,
            failure: None,
            carried: Output::default(),
        };
        // Apply what the WAL says is committed before serving anyone, so a restarted member never
        // answers a read with less than it had acknowledged before the restart.
        node.carried = node.process_ready(None)?;
        Ok(node)
    }

    pub fn id(&self) -> NodeId {
        self.config.id
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn applied_index(&self) -> Index {
        self.raft.applied_index()
    }

    pub fn members(&self) -> &BTreeMap<NodeId, Member> {
        &self.members
    }

    pub fn is_removed(&self, id: NodeId) -> bool {
        self.removed.contains(&id)
    }

    /// Changes whenever the membership (members, their URLs and names, removed IDs) changes.
    pub fn membership_version(&self) -> u64 {
        self.membership_version
    }

    /// Every member ever removed from the cluster (their IDs never come back).
    pub fn removed_members(&self) -> &BTreeSet<NodeId> {
        &self.removed
    }

    /// Client requests waiting for an apply or a read confirmation.
    pub fn pending_requests(&self) -> usize {
        self.pending.len() + self.reads_to_serve.len()
    }

    pub fn status(&self) -> NodeStatus {
        NodeStatus {
            id: self.config.id,
            cluster_id: self.config.cluster_id,
            leader: self.raft.leader(),
            role: Some(self.raft.role()),
            term: self.raft.term(),
            commit_index: self.raft.commit_index(),
            applied_index: self.raft.applied_index(),
            last_index: self.raft.last_index(),
            store_index: self.store.current_index(),
            members: self.members.values().cloned().collect(),
        }
    }

    /// One Raft tick at wall-clock time `now` (Unix nanoseconds). The leader proposes a TTL sync every
    /// `sync_interval_ticks`; requests past their deadline fail with a timeout.
    pub fn tick(&mut self, now: i64) {
        if self.failure.is_some() {
            return;
        }
        self.now = self.now.max(now);
        self.ticks += 1;
        self.raft.tick();
        if self.raft.role() == Role::Leader {
            self.ticks_since_sync += 1;
            if self.ticks_since_sync >= self.config.sync_interval_ticks {
                self.ticks_since_sync = 0;
                // Lost or refused syncs are harmless: the next interval proposes another.
                let _ = self.propose(Operation::Store(Command::Sync { now: self.now }));
            }
        } else {
            self.ticks_since_sync = 0;
        }
        self.expire_requests();
        self.promote_caught_up_learners();
        self.record_cluster_version();
    }

    /// Once every member has published, the leader records the cluster version (etcd does this for
    /// `/0/version`); applying it again is a no-op, so a repeat by a later leader is harmless.
    fn record_cluster_version(&mut self) {
        if self.raft.role() != Role::Leader
            || self.cluster_version.is_some()
            || self.members.is_empty()
            || self.members.values().any(|member| member.client_urls.is_empty())
            || !self.ticks.is_multiple_of(self.config.sync_interval_ticks.max(1))
        {
            return;
        }
        let _ = self.propose(Operation::ClusterVersion { version: CLUSTER_VERSION.to_string() });
    }

    /// The leader turns a learner that was added as a voter into a voter once its log has caught up
    /// with the commit index; one change at a time, like every configuration change.
    fn promote_caught_up_learners(&mut self) {
        if self.raft.role() != Role::Leader || self.raft.pending_conf_change() {
            return;
        }
        // etcd's readiness rule for promoting a learner: its log holds at least 90% of the leader's
        // committed log. Waiting for an exact match could wait forever under steady writes (and the
        // leader's own TTL syncs), and every moment as a learner is a moment the cluster counts one
        // voter fewer than the operator asked for.
        let commit = self.raft.commit_index();
        let caught_up = commit - commit / 10;
        let ready = self.raft.conf_state().learners.iter().copied().find(|id| {
            self.members.get(id).is_some_and(|member| member.promote_when_caught_up)
                && self.raft.progress(*id).is_some_and(|progress| progress.match_index >= caught_up)
        });
        if let Some(id) = ready {
            let change = ConfChange {
                changes: vec![raft::ConfChangeSingle { kind: ConfChangeKind::AddVoter, node_id: id }],
                ..ConfChange::default()
            };
            match self.raft.propose_conf_change(change) {
                Ok(()) => tracing::info!(member = %format!("{id:x}"), "promoting caught-up learner to voter"),
                Err(error) => tracing::debug!(member = %format!("{id:x}"), "promotion deferred: {error}"),
            }
        }
    }

    /// A message from a peer. Messages from removed members are dropped here.
    pub fn receive(&mut self, message: Message) {
        if self.failure.is_some() || message.to != self.config.id || self.removed.contains(&message.from) {
            return;
        }
        self.raft.step(message);
    }

    pub fn report_unreachable(&mut self, peer: NodeId) {
        self.raft.report_unreachable(peer);
    }

    pub fn report_snapshot(&mut self, peer: NodeId, success: bool) {
        self.raft.report_snapshot(peer, success);
    }

    /// Asks Raft to hand leadership to `to` (graceful shutdown, operators).
    pub fn transfer_leader(&mut self, to: NodeId) -> Result<(), ProposeError> {
        self.raft.transfer_leader(to)
    }

    /// A client request. Its answer comes out of a later `process()` with the same `request_id`.
    pub fn submit(&mut self, request_id: u64, request: ClientRequest, now: i64) {
        self.now = self.now.max(now);
        if self.failure.is_some() || self.removed_self {
            self.answer(request_id, Err(RequestError::Removed));
            return;
        }
        match request {
            ClientRequest::Write(command) => self.submit_proposal(request_id, Operation::Store(command)),
            ClientRequest::Get { key, recursive, sorted, quorum: false } if self.read_barrier_passed => {
                let result = self.store.get(&key, recursive, sorted, self.now);
                self.answer(request_id, result.map(Reply::Event).map_err(RequestError::Store));
            }
            // Until one linearizable read has been served since the process started, plain reads go
            // through ReadIndex too: the commit index is persisted lazily, so a restarted member may
            // have replayed less than it had applied (and acknowledged) before the crash; a confirmed
            // read index brings it back past everything it ever acknowledged.
            ClientRequest::Get { key, recursive, sorted, quorum: _ } => {
                if self.pending.len() >= MAX_PENDING_REQUESTS {
                    self.answer(request_id, Err(RequestError::Refused("too many pending requests".into())));
                    return;
                }
                let context = self.next_context();
                match self.raft.read_index(context) {
                    Ok(()) => {
                        let deadline_tick = self.ticks + self.config.request_timeout_ticks;
                        let waiting = Waiting::Read { key, recursive, sorted };
                        self.pending.insert(context, Pending { request_id, deadline_tick, waiting });
                    }
                    Err(error) => self.answer(request_id, Err(propose_error(error))),
                }
            }
            ClientRequest::Watch { key, recursive, stream, wait_index } => {
                match self.store.watch(&key, recursive, stream, wait_index) {
                    Ok(WatchStart::Event(event)) => self.answer(request_id, Ok(Reply::Event(event))),
                    Ok(WatchStart::Registered { watcher, start_index }) => {
                        self.watch_requests.insert(watcher, (request_id, stream));
                        self.watchers_by_request.insert(request_id, watcher);
                        self.answer(request_id, Ok(Reply::WatchStarted { start_index }));
                    }
                    Err(error) => self.answer(request_id, Err(RequestError::Store(error))),
                }
            }
            ClientRequest::CancelWatch { watch_request_id } => {
                if let Some(watcher) = self.watchers_by_request.remove(&watch_request_id) {
                    self.watch_requests.remove(&watcher);
                    self.store.cancel_watch(watcher);
                }
            }
            ClientRequest::AddMember { member } => self.submit_member_add(request_id, member),
            ClientRequest::RemoveMember { id } => {
                if self.removed.contains(&id) {
                    self.answer(request_id, Err(RequestError::MemberRemoved(id)));
                } else if !self.members.contains_key(&id) {
                    self.answer(request_id, Err(RequestError::MemberNotFound(id)));
                } else if let Some(waiting) = self.started_learner_awaiting_promotion(id) {
                    // The operator counts a member added as a voter as a voter (etcd adds it as one),
                    // but it votes only once the leader promotes it. A voter's removal that overtook
                    // that promotion would leave fewer live voters than the operator counted: with
                    // {m1 down, m3, m4} and m5 waiting, removing m3 gave {m1, m4}, which can never
                    // elect again (issue 7). So the removal waits (500, retried) until the started
                    // learner, which the leader promotes within a tick or so, is a voter.
                    let why = format!(
                        "member {waiting:x} was added as a voter and awaits its promotion; retry the removal \
                         once it is promoted"
                    );
                    self.answer(request_id, Err(RequestError::Refused(why)));
                } else {
                    let change = ConfChange {
                        changes: vec![raft::ConfChangeSingle {
                            kind: ConfChangeKind::RemoveNode,
                            node_id: id,
                        }],
                        ..ConfChange::default()
                    };
                    self.submit_conf_change(request_id, change, None);
                }
            }
            ClientRequest::UpdateMember { id, peer_urls } => {
                if self.removed.contains(&id) {
                    self.answer(request_id, Err(RequestError::MemberRemoved(id)));
                } else if !self.members.contains_key(&id) {
                    self.answer(request_id, Err(RequestError::MemberNotFound(id)));
                } else if self.peer_url_taken(&peer_urls, Some(id)) {
                    self.answer(request_id, Err(RequestError::PeerUrlExists));
                } else {
                    self.submit_proposal(request_id, Operation::UpdateMember { id, peer_urls });
                }
            }
            ClientRequest::Publish { name, client_urls } => {
                let id = self.config.id;
                // A member added as a voter publishes itself ("started", in etcd's words) only once it
                // votes. It joins as a learner and the leader promotes it when it has caught up; until
                // then operators and the strict reconfiguration check must not count it as a running
                // voter (killing two of five right after the fifth reports healthy must leave a
                // quorum, as with etcd, which adds voters directly). The shell retries.
                let explicit_learner = self
                    .members
                    .get(&id)
                    .is_some_and(|member| member.is_learner && !member.promote_when_caught_up);
                if !self.raft.conf_state().is_voter(id) && !explicit_learner {
                    let why = "not a voter yet: a member publishes itself once the leader promoted it";
                    self.answer(request_id, Err(RequestError::Refused(why.to_string())));
                    return;
                }
                self.submit_proposal(request_id, Operation::Publish { id, name, client_urls });
            }
        }
    }

    /// Drives Raft until it has nothing more to say: persists each Ready (one WAL write and one fsync),
    /// applies committed entries, serves confirmed reads, takes snapshots, and returns what to send and
    /// whom to answer. An error means the disk failed or data is damaged: the node stops.
    pub fn process(&mut self) -> Result<Output, NodeError> {
        self.process_sending_early(None)
    }

    /// As `process`, but the messages that need no local durability (the leader's appends and
    /// heartbeats) are handed to `send_now` as soon as each Ready is taken, before its WAL fsync, so the
    /// followers write their disks while the leader writes its own (Raft thesis §10.2.1). Everything else
    /// comes back in the `Output` as with `process`.
    pub fn process_with(&mut self, send_now: &mut dyn FnMut(Message)) -> Result<Output, NodeError> {
        self.process_sending_early(Some(send_now))
    }

    fn process_sending_early(
        &mut self,
        send_now: Option<&mut dyn FnMut(Message)>,
    ) -> Result<Output, NodeError> {
        if let Some(failure) = &self.failure {
            return Err(NodeError::Failed(failure.clone()));
        }
        match self.process_ready(send_now) {
            Ok(output) => Ok(output),
            Err(error) => {
                self.failure = Some(error.to_string());
                Err(error)
            }
        }
    }

    fn process_ready(&mut self, mut send_now: Option<&mut dyn FnMut(Message)>) -> Result<Output, NodeError> {
        let mut output = std::mem::take(&mut self.carried);
        while self.raft.has_ready() {
            let ready = self.raft.ready();
            let persisted_point = ready.persisted_point();
            if let Some(soft_state) = ready.soft_state {
                self.soft_state = soft_state;
                output.soft_state = Some(soft_state);
            }
            // Leader appends and heartbeats may leave before the local fsync (Raft thesis §10.2.1).
            match send_now.as_mut() {
                Some(send_now) => ready.messages.into_iter().for_each(send_now),
                None => output.messages.extend(ready.messages),
            }
            if let Some(snapshot) = &ready.snapshot {
                self.install_snapshot(snapshot)?;
            }
            if ready.hard_state.is_some() || !ready.entries.is_empty() {
                self.wal.save(ready.hard_state.as_ref(), &ready.entries)?;
                // etcd's MustSync: new entries, a new term or a new vote must be durable before anyone
                // hears of them. A commit index alone is a hint a crash may lose (the leader tells it
                // again), so it rides along with the next fsync instead of costing one of its own:
                // this halves the fsyncs of every write.
                let term_vote = ready.hard_state.map(|state| (state.term, state.vote));
                let must_sync = !ready.entries.is_empty()
                    || term_vote.is_some_and(|term_vote| term_vote != self.durable_term_vote);
                if must_sync && self.sync_before_ack() {
                    self.wal.sync()?;
                }
                if let Some(term_vote) = term_vote {
                    self.durable_term_vote = term_vote;
                }
            }
            if let Some((index, term)) = persisted_point {
                self.raft.on_persisted(index, term);
            }
            output.messages.extend(ready.messages_after_persist);
            for entry in ready.committed_entries {
                self.apply(entry);
            }
            for read_state in ready.read_states {
                self.on_read_state(read_state);
            }
            self.serve_confirmed_reads();
            self.maybe_snapshot()?;
        }
        self.route_watch_events();
        output.answers = std::mem::take(&mut self.answers);
        output.removed = self.removed_self;
        Ok(output)
    }

    #[cfg(feature = "planted-bugs")]
    fn sync_before_ack(&self) -> bool {
        self.config.planted_bug != Some(PlantedBug::AckBeforeDurable)
    }

    #[cfg(not(feature = "planted-bugs"))]
    fn sync_before_ack(&self) -> bool {
        true
    }

    fn submit_proposal(&mut self, request_id: u64, operation: Operation) {
        if self.pending.len() >= MAX_PENDING_REQUESTS {
            self.answer(request_id, Err(RequestError::Refused("too many pending requests".into())));
            return;
        }
        match self.propose(operation) {
            Ok(seq) => {
                let deadline_tick = self.ticks + self.config.request_timeout_ticks;
                self.pending.insert(seq, Pending { request_id, deadline_tick, waiting: Waiting::Apply });
            }
            Err(error) => self.answer(request_id, Err(propose_error(error))),
        }
    }

    fn submit_member_add(&mut self, request_id: u64, member: Member) {
        if self.removed.contains(&member.id) {
            self.answer(request_id, Err(RequestError::MemberRemoved(member.id)));
            return;
        }
        if self.members.contains_key(&member.id) || self.peer_url_taken(&member.peer_urls, None) {
            self.answer(request_id, Err(RequestError::PeerUrlExists));
            return;
        }
        let mut member = member;
        member.promote_when_caught_up = !member.is_learner;
        member.is_learner = true;
        let change = ConfChange {
            changes: vec![raft::ConfChangeSingle { kind: ConfChangeKind::AddLearner, node_id: member.id }],
            ..ConfChange::default()
        };
        self.submit_conf_change(request_id, change, Some(member));
    }

    /// Conf changes carry the request identity beside the member record, so that the member that took
    /// the request can answer it when the change is applied.
    fn submit_conf_change(&mut self, request_id: u64, mut change: ConfChange, member: Option<Member>) {
        let seq = self.next_sequence();
        let tag = ConfTag { origin: self.config.id, incarnation: self.config.incarnation, seq };
        change.context = Bytes::from(codec::encode(&ConfContext { tag, member }));
        match self.raft.propose_conf_change(change) {
            Ok(()) => {
                let deadline_tick = self.ticks + self.config.request_timeout_ticks;
                self.pending.insert(seq, Pending { request_id, deadline_tick, waiting: Waiting::Apply });
            }
            Err(error) => self.answer(request_id, Err(propose_error(error))),
        }
    }

    /// A member other than `removing` that was added as a voter, has started (published its client
    /// URLs, so it has the log up to its publish) and still waits as a learner for the leader to
    /// promote it, if `removing` is a voter. Members added but never started do not hold removals
    /// up: they may never come.
    fn started_learner_awaiting_promotion(&self, removing: NodeId) -> Option<NodeId> {
        if self.members.get(&removing).is_none_or(|member| member.is_learner) {
            return None;
        }
        self.members
            .values()
            .find(|member| {
                member.id != removing
                    && member.is_learner
                    && member.promote_when_caught_up
                    && !member.client_urls.is_empty()
            })
            .map(|member| member.id)
    }

    fn peer_url_taken(&self, peer_urls: &[String], except: Option<NodeId>) -> bool {
        self.members
            .values()
            .filter(|member| Some(member.id) != except)
            .any(|member| member.peer_urls.iter().any(|url| peer_urls.contains(url)))
    }

    fn propose(&mut self, operation: Operation) -> Result<u64, ProposeError> {
        let seq = self.next_sequence();
        let proposal =
            Proposal { origin: self.config.id, incarnation: self.config.incarnation, seq, operation };
        self.raft.propose(Bytes::from(codec::encode(&proposal)))?;
        Ok(seq)
    }

    fn next_sequence(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// A ReadIndex context unique across restarts of this member: a stale confirmation from before a
    /// restart must never be taken for a new read's (it could carry an older index).
    fn next_context(&mut self) -> u64 {
        let seq = self.next_sequence();
        (self.config.incarnation << 32) ^ seq
    }

    fn answer(&mut self, request_id: u64, result: Result<Reply, RequestError>) {
        self.answers.push(Answer {
            request_id,
            result,
            raft_index: self.raft.commit_index(),
            raft_term: self.raft.term(),
        });
    }

    fn expire_requests(&mut self) {
        let ticks = self.ticks;
        let expired: Vec<u64> =
            self.pending.iter().filter(|(_, p)| p.deadline_tick <= ticks).map(|(seq, _)| *seq).collect();
        for seq in expired {
            if let Some(pending) = self.pending.remove(&seq) {
                self.answer(pending.request_id, Err(RequestError::Timeout));
            }
        }
        let (expired, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.reads_to_serve).into_iter().partition(|(_, p)| p.deadline_tick <= ticks);
        self.reads_to_serve = kept;
        for (_, pending) in expired {
            self.answer(pending.request_id, Err(RequestError::Timeout));
        }
    }

    fn apply(&mut self, entry: Entry) {
        match entry.payload {
            EntryPayload::Empty => {}
            EntryPayload::Normal(data) => match codec::decode::<Proposal>(&data) {
                Ok(proposal) => self.apply_proposal(proposal),
                // Every member applies the same log, so every member skips this entry alike.
                Err(error) => tracing::error!(index = entry.index, "skipping undecodable entry: {error}"),
            },
            EntryPayload::ConfChange(change) => self.apply_conf_change(&change),
        }
    }

    fn apply_proposal(&mut self, proposal: Proposal) {
        // Exactly once: a proposal that reaches the log twice (a forward duplicated by the network) is
        // applied only the first time. Each member proposes in (incarnation, seq) order, so anything not
        // newer than the last applied from that member is a duplicate (or a forward overtaken by a later
        // one, whose client then times out: an unacknowledged write may not happen, never twice).
        let request = (proposal.incarnation, proposal.seq);
        let last = self.applied_requests.entry(proposal.origin).or_insert((0, 0));
        if request <= *last {
            return;
        }
        *last = request;
        let result = match proposal.operation {
            Operation::Store(command) => {
                self.store.apply(&command).map(Reply::Event).map_err(RequestError::Store)
            }
            Operation::UpdateMember { id, peer_urls } => match self.members.get_mut(&id) {
                Some(member) => {
                    member.peer_urls = peer_urls;
                    self.membership_version += 1;
                    self.store.apply_internal(&format!("/0/members/{id:x}/raftAttributes"));
                    Ok(Reply::MemberChanged)
                }
                None => Err(RequestError::MemberNotFound(id)),
            },
            Operation::Publish { id, name, client_urls } => match self.members.get_mut(&id) {
                Some(member) => {
                    member.name = name;
                    member.client_urls = client_urls;
                    self.membership_version += 1;
                    self.store.apply_internal(&format!("/0/members/{id:x}/attributes"));
                    Ok(Reply::MemberChanged)
                }
                None => Err(RequestError::MemberNotFound(id)),
            },
            Operation::ClusterVersion { version } => {
                if self.cluster_version.is_none() {
                    self.store.apply_internal("/0/version");
                    self.cluster_version = Some(version);
                }
                Ok(Reply::MemberChanged)
            }
        };
        self.answer_own(proposal.origin, proposal.incarnation, proposal.seq, result);
    }

    fn answer_own(
        &mut self,
        origin: NodeId,
        incarnation: u64,
        seq: u64,
        result: Result<Reply, RequestError>,
    ) {
        if origin != self.config.id || incarnation != self.config.incarnation {
            return;
        }
        if let Some(pending) = self.pending.remove(&seq) {
            self.answer(pending.request_id, result);
        }
    }

    fn apply_conf_change(&mut self, change: &ConfChange) {
        self.membership_version += 1;
        let (tag, member) = match codec::decode::<ConfContext>(&change.context) {
            Ok(context) => (Some(context.tag), context.member),
            Err(_) => (None, None),
        };
        for single in &change.changes {
            match single.kind {
                ConfChangeKind::AddVoter | ConfChangeKind::AddLearner => {
                    let is_learner = single.kind == ConfChangeKind::AddLearner;
                    let promotion = single.kind == ConfChangeKind::AddVoter
                        && self.members.get(&single.node_id).is_some_and(|member| member.is_learner);
                    if !promotion {
                        // etcd records each added member's raft attributes under /0 (the initial
                        // members' too, from the bootstrap entries). Promoting a learner that was
                        // added as a voter is no second write: etcd's v2 members API has no learners.
                        self.store.apply_internal(&format!("/0/members/{:x}/raftAttributes", single.node_id));
                    }
                    let entry = self.members.entry(single.node_id).or_insert_with(|| Member {
                        id: single.node_id,
                        ..member.clone().filter(|m| m.id == single.node_id).unwrap_or_default()
                    });
                    entry.id = single.node_id;
                    entry.is_learner = is_learner;
                    if !promotion && let Some(record) = member.as_ref().filter(|m| m.id == single.node_id) {
                        // The entry's record wins over what a joining member was told at start
                        // (the membership query does not carry "promote once caught up"): a member
                        // that joined while this learner waited may lead later and must promote it.
                        entry.promote_when_caught_up = record.promote_when_caught_up;
                    }
                    if !is_learner {
                        entry.promote_when_caught_up = false;
                    }
                }
                ConfChangeKind::RemoveNode => {
                    if self.members.contains_key(&single.node_id) {
                        // etcd deletes /0/members/<id> and records /0/removed_members/<id>.
                        self.store.apply_internal(&format!("/0/members/{:x}", single.node_id));
                        self.store.apply_internal(&format!("/0/removed_members/{:x}", single.node_id));
                    }
                    self.members.remove(&single.node_id);
                    self.removed.insert(single.node_id);
                    if single.node_id == self.config.id {
                        self.removed_self = true;
                    }
                }
            }
        }
        if let Some(tag) = tag {
            self.answer_own(tag.origin, tag.incarnation, tag.seq, Ok(Reply::MemberChanged));
        }
    }

    fn on_read_state(&mut self, read_state: ReadState) {
        if let Some(pending) = self.pending.remove(&read_state.context) {
            self.reads_to_serve.push((read_state.index, pending));
        }
    }

    fn serve_confirmed_reads(&mut self) {
        if self.reads_to_serve.is_empty() {
            return;
        }
        let applied = self.raft.applied_index();
        let (ready, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.reads_to_serve).into_iter().partition(|(index, _)| *index <= applied);
        self.reads_to_serve = waiting;
        for (_, pending) in ready {
            self.read_barrier_passed = true;
            if let Waiting::Read { key, recursive, sorted } = &pending.waiting {
                let result = self.store.get(key, *recursive, *sorted, self.now);
                self.answer(pending.request_id, result.map(Reply::Event).map_err(RequestError::Store));
            }
        }
    }

    fn route_watch_events(&mut self) {
        for notice in self.store.take_watch_events() {
            match notice {
                WatchNotice::Event { watcher, event } => {
                    let Some(&(request_id, stream)) = self.watch_requests.get(&watcher) else { continue };
                    self.answer(request_id, Ok(Reply::WatchEvent(event)));
                    if !stream {
                        // The store already dropped a one-shot watcher with its event.
                        self.forget_watch(watcher);
                    }
                }
                WatchNotice::Closed { watcher } => {
                    if let Some(&(request_id, _)) = self.watch_requests.get(&watcher) {
                        self.answer(request_id, Ok(Reply::WatchClosed));
                    }
                    self.forget_watch(watcher);
                }
            }
        }
    }

    fn forget_watch(&mut self, watcher: WatcherId) {
        if let Some((request_id, _)) = self.watch_requests.remove(&watcher) {
            self.watchers_by_request.remove(&request_id);
        }
    }

    /// Writes a snapshot file and compacts the log once `snapshot_count` entries were applied since
    /// the last one.
    fn maybe_snapshot(&mut self) -> Result<(), NodeError> {
        let applied = self.raft.applied_index();
        if applied < self.snapshot_index + self.config.snapshot_count.max(1) {
            return Ok(());
        }
        let (Some(term), Some(conf_state)) = (self.raft.term_at(applied), self.raft.conf_state_at(applied))
        else {
            return Ok(());
        };
        let data = NodeSnapshotData {
            version: SNAPSHOT_DATA_VERSION,
            members: self.members.clone(),
            removed: self.removed.clone(),
            applied_requests: self.applied_requests.clone(),
            cluster_version: self.cluster_version.clone(),
            store: self.store.snapshot(),
        };
        let snapshot = Snapshot {
            meta: SnapshotMeta { index: applied, term, conf_state },
            data: Bytes::from(codec::encode(&data)),
        };
        self.snapshotter.save(&snapshot)?;
        self.wal.save_snapshot_marker(WalSnapshot { index: applied, term })?;
        self.wal.sync()?;
        self.snapshot_index = applied;
        let compact_to = applied.saturating_sub(self.config.snapshot_catchup_entries);
        self.raft.compact(snapshot, compact_to);
        self.wal.release_to(applied)?;
        tracing::info!(member = %format!("{:x}", self.config.id), index = applied, term, "saved snapshot");
        Ok(())
    }

    /// Persists a leader's snapshot (file, then the WAL marker that voids the older log) and restores
    /// the store and membership from it. Watchers of the replaced store end.
    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), NodeError> {
        let data = decode_snapshot_data(&snapshot.data)?;
        let store =
            Store::restore(&data.store).map_err(|error| NodeError::SnapshotData(error.to_string()))?;
        self.snapshotter.save(snapshot)?;
        self.wal.save_installed_snapshot_marker(WalSnapshot {
            index: snapshot.meta.index,
            term: snapshot.meta.term,
        })?;
        self.wal.sync()?;
        self.store = store;
        self.members = data.members;
        self.membership_version += 1;
        self.removed = data.removed;
        self.applied_requests = data.applied_requests;
        self.cluster_version = data.cluster_version;
        if self.removed.contains(&self.config.id) {
            self.removed_self = true;
        }
        self.snapshot_index = snapshot.meta.index;
        let watches: Vec<u64> = self.watch_requests.values().map(|(request_id, _)| *request_id).collect();
        for request_id in watches {
            self.answer(request_id, Ok(Reply::WatchClosed));
        }
        self.watch_requests.clear();
        self.watchers_by_request.clear();
        tracing::info!(member = %format!("{:x}", self.config.id), index = snapshot.meta.index, "installed leader snapshot");
        Ok(())
    }
}

/// The identity of the request behind a conf change, carried at the front of its context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ConfTag {
    origin: NodeId,
    incarnation: u64,
    seq: u64,
}

/// A conf change's context: who asked, and the new member's record for additions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ConfContext {
    tag: ConfTag,
    member: Option<Member>,
}

/// The Raft configuration before the log: the initial cluster's voters for a bootstrapped member, and
/// nothing for a member that joined a running cluster (its configuration comes from the leader's
/// log or snapshot, so it can never elect itself alone).
fn initial_conf(metadata: &WalMetadata) -> raft::ConfState {
    if metadata.join_existing {
        return raft::ConfState::default();
    }
    raft::ConfState::with_voters(metadata.initial_members.iter().filter(|m| !m.is_learner).map(|m| m.id))
}

/// A batch is one WAL append (its entries, then the hard state) and one fdatasync. A crash before the
/// sync may keep the entries of a newer term and lose the hard state that moved to that term (found by
/// the simulator, seed 102725 with watches: the member then refused to start, "hard state term 5 is
/// behind the log's last term 6"). Nothing was promised in that term: append answers and votes leave
/// only after the sync, and a vote made durable earlier would be in the surviving hard state. So the
/// member takes the log's term, with no vote.
fn adopt_the_logs_term(restore: &mut RestoreState, id: NodeId) {
    let log_term = restore
        .entries
        .last()
        .map(|entry| entry.term)
        .max(restore.snapshot.as_ref().map(|snapshot| snapshot.meta.term))
        .unwrap_or(0);
    if log_term > restore.hard_state.term {
        tracing::warn!(
            member = %format!("{id:x}"),
            hard_state_term = restore.hard_state.term,
            log_term,
            "the hard state of the last batch was lost in a crash; continuing in the log's term"
        );
        restore.hard_state.term = log_term;
        restore.hard_state.vote = None;
    }
}

/// `--force-new-cluster` (etcd's restartAsStandaloneNode): the whole durable log is kept, then gets one
/// conf change per other member removing it (after leaving a joint configuration if the log ends in
/// one), all in the current term and committed at once. They are written to the WAL before Raft
/// starts, so a crash right after leaves the same outcome.
///
/// Unlike etcd, which keeps only the prefix up to the persisted commit index, every durable entry is
/// kept: the commit index is persisted lazily (it rides along with the next fsync), so entries past it
/// may well have been committed and acknowledged by the lost cluster. Keeping an entry that was never
/// committed only applies a write nobody was told succeeded, which is allowed; dropping a committed one
/// would lose an acknowledged write, which is not.
fn force_new_cluster(wal: &mut Wal, restore: &mut RestoreState, me: NodeId) -> Result<(), NodeError> {
    let mut conf =
        restore.snapshot.as_ref().map_or_else(|| restore.initial_conf.clone(), |s| s.meta.conf_state.clone());
    for entry in &restore.entries {
        if let EntryPayload::ConfChange(change) = &entry.payload
            && let Ok(next) = raft::confchange::apply(&conf, change)
        {
            conf = next;
        }
    }
    let last_index = restore
        .entries
        .last()
        .map_or_else(|| restore.snapshot.as_ref().map_or(0, |s| s.meta.index), |entry| entry.index);
    let term = restore.hard_state.term.max(1);
    let mut changes = Vec::new();
    if conf.is_joint() {
        changes.push(ConfChange::default());
    }
    let others: BTreeSet<NodeId> = conf
        .voters
        .iter()
        .chain(conf.voters_outgoing.iter())
        .chain(conf.learners.iter())
        .chain(conf.learners_next.iter())
        .copied()
        .filter(|id| *id != me)
        .collect();
    if !conf.voters.contains(&me) {
        // A learner forced into a cluster of its own must vote in it (before the last voter goes).
        changes.push(ConfChange {
            changes: vec![raft::ConfChangeSingle { kind: ConfChangeKind::AddVoter, node_id: me }],
            ..ConfChange::default()
        });
    }
    for id in &others {
        changes.push(ConfChange {
            changes: vec![raft::ConfChangeSingle { kind: ConfChangeKind::RemoveNode, node_id: *id }],
            ..ConfChange::default()
        });
    }
    let appended: Vec<Entry> = (last_index + 1..)
        .zip(changes)
        .map(|(index, change)| Entry { term, index, payload: EntryPayload::ConfChange(change) })
        .collect();
    let new_last = last_index + appended.len() as u64;
    restore.hard_state.term = term;
    restore.hard_state.commit = new_last;
    restore.hard_state.vote = None;
    tracing::warn!(
        member = %format!("{me:x}"),
        removed = ?others.iter().map(|id| format!("{id:x}")).collect::<Vec<_>>(),
        commit = new_last,
        "forcing a new cluster: discarded the uncommitted log tail and removed every other member"
    );
    wal.save(Some(&restore.hard_state), &appended)?;
    wal.sync()?;
    restore.entries.extend(appended);
    Ok(())
}

fn decode_snapshot_data(bytes: &[u8]) -> Result<NodeSnapshotData, NodeError> {
    let data: NodeSnapshotData =
        codec::decode(bytes).map_err(|error| NodeError::SnapshotData(format!("undecodable: {error}")))?;
    if data.version != SNAPSHOT_DATA_VERSION {
        return Err(NodeError::SnapshotData(format!("unknown snapshot data version {}", data.version)));
    }
    Ok(data)
}

fn propose_error(error: ProposeError) -> RequestError {
    match error {
        ProposeError::NoLeader => RequestError::NoLeader,
        ProposeError::Removed => RequestError::Removed,
        other => RequestError::Refused(other.to_string()),
    }
}
