//! Watching the free space of the data and WAL directories, so a disk that is filling up turns
//! client writes away before the WAL itself runs out of room.
//!
//! A failed WAL write or fsync stops the member (DESIGN.md, "A full disk"): after a failed fsync
//! the kernel may have dropped the dirty pages, so no retry can be trusted. To keep a full disk from
//! getting that far, a task samples the free space every [`SAMPLE_INTERVAL`]; below
//! [`DISK_RESERVE_BYTES`] new client writes (v2 writes, v3 puts, deletes, txns and lease grants)
//! are refused with a clear error while reads go on, and once space returns writes are taken again,
//! without a restart. The reserve leaves room for what the member writes by itself meanwhile (Raft's
//! internal entries, a snapshot) and for the writes already accepted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Free bytes below which client writes are refused.
pub const DISK_RESERVE_BYTES: u64 = 64 << 20;
/// How often the free space is sampled.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// Whether the data disk is below its reserve; shared by every request path.
#[derive(Clone, Debug, Default)]
pub struct DiskSpace {
    low: Arc<AtomicBool>,
}

impl DiskSpace {
    /// True while the last sample found less than the reserve free.
    pub fn is_low(&self) -> bool {
        self.low.load(Ordering::Relaxed)
    }

    /// The error text a refused write carries.
    pub fn refusal() -> String {
        format!(
            "etcdserver: no space left on the data disk (less than {DISK_RESERVE_BYTES} bytes free); \
             writes resume once space is freed"
        )
    }
}

/// Starts sampling the free space of `directories` until `cancel`; the disk is low when any of
/// them is below the reserve. A directory whose space cannot be read counts as not low (logged).
pub(super) fn watch_disk_space(directories: Vec<PathBuf>, cancel: CancellationToken) -> DiskSpace {
    assert!(!directories.is_empty(), "at least the data dir is watched");
    let space = DiskSpace::default();
    let low = Arc::clone(&space.low);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(SAMPLE_INTERVAL);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = cancel.cancelled() => return,
            }
            let now_low = directories.iter().any(|directory| below_reserve(directory));
            let was_low = low.swap(now_low, Ordering::Relaxed);
            if now_low && !was_low {
                tracing::warn!(
                    reserve_bytes = DISK_RESERVE_BYTES,
                    "data disk nearly full: refusing client writes"
                );
            } else if was_low && !now_low {
                tracing::info!("data disk has room again: taking client writes");
            }
        }
    });
    space
}

fn below_reserve(directory: &Path) -> bool {
    match free_bytes(directory) {
        Ok(free) => free < DISK_RESERVE_BYTES,
        Err(error) => {
            tracing::debug!(directory = %directory.display(), %error, "cannot read the free disk space");
            false
        }
    }
}

/// Bytes an unprivileged process may still write on the filesystem holding `directory`.
pub fn free_bytes(directory: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(directory.as_os_str().as_bytes())
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid C string and `stats` is writable memory of the right type; statvfs
    // fills it completely when it returns 0.
    let result = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    if result != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it initialised `stats`.
    let stats = unsafe { stats.assume_init() };
    // The field types differ between platforms (u32 on some 32-bit ones), hence the conversions.
    #[allow(clippy::useless_conversion)]
    let (blocks, block_bytes) = (u64::from(stats.f_bavail), u64::from(stats.f_frsize));
    Ok(blocks.saturating_mul(block_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_free_space_of_an_existing_directory_is_read_and_a_missing_one_is_an_error() {
        let free = free_bytes(&std::env::temp_dir()).expect("statvfs of the temp dir");
        assert!(free > 0, "the temp dir's filesystem has room");
        assert!(free_bytes(Path::new("/no/such/directory/anywhere")).is_err());
    }
}
