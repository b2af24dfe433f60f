//! The network between members: which links pass (partitions, clogs), loss, duplication, latency
//! and the order of forwarded proposals.

use std::collections::BTreeSet;

use raft::{Message, MessageBody, NodeId};
use rand::RngExt;

use super::World;
use super::events::Event;
use crate::history::Time;

pub(super) struct Network {
    pub(super) blocked: BTreeSet<(NodeId, NodeId)>,
    pub(super) clogged: BTreeSet<NodeId>,
    pub(super) loss_probability: f64,
    pub(super) duplicate_probability: f64,
    pub(super) faults_over: bool,
}

impl Network {
    pub(super) fn passes(&self, from: NodeId, to: NodeId) -> bool {
        !self.blocked.contains(&(from, to)) && !self.clogged.contains(&from) && !self.clogged.contains(&to)
    }
}

impl World<'_> {
    pub(super) fn send(&mut self, message: Message) {
        let (from, to) = (message.from, message.to);
        if from == to || !self.members.contains_key(&to) || !self.network.passes(from, to) {
            return;
        }
        if self.network.loss_probability > 0.0 && self.rng.random_bool(self.network.loss_probability) {
            return;
        }
        let may_duplicate =
            self.plan.duplicate_proposals || !matches!(message.body, MessageBody::Propose { .. });
        let copies = if may_duplicate
            && self.network.duplicate_probability > 0.0
            && self.rng.random_bool(self.network.duplicate_probability)
        {
            2
        } else {
            1
        };
        let latency = self.plan.latency;
        // Forwards travel in order on each link, as on the production transport's one TCP stream per
        // peer (the node's exactly-once bookkeeping relies on it); Raft's own messages may reorder.
        let in_order = !self.plan.duplicate_proposals && matches!(message.body, MessageBody::Propose { .. });
        for _ in 0..copies {
            let mut delay = latency.base;
            if latency.jitter > 0 {
                // Exponential tail: -ln(u) * mean.
                let uniform: f64 = self.rng.random_range(1e-9..1.0);
                delay += (-uniform.ln() * latency.jitter as f64) as Time;
            }
            if !self.network.faults_over && self.rng.random_bool(latency.spike_probability) {
                delay += latency.spike;
            }
            let mut at = self.now + delay.max(1);
            if in_order {
                let last = self.last_forward_delivery.entry((from, to)).or_insert(0);
                at = at.max(*last + 1);
                *last = at;
            }
            self.schedule(at, Event::Deliver { message: message.clone() });
        }
    }
}
