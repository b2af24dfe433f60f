//! [`OsDisk`]: the [`Disk`] trait over real files through `std::fs`, with appended-to files kept open
//! so an append is one `write` and a sync one `fdatasync`.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::{DirLock, Disk, LOCK_FILE_NAME};

/// How many appended-to files `OsDisk` keeps open at most.
const OS_DISK_MAX_OPEN_FILES: usize = 32;

/// Real files through `std::fs`. Files that are appended to stay open (one handle per path) so
/// appends and syncs cost one system call each.
#[derive(Debug, Default)]
pub struct OsDisk {
    open_files: Mutex<BTreeMap<PathBuf, File>>,
}

impl OsDisk {
    pub fn new() -> OsDisk {
        OsDisk::default()
    }

    fn open_files(&self) -> MutexGuard<'_, BTreeMap<PathBuf, File>> {
        // A panic while holding the lock cannot leave the map inconsistent (it only caches handles).
        self.open_files.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn with_file<R>(&self, path: &Path, action: impl FnOnce(&mut File) -> io::Result<R>) -> io::Result<R> {
        let mut files = self.open_files();
        if !files.contains_key(path) {
            let file = OpenOptions::new().read(true).append(true).open(path)?;
            Self::make_room(&mut files);
            files.insert(path.to_path_buf(), file);
            assert!(files.len() <= OS_DISK_MAX_OPEN_FILES, "the handle cache stays bounded");
        }
        let file = files.get_mut(path).expect("inserted above");
        action(file)
    }

    /// Keeps the handle cache bounded: past the limit every cached handle is closed (they reopen on
    /// demand; in steady state only the WAL tail is appended to, so this is rare).
    fn make_room(files: &mut BTreeMap<PathBuf, File>) {
        if files.len() >= OS_DISK_MAX_OPEN_FILES {
            files.clear();
        }
    }

    fn forget(&self, path: &Path) {
        self.open_files().remove(path);
    }
}

impl Disk for OsDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        // Make the (possibly new) directory entries durable: sync every ancestor's directory.
        for ancestor in dir.ancestors().skip(1) {
            if ancestor.as_os_str().is_empty() {
                break;
            }
            File::open(ancestor)?.sync_all()?;
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for item in std::fs::read_dir(dir)? {
            let item = item?;
            if item.file_type()?.is_file()
                && let Some(name) = item.file_name().to_str()
            {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }

    fn create_new(&self, path: &Path) -> io::Result<()> {
        let file = OpenOptions::new().read(true).append(true).create_new(true).open(path)?;
        let mut files = self.open_files();
        Self::make_room(&mut files);
        files.insert(path.to_path_buf(), file);
        assert!(files.len() <= OS_DISK_MAX_OPEN_FILES, "the handle cache stays bounded");
        Ok(())
    }

    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.with_file(path, |file| file.write_all(data))
    }

    fn truncate(&self, path: &Path, size_bytes: u64) -> io::Result<()> {
        self.with_file(path, |file| file.set_len(size_bytes))
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        self.with_file(path, |file| file.sync_data())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.forget(from);
        self.forget(to);
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.forget(path);
        std::fs::remove_file(path)
    }

    fn lock(&self, dir: &Path) -> io::Result<DirLock> {
        let path = dir.join(LOCK_FILE_NAME);
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _guard: Box::new(file) }),
            Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked by another process", dir.display()),
            )),
            Err(std::fs::TryLockError::Error(error)) => Err(error),
        }
    }
}
