//! Compaction scenarios and HashKV. The hash values were read from a real etcd 3.4.23
//! (`etcdctl endpoint hashkv`) after the same commands: HashKV here is byte-compatible with etcd's.

mod common;

use common::*;
use mvcc::{CompactionRequest, Error, LeaseGrantRequest, LeaseRevokeRequest, Mvcc, RangeRequest, ResponseOp};

fn compact(mvcc: &mut Mvcc, revision: i64) -> Result<i64, Error> {
    mvcc.compact(&CompactionRequest { revision, physical: true }).map(|response| response.header.revision)
}

fn hash_kv(mvcc: &Mvcc, revision: i64) -> (i64, u32, i64) {
    let response = mvcc.hash_kv(revision).unwrap();
    (response.header.revision, response.hash, response.compact_revision)
}

#[test]
fn an_empty_keyspace_hashes_like_etcds() {
    assert_eq!(hash_kv(&store(), 0), (1, 1_084_519_789, -1), "etcd 3.4.23, fresh member");
}

#[test]
fn hash_kv_matches_etcd_through_txns_leases_compaction_and_revokes() {
    let mut mvcc = store();
    put(&mut mvcc, "a", "1");
    put(&mut mvcc, "b", "2");
    put(&mut mvcc, "a", "3");
    mvcc.txn(&txn(vec![put_op("c", "4"), delete_op("b", b""), put_op("d", "5")], vec![])).unwrap();
    mvcc.lease_grant(&LeaseGrantRequest { ttl: 100, id: 1000 }, 0).unwrap();
    put_with_lease(&mut mvcc, "e", "6", 1000);
    delete(&mut mvcc, "a");
    put(&mut mvcc, "a", "8");
    assert_eq!(hash_kv(&mvcc, 0), (8, 4_257_595_053, -1));
    assert_eq!(hash_kv(&mvcc, 5), (8, 3_819_094_190, -1));
    assert_eq!(compact(&mut mvcc, 5), Ok(8));
    assert_eq!(hash_kv(&mvcc, 0), (8, 3_299_577_572, 5));
    assert_eq!(hash_kv(&mvcc, 6), (8, 2_598_690_953, 5));
    mvcc.lease_revoke(&LeaseRevokeRequest { id: 1000 }).unwrap();
    assert_eq!(hash_kv(&mvcc, 0), (9, 3_525_634_544, 5));

    let from_key = mvcc.txn(&txn(vec![delete_op("k", b"\0"), put_op("k", "v")], vec![])).unwrap();
    match &from_key.responses[0] {
        ResponseOp::DeleteRange(delete) => {
            assert_eq!((delete.deleted, delete.header.revision), (0, 9), "etcd: 9")
        }
        other => panic!("{other:?}"),
    }
    let nested = |operations| mvcc::RequestOp::Txn(txn(operations, vec![]));
    mvcc.txn(&txn(
        vec![nested(vec![put_op("x", "v")]), nested(vec![delete_op("x", b"")]), range_op("x")],
        vec![],
    ))
    .unwrap();
    mvcc.txn(&txn(vec![range_op("x"), put_op("x", "v"), range_op("x")], vec![])).unwrap();
    assert_eq!(hash_kv(&mvcc, 0), (12, 2_935_110_028, 5));
    mvcc.check_invariants().unwrap();
}

#[test]
fn the_reference_sessions_hash_kv_is_reproduced() {
    // /work/shared/reference/etcd-v3-behaviour.md: after compaction 15, `endpoint hashkv` gave 296549613.
    let mut mvcc = store();
    put(&mut mvcc, "srn", "pes1ug21cs001");
    put(&mut mvcc, "srn", "v2");
    for (key, value) in [("a", "1"), ("b", "2"), ("c", "3")] {
        put(&mut mvcc, key, value);
    }
    delete(&mut mvcc, "a");
    mvcc.delete_range(&mvcc::DeleteRangeRequest::range(vec![0], vec![0])).unwrap();
    put(&mut mvcc, "srn", "one");
    put(&mut mvcc, "srn", "two");
    delete(&mut mvcc, "srn");
    put(&mut mvcc, "srn", "three");
    // etcdctl's interactive txn: compares, blank line, success ops, blank line, failure ops.
    mvcc.txn(&txn(vec![put_op("srn", "four")], vec![put_op("other", "x")])).unwrap();
    mvcc.lease_grant(&LeaseGrantRequest { ttl: 60, id: 0x3cee_a23b_0ad3_c91e }, 0).unwrap();
    put_with_lease(&mut mvcc, "leased", "x", 0x3cee_a23b_0ad3_c91e);
    mvcc.lease_revoke(&LeaseRevokeRequest { id: 0x3cee_a23b_0ad3_c91e }).unwrap();
    assert_eq!(compact(&mut mvcc, 15), Ok(15));
    assert_eq!(hash_kv(&mvcc, 0), (15, 296_549_613, 15));
}

#[test]
fn compaction_keeps_each_keys_version_live_at_the_revision() {
    let mut mvcc = store();
    put(&mut mvcc, "a", "1");
    put(&mut mvcc, "a", "2");
    put(&mut mvcc, "b", "1");
    delete(&mut mvcc, "b");
    put(&mut mvcc, "a", "3");
    assert_eq!(compact(&mut mvcc, 5), Ok(6));
    assert_eq!(mvcc.compacted_revision(), 5);
    assert_eq!(
        get_at(&mvcc, "a", 5),
        Some(kv("a", "2", 2, 3, 2)),
        "reading at exactly the compacted revision works"
    );
    assert_eq!(get_at(&mvcc, "b", 5), None);
    assert_eq!(get(&mvcc, "a"), Some(kv("a", "3", 2, 6, 3)), "version and creation survive");
    let old = RangeRequest { revision: 4, ..RangeRequest::key("a") };
    assert_eq!(mvcc.range(&old), Err(Error::Compacted));
    assert_eq!(Error::Compacted.to_string(), "etcdserver: mvcc: required revision has been compacted");
    let stats = mvcc.stats();
    assert_eq!((stats.keys, stats.revisions), (1, 2), "b left the index; a keeps revisions 3 and 6");
    mvcc.check_invariants().unwrap();
}

#[test]
fn compaction_refuses_old_and_future_revisions_like_etcd() {
    let mut mvcc = store();
    put(&mut mvcc, "a", "1");
    assert_eq!(compact(&mut mvcc, 0), Ok(2), "etcd 3.4.23 compacts at 0 on a fresh member");
    assert_eq!(compact(&mut mvcc, 0), Err(Error::Compacted));
    assert_eq!(compact(&mut mvcc, -3), Err(Error::Compacted));
    assert_eq!(compact(&mut mvcc, 3), Err(Error::FutureRevision));
    assert_eq!(compact(&mut mvcc, 2), Ok(2));
    assert_eq!(compact(&mut mvcc, 2), Err(Error::Compacted), "already compacted");
    assert_eq!(mvcc.hash_kv(2), Err(Error::Compacted), "HashKV at the compacted revision fails (etcd)");
    assert_eq!(mvcc.hash_kv(3), Err(Error::FutureRevision));
}

#[test]
fn compacting_everything_deleted_empties_the_keyspace() {
    let mut mvcc = store();
    put(&mut mvcc, "a", "1");
    put(&mut mvcc, "b", "1");
    mvcc.delete_range(&mvcc::DeleteRangeRequest::range("a", "c")).unwrap();
    compact(&mut mvcc, 4).unwrap();
    assert_eq!(mvcc.stats().keys, 0);
    assert_eq!(mvcc.stats().revisions, 0);
    assert_eq!(put(&mut mvcc, "a", "2"), 5, "revisions go on after compaction");
    assert_eq!(get(&mvcc, "a"), Some(kv("a", "2", 5, 5, 1)));
    mvcc.check_invariants().unwrap();
}
