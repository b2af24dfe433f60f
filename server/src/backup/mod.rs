//! `concordctl backup` (etcdctl v2's `backup`): copies a member's newest valid snapshot and its WAL to
//! a new data dir under fresh member and cluster IDs, so the copy can never join the old cluster by
//! accident; `concord --force-new-cluster` then starts it as a one-member cluster.
//!
//! The source may be stopped or running: it is only read (its lock is not taken, nothing in it is
//! repaired), a torn record at the end of its last segment is where the copy ends, and a read that
//! raced with the member (a segment or snapshot file removed under it) is retried a bounded number of
//! times. Unlike etcd 3.4, every durable entry is kept (the commit index is persisted lazily, so
//! entries past it may have been acknowledged) and no entry is dropped or renumbered, so v2 indexes
//! and v3 revisions are those of the source; a member without a snapshot file keeps its whole log.
//!
//! Files: `read.rs` reads and replays the source, `write.rs` writes the copy, `tests.rs` the scenarios.

mod read;
#[cfg(test)]
mod tests;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use raft::NodeId;

use crate::storage::disk::Disk;
use crate::storage::wal::WalSnapshot;

/// How many times a read that raced with a running member is repeated before giving up.
const MAX_READ_ATTEMPTS: usize = 5;

/// Where the member is and where its copy goes (etcdctl's `--data-dir`, `--wal-dir`, `--backup-dir`,
/// `--backup-wal-dir`; a WAL dir not given is `<dir>/member/wal`).
#[derive(Clone, Debug)]
pub struct BackupPaths {
    pub data_dir: PathBuf,
    pub wal_dir: Option<PathBuf>,
    pub backup_dir: PathBuf,
    pub backup_wal_dir: Option<PathBuf>,
}

impl BackupPaths {
    fn source_snap_dir(&self) -> PathBuf {
        self.data_dir.join("member").join("snap")
    }

    fn source_wal_dir(&self) -> PathBuf {
        self.wal_dir.clone().unwrap_or_else(|| self.data_dir.join("member").join("wal"))
    }

    fn backup_snap_dir(&self) -> PathBuf {
        self.backup_dir.join("member").join("snap")
    }

    fn backup_wal_dir(&self) -> PathBuf {
        self.backup_wal_dir.clone().unwrap_or_else(|| self.backup_dir.join("member").join("wal"))
    }
}

/// The copy's new identity (the caller draws it: nothing below the IO layer uses randomness).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewIdentity {
    pub member_id: NodeId,
    pub cluster_id: u64,
}

/// What was copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSummary {
    pub member_id: NodeId,
    pub cluster_id: u64,
    /// The snapshot copied (`None` when the member had none yet).
    pub snapshot: Option<WalSnapshot>,
    /// The log entries copied, all above the snapshot.
    pub entries: usize,
    pub last_index: u64,
    /// Where a torn write at the end of the source's last segment began (the copy ends before it).
    pub torn_at: Option<(PathBuf, u64)>,
}

/// Copies the member at `paths.data_dir` to `paths.backup_dir` under `identity`.
pub fn backup(
    disk: Arc<dyn Disk>,
    paths: &BackupPaths,
    identity: NewIdentity,
) -> Result<BackupSummary, String> {
    assert!(identity.member_id != 0 && identity.cluster_id != 0, "IDs are never zero");
    let backup_wal_dir = paths.backup_wal_dir();
    refuse_existing_backup(&*disk, &backup_wal_dir)?;
    let image = read_with_retries(&*disk, &paths.source_snap_dir(), &paths.source_wal_dir())?;
    write::write_backup(disk, &paths.backup_snap_dir(), &backup_wal_dir, &image, identity)?;
    Ok(BackupSummary {
        member_id: identity.member_id,
        cluster_id: identity.cluster_id,
        snapshot: image.snapshot.as_ref().map(|s| WalSnapshot { index: s.meta.index, term: s.meta.term }),
        entries: image.entries.len(),
        last_index: image.last_index(),
        torn_at: image.torn_at.clone(),
    })
}

/// A backup never overwrites another data dir's WAL.
fn refuse_existing_backup(disk: &dyn Disk, backup_wal_dir: &Path) -> Result<(), String> {
    match crate::storage::wal::Wal::exists(disk, backup_wal_dir) {
        Ok(false) => Ok(()),
        Ok(true) => Err(format!("wal: {} already holds a WAL", backup_wal_dir.display())),
        Err(error) => Err(error.to_string()),
    }
}

/// Reads the source, repeating a read that a running member's writes, rotations or purges spoiled.
fn read_with_retries(disk: &dyn Disk, snap_dir: &Path, wal_dir: &Path) -> Result<read::MemberImage, String> {
    let mut last_error = String::new();
    for _ in 0..MAX_READ_ATTEMPTS {
        match read::read_member(disk, snap_dir, wal_dir) {
            Ok(image) => return Ok(image),
            Err(read::ReadError::Final(reason)) => return Err(reason),
            Err(read::ReadError::Raced(reason)) => last_error = reason,
        }
    }
    Err(last_error)
}
