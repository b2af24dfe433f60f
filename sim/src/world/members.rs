//! The members: their clocks and the harness's record of each, their lives (start, tick, process,
//! crash, restart, exit once removed), and who they are to clients and faults (leader, endpoints).

use std::collections::BTreeMap;

use raft::{Index, NodeId, Role, Term};
use rand::RngExt;

use super::events::Event;
use super::{Check, Failure, World};
use crate::cluster::{NodeOutput, NodeView, SimNode, StartConfig};
use crate::history::Time;
use crate::plan::{Fault, Plan, TICK_INTERVAL_NS};

/// The wall-clock time (Unix ns) at virtual time zero, for every member before skew: fixed, so runs
/// replay exactly.
pub(super) const EPOCH_NS: i64 = 1_700_000_000_000_000_000;

/// A member's wall clock: it runs at its own rate and may be offset or jump.
#[derive(Clone, Copy)]
pub(super) struct Clock {
    pub(super) drift_ppm: i64,
    pub(super) offset_ns: i64,
}

impl Clock {
    pub(super) fn wall_ns(&self, virtual_time: Time) -> i64 {
        debug_assert!(self.drift_ppm > -1_000_000, "a clock runs forward");
        let elapsed = virtual_time as i64;
        EPOCH_NS + self.offset_ns + elapsed + elapsed / 1_000_000 * self.drift_ppm
    }

    /// Virtual time between two ticks: a fast clock ticks more often.
    pub(super) fn tick_interval_ns(&self) -> Time {
        assert!(self.drift_ppm > -1_000_000, "a clock runs forward");
        let interval_ns =
            (TICK_INTERVAL_NS as i128 * 1_000_000 / (1_000_000 + self.drift_ppm as i128)) as Time;
        assert!(interval_ns > 0, "ticks move virtual time");
        interval_ns
    }
}

pub(super) struct Member {
    pub(super) node: Option<Box<dyn SimNode>>,
    pub(super) incarnation: u64,
    pub(super) process_pending: bool,
    pub(super) clock: Clock,
    /// The last view seen in this incarnation (None right after a start).
    pub(super) last_view: Option<NodeView>,
    /// Committed entries up to here were compared with the cluster's committed record.
    pub(super) checked_commit: Index,
    /// A bit was flipped in its files since it last started cleanly: an error is expected.
    pub(super) corrupted: bool,
    /// It stopped for good (corruption detected); the harness keeps it out.
    pub(super) retired: bool,
    /// Its power is cut (an error from the disk is expected); it restarts this long after the crash.
    pub(super) power_cut_down_for_ns: Option<Time>,
    /// The highest term it announced in a message that requires a durable term.
    pub(super) durable_term: Term,
    /// Votes it granted (term -> candidate), announced only after persisting.
    pub(super) granted_votes: BTreeMap<Term, NodeId>,
    /// Clients know it: an initial member, or an added one once it follows a leader.
    pub(super) announced: bool,
}

impl Member {
    pub(super) fn new(clock: Clock, announced: bool) -> Member {
        Member {
            node: None,
            incarnation: 0,
            process_pending: false,
            clock,
            last_view: None,
            checked_commit: 0,
            corrupted: false,
            retired: false,
            power_cut_down_for_ns: None,
            durable_term: 0,
            granted_votes: BTreeMap::new(),
            announced,
        }
    }
}

/// Bound on the members a run ever has: the initial ones, one per planned add or replacement, and one
/// replacing each member whose disk a bit flip may corrupt.
pub(super) fn member_bound(plan: &Plan) -> usize {
    let additions = plan
        .faults
        .iter()
        .filter(|fault| {
            matches!(fault.fault, Fault::AddMember | Fault::ReplaceMember { .. } | Fault::FlipBit { .. })
        })
        .count();
    plan.nodes + additions
}

/// The members a run starts with, each with the clock the plan gives it.
pub(super) fn initial_members(plan: &Plan) -> BTreeMap<NodeId, Member> {
    plan.members()
        .into_iter()
        .map(|id| {
            let index = (id - 1) as usize;
            let clock = Clock { drift_ppm: plan.drift_ppm[index], offset_ns: plan.skew_ns[index] };
            (id, Member::new(clock, true))
        })
        .collect()
}

impl World<'_> {
    /// Starts (or restarts) member `id` from its disk. A member that refuses to start on a disk known
    /// to be corrupted stays out and is replaced; any other refusal fails the run.
    pub(super) fn start_member(&mut self, id: NodeId) -> Result<(), Failure> {
        let config = self.start_config(id);
        match self.backend.start(&config) {
            Ok(node) => {
                self.check_durable_state_survived(id, &node.view())?;
                self.install_started_node(id, node);
                self.check_member(id)?;
                self.request_process(id);
                Ok(())
            }
            Err(reason) if self.members[&id].corrupted => {
                self.note(format!(
                    "node {id} refused to start on its corrupted disk: {reason}; it stays out"
                ));
                self.members.get_mut(&id).expect("member exists").retired = true;
                self.replace_corrupted(id);
                Ok(())
            }
            Err(reason) => Err(self.fail(Check::StartFailed, format!("node {id} failed to start: {reason}"))),
        }
    }

    /// How member `id` starts this time: as one of the initial members, or joining with the
    /// membership `member add` showed; its seed differs per incarnation.
    fn start_config(&self, id: NodeId) -> StartConfig {
        let incarnation = self.members[&id].incarnation;
        let join = self.join_members.get(&id);
        StartConfig {
            id,
            members: join.cloned().unwrap_or_else(|| self.plan.members()),
            join_existing: join.is_some(),
            election_ticks: self.plan.election_ticks,
            heartbeat_ticks: self.plan.heartbeat_ticks,
            snapshot_count: self.plan.snapshot_count,
            max_message_bytes: self.plan.max_message_bytes,
            seed: self.plan.seed.wrapping_mul(31).wrapping_add(id * 1_000_003 + incarnation),
            planted_bug: self.plan.planted_bug.clone(),
            linearizable_reads: self.plan.linearizable_reads,
        }
    }

    /// A new incarnation of member `id` runs `node`: its first tick comes within one tick interval.
    fn install_started_node(&mut self, id: NodeId, node: Box<dyn SimNode>) {
        let member = self.members.get_mut(&id).expect("member exists");
        assert!(member.node.is_none(), "node {id} starts only when it is down");
        assert!(!member.retired, "node {id} is out for good");
        member.node = Some(node);
        member.incarnation += 1;
        member.last_view = None;
        member.checked_commit = 0;
        member.process_pending = false;
        self.hash.word(id);
        let interval_ns = member.clock.tick_interval_ns();
        let incarnation = member.incarnation;
        let first_tick = self.now + self.random.random_range(0..interval_ns);
        self.schedule(first_tick, Event::Tick { node: id, incarnation });
    }

    /// A planned restart: a member that is down and not out for good starts again.
    pub(super) fn restart(&mut self, id: NodeId) -> Result<Option<NodeId>, Failure> {
        let member = &self.members[&id];
        if member.node.is_some() || member.retired {
            return Ok(None);
        }
        self.start_member(id)?;
        Ok(Some(id))
    }

    /// The process of member `id` is gone (its coverage joins the run's); returns whether it ran.
    fn stop_process(&mut self, id: NodeId) -> bool {
        let member = self.members.get_mut(&id).expect("member exists");
        let Some(node) = member.node.take() else { return false };
        self.coverage.add(&node.coverage());
        true
    }

    /// The process dies: the disk drops what it had not synced.
    pub(super) fn crash_member(&mut self, id: NodeId) {
        if !self.stop_process(id) {
            return;
        }
        let member = self.members.get_mut(&id).expect("member exists");
        member.process_pending = false;
        member.power_cut_down_for_ns = None;
        let seed = self.random.random::<u64>();
        self.backend.crash(id, seed);
        debug_assert!(self.members[&id].node.is_none(), "a crashed member is down");
    }

    /// A removed member learned it was removed (it applied its removal, or a peer refused it): the
    /// process exits for good, like etcd's.
    pub(super) fn member_exits_removed(&mut self, id: NodeId, how: &str) {
        self.note(format!("node {id} {how}: this member has been permanently removed from the cluster"));
        self.crash_member(id);
        let member = self.members.get_mut(&id).expect("member exists");
        assert!(member.node.is_none(), "an exited member is down");
        member.retired = true;
        self.operator.last_change_at = self.now;
    }

    /// Member `id` ticks on its own clock and schedules its next tick. Returns the member if it
    /// still runs (a removed member refused by a peer exits instead).
    pub(super) fn tick(&mut self, id: NodeId, incarnation: u64) -> Option<NodeId> {
        if !self.live(id, incarnation) {
            return None;
        }
        let member = self.members.get_mut(&id).expect("member exists");
        let wall_ns = member.clock.wall_ns(self.now);
        let interval_ns = member.clock.tick_interval_ns();
        member.node.as_mut().expect("live").tick(wall_ns);
        self.schedule(self.now + interval_ns, Event::Tick { node: id, incarnation });
        // The transport keeps a stream to every peer and redials it: a peer that knows this member
        // was removed refuses it, and the removed process exits (even one that has nothing to send,
        // like a removed member that stopped campaigning).
        if let Some(peer) = self.refused_by(id) {
            self.member_exits_removed(id, &format!("was refused by node {peer}"));
            return None;
        }
        self.request_process(id);
        Some(id)
    }

    /// Schedules a `process()` of member `id` one disk sync from now, unless one is pending.
    pub(super) fn request_process(&mut self, id: NodeId) {
        let member = self.members.get_mut(&id).expect("member exists");
        if member.node.is_some() && !member.process_pending {
            member.process_pending = true;
            let incarnation = member.incarnation;
            self.schedule(self.now + self.plan.sync_latency_ns, Event::Process { node: id, incarnation });
        }
    }

    /// Whether incarnation `incarnation` of member `id` still runs.
    pub(super) fn live(&self, id: NodeId, incarnation: u64) -> bool {
        let member = &self.members[&id];
        member.node.is_some() && member.incarnation == incarnation
    }

    /// A scheduled `process()` of the given incarnation of member `id`, if it still runs.
    pub(super) fn process_if_live(
        &mut self,
        id: NodeId,
        incarnation: u64,
    ) -> Result<Option<NodeId>, Failure> {
        if !self.live(id, incarnation) {
            return Ok(None);
        }
        self.process(id)?;
        Ok(Some(id))
    }

    /// Member `id` persists, applies and answers; its output goes to the network, the clients and the
    /// operator.
    fn process(&mut self, id: NodeId) -> Result<(), Failure> {
        let member = self.members.get_mut(&id).expect("member exists");
        assert!(member.process_pending, "one scheduled process() per member at a time, and this is it");
        member.process_pending = false;
        match member.node.as_mut().expect("live").process() {
            Ok(output) => self.route_output(id, output),
            Err(reason) => self.process_failed(id, reason),
        }
    }

    /// Hands what one `process()` produced to its recipients.
    fn route_output(&mut self, id: NodeId, output: NodeOutput) -> Result<(), Failure> {
        for message in output.messages {
            self.record_sent(&message)?;
            self.send(message)?;
        }
        for (request_id, result) in output.responses {
            self.client_response(request_id, result);
        }
        for (request_id, result) in output.member_answers {
            self.operator_answer(request_id, result);
        }
        if output.removed {
            self.member_exits_removed(id, "applied its own removal");
        }
        Ok(())
    }

    /// Member `id` stopped with an error: expected after a power cut (it restarts later) or on a
    /// corrupted disk (it stays out and is replaced); otherwise the run fails.
    fn process_failed(&mut self, id: NodeId, reason: String) -> Result<(), Failure> {
        let member = self.members.get_mut(&id).expect("member exists");
        if let Some(down_for_ns) = member.power_cut_down_for_ns.take() {
            self.note(format!("node {id} lost power mid-write ({reason}); it restarts in {down_for_ns}ns"));
            self.crash_member(id);
            self.schedule(self.now + down_for_ns, Event::Restart { node: id });
            return Ok(());
        }
        if member.corrupted {
            assert!(member.node.is_some(), "a member that failed was running");
            member.retired = true;
            self.stop_process(id);
            self.note(format!("node {id} stopped on its corrupted disk: {reason}; it stays out"));
            self.replace_corrupted(id);
            return Ok(());
        }
        Err(self.fail(Check::NodeError, format!("node {id} stopped: {reason}")))
    }

    /// The member that leads in the highest term among the running ones.
    pub(super) fn current_leader(&self) -> Option<NodeId> {
        self.members
            .iter()
            .filter_map(|(id, member)| member.node.as_ref().map(|node| (*id, node.view())))
            .filter(|(_, view)| view.role == Role::Leader)
            .max_by_key(|(_, view)| view.term)
            .map(|(id, _)| id)
    }

    /// A running peer that refuses `id` as removed and can reach it, if any.
    pub(super) fn refused_by(&self, id: NodeId) -> Option<NodeId> {
        self.members
            .iter()
            .filter(|(peer, _)| **peer != id)
            .filter(|(peer, _)| self.network.passes(**peer, id) && self.network.passes(id, **peer))
            .find(|(_, member)| member.node.as_ref().is_some_and(|node| node.refuses(id)))
            .map(|(peer, _)| *peer)
    }

    /// The members clients and faults address: known to clients and not out for good.
    pub(super) fn endpoints(&self) -> Vec<NodeId> {
        let endpoints: Vec<NodeId> = self
            .members
            .iter()
            .filter(|(_, member)| member.announced && !member.retired)
            .map(|(id, _)| *id)
            .collect();
        assert!(!endpoints.is_empty(), "a quorum of members is never out for good");
        endpoints
    }
}
