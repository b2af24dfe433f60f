//! The operator: the person with `etcdctl member add/remove` who changes the membership while the
//! cluster runs. Plan faults ask for adds, removals (the leader's too) and replacements; a member
//! that stops on a corrupted disk is replaced (removed, then a fresh member with a new ID and an empty
//! disk is added and started with `--initial-cluster-state existing`), as etcd's runbook says.
//!
//! Like a real operator it works one change at a time, sends each request to some running member,
//! treats a timeout as "unknown" and, before every retry, looks at `member list` (the leader's
//! applied membership) to see whether the change already happened.

use std::collections::VecDeque;

use raft::NodeId;
use rand::RngExt;

use super::events::Event;
use super::members::{Clock, Member, member_bound};
use super::{Failure, World};
use crate::cluster::{MemberChange, Membership};
use crate::history::Time;
use crate::plan::{MILLISECOND, SECOND, Target};

/// Bound on queued tasks: the plan asks for at most a handful; corrupted disks add two each.
const MAX_QUEUED_TASKS: usize = 32;
/// How long the operator waits for an answer before looking again.
const REQUEST_TIMEOUT_NS: Time = 5 * SECOND;
/// Pause before retrying after a refusal or while nobody leads.
const RETRY_PAUSE_NS: Time = 300 * MILLISECOND;
/// The cluster never shrinks below this many voters by a plain removal (a replacement may go one
/// below while it runs).
const MIN_VOTERS: usize = 3;
/// ... nor grows above this many members.
const MAX_MEMBERS: usize = 9;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Task {
    Add,
    Remove {
        target: Target,
        replace: bool,
    },
    /// The member stopped on a corrupted disk: remove it, then add a fresh one.
    ReplaceCorrupted {
        id: NodeId,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Goal {
    Add(NodeId),
    Remove(NodeId),
}

#[derive(Default)]
pub(super) struct Operator {
    /// (task, repair): repair tasks finish a change already begun (the add of a replacement), so they
    /// survive the end of the fault phase; the others are faults and are dropped then.
    queue: VecDeque<(Task, bool)>,
    goal: Option<Goal>,
    /// The request in flight for the goal.
    in_flight: Option<u64>,
    /// Only the latest scheduled step runs (answers and retries reschedule).
    generation: u64,
    /// A step is scheduled.
    busy: bool,
    /// When the last change took effect (or a removed member exited): the cluster's settling
    /// starts over then.
    pub(super) last_change_at: Time,
}

impl Operator {
    pub(super) fn idle(&self) -> bool {
        self.goal.is_none() && self.queue.is_empty()
    }

    /// The member whose removal is under way, if any.
    pub(super) fn pending_removal(&self) -> Option<NodeId> {
        match self.goal {
            Some(Goal::Remove(id)) => Some(id),
            _ => None,
        }
    }

    pub(super) fn describe(&self) -> String {
        format!("goal {:?}, queue {:?}", self.goal, self.queue)
    }
}

fn quorum(voters: usize) -> usize {
    voters / 2 + 1
}

impl World<'_> {
    pub(super) fn operator_enqueue(&mut self, task: Task, repair: bool) {
        if !self.backend.supports_membership() {
            self.note(format!("operator: the backend cannot change membership; skipped {task:?}"));
            return;
        }
        if self.operator.queue.len() >= MAX_QUEUED_TASKS {
            self.note(format!("operator: queue full; dropped {task:?}"));
            return;
        }
        self.operator.queue.push_back((task, repair));
        assert!(self.operator.queue.len() <= MAX_QUEUED_TASKS, "operator queue bound");
        if !self.operator.busy {
            self.operator_schedule(MILLISECOND);
        }
    }

    /// The faults stopped: changes not begun are dropped; the one under way and repairs finish.
    pub(super) fn operator_fault_phase_over(&mut self) {
        self.operator.queue.retain(|(_, repair)| *repair);
    }

    fn operator_schedule(&mut self, after: Time) {
        self.operator.generation += 1;
        self.operator.busy = true;
        let generation = self.operator.generation;
        self.schedule(self.now + after, Event::OperatorStep { generation });
    }

    /// What `member list` shows: the leader's applied membership.
    fn leader_membership(&self) -> Option<(NodeId, Membership)> {
        let leader = self.current_leader()?;
        let node = self.members[&leader].node.as_ref()?;
        Some((leader, node.membership()))
    }

    /// Voters that are expected back: not retired, disk not corrupted.
    fn healthy(&self, voters: impl Iterator<Item = NodeId>) -> usize {
        voters
            .filter(|id| self.members.get(id).is_some_and(|member| !member.retired && !member.corrupted))
            .count()
    }

    pub(super) fn operator_step(&mut self, generation: u64) -> Result<Option<NodeId>, Failure> {
        if generation != self.operator.generation {
            return Ok(None);
        }
        self.operator.busy = false;
        let Some((leader, membership)) = self.leader_membership() else {
            if !self.operator.idle() {
                self.operator_schedule(RETRY_PAUSE_NS);
            }
            return Ok(None);
        };
        if self.operator.goal.is_none() {
            assert!(self.operator.in_flight.is_none(), "no request in flight without a goal");
            let Some((task, _)) = self.operator.queue.pop_front() else { return Ok(None) };
            self.operator.goal = self.begin(task, leader, &membership);
            assert!(self.operator.queue.len() <= MAX_QUEUED_TASKS, "operator queue bound");
        }
        let Some(goal) = self.operator.goal else {
            // The task was skipped; look at the next one.
            self.operator_schedule(MILLISECOND);
            return Ok(None);
        };
        match goal {
            Goal::Add(id) if membership.contains(id) => {
                self.note(format!("operator: member {id} added; starting it"));
                self.finish_goal();
                self.start_joined_member(id, &membership)?;
                return Ok(Some(id));
            }
            Goal::Remove(id) if !membership.contains(id) => {
                self.note(format!("operator: member {id} removed"));
                self.finish_goal();
                return Ok(None);
            }
            _ => {}
        }
        if self.operator.in_flight.take().is_some() {
            // The step fired before any answer: the request timed out; its outcome is unknown, so
            // the next attempt looks at the membership first (done above).
            self.note(format!("operator: {goal:?} timed out; retrying"));
        }
        self.send_member_change(goal);
        Ok(None)
    }

    /// Asks a random running member for the change that reaches `goal`, and looks again after a
    /// timeout (or a retry pause when no member runs).
    fn send_member_change(&mut self, goal: Goal) {
        let running: Vec<NodeId> = self
            .members
            .iter()
            .filter(|(_, member)| member.node.is_some() && member.announced)
            .map(|(id, _)| *id)
            .collect();
        if running.is_empty() {
            self.operator_schedule(RETRY_PAUSE_NS);
            return;
        }
        let to = running[self.random.random_range(0..running.len())];
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        let change = match goal {
            Goal::Add(id) => MemberChange::Add(id),
            Goal::Remove(id) => MemberChange::Remove(id),
        };
        self.hash.word(request_id);
        self.hash.word(to);
        if self.trace {
            println!("{:>14}   operator -> node {to}: request {request_id} {change:?}", self.now);
        }
        let member = self.members.get_mut(&to).expect("member exists");
        let wall_ns = member.clock.wall_ns(self.now);
        member.node.as_mut().expect("running").submit_member_change(request_id, change, wall_ns);
        self.operator.in_flight = Some(request_id);
        self.operator_schedule(REQUEST_TIMEOUT_NS);
        self.request_process(to);
    }

    /// Turns a task into a goal against the current membership, or skips it (None) when it would
    /// be unsafe or impossible.
    fn begin(&mut self, task: Task, leader: NodeId, membership: &Membership) -> Option<Goal> {
        match task {
            Task::Add => {
                if membership.voters.len() + membership.learners.len() >= MAX_MEMBERS {
                    self.note(format!("operator: skipped an add: {MAX_MEMBERS} members already"));
                    return None;
                }
                Some(Goal::Add(self.new_member_slot()))
            }
            Task::ReplaceCorrupted { id } => {
                self.note(format!("operator: replacing member {id}, whose disk is corrupt"));
                self.operator.queue.push_front((Task::Add, true));
                if membership.contains(id) { Some(Goal::Remove(id)) } else { None }
            }
            Task::Remove { target, replace } => {
                let id = match target {
                    Target::Leader | Target::NextLeader => leader,
                    Target::Node(id) if membership.contains(id) => id,
                    Target::Node(_) => {
                        // Gone already: an operator would pick another member.
                        let current: Vec<NodeId> =
                            membership.voters.iter().chain(&membership.learners).copied().collect();
                        current[self.random.random_range(0..current.len())]
                    }
                };
                let remaining: Vec<NodeId> = membership.voters.iter().copied().filter(|v| *v != id).collect();
                let floor = if replace { MIN_VOTERS - 1 } else { MIN_VOTERS };
                if membership.voters.contains(&id) && remaining.len() < floor {
                    self.note(format!("operator: skipped removing {id}: {} voters left", remaining.len()));
                    return None;
                }
                // Never remove so much that the members expected back cannot form a quorum (what
                // `--strict-reconfig-check` protects against): the change could never be undone.
                let healthy = self.healthy(remaining.iter().copied());
                if healthy < quorum(remaining.len()) {
                    self.note(format!(
                        "operator: skipped removing {id}: only {healthy} of the {} remaining voters are healthy",
                        remaining.len()
                    ));
                    return None;
                }
                if replace {
                    self.operator.queue.push_front((Task::Add, true));
                }
                let role = if id == leader { " (the leader)" } else { "" };
                self.note(format!("operator: removing member {id}{role}"));
                Some(Goal::Remove(id))
            }
        }
    }

    fn finish_goal(&mut self) {
        assert!(self.operator.goal.is_some(), "only a goal under way finishes");
        self.operator.last_change_at = self.now;
        self.operator.goal = None;
        self.operator.in_flight = None;
        self.operator_schedule(MILLISECOND);
    }

    /// An answer to the operator's request.
    pub(super) fn operator_answer(&mut self, request_id: u64, result: Result<(), String>) {
        if self.operator.in_flight != Some(request_id) {
            return; // it gave up on this one already
        }
        assert!(self.operator.goal.is_some(), "a request in flight serves the goal under way");
        self.operator.in_flight = None;
        self.hash.word(request_id);
        match result {
            // Applied on the member that answered: the next step sees it in the membership.
            Ok(()) => self.operator_schedule(MILLISECOND),
            Err(reason) => {
                self.note(format!("operator: {:?} refused: {reason}", self.operator.goal));
                self.operator_schedule(RETRY_PAUSE_NS);
            }
        }
    }

    /// A fresh member slot with a never-used ID and an empty disk.
    fn new_member_slot(&mut self) -> NodeId {
        let id = self.next_member_id;
        self.next_member_id += 1;
        let drift_ppm = if self.plan.drift_ppm.iter().any(|drift| *drift != 0) {
            self.random.random_range(-50_000..=50_000)
        } else {
            0
        };
        let offset_ns = self.random.random_range(-(2 * SECOND as i64)..=2 * SECOND as i64);
        let previous = self.members.insert(id, Member::new(Clock { drift_ppm, offset_ns }, false));
        assert!(previous.is_none(), "member IDs are never reused");
        assert!(self.members.len() <= member_bound(self.plan), "member bound");
        id
    }

    fn start_joined_member(&mut self, id: NodeId, membership: &Membership) -> Result<(), Failure> {
        let member = &self.members[&id];
        if member.node.is_some() || member.retired || member.incarnation > 0 {
            return Ok(());
        }
        let members: Vec<NodeId> = membership.voters.iter().chain(&membership.learners).copied().collect();
        self.join_members.insert(id, members);
        self.start_member(id)
    }

    /// The member stopped on its corrupted disk: have it replaced.
    pub(super) fn replace_corrupted(&mut self, id: NodeId) {
        if self.backend.supports_membership() {
            self.operator_enqueue(Task::ReplaceCorrupted { id }, true);
        }
    }
}
