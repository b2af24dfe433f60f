//! Snapshot files: a point-in-time image of the state machine plus where it stands in the Raft log,
//! in `<data-dir>/member/snap/<term:016x>-<index:016x>.snap`, each self-checking with a CRC32.
//!
//! A snapshot is written to a temporary file, synced, renamed into place and the directory synced,
//! so a crash leaves either the complete new file or none. Loading checks everything (magic, version,
//! lengths, CRC, that the name agrees with the header) and never hands out a damaged snapshot: when
//! the newest snapshot is damaged that is an error, not a silent fall back to an older one (which
//! the WAL may no longer have the entries to complete). The byte layout is in DESIGN.md ("On-disk formats").

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use raft::types::{ConfState, Index, Snapshot, SnapshotMeta, Term};

use crate::codec;
use crate::storage::disk::Disk;
use crate::storage::wal::WalSnapshot;

/// The first eight bytes of every snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"CNCDSNAP";
/// The format version written after the magic.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;
/// etcd's default `--max-snapshots`.
pub const DEFAULT_MAX_SNAPSHOTS: usize = 5;
/// Bytes of a snapshot file besides the configuration and the payload: magic, version, term, index,
/// configuration length, payload length, CRC.
pub const SNAPSHOT_FIXED_BYTES: usize = 8 + 4 + 8 + 8 + 4 + 8 + 4;

#[derive(Debug)]
pub enum SnapError {
    Io {
        operation: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The file is damaged or not a snapshot of this format.
    Corrupt {
        file: PathBuf,
        reason: String,
    },
    /// A snapshot too large for the format (a configuration beyond the codec limit).
    TooLarge {
        reason: String,
    },
}

impl fmt::Display for SnapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapError::Io { operation, path, source } => {
                write!(f, "snapshot {operation} failed on {}: {source}", path.display())
            }
            SnapError::Corrupt { file, reason } => {
                write!(f, "snapshot {} is corrupt: {reason}", file.display())
            }
            SnapError::TooLarge { reason } => write!(f, "snapshot too large: {reason}"),
        }
    }
}

impl std::error::Error for SnapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SnapError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_error<'a>(operation: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> SnapError + 'a {
    move |source| SnapError::Io { operation, path: path.to_path_buf(), source }
}

/// The file name of the snapshot at (`term`, `index`).
pub fn snapshot_file_name(term: Term, index: Index) -> String {
    format!("{term:016x}-{index:016x}.snap")
}

/// Parses `<term:016x>-<index:016x>.snap`.
pub fn parse_snapshot_file_name(name: &str) -> Option<WalSnapshot> {
    let stem = name.strip_suffix(".snap")?;
    let (term, index) = stem.split_once('-')?;
    let parse = |text: &str| {
        if text.len() == 16 && text.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')) {
            u64::from_str_radix(text, 16).ok()
        } else {
            None
        }
    };
    Some(WalSnapshot { term: parse(term)?, index: parse(index)? })
}

/// Encodes a snapshot into the file format.
pub fn encode_snapshot(snapshot: &Snapshot) -> Result<Vec<u8>, SnapError> {
    let conf_state = codec::encode(&snapshot.meta.conf_state);
    if conf_state.len() > codec::MAX_DECODE_BYTES {
        return Err(SnapError::TooLarge { reason: format!("configuration of {} bytes", conf_state.len()) });
    }
    let mut bytes = Vec::with_capacity(SNAPSHOT_FIXED_BYTES + conf_state.len() + snapshot.data.len());
    bytes.extend_from_slice(&SNAPSHOT_MAGIC);
    bytes.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&snapshot.meta.term.to_le_bytes());
    bytes.extend_from_slice(&snapshot.meta.index.to_le_bytes());
    bytes.extend_from_slice(&(conf_state.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&conf_state);
    bytes.extend_from_slice(&(snapshot.data.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&snapshot.data);
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(
        bytes.len(),
        SNAPSHOT_FIXED_BYTES + conf_state.len() + snapshot.data.len(),
        "the layout's length"
    );
    Ok(bytes)
}

/// Decodes and verifies a snapshot file's bytes. `file` names it in errors.
pub fn decode_snapshot(file: &Path, bytes: Vec<u8>) -> Result<Snapshot, SnapError> {
    let corrupt = |reason: String| SnapError::Corrupt { file: file.to_path_buf(), reason };
    if bytes.len() < SNAPSHOT_FIXED_BYTES {
        return Err(corrupt(format!("{} bytes is shorter than any snapshot", bytes.len())));
    }
    // The CRC first: nothing in a damaged file is believed, lengths included.
    let body_bytes = bytes.len() - 4;
    let stored_crc = u32::from_le_bytes(bytes[body_bytes..].try_into().expect("4 bytes"));
    if crc32fast::hash(&bytes[..body_bytes]) != stored_crc {
        return Err(corrupt("checksum mismatch".to_string()));
    }
    if bytes[0..8] != SNAPSHOT_MAGIC {
        return Err(corrupt("not a Concord snapshot (bad magic)".to_string()));
    }
    let read_u32 = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let read_u64 = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let version = read_u32(8);
    if version != SNAPSHOT_FORMAT_VERSION {
        return Err(corrupt(format!("unknown snapshot format version {version}")));
    }
    let term = read_u64(12);
    let index = read_u64(20);
    let configuration_bytes = read_u32(28) as usize;
    let configuration_end = 32usize.checked_add(configuration_bytes).filter(|&end| end + 8 <= body_bytes);
    let Some(configuration_end) = configuration_end else {
        return Err(corrupt(format!("configuration length {configuration_bytes} runs past the end")));
    };
    let conf_state: ConfState = codec::decode(&bytes[32..configuration_end])
        .map_err(|error| corrupt(format!("configuration: {error}")))?;
    let data_bytes = read_u64(configuration_end);
    let data_start = configuration_end + 8;
    if data_bytes != (body_bytes - data_start) as u64 {
        return Err(corrupt(format!("payload length {data_bytes} disagrees with the file size")));
    }
    let data = Bytes::from(bytes).slice(data_start..body_bytes);
    Ok(Snapshot { meta: SnapshotMeta { index, term, conf_state }, data })
}

/// Reads, writes and prunes the snapshot files of one data directory. A clone writes into the same
/// directory: the node hands one to the thread that writes its periodic snapshots.
#[derive(Clone, Debug)]
pub struct Snapshotter {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    max_snapshots: usize,
}

impl Snapshotter {
    /// Opens (making it if needed) the snapshot directory and removes temporary files left by a
    /// crash in the middle of a save. `max_snapshots` is `--max-snapshots` (0 keeps all).
    pub fn new(disk: Arc<dyn Disk>, dir: &Path, max_snapshots: usize) -> Result<Snapshotter, SnapError> {
        disk.create_dir_all(dir).map_err(io_error("create directory", dir))?;
        let snapshotter = Snapshotter { disk, dir: dir.to_path_buf(), max_snapshots };
        let names = snapshotter.disk.list(dir).map_err(io_error("list", dir))?;
        for name in names.iter().filter(|name| name.ends_with(".snap.tmp")) {
            let path = dir.join(name);
            snapshotter.disk.remove(&path).map_err(io_error("remove", &path))?;
        }
        Ok(snapshotter)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `snapshot` durably (temporary file, fdatasync, rename, directory fsync), then removes
    /// the oldest files beyond `max_snapshots`. Returns the new file's path. The caller records the
    /// snapshot in the WAL next ([`crate::storage::wal::Wal::save_snapshot_marker`]); until then a crash
    /// falls back to the previous snapshot, which retention therefore always keeps.
    pub fn save(&self, snapshot: &Snapshot) -> Result<PathBuf, SnapError> {
        self.save_beside(snapshot, 0)
    }

    /// As [`Snapshotter::save`], but retention never removes a file at `marked_index` or above: the
    /// newest snapshot the WAL has a marker for, which a crash falls back to while the new file (or
    /// another written at the same time) has none yet.
    pub fn save_beside(&self, snapshot: &Snapshot, marked_index: Index) -> Result<PathBuf, SnapError> {
        let path = self.write_durably(snapshot)?;
        self.purge_below(marked_index)?;
        Ok(path)
    }

    fn write_durably(&self, snapshot: &Snapshot) -> Result<PathBuf, SnapError> {
        let bytes = encode_snapshot(snapshot)?;
        let name = snapshot_file_name(snapshot.meta.term, snapshot.meta.index);
        let path = self.dir.join(&name);
        let temporary = self.dir.join(format!("{name}.tmp"));
        let disk = &*self.disk;
        if disk.exists(&temporary).map_err(io_error("stat", &temporary))? {
            disk.remove(&temporary).map_err(io_error("remove", &temporary))?;
        }
        disk.create_new(&temporary).map_err(io_error("create", &temporary))?;
        disk.append(&temporary, &bytes).map_err(io_error("write", &temporary))?;
        disk.sync_file(&temporary).map_err(io_error("fdatasync", &temporary))?;
        disk.rename(&temporary, &path).map_err(io_error("rename", &temporary))?;
        disk.sync_dir(&self.dir).map_err(io_error("fsync directory", &self.dir))?;
        Ok(path)
    }

    /// Whether the snapshot file at (`term`, `index`) exists.
    pub fn exists(&self, at: WalSnapshot) -> Result<bool, SnapError> {
        let path = self.dir.join(snapshot_file_name(at.term, at.index));
        self.disk.exists(&path).map_err(io_error("stat", &path))
    }

    /// The snapshot files present, oldest first (by index, then term).
    pub fn list(&self) -> Result<Vec<(WalSnapshot, PathBuf)>, SnapError> {
        let names = self.disk.list(&self.dir).map_err(io_error("list", &self.dir))?;
        let mut snapshots: Vec<(WalSnapshot, PathBuf)> = names
            .iter()
            .filter_map(|name| Some((parse_snapshot_file_name(name)?, self.dir.join(name))))
            .collect();
        snapshots.sort_by_key(|(at, _)| (at.index, at.term));
        Ok(snapshots)
    }

    /// Reads and verifies one snapshot file, checking that its name agrees with its header.
    pub fn load(&self, path: &Path) -> Result<Snapshot, SnapError> {
        let bytes = self.disk.read(path).map_err(io_error("read", path))?;
        let snapshot = decode_snapshot(path, bytes)?;
        let named = path.file_name().and_then(|name| name.to_str()).and_then(parse_snapshot_file_name);
        let header = WalSnapshot { index: snapshot.meta.index, term: snapshot.meta.term };
        if named != Some(header) {
            return Err(SnapError::Corrupt {
                file: path.to_path_buf(),
                reason: format!(
                    "header says index {} term {}, the name disagrees",
                    header.index, header.term
                ),
            });
        }
        Ok(snapshot)
    }

    /// The newest snapshot file, verified; `None` if there is none; an error if it is damaged.
    pub fn load_newest(&self) -> Result<Option<Snapshot>, SnapError> {
        match self.list()?.pop() {
            None => Ok(None),
            Some((_, path)) => self.load(&path).map(Some),
        }
    }

    /// The newest snapshot file that the WAL recorded a marker for (from
    /// [`crate::storage::wal::Wal::snapshot_markers`]). An error if that snapshot is damaged.
    ///
    /// Newer files without a marker were written by a node that crashed before recording them: they
    /// are removed here, so that retention (which counts files) can never keep such leftovers and
    /// remove the snapshot the WAL depends on.
    pub fn load_newest_of(&self, markers: &[WalSnapshot]) -> Result<Option<Snapshot>, SnapError> {
        let files = self.list()?;
        let newest = files.iter().rposition(|(at, _)| markers.contains(at));
        let leftovers_from = newest.map_or(0, |position| position + 1);
        let leftovers: Vec<&PathBuf> = files[leftovers_from..].iter().map(|(_, path)| path).collect();
        for path in &leftovers {
            self.disk.remove(path).map_err(io_error("remove", path))?;
        }
        if !leftovers.is_empty() {
            self.disk.sync_dir(&self.dir).map_err(io_error("fsync directory", &self.dir))?;
        }
        match newest {
            None => Ok(None),
            Some(position) => self.load(&files[position].1).map(Some),
        }
    }

    /// Removes the oldest snapshot files while more than `max_snapshots` remain (but never fewer than
    /// two: right after a save the newest file has no WAL marker yet, and a crash then needs the one
    /// before it). Returns the paths removed.
    pub fn purge(&self) -> Result<Vec<PathBuf>, SnapError> {
        self.purge_below(0)
    }

    /// As [`Snapshotter::purge`], but never removes a file at `marked_index` or above (when it is not
    /// 0). A file another writer removed first is not an error: two saves may purge at the same time.
    fn purge_below(&self, marked_index: Index) -> Result<Vec<PathBuf>, SnapError> {
        if self.max_snapshots == 0 {
            return Ok(Vec::new());
        }
        let snapshots = self.list()?;
        let excess = snapshots.len().saturating_sub(self.max_snapshots.max(2));
        assert!(snapshots.len() - excess >= snapshots.len().min(2), "the two newest snapshots are kept");
        let protected = |at: &WalSnapshot| marked_index > 0 && at.index >= marked_index;
        let mut removed = Vec::with_capacity(excess);
        for (at, path) in snapshots.into_iter().take(excess) {
            if protected(&at) {
                break;
            }
            match self.disk.remove(&path) {
                Ok(()) => removed.push(path),
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(io_error("remove", &path)(error)),
            }
        }
        if !removed.is_empty() {
            self.disk.sync_dir(&self.dir).map_err(io_error("fsync directory", &self.dir))?;
        }
        Ok(removed)
    }
}
