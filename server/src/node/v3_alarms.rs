//! etcd's alarms inside the node, and the space quota that raises NOSPACE (`--quota-backend-bytes`).
//!
//! The alarms are replicated state (etcd's alarm store): raised and cleared only by `Alarm` log
//! entries, kept in snapshots. Listing them is served from this member's copy.
//!
//! The quota, etcd's rules: before proposing a put, a txn or a lease grant, a member checks that the
//! keyspace's size plus the request's cost stays under its quota; if not, it proposes raising NOSPACE
//! for itself and refuses the request ("etcdserver: mvcc: database space exceeded"). While any
//! member's NOSPACE is raised, every member refuses, when applying, puts, txns with puts and lease
//! grants; reads, deletes, compaction, lease revokes and disarming still work. Disarming while still
//! over quota lets the next such request raise it again.
//!
//! The size is an estimate of the bbolt file etcd would keep (Concord keeps the keyspace in memory):
//! an empty backend plus, per retained revision, its key, its value and a fixed overhead. Every
//! member computes the same figure from the same keyspace.

use mvcc::{Command, PutRequest, RequestOp, TxnRequest};

use super::entry::Operation;
use super::{AlarmAction, AlarmMember, AlarmType, Node, Reply, RequestError, V3Image, V3Reply, V3Request};

/// etcd's quota when `--quota-backend-bytes` is 0: 2 GiB.
pub const DEFAULT_QUOTA_BACKEND_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Above this etcd warns that the quota exceeds its maximum: 8 GiB.
pub const MAX_QUOTA_BACKEND_BYTES: u64 = 8 * 1024 * 1024 * 1024;
/// etcd's cost estimate of a stored key's metadata, added to each put's size (`kvOverhead`).
const PUT_OVERHEAD_BYTES: u64 = 256;
/// etcd's cost estimate of a stored lease (`leaseOverhead`).
const LEASE_OVERHEAD_BYTES: u64 = 64;
/// The size of an empty etcd 3.4 backend (its `endpoint status` shows 20 kB).
const EMPTY_BACKEND_BYTES: u64 = 20 * 1024;
/// What a stored revision adds beside its key and value: bbolt's leaf element (16 bytes), the revision
/// key (17), the encoded KeyValue's other fields (about 20), and room for partly filled pages.
const BYTES_PER_REVISION: u64 = 80;

impl Node {
    /// The estimated size of etcd's backend for this keyspace: what `endpoint status` reports as the
    /// database size, and what the quota is checked against.
    pub(super) fn v3_size_bytes(&self) -> u64 {
        let revisions = self.mvcc.retained_revisions() as u64;
        EMPTY_BACKEND_BYTES + revisions * BYTES_PER_REVISION + self.mvcc.retained_data_bytes()
    }

    /// etcd's quota check before proposing: a put, txn or lease grant that does not fit under the
    /// quota raises NOSPACE for this member and is refused (answered here). Returns whether it was.
    pub(super) fn refuse_over_quota(&mut self, request_id: u64, request: &V3Request) -> bool {
        let cost_bytes = match request {
            V3Request::Put(put) => put_cost_bytes(put),
            V3Request::Txn(txn) => txn_cost_bytes(txn),
            V3Request::LeaseGrant { .. } => LEASE_OVERHEAD_BYTES,
            _ => return false,
        };
        let Some(quota_bytes) = self.config.quota_backend_bytes else {
            return false;
        };
        if self.v3_size_bytes().saturating_add(cost_bytes) < quota_bytes {
            return false;
        }
        let own = AlarmMember { member_id: self.config.id, alarm: AlarmType::NoSpace };
        if !self.alarms.contains(&own) {
            // Refused when no leader is known: the next refused request proposes it again.
            let _ = self.propose(Operation::Alarm { activate: true, alarm: own });
        }
        self.answer(request_id, Err(RequestError::V3(mvcc::Error::NoSpace)));
        true
    }

    /// etcd's capped applier: while a NOSPACE alarm is raised, a command that would store more (a put,
    /// a txn with a put, a lease grant) is refused when applied, on every member alike.
    pub(super) fn refused_for_space(&self, command: &Command) -> bool {
        if !self.alarms.iter().any(|raised| raised.alarm == AlarmType::NoSpace) {
            return false;
        }
        match command {
            Command::Put(_) | Command::LeaseGrant { .. } => true,
            Command::Txn(txn) => txn_cost_bytes(txn) > 0,
            _ => false,
        }
    }

    /// An Alarm request: listing is local; raising and clearing go through the log. A raise or clear
    /// of etcd's `NONE` changes nothing.
    pub(super) fn submit_alarm(
        &mut self,
        request_id: u64,
        action: AlarmAction,
        member_id: u64,
        alarm: Option<AlarmType>,
    ) {
        let activate = match (action, alarm) {
            (AlarmAction::Get, _) => {
                let listed =
                    self.alarms.iter().filter(|raised| alarm.is_none_or(|kind| raised.alarm == kind));
                let reply = V3Reply::Alarm(listed.copied().collect());
                return self.answer(request_id, Ok(Reply::V3(reply)));
            }
            (_, None) => return self.answer(request_id, Ok(Reply::V3(V3Reply::Alarm(Vec::new())))),
            (AlarmAction::Activate, Some(_)) => true,
            (AlarmAction::Deactivate, Some(_)) => false,
        };
        let alarm = AlarmMember { member_id, alarm: alarm.expect("matched Some above") };
        self.submit_proposal(request_id, Operation::Alarm { activate, alarm });
    }

    /// Applies a committed raise or clear; answers with the alarm raised (also when it already was) or
    /// cleared (nothing when it was not raised), as etcd does.
    pub(super) fn apply_alarm(&mut self, activate: bool, alarm: AlarmMember) -> Result<Reply, RequestError> {
        let changed = if activate {
            if self.alarms.insert(alarm) {
                tracing::warn!(alarm = ?alarm.alarm, member = %format!("{:x}", alarm.member_id), "alarm raised");
            }
            vec![alarm]
        } else if self.alarms.remove(&alarm) {
            tracing::warn!(alarm = ?alarm.alarm, member = %format!("{:x}", alarm.member_id), "alarm cleared");
            vec![alarm]
        } else {
            Vec::new()
        };
        Ok(Reply::V3(V3Reply::Alarm(changed)))
    }

    /// A copy of the keyspace and the alarms at the applied index (the copy is the node thread's only
    /// work: encoding it is the caller's).
    pub(super) fn v3_image(&self) -> V3Image {
        V3Image {
            applied_index: self.applied_index(),
            keyspace: std::sync::Arc::new(self.mvcc.snapshot()),
            alarms: self.alarms.iter().map(|raised| (raised.member_id, raised.alarm as i32)).collect(),
        }
    }
}

/// etcd's cost of a put: its size plus the metadata overhead.
fn put_cost_bytes(put: &PutRequest) -> u64 {
    PUT_OVERHEAD_BYTES + (put.key.len() + put.value.len()) as u64
}

/// etcd's cost of a txn: the larger of its branches' top-level puts (0 for a txn without puts).
fn txn_cost_bytes(txn: &TxnRequest) -> u64 {
    let branch_cost = |operations: &[RequestOp]| -> u64 {
        operations
            .iter()
            .map(|operation| match operation {
                RequestOp::Put(put) => put_cost_bytes(put),
                _ => 0,
            })
            .sum()
    };
    branch_cost(&txn.success).max(branch_cost(&txn.failure))
}
