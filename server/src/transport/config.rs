//! How a transport is started: who this member is, where it listens, its peers ([`TransportConfig`]),
//! and every bound it keeps ([`TransportLimits`]), checked once at start.

use std::collections::BTreeMap;
use std::time::Duration;

use raft::types::NodeId;

use super::error::TransportError;
use super::queue::QueueBounds;

/// Every bound the transport keeps. The defaults suit a LAN cluster with etcd's 1.5 MiB request cap.
#[derive(Clone, Debug)]
pub struct TransportLimits {
    /// Messages queued per peer before `send` drops (etcd's stream buffer is 4096 too).
    pub max_queued_messages: usize,
    /// Approximate bytes queued per peer before `send` drops.
    pub max_queued_bytes: usize,
    /// The largest frame written or accepted; a larger header closes the connection.
    pub max_frame_bytes: usize,
    /// Snapshot data carried per chunk frame; must leave room for the frame's own fields.
    pub snapshot_chunk_bytes: usize,
    /// The largest snapshot a receiver reassembles.
    pub max_snapshot_bytes: u64,
    /// Inbound connections served at once; more are refused.
    pub max_inbound_connections: usize,
    /// Time a dialer has to complete its handshake, and a dialer waits for the answer.
    pub handshake_timeout: Duration,
    /// Time one batch write may take before the connection is declared dead.
    pub write_timeout: Duration,
    /// First reconnection delay; it doubles per failure up to `backoff_max`, with jitter.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Bytes buffered before a write syscall while draining a long queue.
    pub write_batch_bytes: usize,
    /// How long a received snapshot may wait for room in the inbound channel before it is dropped
    /// (other messages are dropped at once when the channel is full; a snapshot is costly to resend).
    pub snapshot_delivery_timeout: Duration,
    /// Unacknowledged data older than this breaks the connection (TCP_USER_TIMEOUT), and idle
    /// connections are probed after it (TCP keepalive), so a partitioned peer is noticed.
    pub dead_peer_timeout: Duration,
    /// Remotes (dialers outside our membership we answer, see the module comment of
    /// [`super`]) kept at once. A lagging member only needs the members added since it lost touch, a
    /// handful in practice (etcd advises at most 7 voters, and learners are few); each remote costs a
    /// writer task and a queue, so a misconfigured member sharing our cluster ID cannot make us dial
    /// an unbounded crowd.
    pub max_remote_peers: usize,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            max_queued_messages: 4096,
            max_queued_bytes: 64 << 20,
            max_frame_bytes: 8 << 20,
            snapshot_chunk_bytes: 1 << 20,
            max_snapshot_bytes: 4 << 30,
            max_inbound_connections: 256,
            handshake_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            write_batch_bytes: 256 << 10,
            snapshot_delivery_timeout: Duration::from_secs(5),
            dead_peer_timeout: Duration::from_secs(10),
            max_remote_peers: 8,
        }
    }
}

/// Room a snapshot chunk frame needs besides its data (framing and offset).
const CHUNK_FRAME_OVERHEAD_BYTES: usize = 64;

impl TransportLimits {
    /// Refuses bounds the transport cannot work with.
    pub(super) fn validate(&self) -> Result<(), TransportError> {
        if self.max_queued_messages == 0 || self.max_inbound_connections == 0 {
            return Err(TransportError::InvalidLimits("queue and connection bounds must be positive"));
        }
        if self.snapshot_chunk_bytes == 0
            || self.snapshot_chunk_bytes + CHUNK_FRAME_OVERHEAD_BYTES > self.max_frame_bytes
        {
            return Err(TransportError::InvalidLimits(
                "snapshot chunks must be non-empty and fit in a frame",
            ));
        }
        Ok(())
    }

    pub(super) fn queue_bounds(&self) -> QueueBounds {
        QueueBounds { max_messages: self.max_queued_messages, max_bytes: self.max_queued_bytes }
    }
}

/// How to start a transport.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    pub member_id: NodeId,
    pub cluster_id: u64,
    /// `http://host:port` or `https://host:port` URLs to listen on (port 0 picks a free port; see
    /// `local_addrs`). `https` ones need `tls` with a server.
    pub listen_peer_urls: Vec<String>,
    /// The other members and their peer URLs. The entry for `member_id` itself, if any, holds this
    /// member's advertised peer URLs, announced in every handshake so a member that does not know us
    /// yet can answer (see the module comment of [`super`]); without it the bound listen addresses
    /// are announced, which suits tests on loopback but not a wildcard listen address.
    pub peers: BTreeMap<NodeId, Vec<String>>,
    pub limits: TransportLimits,
    /// TLS for `https` listen URLs and `https` peer URLs; `None`: no TLS (such URLs fail: listening
    /// at start, dialing at each attempt, logged).
    pub tls: Option<crate::tls::PeerTls>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_zero_bounds_or_unframeable_chunks_are_not() {
        assert!(TransportLimits::default().validate().is_ok());
        for limits in [
            TransportLimits { max_queued_messages: 0, ..TransportLimits::default() },
            TransportLimits { max_inbound_connections: 0, ..TransportLimits::default() },
            TransportLimits { snapshot_chunk_bytes: 0, ..TransportLimits::default() },
            TransportLimits {
                snapshot_chunk_bytes: 1 << 20,
                max_frame_bytes: 1 << 20,
                ..TransportLimits::default()
            },
        ] {
            assert!(matches!(limits.validate(), Err(TransportError::InvalidLimits(_))), "{limits:?}");
        }
    }
}
