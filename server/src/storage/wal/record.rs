//! The record format: the record types, the 16-byte frame with its header CRC and the CRC chained
//! through the previous record, framing a record into a buffer, and decoding a checked payload.

use raft::types::{Entry, HardState};
use serde::{Deserialize, Serialize};

use super::WalSnapshot;
use super::error::WalError;
use crate::codec;

/// The WAL format version written in every segment's CRC record.
pub const WAL_FORMAT_VERSION: u32 = 1;
/// Bytes of the frame header in front of every record's payload.
pub const RECORD_HEADER_BYTES: usize = 16;
/// The largest record payload accepted on read or produced on write.
pub const MAX_RECORD_PAYLOAD_BYTES: usize = codec::MAX_DECODE_BYTES;
/// An entries record is closed once its payload reaches about this size; a batch bigger than this
/// becomes several records (still in one write).
pub const ENTRIES_RECORD_TARGET_BYTES: usize = 1 << 20;

/// Record types. The numeric values are part of the on-disk format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    /// Payload: previous segment's last CRC (u32 LE) then the format version (u32 LE).
    Crc = 1,
    /// Payload: opaque metadata bytes (member ID, cluster ID, initial configuration: the node's).
    Metadata = 2,
    /// Payload: codec-encoded [`HardState`].
    HardState = 3,
    /// Payload: codec-encoded `Vec<Entry>` (contiguous indexes).
    Entries = 4,
    /// Payload: codec-encoded [`SnapshotMarker`].
    Snapshot = 5,
}

impl RecordType {
    fn from_byte(byte: u8) -> Option<RecordType> {
        Some(match byte {
            1 => RecordType::Crc,
            2 => RecordType::Metadata,
            3 => RecordType::HardState,
            4 => RecordType::Entries,
            5 => RecordType::Snapshot,
            _ => return None,
        })
    }
}

/// The snapshot marker record: a snapshot exists at `snapshot`; with `replaces_log` every entry above
/// its index written before the marker is void (the node installed a leader's snapshot and threw its
/// own log away), without it the entries stay (the node compacted its own log).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMarker {
    pub snapshot: WalSnapshot,
    pub replaces_log: bool,
}

/// Appends one framed record to `buffer` and returns its CRC (the next record's chain seed).
/// `write_payload` appends the payload; the header is filled in after it.
pub(super) fn frame_record(
    buffer: &mut Vec<u8>,
    record_type: RecordType,
    chain: u32,
    write_payload: impl FnOnce(&mut Vec<u8>),
) -> Result<u32, WalError> {
    let start = buffer.len();
    buffer.resize(start + RECORD_HEADER_BYTES, 0);
    write_payload(buffer);
    let payload_bytes = buffer.len() - start - RECORD_HEADER_BYTES;
    if payload_bytes > MAX_RECORD_PAYLOAD_BYTES {
        buffer.truncate(start);
        return Err(WalError::InvalidRequest {
            reason: format!(
                "a {record_type:?} record of {payload_bytes} bytes exceeds {MAX_RECORD_PAYLOAD_BYTES}"
            ),
        });
    }
    let (header, payload) = buffer[start..].split_at_mut(RECORD_HEADER_BYTES);
    header[0..4].copy_from_slice(&(payload_bytes as u32).to_le_bytes());
    header[4] = record_type as u8;
    // Bytes 5..8 stay zero (reserved).
    let header_crc = crc32fast::hash(&header[0..8]);
    header[8..12].copy_from_slice(&header_crc.to_le_bytes());
    let crc = chained_crc(chain, header, payload);
    header[12..16].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        buffer.len(),
        start + RECORD_HEADER_BYTES + payload_bytes,
        "one header and the payload framed"
    );
    Ok(crc)
}

/// A record's chained CRC: the CRC32 of its header bytes 0..8 then its payload, seeded with the
/// previous record's CRC (0 for the first record of a segment).
pub(super) fn chained_crc(seed: u32, header: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(seed);
    hasher.update(&header[0..8]);
    hasher.update(payload);
    hasher.finalize()
}

/// The CRC that `frames`, a run of whole records back to back, ends with when chained from `seed`;
/// `None` unless every header, length and chained CRC checks out. A cross-check of what is framed
/// against what the reader accepts.
pub(super) fn chain_through(mut frames: &[u8], seed: u32) -> Option<u32> {
    let mut chain = seed;
    // Every pass consumes at least one header, so the loop ends.
    while !frames.is_empty() {
        let header = RecordHeader::parse(frames)?;
        let end = RECORD_HEADER_BYTES + header.payload_bytes;
        let payload = frames.get(RECORD_HEADER_BYTES..end)?;
        if chained_crc(chain, frames, payload) != header.crc {
            return None;
        }
        chain = header.crc;
        frames = &frames[end..];
    }
    Some(chain)
}

/// A record header that passed its own checks (header CRC, reserved bytes, a known type, a length
/// within bounds). Its payload and chained CRC are not checked yet.
#[derive(Clone, Copy, Debug)]
pub(super) struct RecordHeader {
    pub(super) record_type: RecordType,
    pub(super) payload_bytes: usize,
    /// The record's chained CRC as stored.
    pub(super) crc: u32,
}

impl RecordHeader {
    /// Reads the header at the start of `header`; `None` when it fails any of its checks.
    pub(super) fn parse(header: &[u8]) -> Option<RecordHeader> {
        let header: &[u8; RECORD_HEADER_BYTES] = header.get(..RECORD_HEADER_BYTES)?.try_into().ok()?;
        let read_u32 = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
        let payload_bytes = read_u32(0) as usize;
        let header_crc = read_u32(8);
        let record_type = RecordType::from_byte(header[4])?;
        let valid = crc32fast::hash(&header[0..8]) == header_crc
            && header[5..8] == [0, 0, 0]
            && payload_bytes <= MAX_RECORD_PAYLOAD_BYTES;
        valid.then_some(RecordHeader { record_type, payload_bytes, crc: read_u32(12) })
    }
}

pub(super) fn frame_encoded<T: Serialize + ?Sized>(
    buffer: &mut Vec<u8>,
    record_type: RecordType,
    chain: u32,
    value: &T,
) -> Result<u32, WalError> {
    frame_record(buffer, record_type, chain, |buffer| codec::encode_into(value, buffer))
}

/// One record as read back.
#[derive(Debug)]
pub(super) enum Record {
    Crc {
        previous_crc: u32,
        version: u32,
    },
    Metadata(Vec<u8>),
    HardState(HardState),
    Entries(Vec<Entry>),
    Snapshot(SnapshotMarker),
    /// An entries record whose CRC was checked but whose payload was not decoded (the reader only
    /// wanted the other records).
    SkippedEntries,
}

pub(super) fn decode_record(record_type: RecordType, payload: &[u8]) -> Result<Record, String> {
    let undecodable = |error: codec::CodecError| format!("{record_type:?} record: {error}");
    Ok(match record_type {
        RecordType::Crc => {
            if payload.len() != 8 {
                return Err(format!("CRC record of {} bytes", payload.len()));
            }
            Record::Crc {
                previous_crc: u32::from_le_bytes(payload[0..4].try_into().expect("4 bytes")),
                version: u32::from_le_bytes(payload[4..8].try_into().expect("4 bytes")),
            }
        }
        RecordType::Metadata => Record::Metadata(payload.to_vec()),
        RecordType::HardState => Record::HardState(codec::decode(payload).map_err(undecodable)?),
        RecordType::Entries => Record::Entries(codec::decode(payload).map_err(undecodable)?),
        RecordType::Snapshot => Record::Snapshot(codec::decode(payload).map_err(undecodable)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_records(seed: u32) -> (Vec<u8>, u32) {
        let mut buffer = Vec::new();
        let chain = frame_record(&mut buffer, RecordType::Metadata, seed, |buffer| {
            buffer.extend_from_slice(b"member 1")
        })
        .unwrap();
        let chain = frame_encoded(&mut buffer, RecordType::HardState, chain, &HardState::default()).unwrap();
        (buffer, chain)
    }

    #[test]
    fn framed_records_chain_from_their_seed_and_parse_back() {
        let (buffer, chain) = two_records(7);
        assert_eq!(chain_through(&buffer, 7), Some(chain));
        let header = RecordHeader::parse(&buffer).unwrap();
        assert_eq!((header.record_type, header.payload_bytes), (RecordType::Metadata, 8));
        // The same bytes read from another seed (another place in the chain) do not check out.
        assert_eq!(chain_through(&buffer, 8), None);
    }

    #[test]
    fn a_flipped_bit_or_a_cut_breaks_the_run() {
        let (mut buffer, _) = two_records(0);
        assert_eq!(chain_through(&buffer[..buffer.len() - 1], 0), None, "a record cut short");
        buffer[RECORD_HEADER_BYTES] ^= 1;
        assert_eq!(chain_through(&buffer, 0), None, "a flipped payload bit");
        buffer[RECORD_HEADER_BYTES] ^= 1;
        buffer[5] = 1;
        assert!(RecordHeader::parse(&buffer).is_none(), "a reserved byte set");
    }
}
