//! Target `snapshot_file`: arbitrary bytes as a snapshot file, through `decode_snapshot` and through
//! a `Snapshotter` loading the file from a `MemDisk`.
//!
//! Input: a mode byte, then the file. With [`FIX_CRC`] the harness appends the right CRC to the
//! bytes given (so the fuzzer reaches the header, configuration and length checks behind it).
//!
//! Checks: nothing panics; a refusal is `Corrupt` naming the file; an accepted file re-encodes to
//! a file that decodes to the same snapshot, and the `Snapshotter` agrees with `decode_snapshot`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use server::storage::disk::{Disk, MemDisk};
use server::storage::snap::{SnapError, Snapshotter, decode_snapshot, encode_snapshot, snapshot_file_name};

use crate::byte_source::ByteSource;

/// Where the file is written on the memory disk.
pub const SNAP_DIR: &str = "/data/member/snap";
/// Mode bit: append the CRC32 of the bytes given, as the format's last four bytes.
pub const FIX_CRC: u8 = 1;

pub fn check(data: &[u8]) {
    let mut source = ByteSource::new(data);
    let mode = source.u8();
    let mut bytes = source.remaining().to_vec();
    if mode & FIX_CRC != 0 {
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
    }
    let path = Path::new(SNAP_DIR).join(name_from_header(&bytes));
    let decoded = decode_snapshot(&path, bytes.clone());
    match &decoded {
        Ok(snapshot) => {
            let encoded = encode_snapshot(snapshot).expect("a decoded snapshot encodes");
            let again = decode_snapshot(&path, encoded).expect("a re-encoded snapshot decodes");
            assert_eq!(&again, snapshot, "encode(decode(x)) decodes to the same snapshot");
        }
        Err(error) => check_refusal(error, &path),
    }
    check_snapshotter(&path, &bytes, decoded.is_ok());
}

/// The name the file must have for its header: `<term>-<index>.snap` from header bytes 12..28 (a
/// file too short for them gets the name of term 0, index 0).
fn name_from_header(bytes: &[u8]) -> String {
    let read_u64 = |at: usize| {
        bytes.get(at..at + 8).map_or(0, |field| u64::from_le_bytes(field.try_into().expect("8 bytes")))
    };
    snapshot_file_name(read_u64(12), read_u64(20))
}

fn check_refusal(error: &SnapError, path: &PathBuf) {
    match error {
        SnapError::Corrupt { file, reason } => {
            assert_eq!(file, path, "the refusal names the file");
            assert!(error.to_string().contains(&path.display().to_string()), "{error}");
            assert!(!reason.is_empty());
        }
        other => panic!("a damaged snapshot file must be refused as corrupt, not: {other:?}"),
    }
}

/// Loading the same bytes from disk, by path and as the newest marked snapshot, agrees with
/// decoding them.
fn check_snapshotter(path: &Path, bytes: &[u8], decodes: bool) {
    let disk = MemDisk::new();
    let shared: Arc<dyn Disk> = Arc::new(disk.clone());
    let snapshotter = Snapshotter::new(shared, Path::new(SNAP_DIR), 0).expect("memory disk");
    disk.create_new(path).expect("memory disk");
    disk.append(path, bytes).expect("memory disk");
    let loaded = snapshotter.load(path);
    assert_eq!(loaded.is_ok(), decodes, "load agrees with decode_snapshot: {loaded:?}");
    if let Err(error) = &loaded {
        assert!(error.to_string().contains(&path.display().to_string()), "{error}");
    }
    let listed = snapshotter.list().expect("memory disk");
    assert_eq!(listed.len(), 1, "the file's name parses as a snapshot name");
    let markers = [listed[0].0];
    let newest = snapshotter.load_newest_of(&markers);
    assert_eq!(newest.is_ok(), decodes, "load_newest_of agrees with load");
}
