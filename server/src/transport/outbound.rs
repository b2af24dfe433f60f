//! The writer task of one peer: dial it, stream its queue to it, and when that fails discard what is
//! queued, tell the node once per outage, and redial after a backoff, until the peer is removed or
//! the transport stops.
//!
//! Writing to an established stream is [`super::outbound_stream`]'s job; this file is the life
//! cycle around it. Messages queued while the peer is unreachable are discarded (counted as
//! [`DropReason::StreamDown`]): stale messages would only confuse a peer that comes back, and Raft
//! resends what matters.

use std::sync::Arc;

use tracing::{debug, info, warn};

use super::backoff::Backoff;
use super::events::TransportEvent;
use super::handshake::{self, DialError};
use super::outbound_stream::{StreamEnd, stream_to_peer};
use super::peer::Peer;
use super::shared::Shared;
use super::stats::{DropReason, bump};
use super::wire::{OutgoingSnapshot, RefusalReason};

/// Runs the writer of `peer` until the peer is cancelled (removed, or the transport stops).
pub(super) async fn run_writer(shared: Arc<Shared>, peer: Arc<Peer>) {
    let mut writer = Writer::new(&shared, &peer);
    loop {
        if peer.cancel.is_cancelled() {
            break;
        }
        let dialed = tokio::select! {
            dialed = handshake::dial(&shared, &peer) => dialed,
            _ = peer.cancel.cancelled() => break,
        };
        let failure = match dialed {
            Ok(stream) => {
                writer.connected();
                match stream_to_peer(&shared, &peer, stream, &mut writer.snapshot).await {
                    StreamEnd::Cancelled => break,
                    StreamEnd::UrlsChanged => {
                        writer.closed_to_redial();
                        continue;
                    }
                    StreamEnd::Broken(reason) => {
                        bump(&shared.counters.broken_connections, 1);
                        reason
                    }
                }
            }
            Err(DialError::Refused(reason)) => writer.refused(reason),
            Err(DialError::Failed(reason)) => reason,
        };
        writer.failed(failure);
        tokio::select! {
            _ = tokio::time::sleep(writer.backoff.next_delay()) => {}
            _ = peer.cancel.cancelled() => break,
        }
    }
    writer.stopped();
}

/// What the writer remembers between connections.
struct Writer<'a> {
    shared: &'a Shared,
    peer: &'a Peer,
    peer_hex: String,
    backoff: Backoff,
    /// Failed attempts since the last established stream (or since start).
    failures_in_a_row: u64,
    /// The snapshot being sent, kept here so a broken stream can report it lost.
    snapshot: Option<OutgoingSnapshot>,
}

impl<'a> Writer<'a> {
    fn new(shared: &'a Shared, peer: &'a Peer) -> Writer<'a> {
        let seed = shared.member_id.rotate_left(32) ^ peer.id;
        Writer {
            shared,
            peer,
            peer_hex: format!("{:016x}", peer.id),
            backoff: Backoff::new(shared.limits.backoff_initial, shared.limits.backoff_max, seed),
            failures_in_a_row: 0,
            snapshot: None,
        }
    }

    fn connected(&mut self) {
        self.failures_in_a_row = 0;
        self.backoff.reset();
        self.peer.set_active(true, None);
        info!(peer = %self.peer_hex, "peer became active");
        self.shared.emit(TransportEvent::PeerActive(self.peer.id));
    }

    /// The peer's URLs changed: the stream is closed to redial at once, keeping the queue. A
    /// snapshot transfer cannot continue on a new stream (the receiver reassembles per stream), so
    /// it is reported lost for Raft to send again.
    fn closed_to_redial(&mut self) {
        self.peer.set_active(false, None);
        if self.snapshot.take().is_some() {
            self.shared.drop_for_peer(self.peer, DropReason::StreamDown, 1);
            self.shared.emit(TransportEvent::SnapshotSent { peer: self.peer.id, success: false });
        }
    }

    /// The peer refused our stream: counted, logged and reported; returns the failure to record.
    fn refused(&self, reason: RefusalReason) -> String {
        bump(&self.shared.counters.refused_connections, 1);
        warn!(peer = %self.peer_hex, %reason, "peer refused our stream");
        self.shared.emit(TransportEvent::PeerRefused { peer: self.peer.id, reason });
        format!("refused: {reason}")
    }

    /// A dial failed or the stream broke: log it (loudly once per outage), discard what is queued,
    /// and tell the node the peer is unreachable once per outage.
    fn failed(&mut self, error: String) {
        self.failures_in_a_row += 1;
        let became_inactive = self.peer.set_active(false, Some(error.clone()));
        if became_inactive {
            warn!(peer = %self.peer_hex, reason = %error, "peer became inactive");
        } else if self.failures_in_a_row == 1 {
            // Never connected yet: say so once, not on every retry.
            info!(peer = %self.peer_hex, reason = %error, "cannot reach peer yet, will keep retrying");
        } else {
            debug!(peer = %self.peer_hex, reason = %error, "peer still unreachable");
        }
        if self.discard_everything(DropReason::StreamDown) {
            self.shared.emit(TransportEvent::SnapshotSent { peer: self.peer.id, success: false });
        }
        // Once per outage (the first failure after being active, or since start): Raft's
        // report_unreachable moves the peer to probing, and nothing can move it back before the
        // stream is up again, so repeating it every retry would only flood the node's logs.
        if self.failures_in_a_row == 1 {
            self.shared.emit(TransportEvent::PeerUnreachable(self.peer.id));
        }
    }

    /// The peer was removed or the transport stops: what is still queued or half sent is dropped.
    fn stopped(&mut self) {
        if self.peer.set_active(false, None) {
            debug!(peer = %self.peer_hex, "stream to peer closed");
        }
        let reason =
            if self.shared.cancel.is_cancelled() { DropReason::Stopped } else { DropReason::RemovedMember };
        self.discard_everything(reason);
    }

    /// Discards the queue and the snapshot in flight, counting them under `reason`; returns whether
    /// a snapshot was among them.
    fn discard_everything(&mut self, reason: DropReason) -> bool {
        let discarded = self.peer.queue.lock().expect("queue lock").clear();
        let in_flight = self.snapshot.take().is_some();
        self.shared.drop_for_peer(self.peer, reason, discarded.messages + usize::from(in_flight));
        discarded.had_snapshot || in_flight
    }
}
