//! WAL record framing written from DESIGN.md ("Record framing"), independently of the server's own
//! framing code: a target uses it to build segments whose CRCs are right on purpose (so the fuzzer
//! reaches record decoding and replay, not only the checksum checks), and the seed generator uses
//! it to split real segments into records.

/// Bytes of the header in front of every record's payload.
pub const HEADER_BYTES: usize = 16;
/// The CRC record's type; its payload is the previous segment's last CRC then the format version.
pub const CRC_RECORD_TYPE: u8 = 1;
/// The WAL format version the server writes and accepts.
pub const FORMAT_VERSION: u32 = 1;

/// Appends one record (`payload_len`, `type`, three zero bytes, the header's CRC, the CRC chained
/// from `chain`, then the payload) and returns its chained CRC, the next record's seed.
pub fn frame(out: &mut Vec<u8>, record_type: u8, payload: &[u8], chain: u32) -> u32 {
    let mut header = [0u8; HEADER_BYTES];
    header[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[4] = record_type;
    let header_crc = crc32fast::hash(&header[0..8]);
    header[8..12].copy_from_slice(&header_crc.to_le_bytes());
    let mut hasher = crc32fast::Hasher::new_with_initial(chain);
    hasher.update(&header[0..8]);
    hasher.update(payload);
    let crc = hasher.finalize();
    header[12..16].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    crc
}

/// The payload of a CRC record linking to `previous_crc`.
pub fn crc_record_payload(previous_crc: u32) -> [u8; 8] {
    let mut payload = [0u8; 8];
    payload[0..4].copy_from_slice(&previous_crc.to_le_bytes());
    payload[4..8].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    payload
}

/// One record of a segment as laid out on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRecord {
    /// Where its header starts in the segment.
    pub offset: usize,
    pub record_type: u8,
    pub payload: Vec<u8>,
}

/// Splits a well-formed segment into its records by their lengths alone (no CRC checks); stops at
/// the first record that does not fit in the bytes.
pub fn split_records(segment: &[u8]) -> Vec<RawRecord> {
    let mut records = Vec::new();
    let mut offset = 0;
    // Every pass consumes a header, so the loop is bounded by the segment's length.
    while offset + HEADER_BYTES <= segment.len() {
        let length = u32::from_le_bytes(segment[offset..offset + 4].try_into().expect("4 bytes")) as usize;
        let payload_start = offset + HEADER_BYTES;
        let Some(payload) = segment.get(payload_start..payload_start.saturating_add(length)) else {
            break;
        };
        records.push(RawRecord { offset, record_type: segment[offset + 4], payload: payload.to_vec() });
        offset = payload_start + length;
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_records_split_back_with_their_offsets() {
        let mut segment = Vec::new();
        let chain = frame(&mut segment, CRC_RECORD_TYPE, &crc_record_payload(0), 0);
        frame(&mut segment, 2, b"metadata", chain);
        let records = split_records(&segment);
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].offset, HEADER_BYTES + 8);
        assert_eq!(records[1].payload, b"metadata");
    }
}
