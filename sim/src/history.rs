//! The client history: every operation a simulated client issued, with when it was invoked, when (and
//! whether) it returned, and what it saw. This is the input of the linearizability checker.
//!
//! Values written by the workload are unique numbers (rendered as decimal strings on the wire), so a
//! value read back names the one write that produced it.

use raft::NodeId;

/// Virtual time in nanoseconds since the start of the run. Durations of virtual time are named with
/// their unit last (`sync_latency_ns`, `down_for_ns`); instants by what happens then (`invoked_at`,
/// `deadline`).
pub type Time = u64;

/// A return time that never comes: the operation timed out and may or may not have taken effect.
pub const NEVER: Time = u64::MAX;

/// What a client asked for, on one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OperationKind {
    /// `PUT` with a value: always succeeds.
    Set { value: u64 },
    /// `PUT ?prevExist=false`: fails with 105 when the key exists.
    Create { value: u64 },
    /// `PUT ?prevValue=..`: fails with 101 on a different value, 100 on a missing key.
    CompareAndSwap { previous: u64, value: u64 },
    /// `DELETE`: fails with 100 on a missing key.
    Delete,
    /// `GET`, linearizable when `quorum` (etcd's `?quorum=true`), otherwise served from the member's
    /// own applied state.
    Get { quorum: bool },
    /// `PUT ?ttl=N`: a set whose key expires `ttl_seconds` after the write's time, by the leader's
    /// clock (the leader stamps its time on the sync entries that expire keys).
    SetTtl { value: u64, ttl_seconds: u64 },
    /// Not issued by clients: the expiry of the value a `SetTtl` wrote, added to the history before
    /// checking, with a time window derived from the TTL and the clocks' disagreement (see
    /// `World::expirations`). It removes the key if it still holds that value, else does nothing.
    Expire { value: u64 },
    /// `GET ?wait=true[&waitIndex=..]`: a one-shot, non-recursive watch on the key. It answers with the
    /// first event on the key at or after `wait_index` (from the member's 1000-event history when it
    /// has one), or, without a wait index, the first event after the member's store index when the
    /// watch arrived.
    Watch { wait_index: Option<u64> },
    /// v3 `Put` on the key (in the v3 keyspace, separate from v2: the key number is at least
    /// `V3_KEY_BASE`).
    V3Put { value: u64 },
    /// v3 `DeleteRange` of the single key.
    V3Delete,
    /// v3 linearizable `Range` of the single key.
    V3Range,
    /// v3 `Txn`: if the compare holds, put `value`; no failure branch.
    V3CompareAndPut { compare: V3Compare, value: u64 },
}

/// The compare of a v3 compare-and-put (always `Equal` on the operation's key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum V3Compare {
    /// `mod_revision == revision`, where the client saw `revision` as the revision of the write of
    /// `of_value` (values are unique, so the compare holds exactly when that write's value is current).
    ModRevision { revision: u64, of_value: u64 },
    /// `value == value`.
    Value { value: u64 },
}

/// Key numbers from here on are v3 keys (a separate keyspace, checked with its own model).
pub const V3_KEY_BASE: u32 = 1 << 20;

impl OperationKind {
    pub fn is_write(&self) -> bool {
        !matches!(self, OperationKind::Get { .. } | OperationKind::Watch { .. } | OperationKind::V3Range)
    }

    /// Whether it is an operation on the v3 keyspace.
    pub fn is_v3(&self) -> bool {
        matches!(
            self,
            OperationKind::V3Put { .. }
                | OperationKind::V3Delete
                | OperationKind::V3Range
                | OperationKind::V3CompareAndPut { .. }
        )
    }
}

/// The kind of modification a watch event reports (etcd's `action`), restricted to what the workload's
/// writes produce: each write kind produces exactly one action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WatchAction {
    /// From `Set` (etcd says "set" whether or not the key existed).
    Set,
    /// From `Create`.
    Create,
    /// From `CompareAndSwap`.
    CompareAndSwap,
    /// From `Delete`.
    Delete,
    /// Anything else (update, expire, compareAndDelete, ...): the workload never causes it.
    Other,
}

impl WatchAction {
    /// The action the write `kind` produces when it takes effect (None for reads and watches).
    pub fn of_write(kind: &OperationKind) -> Option<WatchAction> {
        match kind {
            OperationKind::Set { .. } | OperationKind::SetTtl { .. } => Some(WatchAction::Set),
            // Watches never wait on the TTL key (see `World::client_watch`).
            OperationKind::Expire { .. } => Some(WatchAction::Other),
            OperationKind::Create { .. } => Some(WatchAction::Create),
            OperationKind::CompareAndSwap { .. } => Some(WatchAction::CompareAndSwap),
            OperationKind::Delete => Some(WatchAction::Delete),
            OperationKind::Get { .. } | OperationKind::Watch { .. } => None,
            // The v3 keyspace has no v2 watches.
            OperationKind::V3Put { .. }
            | OperationKind::V3Delete
            | OperationKind::V3Range
            | OperationKind::V3CompareAndPut { .. } => None,
        }
    }
}

/// What a client saw.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OperationResult {
    /// A write took effect; `index` is the event's modifiedIndex (etcd index).
    Written { index: u64 },
    /// A get found the key with this value and modifiedIndex.
    Value { value: u64, index: u64 },
    /// errorCode 100 (for a get, delete or CAS); `index` is the store's etcd index at the time.
    NotFound { index: u64 },
    /// errorCode 105 (create).
    AlreadyExists,
    /// errorCode 101 (CAS).
    CompareFailed,
    /// The client does not know: timeout, lost leader, node crash. A write may or may not have
    /// taken effect; a read tells nothing.
    Ambiguous,
    /// The operation certainly did not take effect (e.g. rejected before proposing). Reads only.
    Failed,
    /// A watch saw one event: the modification at store index `index` (its modifiedIndex) of the
    /// watched key; `value` is the key's new value (None for a delete). `since` is the first index the
    /// watch waited for: its wait index, or the member's store index + 1 when it registered without one
    /// (None when unknown).
    WatchEvent { index: u64, action: WatchAction, value: Option<u64>, since: Option<u64> },
    /// The watch ended without an event: the member's store was replaced by a snapshot (or the watcher
    /// fell behind).
    WatchClosed,
    /// errorCode 401 (EventIndexCleared): the wait index is older than the member's event history;
    /// `index` is the member's store index then.
    WatchCleared { index: u64 },
    /// The client gave up on a watch that saw nothing within its timeout (and cancelled it).
    WatchTimedOut,
    /// A v3 write took effect at this revision (a put, a txn whose compare held, a delete that
    /// deleted the key).
    V3Written { revision: u64 },
    /// A v3 delete found nothing to delete; `revision` is the header's (current) revision.
    V3NothingDeleted { revision: u64 },
    /// A v3 txn's compare failed (nothing written); `revision` is the header's.
    V3CompareFailed { revision: u64 },
    /// A v3 range found the key: its value, mod_revision and version.
    V3Value { value: u64, mod_revision: u64, version: u64 },
    /// A v3 range found no key; `revision` is the header's.
    V3Missing { revision: u64 },
}

/// One operation of the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub client: u32,
    /// The member the client sent the request to.
    pub node: NodeId,
    pub key: u32,
    pub kind: OperationKind,
    pub invoked_at: Time,
    /// `NEVER` when ambiguous.
    pub returned_at: Time,
    pub result: OperationResult,
}

impl Operation {
    pub fn describe(&self) -> String {
        let returned =
            if self.returned_at == NEVER { "never".to_string() } else { self.returned_at.to_string() };
        format!(
            "client {} @node {} key k{} {:?} [{} .. {}] -> {:?}",
            self.client, self.node, self.key, self.kind, self.invoked_at, returned, self.result
        )
    }
}

/// Renders a workload value as it travels in the v2 API.
pub fn value_to_string(value: u64) -> String {
    value.to_string()
}

/// Reads a value back; anything the workload never wrote maps to a sentinel no write produced.
pub fn value_from_string(text: &str) -> u64 {
    text.parse::<u64>().unwrap_or(UNKNOWN_VALUE)
}

/// A value no write ever produces (the workload numbers values from 1).
pub const UNKNOWN_VALUE: u64 = u64::MAX;
