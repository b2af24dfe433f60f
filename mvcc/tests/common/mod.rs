//! Helpers the scenario tests share: short ways to write and read keys.
#![allow(dead_code)]

use mvcc::{
    Config, DeleteRangeRequest, Event, EventKind, KeyValue, Mvcc, PutRequest, RangeRequest, RequestOp,
    TxnRequest,
};

pub fn store() -> Mvcc {
    Mvcc::new(Config::default())
}

/// Puts `key = value`; returns the revision of the put.
pub fn put(mvcc: &mut Mvcc, key: &str, value: &str) -> i64 {
    mvcc.put(&PutRequest::new(key, value)).expect("put").header.revision
}

/// Puts `key = value` attached to `lease`; returns the revision of the put.
pub fn put_with_lease(mvcc: &mut Mvcc, key: &str, value: &str, lease: i64) -> i64 {
    let request = PutRequest { lease, ..PutRequest::new(key, value) };
    mvcc.put(&request).expect("put").header.revision
}

/// Deletes one key; returns how many keys went.
pub fn delete(mvcc: &mut Mvcc, key: &str) -> i64 {
    mvcc.delete_range(&DeleteRangeRequest::key(key)).expect("delete").deleted
}

/// The key's version at `revision` (0: current).
pub fn get_at(mvcc: &Mvcc, key: &str, revision: i64) -> Option<KeyValue> {
    let request = RangeRequest { revision, ..RangeRequest::key(key) };
    mvcc.range(&request).expect("range").kvs.into_iter().next()
}

pub fn get(mvcc: &Mvcc, key: &str) -> Option<KeyValue> {
    get_at(mvcc, key, 0)
}

/// Keys of a range answer, as strings.
pub fn keys(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter().map(|kv| String::from_utf8(kv.key.clone()).unwrap()).collect()
}

/// Values of a range answer, as strings.
pub fn values(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter().map(|kv| String::from_utf8(kv.value.clone()).unwrap()).collect()
}

pub fn kv(key: &str, value: &str, create_revision: i64, mod_revision: i64, version: i64) -> KeyValue {
    KeyValue { key: key.into(), value: value.into(), create_revision, mod_revision, version, lease: 0 }
}

pub fn put_op(key: &str, value: &str) -> RequestOp {
    RequestOp::Put(PutRequest::new(key, value))
}

pub fn range_op(key: &str) -> RequestOp {
    RequestOp::Range(RangeRequest::key(key))
}

pub fn delete_op(key: &str, range_end: &[u8]) -> RequestOp {
    RequestOp::DeleteRange(DeleteRangeRequest::range(key, range_end))
}

pub fn txn(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> TxnRequest {
    TxnRequest { compare: Vec::new(), success, failure }
}

/// Events as (kind, key, mod_revision) triples, for compact assertions.
pub fn summary(events: &[Event]) -> Vec<(EventKind, String, i64)> {
    events
        .iter()
        .map(|event| (event.kind, String::from_utf8(event.kv.key.clone()).unwrap(), event.kv.mod_revision))
        .collect()
}
