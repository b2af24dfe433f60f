//! Target `wal_open`: arbitrary bytes as WAL segment files on a `MemDisk`, then the WAL's readers
//! (`Wal::snapshot_markers`, `Wal::read_metadata`) and `Wal::open`.
//!
//! Input: a mode byte, then either one raw segment file (the fuzzer against the checksums and the
//! torn-tail rules) or, with [`FRAMED`], records that the harness frames with correct CRCs (the
//! fuzzer against record decoding and replay), possibly over several segments.
//!
//! Checks: nothing panics; a refusal is `Corrupt` naming one of the segment files and an offset
//! inside it (or a snapshot-marker refusal) and changes no file; a recovery has a log that is
//! contiguous above the snapshot with terms that never decrease, cuts at most a torn tail off the
//! LAST segment (and says so), agrees with the read-only readers, opens again to exactly the same
//! state with no warning, and (single segment) takes an append that a further open reads back.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use raft::types::{Entry, EntryPayload};
use server::storage::disk::{Disk, MemDisk};
use server::storage::wal::{
    Recovered, RecoveryWarning, Wal, WalError, WalOptions, WalSnapshot, segment_file_name,
};

use crate::byte_source::ByteSource;
use crate::wal_framing::{CRC_RECORD_TYPE, crc_record_payload, frame};

/// Where the segments are written on the memory disk.
pub const WAL_DIR: &str = "/data/member/wal";
/// Mode bit: the rest of the input is records for the harness to frame (else one raw segment).
pub const FRAMED: u8 = 1;
/// Mode bit: open at a snapshot (index, term: one byte each) read next (else at none).
pub const AT_SNAPSHOT: u8 = 2;
/// In framed input, this operation byte starts the next segment (its first index: one byte).
pub const NEXT_SEGMENT: u8 = 0xFF;
/// Segments one input may make.
const MAX_SEGMENTS: usize = 8;

/// One segment file to write: its name's first index and its bytes.
#[derive(Debug, Default)]
struct SegmentFile {
    first_index: u64,
    bytes: Vec<u8>,
}

pub fn check(data: &[u8]) {
    let mut source = ByteSource::new(data);
    let mode = source.u8();
    let snapshot = if mode & AT_SNAPSHOT != 0 {
        WalSnapshot { index: source.u8().into(), term: source.u8().into() }
    } else {
        WalSnapshot::default()
    };
    let segments = if mode & FRAMED != 0 {
        framed_segments(&mut source)
    } else {
        vec![SegmentFile { first_index: 0, bytes: source.remaining().to_vec() }]
    };
    let disk = MemDisk::new();
    let paths = write_segments(&disk, &segments);
    let first_indexes: Vec<u64> = segments.iter().map(|segment| segment.first_index).collect();
    check_open(&disk, &paths, &first_indexes, snapshot);
}

/// Frames the input's records: an operation byte ([`NEXT_SEGMENT`], or a record type taken modulo
/// 8 so that invalid types stay likely but rare), a u16 length and the payload. An empty CRC record
/// payload is filled in with the right link to the previous segment and the format version.
fn framed_segments(source: &mut ByteSource) -> Vec<SegmentFile> {
    let mut segments = vec![SegmentFile::default()];
    let mut chain = 0u32;
    let mut previous_segment_crc = 0u32;
    // Every pass reads at least one byte, so the loop ends with the input.
    while !source.is_empty() {
        let operation = source.u8();
        if operation == NEXT_SEGMENT {
            if segments.len() < MAX_SEGMENTS {
                previous_segment_crc = chain;
                chain = 0;
                segments.push(SegmentFile { first_index: source.u8().into(), bytes: Vec::new() });
            }
            continue;
        }
        let record_type = operation % 8;
        let length = usize::from(source.u16());
        let mut payload = source.take(length).to_vec();
        if record_type == CRC_RECORD_TYPE && payload.is_empty() {
            payload = crc_record_payload(previous_segment_crc).to_vec();
        }
        let segment = segments.last_mut().expect("at least one segment");
        chain = frame(&mut segment.bytes, record_type, &payload, chain);
    }
    segments
}

fn write_segments(disk: &MemDisk, segments: &[SegmentFile]) -> Vec<PathBuf> {
    let dir = Path::new(WAL_DIR);
    disk.create_dir_all(dir).expect("memory disk");
    let paths: Vec<PathBuf> = segments
        .iter()
        .enumerate()
        .map(|(sequence, segment)| {
            let path = dir.join(segment_file_name(sequence as u64, segment.first_index));
            disk.create_new(&path).expect("memory disk");
            disk.append(&path, &segment.bytes).expect("memory disk");
            disk.sync_file(&path).expect("memory disk");
            path
        })
        .collect();
    disk.sync_dir(dir).expect("memory disk");
    paths
}

fn lengths(disk: &MemDisk, paths: &[PathBuf]) -> Vec<u64> {
    paths.iter().map(|path| disk.file_len(path).expect("segments stay")).collect()
}

fn check_open(disk: &MemDisk, paths: &[PathBuf], first_indexes: &[u64], snapshot: WalSnapshot) {
    let dir = Path::new(WAL_DIR);
    let lengths_before = lengths(disk, paths);
    let markers = Wal::snapshot_markers(disk, dir);
    let metadata = Wal::read_metadata(disk, dir);
    for error in [markers.as_ref().err(), metadata.as_ref().err()].into_iter().flatten() {
        check_refusal(error, paths, &lengths_before);
    }
    assert_eq!(lengths(disk, paths), lengths_before, "the read-only readers change nothing");
    let shared: Arc<dyn Disk> = Arc::new(disk.clone());
    let (wal, recovered) = match Wal::open(shared.clone(), dir, snapshot, WalOptions::default()) {
        Ok(opened) => opened,
        Err(error) => {
            check_refusal(&error, paths, &lengths_before);
            assert_eq!(lengths(disk, paths), lengths_before, "a refused WAL is left as it was");
            return;
        }
    };
    check_log(&recovered, snapshot);
    assert_eq!(wal.last_index(), snapshot.index + recovered.entries.len() as u64);
    check_torn_tail_only(disk, paths, &lengths_before, &recovered.warnings);
    let replays_every_segment =
        first_indexes.iter().rposition(|&first| first <= snapshot.index.saturating_add(1)) == Some(0);
    if replays_every_segment {
        let metadata = metadata.expect("a WAL that opens has readable metadata");
        assert_eq!(metadata, recovered.metadata, "read_metadata agrees with open");
        let mut replayed_markers = recovered.snapshot_markers.clone();
        replayed_markers.dedup();
        assert_eq!(markers.expect("a WAL that opens has readable markers"), replayed_markers);
    }
    drop(wal);
    let (wal, again) = Wal::open(shared.clone(), dir, snapshot, WalOptions::default())
        .expect("a WAL that opened once opens again");
    assert!(again.warnings.is_empty(), "the torn tail was cut the first time: {:?}", again.warnings);
    assert_eq!(same_state(&again), same_state(&recovered), "a second open recovers the same state");
    if paths.len() == 1 {
        check_append(shared, wal, recovered, snapshot);
    }
}

/// What a recovery hands back apart from its warnings.
fn same_state(recovered: &Recovered) -> (&[u8], raft::types::HardState, &[Entry], &[WalSnapshot]) {
    (&recovered.metadata, recovered.hard_state, &recovered.entries, &recovered.snapshot_markers)
}

/// A refusal names one of the segment files and a place inside it, or is about snapshot markers.
fn check_refusal(error: &WalError, paths: &[PathBuf], lengths_before: &[u64]) {
    match error {
        WalError::Corrupt { file, offset, reason } => {
            let position = paths.iter().position(|path| path == file);
            let position = position.unwrap_or_else(|| panic!("corruption in an unknown file: {error}"));
            assert!(*offset <= lengths_before[position], "offset {offset} beyond the file: {error}");
            let text = error.to_string();
            assert!(text.contains(&file.display().to_string()), "the error names the file: {text}");
            assert!(text.contains(&format!("offset {offset}")), "the error names the offset: {text}");
            assert!(!reason.is_empty(), "the error says why");
        }
        WalError::SnapshotNotFound { .. } | WalError::SnapshotRequired { .. } => {}
        other => panic!("a damaged WAL on a healthy disk must be refused as corrupt, not: {other:?}"),
    }
}

/// The recovered log: indexes from the snapshot's on, consecutive, terms never decreasing and
/// never below the snapshot's.
fn check_log(recovered: &Recovered, snapshot: WalSnapshot) {
    let mut previous_term = snapshot.term;
    for (position, entry) in recovered.entries.iter().enumerate() {
        assert_eq!(entry.index, snapshot.index + 1 + position as u64, "a contiguous log");
        assert!(entry.term >= previous_term, "terms never decrease: {entry:?} after term {previous_term}");
        previous_term = entry.term;
    }
    if snapshot != WalSnapshot::default() {
        assert!(recovered.snapshot_markers.contains(&snapshot), "opened at a recorded snapshot");
    }
}

/// Only the last segment may lose bytes, only its torn tail, and only with a warning saying so.
fn check_torn_tail_only(
    disk: &MemDisk,
    paths: &[PathBuf],
    lengths_before: &[u64],
    warnings: &[RecoveryWarning],
) {
    let lengths_after = lengths(disk, paths);
    let last = paths.len() - 1;
    assert_eq!(lengths_after[..last], lengths_before[..last], "only the last segment is ever cut");
    match warnings {
        [] => assert_eq!(lengths_after[last], lengths_before[last], "nothing cut without a warning"),
        [RecoveryWarning::TornTail { file, offset, dropped_bytes }] => {
            assert_eq!(file, &paths[last], "the torn tail is in the last segment");
            assert_eq!(offset + dropped_bytes, lengths_before[last], "the warning accounts for the cut");
            assert_eq!(lengths_after[last], *offset, "the file is cut where the warning says");
        }
        more => panic!("more than one torn tail: {more:?}"),
    }
}

/// One more entry and a hard state saved after recovery are read back by the next open, after the
/// entries recovered before.
fn check_append(disk: Arc<dyn Disk>, mut wal: Wal, recovered: Recovered, snapshot: WalSnapshot) {
    let last_term = recovered.entries.last().map_or(snapshot.term, |entry| entry.term);
    let next = Entry {
        term: last_term,
        index: wal.last_index() + 1,
        payload: EntryPayload::Normal(Bytes::from_static(b"appended after recovery")),
    };
    let mut hard_state = recovered.hard_state;
    hard_state.term = hard_state.term.max(last_term);
    wal.save(Some(&hard_state), std::slice::from_ref(&next)).expect("save after recovery");
    wal.sync().expect("sync after recovery");
    drop(wal);
    let dir = Path::new(WAL_DIR);
    let (_, reopened) = Wal::open(disk, dir, snapshot, WalOptions::default())
        .expect("a WAL appended to after recovery opens");
    let mut expected = recovered.entries;
    expected.push(next);
    assert_eq!(reopened.entries, expected, "the append follows the recovered log");
    assert_eq!(reopened.hard_state, hard_state);
    assert!(reopened.warnings.is_empty());
}
