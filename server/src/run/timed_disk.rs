//! The real disk with a stopwatch on its syncs, for `/metrics` (etcd's fsync histograms). It lives in the
//! shell because it reads the clock; the node below sees a plain `Disk`.

use std::sync::Arc;
use std::time::Instant;

use crate::http::backend as api;
use crate::storage::disk::{Disk, OsDisk};

/// fsync durations for `/metrics`, measured where the disk is touched. Syncs of WAL segments are
/// etcd's `etcd_disk_wal_fsync_duration_seconds`; every other file sync (snapshot files, a new WAL
/// segment before its rename) stands in for etcd's backend commits
/// (`etcd_disk_backend_commit_duration_seconds`), the other place a member waits for its disk.
pub(super) struct DiskTimings {
    pub(super) wal_fsync: std::sync::Mutex<api::Histogram>,
    pub(super) snapshot_fsync: std::sync::Mutex<api::Histogram>,
}

impl Default for DiskTimings {
    fn default() -> DiskTimings {
        DiskTimings {
            wal_fsync: std::sync::Mutex::new(api::Histogram::etcd_disk_buckets()),
            snapshot_fsync: std::sync::Mutex::new(api::Histogram::etcd_disk_buckets()),
        }
    }
}

/// The real disk with a stopwatch on `sync_file`: the shell's clock stays in the shell, and the node
/// below keeps seeing a plain `Disk`.
#[derive(Debug)]
pub(super) struct TimedDisk {
    pub(super) inner: OsDisk,
    pub(super) timings: Arc<DiskTimings>,
}

impl std::fmt::Debug for DiskTimings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DiskTimings")
    }
}

impl Disk for TimedDisk {
    fn create_dir_all(&self, dir: &std::path::Path) -> std::io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn list(&self, dir: &std::path::Path) -> std::io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn exists(&self, path: &std::path::Path) -> std::io::Result<bool> {
        self.inner.exists(path)
    }
    fn read(&self, path: &std::path::Path) -> std::io::Result<Vec<u8>> {
        self.inner.read(path)
    }
    fn file_len(&self, path: &std::path::Path) -> std::io::Result<u64> {
        self.inner.file_len(path)
    }
    fn create_new(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.inner.create_new(path)
    }
    fn append(&self, path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
        self.inner.append(path, data)
    }
    fn truncate(&self, path: &std::path::Path, len: u64) -> std::io::Result<()> {
        self.inner.truncate(path, len)
    }
    fn sync_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        let started = Instant::now();
        let result = self.inner.sync_file(path);
        let seconds = started.elapsed().as_secs_f64();
        let histogram = if path.extension().is_some_and(|extension| extension == "wal") {
            &self.timings.wal_fsync
        } else {
            &self.timings.snapshot_fsync
        };
        if let Ok(mut histogram) = histogram.lock() {
            histogram.observe(seconds);
        }
        result
    }
    fn sync_dir(&self, dir: &std::path::Path) -> std::io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn rename(&self, from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.inner.remove(path)
    }
    fn lock(&self, dir: &std::path::Path) -> std::io::Result<crate::storage::disk::DirLock> {
        self.inner.lock(dir)
    }
}
