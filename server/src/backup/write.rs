//! Writing the copy: the snapshot file unchanged, and a new WAL whose metadata names the new member
//! and cluster, holding the snapshot's marker (as an installed snapshot: nothing before it counts), the
//! log above it and the source's hard state (committing at least the snapshot).

use std::path::Path;
use std::sync::Arc;

use raft::types::HardState;

use super::NewIdentity;
use super::read::MemberImage;
use crate::codec;
use crate::node::WalMetadata;
use crate::storage::disk::Disk;
use crate::storage::snap::Snapshotter;
use crate::storage::wal::{Wal, WalOptions, WalSnapshot};

/// Snapshot files the copy keeps (it has one).
const MAX_SNAPSHOTS: usize = 5;
/// Entries per WAL save, so the copy's segments rotate at the usual size.
const ENTRIES_PER_SAVE: usize = 1024;

/// Writes `image` under `identity` to `snap_dir` and `wal_dir` (the WAL must not exist yet).
pub(super) fn write_backup(
    disk: Arc<dyn Disk>,
    snap_dir: &Path,
    wal_dir: &Path,
    image: &MemberImage,
    identity: NewIdentity,
) -> Result<(), String> {
    let snapshotter =
        Snapshotter::new(disk.clone(), snap_dir, MAX_SNAPSHOTS).map_err(|error| error.to_string())?;
    if let Some(snapshot) = &image.snapshot {
        snapshotter.save(snapshot).map_err(|error| format!("writing the snapshot: {error}"))?;
    }
    let metadata = WalMetadata {
        member_id: identity.member_id,
        cluster_id: identity.cluster_id,
        ..image.metadata.clone()
    };
    let mut wal = Wal::create(disk, wal_dir, &codec::encode(&metadata), WalOptions::default())
        .map_err(|error| format!("creating the WAL: {error}"))?;
    write_log(&mut wal, image).map_err(|error| format!("writing the WAL: {error}"))
}

fn write_log(wal: &mut Wal, image: &MemberImage) -> Result<(), crate::storage::wal::WalError> {
    let at = image.snapshot_at();
    if at != WalSnapshot::default() {
        wal.save_installed_snapshot_marker(at)?;
    }
    let hard_state = HardState { commit: image.hard_state.commit.max(at.index), ..image.hard_state };
    let chunks: Vec<_> = image.entries.chunks(ENTRIES_PER_SAVE).collect();
    for chunk in &chunks[..chunks.len().saturating_sub(1)] {
        wal.save(None, chunk)?;
    }
    wal.save(Some(&hard_state), chunks.last().copied().unwrap_or(&[]))?;
    wal.sync()?;
    assert_eq!(wal.last_index(), image.last_index(), "the copy ends where the source's log ends");
    Ok(())
}
