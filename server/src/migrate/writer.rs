//! Writing a Concord data dir that starts where the migrated etcd member stopped: one snapshot file at
//! the applied index (the v2 keys, the v3 keyspace, the membership, alarms) and a WAL whose metadata
//! names the member and cluster, with the snapshot's marker and a hard state committing it — the
//! layout a member that installed a leader's snapshot has (DESIGN.md, "On-disk formats").
//!
//! The node keeps its payload types private to `node/`; the two written here are field-for-field
//! copies (`ConcordWalMetadata` of `WalMetadata`, `ConcordSnapshotData` of `NodeSnapshotData` at
//! version 6). The tests open what is written with `Node::open`, so any drift fails them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use raft::{HardState, NodeId, Snapshot, SnapshotMeta};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::node::{AlarmMember, AlarmType, Member};
use crate::storage::disk::Disk;
use crate::storage::snap::Snapshotter;
use crate::storage::wal::{Wal, WalOptions, WalSnapshot};

/// The node's snapshot payload version this writes (the node reads it and every later one).
pub const SNAPSHOT_DATA_VERSION: u32 = 6;
/// Snapshot files kept (etcd's and the node's default `--max-snapshots`).
const MAX_SNAPSHOTS: usize = 5;

/// The node's `WalMetadata`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcordWalMetadata {
    pub member_id: NodeId,
    pub cluster_id: u64,
    pub initial_members: Vec<Member>,
    pub join_existing: bool,
}

/// The node's `NodeSnapshotData`, version 6.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcordSnapshotData {
    pub version: u32,
    pub members: BTreeMap<NodeId, Member>,
    pub removed: BTreeSet<NodeId>,
    pub applied_requests: BTreeMap<NodeId, (u64, u64)>,
    pub cluster_version: Option<String>,
    pub store: Vec<u8>,
    pub mvcc: mvcc::Snapshot,
    pub alarms: BTreeSet<AlarmMember>,
    pub auth: store::auth::Auth,
}

/// Everything the new data dir holds.
pub struct MigratedState {
    pub member_id: NodeId,
    pub cluster_id: u64,
    pub index: u64,
    pub term: u64,
    pub hard_state: HardState,
    pub conf_state: raft::ConfState,
    pub data: ConcordSnapshotData,
}

/// An etcd alarm number as Concord's alarm (`None` for types Concord does not know).
pub fn alarm_member(member_id: u64, alarm: i32) -> Option<AlarmMember> {
    let alarm = match alarm {
        1 => AlarmType::NoSpace,
        2 => AlarmType::Corrupt,
        _ => return None,
    };
    Some(AlarmMember { member_id, alarm })
}

/// Writes `state` as a Concord data dir at `data_dir` (its `member/` must not exist yet).
pub fn write_data_dir(disk: Arc<dyn Disk>, data_dir: &Path, state: &MigratedState) -> Result<(), String> {
    assert!(state.hard_state.commit == state.index, "the new member has applied everything it commits");
    assert!(state.hard_state.term >= state.term, "the hard state's term is not behind the log");
    let member_dir = data_dir.join("member");
    let snapshot = Snapshot {
        meta: SnapshotMeta { index: state.index, term: state.term, conf_state: state.conf_state.clone() },
        data: Bytes::from(codec::encode(&state.data)),
    };
    let snapshotter = Snapshotter::new(disk.clone(), &member_dir.join("snap"), MAX_SNAPSHOTS)
        .map_err(|error| format!("snapshot directory: {error}"))?;
    snapshotter.save(&snapshot).map_err(|error| format!("writing the snapshot: {error}"))?;
    let metadata = ConcordWalMetadata {
        member_id: state.member_id,
        cluster_id: state.cluster_id,
        initial_members: state.data.members.values().cloned().collect(),
        join_existing: false,
    };
    let wal_dir = member_dir.join("wal");
    let mut wal = Wal::create(disk, &wal_dir, &codec::encode(&metadata), WalOptions::default())
        .map_err(|error| format!("creating the WAL: {error}"))?;
    let marker = WalSnapshot { index: state.index, term: state.term };
    let written = wal
        .save_installed_snapshot_marker(marker)
        .and_then(|()| wal.save(Some(&state.hard_state), &[]))
        .and_then(|()| wal.sync());
    written.map_err(|error| format!("writing the WAL: {error}"))
}
