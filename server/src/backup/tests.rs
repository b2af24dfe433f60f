//! Scenarios of the copy: a member with a snapshot and a log past its persisted commit, a member with
//! no snapshot file yet, a torn tail in the last segment, and a destination that already holds a WAL.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use raft::types::{Entry, EntryPayload, HardState};
use raft::{ConfState, Snapshot, SnapshotMeta};

use super::{BackupPaths, NewIdentity, backup};
use crate::codec;
use crate::node::{Member, WalMetadata, read_identity};
use crate::storage::disk::{Disk, MemDisk};
use crate::storage::snap::Snapshotter;
use crate::storage::wal::{Wal, WalOptions, WalSnapshot};

const OLD_MEMBER: u64 = 0xa1;
const OLD_CLUSTER: u64 = 0xc1;
const NEW: NewIdentity = NewIdentity { member_id: 0xb2, cluster_id: 0xd2 };

fn entry(index: u64, term: u64) -> Entry {
    Entry { index, term, payload: EntryPayload::Normal(Bytes::from(format!("write {index}"))) }
}

fn paths() -> BackupPaths {
    BackupPaths {
        data_dir: PathBuf::from("/member"),
        wal_dir: None,
        backup_dir: PathBuf::from("/backup"),
        backup_wal_dir: None,
    }
}

fn metadata() -> WalMetadata {
    let member = Member {
        id: OLD_MEMBER,
        name: "one".into(),
        peer_urls: vec!["http://one:2380".into()],
        ..Member::default()
    };
    WalMetadata {
        member_id: OLD_MEMBER,
        cluster_id: OLD_CLUSTER,
        initial_members: vec![member],
        join_existing: false,
    }
}

/// A member whose WAL holds entries 1..=`last` (entry 4 first written in term 1, then overwritten in
/// term 2 with everything after it) with the hard state committing only `commit`.
fn member_wal(disk: &Arc<dyn Disk>, last: u64, commit: u64) -> Wal {
    disk.create_dir_all(Path::new("/member/member/snap")).expect("the node makes its snap dir");
    let mut wal = Wal::create(
        disk.clone(),
        Path::new("/member/member/wal"),
        &codec::encode(&metadata()),
        WalOptions::default(),
    )
    .expect("creates the WAL");
    let first_term: Vec<Entry> = (1..=5).map(|index| entry(index, 1)).collect();
    wal.save(Some(&HardState { term: 1, vote: Some(OLD_MEMBER), commit: 1 }), &first_term).expect("saves");
    let second_term: Vec<Entry> = (4..=last).map(|index| entry(index, 2)).collect();
    wal.save(Some(&HardState { term: 2, vote: Some(OLD_MEMBER), commit }), &second_term).expect("saves");
    wal.sync().expect("syncs");
    wal
}

fn take_snapshot(disk: &Arc<dyn Disk>, wal: &mut Wal, index: u64, term: u64) {
    let snapshotter = Snapshotter::new(disk.clone(), Path::new("/member/member/snap"), 5).expect("snap dir");
    let conf_state = ConfState { voters: BTreeSet::from([OLD_MEMBER]), ..ConfState::default() };
    let snapshot = Snapshot {
        meta: SnapshotMeta { index, term, conf_state },
        data: Bytes::from_static(b"the state machine image"),
    };
    snapshotter.save(&snapshot).expect("writes the snapshot");
    wal.save_snapshot_marker(WalSnapshot { index, term }).expect("records the snapshot");
}

/// What a node restarting from the backup would read.
fn open_backup(disk: &Arc<dyn Disk>, at: WalSnapshot) -> crate::storage::wal::Recovered {
    let (_, recovered) =
        Wal::open(disk.clone(), Path::new("/backup/member/wal"), at, WalOptions::default()).expect("opens");
    recovered
}

#[test]
fn the_copy_has_a_new_identity_the_snapshot_and_every_durable_entry_past_the_commit() {
    let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
    let mut wal = member_wal(&disk, 9, 6);
    take_snapshot(&disk, &mut wal, 5, 2);
    wal.save(None, &[entry(10, 2)]).expect("saves");
    wal.sync().expect("syncs");
    let summary = backup(disk.clone(), &paths(), NEW).expect("backs up");
    assert_eq!(
        (summary.snapshot, summary.entries, summary.last_index),
        (Some(WalSnapshot { index: 5, term: 2 }), 5, 10)
    );
    let identity = read_identity(&*disk, Path::new("/backup/member/wal")).expect("reads");
    assert_eq!(identity, Some((NEW.member_id, NEW.cluster_id)), "fresh IDs, never the old ones");
    let recovered = open_backup(&disk, WalSnapshot { index: 5, term: 2 });
    let expected: Vec<Entry> = (6..=9).map(|index| entry(index, 2)).chain([entry(10, 2)]).collect();
    assert_eq!(recovered.entries, expected, "entries past the persisted commit (6) are kept");
    assert_eq!(recovered.hard_state, HardState { term: 2, vote: Some(OLD_MEMBER), commit: 6 });
    let copied =
        Snapshotter::new(disk.clone(), Path::new("/backup/member/snap"), 5).unwrap().load_newest().unwrap();
    assert_eq!(copied.expect("the snapshot is copied").data, Bytes::from_static(b"the state machine image"));
}

#[test]
fn a_member_without_a_snapshot_file_keeps_its_whole_log_and_its_initial_members() {
    let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
    member_wal(&disk, 7, 7);
    let summary = backup(disk.clone(), &paths(), NEW).expect("backs up");
    assert_eq!((summary.snapshot, summary.entries), (None, 7));
    let recovered = open_backup(&disk, WalSnapshot::default());
    let expected: Vec<Entry> =
        (1..=3).map(|index| entry(index, 1)).chain((4..=7).map(|index| entry(index, 2))).collect();
    assert_eq!(recovered.entries, expected, "the overwritten entries are the term-2 ones, from index 1");
    let copied: WalMetadata = codec::decode(&recovered.metadata).unwrap();
    assert_eq!(
        copied.initial_members,
        metadata().initial_members,
        "the log's first conf changes still apply"
    );
}

#[test]
fn a_torn_tail_in_the_last_segment_is_where_the_copy_ends() {
    let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
    let mut wal = member_wal(&disk, 6, 6);
    wal.save(None, &[entry(7, 2)]).unwrap();
    wal.sync().unwrap();
    let segment = wal.segment_paths().pop().expect("a segment");
    let length = disk.file_len(&segment).unwrap();
    disk.truncate(&segment, length - 5).expect("a write cut short by a crash");
    let summary = backup(disk.clone(), &paths(), NEW).expect("backs up");
    assert!(summary.torn_at.is_some(), "the torn record is reported");
    assert_eq!(summary.last_index, 6, "the torn batch (entry 7) is not copied");
    let recovered = open_backup(&disk, WalSnapshot::default());
    assert_eq!(recovered.entries.last(), Some(&entry(6, 2)));
    assert_eq!(recovered.hard_state.commit, 6);
    assert!(recovered.warnings.is_empty(), "the copy itself is whole");
    assert_eq!(disk.file_len(&segment).unwrap(), length - 5, "the source is not repaired");
}

#[test]
fn an_existing_backup_or_a_missing_member_is_refused() {
    let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
    let missing = backup(disk.clone(), &paths(), NEW).expect_err("nothing to back up");
    assert!(missing.contains("no such file or directory"), "{missing}");
    member_wal(&disk, 6, 6);
    backup(disk.clone(), &paths(), NEW).expect("backs up");
    let again = backup(disk.clone(), &paths(), NEW).expect_err("the backup dir is taken");
    assert!(again.contains("already holds a WAL"), "{again}");
}
