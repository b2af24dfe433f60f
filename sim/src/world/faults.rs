//! The faults of the plan carried out: partitions and clogs, crashes and power cuts, clock jumps,
//! bit flips, and membership changes handed to the operator.

use raft::NodeId;
use rand::RngExt;

use super::events::Event;
use super::network::Network;
use super::operator::Task;
use super::{Failure, World};
use crate::history::Time;
use crate::plan::{Fault, Target};

impl World<'_> {
    pub(super) fn resolve(&mut self, target: Target) -> NodeId {
        match target {
            Target::Node(id) => id,
            Target::Leader | Target::NextLeader => match self.current_leader() {
                Some(leader) => leader,
                None => {
                    let endpoints = self.endpoints();
                    endpoints[self.rng.random_range(0..endpoints.len())]
                }
            },
        }
    }

    pub(super) fn apply_fault(&mut self, fault: Fault) -> Result<Option<NodeId>, Failure> {
        // Every member that ever existed: a partition separates the given side from all others.
        let members: Vec<NodeId> = self.members.keys().copied().collect();
        let block_between = |network: &mut Network, left: &[NodeId], right: &[NodeId]| {
            for &a in left {
                for &b in right {
                    network.blocked.insert((a, b));
                    network.blocked.insert((b, a));
                }
            }
        };
        self.note(format!("fault: {fault:?}"));
        match fault {
            Fault::Partition { side } => {
                self.network.blocked.clear();
                let other: Vec<NodeId> = members.iter().copied().filter(|id| !side.contains(id)).collect();
                block_between(&mut self.network, &side, &other);
            }
            Fault::OneWay { from } => {
                self.network.blocked.clear();
                for &a in &from {
                    for &b in &members {
                        if !from.contains(&b) {
                            self.network.blocked.insert((a, b));
                        }
                    }
                }
            }
            Fault::IsolateLeader => {
                self.network.blocked.clear();
                if let Some(leader) = self.current_leader() {
                    let other: Vec<NodeId> = members.iter().copied().filter(|&id| id != leader).collect();
                    block_between(&mut self.network, &[leader], &other);
                    self.note(format!("isolated leader {leader}"));
                }
            }
            Fault::Bridge { left, bridge: _, right } => {
                self.network.blocked.clear();
                block_between(&mut self.network, &left, &right);
            }
            Fault::CloggingWave { order, unclog_order, gap } => {
                let count = order.len() as Time;
                for (step, node) in order.into_iter().enumerate() {
                    self.schedule(self.now + step as Time * gap, Event::Clog { node });
                }
                for (step, node) in unclog_order.into_iter().enumerate() {
                    self.schedule(self.now + (count + step as Time) * gap, Event::Unclog { node });
                }
            }
            Fault::Heal => {
                self.network.blocked.clear();
                self.network.clogged.clear();
            }
            Fault::Crash { target: Target::NextLeader, .. }
            | Fault::PowerCut { target: Target::NextLeader, .. } => {
                self.next_leader_fault = Some(fault);
            }
            Fault::Crash { target, down_for } => {
                let id = self.resolve(target);
                if self.members[&id].node.is_some() {
                    self.note(format!("crash node {id} for {down_for}ns"));
                    self.crash_member(id);
                    self.schedule(self.now + down_for, Event::Restart { node: id });
                }
            }
            Fault::PowerCut { target, after_operations, down_for } => {
                let id = self.resolve(target);
                let member = &self.members[&id];
                if member.node.is_some()
                    && member.power_cut.is_none()
                    && self.backend.cut_power_after(id, after_operations)
                {
                    self.note(format!("power of node {id} fails after {after_operations} disk operations"));
                    self.members.get_mut(&id).expect("member exists").power_cut = Some(down_for);
                }
            }
            Fault::ClockJump { node, delta_ns } => {
                self.members.get_mut(&node).expect("member exists").clock.offset_ns += delta_ns;
            }
            Fault::FlipBit { node, down_for } => {
                let member = &self.members[&node];
                if !member.retired && !self.flip_keeps_quorum(node) {
                    self.note(format!("no bit flip on node {node}: too few healthy voters would be left"));
                } else if !member.retired {
                    self.crash_member(node);
                    let seed = self.rng.random::<u64>();
                    let place = self.backend.flip_bit(node, seed);
                    self.note(format!("flipped a bit on node {node}: {place}"));
                    self.members.get_mut(&node).expect("member exists").corrupted = true;
                    self.schedule(self.now + down_for, Event::Restart { node });
                }
            }
            Fault::AddMember => self.operator_enqueue(Task::Add, false),
            Fault::RemoveMember { target } => {
                self.operator_enqueue(Task::Remove { target, replace: false }, false)
            }
            Fault::ReplaceMember { target } => {
                self.operator_enqueue(Task::Remove { target, replace: true }, false)
            }
        }
        Ok(None)
    }

    /// Whether the voters whose disks stay intact still form a quorum if `node`'s disk is damaged
    /// (the plan damages at most a minority of the first members; removals may have left fewer).
    pub(super) fn flip_keeps_quorum(&self, node: NodeId) -> bool {
        // The most up-to-date running member's view of the voters.
        let voters: Vec<NodeId> = self
            .members
            .values()
            .filter_map(|member| member.node.as_ref())
            .max_by_key(|node| node.view().applied)
            .map(|node| node.membership().voters.into_iter().collect())
            .filter(|voters: &Vec<NodeId>| !voters.is_empty())
            .unwrap_or_else(|| self.plan.members());
        let healthy_quorum = |voters: &[NodeId]| {
            let healthy = voters
                .iter()
                .filter(|id| **id != node)
                .filter(|id| self.members.get(id).is_some_and(|member| !member.retired && !member.corrupted))
                .count();
            healthy > voters.len() / 2
        };
        // A removal under way takes effect on append, before it commits: both configurations must
        // keep a healthy quorum, or neither can commit anything.
        let after_removal: Vec<NodeId> = match self.operator.pending_removal() {
            Some(removed) => voters.iter().copied().filter(|id| *id != removed).collect(),
            None => voters.clone(),
        };
        healthy_quorum(&voters) && healthy_quorum(&after_removal)
    }
}
