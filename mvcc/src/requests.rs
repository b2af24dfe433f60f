//! The KV service's request and response shapes (etcd's `etcdserverpb` Range, Put, DeleteRange, Txn,
//! Compaction and HashKV messages) as plain Rust types, so the gRPC layer maps field for field.
//!
//! Key ranges follow etcd: an empty `range_end` means the single key `key`, `range_end == [0]` means
//! every key from `key` on, anything else the half-open range `[key, range_end)` (empty when
//! `range_end <= key`). `prefix_end` computes a prefix's `range_end` like etcd's clients.

use crate::key_value::KeyValue;
use serde::{Deserialize, Serialize};

/// What the keyspace fills of etcd's `ResponseHeader`. The node adds cluster ID, member ID and term.
/// A nested txn's response has an empty header (revision 0), like etcd's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseHeader {
    pub revision: i64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortOrder {
    /// No sorting, unless `sort_target` is not `Key`: then ascending (etcd's rule).
    #[default]
    None,
    Ascend,
    Descend,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortTarget {
    #[default]
    Key,
    Version,
    Create,
    Mod,
    Value,
}

/// etcd's `RangeRequest`. `revision` 0 (or less) reads the current revision; `limit` 0 means no limit;
/// the min/max revision filters are off at 0. `serializable` is the node's business (it decides
/// whether the read goes through the log); the keyspace ignores it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeRequest {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    pub limit: i64,
    pub revision: i64,
    pub sort_order: SortOrder,
    pub sort_target: SortTarget,
    pub serializable: bool,
    pub keys_only: bool,
    pub count_only: bool,
    pub min_mod_revision: i64,
    pub max_mod_revision: i64,
    pub min_create_revision: i64,
    pub max_create_revision: i64,
}

/// etcd's `RangeResponse`. `count` is the number of keys in the range at the revision, before `limit`
/// and before the min/max revision filters (etcd's behaviour); `more` says `limit` cut the answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeResponse {
    pub header: ResponseHeader,
    pub kvs: Vec<KeyValue>,
    pub more: bool,
    pub count: i64,
}

/// etcd's `PutRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutRequest {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub lease: i64,
    pub prev_kv: bool,
    pub ignore_value: bool,
    pub ignore_lease: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutResponse {
    pub header: ResponseHeader,
    pub prev_kv: Option<KeyValue>,
}

/// etcd's `DeleteRangeRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRangeRequest {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    pub prev_kv: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRangeResponse {
    pub header: ResponseHeader,
    pub deleted: i64,
    pub prev_kvs: Vec<KeyValue>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareResult {
    #[default]
    Equal,
    Greater,
    Less,
    NotEqual,
}

/// etcd's `Compare.target` together with its `target_union`. The gRPC layer maps a union that does not
/// match the target to the target with the zero value (0 or empty), which is how etcd reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareTarget {
    Version(i64),
    CreateRevision(i64),
    ModRevision(i64),
    Value(Vec<u8>),
    Lease(i64),
}

/// etcd's `Compare`: every key of `[key, range_end)` (same range rules as Range) must satisfy
/// `key's target <result> the given value`. A missing key compares as all zeros, except for `Value`,
/// where a missing key always fails.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    pub result: CompareResult,
    pub target: CompareTarget,
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
}

/// One operation of a txn branch (etcd's `RequestOp`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestOp {
    Range(RangeRequest),
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
    Txn(TxnRequest),
}

/// The answer to one `RequestOp`, in the same position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseOp {
    Range(RangeResponse),
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
}

/// etcd's `TxnRequest`: if every compare holds, run `success`, else `failure`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnRequest {
    pub compare: Vec<Compare>,
    pub success: Vec<RequestOp>,
    pub failure: Vec<RequestOp>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnResponse {
    pub header: ResponseHeader,
    pub succeeded: bool,
    pub responses: Vec<ResponseOp>,
}

/// etcd's `CompactionRequest`. Compaction here is always complete when the call returns, so `physical`
/// changes nothing (etcd waits for the backend with it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionRequest {
    pub revision: i64,
    pub physical: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionResponse {
    pub header: ResponseHeader,
}

/// etcd's `HashKVResponse`: `hash` covers the keyspace up to the asked revision (see `Mvcc::hash_kv`),
/// `compact_revision` is the compacted revision (-1 when never compacted, like etcd).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashKvResponse {
    pub header: ResponseHeader,
    pub hash: u32,
    pub compact_revision: i64,
}

/// etcd's `HashResponse`: a hash of the whole replicated state (see `Mvcc::hash`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashResponse {
    pub header: ResponseHeader,
    pub hash: u32,
}

/// The `range_end` that selects every key starting with `prefix` (etcd's `GetPrefixRangeEnd`): the
/// prefix with its last byte below 0xff incremented and what follows dropped; `[0]` (all keys from
/// `prefix` on) when there is no such byte.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

impl RangeRequest {
    /// A read of one key at the current revision.
    pub fn key(key: impl Into<Vec<u8>>) -> RangeRequest {
        RangeRequest { key: key.into(), ..RangeRequest::default() }
    }

    /// A read of `[key, range_end)` at the current revision.
    pub fn range(key: impl Into<Vec<u8>>, range_end: impl Into<Vec<u8>>) -> RangeRequest {
        RangeRequest { key: key.into(), range_end: range_end.into(), ..RangeRequest::default() }
    }

    /// A read of every key starting with `prefix` (an empty prefix: every key).
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> RangeRequest {
        let prefix = prefix.into();
        if prefix.is_empty() {
            return RangeRequest::range(vec![0], vec![0]);
        }
        let range_end = prefix_end(&prefix);
        RangeRequest::range(prefix, range_end)
    }
}

impl PutRequest {
    pub fn new(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> PutRequest {
        PutRequest { key: key.into(), value: value.into(), ..PutRequest::default() }
    }
}

impl DeleteRangeRequest {
    pub fn key(key: impl Into<Vec<u8>>) -> DeleteRangeRequest {
        DeleteRangeRequest { key: key.into(), ..DeleteRangeRequest::default() }
    }

    pub fn range(key: impl Into<Vec<u8>>, range_end: impl Into<Vec<u8>>) -> DeleteRangeRequest {
        DeleteRangeRequest { key: key.into(), range_end: range_end.into(), prev_kv: false }
    }
}

impl Compare {
    /// A compare of one key.
    pub fn key(key: impl Into<Vec<u8>>, result: CompareResult, target: CompareTarget) -> Compare {
        Compare { result, target, key: key.into(), range_end: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte_below_0xff() {
        assert_eq!(prefix_end(b"abc"), b"abd".to_vec());
        assert_eq!(prefix_end(&[b'a', 0xff]), vec![b'b']);
        assert_eq!(prefix_end(&[0xff, 0xff]), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }
}
