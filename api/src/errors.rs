//! etcd 3.4's gRPC errors as data: for each error etcd's v3 server can return, the gRPC status code and the
//! exact message (`etcdserver: ...`) that real clients match on. etcdctl and the Go client map an error back
//! by its message, so a compatible server must send these byte for byte with the same code.
//!
//! The table follows etcd 3.4's `rpctypes` package. Everything an etcd server returns that is not listed
//! here reaches clients as code `Unknown` with the underlying error's text.

use tonic::Code;

/// One etcd gRPC error: the status code and the message sent with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtcdError {
    pub code: Code,
    pub message: &'static str,
}

impl EtcdError {
    /// The gRPC status a server sends for this error.
    pub fn status(&self) -> tonic::Status {
        tonic::Status::new(self.code, self.message)
    }

    /// Whether `status` is this error (same code and message), as a client would decide.
    pub fn matches(&self, status: &tonic::Status) -> bool {
        status.code() == self.code && status.message() == self.message
    }
}

/// Looks an error up by its message, the way etcd's client turns a status back into an error.
pub fn find_by_message(message: &str) -> Option<EtcdError> {
    ALL.iter().copied().find(|error| error.message == message)
}

const fn error(code: Code, message: &'static str) -> EtcdError {
    EtcdError { code, message }
}

// --- Requests malformed or contradicting the store -------------------------------------------------

/// A Range/Put/DeleteRange/Watch/Compare without a key.
pub const EMPTY_KEY: EtcdError = error(Code::InvalidArgument, "etcdserver: key is not provided");
/// Put with ignore_value or ignore_lease on a key that does not exist.
pub const KEY_NOT_FOUND: EtcdError = error(Code::InvalidArgument, "etcdserver: key not found");
/// Put with ignore_value that also carries a value.
pub const VALUE_PROVIDED: EtcdError = error(Code::InvalidArgument, "etcdserver: value is provided");
/// Put with ignore_lease that also carries a lease.
pub const LEASE_PROVIDED: EtcdError = error(Code::InvalidArgument, "etcdserver: lease is provided");
/// A Txn branch longer than the server's --max-txn-ops.
pub const TOO_MANY_OPS: EtcdError =
    error(Code::InvalidArgument, "etcdserver: too many operations in txn request");
/// A Txn branch writing the same key twice.
pub const DUPLICATE_KEY: EtcdError =
    error(Code::InvalidArgument, "etcdserver: duplicate key given in txn request");
/// Range/Compact/HashKV at a revision older than the last compaction.
pub const COMPACTED: EtcdError =
    error(Code::OutOfRange, "etcdserver: mvcc: required revision has been compacted");
/// Range/Compact/HashKV at a revision the store has not reached.
pub const FUTURE_REVISION: EtcdError =
    error(Code::OutOfRange, "etcdserver: mvcc: required revision is a future revision");
/// A write while the NOSPACE alarm is raised.
pub const NO_SPACE: EtcdError = error(Code::ResourceExhausted, "etcdserver: mvcc: database space exceeded");

// --- Leases ----------------------------------------------------------------------------------------

/// Put/Revoke/KeepAlive naming a lease that does not exist.
pub const LEASE_NOT_FOUND: EtcdError = error(Code::NotFound, "etcdserver: requested lease not found");
/// LeaseGrant with an ID already in use.
pub const LEASE_EXIST: EtcdError = error(Code::FailedPrecondition, "etcdserver: lease already exists");
/// LeaseGrant with a TTL above the maximum (9,000,000,000 seconds).
pub const LEASE_TTL_TOO_LARGE: EtcdError = error(Code::OutOfRange, "etcdserver: too large lease TTL");

// --- Watch -----------------------------------------------------------------------------------------

/// A watch stream closed by the server.
pub const WATCH_CANCELED: EtcdError = error(Code::Cancelled, "etcdserver: watch canceled");

// --- Membership ------------------------------------------------------------------------------------

/// MemberAdd with an ID already in the cluster.
pub const MEMBER_EXIST: EtcdError = error(Code::FailedPrecondition, "etcdserver: member ID already exist");
/// MemberAdd/MemberUpdate with a peer URL another member already has.
pub const PEER_URL_EXIST: EtcdError = error(Code::FailedPrecondition, "etcdserver: Peer URLs already exists");
/// A membership change that would leave too few started members for quorum.
pub const MEMBER_NOT_ENOUGH_STARTED: EtcdError =
    error(Code::FailedPrecondition, "etcdserver: re-configuration failed due to not enough started members");
/// MemberAdd/MemberUpdate with peer URLs that do not parse.
pub const MEMBER_BAD_URLS: EtcdError =
    error(Code::InvalidArgument, "etcdserver: given member URLs are invalid");
/// MemberRemove/MemberUpdate/MemberPromote of an unknown member.
pub const MEMBER_NOT_FOUND: EtcdError = error(Code::NotFound, "etcdserver: member not found");
/// MemberPromote of a voting member.
pub const MEMBER_NOT_LEARNER: EtcdError =
    error(Code::FailedPrecondition, "etcdserver: can only promote a learner member");
/// MemberPromote of a learner still behind the leader.
pub const LEARNER_NOT_READY: EtcdError = error(
    Code::FailedPrecondition,
    "etcdserver: can only promote a learner member which is in sync with leader",
);
/// MemberAdd of a learner when the cluster already has the maximum (one).
pub const TOO_MANY_LEARNERS: EtcdError =
    error(Code::FailedPrecondition, "etcdserver: too many learner members in cluster");
/// A member of another cluster (added in later 3.4 patch releases; 3.4.23 does not send it).
pub const CLUSTER_ID_MISMATCH: EtcdError = error(Code::FailedPrecondition, "etcdserver: cluster ID mismatch");

// --- Request limits --------------------------------------------------------------------------------

/// A request above the server's --max-request-bytes.
pub const REQUEST_TOO_LARGE: EtcdError = error(Code::InvalidArgument, "etcdserver: request is too large");
/// Too many proposals are waiting to be applied.
pub const TOO_MANY_REQUESTS: EtcdError = error(Code::ResourceExhausted, "etcdserver: too many requests");

// --- Auth ------------------------------------------------------------------------------------------

/// AuthEnable before a `root` user exists.
pub const ROOT_USER_NOT_EXIST: EtcdError =
    error(Code::FailedPrecondition, "etcdserver: root user does not exist");
/// AuthEnable while `root` lacks the `root` role.
pub const ROOT_ROLE_NOT_EXIST: EtcdError =
    error(Code::FailedPrecondition, "etcdserver: root user does not have root role");
pub const USER_ALREADY_EXIST: EtcdError =
    error(Code::FailedPrecondition, "etcdserver: user name already exists");
pub const USER_EMPTY: EtcdError = error(Code::InvalidArgument, "etcdserver: user name is empty");
pub const USER_NOT_FOUND: EtcdError = error(Code::FailedPrecondition, "etcdserver: user name not found");
pub const ROLE_ALREADY_EXIST: EtcdError =
    error(Code::FailedPrecondition, "etcdserver: role name already exists");
pub const ROLE_NOT_FOUND: EtcdError = error(Code::FailedPrecondition, "etcdserver: role name not found");
pub const ROLE_EMPTY: EtcdError = error(Code::InvalidArgument, "etcdserver: role name is empty");
/// Authenticate with a wrong name or password.
pub const AUTH_FAILED: EtcdError =
    error(Code::InvalidArgument, "etcdserver: authentication failed, invalid user ID or password");
/// RoleGrantPermission without a permission (added in later 3.4 patch releases; 3.4.23 does not send it).
pub const PERMISSION_NOT_GIVEN: EtcdError = error(Code::InvalidArgument, "etcdserver: permission not given");
/// A request the authenticated user's roles do not allow.
pub const PERMISSION_DENIED: EtcdError = error(Code::PermissionDenied, "etcdserver: permission denied");
/// UserRevokeRole of a role the user does not have.
pub const ROLE_NOT_GRANTED: EtcdError =
    error(Code::FailedPrecondition, "etcdserver: role is not granted to the user");
/// RoleRevokePermission of a permission the role does not have.
pub const PERMISSION_NOT_GRANTED: EtcdError =
    error(Code::FailedPrecondition, "etcdserver: permission is not granted to the role");
/// Authenticate while auth is disabled.
pub const AUTH_NOT_ENABLED: EtcdError =
    error(Code::FailedPrecondition, "etcdserver: authentication is not enabled");
/// A request with an unknown or expired token.
pub const INVALID_AUTH_TOKEN: EtcdError = error(Code::Unauthenticated, "etcdserver: invalid auth token");
/// An auth change that would lock `root` out (e.g. revoking its `root` role while auth is on).
pub const INVALID_AUTH_MANAGEMENT: EtcdError =
    error(Code::InvalidArgument, "etcdserver: invalid auth management");
/// A request checked against an auth store that has changed since.
pub const AUTH_OLD_REVISION: EtcdError =
    error(Code::InvalidArgument, "etcdserver: revision of auth store is old");

// --- Leadership and availability -------------------------------------------------------------------

/// The member knows no leader (election in progress or quorum lost).
pub const NO_LEADER: EtcdError = error(Code::Unavailable, "etcdserver: no leader");
/// A leader-only request (e.g. MoveLeader) sent to a follower.
pub const NOT_LEADER: EtcdError = error(Code::FailedPrecondition, "etcdserver: not leader");
/// Leadership moved while the request was in flight.
pub const LEADER_CHANGED: EtcdError = error(Code::Unavailable, "etcdserver: leader changed");
/// The cluster version does not support the request yet.
pub const NOT_CAPABLE: EtcdError = error(Code::Unavailable, "etcdserver: not capable");
/// The member is shutting down.
pub const STOPPED: EtcdError = error(Code::Unavailable, "etcdserver: server stopped");
/// A proposal not committed in time.
pub const TIMEOUT: EtcdError = error(Code::Unavailable, "etcdserver: request timed out");
pub const TIMEOUT_DUE_TO_LEADER_FAIL: EtcdError =
    error(Code::Unavailable, "etcdserver: request timed out, possibly due to previous leader failure");
pub const TIMEOUT_DUE_TO_CONNECTION_LOST: EtcdError =
    error(Code::Unavailable, "etcdserver: request timed out, possibly due to connection lost");
/// A linearizable read whose read index was not applied in time.
pub const TIMEOUT_WAIT_APPLIED_INDEX: EtcdError =
    error(Code::Unavailable, "etcdserver: request timed out, waiting for the applied index took too long");
/// A membership change refused because the cluster is not healthy enough (--strict-reconfig-check).
pub const UNHEALTHY: EtcdError = error(Code::Unavailable, "etcdserver: unhealthy cluster");
/// Any request while the CORRUPT alarm is raised.
pub const CORRUPT: EtcdError = error(Code::DataLoss, "etcdserver: corrupt cluster");
/// A request a learner cannot serve (writes, linearizable reads, most maintenance).
pub const NOT_SUPPORTED_FOR_LEARNER: EtcdError =
    error(Code::Unavailable, "etcdserver: rpc not supported for learner");
/// MoveLeader to an unknown member or to a learner.
pub const BAD_LEADER_TRANSFEREE: EtcdError =
    error(Code::FailedPrecondition, "etcdserver: bad leader transferee");

/// Every error above, for lookups by message.
pub const ALL: [EtcdError; 54] = [
    EMPTY_KEY,
    KEY_NOT_FOUND,
    VALUE_PROVIDED,
    LEASE_PROVIDED,
    TOO_MANY_OPS,
    DUPLICATE_KEY,
    COMPACTED,
    FUTURE_REVISION,
    NO_SPACE,
    LEASE_NOT_FOUND,
    LEASE_EXIST,
    LEASE_TTL_TOO_LARGE,
    WATCH_CANCELED,
    MEMBER_EXIST,
    PEER_URL_EXIST,
    MEMBER_NOT_ENOUGH_STARTED,
    MEMBER_BAD_URLS,
    MEMBER_NOT_FOUND,
    MEMBER_NOT_LEARNER,
    LEARNER_NOT_READY,
    TOO_MANY_LEARNERS,
    CLUSTER_ID_MISMATCH,
    REQUEST_TOO_LARGE,
    TOO_MANY_REQUESTS,
    ROOT_USER_NOT_EXIST,
    ROOT_ROLE_NOT_EXIST,
    USER_ALREADY_EXIST,
    USER_EMPTY,
    USER_NOT_FOUND,
    ROLE_ALREADY_EXIST,
    ROLE_NOT_FOUND,
    ROLE_EMPTY,
    AUTH_FAILED,
    PERMISSION_NOT_GIVEN,
    PERMISSION_DENIED,
    ROLE_NOT_GRANTED,
    PERMISSION_NOT_GRANTED,
    AUTH_NOT_ENABLED,
    INVALID_AUTH_TOKEN,
    INVALID_AUTH_MANAGEMENT,
    AUTH_OLD_REVISION,
    NO_LEADER,
    NOT_LEADER,
    LEADER_CHANGED,
    NOT_CAPABLE,
    STOPPED,
    TIMEOUT,
    TIMEOUT_DUE_TO_LEADER_FAIL,
    TIMEOUT_DUE_TO_CONNECTION_LOST,
    TIMEOUT_WAIT_APPLIED_INDEX,
    UNHEALTHY,
    CORRUPT,
    NOT_SUPPORTED_FOR_LEARNER,
    BAD_LEADER_TRANSFEREE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_is_unique_and_says_it_comes_from_etcdserver() {
        for (index, error) in ALL.iter().enumerate() {
            assert!(error.message.starts_with("etcdserver: "), "{error:?}");
            let first = ALL.iter().position(|other| other.message == error.message);
            assert_eq!(first, Some(index), "message listed twice: {}", error.message);
        }
    }

    #[test]
    fn a_status_built_from_an_error_is_found_again_by_its_message() {
        let status = COMPACTED.status();
        assert_eq!(status.code(), Code::OutOfRange);
        assert!(COMPACTED.matches(&status));
        assert!(!FUTURE_REVISION.matches(&status));
        assert_eq!(find_by_message(status.message()), Some(COMPACTED));
        assert_eq!(find_by_message("etcdserver: no such error"), None);
    }

    #[test]
    fn codes_clients_branch_on_are_the_ones_etcd_sends() {
        assert_eq!(LEASE_NOT_FOUND.code, Code::NotFound);
        assert_eq!(NO_LEADER.code, Code::Unavailable);
        assert_eq!(NOT_LEADER.code, Code::FailedPrecondition);
        assert_eq!(INVALID_AUTH_TOKEN.code, Code::Unauthenticated);
        assert_eq!(NO_SPACE.code, Code::ResourceExhausted);
        assert_eq!(CORRUPT.code, Code::DataLoss);
    }
}
