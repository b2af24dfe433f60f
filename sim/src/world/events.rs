//! The events of a run and the queue that orders them on virtual time: earliest first, and events
//! due at the same instant in the order they were scheduled.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use raft::{Message, NodeId};

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

struct Scheduled {
    time: Time,
    sequence: u64,
    event: Event,
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

/// The pending events of a run.
#[derive(Default)]
pub(super) struct EventQueue {
    heap: BinaryHeap<Scheduled>,
    /// How many events were ever scheduled: the next one's sequence number.
    sequence: u64,
    /// (time, sequence) of the last event taken out: every later one comes after it.
    last_popped: Option<(Time, u64)>,
}

impl EventQueue {
    /// Schedules `event` at virtual time `at`, which is never before `now`.
    pub(super) fn push(&mut self, now: Time, at: Time, event: Event) {
        assert!(self.heap.len() < MAX_QUEUED_EVENTS, "event queue bound exceeded");
        assert!(at >= now, "events are never scheduled in the past ({at} < {now})");
        assert!(self.last_popped.is_none_or(|(time, _)| time <= now), "now is never before the last event");
        self.sequence += 1;
        self.heap.push(Scheduled { time: at, sequence: self.sequence, event });
    }

    /// How many messages are waiting to be delivered.
    pub(super) fn deliveries(&self) -> usize {
        self.heap.iter().filter(|scheduled| matches!(scheduled.event, Event::Deliver { .. })).count()
    }

    /// The earliest event and its time; among events due at the same instant, the first scheduled.
    pub(super) fn pop(&mut self) -> Option<(Time, Event)> {
        let Scheduled { time, sequence, event } = self.heap.pop()?;
        assert!(
            self.last_popped.is_none_or(|last| last < (time, sequence)),
            "events come out in (time, sequence) order: {:?} after {:?}",
            (time, sequence),
            self.last_popped
        );
        assert!(sequence <= self.sequence, "only scheduled events come out");
        self.last_popped = Some((time, sequence));
        Some((time, event))
    }
}
