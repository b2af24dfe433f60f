//! How v3 commands fail: etcdctl v3's exit codes, the `Error: <message>` line, and the text etcdctl
//! gives a failed call (etcd's own message for the errors its client knows, `context deadline
//! exceeded` for a timeout, Go's `rpc error: code = ... desc = ...` for the rest).

use std::fmt;

use crate::commands::Exit;

/// etcdctl v3's exit codes.
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const BAD_CONNECTION: i32 = 2;
    pub const INVALID_INPUT: i32 = 3;
    pub const BAD_FEATURE: i32 = 4;
    pub const INTERRUPTED: i32 = 5;
    pub const BAD_ARGS: i32 = 128;
}

/// A command's failure: the exit code, and the message for `Error: ...` on stderr (none when the
/// command already said what went wrong).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: i32,
    pub message: Option<String>,
}

impl Failure {
    pub fn new(code: i32, message: &str) -> Failure {
        debug_assert!(code != exit::SUCCESS, "a failure has a non-zero exit code");
        Failure { code, message: Some(message.to_string()) }
    }

    /// A failure whose explanation has already been printed.
    pub fn quiet(code: i32) -> Failure {
        Failure { code, message: None }
    }

    /// etcdctl's `ExitWithError`: prints the message and gives the exit code.
    pub fn report(&self) -> Exit {
        if let Some(message) = &self.message {
            super::print::write_stderr_line(&format!("Error: {message}"));
        }
        Exit(self.code)
    }
}

/// A failed gRPC call.
#[derive(Debug, Clone)]
pub enum RpcError {
    /// The server (or the transport) answered with this status.
    Status(tonic::Status),
    /// The command's deadline passed first.
    DeadlineExceeded,
    /// `--user`'s credentials were refused while connecting (etcdctl cannot make its client: exit 2,
    /// whatever the command).
    Authentication(tonic::Status),
}

impl RpcError {
    /// This error as a failure with exit code `code`.
    pub fn failure(&self, code: i32) -> Failure {
        let code = if matches!(self, RpcError::Authentication(_)) { exit::BAD_CONNECTION } else { code };
        Failure::new(code, &self.to_string())
    }

    /// Whether the server said the lease does not exist.
    pub fn is_lease_not_found(&self) -> bool {
        matches!(self, RpcError::Status(status) if api::errors::LEASE_NOT_FOUND.matches(status))
    }
}

impl From<tonic::Status> for RpcError {
    fn from(status: tonic::Status) -> RpcError {
        RpcError::Status(status)
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcError::DeadlineExceeded => formatter.write_str("context deadline exceeded"),
            RpcError::Status(status) if status.code() == tonic::Code::DeadlineExceeded => {
                formatter.write_str("context deadline exceeded")
            }
            RpcError::Status(status) | RpcError::Authentication(status) => {
                if api::errors::find_by_message(status.message()).is_some() {
                    formatter.write_str(status.message())
                } else {
                    write!(
                        formatter,
                        "rpc error: code = {} desc = {}",
                        go_code_name(status.code()),
                        status.message()
                    )
                }
            }
        }
    }
}

/// grpc-go's name for a status code (`codes.Code.String()`).
fn go_code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_etcd_errors_read_as_their_message_and_others_as_grpc_go_does() {
        let known = RpcError::Status(api::errors::EMPTY_KEY.status());
        assert_eq!(known.to_string(), "etcdserver: key is not provided");
        let unknown = RpcError::Status(tonic::Status::unavailable("connection refused"));
        assert_eq!(unknown.to_string(), "rpc error: code = Unavailable desc = connection refused");
        assert_eq!(RpcError::DeadlineExceeded.to_string(), "context deadline exceeded");
    }
}
