//! The events of a run and the queue that orders them on virtual time: earliest first, and events
//! due at the same instant in the order they were scheduled.

use std::cmp::Reverse;
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

/// Where an event waits in the queue: ordered by (time, sequence) (unique, so `slot` never decides),
/// reversed because `BinaryHeap` is a max-heap and the earliest event must come out first. The heap
/// moves only these keys; the events (a message is large) stay in their slots.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key(Reverse<(Time, u64)>, u32);

/// The pending events of a run.
#[derive(Default)]
pub(super) struct EventQueue {
    heap: BinaryHeap<Key>,
    /// The events, by slot; a slot is free (None) once its event came out.
    slots: Vec<Option<Event>>,
    /// Free slots, reused before new ones are made (so `slots` never outgrows the queue's bound).
    free_slots: Vec<u32>,
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
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                debug_assert!(self.slots[slot as usize].is_none(), "a free slot holds no event");
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                self.slots.push(Some(event));
                (self.slots.len() - 1) as u32
            }
        };
        assert!(self.slots.len() <= MAX_QUEUED_EVENTS, "the slots stay within the queue's bound");
        self.heap.push(Key(Reverse((at, self.sequence)), slot));
    }

    /// How many messages are waiting to be delivered.
    pub(super) fn deliveries(&self) -> usize {
        self.slots.iter().filter(|event| matches!(event, Some(Event::Deliver { .. }))).count()
    }

    /// The earliest event and its time; among events due at the same instant, the first scheduled.
    pub(super) fn pop(&mut self) -> Option<(Time, Event)> {
        let Key(Reverse((time, sequence)), slot) = self.heap.pop()?;
        let event = self.slots[slot as usize].take().expect("a queued key's slot holds its event");
        self.free_slots.push(slot);
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
