//! Damage at every place of a real WAL segment and a real snapshot file on `OsDisk`: for every record
//! boundary of the segment, and several offsets inside every record, the file is cut there, 16 bytes
//! are zeroed there, or one bit is flipped there. Opening the WAL afterwards must either recover
//! exactly the records before the damaged one (a torn tail: only when the damaged record is the
//! last one of the last segment, and with a warning where it was cut) or refuse with an error
//! naming the file and the offset of the damaged record, and leave the file as it found it. It
//! never returns anything that was not written, and never panics. In a segment that is not the
//! last, every damage is refused. Every flip or cut of a snapshot file is refused, naming the file.
//! The rules are DESIGN.md's ("Torn tails and corruption", "Snapshot files").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use raft::types::{ConfState, Entry, EntryPayload, HardState, Snapshot, SnapshotMeta};
use server::storage::disk::{Disk, OsDisk};
use server::storage::snap::{SnapError, Snapshotter};
use server::storage::wal::{
    RECORD_HEADER_BYTES, RecordType, RecoveryWarning, Wal, WalError, WalOptions, WalSnapshot,
};

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("concord-damage-{name}-{}", std::process::id()));
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

/// One way to damage a file at an offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Damage {
    /// The file ends there.
    Truncate,
    /// 16 bytes from there are zeros (fewer at the end of the file).
    Zero16,
    /// One bit of the byte there is flipped.
    FlipBit,
}

const DAMAGES: [Damage; 3] = [Damage::Truncate, Damage::Zero16, Damage::FlipBit];

/// The damaged bytes, or `None` when the damage changes nothing (zeros over zeros, a cut at the end).
fn damaged(pristine: &[u8], damage: Damage, offset: usize) -> Option<Vec<u8>> {
    let mut bytes = pristine.to_vec();
    match damage {
        Damage::Truncate => bytes.truncate(offset),
        Damage::Zero16 => {
            let end = (offset + 16).min(bytes.len());
            bytes[offset..end].fill(0);
        }
        Damage::FlipBit => bytes[offset] ^= 1 << (offset % 8),
    }
    (bytes != pristine).then_some(bytes)
}

/// What recovery may hand back: the hard state, the log and the snapshot markers.
type State = (HardState, Vec<Entry>, Vec<WalSnapshot>);

/// What the test wrote, in write order: entry batches, hard states and snapshot markers.
struct Written {
    batches: Vec<Vec<Entry>>,
    hard_states: Vec<HardState>,
    markers: Vec<WalSnapshot>,
}

fn entry(index: u64, term: u64) -> Entry {
    // Payload bytes are never zero, so zeroing any of them changes the record.
    let payload = (0..80).map(|at| 1 + ((index as usize * 7 + at) % 250) as u8).collect::<Vec<u8>>();
    Entry { term, index, payload: EntryPayload::Normal(Bytes::from(payload)) }
}

/// Writes a WAL of about 50 records: 24 saves of two or three entries and a hard state each (one
/// of them rewriting the tail in a new term), and a snapshot marker half way.
fn write_wal(disk: Arc<dyn Disk>, dir: &Path, options: WalOptions) -> (Wal, Written) {
    let mut wal = Wal::create(disk, dir, b"member 1, cluster 7", options).unwrap();
    let mut written = Written {
        batches: Vec::new(),
        hard_states: vec![HardState::default()],
        markers: vec![WalSnapshot::default()],
    };
    let mut next_index = 1;
    for save in 0..24u64 {
        let term = 1 + save / 12;
        if save == 12 {
            next_index -= 2; // The new leader replaces the last two entries.
        }
        let batch: Vec<Entry> =
            (next_index..next_index + 2 + save % 2).map(|index| entry(index, term)).collect();
        next_index += batch.len() as u64;
        let hard_state = HardState { term, vote: Some(1 + save % 3), commit: next_index - 2 };
        wal.save(Some(&hard_state), &batch).unwrap();
        wal.sync().unwrap();
        written.batches.push(batch);
        written.hard_states.push(hard_state);
        if save == 8 {
            let marker = WalSnapshot { index: 10, term: 1 };
            wal.save_snapshot_marker(marker).unwrap();
            written.markers.push(marker);
        }
    }
    (wal, written)
}

/// The records of a segment as (start, end) offsets, read from their length fields.
fn record_bounds(segment: &[u8]) -> Vec<(usize, usize)> {
    let mut bounds = Vec::new();
    let mut start = 0;
    while start < segment.len() {
        let length = u32::from_le_bytes(segment[start..start + 4].try_into().unwrap()) as usize;
        let end = start + RECORD_HEADER_BYTES + length;
        assert!(end <= segment.len(), "a healthy segment holds whole records");
        bounds.push((start, end));
        start = end;
    }
    bounds
}

/// `prefixes[k]`: the state after the first `k` records of the segment, computed from what was
/// written and the record types alone (a write at an index replaces the log from there).
fn prefix_states(segment: &[u8], bounds: &[(usize, usize)], written: &Written) -> Vec<State> {
    let (mut batches, mut hard_states, mut markers) =
        (written.batches.iter(), written.hard_states.iter(), written.markers.iter());
    let mut state: State = (HardState::default(), Vec::new(), Vec::new());
    let mut prefixes = vec![state.clone()];
    for &(start, _) in bounds {
        match segment[start + 4] {
            byte if byte == RecordType::HardState as u8 => state.0 = *hard_states.next().unwrap(),
            byte if byte == RecordType::Entries as u8 => {
                let batch = batches.next().unwrap();
                state.1.truncate(batch[0].index as usize - 1);
                state.1.extend(batch.iter().cloned());
            }
            byte if byte == RecordType::Snapshot as u8 => state.2.push(*markers.next().unwrap()),
            _ => {}
        }
        prefixes.push(state.clone());
    }
    assert!(batches.next().is_none() && hard_states.next().is_none(), "every write is a record");
    prefixes
}

/// Offsets to damage: every record boundary, and inside every record its header's length, type,
/// reserved, header CRC and CRC fields, the first, middle and last payload bytes.
fn damage_offsets(bounds: &[(usize, usize)]) -> Vec<usize> {
    let mut offsets = Vec::new();
    for &(start, end) in bounds {
        let payload_start = start + RECORD_HEADER_BYTES;
        offsets.extend([start, start + 2, start + 4, start + 6, start + 9, start + 13]);
        if payload_start < end {
            offsets.extend([payload_start, (payload_start + end) / 2, end - 1]);
        }
    }
    offsets.sort_unstable();
    offsets.dedup();
    offsets
}

/// The first record the damage changed (zeros over bytes that were zero change nothing): its
/// position in `bounds`.
fn damaged_record(bounds: &[(usize, usize)], pristine: &[u8], damaged: &[u8]) -> usize {
    let first_change = pristine.iter().zip(damaged).position(|(before, after)| before != after);
    let first_change = first_change.unwrap_or(damaged.len());
    bounds.iter().position(|&(_, end)| first_change < end).expect("damage inside the file")
}

/// A refusal names the file and the offset where the damaged record starts.
fn assert_names_file_and_offset(error: &WalError, file: &Path, offset: usize, what: &str) {
    let WalError::Corrupt { file: named, offset: named_offset, .. } = error else {
        panic!("{what}: refused as something other than corruption: {error}");
    };
    assert_eq!((named.as_path(), *named_offset), (file, offset as u64), "{what}: {error}");
    let text = error.to_string();
    assert!(text.contains(&file.display().to_string()), "{what}: the error names the file: {text}");
    assert!(text.contains(&format!("offset {offset}")), "{what}: the error names the offset: {text}");
}

/// A segment under the walk: where it is, its records, and the state after each prefix of them.
struct Walk {
    dir: PathBuf,
    file: PathBuf,
    bounds: Vec<(usize, usize)>,
    prefixes: Vec<State>,
}

impl Walk {
    /// Opens the WAL with the segment damaged to `bytes` (damage first hitting record
    /// `first_damaged`) and checks the outcome against the rules; true when it recovered.
    fn open_damaged(&self, bytes: &[u8], first_damaged: usize, what: &str) -> bool {
        std::fs::write(&self.file, bytes).unwrap();
        let disk: Arc<dyn Disk> = Arc::new(OsDisk::new());
        let result = Wal::open(disk, &self.dir, WalSnapshot::default(), WalOptions::default());
        let record_start = self.bounds[first_damaged].0;
        match result {
            Ok((_, recovered)) => {
                let state = (recovered.hard_state, recovered.entries, recovered.snapshot_markers);
                assert!(
                    state == self.prefixes[first_damaged],
                    "{what}: recovered other than the records before it"
                );
                // The damaged record is the file's last: it reaches (or, cut short, passes) the end.
                let last_record = self.bounds[first_damaged].1 >= bytes.len();
                let only_zeros_after = bytes[record_start..].iter().all(|&byte| byte == 0);
                assert!(
                    last_record || only_zeros_after,
                    "{what}: a torn tail accepted with more data after it"
                );
                let dropped_bytes = (bytes.len() - record_start) as u64;
                let cut = RecoveryWarning::TornTail {
                    file: self.file.clone(),
                    offset: record_start as u64,
                    dropped_bytes,
                };
                let expected_warnings = if dropped_bytes == 0 { vec![] } else { vec![cut] };
                assert_eq!(recovered.warnings, expected_warnings, "{what}");
                let length = std::fs::metadata(&self.file).unwrap().len();
                assert_eq!(length, record_start as u64, "{what}: the file is cut where the warning says");
                true
            }
            Err(error) => {
                assert_names_file_and_offset(&error, &self.file, record_start, what);
                assert_eq!(
                    std::fs::read(&self.file).unwrap(),
                    bytes,
                    "{what}: a refused WAL is left as it was"
                );
                false
            }
        }
    }
}

#[test]
fn every_damage_to_the_last_segment_recovers_a_prefix_or_names_the_file_and_offset() {
    let temp = TempDir::new("wal");
    let dir = temp.path().join("member/wal");
    let disk: Arc<dyn Disk> = Arc::new(OsDisk::new());
    let (wal, written) = write_wal(disk, &dir, WalOptions::default());
    assert_eq!(wal.segment_paths().len(), 1, "one segment");
    let file = wal.segment_paths().pop().unwrap();
    drop(wal);
    let pristine = std::fs::read(&file).unwrap();
    let bounds = record_bounds(&pristine);
    assert!(bounds.len() >= 50, "about 50 records, got {}", bounds.len());
    let prefixes = prefix_states(&pristine, &bounds, &written);
    let walk = Walk { dir, file, bounds, prefixes };
    let (mut recovered, mut refused) = ([0usize; 3], [0usize; 3]);
    for offset in damage_offsets(&walk.bounds) {
        for (kind, damage) in DAMAGES.into_iter().enumerate() {
            let Some(bytes) = damaged(&pristine, damage, offset) else { continue };
            let what = format!("{damage:?} at offset {offset}");
            let first_damaged = damaged_record(&walk.bounds, &pristine, &bytes);
            let recovers = walk.open_damaged(&bytes, first_damaged, &what);
            if damage == Damage::Truncate {
                // A cut is a torn tail unless it leaves less than the CRC and metadata records.
                assert_eq!(recovers, first_damaged >= 2, "{what}");
            }
            if recovers { recovered[kind] += 1 } else { refused[kind] += 1 }
        }
    }
    println!(
        "{} records: recovered {recovered:?}, refused {refused:?} (truncate, zero 16 bytes, flip a bit)",
        walk.bounds.len()
    );
    assert!(refused[1] > 0 && refused[2] > 0, "damage before the end is refused");
}

#[test]
fn every_damage_to_an_earlier_segment_is_refused() {
    let temp = TempDir::new("wal-earlier");
    let dir = temp.path().join("member/wal");
    let disk: Arc<dyn Disk> = Arc::new(OsDisk::new());
    let (wal, _) = write_wal(disk, &dir, WalOptions { segment_size_bytes: 4096, max_wals: 0 });
    let segments = wal.segment_paths();
    assert!(segments.len() >= 2, "several segments");
    drop(wal);
    let file = &segments[0];
    let pristine = std::fs::read(file).unwrap();
    let bounds = record_bounds(&pristine);
    let mut refusals = 0;
    for offset in damage_offsets(&bounds) {
        for damage in DAMAGES {
            let Some(bytes) = damaged(&pristine, damage, offset) else { continue };
            let what = format!("{damage:?} at offset {offset} of the first of {} segments", segments.len());
            std::fs::write(file, &bytes).unwrap();
            let disk: Arc<dyn Disk> = Arc::new(OsDisk::new());
            let error = Wal::open(disk, &dir, WalSnapshot::default(), WalOptions::default())
                .map(|_| ())
                .expect_err(&what);
            let record_start = bounds[damaged_record(&bounds, &pristine, &bytes)].0;
            if damage == Damage::Truncate && record_start == offset && offset >= bounds[2].0 {
                // Cut at a record boundary after the opening records: the first segment reads
                // cleanly, and the next one's link to its last CRC breaks.
                assert_names_file_and_offset(&error, &segments[1], 0, &what);
            } else {
                assert_names_file_and_offset(&error, file, record_start, &what);
            }
            refusals += 1;
        }
    }
    std::fs::write(file, &pristine).unwrap();
    let disk: Arc<dyn Disk> = Arc::new(OsDisk::new());
    Wal::open(disk, &dir, WalSnapshot::default(), WalOptions::default()).expect("the repaired WAL opens");
    println!("{} records of the first segment: {refusals} damages, all refused", bounds.len());
}

#[test]
fn every_flipped_bit_or_cut_in_a_snapshot_file_is_refused_naming_the_file() {
    let temp = TempDir::new("snap");
    let disk: Arc<dyn Disk> = Arc::new(OsDisk::new());
    let snapshotter = Snapshotter::new(disk, &temp.path().join("member/snap"), 0).unwrap();
    let data: Vec<u8> = (0..300).map(|at| (at * 13 % 256) as u8).collect();
    let conf_state = ConfState { learners: [4].into(), ..ConfState::with_voters([1, 2, 3]) };
    let snapshot =
        Snapshot { meta: SnapshotMeta { index: 42, term: 3, conf_state }, data: Bytes::from(data) };
    let path = snapshotter.save(&snapshot).unwrap();
    assert_eq!(snapshotter.load(&path).unwrap(), snapshot, "the healthy file loads");
    let pristine = std::fs::read(&path).unwrap();
    let mut refusals = 0;
    for offset in 0..pristine.len() {
        for damage in [Damage::Truncate, Damage::FlipBit] {
            let Some(bytes) = damaged(&pristine, damage, offset) else { continue };
            std::fs::write(&path, &bytes).unwrap();
            let what = format!("{damage:?} at offset {offset} of the snapshot file");
            let error = snapshotter.load(&path).expect_err(&what);
            assert!(matches!(&error, SnapError::Corrupt { file, .. } if *file == path), "{what}: {error}");
            assert!(error.to_string().contains(&path.display().to_string()), "{what}: {error}");
            refusals += 1;
        }
    }
    println!("snapshot file of {} bytes: {refusals} damages, all refused", pristine.len());
    std::fs::write(&path, &pristine).unwrap();
    assert_eq!(snapshotter.load_newest().unwrap(), Some(snapshot), "the repaired file loads again");
}
