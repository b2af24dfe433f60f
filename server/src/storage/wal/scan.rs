//! Scanning segments: checking every record's frame and chained CRC, and telling a torn tail (the
//! trace of a crash during a write, allowed only at the end of the last segment) from corruption.

use std::path::Path;

use super::error::{WalError, corrupt, io_error};
use super::record::{
    RECORD_HEADER_BYTES, Record, RecordHeader, RecordType, WAL_FORMAT_VERSION, chained_crc, decode_record,
};
use super::segment::Segment;
use crate::storage::disk::{Disk, SECTOR_BYTES};

/// How reading a segment ended.
#[derive(Debug)]
pub(super) enum SegmentEnd {
    /// Every byte belongs to a valid record.
    Clean,
    /// The bytes from `offset` on are an incomplete or zero-filled record: a torn write.
    Torn { offset: u64 },
}

/// One record as scanned, with where it was read.
#[derive(Debug)]
pub(super) struct ScannedRecord {
    /// The position, in the segments scanned, of the segment it was read from.
    pub(super) segment: usize,
    /// Its offset in that segment file.
    pub(super) offset: u64,
    pub(super) record: Record,
}

/// Why a record's frame failed its checks.
enum Damage {
    /// A torn write could explain it (a prefix of a write followed by nothing or by zeros): the end
    /// of the log when in the last segment, corruption anywhere else.
    MaybeTorn(String),
    /// Nothing but damage explains it.
    Corrupt(String),
}

/// A record's frame that passed every check of the framing and the chained CRC.
struct Frame {
    header: RecordHeader,
    /// Where its payload starts in the segment.
    payload_start: usize,
    /// Where the next record starts.
    end: usize,
}

/// Whether some whole 512-byte sector (aligned in the file) of `bytes[start..end]` is all zeros: the
/// trace of a write whose sectors reached the disk out of order before a crash.
fn has_zero_sector(bytes: &[u8], start: usize, end: usize) -> bool {
    let mut sector = start.div_ceil(SECTOR_BYTES) * SECTOR_BYTES;
    while sector + SECTOR_BYTES <= end {
        if bytes[sector..sector + SECTOR_BYTES].iter().all(|&byte| byte == 0) {
            return true;
        }
        sector += SECTOR_BYTES;
    }
    false
}

/// Whether the zeros that end the file (from `zeros_from`) can explain damage to the record at
/// `[start, end)` as a torn write: the record lies wholly in them, or they cover it from a sector
/// boundary on (a crash loses whole sectors). A record that merely ends in a few zero bytes of its
/// own (a commit index of 0, say) does not qualify, so a flipped bit in a synced final record is
/// reported as corruption instead of being cut off as if it had never been written.
fn lost_from_a_sector(zeros_from: usize, start: usize, end: usize) -> bool {
    zeros_from <= start || zeros_from.next_multiple_of(SECTOR_BYTES) < end
}

/// Reads the records of one segment into `records` (with their offsets), checking framing and the CRC
/// chain; returns how it ended and the CRC of its last valid record. `is_last` allows a torn tail;
/// anywhere else every byte must belong to a valid record. On damage, the records before it are in
/// `records`.
fn scan_segment(
    path: &Path,
    bytes: &[u8],
    is_last: bool,
    decode_entries: bool,
    records: &mut Vec<(u64, Record)>,
) -> Result<(SegmentEnd, u32), WalError> {
    // Where the run of zero bytes that ends the file starts (preallocated or zero-filled space).
    let zeros_from = bytes.iter().rposition(|&byte| byte != 0).map_or(0, |last| last + 1);
    let records_before = records.len();
    // The first record of a segment is seeded with 0, every later one with its predecessor's CRC.
    let mut chain = 0u32;
    let mut offset = 0usize;
    let end = loop {
        if offset == bytes.len() {
            break SegmentEnd::Clean;
        }
        let frame = match check_frame(bytes, offset, chain, zeros_from) {
            Ok(frame) => frame,
            Err(Damage::MaybeTorn(_)) if is_last => break SegmentEnd::Torn { offset: offset as u64 },
            Err(Damage::MaybeTorn(reason)) => {
                return Err(corrupt(path, offset, format!("{reason} (not in the last segment)")));
            }
            Err(Damage::Corrupt(reason)) => return Err(corrupt(path, offset, reason)),
        };
        assert!(frame.end >= offset + RECORD_HEADER_BYTES, "every record moves the scan forward");
        let payload = &bytes[frame.payload_start..frame.end];
        let position = records.len() - records_before;
        let record = read_record(frame.header.record_type, payload, position, decode_entries)
            .map_err(|reason| corrupt(path, offset, reason))?;
        records.push((offset as u64, record));
        chain = frame.header.crc;
        offset = frame.end;
    };
    if records.len() - records_before < 2 {
        // A segment only ever gets its final name after its opening records are durable.
        return Err(corrupt(path, offset, "segment lacks its CRC and metadata records"));
    }
    Ok((end, chain))
}

/// Checks the frame of the record at `offset`: a complete and valid header, a payload inside the
/// file, and the CRC chained from `seed`. Damage a torn write could explain is told apart from
/// damage followed by more data.
fn check_frame(bytes: &[u8], offset: usize, seed: u32, zeros_from: usize) -> Result<Frame, Damage> {
    let remaining = bytes.len() - offset;
    if remaining < RECORD_HEADER_BYTES {
        return Err(Damage::MaybeTorn(format!("incomplete record header ({remaining} bytes)")));
    }
    let header_bytes = &bytes[offset..offset + RECORD_HEADER_BYTES];
    let Some(header) = RecordHeader::parse(header_bytes) else {
        // A torn write leaves a prefix followed by nothing or by zeros; damage followed by more data
        // is corruption.
        if lost_from_a_sector(zeros_from, offset, offset + RECORD_HEADER_BYTES) {
            return Err(Damage::MaybeTorn("zero-filled or partial record header".to_string()));
        }
        return Err(Damage::Corrupt("record header checksum mismatch".to_string()));
    };
    let payload_start = offset + RECORD_HEADER_BYTES;
    let end = payload_start + header.payload_bytes;
    if end > bytes.len() {
        return Err(Damage::MaybeTorn(format!("record of {} bytes runs past the end", header.payload_bytes)));
    }
    if chained_crc(seed, header_bytes, &bytes[payload_start..end]) != header.crc {
        // A write whose pages reached the disk out of order leaves a zero hole in its last record;
        // only the final record gets that benefit of the doubt, so damage can never make recovery
        // drop a record that has valid records after it.
        let final_record = end == bytes.len();
        if lost_from_a_sector(zeros_from, offset, end)
            || (final_record && has_zero_sector(bytes, offset, end))
        {
            return Err(Damage::MaybeTorn("record checksum mismatch in zeroed space".to_string()));
        }
        return Err(Damage::Corrupt(format!("{:?} record checksum mismatch", header.record_type)));
    }
    Ok(Frame { header, payload_start, end })
}

/// Decodes a checked record's payload (entries only when `decode_entries`), checking that it may
/// stand at `position` in its segment: a CRC record of this format first, metadata second, and no
/// CRC record after that.
fn read_record(
    record_type: RecordType,
    payload: &[u8],
    position: usize,
    decode_entries: bool,
) -> Result<Record, String> {
    let record = if record_type == RecordType::Entries && !decode_entries {
        Record::SkippedEntries
    } else {
        decode_record(record_type, payload)?
    };
    match (position, &record) {
        (0, Record::Crc { .. }) | (1, Record::Metadata(_)) => {}
        (0, _) => return Err("segment does not start with a CRC record".to_string()),
        (1, _) => return Err("segment's second record is not metadata".to_string()),
        (_, Record::Crc { .. }) => return Err("CRC record inside a segment".to_string()),
        _ => {}
    }
    if let Record::Crc { version, .. } = record
        && version != WAL_FORMAT_VERSION
    {
        return Err(format!("unknown WAL format version {version}"));
    }
    Ok(record)
}

/// What scanning a run of segments found.
pub(super) struct ScanResult {
    /// Every record, in order, with where it was read.
    pub(super) records: Vec<ScannedRecord>,
    /// How the last segment ended.
    pub(super) last_end: SegmentEnd,
    /// The CRC of the last valid record of the last segment: the seed of the next record written.
    pub(super) last_crc: u32,
}

/// Reads `segments` in order, checking that each one's CRC record links to the previous one's last
/// CRC. Only the last segment may end in a torn record.
pub(super) fn scan_segments(
    disk: &dyn Disk,
    segments: &[Segment],
    decode_entries: bool,
) -> Result<ScanResult, WalError> {
    let mut records = Vec::new();
    let (last_end, last_crc) = scan_segments_into(disk, segments, decode_entries, &mut records)?;
    Ok(ScanResult { records, last_end, last_crc })
}

/// [`scan_segments`] collecting into `records`, so that on damage the records before it are kept
/// (inspection tools show them before the error); returns how the last segment ended and its last CRC.
pub(super) fn scan_segments_into(
    disk: &dyn Disk,
    segments: &[Segment],
    decode_entries: bool,
    records: &mut Vec<ScannedRecord>,
) -> Result<(SegmentEnd, u32), WalError> {
    let mut previous_crc: Option<u32> = None;
    let mut last_end = SegmentEnd::Clean;
    let mut last_crc = 0;
    for (position, segment) in segments.iter().enumerate() {
        let bytes = disk.read(&segment.path).map_err(io_error("read", &segment.path))?;
        let is_last = position + 1 == segments.len();
        let mut segment_records = Vec::new();
        let scanned = scan_segment(&segment.path, &bytes, is_last, decode_entries, &mut segment_records);
        let first_crc = match segment_records.first() {
            Some((_, Record::Crc { previous_crc: found, .. })) => Some(*found),
            _ => None,
        };
        records.extend(segment_records.into_iter().map(|(offset, record)| ScannedRecord {
            segment: position,
            offset,
            record,
        }));
        let (end, crc) = scanned?;
        assert!(is_last || matches!(end, SegmentEnd::Clean), "only the last segment ends torn");
        if let (Some(expected), Some(found)) = (previous_crc, first_crc)
            && expected != found
        {
            return Err(corrupt(
                &segment.path,
                0,
                format!("segment links to CRC {found:08x}, previous segment ended with {expected:08x}"),
            ));
        }
        previous_crc = Some(crc);
        last_crc = crc;
        last_end = end;
    }
    Ok((last_end, last_crc))
}
