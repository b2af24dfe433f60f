//! The checks etcd's gRPC layer makes before a request is proposed (`v3rpc/key.go`): empty keys,
//! `ignore_*` flags with a value or lease, the number of operations of a txn, and keys a txn would
//! write twice. The node calls these before proposing; the keyspace runs the same checks again when a
//! command is applied (all but the operation count, which depends on the member's configuration), so a
//! command that slipped through is refused the same way on every member.

use crate::error::Error;
use crate::requests::{Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest};
use std::collections::BTreeSet;

/// The deepest nesting of txns the keyspace applies. etcd sets no limit, but its operation limit bounds
/// the depth (each level has one operation fewer to spend); this bound keeps recursion bounded for
/// commands applied without that check.
pub const MAX_TXN_DEPTH: usize = 1024;

/// etcd's default `--max-txn-ops`.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;

pub fn validate_range(request: &RangeRequest) -> Result<(), Error> {
    if request.key.is_empty() {
        return Err(Error::EmptyKey);
    }
    Ok(())
}

pub fn validate_put(request: &PutRequest) -> Result<(), Error> {
    if request.key.is_empty() {
        return Err(Error::EmptyKey);
    }
    if request.ignore_value && !request.value.is_empty() {
        return Err(Error::ValueProvided);
    }
    if request.ignore_lease && request.lease != 0 {
        return Err(Error::LeaseProvided);
    }
    Ok(())
}

pub fn validate_delete_range(request: &DeleteRangeRequest) -> Result<(), Error> {
    if request.key.is_empty() {
        return Err(Error::EmptyKey);
    }
    Ok(())
}

/// etcd's txn checks, in etcd's order: at most `max_txn_ops` compares, success ops and failure ops
/// each (a nested txn gets what its parent leaves: `max_txn_ops` minus the parent's largest count);
/// no empty key; then no key written twice (`check_duplicates`).
pub fn validate_txn(request: &TxnRequest, max_txn_ops: usize) -> Result<(), Error> {
    let max_txn_ops = i64::try_from(max_txn_ops).unwrap_or(i64::MAX);
    check_operations(request, Some(max_txn_ops), 0)?;
    check_duplicates(request)
}

/// `validate_txn` without the operation count: what the keyspace checks when applying.
pub(crate) fn validate_txn_structure(request: &TxnRequest) -> Result<(), Error> {
    check_operations(request, None, 0)?;
    check_duplicates(request)
}

fn check_operations(request: &TxnRequest, max_txn_ops: Option<i64>, depth: usize) -> Result<(), Error> {
    if depth >= MAX_TXN_DEPTH {
        return Err(Error::TooManyOperations);
    }
    let largest = request.compare.len().max(request.success.len()).max(request.failure.len()) as i64;
    if max_txn_ops.is_some_and(|maximum| largest > maximum) {
        return Err(Error::TooManyOperations);
    }
    if request.compare.iter().any(|compare: &Compare| compare.key.is_empty()) {
        return Err(Error::EmptyKey);
    }
    let nested_max = max_txn_ops.map(|maximum| maximum - largest);
    for operation in request.success.iter().chain(&request.failure) {
        match operation {
            RequestOp::Range(range) => validate_range(range)?,
            RequestOp::Put(put) => validate_put(put)?,
            RequestOp::DeleteRange(delete) => validate_delete_range(delete)?,
            RequestOp::Txn(nested) => check_operations(nested, nested_max, depth + 1)?,
        }
    }
    Ok(())
}

/// A delete's keys as etcd's duplicate check sees them: `range_end` empty is the key alone, anything
/// else `[key, range_end)` compared bytewise, so a from-key delete (`range_end == [0]`) covers nothing
/// here (etcd's interval tree reads it as an empty interval).
#[derive(Clone, Copy)]
struct DeleteInterval<'a> {
    key: &'a [u8],
    range_end: &'a [u8],
}

impl DeleteInterval<'_> {
    fn covers(&self, key: &[u8]) -> bool {
        if self.range_end.is_empty() { key == self.key } else { self.key <= key && key < self.range_end }
    }
}

fn covered(deletes: &[DeleteInterval<'_>], key: &[u8]) -> bool {
    deletes.iter().any(|delete| delete.covers(key))
}

/// etcd's `checkIntervals` on both branches: within one list of operations, a put may not share its key
/// with another put, nor fall in a delete, of the same list or of a txn nested in it. The success
/// and failure branches of one nested txn may put the same key (only one of them runs). A delete in a
/// nested txn is not checked against puts of the nested txns before it (etcd's rule).
fn check_duplicates(request: &TxnRequest) -> Result<(), Error> {
    check_intervals(&request.success)?;
    check_intervals(&request.failure)?;
    Ok(())
}

type Intervals<'a> = (BTreeSet<&'a [u8]>, Vec<DeleteInterval<'a>>);

fn check_intervals(operations: &[RequestOp]) -> Result<Intervals<'_>, Error> {
    let mut deletes: Vec<DeleteInterval<'_>> = operations
        .iter()
        .filter_map(|operation| match operation {
            RequestOp::DeleteRange(delete) => {
                Some(DeleteInterval { key: &delete.key, range_end: &delete.range_end })
            }
            _ => None,
        })
        .collect();
    let mut puts: BTreeSet<&[u8]> = BTreeSet::new();
    for operation in operations {
        let RequestOp::Txn(nested) = operation else { continue };
        let (success_puts, success_deletes) = check_intervals(&nested.success)?;
        let (failure_puts, failure_deletes) = check_intervals(&nested.failure)?;
        for key in &success_puts {
            if puts.contains(key) || covered(&deletes, key) {
                return Err(Error::DuplicateKey);
            }
            puts.insert(key);
        }
        for key in &failure_puts {
            let clashes_with_earlier = puts.contains(key) && !success_puts.contains(key);
            if clashes_with_earlier || covered(&deletes, key) {
                return Err(Error::DuplicateKey);
            }
            puts.insert(key);
        }
        deletes.extend(success_deletes.into_iter().chain(failure_deletes).filter(is_nonempty));
    }
    for operation in operations {
        let RequestOp::Put(put) = operation else { continue };
        if puts.contains(&put.key[..]) || covered(&deletes, &put.key) {
            return Err(Error::DuplicateKey);
        }
        puts.insert(&put.key);
    }
    Ok((puts, deletes))
}

/// Whether an interval can cover any key (etcd merges only those into the parent's intervals; the
/// others cover nothing anyway).
fn is_nonempty(delete: &DeleteInterval<'_>) -> bool {
    delete.range_end.is_empty() || delete.key < delete.range_end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str) -> RequestOp {
        RequestOp::Put(PutRequest::new(key, "v"))
    }

    fn delete(key: &str, range_end: &[u8]) -> RequestOp {
        RequestOp::DeleteRange(DeleteRangeRequest::range(key, range_end))
    }

    fn txn(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> TxnRequest {
        TxnRequest { compare: Vec::new(), success, failure }
    }

    #[test]
    fn the_same_key_put_twice_is_a_duplicate() {
        assert_eq!(validate_txn(&txn(vec![put("a"), put("a")], vec![]), 128), Err(Error::DuplicateKey));
        assert_eq!(validate_txn(&txn(vec![put("a")], vec![put("a")]), 128), Ok(()), "branches are exclusive");
    }

    #[test]
    fn a_put_inside_a_delete_range_is_a_duplicate_but_not_inside_a_from_key_delete() {
        assert_eq!(
            validate_txn(&txn(vec![delete("a", b"c"), put("b")], vec![]), 128),
            Err(Error::DuplicateKey)
        );
        assert_eq!(validate_txn(&txn(vec![put("c"), delete("a", b"c")], vec![]), 128), Ok(()));
        assert_eq!(validate_txn(&txn(vec![delete("a", b"\0"), put("b")], vec![]), 128), Ok(()));
        assert_eq!(
            validate_txn(&txn(vec![delete("a", b""), put("a")], vec![]), 128),
            Err(Error::DuplicateKey)
        );
    }

    #[test]
    fn nested_txns_follow_etcds_rules() {
        let nested = |success, failure| RequestOp::Txn(txn(success, failure));
        let same_in_both_branches = txn(vec![nested(vec![put("a")], vec![put("a")])], vec![]);
        assert_eq!(validate_txn(&same_in_both_branches, 128), Ok(()));
        let parent_and_child = txn(vec![nested(vec![put("a")], vec![]), put("a")], vec![]);
        assert_eq!(validate_txn(&parent_and_child, 128), Err(Error::DuplicateKey));
        let two_children = txn(vec![nested(vec![put("a")], vec![]), nested(vec![], vec![put("a")])], vec![]);
        assert_eq!(validate_txn(&two_children, 128), Err(Error::DuplicateKey));
        let delete_then_put =
            txn(vec![nested(vec![delete("a", b"")], vec![]), nested(vec![put("a")], vec![])], vec![]);
        assert_eq!(validate_txn(&delete_then_put, 128), Err(Error::DuplicateKey));
        let put_then_delete =
            txn(vec![nested(vec![put("a")], vec![]), nested(vec![delete("a", b"")], vec![])], vec![]);
        assert_eq!(
            validate_txn(&put_then_delete, 128),
            Ok(()),
            "etcd checks puts only against earlier deletes"
        );
        let parent_delete = txn(vec![delete("a", b"b"), nested(vec![put("a")], vec![])], vec![]);
        assert_eq!(validate_txn(&parent_delete, 128), Err(Error::DuplicateKey));
    }

    #[test]
    fn operation_counts_are_limited_per_list_and_shrink_for_nested_txns() {
        let three = txn(vec![put("a"), put("b"), put("c")], vec![]);
        assert_eq!(validate_txn(&three, 3), Ok(()));
        assert_eq!(validate_txn(&three, 2), Err(Error::TooManyOperations));
        let nested = txn(vec![RequestOp::Txn(txn(vec![put("a"), put("b")], vec![]))], vec![]);
        assert_eq!(validate_txn(&nested, 3), Ok(()), "the nested txn may use 3 - 1");
        assert_eq!(validate_txn(&nested, 2), Err(Error::TooManyOperations), "the nested txn may use 2 - 1");
    }

    #[test]
    fn empty_keys_are_refused_everywhere() {
        assert_eq!(validate_txn(&txn(vec![put("")], vec![]), 128), Err(Error::EmptyKey));
        let compare = Compare::key("", crate::CompareResult::Equal, crate::CompareTarget::Version(0));
        let request = TxnRequest { compare: vec![compare], ..TxnRequest::default() };
        assert_eq!(validate_txn(&request, 128), Err(Error::EmptyKey));
        assert_eq!(
            validate_put(&PutRequest { ignore_value: true, ..PutRequest::new("k", "v") }),
            Err(Error::ValueProvided)
        );
        assert_eq!(
            validate_put(&PutRequest { ignore_lease: true, lease: 5, ..PutRequest::new("k", "") }),
            Err(Error::LeaseProvided)
        );
    }
}
