//! The same WAL over real files: what was synced comes back after the process "restarts" (drops every
//! handle and reopens), and the data directory lock keeps a second holder out.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use raft::types::{Entry, EntryPayload, HardState};
use server::storage::disk::{self, Disk, OsDisk};
use server::storage::wal::{Wal, WalOptions, WalSnapshot};

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("concord-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn entry(index: u64, term: u64) -> Entry {
    Entry { term, index, payload: EntryPayload::Normal(Bytes::from(vec![index as u8; 64])) }
}

#[test]
fn a_restarted_node_reads_back_exactly_what_it_synced() {
    let temp = TempDir::new("wal-restart");
    let wal_dir = temp.path().join("member/wal");
    let expected: Vec<Entry> = (1..=1000).map(|index| entry(index, 1 + index / 300)).collect();
    {
        let disk: Arc<dyn Disk> = Arc::new(OsDisk::new());
        let options = WalOptions { segment_size_bytes: 16 * 1024, max_wals: 0 };
        let mut wal = Wal::create(Arc::clone(&disk), &wal_dir, b"meta", options).unwrap();
        for chunk in expected.chunks(7) {
            let last = chunk.last().unwrap();
            wal.save(Some(&HardState { term: last.term, vote: Some(3), commit: last.index - 1 }), chunk)
                .unwrap();
            wal.sync().unwrap();
        }
        assert!(wal.segment_paths().len() > 3, "rotation happened on real files too");
    }
    let disk: Arc<dyn Disk> = Arc::new(OsDisk::new());
    let (mut wal, recovered) =
        Wal::open(Arc::clone(&disk), &wal_dir, WalSnapshot::default(), WalOptions::default()).unwrap();
    assert_eq!(recovered.metadata, b"meta");
    assert_eq!(recovered.entries, expected);
    assert_eq!(recovered.hard_state, HardState { term: 4, vote: Some(3), commit: 999 });
    assert!(recovered.warnings.is_empty());
    wal.save(None, &[entry(1001, 4)]).unwrap();
    wal.sync().unwrap();
}

#[test]
fn a_torn_tail_on_real_files_is_cut_and_reported() {
    let temp = TempDir::new("wal-torn");
    let wal_dir = temp.path().join("member/wal");
    let disk: Arc<dyn Disk> = Arc::new(OsDisk::new());
    let mut wal = Wal::create(Arc::clone(&disk), &wal_dir, b"meta", WalOptions::default()).unwrap();
    wal.save(None, &[entry(1, 1), entry(2, 1)]).unwrap();
    wal.sync().unwrap();
    let tail = wal.segment_paths().pop().unwrap();
    drop(wal);
    // Half a record, as a crash in the middle of a write leaves it.
    let mut file = std::fs::OpenOptions::new().append(true).open(&tail).unwrap();
    std::io::Write::write_all(&mut file, &[0x40, 0, 0, 0, 4, 0, 0]).unwrap();
    drop(file);
    let (_, recovered) =
        Wal::open(Arc::clone(&disk), &wal_dir, WalSnapshot::default(), WalOptions::default()).unwrap();
    assert_eq!(recovered.entries, vec![entry(1, 1), entry(2, 1)]);
    assert_eq!(recovered.warnings.len(), 1);
}

#[test]
fn the_data_dir_lock_refuses_a_second_holder_until_the_first_lets_go() {
    let temp = TempDir::new("lock");
    let first_disk = OsDisk::new();
    let second_disk = OsDisk::new();
    let held = first_disk.lock(temp.path()).unwrap();
    let refused = second_disk.lock(temp.path()).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::WouldBlock);
    drop(held);
    let _taken = second_disk.lock(temp.path()).unwrap();
}

#[test]
fn the_writability_check_passes_on_a_writable_dir_and_fails_on_a_missing_one() {
    let temp = TempDir::new("writable");
    let os_disk = OsDisk::new();
    disk::check_writable(&os_disk, temp.path()).unwrap();
    assert!(os_disk.list(temp.path()).unwrap().is_empty(), "the probe is removed");
    assert!(disk::check_writable(&os_disk, &temp.path().join("missing")).is_err());
}

/// Child side of the kill test: appends and syncs forever, printing each acknowledged index.
fn writer_child(dir: &Path) -> ! {
    use std::io::Write as _;
    let disk: Arc<dyn Disk> = Arc::new(OsDisk::new());
    let options = WalOptions { segment_size_bytes: 8 * 1024, max_wals: 0 };
    let mut wal = Wal::create(disk, dir, b"child", options).unwrap();
    let mut stdout = std::io::stdout();
    for index in 1.. {
        let batch: Vec<Entry> = (0..4).map(|offset| entry(index * 4 + offset - 3, 1)).collect();
        wal.save(Some(&HardState { term: 1, vote: None, commit: index * 4 }), &batch).unwrap();
        wal.sync().unwrap();
        writeln!(stdout, "ack {}", index * 4).unwrap();
        stdout.flush().unwrap();
    }
    unreachable!()
}

#[test]
fn a_process_killed_mid_write_restarts_with_everything_it_acknowledged() {
    const CHILD_ENV: &str = "CONCORD_WAL_KILL_CHILD_DIR";
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        writer_child(Path::new(&dir));
    }
    use std::io::BufRead as _;
    let temp = TempDir::new("wal-kill");
    let wal_dir = temp.path().join("member/wal");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_process_killed_mid_write_restarts_with_everything_it_acknowledged",
            "--nocapture",
        ])
        .env(CHILD_ENV, &wal_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acknowledged = 0u64;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(index) = line.strip_prefix("ack ") {
            acknowledged = index.parse().unwrap();
            if acknowledged >= 400 {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(acknowledged >= 400, "the child died early");

    let disk: Arc<dyn Disk> = Arc::new(OsDisk::new());
    let (mut wal, recovered) =
        Wal::open(Arc::clone(&disk), &wal_dir, WalSnapshot::default(), WalOptions::default()).unwrap();
    let recovered_last = recovered.entries.last().unwrap().index;
    assert!(recovered_last >= acknowledged, "acknowledged {acknowledged}, recovered {recovered_last}");
    for (position, recovered_entry) in recovered.entries.iter().enumerate() {
        assert_eq!(recovered_entry, &entry(position as u64 + 1, 1));
    }
    assert!(recovered.hard_state.commit >= acknowledged);
    assert!(wal.segment_paths().len() > 1, "the child rotated segments");
    wal.save(None, &[entry(recovered_last + 1, 1)]).unwrap();
    wal.sync().unwrap();
}
