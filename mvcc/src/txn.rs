//! Transactions (etcd's `applierV3backend.Txn`): the compares of the txn and of every nested txn on the
//! path taken are evaluated first, against the state before the txn; then the operations of that
//! path are checked (puts' `ignore_*` keys and leases, ranges' revisions) and only then applied, all
//! at one revision. A checked txn cannot fail half-way.

use crate::error::Error;
use crate::key_value::KeyValue;
use crate::keyspace::{KeyRange, Keyspace};
use crate::lessor::Lessor;
use crate::range::read_revision;
use crate::requests::{
    Compare, CompareResult, CompareTarget, RequestOp, ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use crate::write::WriteTxn;
use std::cmp::Ordering;

/// The branch taken by a txn and each nested txn on the path, in the order the path visits them
/// (the txn first, then its nested txns depth first): etcd's `txnPath`.
struct Path {
    decisions: Vec<bool>,
    next: usize,
}

impl Path {
    fn take(&mut self) -> bool {
        let decision = self.decisions[self.next];
        self.next += 1;
        decision
    }
}

fn branch(request: &TxnRequest, succeeded: bool) -> &[RequestOp] {
    if succeeded { &request.success } else { &request.failure }
}

/// Runs a validated txn as one write; the header has the new revision if anything changed.
pub(crate) fn txn(write: &mut WriteTxn<'_>, request: &TxnRequest) -> Result<TxnResponse, Error> {
    let mut decisions = Vec::new();
    decide(write.keyspace(), write.read_revision(), request, &mut decisions);
    let mut path = Path { decisions, next: 0 };
    check_puts(write.keyspace(), write.lessor(), request, &mut path, &mut Vec::new())?;
    path.next = 0;
    check_ranges(write.keyspace(), request, &mut path)?;
    path.next = 0;
    let mut response = apply(write, request, &mut path);
    assert_eq!(path.next, path.decisions.len(), "the apply walked the path the compares chose");
    response.header = ResponseHeader { revision: write.read_revision() };
    Ok(response)
}

/// etcd's `compareToPath`: appends the decision of `request`, then of the nested txns it will run.
fn decide(keyspace: &Keyspace, at: i64, request: &TxnRequest, decisions: &mut Vec<bool>) {
    let succeeded = request.compare.iter().all(|compare| holds(keyspace, at, compare));
    decisions.push(succeeded);
    for operation in branch(request, succeeded) {
        if let RequestOp::Txn(nested) = operation {
            decide(keyspace, at, nested, decisions);
        }
    }
}

/// etcd's `applyCompare`: every key of the range must satisfy the compare; an empty range compares
/// a zero key-value, except that a value compare on missing keys fails.
fn holds(keyspace: &Keyspace, at: i64, compare: &Compare) -> bool {
    let found = keyspace.live_at(KeyRange::new(&compare.key, &compare.range_end), at);
    if found.is_empty() {
        return !matches!(compare.target, CompareTarget::Value(_))
            && compare_one(compare, &KeyValue::default());
    }
    found
        .iter()
        .all(|(_, revision)| compare_one(compare, &keyspace.record(*revision).to_key_value(*revision)))
}

fn compare_one(compare: &Compare, kv: &KeyValue) -> bool {
    let ordering = match &compare.target {
        CompareTarget::Version(version) => kv.version.cmp(version),
        CompareTarget::CreateRevision(revision) => kv.create_revision.cmp(revision),
        CompareTarget::ModRevision(revision) => kv.mod_revision.cmp(revision),
        CompareTarget::Value(value) => kv.value.as_slice().cmp(value.as_slice()),
        CompareTarget::Lease(lease) => kv.lease.cmp(lease),
    };
    match compare.result {
        CompareResult::Equal => ordering == Ordering::Equal,
        CompareResult::NotEqual => ordering != Ordering::Equal,
        CompareResult::Greater => ordering == Ordering::Greater,
        CompareResult::Less => ordering == Ordering::Less,
    }
}

/// etcd's `checkRequests` with `checkRequestPut`, then with `checkRequestRange`, over the path: an
/// `ignore_*` put needs its key (before the txn), a put's lease must exist, a range's revision must be
/// neither future nor compacted.
///
/// One deliberate difference: an `ignore_*` put whose key an earlier delete of the same txn removes
/// (possible through a from-key delete, which etcd's duplicate check lets through) makes etcd 3.4 panic
/// while applying; here the txn is refused with `KeyNotFound` before anything changes.
fn check_puts<'r>(
    keyspace: &Keyspace,
    lessor: &Lessor,
    request: &'r TxnRequest,
    path: &mut Path,
    earlier_deletes: &mut Vec<KeyRange<'r>>,
) -> Result<(), Error> {
    let succeeded = path.take();
    for operation in branch(request, succeeded) {
        match operation {
            RequestOp::Put(put) => {
                if put.ignore_value || put.ignore_lease {
                    let exists = keyspace.get(&put.key, keyspace.current_revision).is_some();
                    if !exists || earlier_deletes.iter().any(|range| range.contains(&put.key)) {
                        return Err(Error::KeyNotFound);
                    }
                }
                if put.lease != 0 && !lessor.exists(put.lease) {
                    return Err(Error::LeaseNotFound);
                }
            }
            RequestOp::DeleteRange(delete) => {
                earlier_deletes.push(KeyRange::new(&delete.key, &delete.range_end))
            }
            RequestOp::Txn(nested) => check_puts(keyspace, lessor, nested, path, earlier_deletes)?,
            RequestOp::Range(_) => {}
        }
    }
    Ok(())
}

fn check_ranges(keyspace: &Keyspace, request: &TxnRequest, path: &mut Path) -> Result<(), Error> {
    let succeeded = path.take();
    for operation in branch(request, succeeded) {
        match operation {
            RequestOp::Range(range) if range.revision != 0 => {
                read_revision(keyspace, range.revision, keyspace.current_revision)?;
            }
            RequestOp::Txn(nested) => check_ranges(keyspace, nested, path)?,
            _ => {}
        }
    }
    Ok(())
}

/// etcd's `applyTxn`: runs the chosen branch in order; nested txns answer with an empty header.
fn apply(write: &mut WriteTxn<'_>, request: &TxnRequest, path: &mut Path) -> TxnResponse {
    let succeeded = path.take();
    let mut responses = Vec::new();
    for operation in branch(request, succeeded) {
        let response = match operation {
            RequestOp::Range(range) => ResponseOp::Range(write.range(range).expect("ranges were checked")),
            RequestOp::Put(put) => ResponseOp::Put(write.put(put).expect("puts were checked")),
            RequestOp::DeleteRange(delete) => ResponseOp::DeleteRange(write.delete_range(delete)),
            RequestOp::Txn(nested) => ResponseOp::Txn(apply(write, nested, path)),
        };
        responses.push(response);
    }
    TxnResponse { header: ResponseHeader::default(), succeeded, responses }
}
