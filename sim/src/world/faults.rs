//! The faults of the plan carried out: network episodes (partitions, one-way cuts, bridges, leader
//! isolation, clogging waves, heals), crashes and power cuts (also of the next leader), clock jumps,
//! bit flips, membership changes handed to the operator, and the end of the fault phase.

use raft::NodeId;
use rand::RngExt;

use super::events::Event;
use super::operator::Task;
use super::{Failure, World};
use crate::history::Time;
use crate::plan::{Fault, Target};

impl World<'_> {
    /// The plan's fault number `index` is due (faults stop with the fault phase).
    pub(super) fn planned_fault(&mut self, index: usize) {
        if self.fault_phase_over {
            return;
        }
        let fault = self.plan.faults[index].fault.clone();
        self.apply_fault(fault);
    }

    fn apply_fault(&mut self, fault: Fault) {
        self.note(format!("fault: {fault:?}"));
        match fault {
            Fault::Partition { .. }
            | Fault::OneWay { .. }
            | Fault::IsolateLeader
            | Fault::Bridge { .. }
            | Fault::CloggingWave { .. }
            | Fault::Heal => self.apply_network_fault(fault),
            Fault::Crash { target: Target::NextLeader, .. }
            | Fault::PowerCut { target: Target::NextLeader, .. } => {
                self.next_leader_fault = Some(fault);
            }
            Fault::Crash { target, down_for_ns } => self.crash_for(target, down_for_ns),
            Fault::PowerCut { target, after_operations, down_for_ns } => {
                self.cut_power(target, after_operations, down_for_ns)
            }
            Fault::ClockJump { node, delta_ns } => {
                self.members.get_mut(&node).expect("member exists").clock.offset_ns += delta_ns;
            }
            Fault::FlipBit { node, down_for_ns } => self.flip_bit(node, down_for_ns),
            Fault::AddMember => self.operator_enqueue(Task::Add, false),
            Fault::RemoveMember { target } => {
                self.operator_enqueue(Task::Remove { target, replace: false }, false)
            }
            Fault::ReplaceMember { target } => {
                self.operator_enqueue(Task::Remove { target, replace: true }, false)
            }
        }
    }

    fn apply_network_fault(&mut self, fault: Fault) {
        // Every member that ever existed: a partition separates the given side from all others.
        let members: Vec<NodeId> = self.members.keys().copied().collect();
        match fault {
            Fault::Partition { side } => self.network.partition(&side, &members),
            Fault::OneWay { from } => self.network.one_way(&from, &members),
            Fault::IsolateLeader => {
                let leader = self.current_leader();
                // Without a leader, the partition just ends.
                self.network.partition(leader.as_slice(), &members);
                if let Some(leader) = leader {
                    self.note(format!("isolated leader {leader}"));
                }
            }
            Fault::Bridge { left, bridge: _, right } => self.network.bridge(&left, &right),
            Fault::CloggingWave { order, unclog_order, gap_ns } => {
                let count = order.len() as Time;
                for (step, node) in order.into_iter().enumerate() {
                    self.schedule(self.now + step as Time * gap_ns, Event::Clog { node });
                }
                for (step, node) in unclog_order.into_iter().enumerate() {
                    self.schedule(self.now + (count + step as Time) * gap_ns, Event::Unclog { node });
                }
            }
            Fault::Heal => self.network.heal(),
            other => unreachable!("not a network fault: {other:?}"),
        }
    }

    /// A step of a clogging wave: `node` stops talking (not once the fault phase is over).
    pub(super) fn clog(&mut self, node: NodeId) {
        if !self.fault_phase_over {
            self.network.clog(node);
        }
    }

    pub(super) fn unclog(&mut self, node: NodeId) {
        self.network.unclog(node);
    }

    /// The member a fault hits: the current leader, or a random endpoint when nobody leads.
    fn resolve(&mut self, target: Target) -> NodeId {
        match target {
            Target::Node(id) => id,
            Target::Leader | Target::NextLeader => match self.current_leader() {
                Some(leader) => leader,
                None => {
                    let endpoints = self.endpoints();
                    endpoints[self.random.random_range(0..endpoints.len())]
                }
            },
        }
    }

    fn crash_for(&mut self, target: Target, down_for_ns: Time) {
        let id = self.resolve(target);
        if self.members[&id].node.is_some() {
            self.note(format!("crash node {id} for {down_for_ns}ns"));
            self.crash_member(id);
            self.schedule(self.now + down_for_ns, Event::Restart { node: id });
        }
    }

    /// Arms a power cut: the member's disk fails after `after_operations` more mutating operations.
    fn cut_power(&mut self, target: Target, after_operations: u64, down_for_ns: Time) {
        let id = self.resolve(target);
        let member = &self.members[&id];
        if member.node.is_some()
            && member.power_cut_down_for_ns.is_none()
            && self.backend.cut_power_after(id, after_operations)
        {
            self.note(format!("power of node {id} fails after {after_operations} disk operations"));
            self.members.get_mut(&id).expect("member exists").power_cut_down_for_ns = Some(down_for_ns);
        }
    }

    /// Stops `node`, flips a bit in its files and restarts it later, unless that could leave too few
    /// healthy voters.
    fn flip_bit(&mut self, node: NodeId, down_for_ns: Time) {
        if self.members[&node].retired {
            return;
        }
        if !self.flip_keeps_quorum(node) {
            self.note(format!("no bit flip on node {node}: too few healthy voters would be left"));
            return;
        }
        self.crash_member(node);
        let seed = self.random.random::<u64>();
        let place = self.backend.flip_bit(node, seed);
        self.note(format!("flipped a bit on node {node}: {place}"));
        self.members.get_mut(&node).expect("member exists").corrupted = true;
        self.schedule(self.now + down_for_ns, Event::Restart { node });
    }

    /// Whether the voters whose disks stay intact still form a quorum if `node`'s disk is damaged
    /// (the plan damages at most a minority of the first members; removals may have left fewer).
    fn flip_keeps_quorum(&self, node: NodeId) -> bool {
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

    /// `node` just became leader: a crash or power cut planned for the next leader hits it now.
    pub(super) fn fault_on_new_leader(&mut self, node: NodeId) {
        if self.fault_phase_over {
            return;
        }
        let Some(fault) = self.next_leader_fault.take() else { return };
        let fault = match fault {
            Fault::Crash { down_for_ns, .. } => Fault::Crash { target: Target::Node(node), down_for_ns },
            Fault::PowerCut { after_operations, down_for_ns, .. } => {
                Fault::PowerCut { target: Target::Node(node), after_operations, down_for_ns }
            }
            other => other,
        };
        self.apply_fault(fault);
    }

    /// The fault phase is over: the network heals for good, changes not begun are dropped, and every
    /// member that is down (and not out for good) restarts.
    pub(super) fn end_fault_phase(&mut self) -> Result<(), Failure> {
        self.fault_phase_over = true;
        self.operator_fault_phase_over();
        self.network.heal_for_good();
        self.note("fault phase over: network healed, every member restarts".to_string());
        let ids: Vec<NodeId> = self.members.keys().copied().collect();
        for id in ids {
            if self.members[&id].power_cut_down_for_ns.is_some() {
                // Disarm a pending power cut the only way a disk allows: crash now.
                self.crash_member(id);
            }
            let member = &self.members[&id];
            if member.node.is_none() && !member.retired && member.incarnation > 0 {
                self.start_member(id)?;
            }
        }
        Ok(())
    }
}
