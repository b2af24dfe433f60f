//! Scanning segments: checking every record's frame and chained CRC, and telling a torn tail (the
//! trace of a crash during a write, allowed only at the end of the last segment) from corruption.

use std::path::Path;

use super::error::{WalError, corrupt, io_error};
use super::record::{
    MAX_RECORD_PAYLOAD, RECORD_HEADER_LEN, Record, RecordType, WAL_FORMAT_VERSION, decode_record,
};
use super::segment::Segment;
use crate::storage::disk::Disk;

/// Torn-write detection looks for all-zero blocks of this size (the smallest disk sector).
const SECTOR_SIZE: usize = 512;

/// How reading a segment ended.
#[derive(Debug)]
pub(super) enum SegmentEnd {
    /// Every byte belongs to a valid record.
    Clean,
    /// The bytes from `offset` on are an incomplete or zero-filled record: a torn write.
    Torn { offset: u64 },
}

struct ScannedSegment {
    records: Vec<(u64, Record)>,
    end: SegmentEnd,
    /// The CRC of the last valid record.
    last_crc: u32,
}

/// Whether some whole 512-byte sector (aligned in the file) of `bytes[start..end]` is all zeros: the
/// trace of a write whose sectors reached the disk out of order before a crash.
fn has_zero_sector(bytes: &[u8], start: usize, end: usize) -> bool {
    let mut sector = start.div_ceil(SECTOR_SIZE) * SECTOR_SIZE;
    while sector + SECTOR_SIZE <= end {
        if bytes[sector..sector + SECTOR_SIZE].iter().all(|&byte| byte == 0) {
            return true;
        }
        sector += SECTOR_SIZE;
    }
    false
}

/// Whether the zeros that end the file (from `zeros_from`) can explain damage to the record at
/// `[start, end)` as a torn write: the record lies wholly in them, or they cover it from a sector
/// boundary on (a crash loses whole sectors). A record that merely ends in a few zero bytes of its
/// own (a commit index of 0, say) does not qualify, so a flipped bit in a synced final record is
/// reported as corruption instead of being cut off as if it had never been written.
fn lost_from_a_sector(zeros_from: usize, start: usize, end: usize) -> bool {
    zeros_from <= start || zeros_from.next_multiple_of(SECTOR_SIZE) < end
}

/// Reads the records of one segment, checking framing and the CRC chain. `is_last` allows a torn
/// tail; anywhere else every byte must belong to a valid record.
fn scan_segment(
    path: &Path,
    bytes: &[u8],
    is_last: bool,
    decode_entries: bool,
) -> Result<ScannedSegment, WalError> {
    // Where the run of zero bytes that ends the file starts (preallocated or zero-filled space).
    let zeros_from = bytes.iter().rposition(|&byte| byte != 0).map_or(0, |last| last + 1);
    let mut records = Vec::new();
    let mut chain = 0u32;
    let mut offset = 0usize;
    let torn_or_corrupt = |offset: usize, reason: String| {
        if is_last {
            Ok(SegmentEnd::Torn { offset: offset as u64 })
        } else {
            Err(corrupt(path, offset, format!("{reason} (not in the last segment)")))
        }
    };
    let end = loop {
        if offset == bytes.len() {
            break SegmentEnd::Clean;
        }
        let remaining = bytes.len() - offset;
        if remaining < RECORD_HEADER_LEN {
            break torn_or_corrupt(offset, format!("incomplete record header ({remaining} bytes)"))?;
        }
        let header = &bytes[offset..offset + RECORD_HEADER_LEN];
        let payload_len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
        let header_crc = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
        let record_crc = u32::from_le_bytes(header[12..16].try_into().expect("4 bytes"));
        let record_type = RecordType::from_byte(header[4]);
        let header_valid = crc32fast::hash(&header[0..8]) == header_crc
            && header[5..8] == [0, 0, 0]
            && record_type.is_some()
            && payload_len <= MAX_RECORD_PAYLOAD;
        if !header_valid {
            // A torn write leaves a prefix followed by nothing or by zeros; damage followed by more
            // data is corruption.
            if lost_from_a_sector(zeros_from, offset, offset + RECORD_HEADER_LEN) {
                break torn_or_corrupt(offset, "zero-filled or partial record header".to_string())?;
            }
            return Err(corrupt(path, offset, "record header checksum mismatch"));
        }
        let record_type = record_type.expect("checked above");
        let frame_end = offset + RECORD_HEADER_LEN + payload_len;
        if frame_end > bytes.len() {
            break torn_or_corrupt(offset, format!("record of {payload_len} bytes runs past the end"))?;
        }
        let payload = &bytes[offset + RECORD_HEADER_LEN..frame_end];
        let seed = if records.is_empty() { 0 } else { chain };
        let mut hasher = crc32fast::Hasher::new_with_initial(seed);
        hasher.update(&header[0..8]);
        hasher.update(payload);
        if hasher.finalize() != record_crc {
            // A write whose pages reached the disk out of order leaves a zero hole in its last
            // record; only the final record gets that benefit of the doubt, so damage can never
            // make recovery drop a record that has valid records after it.
            let final_record = frame_end == bytes.len();
            if lost_from_a_sector(zeros_from, offset, frame_end)
                || (final_record && has_zero_sector(bytes, offset, frame_end))
            {
                break torn_or_corrupt(offset, "record checksum mismatch in zeroed space".to_string())?;
            }
            return Err(corrupt(path, offset, format!("{record_type:?} record checksum mismatch")));
        }
        let record = if record_type == RecordType::Entries && !decode_entries {
            Record::SkippedEntries
        } else {
            decode_record(record_type, payload).map_err(|reason| corrupt(path, offset, reason))?
        };
        match (records.len(), &record) {
            (0, Record::Crc { .. }) | (1, Record::Metadata(_)) => {}
            (0, _) => return Err(corrupt(path, offset, "segment does not start with a CRC record")),
            (1, _) => return Err(corrupt(path, offset, "segment's second record is not metadata")),
            (_, Record::Crc { .. }) => return Err(corrupt(path, offset, "CRC record inside a segment")),
            _ => {}
        }
        if let Record::Crc { version, .. } = record
            && version != WAL_FORMAT_VERSION
        {
            return Err(corrupt(path, offset, format!("unknown WAL format version {version}")));
        }
        records.push((offset as u64, record));
        chain = record_crc;
        offset = frame_end;
    };
    if records.len() < 2 {
        // A segment only ever gets its final name after its opening records are durable.
        return Err(corrupt(path, offset, "segment lacks its CRC and metadata records"));
    }
    Ok(ScannedSegment { records, end, last_crc: chain })
}

/// Reads `segments` in order, checking that each one's CRC record links to the previous one's last
/// CRC. Returns the records with their file and offset, and how the last segment ended.
pub(super) struct ScanResult {
    pub(super) records: Vec<(usize, u64, Record)>,
    pub(super) last_end: SegmentEnd,
    pub(super) last_crc: u32,
}

pub(super) fn scan_segments(
    disk: &dyn Disk,
    segments: &[Segment],
    decode_entries: bool,
) -> Result<ScanResult, WalError> {
    let mut records = Vec::new();
    let mut previous_crc: Option<u32> = None;
    let mut last_end = SegmentEnd::Clean;
    let mut last_crc = 0;
    for (position, segment) in segments.iter().enumerate() {
        let bytes = disk.read(&segment.path).map_err(io_error("read", &segment.path))?;
        let is_last = position + 1 == segments.len();
        let scanned = scan_segment(&segment.path, &bytes, is_last, decode_entries)?;
        if let (Some(expected), Some((_, Record::Crc { previous_crc: found, .. }))) =
            (previous_crc, scanned.records.first())
            && expected != *found
        {
            return Err(corrupt(
                &segment.path,
                0,
                format!("segment links to CRC {found:08x}, previous segment ended with {expected:08x}"),
            ));
        }
        previous_crc = Some(scanned.last_crc);
        last_crc = scanned.last_crc;
        last_end = scanned.end;
        records.extend(scanned.records.into_iter().map(|(offset, record)| (position, offset, record)));
    }
    Ok(ScanResult { records, last_end, last_crc })
}
