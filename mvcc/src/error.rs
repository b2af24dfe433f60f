//! The errors of the v3 keyspace, with etcd 3.4's exact texts and gRPC status codes.

use std::fmt;

/// A request the keyspace refuses. A refused request changes nothing and uses no revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A key (of a range, put, delete or compare) is empty.
    EmptyKey,
    /// `ignore_value` or `ignore_lease` on a key that does not exist.
    KeyNotFound,
    /// `ignore_value` together with a value.
    ValueProvided,
    /// `ignore_lease` together with a lease.
    LeaseProvided,
    /// A txn (or one nested in it) has more operations than allowed.
    TooManyOperations,
    /// A txn writes a key twice (see `validate_txn` for etcd's rules).
    DuplicateKey,
    /// The revision asked for was compacted away.
    Compacted,
    /// The revision asked for is newer than the current revision.
    FutureRevision,
    /// The lease does not exist (or lease ID 0 was asked for).
    LeaseNotFound,
    /// Grant of a lease ID that exists.
    LeaseExists,
    /// Grant of a TTL above `MAX_LEASE_TTL_SECONDS`.
    LeaseTtlTooLarge,
    /// A write that would grow the keyspace while the node's NOSPACE alarm is raised (the node decides;
    /// the keyspace only names the error).
    NoSpace,
}

/// gRPC status codes the errors map to (numbers as in `google.rpc.Code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrpcCode {
    InvalidArgument = 3,
    NotFound = 5,
    FailedPrecondition = 9,
    ResourceExhausted = 8,
    OutOfRange = 11,
}

impl Error {
    /// etcd's error text (what `etcdctl` prints after `Error: `).
    pub fn message(self) -> &'static str {
        match self {
            Error::EmptyKey => "etcdserver: key is not provided",
            Error::KeyNotFound => "etcdserver: key not found",
            Error::ValueProvided => "etcdserver: value is provided",
            Error::LeaseProvided => "etcdserver: lease is provided",
            Error::TooManyOperations => "etcdserver: too many operations in txn request",
            Error::DuplicateKey => "etcdserver: duplicate key given in txn request",
            Error::Compacted => "etcdserver: mvcc: required revision has been compacted",
            Error::FutureRevision => "etcdserver: mvcc: required revision is a future revision",
            Error::LeaseNotFound => "etcdserver: requested lease not found",
            Error::LeaseExists => "etcdserver: lease already exists",
            Error::LeaseTtlTooLarge => "etcdserver: too large lease TTL",
            Error::NoSpace => "etcdserver: mvcc: database space exceeded",
        }
    }

    /// The gRPC status code etcd answers this error with.
    pub fn grpc_code(self) -> GrpcCode {
        match self {
            Error::EmptyKey
            | Error::KeyNotFound
            | Error::ValueProvided
            | Error::LeaseProvided
            | Error::TooManyOperations
            | Error::DuplicateKey => GrpcCode::InvalidArgument,
            Error::Compacted | Error::FutureRevision | Error::LeaseTtlTooLarge => GrpcCode::OutOfRange,
            Error::LeaseNotFound => GrpcCode::NotFound,
            Error::LeaseExists => GrpcCode::FailedPrecondition,
            Error::NoSpace => GrpcCode::ResourceExhausted,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.message())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_codes_are_etcds() {
        assert_eq!(Error::Compacted.to_string(), "etcdserver: mvcc: required revision has been compacted");
        assert_eq!(Error::Compacted.grpc_code() as u32, 11);
        assert_eq!(Error::LeaseNotFound.grpc_code() as u32, 5);
        assert_eq!(Error::LeaseExists.grpc_code() as u32, 9);
        assert_eq!(Error::DuplicateKey.grpc_code() as u32, 3);
        assert_eq!(Error::NoSpace.to_string(), "etcdserver: mvcc: database space exceeded");
        assert_eq!(Error::NoSpace.grpc_code() as u32, 8);
    }
}
