//! Snapshot files on the simulator's disk: saved durably or not at all, never loaded when damaged,
//! and pruned to `max_snapshots`.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use raft::types::{ConfState, Snapshot, SnapshotMeta};
use server::storage::disk::{Disk, MemDisk, Tear};
use server::storage::snap::{
    SnapError, Snapshotter, encode_snapshot, parse_snapshot_file_name, snapshot_file_name,
};
use server::storage::wal::WalSnapshot;

fn snap_dir() -> PathBuf {
    PathBuf::from("/data/member/snap")
}

fn snapshot(index: u64, term: u64) -> Snapshot {
    let mut conf_state = ConfState::with_voters([1, 2, 3]);
    conf_state.learners.insert(9);
    Snapshot {
        meta: SnapshotMeta { index, term, conf_state },
        data: Bytes::from(format!("store image at {index}").into_bytes()),
    }
}

fn snapshotter(disk: &MemDisk, max_snapshots: usize) -> Snapshotter {
    Snapshotter::new(Arc::new(disk.clone()), &snap_dir(), max_snapshots).unwrap()
}

#[test]
fn a_saved_snapshot_survives_a_crash_and_loads_back_identical() {
    let disk = MemDisk::new();
    let snapshots = snapshotter(&disk, 5);
    let path = snapshots.save(&snapshot(100, 3)).unwrap();
    assert_eq!(path, snap_dir().join(snapshot_file_name(3, 100)));
    disk.crash(Tear::DropUnsynced);
    let snapshots = snapshotter(&disk, 5);
    assert_eq!(snapshots.load_newest().unwrap(), Some(snapshot(100, 3)));
}

#[test]
fn a_crash_at_any_point_of_a_save_leaves_the_old_snapshot_or_the_complete_new_one() {
    let mut saw_old = false;
    let mut saw_new = false;
    for operations in 0..16 {
        for seed in 0..4 {
            let disk = MemDisk::new();
            let snapshots = snapshotter(&disk, 5);
            snapshots.save(&snapshot(10, 1)).unwrap();
            // The power fails after `operations` more disk operations.
            disk.cut_power_after(operations);
            let saved = snapshots.save(&snapshot(20, 2));
            disk.crash(Tear::Seeded { seed, zero_fill: seed % 2 == 0 });
            let reopened = snapshotter(&disk, 5);
            let newest = reopened.load_newest().unwrap().unwrap();
            if saved.is_ok() {
                assert_eq!(newest, snapshot(20, 2), "a save that returned is durable");
            }
            assert!(newest == snapshot(10, 1) || newest == snapshot(20, 2));
            saw_old |= newest == snapshot(10, 1);
            saw_new |= newest == snapshot(20, 2);
            assert!(disk.list(&snap_dir()).unwrap().iter().all(|name| !name.ends_with(".tmp")));
        }
    }
    assert!(saw_old && saw_new);
}

#[test]
fn a_rename_whose_directory_sync_never_happened_is_undone_by_a_crash() {
    let disk = MemDisk::new();
    let snapshots = snapshotter(&disk, 5);
    snapshots.save(&snapshot(10, 1)).unwrap();
    // The steps of a save, stopped just before the directory sync.
    let temporary = snap_dir().join(format!("{}.tmp", snapshot_file_name(2, 20)));
    disk.create_new(&temporary).unwrap();
    disk.append(&temporary, &encode_snapshot(&snapshot(20, 2)).unwrap()).unwrap();
    disk.sync_file(&temporary).unwrap();
    disk.rename(&temporary, &snap_dir().join(snapshot_file_name(2, 20))).unwrap();
    assert_eq!(snapshots.load_newest().unwrap(), Some(snapshot(20, 2)));
    disk.crash(Tear::DropUnsynced);
    let reopened = snapshotter(&disk, 5);
    assert_eq!(reopened.load_newest().unwrap(), Some(snapshot(10, 1)));
}

#[test]
fn a_flipped_bit_anywhere_in_a_snapshot_is_detected() {
    let disk = MemDisk::new();
    let snapshots = snapshotter(&disk, 5);
    let path = snapshots.save(&snapshot(7, 2)).unwrap();
    let len = disk.file_len(&path).unwrap();
    for offset in 0..len {
        for bit in 0..8 {
            let damaged = disk.fork();
            damaged.flip_bit(&path, offset, bit).unwrap();
            let result = snapshotter(&damaged, 5).load_newest();
            assert!(
                matches!(result, Err(SnapError::Corrupt { ref file, .. }) if file == &path),
                "bit {bit} at offset {offset} not detected: {result:?}"
            );
        }
    }
}

#[test]
fn a_truncated_or_misnamed_snapshot_is_detected() {
    let disk = MemDisk::new();
    let snapshots = snapshotter(&disk, 5);
    let path = snapshots.save(&snapshot(7, 2)).unwrap();
    let bytes = disk.read(&path).unwrap();
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        let damaged = disk.fork();
        damaged.truncate(&path, cut as u64).unwrap();
        assert!(matches!(snapshotter(&damaged, 5).load(&path), Err(SnapError::Corrupt { .. })));
    }
    let renamed = disk.fork();
    let wrong_name = snap_dir().join(snapshot_file_name(2, 8));
    renamed.rename(&path, &wrong_name).unwrap();
    assert!(matches!(snapshotter(&renamed, 5).load(&wrong_name), Err(SnapError::Corrupt { .. })));
}

#[test]
fn a_damaged_newest_snapshot_is_an_error_not_a_silent_fallback() {
    let disk = MemDisk::new();
    let snapshots = snapshotter(&disk, 5);
    snapshots.save(&snapshot(10, 1)).unwrap();
    let newest = snapshots.save(&snapshot(20, 1)).unwrap();
    disk.flip_bit(&newest, 40, 1).unwrap();
    assert!(matches!(snapshots.load_newest(), Err(SnapError::Corrupt { .. })));
}

#[test]
fn the_newest_snapshot_with_a_wal_marker_is_chosen() {
    let disk = MemDisk::new();
    let snapshots = snapshotter(&disk, 5);
    snapshots.save(&snapshot(10, 1)).unwrap();
    snapshots.save(&snapshot(20, 2)).unwrap();
    // Snapshot 30 was written but the node crashed before recording its WAL marker.
    snapshots.save(&snapshot(30, 2)).unwrap();
    let markers = [
        WalSnapshot { index: 0, term: 0 },
        WalSnapshot { index: 10, term: 1 },
        WalSnapshot { index: 20, term: 2 },
    ];
    assert_eq!(snapshots.load_newest_of(&markers).unwrap(), Some(snapshot(20, 2)));
    assert_eq!(snapshots.load_newest_of(&markers[..1]).unwrap(), None);
}

#[test]
fn only_the_newest_max_snapshots_are_kept() {
    let disk = MemDisk::new();
    let snapshots = snapshotter(&disk, 3);
    for index in 1..=7 {
        snapshots.save(&snapshot(index * 100, 1 + index / 3)).unwrap();
    }
    let kept: Vec<u64> = snapshots.list().unwrap().iter().map(|(at, _)| at.index).collect();
    assert_eq!(kept, vec![500, 600, 700]);
    disk.crash(Tear::DropUnsynced);
    let kept_after_crash = snapshotter(&disk, 3).list().unwrap().len();
    assert_eq!(kept_after_crash, 3, "removals were made durable");
}

#[test]
fn snapshot_names_round_trip_and_reject_lookalikes() {
    assert_eq!(
        parse_snapshot_file_name(&snapshot_file_name(3, 0x1234)),
        Some(WalSnapshot { index: 0x1234, term: 3 })
    );
    let lookalikes = [
        "x.snap",
        "0000000000000003-0000000000001234.snap.tmp",
        "3-1234.snap",
        "0000000000000003-000000000000123G.snap",
        "0000000000000003-000000000000123A.snap",
    ];
    for bad in lookalikes {
        assert_eq!(parse_snapshot_file_name(bad), None, "{bad}");
    }
}

#[test]
fn leftovers_of_a_crash_before_the_marker_never_push_the_marked_snapshot_out() {
    // max_snapshots = 1 still keeps two files: the newest has no marker until the caller writes it.
    let disk = MemDisk::new();
    let snapshots = snapshotter(&disk, 1);
    snapshots.save(&snapshot(100, 1)).unwrap();
    let mut markers = vec![WalSnapshot { index: 0, term: 0 }, WalSnapshot { index: 100, term: 1 }];
    // Crash after writing 110, before its marker.
    snapshots.save(&snapshot(110, 1)).unwrap();
    disk.crash(Tear::DropUnsynced);
    let snapshots = snapshotter(&disk, 1);
    assert_eq!(snapshots.load_newest_of(&markers).unwrap(), Some(snapshot(100, 1)));
    assert_eq!(snapshots.list().unwrap().len(), 1, "the unmarked leftover is gone");
    // After the restart the node snapshots at 120; crashing before its marker again is survivable.
    snapshots.save(&snapshot(120, 1)).unwrap();
    disk.crash(Tear::DropUnsynced);
    let snapshots = snapshotter(&disk, 1);
    assert_eq!(snapshots.load_newest_of(&markers).unwrap(), Some(snapshot(100, 1)));
    // Once a marker exists the old one may go.
    snapshots.save(&snapshot(130, 1)).unwrap();
    markers.push(WalSnapshot { index: 130, term: 1 });
    snapshots.save(&snapshot(140, 1)).unwrap();
    markers.push(WalSnapshot { index: 140, term: 1 });
    let kept: Vec<u64> = snapshots.list().unwrap().iter().map(|(at, _)| at.index).collect();
    assert_eq!(kept, vec![130, 140]);
}

/// A reader written from DESIGN.md ("On-disk formats") alone, to keep the document honest.
#[test]
fn a_snapshot_file_reads_back_by_the_documented_format() {
    let disk = MemDisk::new();
    let path = snapshotter(&disk, 5).save(&snapshot(0x1234, 7)).unwrap();
    assert_eq!(path.file_name().unwrap(), "0000000000000007-0000000000001234.snap");
    let bytes = disk.read(&path).unwrap();
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    assert_eq!(&bytes[0..8], b"CNCDSNAP");
    assert_eq!(u32_at(8), 1);
    assert_eq!(u64_at(12), 7);
    assert_eq!(u64_at(20), 0x1234);
    let configuration_bytes = u32_at(28) as usize;
    let conf_state: ConfState = server::codec::decode(&bytes[32..32 + configuration_bytes]).unwrap();
    assert_eq!(conf_state, snapshot(0x1234, 7).meta.conf_state);
    let data_bytes = u64_at(32 + configuration_bytes) as usize;
    assert_eq!(bytes.len(), 44 + configuration_bytes + data_bytes);
    assert_eq!(
        &bytes[40 + configuration_bytes..40 + configuration_bytes + data_bytes],
        &snapshot(0x1234, 7).data[..]
    );
    assert_eq!(u32_at(bytes.len() - 4), crc32fast::hash(&bytes[..bytes.len() - 4]));
}

#[test]
fn retention_never_removes_the_marked_snapshot_while_two_newer_files_wait_for_their_markers() {
    let disk = MemDisk::new();
    let snapshots = snapshotter(&disk, 2);
    snapshots.save(&snapshot(10, 1)).unwrap();
    // A periodic snapshot and a leader's are both written before either is recorded in the WAL.
    snapshots.save_beside(&snapshot(20, 1), 10).unwrap();
    snapshots.save_beside(&snapshot(30, 2), 10).unwrap();
    let kept: Vec<u64> = snapshots.list().unwrap().iter().map(|(at, _)| at.index).collect();
    assert_eq!(kept, vec![10, 20, 30], "the marked snapshot at 10 is what a crash falls back to");
    // Once 30 is recorded, the next save prunes down to two again.
    snapshots.save_beside(&snapshot(40, 2), 30).unwrap();
    let kept: Vec<u64> = snapshots.list().unwrap().iter().map(|(at, _)| at.index).collect();
    assert_eq!(kept, vec![30, 40]);
    // A plain save keeps only the newest two, marked or not.
    snapshots.save(&snapshot(50, 2)).unwrap();
    snapshots.save(&snapshot(60, 2)).unwrap();
    let kept: Vec<u64> = snapshots.list().unwrap().iter().map(|(at, _)| at.index).collect();
    assert_eq!(kept, vec![50, 60]);
}
