//! Opening a data dir: bootstrapping a new member, or recovering one from the newest snapshot the
//! WAL recorded plus the WAL after it (a torn batch's lost hard state, `--force-new-cluster`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use raft::{ConfChange, ConfChangeKind, Entry, EntryPayload, NodeId, Raft, RestoreState};
use serde::{Deserialize, Serialize};
use store::Store;

#[cfg(feature = "planted-bugs")]
use super::PlantedBug;
use super::snapshot::{decode_snapshot_data, restore_mvcc};
use super::v3::mvcc_config;
use super::{Member, Node, NodeConfig, NodeError, Output};
use crate::codec;
use crate::storage::disk::{DirLock, Disk};
use crate::storage::snap::Snapshotter;
use crate::storage::wal::{Wal, WalOptions, WalSnapshot};

/// The WAL's metadata record: who this data dir belongs to and how the cluster began.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WalMetadata {
    pub(crate) member_id: NodeId,
    pub(crate) cluster_id: u64,
    pub(crate) initial_members: Vec<Member>,
    pub(crate) join_existing: bool,
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

/// The Raft configuration before the log: the initial cluster's voters for a bootstrapped member, and
/// nothing for a member that joined a running cluster (its configuration comes from the leader's
/// log or snapshot, so it can never elect itself alone).
pub(super) fn initial_conf(metadata: &WalMetadata) -> raft::ConfState {
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
pub(super) fn adopt_the_logs_term(restore: &mut RestoreState, id: NodeId) {
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
/// A member not in the configuration (a backup restored under a new member ID) is added first, with a
/// member record carrying its advertised peer URLs, so the members API lists where it is; etcd writes
/// `http://localhost:2380` there whatever the flags say, and `member update` fixes it afterwards.
///
/// Unlike etcd, which keeps only the prefix up to the persisted commit index, every durable entry is
/// kept: the commit index is persisted lazily (it rides along with the next fsync), so entries past it
/// may well have been committed and acknowledged by the lost cluster. Keeping an entry that was never
/// committed only applies a write nobody was told succeeded, which is allowed; dropping a committed one
/// would lose an acknowledged write, which is not.
pub(super) fn force_new_cluster(
    wal: &mut Wal,
    restore: &mut RestoreState,
    me: NodeId,
    advertise_peer_urls: &[String],
) -> Result<(), NodeError> {
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
            context: own_member_context(me, advertise_peer_urls, conf.learners.contains(&me)),
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

/// etcd's default peer URL, which etcd's `--force-new-cluster` always gives a member it adds.
const DEFAULT_PEER_URL: &str = "http://localhost:2380";

/// The context of the change adding this member to its own forced cluster: its record with its peer
/// URLs. A learner already has a record (the promotion keeps it), so it gets none.
fn own_member_context(me: NodeId, advertise_peer_urls: &[String], is_learner: bool) -> bytes::Bytes {
    if is_learner {
        return bytes::Bytes::new();
    }
    let peer_urls = if advertise_peer_urls.is_empty() {
        vec![DEFAULT_PEER_URL.to_string()]
    } else {
        advertise_peer_urls.to_vec()
    };
    let member = Member { id: me, peer_urls, ..Member::default() };
    // No client waits for this change: origin 0 is never a member's ID.
    let tag = super::entry::ConfTag { origin: 0, incarnation: 0, seq: 0 };
    bytes::Bytes::from(codec::encode(&super::entry::ConfContext { tag, member: Some(member) }))
}

impl Node {
    /// Bootstraps a new member, or recovers one from its data dir: the newest snapshot the WAL
    /// recorded, then the WAL after it.
    pub fn open(config: NodeConfig, disk: Arc<dyn Disk>) -> Result<Node, NodeError> {
        let lock = lock_data_dir(&config, &*disk)?;
        let wal_options = WalOptions { max_wals: config.max_wals, ..WalOptions::default() };
        let snapshotter = Snapshotter::new(disk.clone(), &config.snap_dir(), config.max_snapshots)?;
        let (wal, metadata, restore) = if Wal::exists(&*disk, &config.wal_dir())? {
            recover(&config, &disk, &snapshotter, wal_options)?
        } else {
            bootstrap(&config, &disk, wal_options)?
        };
        let state = ReplicatedState::restore(&config, &metadata, &restore)?;
        let raft = Raft::new(raft_config(&config), restore).map_err(NodeError::Start)?;
        let mut node = Node::assemble(config, raft, wal, snapshotter, lock, state);
        // Leases expire only on a leader, from the moment it leads (`on_role_change_for_leases`).
        node.mvcc.demote();
        // Apply what the WAL says is committed before serving anyone, so a restarted member never
        // answers a read with less than it had acknowledged before the restart.
        node.carried = node.process_ready(None)?;
        assert!(node.raft.applied_index() >= node.snapshot_index, "applied below the restored snapshot");
        Ok(node)
    }

    fn assemble(
        config: NodeConfig,
        raft: Raft,
        wal: Wal,
        snapshotter: Snapshotter,
        lock: DirLock,
        state: ReplicatedState,
    ) -> Node {
        let soft_state = raft.soft_state();
        let hard_state = raft.hard_state();
        Node {
            config,
            raft,
            store: state.store,
            mvcc: state.mvcc,
            v3_watches: BTreeMap::new(),
            lease_revokes_proposed: BTreeMap::new(),
            lease_renewed_at: state.lease_renewed_at,
            v3_auth: state.v3_auth,
            v3_tokens: super::v3_auth_tokens::TokenTable::default(),
            leader_move: None,
            compaction_samples: std::collections::VecDeque::new(),
            wal,
            snapshotter,
            _lock: lock,
            members: state.members,
            removed: state.removed,
            applied_requests: state.applied_requests,
            cluster_version: state.cluster_version,
            alarms: state.alarms,
            auth: state.auth,
            durable_term_vote: (hard_state.term, hard_state.vote),
            read_barrier_passed: false,
            ticks: 0,
            ticks_since_sync: 0,
            now: 0,
            next_seq: 1,
            pending: BTreeMap::new(),
            reads_to_serve: Vec::new(),
            next_read_round: Vec::new(),
            read_rounds: BTreeMap::new(),
            watch_requests: BTreeMap::new(),
            watchers_by_request: BTreeMap::new(),
            watchers_refused: 0,
            answers: Vec::new(),
            soft_state,
            snapshot_index: state.snapshot_index,
            snapshot_in_flight: None,
            snapshot_job: None,
            snapshot_written: None,
            last_applied_index: state.snapshot_index,
            removed_self: false,
            membership_version: 0,
            failure: None,
            carried: Output::default(),
        }
    }
}

/// Creates the data dir if needed, checks that it is writable and takes its exclusive lock.
fn lock_data_dir(config: &NodeConfig, disk: &dyn Disk) -> Result<DirLock, NodeError> {
    let data_dir = config.data_dir.display();
    disk.create_dir_all(&config.data_dir)
        .map_err(|error| NodeError::DataDir(format!("cannot create {data_dir}: {error}")))?;
    crate::storage::disk::check_writable(disk, &config.data_dir)
        .map_err(|error| NodeError::DataDir(format!("{data_dir} is not writable: {error}")))?;
    disk.lock(&config.data_dir).map_err(|error| {
        NodeError::DataDir(format!("cannot lock {data_dir} (another process uses it?): {error}"))
    })
}

/// An existing data dir: the newest snapshot the WAL has a marker for, then the WAL after it.
fn recover(
    config: &NodeConfig,
    disk: &Arc<dyn Disk>,
    snapshotter: &Snapshotter,
    wal_options: WalOptions,
) -> Result<(Wal, WalMetadata, RestoreState), NodeError> {
    let wal_dir = config.wal_dir();
    let markers = Wal::snapshot_markers(&**disk, &wal_dir)?;
    let snapshot = snapshotter.load_newest_of(&markers)?;
    let at = snapshot
        .as_ref()
        .map_or(WalSnapshot::default(), |s| WalSnapshot { index: s.meta.index, term: s.meta.term });
    let (mut wal, recovered) = Wal::open(disk.clone(), &wal_dir, at, wal_options)?;
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
    if config.force_new_cluster {
        force_new_cluster(&mut wal, &mut restore, config.id, &config.advertise_peer_urls)?;
    }
    Ok((wal, metadata, restore))
}

/// A fresh data dir: a new WAL whose metadata records who this member is and how the cluster began.
fn bootstrap(
    config: &NodeConfig,
    disk: &Arc<dyn Disk>,
    wal_options: WalOptions,
) -> Result<(Wal, WalMetadata, RestoreState), NodeError> {
    let metadata = WalMetadata {
        member_id: config.id,
        cluster_id: config.cluster_id,
        // For a joiner: the running cluster's members as a peer told them, so it can answer the leader
        // at once; its Raft configuration still starts empty (`initial_conf`).
        initial_members: config.initial_members.clone(),
        join_existing: config.join_existing,
    };
    let wal = Wal::create(disk.clone(), &config.wal_dir(), &codec::encode(&metadata), wal_options)?;
    // Raft writes the initial membership into the log itself (one change per member at term 1).
    let restore = RestoreState { initial_conf: initial_conf(&metadata), ..RestoreState::default() };
    Ok((wal, metadata, restore))
}

/// The state every member derives from the log alike, as of the snapshot a member restarts from (or
/// as of an empty log).
struct ReplicatedState {
    store: Store,
    mvcc: mvcc::Mvcc,
    members: BTreeMap<NodeId, Member>,
    removed: BTreeSet<NodeId>,
    applied_requests: BTreeMap<NodeId, (u64, u64)>,
    cluster_version: Option<String>,
    alarms: BTreeSet<super::AlarmMember>,
    auth: store::auth::Auth,
    lease_renewed_at: BTreeMap<i64, u64>,
    v3_auth: mvcc::AuthStore,
    snapshot_index: raft::Index,
}

impl ReplicatedState {
    fn restore(
        config: &NodeConfig,
        metadata: &WalMetadata,
        restore: &RestoreState,
    ) -> Result<ReplicatedState, NodeError> {
        let Some(snapshot) = &restore.snapshot else {
            return Ok(ReplicatedState {
                store: {
                    let mut store = Store::new();
                    store.set_history_limits(config.v2_watch_history);
                    store
                },
                mvcc: mvcc::Mvcc::new(mvcc_config(config)),
                members: metadata.initial_members.iter().map(|member| (member.id, member.clone())).collect(),
                removed: BTreeSet::new(),
                applied_requests: BTreeMap::new(),
                cluster_version: None,
                alarms: BTreeSet::new(),
                auth: store::auth::Auth::default(),
                lease_renewed_at: BTreeMap::new(),
                v3_auth: mvcc::AuthStore::default(),
                snapshot_index: 0,
            });
        };
        let data = decode_snapshot_data(&snapshot.data)?;
        let store = Store::restore_with_history_limits(&data.store, config.v2_watch_history)
            .map_err(|error| NodeError::SnapshotData(error.to_string()))?;
        assert!(data.members.keys().all(|id| !data.removed.contains(id)), "a removed member in the snapshot");
        Ok(ReplicatedState {
            store,
            mvcc: restore_mvcc(&data.mvcc, config)?,
            members: data.members,
            removed: data.removed,
            applied_requests: data.applied_requests,
            cluster_version: data.cluster_version,
            alarms: data.alarms,
            auth: data.auth,
            lease_renewed_at: data.lease_renewed_at,
            v3_auth: data.v3_auth,
            snapshot_index: snapshot.meta.index,
        })
    }
}

fn raft_config(config: &NodeConfig) -> raft::Config {
    let mut raft_config = raft::Config::new(config.id, config.seed);
    raft_config.election_ticks = config.election_ticks;
    raft_config.heartbeat_ticks = config.heartbeat_ticks;
    #[cfg(feature = "planted-bugs")]
    if let Some(PlantedBug::Raft(bug)) = config.planted_bug {
        raft_config.planted_bug = Some(bug);
    }
    raft_config
}
