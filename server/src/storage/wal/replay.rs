//! Replay: turning the records scanned from the segments into what recovery hands back (the
//! metadata, the newest hard state, every snapshot marker, and the log above the snapshot the node
//! restored), by the rules in DESIGN.md ("Replaying"). Pure: it reads no disk.

use std::path::Path;

use raft::types::{Entry, HardState, Index};

use super::WalSnapshot;
use super::error::{WalError, corrupt};
use super::record::{Record, SnapshotMarker};
use super::scan::ScannedRecord;
use super::segment::Segment;

/// What replay rebuilt from the records.
#[derive(Debug)]
pub(super) struct Replayed {
    pub(super) metadata: Vec<u8>,
    pub(super) hard_state: HardState,
    /// The log above the snapshot: indexes `snapshot.index + 1 ..`, contiguous.
    pub(super) entries: Vec<Entry>,
    /// Every snapshot marker read, oldest first.
    pub(super) markers: Vec<WalSnapshot>,
    /// The newest of `markers` (the default when there is none).
    pub(super) newest_snapshot: WalSnapshot,
}

/// Replays `records`, read from `segments` (which they point into by position), on top of the
/// snapshot at `snapshot`. `dir` names the WAL in errors.
pub(super) fn replay(
    dir: &Path,
    segments: &[Segment],
    records: Vec<ScannedRecord>,
    snapshot: WalSnapshot,
) -> Result<Replayed, WalError> {
    assert!(!segments.is_empty(), "replay needs the segments the records came from");
    let mut replay = Replay::new(dir, snapshot);
    for record in records {
        let path = &segments[record.segment].path;
        replay.apply(record.record, path, record.offset as usize)?;
    }
    replay.finish(&segments[0].path)
}

/// The state replay builds as it goes.
struct Replay<'a> {
    dir: &'a Path,
    /// The snapshot the node restored: the log is rebuilt above its index.
    snapshot: WalSnapshot,
    metadata: Option<Vec<u8>>,
    hard_state: HardState,
    /// Indexes `snapshot.index + 1 ..`, contiguous.
    entries: Vec<Entry>,
    markers: Vec<WalSnapshot>,
    /// Whether a marker for `snapshot` was read (no marker is needed for the empty snapshot).
    snapshot_found: bool,
    newest_snapshot: WalSnapshot,
}

impl<'a> Replay<'a> {
    fn new(dir: &'a Path, snapshot: WalSnapshot) -> Replay<'a> {
        Replay {
            dir,
            snapshot,
            metadata: None,
            hard_state: HardState::default(),
            entries: Vec::new(),
            markers: Vec::new(),
            snapshot_found: snapshot == WalSnapshot::default(),
            newest_snapshot: WalSnapshot::default(),
        }
    }

    /// The index of the last entry replayed so far (the snapshot's when there is none).
    fn last_index(&self) -> Index {
        self.snapshot.index + self.entries.len() as u64
    }

    /// Applies one record read at `offset` of the segment file `path`.
    fn apply(&mut self, record: Record, path: &Path, offset: usize) -> Result<(), WalError> {
        match record {
            Record::Crc { .. } | Record::SkippedEntries => Ok(()),
            Record::Metadata(bytes) => self.apply_metadata(bytes, path, offset),
            Record::HardState(state) => {
                self.hard_state = state;
                Ok(())
            }
            Record::Snapshot(marker) => self.apply_marker(marker),
            Record::Entries(batch) => {
                batch.into_iter().try_for_each(|entry| self.apply_entry(entry, path, offset))
            }
        }
    }

    /// Every segment repeats the metadata; all copies must agree.
    fn apply_metadata(&mut self, bytes: Vec<u8>, path: &Path, offset: usize) -> Result<(), WalError> {
        match &self.metadata {
            None => self.metadata = Some(bytes),
            Some(known) if *known == bytes => {}
            Some(_) => return Err(corrupt(path, offset, "metadata differs from earlier segments")),
        }
        Ok(())
    }

    fn apply_marker(&mut self, marker: SnapshotMarker) -> Result<(), WalError> {
        let at = marker.snapshot;
        self.markers.push(at);
        self.newest_snapshot = self.newest_snapshot.max(at);
        if at.index == self.snapshot.index {
            if at.term != self.snapshot.term {
                return Err(WalError::SnapshotNotFound {
                    wanted: self.snapshot,
                    dir: self.dir.to_path_buf(),
                });
            }
            self.snapshot_found = true;
        }
        if marker.replaces_log {
            // The node threw its log away for this snapshot: no entry written before the marker
            // survives. The entries up to its index live only in that snapshot.
            if at.index > self.snapshot.index {
                return Err(WalError::SnapshotRequired { found: at, wanted: self.snapshot });
            }
            self.entries.clear();
        }
        Ok(())
    }

    /// A write at `entry.index` cuts the log there (replacing that entry and every one after it)
    /// and appends the entry.
    fn apply_entry(&mut self, entry: Entry, path: &Path, offset: usize) -> Result<(), WalError> {
        if entry.index <= self.snapshot.index {
            // Covered by the snapshot, but a write here still cut the log after it: whatever was
            // collected above the snapshot came before and is void.
            self.entries.clear();
            return Ok(());
        }
        let position_in_log = (entry.index - self.snapshot.index - 1) as usize;
        if position_in_log > self.entries.len() {
            let reason =
                format!("entry {} follows index {} (a gap in the log)", entry.index, self.last_index());
            return Err(corrupt(path, offset, reason));
        }
        self.entries.truncate(position_in_log);
        // (Against the snapshot's term only at the end: entries written before an installed
        // snapshot's marker may be older, and the marker voids them.)
        let previous_term = self.entries.last().map_or(0, |previous| previous.term);
        if entry.term < previous_term {
            let reason = format!(
                "entry {} has term {} below its predecessor's {previous_term}",
                entry.index, entry.term
            );
            return Err(corrupt(path, offset, reason));
        }
        let index = entry.index;
        self.entries.push(entry);
        assert_eq!(self.last_index(), index, "the log stays consecutive above the snapshot");
        Ok(())
    }

    /// The checks only the whole log can pass: the snapshot was recorded, and the log above it
    /// starts at or above its term. `first_path` (the first segment read) names the log in errors.
    fn finish(self, first_path: &Path) -> Result<Replayed, WalError> {
        if !self.snapshot_found {
            return Err(WalError::SnapshotNotFound { wanted: self.snapshot, dir: self.dir.to_path_buf() });
        }
        if let Some(first) = self.entries.first()
            && first.term < self.snapshot.term
        {
            let reason = format!(
                "entry {} has term {} below the snapshot's {}",
                first.index, first.term, self.snapshot.term
            );
            return Err(corrupt(first_path, 0, reason));
        }
        Ok(Replayed {
            metadata: self.metadata.expect("every scanned segment has a metadata record"),
            hard_state: self.hard_state,
            entries: self.entries,
            markers: self.markers,
            newest_snapshot: self.newest_snapshot,
        })
    }
}
