//! The KV part of the script: Put, Range, DeleteRange, Txn and Compact with their options and errors,
//! starting from a fresh store (revision 1).

use api::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use api::etcdserverpb::range_request::{SortOrder, SortTarget};
use api::etcdserverpb::request_op::Request;
use api::etcdserverpb::{
    CompactionRequest, Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

use super::session::Session;

pub fn put(key: &str, value: &str) -> PutRequest {
    PutRequest { key: key.into(), value: value.into(), ..Default::default() }
}

pub fn range(key: &str, range_end: &str) -> RangeRequest {
    RangeRequest { key: key.into(), range_end: range_end.into(), ..Default::default() }
}

/// Puts and their errors; leaves a=10 (ignore_value kept it), b=20, c=3, p/x, p/y, p/z.
pub async fn puts(session: &mut Session) {
    for (key, value) in [("a", "1"), ("b", "2"), ("c", "3")] {
        let answer = session.kv.put(put(key, value)).await;
        session.record(&format!("Put {key}={value}"), answer, &[]);
    }
    let answer = session.kv.put(PutRequest { prev_kv: true, ..put("a", "10") }).await;
    session.record("Put a=10 prev_kv", answer, &[]);
    let answer = session.kv.put(PutRequest { prev_kv: true, ..put("p/x", "z") }).await;
    session.record("Put p/x=z prev_kv (new key)", answer, &[]);
    for (key, value) in [("p/y", "y"), ("p/z", "x")] {
        let answer = session.kv.put(put(key, value)).await;
        session.record(&format!("Put {key}={value}"), answer, &[]);
    }
    let answer = session.kv.put(put("", "x")).await;
    session.record("Put empty key", answer, &[]);
    let answer = session.kv.put(PutRequest { lease: 424_242, ..put("a", "x") }).await;
    session.record("Put with an unknown lease", answer, &[]);
    put_ignore_errors(session).await;
    let answer = session.kv.put(PutRequest { ignore_value: true, prev_kv: true, ..put("a", "") }).await;
    session.record("Put a ignore_value prev_kv", answer, &[]);
    let answer = session.kv.put(PutRequest { ignore_lease: true, ..put("b", "20") }).await;
    session.record("Put b=20 ignore_lease", answer, &[]);
}

async fn put_ignore_errors(session: &mut Session) {
    let answer = session.kv.put(PutRequest { ignore_value: true, ..put("missing", "") }).await;
    session.record("Put missing ignore_value", answer, &[]);
    let answer = session.kv.put(PutRequest { ignore_value: true, ..put("a", "v") }).await;
    session.record("Put a ignore_value with a value", answer, &[]);
    let answer = session.kv.put(PutRequest { ignore_lease: true, ..put("missing", "v") }).await;
    session.record("Put missing ignore_lease", answer, &[]);
    let answer = session.kv.put(PutRequest { ignore_lease: true, lease: 7, ..put("a", "v") }).await;
    session.record("Put a ignore_lease with a lease", answer, &[]);
    let answer = session.kv.put(PutRequest { ignore_value: true, ignore_lease: true, ..put("", "") }).await;
    session.record("Put empty key ignore_value ignore_lease", answer, &[]);
}

/// Ranges over the keys `puts` left, with every option.
pub async fn ranges(session: &mut Session) {
    let plain = [
        ("Range a", range("a", "")),
        ("Range missing", range("missing", "")),
        ("Range [a, c)", range("a", "c")),
        ("Range prefix p/", range("p/", "p0")),
        ("Range from b (\\0)", range("b", "\0")),
        ("Range all (\\0, \\0)", range("\0", "\0")),
        ("Range empty key", range("", "")),
        ("Range [c, a) (reversed)", range("c", "a")),
        ("Range limit 2", RangeRequest { limit: 2, ..range("\0", "\0") }),
        ("Range limit 6 (all)", RangeRequest { limit: 6, ..range("\0", "\0") }),
        ("Range limit -1", RangeRequest { limit: -1, ..range("\0", "\0") }),
        ("Range keys_only", RangeRequest { keys_only: true, ..range("\0", "\0") }),
        ("Range count_only", RangeRequest { count_only: true, ..range("\0", "\0") }),
        ("Range count_only limit 1", RangeRequest { count_only: true, limit: 1, ..range("\0", "\0") }),
        ("Range serializable", RangeRequest { serializable: true, ..range("a", "") }),
        ("Range min_mod_revision 5", RangeRequest { min_mod_revision: 5, ..range("\0", "\0") }),
        ("Range max_mod_revision 4", RangeRequest { max_mod_revision: 4, ..range("\0", "\0") }),
        ("Range min_create_revision 4", RangeRequest { min_create_revision: 4, ..range("\0", "\0") }),
        ("Range max_create_revision 3", RangeRequest { max_create_revision: 3, ..range("\0", "\0") }),
        ("Range min_mod 5 limit 1", RangeRequest { min_mod_revision: 5, limit: 1, ..range("\0", "\0") }),
        ("Range revision 3", RangeRequest { revision: 3, ..range("\0", "\0") }),
        ("Range revision 1", RangeRequest { revision: 1, ..range("\0", "\0") }),
        ("Range a revision 4", RangeRequest { revision: 4, ..range("a", "") }),
        ("Range revision -1", RangeRequest { revision: -1, ..range("a", "") }),
        ("Range future revision", RangeRequest { revision: 1_000, ..range("a", "") }),
    ];
    for (label, request) in plain {
        let answer = session.kv.range(request).await;
        session.record(label, answer, &[]);
    }
    sorted_ranges(session).await;
}

async fn sorted_ranges(session: &mut Session) {
    let targets =
        [SortTarget::Key, SortTarget::Version, SortTarget::Create, SortTarget::Mod, SortTarget::Value];
    let orders = [SortOrder::None, SortOrder::Ascend, SortOrder::Descend];
    for target in targets {
        for order in orders {
            let request =
                RangeRequest { sort_target: target as i32, sort_order: order as i32, ..range("\0", "\0") };
            let answer = session.kv.range(request).await;
            session.record(&format!("Range sort {target:?} {order:?}"), answer, &[]);
        }
    }
    let request = RangeRequest {
        sort_target: SortTarget::Value as i32,
        sort_order: SortOrder::Descend as i32,
        limit: 2,
        ..range("\0", "\0")
    };
    let answer = session.kv.range(request).await;
    session.record("Range sort Value Descend limit 2", answer, &[]);
    let request = RangeRequest { sort_order: 7, ..range("a", "") };
    let answer = session.kv.range(request).await;
    session.record("Range unknown sort order", answer, &[]);
}

/// DeleteRange of one key, a range, a missing key, with and without prev_kv, and its error.
pub async fn deletes(session: &mut Session) {
    for (key, value) in [("d/1", "1"), ("d/2", "2"), ("d/3", "3"), ("d/4", "4")] {
        let answer = session.kv.put(put(key, value)).await;
        session.record(&format!("Put {key}={value}"), answer, &[]);
    }
    let delete = |key: &str, range_end: &str, prev_kv: bool| DeleteRangeRequest {
        key: key.into(),
        range_end: range_end.into(),
        prev_kv,
    };
    let requests = [
        ("DeleteRange d/1 prev_kv", delete("d/1", "", true)),
        ("DeleteRange d/1 again", delete("d/1", "", false)),
        ("DeleteRange [d/2, d/4)", delete("d/2", "d/4", false)),
        ("DeleteRange missing prefix prev_kv", delete("zz/", "zz0", true)),
        ("DeleteRange from d/4 prev_kv", delete("d/4", "\0", true)),
        ("DeleteRange empty key", delete("", "", false)),
    ];
    for (label, request) in requests {
        let answer = session.kv.delete_range(request).await;
        session.record(label, answer, &[]);
    }
    let answer = session.kv.put(put("d/4", "again")).await;
    session.record("Put d/4=again (new generation)", answer, &[]);
}

pub fn compare(key: &str, target: CompareTarget, result: CompareResult, value: TargetUnion) -> Compare {
    Compare {
        key: key.into(),
        target: target as i32,
        result: result as i32,
        target_union: Some(value),
        ..Default::default()
    }
}

pub fn op(request: Request) -> RequestOp {
    RequestOp { request: Some(request) }
}

/// Txn with every compare target and result, ranges in compares, nested txns and the errors.
pub async fn txns(session: &mut Session) {
    let targets = [
        ("Version 2", CompareTarget::Version, TargetUnion::Version(2)),
        ("Create 2", CompareTarget::Create, TargetUnion::CreateRevision(2)),
        ("Mod 5", CompareTarget::Mod, TargetUnion::ModRevision(5)),
        ("Value 10", CompareTarget::Value, TargetUnion::Value(b"10".to_vec())),
        ("Lease 0", CompareTarget::Lease, TargetUnion::Lease(0)),
    ];
    let results =
        [CompareResult::Equal, CompareResult::Greater, CompareResult::Less, CompareResult::NotEqual];
    for (name, target, value) in targets {
        for result in results {
            let request = TxnRequest {
                compare: vec![compare("a", target, result, value.clone())],
                success: vec![op(Request::RequestRange(range("a", "")))],
                failure: vec![op(Request::RequestRange(range("b", "")))],
            };
            let answer = session.kv.txn(request).await;
            session.record(&format!("Txn a {name} {result:?}"), answer, &[]);
        }
    }
    txn_shapes(session).await;
    txn_errors(session).await;
}

async fn txn_shapes(session: &mut Session) {
    let missing_version_zero =
        compare("nothing", CompareTarget::Version, CompareResult::Equal, TargetUnion::Version(0));
    let over_prefix = Compare {
        range_end: b"p0".to_vec(),
        ..compare("p/", CompareTarget::Mod, CompareResult::Greater, TargetUnion::ModRevision(6))
    };
    let nested = TxnRequest {
        compare: vec![missing_version_zero.clone()],
        success: vec![
            op(Request::RequestPut(put("t/inner", "1"))),
            op(Request::RequestRange(range("t/", "t0"))),
        ],
        failure: vec![],
    };
    let requests = [
        ("Txn empty", TxnRequest::default()),
        (
            "Txn compare only (empty branches)",
            TxnRequest { compare: vec![missing_version_zero.clone()], ..Default::default() },
        ),
        (
            "Txn missing key version 0, put and delete",
            TxnRequest {
                compare: vec![missing_version_zero.clone()],
                success: vec![
                    op(Request::RequestPut(PutRequest { prev_kv: true, ..put("t/1", "one") })),
                    op(Request::RequestPut(put("t/2", "two"))),
                    op(Request::RequestDeleteRange(DeleteRangeRequest {
                        key: b"c".to_vec(),
                        prev_kv: true,
                        ..Default::default()
                    })),
                    op(Request::RequestRange(range("t/", "t0"))),
                ],
                failure: vec![],
            },
        ),
        (
            "Txn compare over a prefix, mod > 6",
            TxnRequest {
                compare: vec![over_prefix],
                success: vec![op(Request::RequestRange(range("p/z", "")))],
                failure: vec![op(Request::RequestRange(range("p/x", "")))],
            },
        ),
        (
            "Txn nested",
            TxnRequest {
                compare: vec![],
                success: vec![op(Request::RequestTxn(nested)), op(Request::RequestPut(put("t/outer", "2")))],
                failure: vec![],
            },
        ),
        (
            "Txn failure branch writes",
            TxnRequest {
                compare: vec![compare(
                    "a",
                    CompareTarget::Value,
                    CompareResult::Equal,
                    TargetUnion::Value(b"nope".to_vec()),
                )],
                success: vec![],
                failure: vec![op(Request::RequestPut(put("t/failed", "f")))],
            },
        ),
    ];
    for (label, request) in requests {
        let answer = session.kv.txn(request).await;
        session.record(label, answer, &[]);
    }
}

async fn txn_errors(session: &mut Session) {
    let twice = TxnRequest {
        success: vec![op(Request::RequestPut(put("t/x", "1"))), op(Request::RequestPut(put("t/x", "2")))],
        ..Default::default()
    };
    let put_and_delete = TxnRequest {
        success: vec![
            op(Request::RequestPut(put("t/x", "1"))),
            op(Request::RequestDeleteRange(DeleteRangeRequest {
                key: b"t/".to_vec(),
                range_end: b"t0".to_vec(),
                ..Default::default()
            })),
        ],
        ..Default::default()
    };
    let nested_twice = TxnRequest {
        success: vec![
            op(Request::RequestPut(put("t/x", "1"))),
            op(Request::RequestTxn(TxnRequest {
                success: vec![op(Request::RequestPut(put("t/x", "2")))],
                ..Default::default()
            })),
        ],
        ..Default::default()
    };
    let branches_apart = TxnRequest {
        success: vec![op(Request::RequestPut(put("t/x", "1")))],
        failure: vec![op(Request::RequestPut(put("t/x", "2")))],
        ..Default::default()
    };
    let too_many = TxnRequest {
        success: (0..129).map(|n| op(Request::RequestPut(put(&format!("m/{n}"), "v")))).collect(),
        ..Default::default()
    };
    let just_enough = TxnRequest {
        success: (0..128).map(|n| op(Request::RequestRange(range(&format!("m/{n}"), "")))).collect(),
        ..Default::default()
    };
    let empty_key = TxnRequest { success: vec![op(Request::RequestPut(put("", "1")))], ..Default::default() };
    let empty_compare_key = TxnRequest {
        compare: vec![compare("", CompareTarget::Version, CompareResult::Equal, TargetUnion::Version(0))],
        ..Default::default()
    };
    let requests = [
        ("Txn duplicate put", twice),
        ("Txn put inside a deleted range", put_and_delete),
        ("Txn duplicate put in a nested txn", nested_twice),
        ("Txn same key in success and failure", branches_apart),
        ("Txn 129 ops", too_many),
        ("Txn put empty key", empty_key),
        ("Txn compare empty key", empty_compare_key),
    ];
    for (label, request) in requests {
        let answer = session.kv.txn(request).await;
        session.record(label, answer, &[]);
    }
    // 128 answers in one line would drown the transcript: the header, the outcome and the count.
    let answer = session.kv.txn(just_enough).await.map(|response| {
        let txn = response.into_inner();
        (txn.header, txn.succeeded, txn.responses.len())
    });
    session.record_value("Txn 128 ranges (header, succeeded, responses)", &answer, &[]);
}

/// Compactions: physical, twice, below the last, in the future; then reads below it.
pub async fn compactions(session: &mut Session, revision: i64) {
    let requests = [
        ("Compact future", CompactionRequest { revision: 10_000, physical: false }),
        ("Compact physical", CompactionRequest { revision, physical: true }),
        ("Compact same revision again", CompactionRequest { revision, physical: false }),
        ("Compact lower revision", CompactionRequest { revision: revision - 1, physical: false }),
        ("Compact higher revision", CompactionRequest { revision: revision + 1, physical: false }),
    ];
    for (label, request) in requests {
        let answer = session.kv.compact(request).await;
        session.record(label, answer, &[]);
    }
    let reads = [
        ("Range at a compacted revision", RangeRequest { revision: revision - 1, ..range("\0", "\0") }),
        ("Range at the compaction revision", RangeRequest { revision: revision + 1, ..range("a", "") }),
        ("Range at the current revision", range("a", "")),
    ];
    for (label, request) in reads {
        let answer = session.kv.range(request).await;
        session.record(label, answer, &[]);
    }
}

/// Requests at the edges: oversized values, txn ops that fail inside the txn, odd revisions.
pub async fn edge_cases(session: &mut Session) {
    let large = PutRequest { value: vec![b'v'; 1_600_000], ..put("big", "") };
    let answer = session.kv.put(large).await;
    session.record("Put a 1.6 MB value", answer, &[]);
    let requests = [
        (
            "Txn put with an unknown lease",
            op(Request::RequestPut(PutRequest { lease: 4_242, ..put("t/l", "1") })),
        ),
        (
            "Txn put missing ignore_value",
            op(Request::RequestPut(PutRequest { ignore_value: true, ..put("t/none", "") })),
        ),
        (
            "Txn range at a future revision",
            op(Request::RequestRange(RangeRequest { revision: 10_000, ..range("a", "") })),
        ),
        ("Txn range empty key", op(Request::RequestRange(range("", "")))),
        ("Txn delete empty key", op(Request::RequestDeleteRange(DeleteRangeRequest::default()))),
    ];
    for (label, request) in requests {
        let answer = session.kv.txn(TxnRequest { success: vec![request], ..Default::default() }).await;
        session.record(label, answer, &[]);
    }
    let missing_value =
        compare("nothing", CompareTarget::Value, CompareResult::Equal, TargetUnion::Value(Vec::new()));
    let greater_value =
        compare("a", CompareTarget::Value, CompareResult::Greater, TargetUnion::Value(b"1".to_vec()));
    let mismatched =
        compare("a", CompareTarget::Version, CompareResult::Equal, TargetUnion::Value(b"x".to_vec()));
    let no_union = Compare {
        target_union: None,
        ..compare("nothing", CompareTarget::Mod, CompareResult::Equal, TargetUnion::ModRevision(0))
    };
    let odd_result = Compare {
        result: 9,
        ..compare("a", CompareTarget::Version, CompareResult::Equal, TargetUnion::Version(3))
    };
    let missing_value_compare =
        compare("nothing", CompareTarget::Value, CompareResult::Equal, TargetUnion::Value(Vec::new()));
    let odd_result_value = Compare { result: 9, ..missing_value_compare };
    let version_three = compare("a", CompareTarget::Version, CompareResult::Equal, TargetUnion::Version(3));
    let odd_target_equal = Compare { target: 9, ..version_three.clone() };
    let odd_target_less = Compare { target: 9, result: CompareResult::Less as i32, ..version_three };
    let every_key = Compare {
        range_end: b"\0".to_vec(),
        ..compare("\0", CompareTarget::Create, CompareResult::Greater, TargetUnion::CreateRevision(0))
    };
    let requests = [
        ("Txn compare the value of a missing key", vec![missing_value]),
        ("Txn compare value greater (bytes)", vec![greater_value.clone(), greater_value]),
        ("Txn compare version against a value", vec![mismatched]),
        ("Txn compare without a target value", vec![no_union]),
        ("Txn compare with result 9", vec![odd_result]),
        ("Txn compare with result 9, value of a missing key", vec![odd_result_value]),
        ("Txn compare with target 9, equal", vec![odd_target_equal]),
        ("Txn compare with target 9, less", vec![odd_target_less]),
        ("Txn compare over every key, create > 0", vec![every_key]),
    ];
    for (label, compares) in requests {
        let request = TxnRequest { compare: compares, ..Default::default() };
        let answer = session.kv.txn(request).await;
        session.record(label, answer, &[]);
    }
    let reads = [
        (
            "Range keys_only count_only",
            RangeRequest { keys_only: true, count_only: true, ..range("\0", "\0") },
        ),
        (
            "Range revision 3 sort Mod Descend limit 1",
            RangeRequest {
                revision: 3,
                sort_target: SortTarget::Mod as i32,
                sort_order: SortOrder::Descend as i32,
                limit: 1,
                ..range("\0", "\0")
            },
        ),
        ("Range key \\0 only", range("\0", "")),
        ("Range empty key from-key", range("", "\0")),
        ("Range [a, a)", range("a", "a")),
        (
            "Range serializable future revision",
            RangeRequest { serializable: true, revision: 1_000, ..range("a", "") },
        ),
        ("Range revision 3 count_only", RangeRequest { revision: 3, count_only: true, ..range("\0", "\0") }),
    ];
    for (label, request) in reads {
        let answer = session.kv.range(request).await;
        session.record(label, answer, &[]);
    }
    let answer = session.kv.compact(CompactionRequest { revision: 0, physical: false }).await;
    session.record("Compact revision 0", answer, &[]);
    let answer = session.kv.compact(CompactionRequest { revision: -3, physical: false }).await;
    session.record("Compact revision -3", answer, &[]);
}

/// The last KV step: every key deleted at once, then what is left.
pub async fn delete_everything(session: &mut Session) {
    let delete = DeleteRangeRequest { key: b"\0".to_vec(), range_end: b"\0".to_vec(), prev_kv: true };
    let answer = session.kv.delete_range(delete).await;
    session.record("DeleteRange every key prev_kv", answer, &[]);
    let answer = session.kv.range(range("\0", "\0")).await;
    session.record("Range every key after deleting them", answer, &[]);
    let nested = TxnRequest {
        compare: vec![compare("a", CompareTarget::Version, CompareResult::Greater, TargetUnion::Version(0))],
        success: vec![op(Request::RequestPut(put("never", "x")))],
        failure: vec![
            op(Request::RequestPut(put("n/failed", "x"))),
            op(Request::RequestRange(range("n/", "n0"))),
        ],
    };
    let request = TxnRequest { success: vec![op(Request::RequestTxn(nested))], ..Default::default() };
    let answer = session.kv.txn(request).await;
    session.record("Txn nested, its compare failing", answer, &[]);
}
