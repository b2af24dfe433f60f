//! The events of a run and the queue that orders them on virtual time.

use raft::{Message, NodeId};
use std::cmp::Ordering;

use crate::history::Time;

/// Bound on the event queue: a run that schedules more than this is broken.
pub(super) const MAX_QUEUED_EVENTS: usize = 1_000_000;

#[derive(Debug)]
pub(super) enum Event {
    Tick {
        node: NodeId,
        incarnation: u64,
    },
    Process {
        node: NodeId,
        incarnation: u64,
    },
    Deliver {
        message: Message,
    },
    ClientNext {
        client: usize,
    },
    ClientTimeout {
        client: usize,
        request_id: u64,
    },
    Fault {
        index: usize,
    },
    Clog {
        node: NodeId,
    },
    Unclog {
        node: NodeId,
    },
    Restart {
        node: NodeId,
    },
    /// The operator looks at the membership and acts (see `operator`).
    OperatorStep {
        generation: u64,
    },
    FaultPhaseEnd,
    /// Shortly before the deadline: remember the commit index every live member must reach.
    CatchUpMark,
    Deadline,
}

pub(super) struct Scheduled {
    pub(super) time: Time,
    pub(super) sequence: u64,
    pub(super) event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.sequence) == (other.time, other.sequence)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: BinaryHeap is a max-heap and the earliest event must come out first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.sequence).cmp(&(self.time, self.sequence))
    }
}
