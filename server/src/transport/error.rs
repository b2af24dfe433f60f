//! Why the transport cannot start or a peer cannot be changed ([`TransportError`]).

use std::fmt;
use std::net::SocketAddr;

use raft::types::NodeId;

use crate::url::UrlError;

/// Why the transport cannot start or a peer cannot be changed.
#[derive(Debug)]
pub enum TransportError {
    Url(UrlError),
    NoListenUrl,
    Resolve {
        url: String,
        error: std::io::Error,
    },
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    InvalidMemberId(NodeId),
    /// The peer was removed; member IDs are never reused.
    PeerRemoved(NodeId),
    PeerExists(NodeId),
    UnknownPeer(NodeId),
    InvalidLimits(&'static str),
    /// An `https` listen URL without a peer certificate (etcd's words).
    TlsNotConfigured(String),
}

impl fmt::Display for TransportError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Url(error) => write!(formatter, "{error}"),
            TransportError::NoListenUrl => write!(formatter, "no listen peer URL given"),
            TransportError::Resolve { url, error } => {
                write!(formatter, "cannot resolve peer URL {url:?}: {error}")
            }
            TransportError::Bind { addr, error } => {
                write!(formatter, "cannot listen for peers on {addr}: {error}")
            }
            TransportError::InvalidMemberId(id) => write!(formatter, "invalid member ID {id:016x}"),
            TransportError::PeerRemoved(id) => {
                write!(formatter, "member {id:016x} was removed and cannot be re-added")
            }
            TransportError::PeerExists(id) => write!(formatter, "member {id:016x} is already a peer"),
            TransportError::UnknownPeer(id) => write!(formatter, "member {id:016x} is not a peer"),
            TransportError::InvalidLimits(reason) => write!(formatter, "invalid transport limits: {reason}"),
            TransportError::TlsNotConfigured(authority) => write!(
                formatter,
                "cannot listen on TLS for {authority}: KeyFile and CertFile are not presented"
            ),
        }
    }
}

impl std::error::Error for TransportError {}

impl From<UrlError> for TransportError {
    fn from(error: UrlError) -> Self {
        TransportError::Url(error)
    }
}
