//! Reading the member to back up without changing it: every WAL record in order (a torn tail ends
//! the log), the newest snapshot file that loads and has a WAL marker, and the log above it rebuilt by
//! the WAL's replay rules (DESIGN.md, "Replaying"). Nothing is locked, created or repaired, so this
//! works on a running member.

use std::path::{Path, PathBuf};

use raft::Snapshot;
use raft::types::{Entry, HardState};

use crate::codec;
use crate::node::WalMetadata;
use crate::storage::disk::Disk;
use crate::storage::snap::{decode_snapshot, parse_snapshot_file_name};
use crate::storage::wal::listing::{ListedAt, ListedRecord, list_records};
use crate::storage::wal::{SnapshotMarker, WalSnapshot};

/// Snapshot files tried, newest first, before giving up (the node keeps five by default).
const MAX_SNAPSHOT_CANDIDATES: usize = 16;

/// Everything the copy is made of.
#[derive(Debug)]
pub(super) struct MemberImage {
    pub(super) metadata: WalMetadata,
    pub(super) hard_state: HardState,
    pub(super) snapshot: Option<Snapshot>,
    /// The log above the snapshot: contiguous from its index + 1.
    pub(super) entries: Vec<Entry>,
    pub(super) torn_at: Option<(PathBuf, u64)>,
}

impl MemberImage {
    pub(super) fn snapshot_at(&self) -> WalSnapshot {
        self.snapshot
            .as_ref()
            .map_or_else(WalSnapshot::default, |s| WalSnapshot { index: s.meta.index, term: s.meta.term })
    }

    pub(super) fn last_index(&self) -> u64 {
        self.entries.last().map_or(self.snapshot_at().index, |entry| entry.index)
    }
}

/// Why reading failed: `Raced` may pass on a second read of a running member, `Final` will not.
#[derive(Debug)]
pub(super) enum ReadError {
    Raced(String),
    Final(String),
}

/// Reads the member whose snapshots are in `snap_dir` and WAL in `wal_dir`.
pub(super) fn read_member(
    disk: &dyn Disk,
    snap_dir: &Path,
    wal_dir: &Path,
) -> Result<MemberImage, ReadError> {
    for dir in [snap_dir, wal_dir] {
        if !disk.exists(dir).map_err(|error| ReadError::Final(format!("{}: {error}", dir.display())))? {
            return Err(ReadError::Final(format!("open {}: no such file or directory", dir.display())));
        }
    }
    let listing = list_records(disk, wal_dir);
    if let Some(damage) = listing.damage {
        return Err(ReadError::Raced(damage.to_string()));
    }
    let metadata = first_metadata(&listing.records)?;
    let markers: Vec<WalSnapshot> = listing
        .records
        .iter()
        .filter_map(|listed| match &listed.record {
            ListedRecord::Snapshot(marker) => Some(marker.snapshot),
            _ => None,
        })
        .collect();
    let mut failures = Vec::new();
    for candidate in snapshot_candidates(disk, snap_dir, &markers)? {
        let snapshot = match candidate {
            None => None,
            Some(path) => match load_snapshot(disk, &path) {
                Ok(snapshot) => Some(snapshot),
                Err(failure) => {
                    failures.push(failure);
                    continue;
                }
            },
        };
        let at = snapshot
            .as_ref()
            .map_or_else(WalSnapshot::default, |s| WalSnapshot { index: s.meta.index, term: s.meta.term });
        match replay(&listing.records, at) {
            Ok((hard_state, entries)) => {
                let torn_at = listing.torn_at;
                return Ok(MemberImage { metadata, hard_state, snapshot, entries, torn_at });
            }
            Err(failure) => failures.push(failure),
        }
    }
    Err(ReadError::Raced(failures.join("; ")))
}

/// The WAL's metadata (every segment repeats it).
fn first_metadata(records: &[ListedAt]) -> Result<WalMetadata, ReadError> {
    let bytes = records
        .iter()
        .find_map(|listed| match &listed.record {
            ListedRecord::Metadata(bytes) => Some(bytes),
            _ => None,
        })
        .ok_or_else(|| ReadError::Raced("the WAL has no metadata record".to_string()))?;
    codec::decode(bytes).map_err(|error| ReadError::Final(format!("unreadable WAL metadata: {error}")))
}

/// The snapshot files with a WAL marker, newest first, then `None` (no snapshot: the whole log),
/// which only works while the log still starts at index 1.
fn snapshot_candidates(
    disk: &dyn Disk,
    snap_dir: &Path,
    markers: &[WalSnapshot],
) -> Result<Vec<Option<PathBuf>>, ReadError> {
    let names =
        disk.list(snap_dir).map_err(|error| ReadError::Raced(format!("{}: {error}", snap_dir.display())))?;
    let mut files: Vec<(WalSnapshot, PathBuf)> = names
        .iter()
        .filter_map(|name| Some((parse_snapshot_file_name(name)?, snap_dir.join(name))))
        .filter(|(at, _)| markers.contains(at))
        .collect();
    files.sort_by_key(|(at, _)| std::cmp::Reverse((at.index, at.term)));
    files.truncate(MAX_SNAPSHOT_CANDIDATES);
    let mut candidates: Vec<Option<PathBuf>> = files.into_iter().map(|(_, path)| Some(path)).collect();
    candidates.push(None);
    Ok(candidates)
}

fn load_snapshot(disk: &dyn Disk, path: &Path) -> Result<Snapshot, String> {
    let bytes = disk.read(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let snapshot = decode_snapshot(path, bytes).map_err(|error| error.to_string())?;
    let named = path.file_name().and_then(|name| name.to_str()).and_then(parse_snapshot_file_name);
    let header = WalSnapshot { index: snapshot.meta.index, term: snapshot.meta.term };
    if named != Some(header) {
        return Err(format!("{}: the header disagrees with the name", path.display()));
    }
    Ok(snapshot)
}

/// The newest hard state and the log above `at`, by the WAL's replay rules: a write at an index cuts
/// the log there; a write at or below `at` voids everything collected above it; a marker that replaced
/// the log voids everything before it.
fn replay(records: &[ListedAt], at: WalSnapshot) -> Result<(HardState, Vec<Entry>), String> {
    let mut hard_state = HardState::default();
    let mut entries: Vec<Entry> = Vec::new();
    let mut marker_found = at == WalSnapshot::default();
    for listed in records {
        match &listed.record {
            ListedRecord::HardState(state) => hard_state = *state,
            ListedRecord::Snapshot(marker) => {
                marker_found |= marker.snapshot == at;
                apply_marker(marker, at, &mut entries)?;
            }
            ListedRecord::Entries(batch) => {
                for entry in batch {
                    apply_entry(entry, at, &mut entries, listed)?;
                }
            }
            ListedRecord::Crc { .. } | ListedRecord::Metadata(_) => {}
        }
    }
    if !marker_found {
        return Err(format!("no WAL marker for the snapshot at index {} term {}", at.index, at.term));
    }
    if let Some(first) = entries.first()
        && (first.index != at.index + 1 || first.term < at.term)
    {
        return Err(format!("the log does not continue the snapshot at index {}", at.index));
    }
    Ok((hard_state, entries))
}

fn apply_marker(marker: &SnapshotMarker, at: WalSnapshot, entries: &mut Vec<Entry>) -> Result<(), String> {
    if !marker.replaces_log {
        return Ok(());
    }
    if marker.snapshot.index > at.index {
        return Err(format!("the log was replaced by a snapshot at index {}", marker.snapshot.index));
    }
    entries.clear();
    Ok(())
}

fn apply_entry(
    entry: &Entry,
    at: WalSnapshot,
    entries: &mut Vec<Entry>,
    listed: &ListedAt,
) -> Result<(), String> {
    if entry.index <= at.index {
        entries.clear();
        return Ok(());
    }
    let position = (entry.index - at.index - 1) as usize;
    if position > entries.len() {
        return Err(format!(
            "{} at offset {}: entry {} leaves a gap after index {}",
            listed.file.display(),
            listed.offset,
            entry.index,
            at.index + entries.len() as u64
        ));
    }
    entries.truncate(position);
    entries.push(entry.clone());
    debug_assert_eq!(entries.last().map(|last| last.index), Some(at.index + entries.len() as u64));
    Ok(())
}
