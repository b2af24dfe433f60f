//! Every record of a WAL in order with where it was read, for operators (`concord inspect wal`): what
//! could be read, then the first damage (file and offset) or the torn tail a crash left. Reads only;
//! nothing is repaired.

use std::path::{Path, PathBuf};

use raft::types::{Entry, HardState};

use super::error::WalError;
use super::record::{Record, SnapshotMarker};
use super::scan::{SegmentEnd, scan_segments_into};
use super::segment::list_segments;
use crate::storage::disk::Disk;

/// One record as an operator sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListedRecord {
    Crc { previous_crc: u32, version: u32 },
    Metadata(Vec<u8>),
    HardState(HardState),
    Entries(Vec<Entry>),
    Snapshot(SnapshotMarker),
}

/// A record and where it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedAt {
    pub file: PathBuf,
    pub offset: u64,
    pub record: ListedRecord,
}

/// What listing a WAL found.
#[derive(Debug)]
pub struct Listing {
    pub records: Vec<ListedAt>,
    /// The offset in the last segment where a torn write begins (the log ends before it).
    pub torn_at: Option<(PathBuf, u64)>,
    /// The damage that stopped the reading (the records before it are listed).
    pub damage: Option<WalError>,
}

/// Lists the records of the WAL in `dir`, every segment from the first.
pub fn list_records(disk: &dyn Disk, dir: &Path) -> Listing {
    let segments = match list_segments(disk, dir) {
        Ok(segments) if segments.is_empty() => {
            let damage = Some(WalError::NotFound { dir: dir.to_path_buf() });
            return Listing { records: Vec::new(), torn_at: None, damage };
        }
        Ok(segments) => segments,
        Err(damage) => return Listing { records: Vec::new(), torn_at: None, damage: Some(damage) },
    };
    let mut scanned = Vec::new();
    let ended = scan_segments_into(disk, &segments, true, &mut scanned);
    let records = scanned
        .into_iter()
        .filter_map(|read| {
            let record = match read.record {
                Record::Crc { previous_crc, version } => ListedRecord::Crc { previous_crc, version },
                Record::Metadata(bytes) => ListedRecord::Metadata(bytes),
                Record::HardState(state) => ListedRecord::HardState(state),
                Record::Entries(entries) => ListedRecord::Entries(entries),
                Record::Snapshot(marker) => ListedRecord::Snapshot(marker),
                Record::SkippedEntries => return None,
            };
            Some(ListedAt { file: segments[read.segment].path.clone(), offset: read.offset, record })
        })
        .collect();
    let last = &segments.last().expect("not empty").path;
    match ended {
        Ok((SegmentEnd::Torn { offset }, _)) => {
            Listing { records, torn_at: Some((last.clone(), offset)), damage: None }
        }
        Ok((SegmentEnd::Clean, _)) => Listing { records, torn_at: None, damage: None },
        Err(damage) => Listing { records, torn_at: None, damage: Some(damage) },
    }
}
