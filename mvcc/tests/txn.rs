//! Txn scenarios: compares, branches, one revision per txn, reads inside the txn, nested txns and
//! etcd's checks. The behaviours marked "etcd 3.4.23" were observed on a real etcd 3.4.23.

mod common;

use common::*;
use mvcc::{
    Compare, CompareResult, CompareTarget, Error, PutRequest, RangeRequest, RequestOp, ResponseOp,
    TxnRequest, validate_txn,
};

fn value_is(key: &str, value: &str) -> Compare {
    Compare::key(key, CompareResult::Equal, CompareTarget::Value(value.into()))
}

fn range_response(response: &ResponseOp) -> &mvcc::RangeResponse {
    match response {
        ResponseOp::Range(range) => range,
        other => panic!("expected a range response, got {other:?}"),
    }
}

#[test]
fn the_recorded_etcd_txns_take_the_right_branch_at_one_revision() {
    let mut mvcc = store();
    for revision in 2..=11 {
        put(&mut mvcc, "filler", &revision.to_string());
    }
    assert_eq!(put(&mut mvcc, "srn", "three"), 12);
    let success = TxnRequest {
        compare: vec![value_is("srn", "three")],
        success: vec![put_op("srn", "four")],
        failure: vec![put_op("other", "x")],
    };
    let response = mvcc.txn(&success).unwrap();
    assert!(response.succeeded);
    assert_eq!(response.header.revision, 13);
    assert_eq!(response.responses.len(), 1, "etcdctl printed one OK");
    assert_eq!(get(&mvcc, "other"), None, "the failure branch did not run");

    let failure = TxnRequest {
        compare: vec![value_is("srn", "nope")],
        success: vec![put_op("srn", "five")],
        failure: vec![range_op("srn")],
    };
    let response = mvcc.txn(&failure).unwrap();
    assert!(!response.succeeded);
    assert_eq!(response.header.revision, 13, "a read-only branch uses no revision");
    let range = range_response(&response.responses[0]);
    assert_eq!(range.header.revision, 13);
    assert_eq!(range.kvs, vec![kv("srn", "four", 12, 13, 2)]);
}

#[test]
fn reads_before_the_first_write_see_the_old_revision_and_after_it_the_new_one() {
    let mut mvcc = store();
    put(&mut mvcc, "filler", "v");
    put(&mut mvcc, "filler", "v");
    let request = txn(vec![range_op("x"), put_op("x", "v"), range_op("x")], vec![]);
    let response = mvcc.txn(&request).unwrap();
    assert_eq!(response.header.revision, 4);
    let before = range_response(&response.responses[0]);
    assert_eq!((before.header.revision, before.kvs.len()), (3, 0), "etcd 3.4.23: 11, no kvs");
    match &response.responses[1] {
        ResponseOp::Put(put) => assert_eq!(put.header.revision, 4),
        other => panic!("{other:?}"),
    }
    let after = range_response(&response.responses[2]);
    assert_eq!(after.header.revision, 4);
    assert_eq!(after.kvs, vec![kv("x", "v", 4, 4, 1)], "the txn's own put is visible");
}

#[test]
fn a_nested_put_and_a_later_nested_delete_of_one_key_both_happen_at_one_revision() {
    let mut mvcc = store();
    for _ in 0..9 {
        put(&mut mvcc, "filler", "v");
    }
    mvcc.take_events();
    let nested = |operations| RequestOp::Txn(txn(operations, vec![]));
    let request =
        txn(vec![nested(vec![put_op("x", "v")]), nested(vec![delete_op("x", b"")]), range_op("x")], vec![]);
    let response = mvcc.txn(&request).unwrap();
    assert_eq!(response.header.revision, 11);
    match &response.responses[0] {
        ResponseOp::Txn(inner) => {
            assert_eq!(inner.header.revision, 0, "etcd 3.4.23: a nested txn's header is empty")
        }
        other => panic!("{other:?}"),
    }
    match &response.responses[1] {
        ResponseOp::Txn(inner) => match &inner.responses[0] {
            ResponseOp::DeleteRange(delete) => assert_eq!((delete.deleted, delete.header.revision), (1, 11)),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert!(range_response(&response.responses[2]).kvs.is_empty());
    let events = mvcc.take_events();
    assert_eq!(
        summary(&events),
        [(mvcc::EventKind::Put, "x".into(), 11), (mvcc::EventKind::Delete, "x".into(), 11)],
        "etcd 3.4.23 sends both events"
    );
    mvcc.check_invariants().unwrap();
}

#[test]
fn a_from_key_delete_does_not_clash_with_a_put_of_its_key() {
    let mut mvcc = store();
    put(&mut mvcc, "k", "old");
    put(&mut mvcc, "l", "old");
    let request = txn(vec![delete_op("k", b"\0"), put_op("k", "v")], vec![]);
    let response = mvcc.txn(&request).unwrap();
    assert_eq!(response.header.revision, 4, "etcd 3.4.23 accepts it");
    assert_eq!(get(&mvcc, "k"), Some(kv("k", "v", 4, 4, 1)), "deleted, then created again");
    assert_eq!(get(&mvcc, "l"), None);
    let clash = txn(vec![delete_op("k", b"l"), put_op("k", "v")], vec![]);
    assert_eq!(mvcc.txn(&clash), Err(Error::DuplicateKey), "etcd 3.4.23 refuses it");
    assert_eq!(Error::DuplicateKey.to_string(), "etcdserver: duplicate key given in txn request");
}

#[test]
fn an_ignore_value_put_after_a_from_key_delete_of_its_key_is_refused_whole() {
    let mut mvcc = store();
    put(&mut mvcc, "k", "old");
    let ignore_value = RequestOp::Put(PutRequest { ignore_value: true, ..PutRequest::new("k", "") });
    let request = txn(vec![delete_op("a", b"\0"), ignore_value], vec![]);
    assert_eq!(mvcc.txn(&request), Err(Error::KeyNotFound), "etcd 3.4 panics here; refusing changes nothing");
    assert_eq!(get(&mvcc, "k"), Some(kv("k", "old", 2, 2, 1)));
    assert_eq!(mvcc.current_revision(), 2);
}

#[test]
fn compares_cover_every_target_and_result() {
    let mut mvcc = store();
    put(&mut mvcc, "k", "b");
    put(&mut mvcc, "k", "b");
    let holds = |mvcc: &mut mvcc::Mvcc, result, target| {
        let request =
            TxnRequest { compare: vec![Compare::key("k", result, target)], ..TxnRequest::default() };
        mvcc.txn(&request).unwrap().succeeded
    };
    assert!(holds(&mut mvcc, CompareResult::Equal, CompareTarget::Version(2)));
    assert!(holds(&mut mvcc, CompareResult::Greater, CompareTarget::Version(1)));
    assert!(holds(&mut mvcc, CompareResult::Less, CompareTarget::CreateRevision(3)));
    assert!(holds(&mut mvcc, CompareResult::NotEqual, CompareTarget::ModRevision(2)));
    assert!(holds(&mut mvcc, CompareResult::Greater, CompareTarget::Value("a".into())));
    assert!(holds(&mut mvcc, CompareResult::Less, CompareTarget::Value("ba".into())));
    assert!(holds(&mut mvcc, CompareResult::Equal, CompareTarget::Lease(0)));
    assert!(!holds(&mut mvcc, CompareResult::Greater, CompareTarget::Version(2)));
}

#[test]
fn a_missing_key_compares_as_zero_except_for_its_value() {
    let mut mvcc = store();
    let holds = |mvcc: &mut mvcc::Mvcc, result, target| {
        let request =
            TxnRequest { compare: vec![Compare::key("absent", result, target)], ..TxnRequest::default() };
        mvcc.txn(&request).unwrap().succeeded
    };
    assert!(
        holds(&mut mvcc, CompareResult::Equal, CompareTarget::CreateRevision(0)),
        "the usual 'does not exist'"
    );
    assert!(holds(&mut mvcc, CompareResult::Equal, CompareTarget::Version(0)));
    assert!(
        !holds(&mut mvcc, CompareResult::Equal, CompareTarget::Value(Vec::new())),
        "values of missing keys never match"
    );
    assert!(!holds(&mut mvcc, CompareResult::NotEqual, CompareTarget::Value("x".into())));
}

#[test]
fn a_compare_over_a_range_needs_every_key_to_match() {
    let mut mvcc = store();
    put(&mut mvcc, "a1", "x");
    put(&mut mvcc, "a2", "x");
    let all_x = Compare { range_end: b"a3".to_vec(), ..value_is("a1", "x") };
    let request = TxnRequest { compare: vec![all_x.clone()], ..TxnRequest::default() };
    assert!(mvcc.txn(&request).unwrap().succeeded);
    put(&mut mvcc, "a2", "y");
    assert!(!mvcc.txn(&request).unwrap().succeeded);
}

#[test]
fn nested_txns_decide_their_branches_before_the_outer_writes() {
    let mut mvcc = store();
    let inner = TxnRequest {
        compare: vec![Compare::key("k", CompareResult::Equal, CompareTarget::Version(0))],
        success: vec![put_op("inner", "saw no k")],
        failure: vec![put_op("inner", "saw k")],
    };
    let request = txn(vec![put_op("k", "v"), RequestOp::Txn(inner)], vec![]);
    mvcc.txn(&request).unwrap();
    assert_eq!(get(&mvcc, "inner").unwrap().value, b"saw no k", "compares see the state before the txn");
}

#[test]
fn txn_checks_are_etcds() {
    let mut mvcc = store();
    put(&mut mvcc, "k", "v");
    let with_lease = RequestOp::Put(PutRequest { lease: 77, ..PutRequest::new("k", "v") });
    assert_eq!(mvcc.txn(&txn(vec![with_lease], vec![])), Err(Error::LeaseNotFound));
    assert_eq!(Error::LeaseNotFound.to_string(), "etcdserver: requested lease not found");
    let future = RequestOp::Range(RangeRequest { revision: 3, ..RangeRequest::key("k") });
    assert_eq!(mvcc.txn(&txn(vec![put_op("x", "v"), future], vec![])), Err(Error::FutureRevision));
    let ignore_missing = RequestOp::Put(PutRequest { ignore_lease: true, ..PutRequest::new("missing", "v") });
    assert_eq!(mvcc.txn(&txn(vec![ignore_missing], vec![])), Err(Error::KeyNotFound));
    assert_eq!(mvcc.txn(&txn(vec![put_op("", "v")], vec![])), Err(Error::EmptyKey));
    assert_eq!(mvcc.current_revision(), 2, "refused txns change nothing");
    let untaken = txn(vec![], vec![RequestOp::Put(PutRequest { lease: 77, ..PutRequest::new("k", "v") })]);
    assert!(mvcc.txn(&untaken).unwrap().succeeded, "only the branch taken is checked");
}

#[test]
fn too_many_operations_is_checked_before_proposing() {
    let operations: Vec<RequestOp> = (0..5).map(|index| put_op(&format!("k{index}"), "v")).collect();
    let request = txn(operations, vec![]);
    assert_eq!(validate_txn(&request, 4), Err(Error::TooManyOperations));
    assert_eq!(Error::TooManyOperations.to_string(), "etcdserver: too many operations in txn request");
    assert_eq!(validate_txn(&request, 5), Ok(()));
    let compares = TxnRequest { compare: vec![value_is("a", "b"); 3], ..TxnRequest::default() };
    assert_eq!(validate_txn(&compares, 2), Err(Error::TooManyOperations), "compares count too");
}

#[test]
fn an_empty_txn_succeeds_and_uses_no_revision() {
    let mut mvcc = store();
    let response = mvcc.txn(&TxnRequest::default()).unwrap();
    assert!(response.succeeded);
    assert_eq!(response.header.revision, 1);
}
