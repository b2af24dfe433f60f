//! Telling an etcd data dir from a Concord one. Both keep `member/wal/<seq>-<index>.wal` and
//! `member/snap/<term>-<index>.snap`; the WAL's bytes differ: etcd's first record is a u64 length field
//! and a protobuf `walpb.Record` of the CRC type, Concord's a 16-byte header (DESIGN.md).

use std::path::Path;

use prost::Message;

use super::etcd_proto::{RECORD_CRC, WalRecord};
use super::etcd_wal::list_segments;

/// Bytes read from the first segment: a length field and a CRC record are far shorter.
const PROBE_BYTES: usize = 64;

/// Whether `data_dir/member/wal` holds `.wal` files whose first one opens with etcd's CRC record.
pub fn looks_like_etcd(data_dir: &Path) -> bool {
    wal_dir_is_etcd(&data_dir.join("member").join("wal"))
}

/// Whether `wal_dir` holds `.wal` files whose first one opens with etcd's CRC record.
pub fn wal_dir_is_etcd(wal_dir: &Path) -> bool {
    let Ok(segments) = list_segments(wal_dir) else { return false };
    let Some((_, _, first)) = segments.first() else { return false };
    let Ok(bytes) = read_prefix(first) else { return false };
    opens_with_etcd_record(&bytes)
}

fn read_prefix(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(PROBE_BYTES);
    std::fs::File::open(path)?.take(PROBE_BYTES as u64).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Whether `bytes` start with a framed `walpb.Record` of the CRC type.
pub fn opens_with_etcd_record(bytes: &[u8]) -> bool {
    let Some(field) = bytes.get(..8) else { return false };
    let length = (u64::from_le_bytes(field.try_into().expect("8 bytes")) & 0x00FF_FFFF_FFFF_FFFF) as usize;
    let Some(record) = bytes.get(8..8usize.saturating_add(length)) else { return false };
    WalRecord::decode(record).is_ok_and(|record| record.record_type == RECORD_CRC)
}

/// The one-line refusal `concord` gives when started on an etcd data dir.
pub fn refusal(data_dir: &Path) -> String {
    format!(
        "{} is an etcd data dir, which concord cannot serve as it is: convert it into a new one with \
         `concord migrate --from {} --data-dir <new dir>` and start concord on that",
        data_dir.display(),
        data_dir.display()
    )
}
