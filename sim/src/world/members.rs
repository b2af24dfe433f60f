//! The members: their clocks and records, starting, crashing and running one (`process`), and who
//! they are to clients and faults (leader, endpoints).

use std::collections::BTreeMap;

use raft::{Index, NodeId, Role, Term};
use rand::RngExt;

use super::events::Event;
use super::{Check, Failure, World};
use crate::cluster::{NodeView, SimNode, StartConfig};
use crate::history::Time;
use crate::plan::TICK_INTERVAL;

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
    pub(super) fn now(&self, virtual_time: Time) -> i64 {
        let elapsed = virtual_time as i64;
        EPOCH_NS + self.offset_ns + elapsed + elapsed / 1_000_000 * self.drift_ppm
    }

    /// Virtual time between two ticks: a fast clock ticks more often.
    pub(super) fn tick_interval(&self) -> Time {
        (TICK_INTERVAL as i128 * 1_000_000 / (1_000_000 + self.drift_ppm as i128)) as Time
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
    pub(super) power_cut: Option<Time>,
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
            power_cut: None,
            durable_term: 0,
            granted_votes: BTreeMap::new(),
            announced,
        }
    }
}

impl World<'_> {
    pub(super) fn start_member(&mut self, id: NodeId) -> Result<(), Failure> {
        let member = &self.members[&id];
        let join = self.join_members.get(&id);
        let config = StartConfig {
            id,
            members: join.cloned().unwrap_or_else(|| self.plan.members()),
            join_existing: join.is_some(),
            election_tick: self.plan.election_tick,
            heartbeat_tick: self.plan.heartbeat_tick,
            snapshot_count: self.plan.snapshot_count,
            max_msg_bytes: self.plan.max_msg_bytes,
            seed: self.plan.seed.wrapping_mul(31).wrapping_add(id * 1_000_003 + member.incarnation),
            planted_bug: self.plan.planted_bug.clone(),
        };
        let corrupted = member.corrupted;
        match self.backend.start(&config) {
            Ok(node) => {
                let view = node.view();
                let member = &self.members[&id];
                // Terms and votes announced before the crash must have survived it.
                if view.term < member.durable_term {
                    return Err(self.fail(
                        Check::DurableTermLost,
                        format!(
                            "node {id} restarted at term {} after announcing term {}",
                            view.term, member.durable_term
                        ),
                    ));
                }
                if let Some(&candidate) = member.granted_votes.get(&view.term)
                    && view.vote != Some(candidate)
                {
                    return Err(self.fail(
                        Check::DurableVoteLost,
                        format!(
                            "node {id} restarted in term {} with vote {:?} after granting its vote to {candidate}",
                            view.term, view.vote
                        ),
                    ));
                }
                let member = self.members.get_mut(&id).expect("member exists");
                member.node = Some(node);
                member.incarnation += 1;
                member.last_view = None;
                member.checked_commit = 0;
                member.process_pending = false;
                self.hash.word(id);
                let interval = member.clock.tick_interval();
                let incarnation = member.incarnation;
                let first_tick = self.now + self.rng.random_range(0..interval);
                self.schedule(first_tick, Event::Tick { node: id, incarnation });
                self.check_member(id)?;
                self.request_process(id);
                Ok(())
            }
            Err(reason) if corrupted => {
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

    pub(super) fn crash_member(&mut self, id: NodeId) {
        let member = self.members.get_mut(&id).expect("member exists");
        if member.node.take().is_none() {
            return;
        }
        member.process_pending = false;
        member.power_cut = None;
        let seed = self.rng.random::<u64>();
        self.backend.crash(id, seed);
    }

    pub(super) fn request_process(&mut self, id: NodeId) {
        let member = self.members.get_mut(&id).expect("member exists");
        if member.node.is_some() && !member.process_pending {
            member.process_pending = true;
            let incarnation = member.incarnation;
            self.schedule(self.now + self.plan.sync_latency, Event::Process { node: id, incarnation });
        }
    }

    pub(super) fn live(&self, id: NodeId, incarnation: u64) -> bool {
        let member = &self.members[&id];
        member.node.is_some() && member.incarnation == incarnation
    }

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

    pub(super) fn process(&mut self, id: NodeId) -> Result<(), Failure> {
        let member = self.members.get_mut(&id).expect("member exists");
        member.process_pending = false;
        let result = member.node.as_mut().expect("live").process();
        let output = match result {
            Ok(output) => output,
            Err(reason) => {
                if let Some(down_for) = member.power_cut.take() {
                    self.note(format!(
                        "node {id} lost power mid-write ({reason}); it restarts in {down_for}ns"
                    ));
                    self.crash_member(id);
                    self.schedule(self.now + down_for, Event::Restart { node: id });
                    return Ok(());
                }
                if member.corrupted {
                    member.retired = true;
                    member.node = None;
                    self.note(format!("node {id} stopped on its corrupted disk: {reason}; it stays out"));
                    self.replace_corrupted(id);
                    return Ok(());
                }
                return Err(self.fail(Check::NodeError, format!("node {id} stopped: {reason}")));
            }
        };
        for message in output.messages {
            self.record_sent(&message)?;
            self.send(message);
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
}
