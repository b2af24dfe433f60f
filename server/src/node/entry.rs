//! What a log entry carries: a normal entry is a `Proposal` (the requester's identity and one
//! `Operation`); a conf change carries a `ConfContext` (the requester's identity and, for additions, the
//! new member's record). Both are encoded by the codec; every member decodes the same bytes alike.

use raft::NodeId;
use serde::{Deserialize, Serialize};
use store::Command;
use store::auth::{AuthCommand, Caller};

use super::Member;

/// A normal log entry's payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Proposal {
    /// The member that took the client request, with its incarnation and a sequence number: only
    /// that member answers, and only in the same run of its process.
    pub(crate) origin: NodeId,
    pub(crate) incarnation: u64,
    pub(crate) seq: u64,
    pub(crate) operation: Operation,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Operation {
    Store(Command),
    /// New peer URLs for an existing member.
    UpdateMember {
        id: NodeId,
        peer_urls: Vec<String>,
    },
    /// The cluster version, proposed once by a leader when every member has published (etcd's
    /// `/0/version`).
    ClusterVersion {
        version: String,
    },
    /// A v3 keyspace or lease command (etcd's `InternalRaftRequest`).
    V3(mvcc::Command),
    /// A v3 lease keep-alive: every member renews the lease (the leader's expiry then counts from its
    /// clock at the apply) and records the entry's index in `lease_renewed_at`.
    LeaseRenew {
        id: i64,
    },
    /// A member's name and client URLs.
    Publish {
        id: NodeId,
        name: String,
        client_urls: Vec<String>,
    },
    /// etcd's alarm request through the log: raise (`activate`) or clear an alarm of a member.
    Alarm {
        activate: bool,
        alarm: super::AlarmMember,
    },
    /// A v2 keys write on behalf of `caller`, allowed or refused by the auth state when applied.
    StoreAs {
        caller: Caller,
        command: Command,
    },
    /// A v2 auth write on behalf of `caller`.
    Auth {
        caller: Caller,
        command: AuthCommand,
    },
    /// The leader found lease `id` expired by its clock when it had applied the log up to
    /// `checked_index`: the lease is revoked unless a keep-alive was applied after that index (one the
    /// leader had not seen when it decided, and which every member answered with the full TTL).
    LeaseExpire {
        id: i64,
        checked_index: u64,
    },
    /// A v3 write on behalf of `user` (`None`: a request without a token while auth was on), checked
    /// when applied: refused if the auth revision moved since `auth_revision` (etcd's header field),
    /// else if the user's permissions do not allow it.
    V3As {
        user: Option<String>,
        auth_revision: u64,
        command: mvcc::Command,
    },
    /// A v3 auth change on behalf of `user`, who needs the root role while auth is on.
    V3Auth {
        user: Option<String>,
        command: mvcc::AuthCommand,
    },
    /// A v3 simple token for `name`, whose password the proposer checked against `checked_hash`: the
    /// token is `token_prefix`, a dot and the entry's index.
    V3Authenticate {
        name: String,
        checked_hash: String,
        token_prefix: String,
    },
}

/// The identity of the request behind a conf change, carried at the front of its context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConfTag {
    pub(crate) origin: NodeId,
    pub(crate) incarnation: u64,
    pub(crate) seq: u64,
}

/// A conf change's context: who asked, and the new member's record for additions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConfContext {
    pub(crate) tag: ConfTag,
    pub(crate) member: Option<Member>,
}
