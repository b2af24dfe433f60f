//! The write-ahead log: the durable record of everything Raft must not forget (hard state, log
//! entries, where snapshots were taken), in segment files under `<data-dir>/member/wal`.
//!
//! Layout (the precise byte format is in DESIGN.md ("On-disk formats")): segments named
//! `<seq:016x>-<first_index:016x>.wal`; each a sequence of framed records whose CRC32 is chained
//! through the previous record's CRC, so a record from an older file, a reordered write or a missing
//! segment breaks the chain. Every segment opens with a CRC record (carrying the previous segment's
//! last CRC and the format version) and the metadata record, then repeats the newest snapshot marker
//! and hard state, so a segment can be read without the ones before it.
//!
//! Group commit: [`Wal::save`] frames everything one Raft step produced (entries, then hard state)
//! into one buffer and hands it to the disk in ONE append; [`Wal::sync`] is ONE `fdatasync`. A caller
//! that has several steps ready saves them all and syncs once, so throughput rises with load while
//! each sync still covers everything saved before it. Nothing saved is durable before `sync` returns.
//!
//! Failure: any I/O error poisons the WAL (every later call fails with [`WalError::Failed`]). After a
//! failed `fdatasync` the kernel may have dropped the dirty pages, so retrying could report success for
//! data that is gone; the only safe continuation is to stop and recover from what is on disk.
//!
//! Recovery ([`Wal::open`]): a torn tail (an incomplete or zero-filled last record in the LAST segment,
//! the mark of a crash during a write) is cut off and reported as a warning; any other damage is
//! [`WalError::Corrupt`] naming the file and offset. Entries are never silently dropped.
//!
//! Files: this one holds the [`Wal`] handle, opening and the write path; `record.rs` the record
//! format and framing; `segment.rs` segment names, listing and opening records; `scan.rs` reading
//! segments back with the torn-tail rules; `replay.rs` turning the records read into the recovered
//! log; `error.rs` the errors and recovery warnings; `listing.rs` every record with its place, for
//! inspection tools.

mod error;
pub mod listing;
mod record;
mod replay;
mod scan;
mod segment;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use raft::types::{Entry, HardState, Index, Term};
use serde::{Deserialize, Serialize};

pub use error::{RecoveryWarning, WalError};
pub use record::{
    ENTRIES_RECORD_TARGET_BYTES, MAX_RECORD_PAYLOAD_BYTES, RECORD_HEADER_BYTES, RecordType, SnapshotMarker,
    WAL_FORMAT_VERSION,
};
pub use segment::{parse_segment_file_name, segment_file_name};

use crate::storage::disk::Disk;
use error::{corrupt, io_error};
use record::{Record, chain_through, frame_encoded};
use replay::replay;
use scan::{SegmentEnd, scan_segments};
use segment::{Segment, list_segments, segment_header};

/// The default segment size at which the WAL starts a new segment (etcd's 64 MB).
pub const DEFAULT_SEGMENT_SIZE_BYTES: u64 = 64 * 1024 * 1024;
/// etcd's default `--max-wals`.
pub const DEFAULT_MAX_WALS: usize = 5;

/// A position in the log where a snapshot was taken (index and the term of the entry there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WalSnapshot {
    pub index: Index,
    pub term: Term,
}

/// Tunables; etcd's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment that reaches this size is closed and a new one started.
    pub segment_size_bytes: u64,
    /// `--max-wals`: how many segment files to keep at most, counting only those no snapshot still
    /// needs as removable; 0 keeps every segment.
    pub max_wals: usize,
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions { segment_size_bytes: DEFAULT_SEGMENT_SIZE_BYTES, max_wals: DEFAULT_MAX_WALS }
    }
}

/// What [`Wal::open`] read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// The metadata given to [`Wal::create`].
    pub metadata: Vec<u8>,
    /// The newest hard state saved (the default if none was).
    pub hard_state: HardState,
    /// The log after the snapshot the WAL was opened at: indexes `snapshot.index + 1 ..`, contiguous,
    /// with later writes at an index replacing earlier ones (and everything after them).
    pub entries: Vec<Entry>,
    /// Every snapshot marker in the segments read, oldest first.
    pub snapshot_markers: Vec<WalSnapshot>,
    pub warnings: Vec<RecoveryWarning>,
}

/// An open WAL, ready to append at its tail segment.
pub struct Wal {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    options: WalOptions,
    metadata: Vec<u8>,
    /// Every segment on disk, oldest first; the last one takes appends.
    segments: Vec<Segment>,
    /// Bytes in the tail segment.
    tail_bytes: u64,
    /// The CRC of the last record written: the seed of the next one.
    chain: u32,
    /// The index of the last entry in the log (or of the snapshot when the log after it is empty).
    last_index: Index,
    hard_state: HardState,
    /// The newest snapshot marker written, repeated at the start of every new segment.
    newest_snapshot: WalSnapshot,
    /// Snapshots up to this index may release the segments they cover.
    released_to: Index,
    /// Reused framing buffer, so a steady stream of saves allocates nothing.
    buffer: Vec<u8>,
    failed: bool,
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("segments", &self.segments.len())
            .field("tail_bytes", &self.tail_bytes)
            .field("last_index", &self.last_index)
            .field("failed", &self.failed)
            .finish()
    }
}

impl Wal {
    /// Whether `dir` holds a WAL (at least one segment).
    pub fn exists(disk: &dyn Disk, dir: &Path) -> Result<bool, WalError> {
        Ok(!list_segments(disk, dir)?.is_empty())
    }

    /// Makes a new WAL in `dir` whose every segment carries `metadata` (opaque to the WAL). The first
    /// segment is written under a temporary name, synced, then renamed: a crash leaves either no WAL
    /// or a complete one.
    pub fn create(
        disk: Arc<dyn Disk>,
        dir: &Path,
        metadata: &[u8],
        options: WalOptions,
    ) -> Result<Wal, WalError> {
        validate_options(&options)?;
        if metadata.len() > MAX_RECORD_PAYLOAD_BYTES / 2 {
            return Err(WalError::InvalidRequest { reason: format!("metadata of {} bytes", metadata.len()) });
        }
        disk.create_dir_all(dir).map_err(io_error("create directory", dir))?;
        if Wal::exists(&*disk, dir)? {
            return Err(WalError::AlreadyExists { dir: dir.to_path_buf() });
        }
        let mut wal = Wal {
            disk,
            dir: dir.to_path_buf(),
            options,
            metadata: metadata.to_vec(),
            segments: Vec::new(),
            tail_bytes: 0,
            chain: 0,
            last_index: 0,
            hard_state: HardState::default(),
            newest_snapshot: WalSnapshot::default(),
            released_to: 0,
            buffer: Vec::new(),
            failed: false,
        };
        wal.start_segment(0)?;
        Ok(wal)
    }

    /// Every snapshot marker in the WAL, oldest first, reading all segments (a torn tail is
    /// tolerated, nothing is repaired). The node loads the newest snapshot file that has a marker:
    /// a snapshot file without one was written by a node that crashed before recording it.
    pub fn snapshot_markers(disk: &dyn Disk, dir: &Path) -> Result<Vec<WalSnapshot>, WalError> {
        let segments = list_segments(disk, dir)?;
        if segments.is_empty() {
            return Err(WalError::NotFound { dir: dir.to_path_buf() });
        }
        // Only the markers are wanted: entries are checked but not decoded.
        let scanned = scan_segments(disk, &segments, false)?;
        let mut markers: Vec<WalSnapshot> = scanned
            .records
            .iter()
            .filter_map(|scanned| match scanned.record {
                Record::Snapshot(marker) => Some(marker.snapshot),
                _ => None,
            })
            .collect();
        markers.dedup();
        Ok(markers)
    }

    /// The metadata given to [`Wal::create`], read from the oldest segment without opening the WAL for
    /// appending (a restarting node learns its member and cluster IDs from it).
    pub fn read_metadata(disk: &dyn Disk, dir: &Path) -> Result<Vec<u8>, WalError> {
        let segments = list_segments(disk, dir)?;
        let Some(first) = segments.first() else {
            return Err(WalError::NotFound { dir: dir.to_path_buf() });
        };
        let scanned = scan_segments(disk, std::slice::from_ref(first), false)?;
        scanned
            .records
            .into_iter()
            .find_map(|scanned| match scanned.record {
                Record::Metadata(bytes) => Some(bytes),
                _ => None,
            })
            .ok_or_else(|| corrupt(&first.path, 0, "segment has no metadata record"))
    }

    /// Opens the WAL in `dir` for appending and reads back the state after `snapshot` (the snapshot
    /// the node restored, or the default for none): hard state and the entries above its index.
    /// A torn tail is cut off (and reported in `warnings`); other damage fails with `Corrupt`.
    pub fn open(
        disk: Arc<dyn Disk>,
        dir: &Path,
        snapshot: WalSnapshot,
        options: WalOptions,
    ) -> Result<(Wal, Recovered), WalError> {
        validate_options(&options)?;
        let segments = list_segments(&*disk, dir)?;
        if segments.is_empty() {
            return Err(WalError::NotFound { dir: dir.to_path_buf() });
        }
        let start = first_segment_to_replay(&segments, snapshot)?;
        let replayed_segments = &segments[start..];
        let scanned = scan_segments(&*disk, replayed_segments, true)?;
        let replayed = replay(dir, replayed_segments, scanned.records, snapshot)?;
        let tail = segments.last().expect("not empty");
        let (tail_bytes, warnings) = cut_torn_tail(&*disk, tail, scanned.last_end)?;
        let wal = Wal {
            disk,
            dir: dir.to_path_buf(),
            options,
            metadata: replayed.metadata.clone(),
            segments,
            tail_bytes,
            chain: scanned.last_crc,
            last_index: snapshot.index + replayed.entries.len() as u64,
            hard_state: replayed.hard_state,
            newest_snapshot: replayed.newest_snapshot,
            released_to: 0,
            buffer: Vec::new(),
            failed: false,
        };
        assert_eq!(
            replayed.entries.first().map_or(snapshot.index + 1, |entry| entry.index),
            snapshot.index + 1
        );
        assert_eq!(replayed.entries.last().map_or(wal.last_index, |entry| entry.index), wal.last_index);
        let recovered = Recovered {
            metadata: replayed.metadata,
            hard_state: replayed.hard_state,
            entries: replayed.entries,
            snapshot_markers: replayed.markers,
            warnings,
        };
        Ok((wal, recovered))
    }

    /// Frames `entries` (contiguous; the first may rewrite earlier indexes, cutting the log there)
    /// and then `hard_state` into one buffer and writes it with one append. Not durable until
    /// [`Wal::sync`]. Starts a new segment afterwards when the tail reached the size limit.
    pub fn save(&mut self, hard_state: Option<&HardState>, entries: &[Entry]) -> Result<(), WalError> {
        self.check_usable()?;
        if hard_state.is_none() && entries.is_empty() {
            return Ok(());
        }
        self.validate_entries(entries)?;
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        let framed = self.frame_batch(&mut buffer, hard_state, entries);
        let result = framed.and_then(|chain| self.append_frames(&buffer, chain));
        self.buffer = buffer;
        result?;
        if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
            let last_index_before = self.last_index;
            self.last_index = last.index;
            // Consecutive from the first, which followed the log at most one past its end.
            assert_eq!(
                self.last_index,
                first.index + entries.len() as u64 - 1,
                "saved entries are consecutive"
            );
            assert!(self.last_index <= last_index_before + entries.len() as u64);
        }
        if let Some(state) = hard_state {
            self.hard_state = *state;
        }
        if self.tail_bytes >= self.options.segment_size_bytes {
            self.rotate()?;
        }
        Ok(())
    }

    /// One `fdatasync` of the tail segment: everything saved so far is durable when it returns.
    pub fn sync(&mut self) -> Result<(), WalError> {
        self.check_usable()?;
        let path = &self.segments.last().expect("a WAL always has a tail").path;
        let result = self.disk.sync_file(path).map_err(io_error("fdatasync", path));
        self.failed = result.is_err();
        result
    }

    /// Records (durably, with its own sync) that a snapshot of the node's own state exists at
    /// `snapshot`; the log above it stays. Write the snapshot file first, then the marker.
    pub fn save_snapshot_marker(&mut self, snapshot: WalSnapshot) -> Result<(), WalError> {
        self.write_marker(SnapshotMarker { snapshot, replaces_log: false })
    }

    /// Records (durably) that the node installed a leader's snapshot at `snapshot` and discarded its
    /// log: on recovery no entry above its index written before this marker survives.
    pub fn save_installed_snapshot_marker(&mut self, snapshot: WalSnapshot) -> Result<(), WalError> {
        self.write_marker(SnapshotMarker { snapshot, replaces_log: true })?;
        self.last_index = snapshot.index;
        Ok(())
    }

    /// Allows removing the segments a snapshot at `index` covers (those whose every live entry is at or
    /// below `index`), then removes the oldest such segments while more than `max_wals` remain. The
    /// tail segment is never removed. Returns the paths removed.
    pub fn release_to(&mut self, index: Index) -> Result<Vec<PathBuf>, WalError> {
        self.check_usable()?;
        if index > self.newest_snapshot.index {
            return Err(WalError::InvalidRequest {
                reason: format!(
                    "release to {index} beyond the newest snapshot marker {}",
                    self.newest_snapshot.index
                ),
            });
        }
        self.released_to = self.released_to.max(index);
        assert!(self.released_to <= self.newest_snapshot.index, "only what a snapshot covers is released");
        self.purge()
    }

    fn purge(&mut self) -> Result<Vec<PathBuf>, WalError> {
        if self.options.max_wals == 0 {
            return Ok(Vec::new());
        }
        // Segment i is released when segment i + 1 starts at or below released_to + 1: everything
        // live in segment i is then covered by the snapshot.
        let releasable = self
            .segments
            .windows(2)
            .take_while(|pair| pair[1].first_index <= self.released_to.saturating_add(1))
            .count();
        let excess = self.segments.len().saturating_sub(self.options.max_wals);
        let remove = releasable.min(excess);
        assert!(remove < self.segments.len(), "the tail segment is never removed");
        let mut removed = Vec::with_capacity(remove);
        for segment in self.segments.drain(..remove) {
            // Oldest first: a crash part-way leaves a contiguous run of segments.
            if let Err(source) = self.disk.remove(&segment.path) {
                self.failed = true;
                return Err(WalError::Io { operation: "remove", path: segment.path, source });
            }
            removed.push(segment.path);
        }
        if !removed.is_empty() {
            // The oldest segment left still holds the entry after the snapshot (or starts earlier):
            // nothing the snapshot does not cover is gone.
            assert!(
                self.segments[0].first_index <= self.released_to.saturating_add(1),
                "the segment holding the snapshot's next index is kept"
            );
            self.disk.sync_dir(&self.dir).map_err(|source| {
                self.failed = true;
                WalError::Io { operation: "fsync directory", path: self.dir.clone(), source }
            })?;
        }
        Ok(removed)
    }

    /// The index of the last entry (or of the newest installed snapshot if the log above it is empty).
    pub fn last_index(&self) -> Index {
        self.last_index
    }

    /// The segment files on disk, oldest first.
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.segments.iter().map(|segment| segment.path.clone()).collect()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_usable(&self) -> Result<(), WalError> {
        if self.failed { Err(WalError::Failed) } else { Ok(()) }
    }

    fn validate_entries(&self, entries: &[Entry]) -> Result<(), WalError> {
        let Some(first) = entries.first() else { return Ok(()) };
        if first.index == 0 || first.index > self.last_index + 1 {
            return Err(WalError::InvalidRequest {
                reason: format!("entry {} cannot follow the last index {}", first.index, self.last_index),
            });
        }
        for pair in entries.windows(2) {
            if pair[1].index != pair[0].index + 1 || pair[1].term < pair[0].term {
                return Err(WalError::InvalidRequest {
                    reason: format!(
                        "entries not contiguous: ({}, term {}) then ({}, term {})",
                        pair[0].index, pair[0].term, pair[1].index, pair[1].term
                    ),
                });
            }
        }
        Ok(())
    }

    /// Frames entries (in records of about [`ENTRIES_RECORD_TARGET_BYTES`] bytes) then the hard state.
    fn frame_batch(
        &self,
        buffer: &mut Vec<u8>,
        hard_state: Option<&HardState>,
        entries: &[Entry],
    ) -> Result<u32, WalError> {
        let mut chain = self.chain;
        let mut rest = entries;
        while !rest.is_empty() {
            let mut record_bytes = 0;
            let mut count = 0;
            while count < rest.len()
                && (count == 0 || record_bytes + rest[count].size_bytes() <= ENTRIES_RECORD_TARGET_BYTES)
            {
                record_bytes += rest[count].size_bytes();
                count += 1;
            }
            assert!(count >= 1, "every entries record takes at least one entry");
            chain = frame_encoded(buffer, RecordType::Entries, chain, &rest[..count])?;
            rest = &rest[count..];
        }
        if let Some(state) = hard_state {
            chain = frame_encoded(buffer, RecordType::HardState, chain, state)?;
        }
        Ok(chain)
    }

    fn write_marker(&mut self, marker: SnapshotMarker) -> Result<(), WalError> {
        self.check_usable()?;
        let mut buffer = Vec::with_capacity(64);
        let chain = frame_encoded(&mut buffer, RecordType::Snapshot, self.chain, &marker)?;
        self.append_frames(&buffer, chain)?;
        self.newest_snapshot = self.newest_snapshot.max(marker.snapshot);
        self.sync()
    }

    /// Appends framed records to the tail segment in one write and moves the tail's cursors past
    /// them. `frames` must be whole records chained from the tail's last CRC and ending with `chain`.
    fn append_frames(&mut self, frames: &[u8], chain: u32) -> Result<(), WalError> {
        debug_assert_eq!(chain_through(frames, self.chain), Some(chain), "frames chain on from the tail");
        let path = &self.segments.last().expect("a WAL always has a tail").path;
        if let Err(source) = self.disk.append(path, frames) {
            self.failed = true;
            return Err(WalError::Io { operation: "write", path: path.clone(), source });
        }
        self.chain = chain;
        self.tail_bytes += frames.len() as u64;
        Ok(())
    }

    /// Closes the tail (synced) and starts the next segment at the next index.
    fn rotate(&mut self) -> Result<(), WalError> {
        self.sync()?;
        self.start_segment(self.last_index + 1)?;
        self.purge()?;
        Ok(())
    }

    /// Starts the next segment in the sequence (0 for a new WAL), linked to the CRC the tail ended
    /// with. Writes its opening records under a temporary name, syncs them, renames the file into
    /// place and syncs the directory, so the segment never exists half-made under its real name.
    fn start_segment(&mut self, first_index: Index) -> Result<(), WalError> {
        let result = self.try_start_segment(first_index);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn try_start_segment(&mut self, first_index: Index) -> Result<(), WalError> {
        let sequence = self.segments.last().map_or(0, |tail| tail.sequence + 1);
        // The first segment's CRC record links to nothing (0); every later one to its predecessor's
        // last record.
        let previous_crc = self.chain;
        assert!(!self.segments.is_empty() || previous_crc == 0, "a new WAL's chain starts at 0");
        let (header, chain) =
            segment_header(previous_crc, &self.metadata, self.newest_snapshot, &self.hard_state)?;
        debug_assert_eq!(chain_through(&header, 0), Some(chain), "a segment's chain starts at 0");
        let path = self.dir.join(segment_file_name(sequence, first_index));
        let temporary = self.dir.join(format!("{}.tmp", segment_file_name(sequence, first_index)));
        let disk = &*self.disk;
        if disk.exists(&temporary).map_err(io_error("stat", &temporary))? {
            disk.remove(&temporary).map_err(io_error("remove", &temporary))?;
        }
        disk.create_new(&temporary).map_err(io_error("create", &temporary))?;
        disk.append(&temporary, &header).map_err(io_error("write", &temporary))?;
        disk.sync_file(&temporary).map_err(io_error("fdatasync", &temporary))?;
        disk.rename(&temporary, &path).map_err(io_error("rename", &temporary))?;
        disk.sync_dir(&self.dir).map_err(io_error("fsync directory", &self.dir))?;
        self.segments.push(Segment { sequence, first_index, path });
        self.tail_bytes = header.len() as u64;
        self.chain = chain;
        Ok(())
    }
}

/// The segment holding `snapshot.index + 1`: the last one started at or below it. Every live entry
/// above the snapshot is in it or after it, so replay starts there.
fn first_segment_to_replay(segments: &[Segment], snapshot: WalSnapshot) -> Result<usize, WalError> {
    let next_index = snapshot.index.saturating_add(1);
    segments.iter().rposition(|segment| segment.first_index <= next_index).ok_or_else(|| {
        let reason = format!("no segment covers index {next_index} (they start later)");
        corrupt(&segments[0].path, 0, reason)
    })
}

/// Cuts a torn record off the end of the tail segment (a crash during a write) and makes the cut
/// durable. Returns the tail's length afterwards and the warning to report, if any.
fn cut_torn_tail(
    disk: &dyn Disk,
    tail: &Segment,
    end: SegmentEnd,
) -> Result<(u64, Vec<RecoveryWarning>), WalError> {
    let path = &tail.path;
    let tail_bytes = disk.file_len(path).map_err(io_error("stat", path))?;
    let SegmentEnd::Torn { offset } = end else {
        return Ok((tail_bytes, Vec::new()));
    };
    disk.truncate(path, offset).map_err(io_error("truncate", path))?;
    disk.sync_file(path).map_err(io_error("fdatasync", path))?;
    let warning =
        RecoveryWarning::TornTail { file: path.clone(), offset, dropped_bytes: tail_bytes - offset };
    Ok((offset, vec![warning]))
}

fn validate_options(options: &WalOptions) -> Result<(), WalError> {
    if options.segment_size_bytes < 4096 {
        return Err(WalError::InvalidRequest {
            reason: format!("segment size {} is below 4096 bytes", options.segment_size_bytes),
        });
    }
    Ok(())
}
