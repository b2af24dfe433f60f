//! The node's errors as etcd's gRPC statuses: the same code and the same message text, which is how
//! etcd's clients recognise an error (`api::errors` holds etcd's table).

use api::errors::{self, EtcdError};
use tonic::{Code, Status};

use super::backend::V3Error;
use crate::http::MemberError;

/// etcd's status for a keyspace refusal (`mvcc::Error` carries etcd's text and code).
pub fn keyspace_status(error: mvcc::Error) -> Status {
    let code = match error.grpc_code() {
        mvcc::GrpcCode::InvalidArgument => Code::InvalidArgument,
        mvcc::GrpcCode::NotFound => Code::NotFound,
        mvcc::GrpcCode::FailedPrecondition => Code::FailedPrecondition,
        mvcc::GrpcCode::OutOfRange => Code::OutOfRange,
        mvcc::GrpcCode::ResourceExhausted => Code::ResourceExhausted,
    };
    Status::new(code, error.message())
}

/// etcd's status for a failed v3 request. `Other` texts that are one of etcd's errors (`etcdserver:
/// bad leader transferee`, `etcdserver: not leader`...) get that error's code; other texts are
/// `Unknown`, as etcd answers errors it has no code for.
pub fn v3_status(error: &V3Error) -> Status {
    match error {
        V3Error::Keyspace(error) => keyspace_status(*error),
        V3Error::NoLeader => errors::NO_LEADER.status(),
        V3Error::Timeout => errors::TIMEOUT.status(),
        V3Error::Stopped => errors::STOPPED.status(),
        V3Error::Overloaded => errors::TOO_MANY_REQUESTS.status(),
        V3Error::TooLarge => errors::REQUEST_TOO_LARGE.status(),
        V3Error::Other(text) => text_status(text),
    }
}

/// etcd's status for a refused membership change (etcd maps a removed ID to "member not found").
pub fn member_status(error: &MemberError) -> Status {
    match error {
        MemberError::IdExists => errors::MEMBER_EXIST.status(),
        MemberError::PeerUrlExists => errors::PEER_URL_EXIST.status(),
        MemberError::NotFound(_) | MemberError::Removed(_) => errors::MEMBER_NOT_FOUND.status(),
        MemberError::Internal(text) => {
            let text = without_refusal_prefix(text);
            if text == errors::MEMBER_NOT_ENOUGH_STARTED.message {
                // etcd 3.4.23 answers this refusal (e.g. removing the only member) with code Unknown,
                // not the FailedPrecondition of its error table.
                return Status::unknown(text.to_string());
            }
            text_status(text)
        }
    }
}

/// The admin refusals etcd 3.4's Maintenance service answers with its auth store's own errors (code
/// `Unknown`, texts starting `auth: `) instead of the `etcdserver: ` statuses the other services use.
const MAINTENANCE_AUTH_ERRORS: [EtcdError; 3] =
    [errors::PERMISSION_DENIED, errors::USER_EMPTY, errors::INVALID_AUTH_TOKEN];

/// A Maintenance call's status as etcd 3.4 answers it: its admin refusals as the auth store's
/// errors (`auth: permission denied`, code `Unknown`), every other status unchanged.
pub fn maintenance_status(status: Status) -> Status {
    let refusal = MAINTENANCE_AUTH_ERRORS.iter().find(|error| error.matches(&status));
    match refusal.and_then(|error| error.message.strip_prefix("etcdserver: ")) {
        Some(reason) => Status::unknown(format!("auth: {reason}")),
        None => status,
    }
}

/// How the node words a proposal it refused (`RequestError::Refused`) before the reason.
const REFUSAL_PREFIX: &str = "proposal refused: ";

/// A refusal whose reason is one of etcd's errors reaches the client as that error alone.
fn without_refusal_prefix(text: &str) -> &str {
    match text.strip_prefix(REFUSAL_PREFIX) {
        Some(reason) if errors::find_by_message(reason).is_some() => reason,
        _ => text,
    }
}

/// A text that may be one of etcd's errors: that error, else `Unknown` with the text.
fn text_status(text: &str) -> Status {
    match errors::find_by_message(text) {
        Some(EtcdError { code, message }) => Status::new(code, message),
        None => Status::unknown(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_errors_keep_etcds_code_and_text() {
        let status = keyspace_status(mvcc::Error::Compacted);
        assert!(errors::COMPACTED.matches(&status));
        assert!(errors::LEASE_NOT_FOUND.matches(&keyspace_status(mvcc::Error::LeaseNotFound)));
        assert!(errors::LEASE_EXIST.matches(&v3_status(&V3Error::Keyspace(mvcc::Error::LeaseExists))));
    }

    #[test]
    fn a_refused_membership_change_keeps_etcds_text_without_the_nodes_prefix() {
        let refused =
            MemberError::Internal(format!("{REFUSAL_PREFIX}{}", errors::MEMBER_NOT_ENOUGH_STARTED.message));
        let status = member_status(&refused);
        assert_eq!(
            (status.code(), status.message()),
            (Code::Unknown, errors::MEMBER_NOT_ENOUGH_STARTED.message)
        );
        let other = MemberError::Internal(format!("{REFUSAL_PREFIX}something else"));
        assert_eq!(member_status(&other).message(), "proposal refused: something else");
    }

    #[test]
    fn node_errors_are_etcds_availability_errors() {
        assert!(errors::NO_LEADER.matches(&v3_status(&V3Error::NoLeader)));
        assert!(errors::TIMEOUT.matches(&v3_status(&V3Error::Timeout)));
        assert!(errors::STOPPED.matches(&v3_status(&V3Error::Stopped)));
        assert!(errors::TOO_MANY_REQUESTS.matches(&v3_status(&V3Error::Overloaded)));
        assert!(errors::REQUEST_TOO_LARGE.matches(&v3_status(&V3Error::TooLarge)));
    }

    #[test]
    fn other_texts_are_recognised_when_they_are_etcds_and_unknown_otherwise() {
        let text = errors::BAD_LEADER_TRANSFEREE.message.to_string();
        assert!(errors::BAD_LEADER_TRANSFEREE.matches(&v3_status(&V3Error::Other(text))));
        let status = v3_status(&V3Error::Other("disk on fire".to_string()));
        assert_eq!((status.code(), status.message()), (Code::Unknown, "disk on fire"));
    }

    #[test]
    fn maintenance_admin_refusals_are_the_auth_stores_own_errors() {
        let denied = maintenance_status(errors::PERMISSION_DENIED.status());
        assert_eq!((denied.code(), denied.message()), (Code::Unknown, "auth: permission denied"));
        let empty = maintenance_status(errors::USER_EMPTY.status());
        assert_eq!((empty.code(), empty.message()), (Code::Unknown, "auth: user name is empty"));
        assert!(errors::NO_LEADER.matches(&maintenance_status(errors::NO_LEADER.status())));
    }

    #[test]
    fn membership_errors_are_etcds() {
        assert!(errors::MEMBER_NOT_FOUND.matches(&member_status(&MemberError::Removed(7))));
        assert!(errors::PEER_URL_EXIST.matches(&member_status(&MemberError::PeerUrlExists)));
        let not_learner = MemberError::Internal(errors::MEMBER_NOT_LEARNER.message.to_string());
        assert!(errors::MEMBER_NOT_LEARNER.matches(&member_status(&not_learner)));
        let only_member = MemberError::Internal(errors::MEMBER_NOT_ENOUGH_STARTED.message.to_string());
        assert_eq!(member_status(&only_member).code(), Code::Unknown);
    }
}
