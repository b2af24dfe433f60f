//! ReadIndex (Raft thesis §6.4): the leader records its commit index for a read, confirms it is still
//! the leader with one heartbeat round acknowledged by a quorum, and then releases the read.
//!
//! Each request gets a sequence number (`round`) that rides on the heartbeats as `read_context`; an
//! answer to round r proves the follower still followed us after every request <= r was registered,
//! so it counts for all of them.

use std::collections::{BTreeSet, VecDeque};

use crate::types::{Index, NodeId};

/// Bound of reads waiting for confirmation; beyond it read_index() is refused.
pub const MAX_PENDING_READS: usize = 4096;

#[derive(Clone, Debug)]
pub struct PendingRead {
    pub round: u64,
    /// The caller's opaque context (echoed in the ReadState).
    pub context: u64,
    /// Who asked: the leader itself or a follower that forwarded the request.
    pub from: NodeId,
    /// The commit index when the request arrived.
    pub index: Index,
    pub acknowledged_by: BTreeSet<NodeId>,
}

#[derive(Clone, Debug, Default)]
pub struct ReadOnly {
    pending: VecDeque<PendingRead>,
    last_round: u64,
}

impl ReadOnly {
    pub fn is_full(&self) -> bool {
        self.pending.len() >= MAX_PENDING_READS
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Reads waiting for confirmation.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Registers a read; returns the round to put on the heartbeat.
    pub fn add(&mut self, context: u64, from: NodeId, index: Index, leader: NodeId) -> u64 {
        debug_assert!(!self.is_full());
        self.last_round += 1;
        let mut acknowledged_by = BTreeSet::new();
        acknowledged_by.insert(leader);
        self.pending.push_back(PendingRead { round: self.last_round, context, from, index, acknowledged_by });
        self.last_round
    }

    /// Records that `from` answered the heartbeat of `round`; returns who acknowledged that round (the
    /// latest request it covers), or None when the round is unknown (stale or already released).
    pub fn acknowledge(&mut self, round: u64, from: NodeId) -> Option<&BTreeSet<NodeId>> {
        let mut covered = None;
        for (position, read) in self.pending.iter_mut().enumerate() {
            if read.round > round {
                break;
            }
            read.acknowledged_by.insert(from);
            covered = Some(position);
        }
        covered.map(|position| &self.pending[position].acknowledged_by)
    }

    /// Releases every read up to and including `round` (a quorum confirmed it), oldest first.
    pub fn release_through(&mut self, round: u64) -> Vec<PendingRead> {
        let mut released = Vec::new();
        while self.pending.front().is_some_and(|read| read.round <= round) {
            released.extend(self.pending.pop_front());
        }
        released
    }

    /// The newest round waiting, to attach to periodic heartbeats (0 for none).
    pub fn latest_round(&self) -> u64 {
        self.pending.back().map_or(0, |read| read.round)
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }
}
