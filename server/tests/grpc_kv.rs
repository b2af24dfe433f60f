//! The KV service over the real listener and the fake backend: Range (every option), Put,
//! DeleteRange, Txn (compares, branches, nesting) and Compact, with etcd's headers and errors.

mod grpc_common;

use api::errors;
use api::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use api::etcdserverpb::range_request::{SortOrder, SortTarget};
use api::etcdserverpb::request_op::Request;
use api::etcdserverpb::response_op::Response;
use api::etcdserverpb::*;
use grpc_common::{assert_etcd_error, assert_header, start};
use server::grpc::{GrpcOptions, V3Error};

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest { key: key.into(), value: value.into(), ..PutRequest::default() }
}

fn key(key: &str) -> RangeRequest {
    RangeRequest { key: key.into(), ..RangeRequest::default() }
}

fn keys_of(response: &RangeResponse) -> Vec<String> {
    response.kvs.iter().map(|kv| String::from_utf8_lossy(&kv.key).into_owned()).collect()
}

#[tokio::test]
async fn a_put_is_read_back_with_etcds_header_and_versions() {
    let served = start().await;
    let mut kv = served.kv();
    let written = kv.put(put("srn", "pes1ug21cs001")).await.unwrap().into_inner();
    assert_header(written.header.as_ref(), 2);
    assert_eq!(written.prev_kv, None);
    let read = kv.range(key("srn")).await.unwrap().into_inner();
    assert_header(read.header.as_ref(), 2);
    assert_eq!(read.count, 1);
    let stored = &read.kvs[0];
    assert_eq!((stored.create_revision, stored.mod_revision, stored.version), (2, 2, 1));
    assert_eq!(stored.value, b"pes1ug21cs001");
    let overwritten = kv.put(PutRequest { prev_kv: true, ..put("srn", "v2") }).await.unwrap().into_inner();
    assert_eq!(overwritten.prev_kv.map(|kv| kv.value), Some(b"pes1ug21cs001".to_vec()));
    let missing = kv.range(key("missing")).await.unwrap().into_inner();
    assert_eq!((missing.count, missing.kvs.len()), (0, 0));
    assert_header(missing.header.as_ref(), 3);
}

#[tokio::test]
async fn range_honours_prefix_from_key_limit_sorting_revision_and_projections() {
    let served = start().await;
    let mut kv = served.kv();
    for (name, value) in [("srn", "v"), ("a", "1"), ("b", "2"), ("c", "3")] {
        kv.put(put(name, value)).await.unwrap();
    }
    let everything = RangeRequest { key: vec![0], range_end: vec![0], ..RangeRequest::default() };
    let all = kv.range(everything.clone()).await.unwrap().into_inner();
    assert_eq!(keys_of(&all), ["a", "b", "c", "srn"]);
    let range = kv.range(RangeRequest { range_end: b"c".to_vec(), ..key("a") }).await.unwrap().into_inner();
    assert_eq!(keys_of(&range), ["a", "b"]);
    let from_b = kv.range(RangeRequest { range_end: vec![0], ..key("b") }).await.unwrap().into_inner();
    assert_eq!(keys_of(&from_b), ["b", "c", "srn"]);
    let limited = kv.range(RangeRequest { limit: 2, ..everything.clone() }).await.unwrap().into_inner();
    assert_eq!(
        (keys_of(&limited), limited.more, limited.count),
        (vec!["a".to_string(), "b".to_string()], true, 4)
    );
    let by_mod = RangeRequest {
        sort_order: SortOrder::Descend as i32,
        sort_target: SortTarget::Mod as i32,
        ..everything.clone()
    };
    assert_eq!(keys_of(&kv.range(by_mod).await.unwrap().into_inner()), ["c", "b", "a", "srn"]);
    let old = kv.range(RangeRequest { revision: 3, ..everything.clone() }).await.unwrap().into_inner();
    assert_eq!(keys_of(&old), ["a", "srn"]);
    assert_header(old.header.as_ref(), 5);
    let keys_only = kv.range(RangeRequest { keys_only: true, ..key("a") }).await.unwrap().into_inner();
    assert_eq!((keys_only.kvs[0].value.len(), keys_only.count), (0, 1));
    let count_only = kv.range(RangeRequest { count_only: true, ..everything }).await.unwrap().into_inner();
    assert_eq!((count_only.kvs.len(), count_only.count), (0, 4));
}

#[tokio::test]
async fn refused_requests_get_etcds_codes_and_texts() {
    let served = start().await;
    let mut kv = served.kv();
    assert_etcd_error(&kv.put(put("", "x")).await.unwrap_err(), errors::EMPTY_KEY);
    assert_etcd_error(&kv.range(key("")).await.unwrap_err(), errors::EMPTY_KEY);
    let leased = PutRequest { lease: 1234, ..put("k", "v") };
    assert_etcd_error(&kv.put(leased).await.unwrap_err(), errors::LEASE_NOT_FOUND);
    let ignore_missing = PutRequest { ignore_value: true, ..put("k", "") };
    assert_etcd_error(&kv.put(ignore_missing).await.unwrap_err(), errors::KEY_NOT_FOUND);
    kv.put(put("k", "v")).await.unwrap();
    let ignore_with_value = PutRequest { ignore_value: true, ..put("k", "v") };
    assert_etcd_error(&kv.put(ignore_with_value).await.unwrap_err(), errors::VALUE_PROVIDED);
    let future = RangeRequest { revision: 100, ..key("k") };
    assert_etcd_error(&kv.range(future).await.unwrap_err(), errors::FUTURE_REVISION);
    served.backend.set_failure(Some(V3Error::NoLeader));
    assert_etcd_error(&kv.range(key("k")).await.unwrap_err(), errors::NO_LEADER);
    served.backend.set_failure(Some(V3Error::Timeout));
    assert_etcd_error(&kv.put(put("k", "w")).await.unwrap_err(), errors::TIMEOUT);
}

#[tokio::test]
async fn delete_range_counts_and_returns_previous_values() {
    let served = start().await;
    let mut kv = served.kv();
    for name in ["a", "b", "c"] {
        kv.put(put(name, name)).await.unwrap();
    }
    let one = kv.delete_range(DeleteRangeRequest { key: b"a".to_vec(), ..Default::default() }).await.unwrap();
    assert_eq!(one.get_ref().deleted, 1);
    assert_header(one.get_ref().header.as_ref(), 5);
    let none =
        kv.delete_range(DeleteRangeRequest { key: b"a".to_vec(), ..Default::default() }).await.unwrap();
    assert_eq!(none.get_ref().deleted, 0);
    assert_header(none.get_ref().header.as_ref(), 5);
    let rest = DeleteRangeRequest { key: vec![0], range_end: vec![0], prev_kv: true };
    let rest = kv.delete_range(rest).await.unwrap().into_inner();
    assert_eq!(rest.deleted, 2);
    let values: Vec<&[u8]> = rest.prev_kvs.iter().map(|kv| kv.value.as_slice()).collect();
    assert_eq!(values, [b"b".as_slice(), b"c".as_slice()]);
    assert_header(rest.header.as_ref(), 6);
}

fn value_is(key: &str, value: &str) -> Compare {
    Compare {
        result: CompareResult::Equal as i32,
        target: CompareTarget::Value as i32,
        key: key.into(),
        target_union: Some(TargetUnion::Value(value.into())),
        range_end: Vec::new(),
    }
}

fn op_put(key: &str, value: &str) -> RequestOp {
    RequestOp { request: Some(Request::RequestPut(put(key, value))) }
}

fn op_get(name: &str) -> RequestOp {
    RequestOp { request: Some(Request::RequestRange(key(name))) }
}

#[tokio::test]
async fn a_txn_runs_the_branch_its_compares_choose_in_one_revision() {
    let served = start().await;
    let mut kv = served.kv();
    kv.put(put("srn", "three")).await.unwrap();
    let chosen = TxnRequest {
        compare: vec![value_is("srn", "three")],
        success: vec![op_put("srn", "four"), op_put("other", "x")],
        failure: vec![op_get("srn")],
    };
    let succeeded = kv.txn(chosen).await.unwrap().into_inner();
    assert!(succeeded.succeeded);
    assert_header(succeeded.header.as_ref(), 3);
    assert_eq!(succeeded.responses.len(), 2);
    let failing = TxnRequest {
        compare: vec![value_is("srn", "nope")],
        success: vec![op_put("srn", "five")],
        failure: vec![op_get("srn")],
    };
    let failed = kv.txn(failing).await.unwrap().into_inner();
    assert!(!failed.succeeded);
    assert_header(failed.header.as_ref(), 3);
    let Some(Response::ResponseRange(range)) = &failed.responses[0].response else { panic!("a range") };
    assert_eq!(range.header, Some(ResponseHeader { revision: 3, ..ResponseHeader::default() }));
    assert_eq!(range.kvs[0].value, b"four");
}

#[tokio::test]
async fn nested_txns_answer_with_an_empty_header_and_bad_txns_are_refused() {
    let served = start().await;
    let mut kv = served.kv();
    let inner = TxnRequest { success: vec![op_put("inner", "1")], ..TxnRequest::default() };
    let outer = TxnRequest {
        success: vec![RequestOp { request: Some(Request::RequestTxn(inner)) }, op_get("inner")],
        ..TxnRequest::default()
    };
    let answered = kv.txn(outer).await.unwrap().into_inner();
    let Some(Response::ResponseTxn(nested)) = &answered.responses[0].response else { panic!("a txn") };
    assert_eq!(nested.header, Some(ResponseHeader::default()));
    assert!(nested.succeeded);
    let duplicate = TxnRequest { success: vec![op_put("k", "1"), op_put("k", "2")], ..TxnRequest::default() };
    assert_etcd_error(&kv.txn(duplicate).await.unwrap_err(), errors::DUPLICATE_KEY);
    let empty_op = TxnRequest { success: vec![RequestOp { request: None }], ..TxnRequest::default() };
    assert_etcd_error(&kv.txn(empty_op).await.unwrap_err(), errors::KEY_NOT_FOUND);
    let too_many = TxnRequest {
        success: (0..129).map(|index| op_put(&format!("k{index}"), "v")).collect(),
        ..TxnRequest::default()
    };
    assert_etcd_error(&kv.txn(too_many).await.unwrap_err(), errors::TOO_MANY_OPS);
}

#[tokio::test]
async fn max_txn_ops_is_the_servers_setting() {
    let served = grpc_common::start_with(GrpcOptions { max_txn_ops: 2, ..GrpcOptions::default() }).await;
    let mut kv = served.kv();
    let three = TxnRequest { success: vec![op_get("a"), op_get("b"), op_get("c")], ..TxnRequest::default() };
    assert_etcd_error(&kv.txn(three).await.unwrap_err(), errors::TOO_MANY_OPS);
    let two = TxnRequest { success: vec![op_get("a"), op_get("b")], ..TxnRequest::default() };
    assert!(kv.txn(two).await.unwrap().into_inner().succeeded);
}

#[tokio::test]
async fn compaction_drops_old_revisions_with_etcds_errors_around_it() {
    let served = start().await;
    let mut kv = served.kv();
    for value in ["1", "2", "3", "4"] {
        kv.put(put("k", value)).await.unwrap();
    }
    let compacted = kv.compact(CompactionRequest { revision: 4, physical: true }).await.unwrap().into_inner();
    assert_header(compacted.header.as_ref(), 5);
    let at_compacted = kv.range(RangeRequest { revision: 4, ..key("k") }).await.unwrap().into_inner();
    assert_eq!(at_compacted.kvs[0].value, b"3", "reading exactly the compacted revision works");
    let before = RangeRequest { revision: 3, ..key("k") };
    assert_etcd_error(&kv.range(before).await.unwrap_err(), errors::COMPACTED);
    let again = CompactionRequest { revision: 2, physical: false };
    assert_etcd_error(&kv.compact(again).await.unwrap_err(), errors::COMPACTED);
    let future = CompactionRequest { revision: 50, physical: false };
    assert_etcd_error(&kv.compact(future).await.unwrap_err(), errors::FUTURE_REVISION);
}
