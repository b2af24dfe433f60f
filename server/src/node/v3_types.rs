//! The node's v3 API types: what a v3 client asks (`V3Request`), what it is answered (`V3Reply`), and
//! how a v3 watch is asked for and reported (`WatchCreate`, `WatchUpdate`). Keys and values are bytes;
//! the shapes are the `mvcc` crate's (etcd's messages field for field), so the gRPC layer maps them
//! one to one. The cluster, member and term fields of etcd's response header come with the answer.

use mvcc::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, Event, HashKvResponse,
    HashResponse, LeaseGrantResponse, LeaseKeepAliveResponse, LeaseLeasesResponse, LeaseRevokeResponse,
    LeaseTimeToLiveResponse, PutRequest, PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};

/// A request to the v3 keyspace or its leases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V3Request {
    /// Linearizable (ReadIndex) unless `request.serializable`, then from this member's keyspace.
    Range(RangeRequest),
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
    Txn(TxnRequest),
    Compact(CompactionRequest),
    /// `id` 0: the node chooses one.
    LeaseGrant {
        ttl_seconds: i64,
        id: i64,
    },
    LeaseRevoke {
        id: i64,
    },
    LeaseKeepAlive {
        id: i64,
    },
    LeaseTimeToLive {
        id: i64,
        keys: bool,
    },
    LeaseLeases,
    /// HashKV at `revision` (0: the current one), from this member's keyspace.
    HashKv {
        revision: i64,
    },
    Hash,
    /// A consistent copy of this member's keyspace, for Maintenance.Snapshot.
    Snapshot,
    /// etcd's Alarm: list (served from this member's copy), raise or clear (through the log).
    Alarm {
        action: AlarmAction,
        member_id: u64,
        /// `None` (etcd's `NONE`) lists every alarm.
        alarm: Option<AlarmType>,
    },
    /// `request` on behalf of the user of a simple token (etcd's `token` metadata): refused with
    /// etcd's "invalid auth token" when this member does not know the token or it expired.
    Authorized {
        token: String,
        request: Box<V3Request>,
    },
    /// etcd's Auth service.
    Auth(AuthRequest),
}

/// A v3 auth request. Changes go through the log and need the root role while auth is on (checked
/// when applied); lookups are served from this member's copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthRequest {
    /// A change of users, roles or the enabled flag (passwords arrive hashed).
    Change(mvcc::AuthCommand),
    UserGet {
        name: String,
    },
    UserList,
    RoleGet {
        name: String,
    },
    RoleList,
    /// The stored password hash of `name`, for the shell to check a password off the node thread;
    /// refused as etcd refuses the Authenticate (auth off, unknown user, no password).
    PasswordHash {
        name: String,
    },
    /// Assigns a token to `name` through the log once the shell checked its password against
    /// `checked_hash` (refused if the password changed since); the token is `token_prefix` (random,
    /// from the shell) followed by the entry's index.
    Authenticate {
        name: String,
        checked_hash: String,
        token_prefix: String,
    },
    /// Whether the caller may make etcd's admin calls (the root role, or auth off): asked for the calls
    /// the gRPC layer serves without a node request of their own (Defragment, membership changes).
    CheckAdmin,
}

/// The answer to an `AuthRequest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthReply {
    Changed,
    Roles(Vec<String>),
    Users(Vec<String>),
    Permissions(Vec<mvcc::Permission>),
    PasswordHash(String),
    Token(String),
    /// The caller may make admin calls (answers `CheckAdmin`).
    Permitted,
}

/// What an Alarm request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmAction {
    Get,
    Activate,
    Deactivate,
}

/// etcd's alarm types Concord knows (numbers as etcd's `AlarmType`). Only NOSPACE is ever raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum AlarmType {
    NoSpace = 1,
    Corrupt = 2,
}

/// A raised alarm: which member raised it, and which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct AlarmMember {
    pub member_id: u64,
    pub alarm: AlarmType,
}

/// The answer to a `V3Request`, same variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V3Reply {
    Range(RangeResponse),
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compact(CompactionResponse),
    LeaseGrant(LeaseGrantResponse),
    LeaseRevoke(LeaseRevokeResponse),
    LeaseKeepAlive(LeaseKeepAliveResponse),
    LeaseTimeToLive(LeaseTimeToLiveResponse),
    LeaseLeases(LeaseLeasesResponse),
    HashKv(HashKvResponse),
    Hash(HashResponse),
    Snapshot(V3Image),
    /// The alarms listed, raised or cleared (etcd's `AlarmResponse.alarms`).
    Alarm(Vec<AlarmMember>),
    Auth(AuthReply),
}

/// This member's v3 keyspace at one point in time, for Maintenance.Snapshot: the keyspace as of Raft
/// index `applied_index`, and the alarms raised then as (member ID, etcd `AlarmType` number). The
/// keyspace copy is shared, so handing it out of the node copies nothing more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V3Image {
    pub applied_index: u64,
    pub keyspace: std::sync::Arc<mvcc::Snapshot>,
    pub alarms: Vec<(u64, i32)>,
}

/// A v3 watch (etcd's `WatchCreateRequest`). `range_end` follows etcd's range rules; `start_revision`
/// 0 means "from the next revision".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchCreate {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    pub start_revision: i64,
    pub prev_kv: bool,
    pub no_put: bool,
    pub no_delete: bool,
    /// A simple token: the watch is on behalf of its user (who needs read permission on the range).
    pub token: Option<String>,
}

/// What a registered v3 watch reports, in revision order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchUpdate {
    /// The watch is registered; events follow from `start_revision` (what etcd's `Created` answer
    /// carries as the header revision: the current revision when it was registered).
    Created { revision: i64 },
    /// Events of one or more revisions (already filtered), with the keyspace revision they bring the
    /// watcher to.
    Events { revision: i64, events: Vec<Event> },
    /// The start revision was compacted: the watch is cancelled (etcd's `compact_revision`).
    Compacted { compact_revision: i64 },
    /// The watch ended (its member lost the keyspace to a snapshot install, or was stopped).
    Canceled { reason: String },
}
