//! [`MemDisk`]: the simulator's disk. Deterministic and in memory, it keeps per file the bytes the
//! process sees and the bytes a crash would keep, and per directory the names that are durable; it
//! injects faults on request (failed writes and syncs, power cuts part-way through a sequence of
//! writes, torn writes at a crash ([`Tear`]), bit rot).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{DirLock, Disk, SECTOR_BYTES};

/// How a crash treats bytes written since a file's last sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tear {
    /// Keep none of them.
    DropUnsynced,
    /// Keep a prefix of them whose length is drawn from `seed`; with `zero_fill` the file may also
    /// keep its full unsynced length with the lost bytes read back as zeros.
    Seeded { seed: u64, zero_fill: bool },
}

/// What the file system keeps of one file's unsynced bytes at a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kept {
    /// How many of the unsynced appended bytes survive (clamped to what there is).
    pub prefix_bytes: usize,
    /// Whether the lost remainder reads back as zeros (the file keeps its full length).
    pub zero_fill: bool,
}

/// Counters of the calls a `MemDisk` served, so tests can check "one write, one sync per batch".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    pub appends: u64,
    pub file_syncs: u64,
    pub dir_syncs: u64,
}

/// One file's content. What survives a crash is normally a prefix of what is written (appends since
/// the last sync), so it is kept as a length and a sync costs nothing; only when a truncation cuts
/// into the durable bytes is a copy of them kept aside.
#[derive(Clone, Debug, Default)]
struct Inode {
    /// What reads see now.
    written: Vec<u8>,
    /// What survives a crash, when it is `written[..durable_bytes]`.
    durable_bytes: usize,
    /// What survives a crash, when it is no longer a prefix of `written`.
    diverged: Option<Vec<u8>>,
}

impl Inode {
    /// The synced bytes are a prefix of what reads see, unless a truncation cut into them (then a
    /// copy of them is kept aside).
    fn assert_consistent(&self) {
        assert!(
            self.diverged.is_some() || self.durable_bytes <= self.written.len(),
            "synced length {} beyond the length {}",
            self.durable_bytes,
            self.written.len()
        );
    }

    fn unsynced_bytes(&self) -> usize {
        match &self.diverged {
            Some(durable) => self.written.len().saturating_sub(durable.len()),
            None => self.written.len() - self.durable_bytes,
        }
    }

    fn resize(&mut self, size_bytes: usize) {
        if size_bytes < self.durable_bytes && self.diverged.is_none() {
            self.diverged = Some(self.written[..self.durable_bytes].to_vec());
        }
        self.written.resize(size_bytes, 0);
        self.assert_consistent();
    }

    fn append(&mut self, data: &[u8]) {
        self.written.extend_from_slice(data);
        self.assert_consistent();
    }

    fn sync(&mut self) {
        self.durable_bytes = self.written.len();
        self.diverged = None;
        self.assert_consistent();
    }

    /// Returns to the durable content plus `kept` of the unsynced appended bytes (when the change
    /// since the last sync was a pure append; otherwise to the durable content alone).
    fn crash(&mut self, keep: impl FnOnce(usize) -> Kept) {
        if let Some(durable) = self.diverged.take() {
            self.written = durable;
        } else if self.written.len() > self.durable_bytes {
            let unsynced = self.written.len() - self.durable_bytes;
            let kept = keep(unsynced);
            let full_bytes = self.written.len();
            let mut kept_bytes = self.durable_bytes + kept.prefix_bytes.min(unsynced);
            if kept.zero_fill {
                // A disk loses whole sectors: the bytes that read back as zeros start at a sector
                // boundary (or where the unsynced bytes start), never in the middle of a sector.
                kept_bytes = (kept_bytes / SECTOR_BYTES * SECTOR_BYTES).max(self.durable_bytes);
            }
            assert!(
                self.durable_bytes <= kept_bytes && kept_bytes <= full_bytes,
                "a crash keeps the synced bytes and at most what was written"
            );
            self.written.truncate(kept_bytes);
            if kept.zero_fill {
                self.written.resize(full_bytes, 0);
            }
        }
        self.sync();
    }

    fn flip_bit(&mut self, offset: usize, mask: u8) -> io::Result<()> {
        let byte = self.written.get_mut(offset).ok_or_else(|| io::Error::other("offset past the end"))?;
        *byte ^= mask;
        if let Some(byte) = self.diverged.as_mut().and_then(|durable| durable.get_mut(offset)) {
            *byte ^= mask;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default)]
struct MemState {
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    /// The namespace as the running process sees it.
    names: BTreeMap<PathBuf, u64>,
    /// The namespace a crash returns to (changed only by `sync_dir`).
    durable_names: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    /// Locked directories, each with the token of its holder (so a guard that outlived a crash
    /// cannot release the lock of the holder that came after it).
    locked: BTreeMap<PathBuf, u64>,
    next_lock_token: u64,
    fail_writes: u64,
    fail_syncs: u64,
    /// After this many more mutating operations every one fails, until the crash (a power cut in
    /// the middle of a sequence of writes).
    power_budget: Option<u64>,
    stats: DiskStats,
}

/// The simulator's disk: deterministic and in memory. It tracks, per file, the bytes the process
/// sees and the bytes that would survive a crash, and per directory the names that are durable.
/// Clones are handles to the same disk (the node keeps one, the simulator another to crash it);
/// [`MemDisk::fork`] makes an independent copy.
#[derive(Clone, Debug, Default)]
pub struct MemDisk {
    state: Arc<Mutex<MemState>>,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{}: no such file", path.display()))
}

fn injected(operation: &str, path: &Path) -> io::Error {
    io::Error::other(format!("injected I/O error (EIO) on {operation} of {}", path.display()))
}

/// A small deterministic mixer (splitmix64) so tearing needs no RNG dependency.
fn mix(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

impl MemDisk {
    pub fn new() -> MemDisk {
        MemDisk::default()
    }

    fn state(&self) -> MutexGuard<'_, MemState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An independent copy of this disk in its current state (written and durable views alike).
    pub fn fork(&self) -> MemDisk {
        let mut copy = self.state().clone();
        copy.locked.clear();
        MemDisk { state: Arc::new(Mutex::new(copy)) }
    }

    /// The machine loses power: every file returns to its durable content (plus whatever of its
    /// unsynced bytes `tear` keeps), the namespace returns to its last synced state, locks are freed
    /// and pending injected failures are forgotten.
    pub fn crash(&self, tear: Tear) {
        match tear {
            Tear::DropUnsynced => self.crash_with(|_, _| Kept { prefix_bytes: 0, zero_fill: false }),
            Tear::Seeded { seed, zero_fill } => {
                let mut counter = seed;
                self.crash_with(|_, unsynced| {
                    counter = mix(counter);
                    let prefix_bytes = (counter % (unsynced as u64 + 1)) as usize;
                    Kept { prefix_bytes, zero_fill: zero_fill && (counter >> 32) % 2 == 0 }
                })
            }
        }
    }

    /// A crash where the caller decides, per file with unsynced appended bytes (visited in path
    /// order), how much of them survives: `keep(path, unsynced_bytes)`. Files whose unsynced change
    /// is not a pure append (a truncation, say) return to their durable content.
    pub fn crash_with(&self, mut keep: impl FnMut(&Path, usize) -> Kept) {
        let mut state = self.state();
        let state = &mut *state;
        state.names = state.durable_names.clone();
        let live: BTreeSet<u64> = state.names.values().copied().collect();
        state.inodes.retain(|inode, _| live.contains(inode));
        let mut paths: Vec<(&PathBuf, &u64)> = state.names.iter().collect();
        paths.sort();
        for (path, inode_id) in paths {
            let inode = state.inodes.get_mut(inode_id).expect("named inodes exist");
            inode.crash(|unsynced| keep(path, unsynced));
        }
        state.locked.clear();
        state.fail_writes = 0;
        state.fail_syncs = 0;
        state.power_budget = None;
        state.debug_assert_names_resolve();
    }

    /// Bit rot: flips bit `bit` (0..8) of the byte at `offset`, in both the visible and the durable
    /// content. Fails if the file is shorter.
    pub fn flip_bit(&self, path: &Path, offset: u64, bit: u8) -> io::Result<()> {
        let mut state = self.state();
        let inode_id = *state.names.get(path).ok_or_else(|| not_found(path))?;
        let inode = state.inodes.get_mut(&inode_id).expect("named inodes exist");
        let offset = usize::try_from(offset).map_err(|_| io::Error::other("offset too large"))?;
        inode.flip_bit(offset, 1u8 << (bit % 8))
    }

    /// Every file with its current length, by path.
    pub fn files(&self) -> Vec<(PathBuf, u64)> {
        let state = self.state();
        state
            .names
            .iter()
            .map(|(path, inode)| (path.clone(), state.inodes[inode].written.len() as u64))
            .collect()
    }

    /// Bit rot somewhere: flips one bit of one byte of one non-empty file whose path starts with
    /// `under`, all chosen from `seed`. Returns what it flipped (path, offset, bit), or `None` if
    /// there is no such file.
    pub fn flip_random_bit(&self, under: &Path, seed: u64) -> Option<(PathBuf, u64, u8)> {
        let candidates: Vec<(PathBuf, u64)> = self
            .files()
            .into_iter()
            .filter(|(path, size_bytes)| *size_bytes > 0 && path.starts_with(under))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let first = mix(seed);
        let second = mix(first);
        let (path, size_bytes) = &candidates[(first % candidates.len() as u64) as usize];
        let offset = second % size_bytes;
        let bit = (second >> 59) as u8 % 8;
        self.flip_bit(path, offset, bit).expect("the file and offset exist");
        Some((path.clone(), offset, bit))
    }

    /// The next `count` appends, truncations and file creations fail with an EIO-like error and
    /// change nothing.
    pub fn fail_next_writes(&self, count: u64) {
        self.state().fail_writes = count;
    }

    /// The next `count` file or directory syncs fail with an EIO-like error and make nothing durable.
    pub fn fail_next_syncs(&self, count: u64) {
        self.state().fail_syncs = count;
    }

    /// The power fails after `operations` more mutating operations (create, append, truncate, sync,
    /// rename, remove): from then on every one fails with an EIO-like error and changes nothing,
    /// until [`MemDisk::crash`]. Lets a test stop a sequence of writes at every point.
    pub fn cut_power_after(&self, operations: u64) {
        self.state().power_budget = Some(operations);
    }

    pub fn stats(&self) -> DiskStats {
        self.state().stats
    }

    /// How many bytes of `path` would not survive a crash (for tests).
    pub fn unsynced_bytes(&self, path: &Path) -> io::Result<usize> {
        let state = self.state();
        let inode_id = state.names.get(path).ok_or_else(|| not_found(path))?;
        let inode = &state.inodes[inode_id];
        Ok(inode.unsynced_bytes())
    }
}

impl MemState {
    /// Every name, visible or durable, refers to a file that exists.
    fn debug_assert_names_resolve(&self) {
        debug_assert!(
            self.names
                .values()
                .chain(self.durable_names.values())
                .all(|inode| self.inodes.contains_key(inode)),
            "a name refers to a freed file"
        );
    }

    fn inode_mut(&mut self, path: &Path) -> io::Result<&mut Inode> {
        let inode_id = *self.names.get(path).ok_or_else(|| not_found(path))?;
        Ok(self.inodes.get_mut(&inode_id).expect("named inodes exist"))
    }

    /// Spends one operation of the power budget, failing when it is exhausted.
    fn spend_power(&mut self, operation: &str, path: &Path) -> io::Result<()> {
        match &mut self.power_budget {
            Some(0) => Err(injected(&format!("{operation} after the power cut"), path)),
            Some(budget) => {
                *budget -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn take_write_failure(&mut self, operation: &str, path: &Path) -> io::Result<()> {
        self.spend_power(operation, path)?;
        if self.fail_writes > 0 {
            self.fail_writes -= 1;
            return Err(injected(operation, path));
        }
        Ok(())
    }

    fn take_sync_failure(&mut self, operation: &str, path: &Path) -> io::Result<()> {
        self.spend_power(operation, path)?;
        if self.fail_syncs > 0 {
            self.fail_syncs -= 1;
            return Err(injected(operation, path));
        }
        Ok(())
    }

    fn require_dir(&self, path: &Path) -> io::Result<()> {
        let parent = path.parent().unwrap_or(Path::new(""));
        if parent.as_os_str().is_empty() || self.dirs.contains(parent) {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, format!("{}: no such directory", parent.display())))
        }
    }
}

impl Disk for MemDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state();
        for ancestor in dir.ancestors() {
            if !ancestor.as_os_str().is_empty() {
                state.dirs.insert(ancestor.to_path_buf());
            }
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let state = self.state();
        if !state.dirs.contains(dir) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such directory", dir.display()),
            ));
        }
        // `names` is a BTreeMap, so the names come out sorted.
        let names = state
            .names
            .keys()
            .filter(|path| path.parent() == Some(dir))
            .filter_map(|path| path.file_name().and_then(|name| name.to_str()).map(str::to_string))
            .collect();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let state = self.state();
        Ok(state.names.contains_key(path) || state.dirs.contains(path))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        Ok(self.state().inode_mut(path)?.written.clone())
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        Ok(self.state().inode_mut(path)?.written.len() as u64)
    }

    fn create_new(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.require_dir(path)?;
        if state.names.contains_key(path) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{}: exists", path.display())));
        }
        state.take_write_failure("create", path)?;
        let inode_id = state.next_inode;
        state.next_inode += 1;
        state.inodes.insert(inode_id, Inode::default());
        state.names.insert(path.to_path_buf(), inode_id);
        Ok(())
    }

    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut state = self.state();
        state.inode_mut(path)?;
        state.take_write_failure("append", path)?;
        state.stats.appends += 1;
        state.inode_mut(path)?.append(data);
        Ok(())
    }

    fn truncate(&self, path: &Path, size_bytes: u64) -> io::Result<()> {
        let mut state = self.state();
        state.inode_mut(path)?;
        state.take_write_failure("truncate", path)?;
        let size_bytes = usize::try_from(size_bytes).map_err(|_| io::Error::other("length too large"))?;
        state.inode_mut(path)?.resize(size_bytes);
        Ok(())
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.inode_mut(path)?;
        state.take_sync_failure("fdatasync", path)?;
        state.stats.file_syncs += 1;
        state.inode_mut(path)?.sync();
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state();
        if !state.dirs.contains(dir) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such directory", dir.display()),
            ));
        }
        state.take_sync_failure("fsync", dir)?;
        state.stats.dir_syncs += 1;
        let state = &mut *state;
        state.durable_names.retain(|path, _| path.parent() != Some(dir));
        for (path, inode) in &state.names {
            if path.parent() == Some(dir) {
                state.durable_names.insert(path.clone(), *inode);
            }
        }
        // Files removed for good (no name now, none after a crash) free their memory.
        let referenced: BTreeSet<u64> =
            state.names.values().chain(state.durable_names.values()).copied().collect();
        state.inodes.retain(|inode, _| referenced.contains(inode));
        state.debug_assert_names_resolve();
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.require_dir(to)?;
        if !state.names.contains_key(from) {
            return Err(not_found(from));
        }
        state.spend_power("rename", from)?;
        let inode_id = state.names.remove(from).expect("checked above");
        state.names.insert(to.to_path_buf(), inode_id);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state();
        if !state.names.contains_key(path) {
            return Err(not_found(path));
        }
        state.spend_power("remove", path)?;
        state.names.remove(path);
        // The inode stays until a crash or until no durable name refers to it either.
        Ok(())
    }

    fn lock(&self, dir: &Path) -> io::Result<DirLock> {
        let mut state = self.state();
        if !state.dirs.contains(dir) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such directory", dir.display()),
            ));
        }
        if state.locked.contains_key(dir) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, format!("{} is locked", dir.display())));
        }
        let token = state.next_lock_token;
        state.next_lock_token += 1;
        state.locked.insert(dir.to_path_buf(), token);
        struct MemLock {
            state: Arc<Mutex<MemState>>,
            dir: PathBuf,
            token: u64,
        }
        impl Drop for MemLock {
            fn drop(&mut self) {
                let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if state.locked.get(&self.dir) == Some(&self.token) {
                    state.locked.remove(&self.dir);
                }
            }
        }
        let guard = MemLock { state: Arc::clone(&self.state), dir: dir.to_path_buf(), token };
        Ok(DirLock { _guard: Box::new(guard) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> PathBuf {
        Path::new("/data").join(name)
    }

    fn disk_with_dir() -> MemDisk {
        let disk = MemDisk::new();
        disk.create_dir_all(Path::new("/data")).unwrap();
        disk
    }

    #[test]
    fn unsynced_bytes_are_lost_and_synced_bytes_survive() {
        let disk = disk_with_dir();
        disk.create_new(&file("a")).unwrap();
        disk.sync_dir(Path::new("/data")).unwrap();
        disk.append(&file("a"), b"durable").unwrap();
        disk.sync_file(&file("a")).unwrap();
        disk.append(&file("a"), b" lost").unwrap();
        disk.crash(Tear::DropUnsynced);
        assert_eq!(disk.read(&file("a")).unwrap(), b"durable");
    }

    #[test]
    fn a_file_created_without_a_directory_sync_vanishes_in_a_crash() {
        let disk = disk_with_dir();
        disk.create_new(&file("a")).unwrap();
        disk.append(&file("a"), b"x").unwrap();
        disk.sync_file(&file("a")).unwrap();
        disk.crash(Tear::DropUnsynced);
        assert!(!disk.exists(&file("a")).unwrap());
    }

    #[test]
    fn an_unsynced_rename_and_removal_are_undone_by_a_crash() {
        let disk = disk_with_dir();
        disk.create_new(&file("a")).unwrap();
        disk.create_new(&file("b")).unwrap();
        disk.sync_dir(Path::new("/data")).unwrap();
        disk.rename(&file("a"), &file("c")).unwrap();
        disk.remove(&file("b")).unwrap();
        assert_eq!(disk.list(Path::new("/data")).unwrap(), vec!["c".to_string()]);
        disk.crash(Tear::DropUnsynced);
        assert_eq!(disk.list(Path::new("/data")).unwrap(), vec!["a".to_string(), "b".to_string()]);
    }

    #[test]
    fn a_torn_write_keeps_a_prefix_chosen_by_the_caller() {
        let disk = disk_with_dir();
        disk.create_new(&file("a")).unwrap();
        disk.sync_dir(Path::new("/data")).unwrap();
        disk.append(&file("a"), b"0123456789").unwrap();
        disk.crash_with(|_, unsynced| {
            assert_eq!(unsynced, 10);
            Kept { prefix_bytes: 4, zero_fill: false }
        });
        assert_eq!(disk.read(&file("a")).unwrap(), b"0123");
        // What the crash kept is now the durable content.
        assert_eq!(disk.unsynced_bytes(&file("a")).unwrap(), 0);
    }

    #[test]
    fn a_zero_filled_tear_loses_whole_sectors() {
        let disk = disk_with_dir();
        disk.create_new(&file("a")).unwrap();
        disk.sync_dir(Path::new("/data")).unwrap();
        disk.append(&file("a"), &[7u8; 1000]).unwrap();
        disk.crash_with(|_, _| Kept { prefix_bytes: 600, zero_fill: true });
        let content = disk.read(&file("a")).unwrap();
        assert_eq!(content.len(), 1000, "the file keeps its length");
        assert!(content[..SECTOR_BYTES].iter().all(|&byte| byte == 7), "the first sector survives whole");
        assert!(content[SECTOR_BYTES..].iter().all(|&byte| byte == 0), "the torn sector reads back as zeros");
    }

    #[test]
    fn an_unsynced_truncation_into_synced_bytes_is_undone_by_a_crash() {
        let disk = disk_with_dir();
        disk.create_new(&file("a")).unwrap();
        disk.sync_dir(Path::new("/data")).unwrap();
        disk.append(&file("a"), b"abcdef").unwrap();
        disk.sync_file(&file("a")).unwrap();
        disk.truncate(&file("a"), 2).unwrap();
        disk.append(&file("a"), b"XY").unwrap();
        assert_eq!(disk.read(&file("a")).unwrap(), b"abXY");
        disk.crash(Tear::Seeded { seed: 3, zero_fill: true });
        assert_eq!(disk.read(&file("a")).unwrap(), b"abcdef");
        // Truncations that stay above the synced length keep the durable prefix as it is.
        disk.append(&file("a"), b"ghij").unwrap();
        disk.truncate(&file("a"), 8).unwrap();
        disk.crash(Tear::DropUnsynced);
        assert_eq!(disk.read(&file("a")).unwrap(), b"abcdef");
    }

    #[test]
    fn injected_failures_change_nothing_and_are_counted_down() {
        let disk = disk_with_dir();
        disk.create_new(&file("a")).unwrap();
        disk.fail_next_writes(1);
        assert!(disk.append(&file("a"), b"x").is_err());
        disk.append(&file("a"), b"y").unwrap();
        disk.fail_next_syncs(1);
        assert!(disk.sync_file(&file("a")).is_err());
        assert_eq!(disk.unsynced_bytes(&file("a")).unwrap(), 1);
        disk.sync_file(&file("a")).unwrap();
        assert_eq!(disk.read(&file("a")).unwrap(), b"y");
    }

    #[test]
    fn a_random_bit_flip_is_deterministic_and_lands_inside_a_chosen_file() {
        let disk = disk_with_dir();
        disk.create_new(&file("a")).unwrap();
        disk.append(&file("a"), &[0u8; 100]).unwrap();
        disk.create_new(&file("empty")).unwrap();
        let twin = disk.fork();
        let flipped = disk.flip_random_bit(Path::new("/data"), 42).unwrap();
        assert_eq!(twin.flip_random_bit(Path::new("/data"), 42), Some(flipped.clone()));
        let (path, offset, bit) = flipped;
        assert_eq!(path, file("a"));
        assert_eq!(disk.read(&path).unwrap()[offset as usize], 1 << bit);
        assert_eq!(disk.flip_random_bit(Path::new("/elsewhere"), 42), None);
    }

    #[test]
    fn the_lock_refuses_a_second_holder_until_released_or_crashed() {
        let disk = disk_with_dir();
        let lock = disk.lock(Path::new("/data")).unwrap();
        assert_eq!(disk.lock(Path::new("/data")).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        drop(lock);
        let _again = disk.lock(Path::new("/data")).unwrap();
        disk.crash(Tear::DropUnsynced);
        let _after_crash = disk.lock(Path::new("/data")).unwrap();
    }
}
