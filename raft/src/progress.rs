//! The leader's view of one follower: how far it matches, what to send next, and the flow-control
//! state machine (Probe / Replicate / Snapshot) with an in-flight window bounded by count and bytes.

use std::collections::VecDeque;

use crate::types::Index;

/// How the leader currently talks to a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// The follower's match point is unknown: send one append at a time and wait for the answer.
    Probe,
    /// The follower is known to match: stream appends optimistically within the in-flight window.
    Replicate,
    /// The follower needs entries the leader compacted: a snapshot is on its way; send nothing else.
    Snapshot,
}

/// A read-only copy of a follower's progress, for tests and status pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgressView {
    pub match_index: Index,
    pub next_index: Index,
    pub state: ProgressState,
    pub recent_active: bool,
    pub is_learner: bool,
}

/// Appends sent but not acknowledged, as (last index carried, bytes carried), oldest first.
/// Bounded by a count and a byte budget; full means "pause sending".
#[derive(Clone, Debug)]
pub struct Inflights {
    window: VecDeque<(Index, usize)>,
    bytes: usize,
    max_count: usize,
    max_bytes: usize,
}

impl Inflights {
    pub fn new(max_count: usize, max_bytes: usize) -> Inflights {
        debug_assert!(max_count > 0 && max_bytes > 0);
        Inflights { window: VecDeque::new(), bytes: 0, max_count, max_bytes }
    }

    pub fn add(&mut self, last_index: Index, bytes: usize) {
        debug_assert!(!self.full(), "adding to a full in-flight window");
        debug_assert!(self.window.back().is_none_or(|&(last, _)| last < last_index));
        self.window.push_back((last_index, bytes));
        self.bytes += bytes;
    }

    /// Forgets every append whose last index is <= `index` (acknowledged).
    pub fn free_up_to(&mut self, index: Index) {
        while let Some(&(last, bytes)) = self.window.front() {
            if last > index {
                break;
            }
            self.window.pop_front();
            self.bytes -= bytes;
        }
    }

    pub fn free_first_one(&mut self) {
        if let Some((_, bytes)) = self.window.pop_front() {
            self.bytes -= bytes;
        }
    }

    pub fn full(&self) -> bool {
        self.window.len() >= self.max_count || self.bytes >= self.max_bytes
    }

    pub fn count(&self) -> usize {
        self.window.len()
    }

    pub fn reset(&mut self) {
        self.window.clear();
        self.bytes = 0;
    }
}

/// One follower's replication progress, kept by the leader.
#[derive(Clone, Debug)]
pub struct Progress {
    /// The highest index known to be replicated on the follower. Never moves backwards.
    match_index: Index,
    /// The next index to send. Always after `match_index`.
    next_index: Index,
    pub state: ProgressState,
    /// In Snapshot state: the index of the snapshot being sent.
    pub pending_snapshot: Index,
    /// Ticks spent in Snapshot state without an answer; the leader retries after a while so a lost
    /// snapshot never stalls the follower forever.
    pub snapshot_ticks: u32,
    /// In Probe state: an append is outstanding, wait for its answer (or a heartbeat answer).
    pub probe_sent: bool,
    /// Heard from since the last check-quorum round.
    pub recent_active: bool,
    pub is_learner: bool,
    pub inflights: Inflights,
}

impl Progress {
    pub fn new(
        next_index: Index,
        max_inflight_messages: usize,
        max_inflight_bytes: usize,
        is_learner: bool,
    ) -> Self {
        Progress {
            match_index: 0,
            next_index,
            state: ProgressState::Probe,
            pending_snapshot: 0,
            snapshot_ticks: 0,
            probe_sent: false,
            recent_active: false,
            is_learner,
            inflights: Inflights::new(max_inflight_messages, max_inflight_bytes),
        }
    }

    pub fn match_index(&self) -> Index {
        self.match_index
    }

    pub fn next_index(&self) -> Index {
        self.next_index
    }

    /// The invariants every mutation keeps: `match` never moved back from `previous_match`, and the
    /// next index to send lies after the match point.
    fn assert_invariants(&self, previous_match: Index) {
        assert!(
            self.match_index >= previous_match,
            "match index moved back from {previous_match} to {}",
            self.match_index
        );
        assert!(
            self.next_index > self.match_index,
            "next index {} not after match index {}",
            self.next_index,
            self.match_index
        );
    }

    /// Sends no further than `limit` (the leader's last index + 1); never below the match point.
    pub fn cap_next_index(&mut self, limit: Index) {
        self.next_index = self.next_index.min(limit);
        self.assert_invariants(self.match_index);
    }

    fn reset_state(&mut self, state: ProgressState) {
        self.state = state;
        self.probe_sent = false;
        self.pending_snapshot = 0;
        self.snapshot_ticks = 0;
        self.inflights.reset();
    }

    pub fn become_probe(&mut self) {
        // Leaving Snapshot state, resume after the snapshot if it was larger than the match.
        if self.state == ProgressState::Snapshot {
            let pending = self.pending_snapshot;
            self.reset_state(ProgressState::Probe);
            self.next_index = (self.match_index + 1).max(pending + 1);
        } else {
            self.reset_state(ProgressState::Probe);
            self.next_index = self.match_index + 1;
        }
        self.assert_invariants(self.match_index);
    }

    pub fn become_replicate(&mut self) {
        self.reset_state(ProgressState::Replicate);
        self.next_index = self.match_index + 1;
        self.assert_invariants(self.match_index);
    }

    pub fn become_snapshot(&mut self, snapshot_index: Index) {
        self.reset_state(ProgressState::Snapshot);
        self.pending_snapshot = snapshot_index;
    }

    /// The follower acknowledged everything up to `index`. Returns whether `match` moved; stale or
    /// reordered acknowledgements never move it backwards.
    pub fn maybe_update(&mut self, index: Index) -> bool {
        let previous_match = self.match_index;
        let updated = index > self.match_index;
        if updated {
            self.match_index = index;
            self.probe_sent = false;
        }
        self.next_index = self.next_index.max(index + 1);
        self.assert_invariants(previous_match);
        updated
    }

    /// The follower rejected the append after `rejected` and hinted that it may match up to
    /// `match_hint`. Returns false when the rejection is stale (answers an older append).
    pub fn maybe_decrease_to(&mut self, rejected: Index, match_hint: Index) -> bool {
        if self.state == ProgressState::Replicate {
            // Appends after the match point may have been lost or reordered; only a rejection above the
            // match point says something new. Restart from just after the match.
            if rejected <= self.match_index {
                return false;
            }
            self.next_index = self.match_index + 1;
            self.assert_invariants(self.match_index);
            return true;
        }
        // Probe (or Snapshot): only the answer to the latest probe counts.
        if self.next_index == 0 || self.next_index - 1 != rejected {
            return false;
        }
        self.next_index = rejected.min(match_hint.saturating_add(1)).max(self.match_index + 1);
        self.probe_sent = false;
        self.assert_invariants(self.match_index);
        true
    }

    /// Whether the leader should hold back appends to this follower.
    pub fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.full(),
            ProgressState::Snapshot => true,
        }
    }

    /// Records that an append carrying entries up to `last_index` (`bytes` of them, possibly none) left.
    pub fn sent_entries(&mut self, last_index: Index, entry_count: usize, bytes: usize) {
        match self.state {
            ProgressState::Replicate => {
                if entry_count > 0 {
                    assert!(last_index >= self.next_index, "sent entries end before the next index");
                    self.next_index = last_index + 1;
                    self.inflights.add(last_index, bytes);
                }
            }
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Snapshot => {}
        }
    }

    pub fn view(&self) -> ProgressView {
        ProgressView {
            match_index: self.match_index,
            next_index: self.next_index,
            state: self.state,
            recent_active: self.recent_active,
            is_learner: self.is_learner,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_never_moves_backwards_on_reordered_acks() {
        let mut progress = Progress::new(1, 8, 1 << 20, false);
        progress.become_replicate();
        assert!(progress.maybe_update(10));
        assert!(!progress.maybe_update(5));
        assert_eq!(progress.match_index, 10);
        assert_eq!(progress.next_index, 11);
    }

    #[test]
    #[should_panic(expected = "not after match index")]
    fn capping_the_next_index_below_the_match_point_trips_the_assertion() {
        let mut progress = Progress::new(1, 8, 1 << 20, false);
        progress.maybe_update(10);
        progress.cap_next_index(10);
    }

    #[test]
    fn stale_rejection_in_replicate_is_ignored() {
        let mut progress = Progress::new(1, 8, 1 << 20, false);
        progress.maybe_update(10);
        progress.become_replicate();
        progress.sent_entries(20, 10, 100);
        assert!(!progress.maybe_decrease_to(9, 9));
        assert_eq!(progress.next_index, 21);
        assert!(progress.maybe_decrease_to(15, 12));
        assert_eq!(progress.next_index, 11);
    }

    #[test]
    fn probe_only_accepts_the_answer_to_the_latest_probe_and_uses_the_hint() {
        let mut progress = Progress::new(50, 8, 1 << 20, false);
        progress.sent_entries(55, 5, 50);
        assert!(progress.is_paused());
        assert!(!progress.maybe_decrease_to(40, 10), "answers an older probe");
        assert!(progress.maybe_decrease_to(49, 20));
        assert_eq!(progress.next_index, 21);
        assert!(!progress.is_paused());
    }

    #[test]
    fn inflight_window_is_bounded_by_count_and_bytes() {
        let mut window = Inflights::new(2, 100);
        window.add(1, 10);
        assert!(!window.full());
        window.add(2, 10);
        assert!(window.full());
        window.free_up_to(1);
        assert!(!window.full());
        window.add(3, 95);
        assert!(window.full(), "byte budget exhausted");
        window.free_up_to(3);
        assert_eq!(window.count(), 0);
    }
}
