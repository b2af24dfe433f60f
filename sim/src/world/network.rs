//! The network between members: which links pass (partitions, one-way cuts, bridges, clogged
//! members), loss, duplication, latency, and the order of forwarded proposals; sending a message and
//! delivering it.

use std::collections::{BTreeMap, BTreeSet};

use raft::{Message, MessageBody, NodeId};
use rand::RngExt;

use super::World;
use super::events::Event;
use super::trace::message_kind;
use crate::history::Time;
use crate::plan::Plan;

pub(super) struct Network {
    /// Directed links that drop everything (from, to).
    blocked: BTreeSet<(NodeId, NodeId)>,
    /// Members whose links drop everything in both directions.
    clogged: BTreeSet<NodeId>,
    pub(super) loss_probability: f64,
    pub(super) duplicate_probability: f64,
    /// The fault phase is over: no more latency spikes.
    pub(super) faults_over: bool,
    /// Per link, when the last forwarded proposal is delivered (forwards keep their order).
    last_forward_delivery: BTreeMap<(NodeId, NodeId), Time>,
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
        }
    }

    /// Whether a message from `from` to `to` gets through now.
    pub(super) fn passes(&self, from: NodeId, to: NodeId) -> bool {
        !self.blocked.contains(&(from, to)) && !self.clogged.contains(&from) && !self.clogged.contains(&to)
    }

    /// No messages between `left` and `right`, in either direction (on top of what is blocked).
    fn block_between(&mut self, left: &[NodeId], right: &[NodeId]) {
        for &a in left {
            for &b in right {
                self.blocked.insert((a, b));
                self.blocked.insert((b, a));
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
        for &a in from {
            for &b in members {
                if !from.contains(&b) {
                    self.blocked.insert((a, b));
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
        *last = at;
        at
    }
}

impl World<'_> {
    /// Puts `message` on the network: dropped, or delivered once or twice after a random delay.
    pub(super) fn send(&mut self, message: Message) {
        let (from, to) = (message.from, message.to);
        let copies = self.copies_to_send(&message);
        // Forwards travel in order on each link, as on the production transport's one TCP stream per
        // peer (the node's exactly-once bookkeeping relies on it); Raft's own messages may reorder.
        let in_order = !self.plan.duplicate_proposals && matches!(message.body, MessageBody::Propose { .. });
        for _ in 0..copies {
            let mut at = self.now + self.delivery_delay().max(1);
            if in_order {
                at = self.network.in_order_delivery(from, to, at);
            }
            self.schedule(at, Event::Deliver { message: message.clone() });
        }
    }

    /// How many copies of `message` the network delivers: none when the link is cut or the message is
    /// lost, two when it is duplicated (forwarded proposals only with `--duplicate-proposals`).
    fn copies_to_send(&mut self, message: &Message) -> usize {
        let (from, to) = (message.from, message.to);
        if from == to || !self.members.contains_key(&to) || !self.network.passes(from, to) {
            return 0;
        }
        if self.network.loss_probability > 0.0 && self.rng.random_bool(self.network.loss_probability) {
            return 0;
        }
        let may_duplicate =
            self.plan.duplicate_proposals || !matches!(message.body, MessageBody::Propose { .. });
        if may_duplicate
            && self.network.duplicate_probability > 0.0
            && self.rng.random_bool(self.network.duplicate_probability)
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
        let mut delay = latency.base;
        if latency.jitter > 0 {
            // Exponential tail: -ln(u) * mean.
            let uniform: f64 = self.rng.random_range(1e-9..1.0);
            delay += (-uniform.ln() * latency.jitter as f64) as Time;
        }
        if !self.network.faults_over && self.rng.random_bool(latency.spike_probability) {
            delay += latency.spike;
        }
        delay
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
        // A partition that started while the message was in flight drops it too.
        if !self.network.passes(from, to) {
            return None;
        }
        let node = self.members.get_mut(&to)?.node.as_mut()?;
        if node.refuses(from) {
            // The transport refuses a removed member and tells it so; it exits.
            if self.members[&from].node.is_some() {
                self.member_exits_removed(from, &format!("was refused by node {to}"));
            }
            return None;
        }
        node.receive(message);
        self.request_process(to);
        Some(to)
    }
}
