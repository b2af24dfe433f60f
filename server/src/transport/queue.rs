//! A peer's outbound queue: the messages waiting for its writer, under a message and a byte bound.
//!
//! The byte bound uses a cheap estimate of each message's encoded size ([`approximate_bytes`]). A
//! snapshot does not count against either bound (one may exceed the byte bound by itself); instead
//! at most one waits, in its own slot, and a newer one supersedes it.
//!
//! Invariants, asserted where the queue changes: `queued_bytes` is the sum of the sizes recorded for
//! the queued messages (it only grows by a pushed message's size and returns to zero when the queue
//! is drained, so it never goes below zero), it never exceeds the byte bound, the queue never holds
//! more than the message bound, and snapshots sit only in the snapshot slot.

use std::collections::VecDeque;

use raft::types::{EntryPayload, Message, MessageBody};

/// The bounds of one queue ([`super::TransportLimits::max_queued_messages`] and `max_queued_bytes`).
#[derive(Clone, Copy, Debug)]
pub(super) struct QueueBounds {
    pub max_messages: usize,
    pub max_bytes: usize,
}

/// What [`PeerQueue::push`] did with a message.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Pushed {
    /// Queued; the writer needs a wakeup if the queue was empty before.
    Queued { was_empty: bool },
    /// A snapshot queued in place of an older one, which is dropped (superseded).
    ReplacedSnapshot,
    /// Not queued: the queue is at its message or byte bound.
    Full,
}

/// What [`PeerQueue::clear`] discarded.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Discarded {
    /// Messages discarded, the snapshot included.
    pub messages: usize,
    pub had_snapshot: bool,
}

/// A queued message with the size it was accounted at.
struct Queued {
    message: Message,
    size_bytes: usize,
}

pub(super) struct PeerQueue {
    bounds: QueueBounds,
    messages: VecDeque<Queued>,
    /// The sum of `messages[..].size_bytes`.
    queued_bytes: usize,
    snapshot: Option<Message>,
}

impl PeerQueue {
    pub fn new(bounds: QueueBounds) -> PeerQueue {
        assert!(bounds.max_messages > 0, "a queue must hold at least one message");
        PeerQueue { bounds, messages: VecDeque::new(), queued_bytes: 0, snapshot: None }
    }

    /// Messages waiting, the snapshot included.
    pub fn len(&self) -> usize {
        self.messages.len() + usize::from(self.snapshot.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes accounted for the queued messages (the snapshot is not counted).
    #[cfg(test)]
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Queues `message` unless that would break a bound; a snapshot replaces any older one.
    pub fn push(&mut self, message: Message) -> Pushed {
        let was_empty = self.is_empty();
        if is_snapshot(&message) {
            let replaced = self.snapshot.replace(message).is_some();
            self.check_invariants();
            return if replaced { Pushed::ReplacedSnapshot } else { Pushed::Queued { was_empty } };
        }
        let size_bytes = approximate_bytes(&message);
        let new_total = self.queued_bytes.checked_add(size_bytes);
        let fits = new_total.is_some_and(|total| total <= self.bounds.max_bytes);
        if self.messages.len() >= self.bounds.max_messages || !fits {
            return Pushed::Full;
        }
        self.queued_bytes = new_total.expect("checked above");
        self.messages.push_back(Queued { message, size_bytes });
        self.check_invariants();
        Pushed::Queued { was_empty }
    }

    /// Moves every queued message, in order, to the end of `batch`, and returns the waiting snapshot.
    pub fn take_all(&mut self, batch: &mut Vec<Message>) -> Option<Message> {
        batch.extend(self.messages.drain(..).map(|queued| queued.message));
        self.queued_bytes = 0;
        let snapshot = self.snapshot.take();
        self.check_invariants();
        snapshot
    }

    /// Empties the queue and says what it held.
    pub fn clear(&mut self) -> Discarded {
        let discarded = Discarded { messages: self.len(), had_snapshot: self.snapshot.is_some() };
        self.messages.clear();
        self.queued_bytes = 0;
        self.snapshot = None;
        self.check_invariants();
        discarded
    }

    /// The invariants of the module comment. The bounds are checked always (constant time); the
    /// byte sum, which walks the queue, in debug builds and in this module's tests.
    fn check_invariants(&self) {
        assert!(
            self.messages.len() <= self.bounds.max_messages,
            "queue holds {} messages, bound {}",
            self.messages.len(),
            self.bounds.max_messages
        );
        assert!(
            self.queued_bytes <= self.bounds.max_bytes,
            "queue accounts {} bytes, bound {}",
            self.queued_bytes,
            self.bounds.max_bytes
        );
        assert!(self.messages.is_empty() || self.queued_bytes > 0, "queued messages account no bytes");
        assert!(self.snapshot.as_ref().is_none_or(is_snapshot), "a non-snapshot in the snapshot slot");
        if cfg!(any(debug_assertions, test)) {
            self.check_byte_sum();
        }
    }

    fn check_byte_sum(&self) {
        let sum: usize = self.messages.iter().map(|queued| queued.size_bytes).sum();
        assert_eq!(sum, self.queued_bytes, "queued bytes differ from the sum of the queued messages");
        assert!(self.messages.iter().all(|queued| !is_snapshot(&queued.message)), "a queued snapshot");
    }
}

fn is_snapshot(message: &Message) -> bool {
    matches!(message.body, MessageBody::InstallSnapshot { .. })
}

/// A cheap estimate of a message's encoded size, for the per-peer byte bound. Never zero.
pub(super) fn approximate_bytes(message: &Message) -> usize {
    const HEADER_BYTES: usize = 32;
    HEADER_BYTES
        + match &message.body {
            MessageBody::AppendEntries { entries, .. } => {
                entries.iter().map(|entry| entry.size_bytes()).sum()
            }
            MessageBody::Propose { entries } => entries.iter().map(payload_bytes).sum(),
            MessageBody::InstallSnapshot { snapshot } => snapshot.data.len(),
            _ => 0,
        }
}

fn payload_bytes(payload: &EntryPayload) -> usize {
    match payload {
        EntryPayload::Empty => 1,
        EntryPayload::Normal(data) => data.len() + 8,
        EntryPayload::ConfChange(change) => change.context.len() + 16 * change.changes.len() + 8,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use raft::types::Snapshot;

    use super::*;

    fn heartbeat(commit: u64) -> Message {
        Message { from: 1, to: 2, term: 1, body: MessageBody::Heartbeat { commit, read_context: 0 } }
    }

    fn proposal(data_bytes: usize) -> Message {
        let data = Bytes::from(vec![7u8; data_bytes]);
        Message {
            from: 1,
            to: 2,
            term: 1,
            body: MessageBody::Propose { entries: vec![EntryPayload::Normal(data)] },
        }
    }

    fn snapshot(term: u64) -> Message {
        let snapshot = Snapshot { data: Bytes::from(vec![1u8; 4096]), ..Snapshot::default() };
        Message { from: 1, to: 2, term, body: MessageBody::InstallSnapshot { snapshot } }
    }

    #[test]
    fn filling_past_the_message_bound_refuses_the_excess_and_keeps_the_accounting() {
        let mut queue = PeerQueue::new(QueueBounds { max_messages: 3, max_bytes: 1 << 20 });
        assert_eq!(queue.push(heartbeat(1)), Pushed::Queued { was_empty: true });
        assert_eq!(queue.push(heartbeat(2)), Pushed::Queued { was_empty: false });
        assert_eq!(queue.push(heartbeat(3)), Pushed::Queued { was_empty: false });
        assert_eq!(queue.push(heartbeat(4)), Pushed::Full);
        assert_eq!(queue.len(), 3);
        assert_eq!(queue.queued_bytes(), 3 * approximate_bytes(&heartbeat(1)));
    }

    #[test]
    fn the_byte_bound_refuses_a_message_that_would_cross_it_but_takes_one_that_fits() {
        let mut queue = PeerQueue::new(QueueBounds { max_messages: 100, max_bytes: 1000 });
        assert_eq!(queue.push(proposal(600)), Pushed::Queued { was_empty: true });
        assert_eq!(queue.push(proposal(600)), Pushed::Full);
        assert_eq!(queue.push(proposal(100)), Pushed::Queued { was_empty: false });
        assert_eq!(
            queue.queued_bytes(),
            approximate_bytes(&proposal(600)) + approximate_bytes(&proposal(100))
        );
        assert!(queue.queued_bytes() <= 1000);
    }

    #[test]
    fn a_snapshot_waits_outside_the_bounds_and_a_newer_one_replaces_it() {
        let mut queue = PeerQueue::new(QueueBounds { max_messages: 1, max_bytes: 64 });
        assert_eq!(queue.push(heartbeat(1)), Pushed::Queued { was_empty: true });
        assert_eq!(queue.push(snapshot(5)), Pushed::Queued { was_empty: false });
        assert_eq!(queue.push(snapshot(6)), Pushed::ReplacedSnapshot);
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.queued_bytes(), approximate_bytes(&heartbeat(1)), "the snapshot is not accounted");
        let mut batch = Vec::new();
        let waiting = queue.take_all(&mut batch).expect("the snapshot waits");
        assert_eq!(waiting.term, 6, "the newer snapshot won");
        assert_eq!(batch, vec![heartbeat(1)]);
    }

    #[test]
    fn draining_and_clearing_return_the_accounting_to_zero() {
        let mut queue = PeerQueue::new(QueueBounds { max_messages: 10, max_bytes: 1 << 20 });
        for commit in 0..5 {
            queue.push(heartbeat(commit));
        }
        let mut batch = vec![heartbeat(99)];
        assert!(queue.take_all(&mut batch).is_none());
        let expected: Vec<Message> = [99, 0, 1, 2, 3, 4].into_iter().map(heartbeat).collect();
        assert_eq!(batch, expected, "appended in order after what was there");
        assert_eq!((queue.len(), queue.queued_bytes()), (0, 0));
        queue.push(heartbeat(1));
        queue.push(snapshot(2));
        assert_eq!(queue.clear(), Discarded { messages: 2, had_snapshot: true });
        assert_eq!((queue.len(), queue.queued_bytes()), (0, 0));
        assert_eq!(queue.push(heartbeat(2)), Pushed::Queued { was_empty: true });
    }

    #[test]
    fn every_message_accounts_a_positive_size() {
        assert!(approximate_bytes(&heartbeat(0)) > 0);
        assert!(approximate_bytes(&proposal(0)) > approximate_bytes(&heartbeat(0)));
        assert!(approximate_bytes(&proposal(1000)) >= 1000);
    }
}
