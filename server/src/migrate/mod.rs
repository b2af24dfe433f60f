//! `concord migrate`: turning a stopped etcd 3.4 member's data dir into a Concord data dir that
//! serves the same v2 keys (values, `createdIndex`, `modifiedIndex`, TTLs, store index) and the same v3
//! keyspace (revisions, versions, leases, compaction point), as the same member of the same cluster.
//!
//! How: the v2 store from the newest `.snap` the WAL has a marker for (or a fresh store without one),
//! the v3 keyspace from `member/snap/db`, then the committed WAL entries after the snapshot applied as
//! etcd's applier applies them (`replay`); the membership from etcd's `/0` records; written as a
//! snapshot plus a WAL that commits it (`writer`). Where each job lives: `etcd_proto.rs` (the
//! protobuf messages), `etcd_wal.rs` (reading etcd's WAL), `etcd_snap.rs` (its `.snap`
//! files), `etcd_v2_store.rs` (the v2 store's JSON), `etcd_backend.rs` (the bbolt backend),
//! `replay.rs`, `membership.rs`, `v2_auth.rs`, `writer.rs`, `command.rs` (the command line),
//! `detect.rs` (telling an etcd data dir apart).
//!
//! Limits: v3 auth is not carried over (Concord serves none; a data dir with it enabled is refused
//! rather than served open); v2 auth is (`v2_auth.rs`). A cluster's members are each migrated at
//! the index they had applied (the summary prints it); they must agree, or a majority must share the
//! highest, since a majority behind could elect a leader lacking what a minority applied (DESIGN.md).

pub mod command;
pub mod detect;
pub mod etcd_backend;
pub mod etcd_proto;
pub mod etcd_snap;
pub mod etcd_v2_store;
pub mod etcd_wal;
pub mod membership;
pub mod replay;
pub mod v2_auth;
pub mod writer;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::node::{NodeSnapshotData, SNAPSHOT_DATA_VERSION};
use crate::storage::disk::Disk;
use etcd_proto::{Entry, WalSnapshot};
use etcd_wal::EtcdRecord;
use replay::Replay;
use writer::MigratedState;

/// Why a migration did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrateError(pub String);

impl fmt::Display for MigrateError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for MigrateError {}

impl From<etcd_wal::Damage> for MigrateError {
    fn from(damage: etcd_wal::Damage) -> MigrateError {
        MigrateError(damage.to_string())
    }
}

impl From<String> for MigrateError {
    fn from(message: String) -> MigrateError {
        MigrateError(message)
    }
}

/// What was migrated, for the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub member_id: u64,
    pub cluster_id: u64,
    /// The Raft index and term the new data dir starts at.
    pub index: u64,
    pub term: u64,
    /// The etcd snapshot used, if any (index).
    pub snapshot_index: Option<u64>,
    pub v2_nodes: usize,
    pub v2_index: u64,
    pub v3_keys: usize,
    pub v3_revision: i64,
    pub members: Vec<crate::node::Member>,
    /// What was not carried over and other warnings.
    pub notes: Vec<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            formatter,
            "migrated member {:x} of cluster {:x}: raft index {} term {}{}",
            self.member_id,
            self.cluster_id,
            self.index,
            self.term,
            self.snapshot_index.map_or(String::new(), |index| format!(" (from the snapshot at {index})"))
        )?;
        writeln!(formatter, "v2: {} nodes, store index {}", self.v2_nodes, self.v2_index)?;
        writeln!(formatter, "v3: {} keys, revision {}", self.v3_keys, self.v3_revision)?;
        for member in &self.members {
            let role = if member.is_learner { " (learner)" } else { "" };
            writeln!(
                formatter,
                "member {:x} {:?} peers {:?}{role}",
                member.id, member.name, member.peer_urls
            )?;
        }
        for note in &self.notes {
            writeln!(formatter, "note: {note}")?;
        }
        Ok(())
    }
}

/// Migrates the etcd data dir `from` into a new Concord data dir `to` (absent or empty).
pub fn migrate(disk: Arc<dyn Disk>, from: &Path, to: &Path) -> Result<Summary, MigrateError> {
    check_target(to)?;
    let (state, summary) = read_etcd_member(from)?;
    writer::write_data_dir(disk, to, &state)?;
    Ok(summary)
}

/// Refuses a target that already holds anything.
fn check_target(to: &Path) -> Result<(), MigrateError> {
    match std::fs::read_dir(to) {
        Ok(mut entries) => match entries.next() {
            Some(_) => {
                Err(MigrateError(format!("{} is not empty: migrate into a new data dir", to.display())))
            }
            None => Ok(()),
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(MigrateError(format!("{}: {error}", to.display()))),
    }
}

/// The state of the etcd member in `from` as the new data dir will hold it, and its summary.
pub(crate) fn read_etcd_member(from: &Path) -> Result<(MigratedState, Summary), MigrateError> {
    let member_dir = from.join("member");
    if !detect::looks_like_etcd(from) {
        return Err(MigrateError(format!(
            "{} is not an etcd data dir (no member/wal with etcd's records)",
            from.display()
        )));
    }
    let contents = etcd_wal::read_wal(&member_dir.join("wal"));
    if let Some(damage) = contents.damage {
        return Err(MigrateError(format!("damaged etcd WAL: {damage}")));
    }
    let mut notes: Vec<String> =
        contents.torn_tail.iter().map(|torn| format!("torn WAL tail cut: {torn}")).collect();
    let markers: Vec<WalSnapshot> = contents
        .records
        .iter()
        .filter_map(|read| match read.record {
            EtcdRecord::Snapshot(marker) => Some(marker),
            _ => None,
        })
        .collect();
    let (snapshot, skipped) = etcd_snap::newest_snapshot(&member_dir.join("snap"), &markers)?;
    notes.extend(skipped.iter().map(|damage| format!("damaged snapshot skipped: {damage}")));
    let at =
        snapshot.as_ref().map_or(WalSnapshot::default(), |s| WalSnapshot { index: s.index, term: s.term });
    let log = etcd_wal::replay(&contents.records, at)?;
    let backend = read_backend(&member_dir.join("snap").join("db"))?;
    let store = match &snapshot {
        Some(snapshot) => etcd_v2_store::store_from_json(&snapshot.data)?,
        None => etcd_v2_store::fresh_store(),
    };
    let keyspace = mvcc::Mvcc::restore(&backend.keyspace, mvcc::Config::default())
        .map_err(|error| MigrateError(format!("etcd's v3 keyspace: {error}")))?;
    let alarms: BTreeSet<(u64, i32)> = backend.alarms.iter().copied().collect();
    let mut replay = Replay::new(store, keyspace, backend.consistent_index, alarms);
    let (index, term) = apply_committed(&mut replay, &log, at, backend.consistent_index)?;
    notes.append(&mut replay.notes);
    let dropped = log.entries.iter().filter(|entry| entry.index > index).count();
    if dropped > 0 {
        notes.push(format!(
            "{dropped} WAL entries after index {index} were not known committed here: dropped"
        ));
    }
    let state = migrated_state(replay, &log, index, term)?;
    let summary = summarize(&state, snapshot.map(|s| s.index), notes)?;
    Ok((state, summary))
}

/// The backend, or an empty keyspace where etcd never wrote one.
fn read_backend(path: &Path) -> Result<etcd_backend::EtcdBackend, MigrateError> {
    if !path.exists() {
        return Ok(etcd_backend::EtcdBackend {
            keyspace: mvcc::Mvcc::new(mvcc::Config::default()).snapshot(),
            consistent_index: 0,
            alarms: Vec::new(),
            auth_enabled: false,
        });
    }
    let backend = etcd_backend::read_backend(path)?;
    if backend.auth_enabled {
        return Err(MigrateError(
            "etcd's v3 auth is enabled; Concord serves no v3 auth: disable it first".to_string(),
        ));
    }
    Ok(backend)
}

/// Applies the entries etcd had committed (its hard state's commit, or further when the backend shows
/// it applied more) and returns the index and term reached.
fn apply_committed(
    replay: &mut Replay,
    log: &etcd_wal::EtcdLog,
    at: WalSnapshot,
    consistent_index: u64,
) -> Result<(u64, u64), MigrateError> {
    let last = log.entries.last().map_or(at.index, |entry| entry.index);
    let applied = log.hard_state.commit.max(consistent_index).max(at.index).min(last);
    let mut reached = (at.index, at.term);
    let committed: Vec<&Entry> = log.entries.iter().take_while(|entry| entry.index <= applied).collect();
    for entry in committed {
        replay.apply(entry)?;
        reached = (entry.index, entry.term);
    }
    assert_eq!(reached.0, applied, "every committed entry applied in order");
    Ok(reached)
}

/// The new data dir's contents from the replayed state.
fn migrated_state(
    replay: Replay,
    log: &etcd_wal::EtcdLog,
    index: u64,
    term: u64,
) -> Result<MigratedState, MigrateError> {
    let membership = membership::read_membership(&replay.store)?;
    let auth = v2_auth::read_auth(&replay.store)?;
    let metadata = log.metadata;
    if !membership.members.contains_key(&metadata.node_id) {
        return Err(MigrateError(format!(
            "member {:x} is not in its cluster's membership",
            metadata.node_id
        )));
    }
    let conf_state = membership.conf_state();
    let keys =
        replay.store.into_subtree("/1").map_err(|error| MigrateError(format!("etcd's keys: {error}")))?;
    let alarms =
        replay.alarms.iter().filter_map(|(member, alarm)| writer::alarm_member(*member, *alarm)).collect();
    let vote = (log.hard_state.vote != 0).then_some(log.hard_state.vote);
    Ok(MigratedState {
        member_id: metadata.node_id,
        cluster_id: metadata.cluster_id,
        index,
        term,
        hard_state: raft::HardState { term: log.hard_state.term.max(term), vote, commit: index },
        conf_state,
        data: NodeSnapshotData {
            version: SNAPSHOT_DATA_VERSION,
            members: membership.members,
            removed: membership.removed,
            applied_requests: Default::default(),
            cluster_version: membership.cluster_version,
            store: keys.snapshot(),
            mvcc: replay.mvcc.snapshot(),
            alarms,
            auth,
            lease_renewed_at: Default::default(),
            v3_auth: Default::default(),
        },
    })
}

fn summarize(
    state: &MigratedState,
    snapshot_index: Option<u64>,
    notes: Vec<String>,
) -> Result<Summary, MigrateError> {
    let keys = store::Store::restore(&state.data.store).map_err(|error| MigrateError(error.to_string()))?;
    Ok(Summary {
        member_id: state.member_id,
        cluster_id: state.cluster_id,
        index: state.index,
        term: state.term,
        snapshot_index,
        v2_nodes: keys.node_count(),
        v2_index: keys.current_index(),
        v3_keys: live_keys(&state.data.mvcc),
        v3_revision: state.data.mvcc.current_revision,
        members: state.data.members.values().cloned().collect(),
        notes,
    })
}

/// Keys of a v3 image whose newest record is not a tombstone.
pub fn live_keys(keyspace: &mvcc::Snapshot) -> usize {
    let mut newest: std::collections::BTreeMap<&[u8], bool> = std::collections::BTreeMap::new();
    for record in &keyspace.records {
        newest.insert(record.key.as_slice(), record.create_revision != 0);
    }
    newest.values().filter(|live| **live).count()
}
