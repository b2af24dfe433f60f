//! Writing a Concord data dir that starts where the migrated etcd member stopped: one snapshot file at
//! the applied index (the v2 keys, the v3 keyspace, the membership, alarms) and a WAL whose metadata
//! names the member and cluster, with the snapshot's marker and a hard state committing it — the
//! layout a member that installed a leader's snapshot has (DESIGN.md, "On-disk formats").
//! The payloads are the node's own types (`WalMetadata`, `NodeSnapshotData`); the tests open what is
//! written with `Node::open`.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use raft::{HardState, NodeId, Snapshot, SnapshotMeta};

use crate::codec;
use crate::node::{AlarmMember, AlarmType, NodeSnapshotData, WalMetadata};
use crate::storage::disk::Disk;
use crate::storage::snap::Snapshotter;
use crate::storage::wal::{Wal, WalOptions, WalSnapshot};

/// Snapshot files kept (etcd's and the node's default `--max-snapshots`).
const MAX_SNAPSHOTS: usize = 5;

/// Everything the new data dir holds.
pub(crate) struct MigratedState {
    pub(crate) member_id: NodeId,
    pub(crate) cluster_id: u64,
    pub(crate) index: u64,
    pub(crate) term: u64,
    pub(crate) hard_state: HardState,
    pub(crate) conf_state: raft::ConfState,
    pub(crate) data: NodeSnapshotData,
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
pub(crate) fn write_data_dir(
    disk: Arc<dyn Disk>,
    data_dir: &Path,
    state: &MigratedState,
) -> Result<(), String> {
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
    let metadata = WalMetadata {
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
