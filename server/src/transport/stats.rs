//! The transport's counters: what it sent and received, and every message it dropped, by reason.
//!
//! Raft tolerates loss, so the transport drops instead of blocking; these counters are how an
//! operator sees it happen. Each drop is counted exactly once, under the first reason that applied
//! ([`DropReason`]). The tasks bump relaxed atomics ([`Counters`]); [`super::Transport::stats`] reads
//! them into a plain [`TransportStats`] for tests and for the shell's `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why the transport dropped a message. [`DropReason::name`] is the label for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// `send`: the peer's queue was at its message or byte bound.
    QueueFull,
    /// A newer snapshot for the same peer replaced one that was queued or half sent.
    SnapshotSuperseded,
    /// `send`: the destination is neither a peer nor a remote (and was never removed).
    UnknownPeer,
    /// For a removed member: sent to it after its removal, or queued for it when it was removed.
    RemovedMember,
    /// The message does not fit in one frame.
    Oversized,
    /// Queued or being written when the stream to the peer could not be established, broke, or was
    /// closed to redial new URLs.
    StreamDown,
    /// Received, but the node's inbound channel was full.
    InboundFull,
    /// Queued or received while the transport (or the node behind it) was stopping.
    Stopped,
}

impl DropReason {
    /// Every reason, in declaration order (the order of [`DroppedMessages::by_reason`]).
    pub const ALL: [DropReason; 8] = [
        DropReason::QueueFull,
        DropReason::SnapshotSuperseded,
        DropReason::UnknownPeer,
        DropReason::RemovedMember,
        DropReason::Oversized,
        DropReason::StreamDown,
        DropReason::InboundFull,
        DropReason::Stopped,
    ];

    /// A stable snake_case name, for a metrics label (`reason="queue_full"`).
    pub fn name(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::SnapshotSuperseded => "snapshot_superseded",
            DropReason::UnknownPeer => "unknown_peer",
            DropReason::RemovedMember => "removed_member",
            DropReason::Oversized => "oversized",
            DropReason::StreamDown => "stream_down",
            DropReason::InboundFull => "inbound_full",
            DropReason::Stopped => "stopped",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Messages dropped since start, one count per [`DropReason`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DroppedMessages {
    counts: [u64; DropReason::ALL.len()],
}

impl DroppedMessages {
    /// Messages dropped for `reason`.
    pub fn count(&self, reason: DropReason) -> u64 {
        self.counts[reason.index()]
    }

    /// Messages dropped for any reason.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Every reason with its count (zeros included), in [`DropReason::ALL`] order: one metrics
    /// sample per reason.
    pub fn by_reason(&self) -> [(DropReason, u64); DropReason::ALL.len()] {
        DropReason::ALL.map(|reason| (reason, self.count(reason)))
    }
}

/// Totals since start, for metrics and tests: what [`super::Transport::stats`] returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Messages written to peer streams (a snapshot counts once, when its last chunk is written).
    pub sent_messages: u64,
    /// Frame bytes written to peer streams, framing included.
    pub sent_bytes: u64,
    /// Messages read from peer streams, including those then dropped for a full inbound channel.
    pub received_messages: u64,
    /// Frame bytes read from peer streams after the handshake, framing included.
    pub received_bytes: u64,
    /// Messages dropped, by reason.
    pub dropped: DroppedMessages,
    /// Transport events dropped because the event channel was full or closed.
    pub dropped_events: u64,
    /// Handshakes refused, by us (inbound) or by the peer (outbound).
    pub refused_connections: u64,
    /// Dialers outside the membership taken on as remotes.
    pub remotes_added: u64,
    /// Established streams that ended on an error (either direction).
    pub broken_connections: u64,
}

/// The live counters behind [`TransportStats`], bumped by every task.
#[derive(Default)]
pub(super) struct Counters {
    pub sent_messages: AtomicU64,
    pub sent_bytes: AtomicU64,
    pub received_messages: AtomicU64,
    pub received_bytes: AtomicU64,
    dropped: [AtomicU64; DropReason::ALL.len()],
    pub dropped_events: AtomicU64,
    pub refused_connections: AtomicU64,
    pub remotes_added: AtomicU64,
    pub broken_connections: AtomicU64,
}

/// Adds `by` to a counter.
pub(super) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Counters {
    /// Counts `count` messages dropped for `reason`.
    pub fn count_dropped(&self, reason: DropReason, count: usize) {
        if count > 0 {
            bump(&self.dropped[reason.index()], count as u64);
        }
    }

    pub fn read(&self) -> TransportStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        TransportStats {
            sent_messages: get(&self.sent_messages),
            sent_bytes: get(&self.sent_bytes),
            received_messages: get(&self.received_messages),
            received_bytes: get(&self.received_bytes),
            dropped: DroppedMessages { counts: self.dropped.each_ref().map(get) },
            dropped_events: get(&self.dropped_events),
            refused_connections: get(&self.refused_connections),
            remotes_added: get(&self.remotes_added),
            broken_connections: get(&self.broken_connections),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_counter_and_a_distinct_name() {
        let counters = Counters::default();
        for (position, reason) in DropReason::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), position, "ALL is in declaration order");
            counters.count_dropped(reason, position + 1);
        }
        let dropped = counters.read().dropped;
        for (reason, count) in dropped.by_reason() {
            assert_eq!(count, reason.index() as u64 + 1, "{}", reason.name());
        }
        assert_eq!(dropped.total(), (1..=DropReason::ALL.len() as u64).sum::<u64>());
        let mut names: Vec<&str> = DropReason::ALL.iter().map(|reason| reason.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::ALL.len());
    }
}
