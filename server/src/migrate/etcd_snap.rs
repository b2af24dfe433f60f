//! Reading etcd 3.4's snapshot files (`member/snap/<term:016x>-<index:016x>.snap`): a `snappb.Snapshot`
//! whose `data` (checked by its CRC-32C) is a `raftpb.Snapshot` holding the v2 store's JSON and where
//! the snapshot stands in the log (index, term, configuration); and choosing the newest file the WAL
//! has a marker for, as etcd does when it restarts (a damaged newer file is skipped with a warning).

use std::path::{Path, PathBuf};

use prost::Message;

use super::etcd_proto::{ConfState, RaftSnapshot, SnapFile, WalSnapshot};
use super::etcd_wal::Damage;

/// Snapshot files looked at at most.
const MAX_SNAPSHOT_FILES: usize = 1 << 16;

/// One etcd snapshot, decoded and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct EtcdSnapshot {
    pub file: PathBuf,
    pub index: u64,
    pub term: u64,
    pub conf_state: ConfState,
    /// The v2 store as etcd's JSON.
    pub data: Vec<u8>,
}

/// `<term:016x>-<index:016x>.snap` as (term, index).
pub fn parse_snap_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".snap")?;
    let (term, index) = stem.split_once('-')?;
    let hex16 = |text: &str| {
        (text.len() == 16 && text.bytes().all(|byte| byte.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(text, 16).ok())
            .flatten()
    };
    Some((hex16(term)?, hex16(index)?))
}

/// Decodes a `.snap` file's bytes; every failure names the file.
pub fn decode_snap_file(file: &Path, bytes: &[u8]) -> Result<EtcdSnapshot, Damage> {
    let damage = |reason: String| Damage { file: file.to_path_buf(), offset: 0, reason };
    if bytes.is_empty() {
        return Err(damage("empty snapshot file".to_string()));
    }
    let outer =
        SnapFile::decode(bytes).map_err(|error| damage(format!("undecodable snapshot file: {error}")))?;
    let crc = mvcc::crc32c_update(0, &outer.data);
    if crc != outer.crc {
        return Err(damage(format!("CRC mismatch: stored {:08x}, computed {crc:08x}", outer.crc)));
    }
    let inner = RaftSnapshot::decode(outer.data.as_slice())
        .map_err(|error| damage(format!("undecodable raft snapshot: {error}")))?;
    let metadata = inner.metadata.unwrap_or_default();
    Ok(EtcdSnapshot {
        file: file.to_path_buf(),
        index: metadata.index,
        term: metadata.term,
        conf_state: metadata.conf_state.unwrap_or_default(),
        data: inner.data,
    })
}

/// Reads and decodes one `.snap` file.
pub fn read_snap_file(file: &Path) -> Result<EtcdSnapshot, Damage> {
    let bytes = std::fs::read(file).map_err(|error| Damage {
        file: file.to_path_buf(),
        offset: 0,
        reason: format!("read: {error}"),
    })?;
    decode_snapshot_checked(file, &bytes)
}

/// Decodes a file and checks that its name agrees with its contents.
fn decode_snapshot_checked(file: &Path, bytes: &[u8]) -> Result<EtcdSnapshot, Damage> {
    let snapshot = decode_snap_file(file, bytes)?;
    let name = file.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    if let Some((term, index)) = parse_snap_name(&name)
        && (term, index) != (snapshot.term, snapshot.index)
    {
        let reason =
            format!("named term {term} index {index}, holds term {} index {}", snapshot.term, snapshot.index);
        return Err(Damage { file: file.to_path_buf(), offset: 0, reason });
    }
    Ok(snapshot)
}

/// The newest snapshot in `snap_dir` the WAL has a marker for (`markers`), or `None` when there is no
/// such file; damaged files are skipped and returned as warnings.
pub fn newest_snapshot(
    snap_dir: &Path,
    markers: &[WalSnapshot],
) -> Result<(Option<EtcdSnapshot>, Vec<Damage>), Damage> {
    let listing = |error: std::io::Error| Damage {
        file: snap_dir.to_path_buf(),
        offset: 0,
        reason: format!("cannot list: {error}"),
    };
    let mut files = Vec::new();
    match std::fs::read_dir(snap_dir) {
        Ok(entries) => {
            for entry in entries.take(MAX_SNAPSHOT_FILES) {
                let entry = entry.map_err(listing)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some((term, index)) = parse_snap_name(&name) {
                    files.push((index, term, entry.path()));
                }
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok((None, Vec::new())),
        Err(error) => return Err(listing(error)),
    }
    files.sort();
    let mut skipped = Vec::new();
    for (index, term, path) in files.into_iter().rev() {
        if !markers.contains(&WalSnapshot { index, term }) {
            continue;
        }
        match read_snap_file(&path) {
            Ok(snapshot) => return Ok((Some(snapshot), skipped)),
            Err(damage) => skipped.push(damage),
        }
    }
    Ok((None, skipped))
}
