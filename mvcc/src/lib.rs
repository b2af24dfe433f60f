//! Concord's etcd v3 keyspace: the multi-version state machine the Raft log feeds.
//!
//! Job: etcd 3.4's v3 semantics for keys — revisions (one main revision per write, sub-revisions
//! inside), versions and key generations with tombstones, reads at any retained revision, Range with
//! every option, Put, DeleteRange, Txn (compares, nested txns, etcd's duplicate-key and operation
//! checks), compaction, leases (grant, revoke, attach, keep-alive, time-to-live, expiry, promotion),
//! watch events and history replay, HashKV (byte-compatible with etcd's), a whole-state hash, and
//! serde snapshots with exact restore. Errors carry etcd's texts and gRPC codes.
//!
//! Boundaries: pure and deterministic. No IO, no clock (lease time arrives as `now_ms`, milliseconds
//! of the leader's clock, in commands and calls), no threads, no randomness, no hash-map order: every
//! map is a `BTreeMap`. Protobuf/gRPC, Raft, the cluster/member/term fields of response headers, auth,
//! alarms, watch delivery and deciding when to compact or revoke belong to the node.
//!
//! Contract: `Mvcc::apply(&Command)` (or the method per request: `put`, `delete_range`, `txn`,
//! `compact`, `lease_grant`, `lease_revoke`, `lease_checkpoint`) for committed commands, in log order;
//! a refused command changes nothing and uses no revision. `range` for local reads. The node runs the
//! `validate_*` checks before proposing (as etcd's gRPC layer does). `take_events` after each write,
//! `events_since` to replay, `fill_prev_kv` for watchers that want previous values. Leader-only lease
//! calls: `lease_renew`, `expired_leases`, `promote`, `demote`. `hash_kv`/`hash` to compare members,
//! `snapshot`/`restore` for Raft snapshots. Memory figures: see the README.

mod auth;
mod command;
mod compaction;
mod error;
mod hash;
pub use hash::crc32c_update;
mod key_index;
mod key_value;
mod keyspace;
mod lease_requests;
mod lessor;
mod mvcc;
mod range;
mod record_log;
mod requests;
mod revision;
mod snapshot;
mod txn;
mod validate;
mod watch;
mod write;

pub use auth::{AuthCommand, AuthError, AuthStore, Permission, PermissionType, ROOT, User};
pub use command::{Command, Response};
pub use error::{Error, GrpcCode};
pub use key_value::{Event, EventKind, KeyValue};
pub use lease_requests::{
    LeaseCheckpoint, LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveResponse, LeaseLeasesResponse,
    LeaseRevokeRequest, LeaseRevokeResponse, LeaseTimeToLiveResponse, MAX_LEASE_TTL_SECONDS,
    lease_id_from_request_id,
};
pub use mvcc::{Config, Mvcc, Stats};
pub use requests::{
    CompactionRequest, CompactionResponse, Compare, CompareResult, CompareTarget, DeleteRangeRequest,
    DeleteRangeResponse, HashKvResponse, HashResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    RequestOp, ResponseHeader, ResponseOp, SortOrder, SortTarget, TxnRequest, TxnResponse, prefix_end,
};
pub use revision::Revision;
pub use snapshot::{Snapshot, SnapshotError, SnapshotLease, SnapshotRecord};
pub use validate::{
    DEFAULT_MAX_TXN_OPS, MAX_TXN_DEPTH, validate_delete_range, validate_put, validate_range, validate_txn,
};
pub use watch::{Compacted, EventBatch};
