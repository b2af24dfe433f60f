//! What each v3 request needs from the auth store while auth is on, as etcd 3.4 checks it: ranges and
//! txn compares need read permission on their range, puts and deletes write permission (and read when
//! they ask for previous values), a txn every operation of both branches, a put with a lease or a
//! lease revoke write permission on every key attached to the lease; Hash, HashKV and Snapshot need
//! the root role. Everything else (lease grants, keep-alives, listings, compaction, alarms) is open,
//! as in etcd 3.4.

use mvcc::{AuthError, AuthStore, Command, PermissionType, RangeRequest, RequestOp, TxnRequest};

use super::V3Request;

/// The keys attached to a lease (empty for an unknown lease: its request fails on its own).
pub(super) type LeaseKeys<'a> = &'a dyn Fn(i64) -> Vec<Vec<u8>>;

/// The check of an admin request served without the log (a hash, a snapshot), when it arrives.
/// Ranges are checked when served instead (`check_range`), after their read index.
pub(super) fn check_read(auth: &AuthStore, user: Option<&str>, request: &V3Request) -> Result<(), AuthError> {
    if !auth.is_enabled() {
        return Ok(());
    }
    match request {
        V3Request::Hash | V3Request::HashKv { .. } | V3Request::Snapshot => auth.check_admin(user),
        _ => Ok(()),
    }
}

/// The check of a range, when it is served.
pub(super) fn check_range(
    auth: &AuthStore,
    user: Option<&str>,
    range: &RangeRequest,
) -> Result<(), AuthError> {
    auth.check_permitted(user, &range.key, &range.range_end, PermissionType::Read)
}

/// The check of a write, when proposed and again when applied.
pub(super) fn check_command(
    auth: &AuthStore,
    user: Option<&str>,
    command: &Command,
    lease_keys: LeaseKeys<'_>,
) -> Result<(), AuthError> {
    if !auth.is_enabled() {
        return Ok(());
    }
    let read =
        |key: &[u8], range_end: &[u8]| auth.check_permitted(user, key, range_end, PermissionType::Read);
    let write =
        |key: &[u8], range_end: &[u8]| auth.check_permitted(user, key, range_end, PermissionType::Write);
    match command {
        Command::Range(range) => read(&range.key, &range.range_end),
        Command::Put(put) => {
            write(&put.key, &[])?;
            if put.prev_kv {
                read(&put.key, &[])?;
            }
            check_lease_keys(put.lease, lease_keys, &write)
        }
        Command::DeleteRange(delete) => {
            write(&delete.key, &delete.range_end)?;
            if delete.prev_kv { read(&delete.key, &delete.range_end) } else { Ok(()) }
        }
        Command::Txn(txn) => check_txn(txn, &read, &write, 0),
        Command::LeaseRevoke(revoke) => check_lease_keys(revoke.id, lease_keys, &write),
        Command::Compaction(_) | Command::LeaseGrant { .. } | Command::LeaseCheckpoint(_) => Ok(()),
    }
}

type Check<'a> = &'a dyn Fn(&[u8], &[u8]) -> Result<(), AuthError>;

/// Every compare and every operation of both branches, nested txns included (depth bounded by
/// `mvcc::MAX_TXN_DEPTH`, which validation enforced before proposing).
fn check_txn(txn: &TxnRequest, read: Check<'_>, write: Check<'_>, depth: usize) -> Result<(), AuthError> {
    assert!(depth <= mvcc::MAX_TXN_DEPTH, "a txn nested deeper than validation allows");
    for compare in &txn.compare {
        read(&compare.key, &compare.range_end)?;
    }
    for operation in txn.success.iter().chain(&txn.failure) {
        match operation {
            RequestOp::Range(range) => read(&range.key, &range.range_end)?,
            RequestOp::Put(put) => write(&put.key, &[])?,
            RequestOp::DeleteRange(delete) => write(&delete.key, &delete.range_end)?,
            RequestOp::Txn(nested) => check_txn(nested, read, write, depth + 1)?,
        }
    }
    Ok(())
}

fn check_lease_keys(lease: i64, lease_keys: LeaseKeys<'_>, write: Check<'_>) -> Result<(), AuthError> {
    if lease == 0 {
        return Ok(());
    }
    lease_keys(lease).iter().try_for_each(|key| write(key, &[]))
}
