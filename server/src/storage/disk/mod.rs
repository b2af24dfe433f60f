//! The small file-system surface the WAL and the snapshotter use for ALL file access, and its two
//! implementations: [`OsDisk`] (real files, real `fdatasync`, in `os.rs`) and [`MemDisk`] (the
//! simulator's disk: deterministic, in memory, and honest about what a crash keeps, in `memory.rs`).
//!
//! The trait speaks in paths rather than open handles so that a crash in the simulator is one call on
//! the disk, not a hunt for every handle a node holds. `OsDisk` keeps appended files open behind the
//! scenes so an append is still one `write` and a sync one `fdatasync`.
//!
//! Durability contract, as the callers must assume it (and as `MemDisk` enforces it):
//! - written bytes are durable only after `sync_file` on that file;
//! - a file's existence, a rename and a removal are durable only after `sync_dir` on its directory;
//! - directories made by `create_dir_all` are durable at once (the node makes them before anything
//!   that matters happens, and the OS implementation syncs their parents);
//! - a crash may keep any prefix of the bytes written since the last sync (a torn write), possibly
//!   followed by zeros up to the length the file reached (the size was updated, the data was not).

mod memory;
mod os;

use std::fmt;
use std::io;
use std::path::Path;

pub use memory::{DiskStats, Kept, MemDisk, Tear};
pub use os::OsDisk;

/// The unit a disk writes atomically: a crash keeps or loses whole sectors.
pub const SECTOR_BYTES: usize = 512;

/// The name of the lock file that guards a data directory against a second process.
pub const LOCK_FILE_NAME: &str = "concord.lock";

/// Every file operation storage needs. All paths are absolute or relative to the process's working
/// directory, exactly as given; implementations never interpret them further.
pub trait Disk: Send + Sync + fmt::Debug {
    /// Makes `dir` and its missing parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the regular files directly in `dir`, sorted by name.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Whether `path` names an existing file or directory.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// The whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The length of a file in bytes.
    fn file_len(&self, path: &Path) -> io::Result<u64>;
    /// Makes a new empty file; fails if it already exists.
    fn create_new(&self, path: &Path) -> io::Result<()>;
    /// Appends `data` to the end of an existing file with one write.
    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Cuts (or zero-extends) a file to `size_bytes` bytes.
    fn truncate(&self, path: &Path, size_bytes: u64) -> io::Result<()>;
    /// Makes a file's data durable (`fdatasync`).
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the creations, renames and removals in `dir` durable (`fsync` of the directory).
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Renames a file atomically, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Takes the exclusive lock on the directory `dir` (a lock file inside it). Fails with
    /// `WouldBlock` if another holder (another process, or another open of the same `MemDisk`) has it.
    /// The lock is held until the returned guard is dropped.
    fn lock(&self, dir: &Path) -> io::Result<DirLock>;
}

/// Proof of holding a directory's lock; dropping it releases the lock.
pub struct DirLock {
    _guard: Box<dyn Send + Sync>,
}

impl fmt::Debug for DirLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DirLock")
    }
}

/// Checks at start-up that `dir` takes writes: makes, writes, syncs and removes a probe file, so a
/// read-only or full disk stops the node before it promises anything to anyone.
pub fn check_writable(disk: &dyn Disk, dir: &Path) -> io::Result<()> {
    let probe = dir.join(".concord-write-probe");
    if disk.exists(&probe)? {
        disk.remove(&probe)?;
    }
    disk.create_new(&probe)?;
    let result = disk.append(&probe, b"probe").and_then(|()| disk.sync_file(&probe));
    let removed = disk.remove(&probe);
    result.and(removed)
}
