//! What can go wrong in the WAL ([`WalError`]) and what recovery repaired and reports
//! ([`RecoveryWarning`]), with the helpers that build them.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::WalSnapshot;

/// Something recovery repaired and the operator should hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryWarning {
    /// The last segment ended in an incomplete or zero-filled record (a crash during a write); the
    /// file was cut at `offset`, dropping `dropped_bytes` bytes that had never been synced.
    TornTail { file: PathBuf, offset: u64, dropped_bytes: u64 },
}

impl fmt::Display for RecoveryWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecoveryWarning::TornTail { file, offset, dropped_bytes } => write!(
                f,
                "torn WAL tail in {} at offset {offset}: dropped {dropped_bytes} unsynced bytes",
                file.display()
            ),
        }
    }
}

#[derive(Debug)]
pub enum WalError {
    Io {
        operation: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Damage that is not a torn tail: the node must not start on it.
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    /// No WAL in this directory.
    NotFound {
        dir: PathBuf,
    },
    /// `create` found a WAL already there.
    AlreadyExists {
        dir: PathBuf,
    },
    /// `open` was asked to start at a snapshot the WAL never recorded (or recorded with another term).
    SnapshotNotFound {
        wanted: WalSnapshot,
        dir: PathBuf,
    },
    /// The log was replaced by an installed snapshot newer than the one `open` was asked to start
    /// at: the entries up to it exist only in that snapshot.
    SnapshotRequired {
        found: WalSnapshot,
        wanted: WalSnapshot,
    },
    /// The caller asked for something the log cannot hold (a bug in the caller, never disk damage).
    InvalidRequest {
        reason: String,
    },
    /// An earlier I/O error poisoned this WAL; recover by reopening it.
    Failed,
}

impl fmt::Display for WalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalError::Io { operation, path, source } => {
                write!(f, "WAL {operation} failed on {}: {source}", path.display())
            }
            WalError::Corrupt { file, offset, reason } => {
                write!(f, "WAL corrupt in {} at offset {offset}: {reason}", file.display())
            }
            WalError::NotFound { dir } => write!(f, "no WAL in {}", dir.display()),
            WalError::AlreadyExists { dir } => write!(f, "a WAL already exists in {}", dir.display()),
            WalError::SnapshotNotFound { wanted, dir } => write!(
                f,
                "WAL in {} has no snapshot marker at index {} term {}",
                dir.display(),
                wanted.index,
                wanted.term
            ),
            WalError::SnapshotRequired { found, wanted } => write!(
                f,
                "WAL log was replaced by a snapshot at index {} term {}; cannot start from index {}",
                found.index, found.term, wanted.index
            ),
            WalError::InvalidRequest { reason } => write!(f, "invalid WAL request: {reason}"),
            WalError::Failed => f.write_str("WAL failed earlier and must be reopened"),
        }
    }
}

impl std::error::Error for WalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WalError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub(super) fn io_error<'a>(
    operation: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> WalError + 'a {
    move |source| WalError::Io { operation, path: path.to_path_buf(), source }
}

pub(super) fn corrupt(path: &Path, offset: usize, reason: impl Into<String>) -> WalError {
    WalError::Corrupt { file: path.to_path_buf(), offset: offset as u64, reason: reason.into() }
}
