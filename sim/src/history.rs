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
    /// `V3_KEY_BASE`), attached to `lease` (0: none).
    V3Put { value: u64, lease: i64 },
    /// v3 `DeleteRange` of the single key.
    V3Delete,
    /// v3 linearizable `Range` of the single key.
    V3Range,
    /// v3 `Txn`: if the compare holds, put `value`; no failure branch.
    V3CompareAndPut { compare: V3Compare, value: u64 },
    /// v3 linearizable `Range` of the single key at an older `revision` (one the client saw).
    V3RangeAt { revision: u64 },
    /// v3 `Compact` up to `revision` (one the client saw). Key: `V3_LEASE_KEY`.
    V3Compact { revision: u64 },
    /// v3 `LeaseGrant` (the node picks the ID). Key: `V3_LEASE_KEY`.
    V3LeaseGrant { ttl_seconds: i64 },
    /// v3 `LeaseKeepAlive` (one round). Key: `V3_LEASE_KEY`.
    V3LeaseKeepAlive { lease: i64 },
    /// v3 `LeaseRevoke`. Key: `V3_LEASE_KEY`.
    V3LeaseRevoke { lease: i64 },
    /// Not issued by clients: the end of `lease` (its revoke or its expiry, by the leader through the
    /// log) as it acts on one key, added before checking with the window lease safety allows (see
    /// `World::lease_ends`). It deletes the key if the key is still attached to that lease.
    V3LeaseEnd { lease: i64 },
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

/// The key of v3 operations on no key (compactions and lease requests).
pub const V3_LEASE_KEY: u32 = u32::MAX - 1;

impl OperationKind {
    pub fn is_write(&self) -> bool {
        !matches!(
            self,
            OperationKind::Get { .. }
                | OperationKind::Watch { .. }
                | OperationKind::V3Range
                | OperationKind::V3RangeAt { .. }
        )
    }

    /// Whether it is an operation on the v3 keyspace.
    pub fn is_v3(&self) -> bool {
        matches!(
            self,
            OperationKind::V3Put { .. }
                | OperationKind::V3Delete
                | OperationKind::V3Range
                | OperationKind::V3CompareAndPut { .. }
                | OperationKind::V3RangeAt { .. }
                | OperationKind::V3Compact { .. }
                | OperationKind::V3LeaseGrant { .. }
                | OperationKind::V3LeaseKeepAlive { .. }
                | OperationKind::V3LeaseRevoke { .. }
                | OperationKind::V3LeaseEnd { .. }
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
            // Reads change nothing, and the v3 keyspace has no v2 watches.
            _ => None,
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
    /// A v3 range found the key: its value, mod_revision, create_revision and version; `revision` is
    /// the header's.
    V3Value { value: u64, mod_revision: u64, create_revision: u64, version: u64, revision: u64 },
    /// A v3 range found no key; `revision` is the header's.
    V3Missing { revision: u64 },
    /// A v3 range at a revision below the compacted one: etcd's "required revision has been
    /// compacted".
    V3Compacted,
    /// A v3 compaction or lease revoke took effect; `revision` is the header's.
    V3Done { revision: u64 },
    /// A lease was granted with this ID and TTL (the minimum TTL raises what was asked).
    V3LeaseGranted { lease: i64, ttl_seconds: i64 },
    /// A keep-alive refreshed the lease to this TTL; `by_leader` says the member that answered was the
    /// leader then (shown in traces; every member's answer counts alike).
    V3LeaseKept { ttl_seconds: i64, by_leader: bool },
    /// The lease does not exist (or expired): a put with it, its keep-alive or revoke did nothing.
    V3LeaseNotFound,
    /// One update of a v3 watch stream (not recorded in the history: streams have their own record).
    V3Watch(V3WatchUpdate),
}

/// What a v3 watch stream reports, in the workload's terms.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum V3WatchUpdate {
    /// Registered; events follow from the asked start revision, or from `revision` + 1 without one.
    Created { revision: u64 },
    /// Events, and the keyspace revision they bring the watcher to.
    Events { revision: u64, events: Vec<V3WatchEvent> },
    /// The start revision was compacted away: the stream is over.
    Compacted { compact_revision: u64 },
    /// The member ended the stream.
    Canceled,
}

/// One event of a v3 watch: key `key` was put to `value` (None: deleted) at `revision`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct V3WatchEvent {
    pub revision: u64,
    pub key: u32,
    pub value: Option<u64>,
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

/// One v3 watch stream a client opened on one member, and everything it reported. A stream re-created
/// after its member crashed (or ended it) is a new record that starts where the old one's progress
/// ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct V3WatchRecord {
    pub client: u32,
    pub node: NodeId,
    pub key: u32,
    /// The start revision asked for (0: from the revision after the one `Created` names).
    pub start_revision: u64,
    /// The revision `Created` named, once it came.
    pub created_revision: Option<u64>,
    /// The events, in the order they came.
    pub events: Vec<V3WatchEvent>,
    /// The highest revision an `Events` update brought the stream to.
    pub progress: Option<u64>,
    /// It ended with `Compacted` at this revision.
    pub compacted: Option<u64>,
    /// It ended (compacted, canceled by the member or the client, or its member went away).
    pub over: bool,
}

impl V3WatchRecord {
    /// The first revision the stream owes events from, once known.
    pub fn first_revision(&self) -> Option<u64> {
        if self.start_revision > 0 {
            Some(self.start_revision)
        } else {
            self.created_revision.map(|revision| revision + 1)
        }
    }

    /// The last revision up to which the stream owes every event of its key (None: none yet).
    pub fn covered_through(&self) -> Option<u64> {
        let first = self.first_revision()?;
        let through = self.progress.unwrap_or(first - 1).max(first - 1);
        (through >= first).then_some(through)
    }

    /// The first revision whose events the stream has not reported yet, once known.
    pub fn next_revision(&self) -> Option<u64> {
        let first = self.first_revision()?;
        Some(self.progress.unwrap_or(first - 1).max(first - 1) + 1)
    }

    /// Where a stream that continues this one starts: right after its progress (0, "from now", for
    /// a stream that never got that far or was compacted).
    pub fn resume_revision(&self) -> u64 {
        if self.compacted.is_some() { 0 } else { self.next_revision().unwrap_or(0) }
    }
}
