//! WAL throughput on this machine's disk: fsync'd batches per second and entries per second for
//! batches of 1, 16, 256 and 4096 entries of ~64 bytes, next to a bare 4 KiB write + fdatasync
//! measured in the same run (the physical limit of one durable write).
//!
//! Run: `cargo bench -p server --bench wal_bench` (optionally `-- <dir>` for the directory to use;
//! the default is a fresh directory under the system temp dir, which must be on a real disk, not
//! tmpfs: the bench reports the file system type it found).
//! Each measurement runs for a fixed number of iterations (no clock decides when to stop), and
//! prints figures; nothing here asserts on time.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use raft::types::{Entry, EntryPayload, HardState};
use server::storage::disk::{Disk, OsDisk};
use server::storage::wal::{Wal, WalOptions, WalSnapshot};

const ENTRY_PAYLOAD: usize = 64;

fn main() {
    let base = std::env::args()
        .skip(1)
        .find(|argument| !argument.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("concord-wal-bench-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).expect("bench directory");
    println!("directory: {} (file system: {})", base.display(), file_system_of(&base));

    let bare = bare_fdatasync(&base.join("bare"), 300);
    let bare_overwrite = bare_overwrite_fdatasync(&base.join("bare-overwrite"), 300);
    println!(
        "bare 4 KiB append + fdatasync:    {:>9.1} us/op  {:>8.0} ops/s",
        micros(bare),
        1.0 / bare.as_secs_f64()
    );
    println!(
        "bare 4 KiB overwrite + fdatasync: {:>9.1} us/op  {:>8.0} ops/s",
        micros(bare_overwrite),
        1.0 / bare_overwrite.as_secs_f64()
    );
    println!();
    println!(
        "{:>6} {:>12} {:>12} {:>14} {:>12}",
        "batch", "us/batch", "batches/s", "entries/s", "x bare sync"
    );
    for (batch, iterations) in [(1usize, 300usize), (16, 300), (256, 200), (4096, 60)] {
        let per_batch = wal_batches(&base.join(format!("wal-{batch}")), batch, iterations);
        println!(
            "{:>6} {:>12.1} {:>12.0} {:>14.0} {:>12.2}",
            batch,
            micros(per_batch),
            1.0 / per_batch.as_secs_f64(),
            batch as f64 / per_batch.as_secs_f64(),
            per_batch.as_secs_f64() / bare.as_secs_f64()
        );
    }
    // Recovery: read back the largest WAL just written (CRC checks, decoding, replay).
    let recovery_dir = base.join("wal-4096");
    let started = Instant::now();
    let disk: Arc<dyn Disk> = Arc::new(OsDisk::new());
    let (_, recovered) =
        Wal::open(disk, &recovery_dir, WalSnapshot::default(), WalOptions::default()).expect("reopen WAL");
    let elapsed = started.elapsed();
    println!();
    println!(
        "recovery: {} entries in {:.1} ms ({:.0} entries/s)",
        recovered.entries.len(),
        elapsed.as_secs_f64() * 1e3,
        recovered.entries.len() as f64 / elapsed.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&base);
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// The median of per-iteration timings: robust against the odd slow journal commit.
fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Appends 4 KiB and fdatasyncs, `iterations` times; the median cost of one.
fn bare_fdatasync(path: &Path, iterations: usize) -> Duration {
    let mut file = OpenOptions::new().create(true).append(true).open(path).expect("bare file");
    let block = vec![0xA5u8; 4096];
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        file.write_all(&block).expect("write");
        file.sync_data().expect("fdatasync");
        samples.push(started.elapsed());
    }
    median(samples)
}

/// Overwrites the same 4 KiB block in place and fdatasyncs: no size change, no metadata to journal.
fn bare_overwrite_fdatasync(path: &Path, iterations: usize) -> Duration {
    use std::os::unix::fs::FileExt;
    let file =
        OpenOptions::new().create(true).truncate(true).read(true).write(true).open(path).expect("file");
    let block = vec![0x5Au8; 4096];
    file.write_all_at(&block, 0).expect("write");
    file.sync_all().expect("sync");
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        file.write_all_at(&block, 0).expect("write");
        file.sync_data().expect("fdatasync");
        samples.push(started.elapsed());
    }
    median(samples)
}

/// Saves `iterations` batches of `batch` entries (plus a hard state) with one sync each; the median
/// cost of one save + sync.
fn wal_batches(dir: &Path, batch: usize, iterations: usize) -> Duration {
    let disk: Arc<dyn Disk> = Arc::new(OsDisk::new());
    let mut wal = Wal::create(disk, dir, b"bench", WalOptions::default()).expect("create WAL");
    let payload = Bytes::from(vec![0x42u8; ENTRY_PAYLOAD]);
    let mut next_index = 1u64;
    let mut samples = Vec::with_capacity(iterations);
    let mut entries = Vec::with_capacity(batch);
    for _ in 0..iterations {
        entries.clear();
        entries.extend((0..batch as u64).map(|offset| Entry {
            term: 1,
            index: next_index + offset,
            payload: EntryPayload::Normal(payload.clone()),
        }));
        next_index += batch as u64;
        let hard_state = HardState { term: 1, vote: Some(1), commit: next_index - 1 };
        let started = Instant::now();
        wal.save(Some(&hard_state), &entries).expect("save");
        wal.sync().expect("sync");
        samples.push(started.elapsed());
    }
    median(samples)
}

/// The file system type of `path` from /proc/self/mounts (longest matching mount point).
fn file_system_of(path: &Path) -> String {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return "unknown".to_string();
    };
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let device = fields.next()?;
            let mount_point = fields.next()?;
            let kind = fields.next()?;
            path.starts_with(mount_point).then(|| (mount_point.len(), format!("{kind} on {device}")))
        })
        .max_by_key(|(length, _)| *length)
        .map_or_else(|| "unknown".to_string(), |(_, description)| description)
}
