//! Snapshot scenarios: an exact round trip through a codec, and restores of damaged snapshots that
//! fail cleanly (never panic).

mod common;

use common::*;
use mvcc::{CompactionRequest, Config, LeaseGrantRequest, Mvcc, Snapshot, SnapshotRecord};
use proptest::prelude::*;

fn busy_store() -> Mvcc {
    let mut mvcc = store();
    mvcc.lease_grant(&LeaseGrantRequest { ttl: 30, id: 5 }, 1_000).unwrap();
    put(&mut mvcc, "a", "1");
    put_with_lease(&mut mvcc, "b", "1", 5);
    put(&mut mvcc, "a", "2");
    delete(&mut mvcc, "a");
    put(&mut mvcc, "a", "3");
    mvcc.txn(&txn(vec![put_op("c", "1"), put_op("d", "1")], vec![])).unwrap();
    mvcc.compact(&CompactionRequest { revision: 4, physical: false }).unwrap();
    put(&mut mvcc, "c", "2");
    mvcc
}

#[test]
fn a_snapshot_restores_exactly_through_a_codec() {
    let mvcc = busy_store();
    let snapshot = mvcc.snapshot();
    let bytes = bincode::serde::encode_to_vec(&snapshot, bincode::config::standard()).unwrap();
    let (decoded, _): (Snapshot, usize) =
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
    let restored = Mvcc::restore(&decoded, Config::default()).unwrap();
    assert_eq!(restored, mvcc);
    assert_eq!(restored.hash(), mvcc.hash());
    assert_eq!(restored.hash_kv(0), mvcc.hash_kv(0));
    assert_eq!(restored.lease_time_to_live(5, true, 1_000).unwrap().keys, [b"b".to_vec()]);
    assert_eq!(get_at(&restored, "a", 4), Some(kv("a", "2", 2, 4, 2)), "the kept version of a compacted key");
    assert_eq!(restored.compacted_revision(), 4);
}

#[test]
fn the_hash_changes_with_the_state_but_not_with_lease_expiry() {
    let mut mvcc = busy_store();
    let before = mvcc.hash().hash;
    mvcc.promote(50_000, 1_000);
    assert_eq!(mvcc.hash().hash, before, "expiries are the leader's soft state");
    put(&mut mvcc, "e", "1");
    assert_ne!(mvcc.hash().hash, before);
}

#[test]
fn damaged_snapshots_are_refused() {
    let good = busy_store().snapshot();
    let damaged = |damage: &dyn Fn(&mut Snapshot)| {
        let mut snapshot = good.clone();
        damage(&mut snapshot);
        Mvcc::restore(&snapshot, Config::default())
    };
    assert!(damaged(&|snapshot| snapshot.records.swap(0, 1)).is_err(), "out of order");
    assert!(damaged(&|snapshot| snapshot.compacted_revision = snapshot.current_revision + 1).is_err());
    assert!(
        damaged(&|snapshot| snapshot.current_revision -= 1).is_err(),
        "records after the current revision"
    );
    assert!(damaged(&|snapshot| snapshot.current_revision += 1).is_err(), "a revision without changes");
    assert!(damaged(&|snapshot| snapshot.leases.clear()).is_err(), "a key with an unknown lease");
    assert!(damaged(&|snapshot| snapshot.records.last_mut().unwrap().version = 7).is_err(), "wrong version");
    assert!(
        damaged(&|snapshot| {
            let last = snapshot.records.last().unwrap().revision;
            snapshot.records.push(SnapshotRecord {
                revision: mvcc::Revision::new(last.main, last.sub + 1),
                key: b"zz".to_vec(),
                ..SnapshotRecord::default()
            });
        })
        .is_err(),
        "a tombstone of a key that does not exist"
    );
    assert!(damaged(&|_| {}).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn restoring_any_mutation_of_a_snapshot_never_panics(
        record in 0usize..8,
        field in 0usize..6,
        value in -3i64..12,
    ) {
        let mut snapshot = busy_store().snapshot();
        let index = record % snapshot.records.len();
        let target = &mut snapshot.records[index];
        match field {
            0 => target.revision.main = value,
            1 => target.revision.sub = value,
            2 => target.create_revision = value,
            3 => target.version = value,
            4 => target.lease = value,
            _ => target.key = if value < 0 { Vec::new() } else { vec![b'a' + (value as u8 % 6)] },
        }
        if let Ok(restored) = Mvcc::restore(&snapshot, Config::default()) {
            prop_assert!(restored.check_invariants().is_ok());
        }
    }
}
