//! The network between members: which links pass (partitions, one-way cuts, bridges, clogged
//! members), loss, duplication, latency, and the order of forwarded proposals; sending a message and
//! delivering it.

use std::collections::{BTreeMap, BTreeSet};

use raft::{Message, MessageBody, NodeId};
use rand::RngExt;

use super::events::Event;
use super::trace::message_kind;
use super::{Check, Failure, World};
use crate::history::Time;
use crate::plan::Plan;

/// Bound on the messages in flight on one link (one direction): far above any healthy run (the most
/// seen over hundreds of seeds is a dozen), so a link that holds more is a message storm and ends the
/// run as a liveness failure. The 15 members a seed's run has at most (7, plus 5 added and 3
/// replacing corrupted ones) make 210 links: the network alone stays far below `MAX_QUEUED_EVENTS`.
pub(super) const MAX_IN_FLIGHT_PER_LINK: usize = 1_000;

/// What the network did with the messages it was given. Every copy it schedules is delivered, dropped
/// on arrival, or still in flight.
#[derive(Default)]
pub(super) struct MessageAccounts {
    /// Messages members sent.
    sent: u64,
    /// Messages dropped when sent: to itself or an unknown member, over a cut link, or lost.
    dropped_on_send: u64,
    /// Copies scheduled for delivery (a duplicated message counts twice).
    scheduled: u64,
    /// Copies that arrived and were handed to their recipient.
    delivered: u64,
    /// Copies that arrived to a cut link, a stopped recipient, or a recipient that refused the sender.
    dropped_on_arrival: u64,
    /// Copies in flight per link (from, to); links with none are left out.
    in_flight: BTreeMap<(NodeId, NodeId), usize>,
}

impl MessageAccounts {
    /// Copies in flight on all links.
    pub(super) fn in_flight_total(&self) -> u64 {
        self.in_flight.values().map(|count| *count as u64).sum()
    }

    /// Every scheduled copy is delivered, dropped on arrival or in flight; every sent message was
    /// dropped on send or scheduled once or twice.
    pub(super) fn assert_balanced(&self) {
        assert_eq!(
            self.scheduled,
            self.delivered + self.dropped_on_arrival + self.in_flight_total(),
            "every scheduled copy is delivered, dropped on arrival or in flight"
        );
        assert!(
            self.sent - self.dropped_on_send <= self.scheduled
                && self.scheduled <= 2 * (self.sent - self.dropped_on_send),
            "a message that is not dropped is scheduled once or twice"
        );
        assert!(
            self.in_flight.values().all(|count| (1..=MAX_IN_FLIGHT_PER_LINK).contains(count)),
            "link bound"
        );
    }

    fn copy_scheduled(&mut self, from: NodeId, to: NodeId) {
        let count = self.in_flight.entry((from, to)).or_insert(0);
        *count += 1;
        assert!(*count <= MAX_IN_FLIGHT_PER_LINK, "link bound checked before sending");
        self.scheduled += 1;
    }

    /// A copy left the link (delivered or dropped on arrival).
    fn copy_arrived(&mut self, from: NodeId, to: NodeId) {
        let count = self.in_flight.get_mut(&(from, to)).expect("an arriving copy was in flight");
        assert!(*count > 0, "an arriving copy was in flight");
        *count -= 1;
        if *count == 0 {
            self.in_flight.remove(&(from, to));
        }
    }

    fn in_flight_on(&self, from: NodeId, to: NodeId) -> usize {
        self.in_flight.get(&(from, to)).copied().unwrap_or(0)
    }
}

pub(super) struct Network {
    /// Directed links that drop everything (from, to).
    blocked: BTreeSet<(NodeId, NodeId)>,
    /// Members whose links drop everything in both directions.
    clogged: BTreeSet<NodeId>,
    loss_probability: f64,
    duplicate_probability: f64,
    /// The fault phase is over: no more latency spikes.
    faults_over: bool,
    /// Per link, when the last forwarded proposal is delivered (forwards keep their order).
    last_forward_delivery: BTreeMap<(NodeId, NodeId), Time>,
    pub(super) accounts: MessageAccounts,
}

impl Network {
    pub(super) fn new(plan: &Plan) -> Network {
        Network {
            blocked: BTreeSet::new(),
            clogged: BTreeSet::new(),
            loss_probability: plan.loss_probability,
            duplicate_probability: plan.duplicate_probability,
            faults_over: false,
            last_forward_delivery: BTreeMap::new(),
            accounts: MessageAccounts::default(),
        }
    }

    /// Whether a message from `from` to `to` gets through now.
    pub(super) fn passes(&self, from: NodeId, to: NodeId) -> bool {
        !self.blocked.contains(&(from, to)) && !self.clogged.contains(&from) && !self.clogged.contains(&to)
    }

    /// No messages between `left` and `right`, in either direction (on top of what is blocked).
    fn block_between(&mut self, left: &[NodeId], right: &[NodeId]) {
        for &left_member in left {
            for &right_member in right {
                self.blocked.insert((left_member, right_member));
                self.blocked.insert((right_member, left_member));
            }
        }
    }

    /// Replaces the partition: `side` is cut off from the rest of `members`.
    pub(super) fn partition(&mut self, side: &[NodeId], members: &[NodeId]) {
        self.blocked.clear();
        let other: Vec<NodeId> = members.iter().copied().filter(|id| !side.contains(id)).collect();
        self.block_between(side, &other);
    }

    /// Replaces the partition: messages from `from` to the rest of `members` are dropped; the other
    /// direction works.
    pub(super) fn one_way(&mut self, from: &[NodeId], members: &[NodeId]) {
        self.blocked.clear();
        for &sender in from {
            for &receiver in members {
                if !from.contains(&receiver) {
                    self.blocked.insert((sender, receiver));
                }
            }
        }
    }

    /// Replaces the partition: `left` and `right` only talk through whoever is in neither.
    pub(super) fn bridge(&mut self, left: &[NodeId], right: &[NodeId]) {
        self.blocked.clear();
        self.block_between(left, right);
    }

    /// Every link works again.
    pub(super) fn heal(&mut self) {
        self.blocked.clear();
        self.clogged.clear();
    }

    /// The fault phase is over: every link works, nothing is lost or duplicated, no spikes.
    pub(super) fn heal_for_good(&mut self) {
        self.faults_over = true;
        self.heal();
        self.loss_probability = 0.0;
        self.duplicate_probability = 0.0;
    }

    pub(super) fn clog(&mut self, node: NodeId) {
        self.clogged.insert(node);
    }

    pub(super) fn unclog(&mut self, node: NodeId) {
        self.clogged.remove(&node);
    }

    /// A forwarded proposal from `from` to `to` arriving at `at` at the earliest: never before the
    /// previous one on the same link.
    fn in_order_delivery(&mut self, from: NodeId, to: NodeId, at: Time) -> Time {
        let last = self.last_forward_delivery.entry((from, to)).or_insert(0);
        let at = at.max(*last + 1);
        assert!(at > *last, "forwards on a link arrive in the order they were sent");
        *last = at;
        at
    }
}

impl World<'_> {
    /// Puts `message` on the network: dropped, or delivered once or twice after a random delay. A
    /// link over its bound of messages in flight fails the run (a message storm).
    pub(super) fn send(&mut self, message: Message) -> Result<(), Failure> {
        let (from, to) = (message.from, message.to);
        let copies = self.copies_to_send(&message);
        if self.network.accounts.in_flight_on(from, to) + copies > MAX_IN_FLIGHT_PER_LINK {
            return Err(self.fail(
                Check::Liveness,
                format!("message storm: more than {MAX_IN_FLIGHT_PER_LINK} messages in flight from node {from} to {to}"),
            ));
        }
        self.network.accounts.sent += 1;
        if copies == 0 {
            self.network.accounts.dropped_on_send += 1;
        }
        // Forwards travel in order on each link, as on the production transport's one TCP stream per
        // peer (the node's exactly-once bookkeeping relies on it); Raft's own messages may reorder.
        let in_order = !self.plan.duplicate_proposals && matches!(message.body, MessageBody::Propose { .. });
        for _ in 0..copies {
            let mut at = self.now + self.delivery_delay().max(1);
            if in_order {
                at = self.network.in_order_delivery(from, to, at);
            }
            self.network.accounts.copy_scheduled(from, to);
            self.schedule(at, Event::Deliver { message: message.clone() });
        }
        Ok(())
    }

    /// How many copies of `message` the network delivers: none when the link is cut or the message is
    /// lost, two when it is duplicated (forwarded proposals only with `--duplicate-proposals`).
    fn copies_to_send(&mut self, message: &Message) -> usize {
        let (from, to) = (message.from, message.to);
        if from == to || !self.members.contains_key(&to) || !self.network.passes(from, to) {
            return 0;
        }
        if self.network.loss_probability > 0.0 && self.random.random_bool(self.network.loss_probability) {
            return 0;
        }
        let may_duplicate =
            self.plan.duplicate_proposals || !matches!(message.body, MessageBody::Propose { .. });
        if may_duplicate
            && self.network.duplicate_probability > 0.0
            && self.random.random_bool(self.network.duplicate_probability)
        {
            2
        } else {
            1
        }
    }

    /// One message's delay: the base latency, an exponential tail and, during the fault phase, a rare
    /// spike.
    fn delivery_delay(&mut self) -> Time {
        let latency = self.plan.latency;
        let mut delay_ns = latency.base_ns;
        if latency.jitter_ns > 0 {
            // Exponential tail: -ln(u) * mean.
            let uniform: f64 = self.random.random_range(1e-9..1.0);
            delay_ns += (-uniform.ln() * latency.jitter_ns as f64) as Time;
        }
        if !self.network.faults_over && self.random.random_bool(latency.spike_probability) {
            delay_ns += latency.spike_ns;
        }
        delay_ns
    }

    /// A message arrives: its recipient takes it if the link still passes and the recipient runs. A
    /// recipient that knows the sender was removed refuses it instead, and the sender exits. Returns
    /// the member that received it.
    pub(super) fn deliver(&mut self, message: Message) -> Option<NodeId> {
        let (from, to) = (message.from, message.to);
        self.hash.word(from);
        self.hash.word(to);
        self.hash.word(message.term);
        self.hash.word(message_kind(&message.body));
        self.network.accounts.copy_arrived(from, to);
        // A partition that started while the message was in flight drops it too.
        let recipient = self.members.get_mut(&to).and_then(|member| member.node.as_mut());
        let Some(node) = recipient.filter(|_| self.network.passes(from, to)) else {
            self.network.accounts.dropped_on_arrival += 1;
            return None;
        };
        if node.refuses(from) {
            self.network.accounts.dropped_on_arrival += 1;
            // The transport refuses a removed member and tells it so; it exits.
            if self.members[&from].node.is_some() {
                self.member_exits_removed(from, &format!("was refused by node {to}"));
            }
            return None;
        }
        node.receive(message);
        self.network.accounts.delivered += 1;
        self.request_process(to);
        Some(to)
    }
}
