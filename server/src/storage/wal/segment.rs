//! Segment files: their names (`<seq:016x>-<first_index:016x>.wal`), listing them in order (a hole
//! in the sequence is corruption) and the records that open every segment.

use std::io;
use std::path::{Path, PathBuf};

use raft::types::{HardState, Index};

use super::WalSnapshot;
use super::error::{WalError, io_error};
use super::record::{
    RECORD_HEADER_BYTES, RecordType, SnapshotMarker, WAL_FORMAT_VERSION, frame_encoded, frame_record,
};
use crate::storage::disk::Disk;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Segment {
    pub(super) sequence: u64,
    /// The index the log's next entry had when the segment was started: every live entry in
    /// earlier segments is below it.
    pub(super) first_index: Index,
    pub(super) path: PathBuf,
}

/// The file name of segment `sequence` starting at `first_index`.
pub fn segment_file_name(sequence: u64, first_index: Index) -> String {
    format!("{sequence:016x}-{first_index:016x}.wal")
}

/// Parses `<seq:016x>-<first_index:016x>.wal`; anything else is not a segment.
pub fn parse_segment_file_name(name: &str) -> Option<(u64, Index)> {
    let stem = name.strip_suffix(".wal")?;
    let (sequence, first_index) = stem.split_once('-')?;
    if sequence.len() != 16 || first_index.len() != 16 {
        return None;
    }
    let parse = |text: &str| {
        if text.bytes().all(|byte| byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase()) {
            u64::from_str_radix(text, 16).ok()
        } else {
            None
        }
    };
    Some((parse(sequence)?, parse(first_index)?))
}

/// The segments in `dir`, by sequence number; a hole in the sequence is corruption (a segment that
/// other segments depend on is gone).
pub(super) fn list_segments(disk: &dyn Disk, dir: &Path) -> Result<Vec<Segment>, WalError> {
    let names = match disk.list(dir) {
        Ok(names) => names,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io_error("list", dir)(error)),
    };
    let mut segments: Vec<Segment> = names
        .iter()
        .filter_map(|name| {
            let (sequence, first_index) = parse_segment_file_name(name)?;
            Some(Segment { sequence, first_index, path: dir.join(name) })
        })
        .collect();
    segments.sort_by_key(|segment| segment.sequence);
    for pair in segments.windows(2) {
        if pair[1].sequence != pair[0].sequence + 1 {
            return Err(WalError::Corrupt {
                file: pair[1].path.clone(),
                offset: 0,
                reason: format!("segment sequence jumps from {} to {}", pair[0].sequence, pair[1].sequence),
            });
        }
    }
    Ok(segments)
}

/// The records that open every segment: CRC link, metadata, newest snapshot marker, hard state.
pub(super) fn segment_header(
    previous_crc: u32,
    metadata: &[u8],
    snapshot: WalSnapshot,
    hard_state: &HardState,
) -> Result<(Vec<u8>, u32), WalError> {
    let mut buffer = Vec::with_capacity(4 * RECORD_HEADER_BYTES + metadata.len() + 64);
    let mut chain = frame_record(&mut buffer, RecordType::Crc, 0, |buffer| {
        buffer.extend_from_slice(&previous_crc.to_le_bytes());
        buffer.extend_from_slice(&WAL_FORMAT_VERSION.to_le_bytes());
    })?;
    chain =
        frame_record(&mut buffer, RecordType::Metadata, chain, |buffer| buffer.extend_from_slice(metadata))?;
    let marker = SnapshotMarker { snapshot, replaces_log: false };
    chain = frame_encoded(&mut buffer, RecordType::Snapshot, chain, &marker)?;
    chain = frame_encoded(&mut buffer, RecordType::HardState, chain, hard_state)?;
    Ok((buffer, chain))
}
