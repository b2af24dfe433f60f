//! The bounds the client and peer listeners keep against bad or abusive input, read from their
//! (Concord-only) flags: request head size, read deadline, per-connection request rate, peer
//! connections and peer frame size. `--max-client-connections` and `--max-request-bytes` stay in
//! [`super::ServerConfig`] beside etcd's other flags; they are checked together with these here.

use super::{ConfigError, Reader, flags, invalid};

/// `--max-request-header-bytes` default: Go's `http.DefaultMaxHeaderBytes` (1 MiB), the bound real
/// etcd's client listener keeps, so no request etcd takes is refused.
pub const DEFAULT_MAX_REQUEST_HEADER_BYTES: u64 = 1 << 20;
/// `--client-read-timeout` default: a connection has this long to send a request head (counted from
/// its opening, or from the previous answer on a kept-alive connection), and again its body.
pub const DEFAULT_CLIENT_READ_TIMEOUT_MS: u64 = 30_000;
/// `--max-connection-requests-per-second` default: far above what one honest connection sends.
pub const DEFAULT_MAX_CONNECTION_REQUESTS_PER_SECOND: u64 = 10_000;
/// `--max-peer-connections` default: inbound peer connections served at once.
pub const DEFAULT_MAX_PEER_CONNECTIONS: u64 = 256;
/// `--max-peer-frame-bytes` default: the largest frame a peer may send (8 MiB).
pub const DEFAULT_MAX_PEER_FRAME_BYTES: u64 = 8 << 20;
/// The smallest request head bound accepted (hyper's smallest read buffer; a request line and a
/// few headers).
const MIN_REQUEST_HEADER_BYTES: u64 = 8192;
/// A peer frame must hold a 1 MiB snapshot chunk and the largest client request with room to spare.
const PEER_FRAME_MARGIN_BYTES: u64 = 1 << 20;

/// The listeners' bounds against bad input (see the module comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkLimits {
    /// `--max-request-header-bytes`: a request line and headers (HTTP/1.1) or header list (HTTP/2,
    /// gRPC metadata included) larger than this is answered 431 (or reset) and the connection closed.
    pub max_request_header_bytes: usize,
    /// `--client-read-timeout`: time a client connection has to send a complete request head (also
    /// how long a kept-alive HTTP/1.1 connection may sit idle), and then its body.
    pub client_read_timeout_ms: u64,
    /// `--max-connection-requests-per-second`: requests one client connection may start per second
    /// (bursts up to the same count); more are answered 429 / `ResourceExhausted`. 0: no bound.
    pub max_connection_requests_per_second: u64,
    /// `--max-peer-connections`: inbound peer connections served at once; more are refused.
    pub max_peer_connections: usize,
    /// `--max-peer-frame-bytes`: a peer frame announcing more closes the connection before its
    /// payload is read or allocated.
    pub max_peer_frame_bytes: usize,
}

impl Default for NetworkLimits {
    fn default() -> NetworkLimits {
        NetworkLimits {
            max_request_header_bytes: DEFAULT_MAX_REQUEST_HEADER_BYTES as usize,
            client_read_timeout_ms: DEFAULT_CLIENT_READ_TIMEOUT_MS,
            max_connection_requests_per_second: DEFAULT_MAX_CONNECTION_REQUESTS_PER_SECOND,
            max_peer_connections: DEFAULT_MAX_PEER_CONNECTIONS as usize,
            max_peer_frame_bytes: DEFAULT_MAX_PEER_FRAME_BYTES as usize,
        }
    }
}

/// Reads the limits' flags and checks them against each other and `--max-request-bytes`.
pub(super) fn read_network_limits(
    reader: &Reader,
    max_client_connections: usize,
    max_request_bytes: u64,
) -> Result<NetworkLimits, ConfigError> {
    let limits = NetworkLimits {
        max_request_header_bytes: reader
            .size("max-request-header-bytes", DEFAULT_MAX_REQUEST_HEADER_BYTES)?,
        client_read_timeout_ms: read_timeout_ms(
            reader,
            "client-read-timeout",
            DEFAULT_CLIENT_READ_TIMEOUT_MS,
        )?,
        max_connection_requests_per_second: reader
            .unsigned("max-connection-requests-per-second", DEFAULT_MAX_CONNECTION_REQUESTS_PER_SECOND)?,
        max_peer_connections: reader.size("max-peer-connections", DEFAULT_MAX_PEER_CONNECTIONS)?,
        max_peer_frame_bytes: reader.size("max-peer-frame-bytes", DEFAULT_MAX_PEER_FRAME_BYTES)?,
    };
    if max_client_connections == 0 {
        return Err(invalid("--max-client-connections must be at least 1".to_string()));
    }
    if max_request_bytes == 0 {
        return Err(invalid("--max-request-bytes must be at least 1".to_string()));
    }
    if (limits.max_request_header_bytes as u64) < MIN_REQUEST_HEADER_BYTES {
        return Err(invalid(format!(
            "--max-request-header-bytes must be at least {MIN_REQUEST_HEADER_BYTES}"
        )));
    }
    if limits.max_peer_connections == 0 {
        return Err(invalid("--max-peer-connections must be at least 1".to_string()));
    }
    let min_frame_bytes =
        max_request_bytes.max(PEER_FRAME_MARGIN_BYTES).saturating_add(PEER_FRAME_MARGIN_BYTES);
    if (limits.max_peer_frame_bytes as u64) < min_frame_bytes
        || limits.max_peer_frame_bytes as u64 > u32::MAX as u64
    {
        return Err(invalid(format!(
            "--max-peer-frame-bytes must be between {min_frame_bytes} (--max-request-bytes or 1 MiB, plus 1 MiB) \
             and {}",
            u32::MAX
        )));
    }
    Ok(limits)
}

/// A duration flag in whole milliseconds, at least one.
fn read_timeout_ms(reader: &Reader, name: &str, default_ms: u64) -> Result<u64, ConfigError> {
    let Some(text) = reader.text(name) else { return Ok(default_ms) };
    let nanos = flags::parse_duration_nanos(text)
        .ok_or_else(|| invalid(format!("invalid value {} for {name}: parse error", flags::go_quote(text))))?;
    match u64::try_from(nanos / 1_000_000) {
        Ok(milliseconds) if milliseconds > 0 => Ok(milliseconds),
        _ => Err(invalid(format!("--{name} must be at least 1ms, got {}", flags::go_quote(text)))),
    }
}
