//! Why a request failed below HTTP, worded as Go's `net`, `net/http` and `crypto/tls` word it (etcdctl
//! users and scripts know those lines), and which failures count as connection errors for etcdctl's
//! exit codes. Also the mapping from hyper's and the socket's errors to these.

use std::fmt;
use std::io;

use crate::tls::go_tls_text;

#[derive(Debug)]
pub enum HttpError {
    /// Could not open a TCP connection.
    Dial { address: String, cause: io::Error },
    /// The host name did not resolve.
    Resolve { authority: String, cause: String },
    /// No response header arrived before the deadline.
    HeaderTimeout { endpoint: String },
    /// Reading or writing failed after connecting.
    Io { address: String, cause: io::Error },
    /// The server closed the connection before a whole response arrived (Go's bare `EOF`).
    Eof,
    /// The TLS handshake or a TLS record failed (Go's `x509: ...` or `remote error: tls: ...` text).
    Tls(String),
    /// The peer spoke something that is not HTTP/1.x or broke a bound.
    Protocol(String),
}

impl HttpError {
    /// Connection-level errors make etcdctl exit with code 2 during cluster sync. A header timeout is not
    /// one for etcdctl (the server accepted the connection): sync goes on and the command itself fails.
    /// Neither is a TLS failure nor a bare `EOF`.
    pub fn is_connection_error(&self) -> bool {
        // Go counts a failed read (say, a reset connection) as a connection error too.
        matches!(self, HttpError::Dial { .. } | HttpError::Resolve { .. } | HttpError::Io { .. })
    }

    /// Whether the request may have reached the server (a one-shot request then does not fail over).
    pub fn request_may_have_arrived(&self) -> bool {
        !matches!(self, HttpError::Dial { .. } | HttpError::Resolve { .. })
    }

    /// A failure of the socket or of TLS on an open connection.
    pub fn from_io(address: &str, cause: io::Error) -> HttpError {
        if let Some(tls) = cause.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            return HttpError::Tls(go_tls_text(tls));
        }
        if cause.kind() == io::ErrorKind::UnexpectedEof {
            return HttpError::Eof;
        }
        HttpError::Io { address: address.to_string(), cause }
    }

    /// A failure hyper reports while sending a request or reading its answer.
    pub fn from_hyper(address: &str, error: hyper::Error) -> HttpError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&error);
        // The chain is short (hyper wraps the socket's error once or twice); the bound keeps it so.
        for _ in 0..8 {
            let Some(current) = source else { break };
            if let Some(tls) = current.downcast_ref::<rustls::Error>() {
                return HttpError::Tls(go_tls_text(tls));
            }
            if let Some(cause) = current.downcast_ref::<io::Error>() {
                let copied = match cause.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                    Some(tls) => return HttpError::Tls(go_tls_text(tls)),
                    None => io::Error::from(cause.kind()),
                };
                return HttpError::from_io(address, copied);
            }
            source = current.source();
        }
        if error.is_incomplete_message() || error.is_canceled() || error.is_closed() {
            return HttpError::Eof;
        }
        HttpError::Protocol(error.to_string())
    }
}

/// Go's wording of a socket error's cause.
fn go_io_text(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset by peer".to_string(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "i/o timeout".to_string(),
        io::ErrorKind::UnexpectedEof => "EOF".to_string(),
        _ => crate::tls::go_os_text(error),
    }
}

/// The text of a failed name lookup.
pub fn resolve_text(error: &io::Error) -> String {
    go_io_text(error)
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Dial { address, cause } => match cause.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                    write!(f, "dial tcp {address}: i/o timeout")
                }
                _ => write!(f, "dial tcp {address}: connect: {}", go_io_text(cause)),
            },
            HttpError::Resolve { authority, cause } => write!(f, "dial tcp: lookup {authority}: {cause}"),
            HttpError::HeaderTimeout { endpoint } => {
                write!(f, "client: endpoint {endpoint} exceeded header timeout")
            }
            HttpError::Io { address, cause } => write!(f, "read tcp {address}: read: {}", go_io_text(cause)),
            HttpError::Eof => write!(f, "EOF"),
            HttpError::Tls(text) => write!(f, "{text}"),
            HttpError::Protocol(text) => write!(f, "malformed HTTP response: {text}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_connection_reads_like_go() {
        let error = HttpError::Dial {
            address: "127.0.0.1:1".to_string(),
            cause: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        assert_eq!(error.to_string(), "dial tcp 127.0.0.1:1: connect: connection refused");
        assert!(error.is_connection_error());
    }

    #[test]
    fn tls_failures_and_eof_are_not_connection_errors() {
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let error = HttpError::from_io("a->b", io::Error::new(io::ErrorKind::InvalidData, unknown));
        assert_eq!(error.to_string(), "x509: certificate signed by unknown authority");
        assert!(!error.is_connection_error());
        let error = HttpError::from_io("a->b", io::Error::from(io::ErrorKind::UnexpectedEof));
        assert_eq!((error.to_string().as_str(), error.is_connection_error()), ("EOF", false));
        let error = HttpError::from_io("a->b", io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(error.to_string(), "read tcp a->b: read: connection reset by peer");
    }
}
