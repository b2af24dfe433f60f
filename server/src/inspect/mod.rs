//! `concord inspect`: read-only views of a data dir's files for operators. `inspect snapshot <file>`
//! (`snapshot.rs`) prints where a snapshot stands, its membership and key counts; `inspect wal <dir>`
//! (`wal.rs`) dumps a WAL's records in order; `describe.rs` puts an entry into words. Both read
//! Concord's files and etcd 3.4's. On damage they print what they could read, then the error with its
//! file and offset (and exit non-zero).

pub mod describe;
pub mod snapshot;
pub mod wal;

#[cfg(test)]
mod tests;

use std::path::Path;

use crate::migrate::detect::wal_dir_is_etcd;
use crate::storage::disk::OsDisk;

/// The usage lines printed on a mistake.
pub const USAGE: &str = "usage: concord inspect snapshot <file>\n       concord inspect wal <dir>";

/// Runs `concord inspect` with the arguments after `inspect`: what to print on stdout, and the error
/// (printed after it, on stderr) if the files were damaged or the arguments wrong.
pub fn run(args: &[String]) -> (String, Option<String>) {
    match args {
        [what, path] if what == "snapshot" => snapshot::inspect_snapshot(Path::new(path)),
        [what, dir] if what == "wal" => inspect_wal(Path::new(dir)),
        _ => (String::new(), Some(USAGE.to_string())),
    }
}

/// A WAL directory, Concord's or etcd's (told apart by its first record).
pub fn inspect_wal(dir: &Path) -> (String, Option<String>) {
    if wal_dir_is_etcd(dir) { wal::etcd_wal(dir) } else { wal::concord_wal(&OsDisk::new(), dir) }
}
