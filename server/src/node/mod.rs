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

//!
//! Where each job lives: `types.rs` (the node's public API types), `recovery.rs` (opening a data dir:
//! bootstrap, WAL replay, `--force-new-cluster`), `requests.rs` (taking client requests and keeping them
//! until answered), `ready.rs` (persisting each Raft Ready before acknowledging it), `apply.rs` (applying
//! committed entries to the store and the membership), `entry.rs` (what a log entry carries), `leader.rs`
//! (the leader's own duties on each tick), `auth.rs` (v2 auth writes and permission checks), `v3_auth.rs` (v3 auth requests, tokens' users, writes on behalf of a user), `v3_auth_checks.rs` (what each v3 request needs), `v3_auth_tokens.rs` (v3 simple tokens), `reads.rs` (ReadIndex reads), `watches.rs` (routing store watch
//! events to their requests), `snapshot.rs` (taking and installing snapshots), `snapshot_job.rs` (the
//! snapshot image the shell writes off the node thread).

mod apply;
mod auth;
mod entry;
mod leader;
mod reads;
mod ready;
mod recovery;
mod requests;
mod snapshot;
mod snapshot_job;
mod snapshot_versions;
mod types;
mod v3;
mod v3_alarms;
mod v3_auth;
mod v3_auth_checks;
mod v3_auth_tokens;
pub use v3_alarms::{DEFAULT_QUOTA_BACKEND_BYTES, MAX_QUOTA_BACKEND_BYTES};
mod v3_types;
mod v3_watches;
mod watches;

use requests::Pending;

pub use recovery::read_identity;
// The on-disk payloads, for `concord migrate` (which writes them) and `concord inspect` (which reads
// them): one definition, so the tools cannot drift from the node.
pub(crate) use entry::{ConfContext, Operation, Proposal};
pub(crate) use recovery::WalMetadata;
pub(crate) use snapshot::{NodeSnapshotData, decode_snapshot_data};
pub use snapshot_job::{SnapshotJob, SnapshotWritten};
#[cfg(feature = "planted-bugs")]
pub use types::PlantedBug;
pub use types::{
    Answer, AutoCompaction, ClientRequest, DEFAULT_MAX_WATCHERS, Member, NodeConfig, NodeError, NodeStatus,
    Output, Reply, RequestError,
};
pub use v3_types::{
    AlarmAction, AlarmMember, AlarmType, AuthReply, AuthRequest, V3Image, V3Reply, V3Request, WatchCreate,
    WatchUpdate,
};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use raft::{Index, Message, NodeId, ProposeError, Raft, Role, SoftState, Term};
use store::{Command, Store, WatcherId};

use crate::storage::disk::DirLock;
use crate::storage::snap::Snapshotter;
use crate::storage::wal::{Wal, WalSnapshot};

/// Version of the node's snapshot payload (`NodeSnapshotData`); bumped on any layout change.
pub(crate) const SNAPSHOT_DATA_VERSION: u32 = 8;

/// The cluster version this release speaks (etcd's `etcdcluster` in `/version`).
pub const CLUSTER_VERSION: &str = "3.4.0";

/// Bound of client requests waiting for an apply or a read confirmation. Beyond it new requests are
/// refused at once rather than queued without limit.
pub const MAX_PENDING_REQUESTS: usize = 64 * 1024;

pub struct Node {
    config: NodeConfig,
    raft: Raft,
    store: Store,
    /// The v3 keyspace and its leases (replicated state, in snapshots beside the v2 store).
    mvcc: mvcc::Mvcc,
    /// v3 watches by the request that created them.
    v3_watches: BTreeMap<u64, v3_watches::V3Watch>,
    /// Expired leases whose revoke this leader proposed, with the tick it did (retried after a while).
    lease_revokes_proposed: BTreeMap<i64, u64>,
    /// The log index of each lease's last applied keep-alive (replicated, in snapshots): a leader's
    /// expiry decision yields to a keep-alive it had not applied when it decided.
    lease_renewed_at: BTreeMap<i64, u64>,
    /// etcd's v3 users, roles, enabled flag and auth revision (replicated through the log, in
    /// snapshots).
    v3_auth: mvcc::AuthStore,
    /// The v3 simple tokens this member knows (assigned through the log, expired by this member's
    /// clock; not in snapshots).
    v3_tokens: v3_auth_tokens::TokenTable,
    /// The v3 revision at each of the last auto-compaction intervals, oldest first (periodic mode).
    compaction_samples: std::collections::VecDeque<i64>,
    /// A `MoveLeader` request waiting for its target to lead: (request, target, deadline tick).
    leader_move: Option<(u64, NodeId, u64)>,
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
    /// The raised alarms (etcd's alarm store: replicated through the log, in snapshots).
    alarms: BTreeSet<AlarmMember>,
    /// etcd's v2 users, roles and enabled flag (replicated through the log, in snapshots).
    auth: store::auth::Auth,
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
    /// Linearizable reads taken since the last ReadIndex round (their keys in `pending`): the next
    /// `process()` confirms all of them with one round.
    next_read_round: Vec<u64>,
    /// ReadIndex rounds in flight: their context and the `pending` keys of the reads they confirm.
    read_rounds: BTreeMap<u64, Vec<u64>>,
    /// Registered watchers: the request each answers and whether it streams (else one event ends it).
    watch_requests: BTreeMap<WatcherId, (u64, bool)>,
    watchers_by_request: BTreeMap<u64, WatcherId>,
    /// Watches refused because `max_watchers` were registered (reported in `/metrics`).
    watchers_refused: u64,
    /// Answers produced outside `process()` (immediate reads, timeouts) waiting to be returned.
    answers: Vec<Answer>,
    soft_state: SoftState,
    /// The newest snapshot the WAL has a marker for (or installed from a leader).
    snapshot_index: Index,
    /// The snapshot handed to the shell whose written file has not been recorded yet (at most one).
    snapshot_in_flight: Option<WalSnapshot>,
    /// The job for `snapshot_in_flight`, until the next `Output` hands it to the shell.
    snapshot_job: Option<SnapshotJob>,
    /// The shell's report that the job is done, recorded by the next `process()`.
    snapshot_written: Option<SnapshotWritten>,
    /// The last entry applied to the store and the membership (the snapshot's index right after one
    /// is restored or installed).
    last_applied_index: Index,
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
            watchers: self.watcher_count(),
            watchers_refused: self.watchers_refused,
            v3_revision: self.mvcc.current_revision(),
            v3_records: self.mvcc.retained_revisions(),
            v3_size_bytes: self.v3_size_bytes(),
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
        self.revoke_expired_leases();
        self.auto_compact();
        self.check_leader_move();
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
}
