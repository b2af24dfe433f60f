//! The liveness phase's checks at the deadline. Once the faults stop, everything heals and every
//! member that is down restarts; the cluster then settles (a grace period after the faults, or after
//! the last membership change) and a quiet period follows until the deadline. By the deadline:
//! membership changes finished; no term rose during the quiet period (elections stopped: one leader
//! kept); one leader followed by all; members caught up (to the target marked shortly before); and
//! operations, clients and watches served once the cluster settled.

use raft::NodeId;

use super::{Check, Failure, LivenessOutcome, World};
use crate::cluster::NodeView;
use crate::history::{NEVER, OperationKind, OperationResult, Time};
use crate::plan::{MILLISECOND, SECOND, seconds};

/// After the fault phase ends (or the last membership change), the cluster has this long to settle:
/// operations invoked later must all succeed, and no term may rise any more.
const SETTLE_GRACE_NS: Time = 5 * SECOND;

/// The quiet period (from when the cluster settled to the deadline) lasts at least this long, or the
/// run cannot tell a cluster that keeps electing from one that settled late.
const MIN_QUIET_NS: Time = 5 * SECOND;

/// How much later than planned the deadline may move so that a late membership change still leaves
/// a quiet period of `MIN_QUIET_NS` (the operator's last change may come late: every request a member
/// never answers costs it a 5 s timeout). Clients do not start operations after their planned end.
const MAX_DEADLINE_EXTENSION_NS: Time = 20 * SECOND;

/// Once the cluster settled, a member applies an acknowledged write within this long: a watch on its
/// key that gives up later than that without seeing an event is a liveness failure.
const WATCH_APPLY_BOUND_NS: Time = 2 * SECOND;

/// How long before the deadline the catch-up target is taken (the leader keeps proposing TTL syncs,
/// so "applied == the leader's commit" at one instant would be a race, not a liveness property).
pub(super) const CATCH_UP_MARGIN_NS: Time = 3 * SECOND;

impl World<'_> {
    /// From when the cluster must serve every request: a grace period after the faults stopped, or
    /// after the last membership change if one was still finishing then (removing a leader after the
    /// faults stopped is one more fault).
    pub(super) fn settled_at(&self) -> Time {
        self.plan.fault_phase_ns.max(self.operator.last_change_at) + SETTLE_GRACE_NS
    }

    /// At the deadline: a later one, when the cluster settled too late to leave a quiet period of
    /// `MIN_QUIET_NS` before this one and the later one is within `MAX_DEADLINE_EXTENSION_NS` of the
    /// planned deadline. It leaves room for the catch-up mark.
    pub(super) fn extended_deadline(&self) -> Option<Time> {
        let quiet_until = self.settled_at().saturating_add(MIN_QUIET_NS);
        if quiet_until <= self.deadline {
            return None;
        }
        let later = quiet_until.max(self.now + CATCH_UP_MARGIN_NS);
        let planned = self.plan.fault_phase_ns + self.plan.liveness_window_ns;
        (later <= planned + MAX_DEADLINE_EXTENSION_NS).then_some(later)
    }

    /// Shortly before the deadline: the commit index every live member must have applied by then.
    pub(super) fn mark_catch_up_target(&mut self) {
        self.catch_up_target = self
            .members
            .values()
            .filter_map(|member| member.node.as_ref().map(|node| node.view().commit))
            .max();
    }

    /// At the deadline, after the faults stopped and everything healed: one leader that every live
    /// member follows, members caught up, the operator done, the membership settled, every operation
    /// after the cluster settled served, every client served, and watches not starved.
    pub(super) fn check_liveness(&self) -> Result<(), Failure> {
        self.check_log_matching()?;
        let live: Vec<(NodeId, NodeView)> = self
            .members
            .iter()
            .filter_map(|(id, member)| member.node.as_ref().map(|node| (*id, node.view())))
            .collect();
        if !self.operator.idle() {
            return Err(self.liveness_failure(format!(
                "the operator's membership changes did not finish: {}",
                self.operator.describe()
            )));
        }
        self.check_elections_stopped()?;
        let leader = self.check_one_leader_followed(&live)?;
        if self.backend.supports_membership() {
            self.check_membership_settled(leader, &live)?;
        }
        let settled = self.settled_at();
        self.check_operations_served(settled)?;
        self.check_clients_served()?;
        self.check_watch_liveness(settled)
    }

    fn liveness_failure(&self, detail: String) -> Failure {
        self.fail(Check::Liveness, detail)
    }

    /// How the cluster settled after the faults: for the report (and the swarm's summary).
    pub(super) fn liveness_outcome(&self) -> LivenessOutcome {
        let fault_phase_end = self.plan.fault_phase_ns;
        LivenessOutcome {
            elections_after_faults: self.elections.won_after_faults_count,
            last_election_after_faults_ns: self
                .elections
                .last_won_after_faults
                .map(|election| election.at.saturating_sub(fault_phase_end)),
            quiet_from_after_faults_ns: self.settled_at().saturating_sub(fault_phase_end),
            deadline_extended_ns: self.deadline - (fault_phase_end + self.plan.liveness_window_ns),
        }
    }

    /// Elections stopped: the cluster settled early enough to leave a quiet period of at least
    /// `MIN_QUIET_NS`, and no member's term rose above the highest term reached before it (one leader
    /// kept: a rejoining, restarted or lagging member deposed nobody, and nobody campaigned).
    fn check_elections_stopped(&self) -> Result<(), Failure> {
        let quiet_from = self.settled_at();
        if quiet_from.saturating_add(MIN_QUIET_NS) > self.deadline {
            return Err(self.liveness_failure(format!(
                "the cluster did not settle: the last membership change took effect at {}, leaving less than \
                 {}s of quiet before the deadline at {}",
                seconds(self.operator.last_change_at),
                MIN_QUIET_NS / SECOND,
                seconds(self.deadline)
            )));
        }
        let record = &self.elections;
        if record.highest_term_at <= quiet_from {
            return Ok(());
        }
        Err(self.liveness_failure(format!(
            "elections did not stop: node {} reached term {} at {}, after the cluster had settled at {} \
             (faults stopped at {}, then {}s of grace); {}",
            record.highest_term_node,
            record.highest_term,
            seconds(record.highest_term_at),
            seconds(quiet_from),
            seconds(self.plan.fault_phase_ns),
            SETTLE_GRACE_NS / SECOND,
            self.describe_elections_after_faults()
        )))
    }

    /// One leader, followed by every live member in its term, each of which applied the catch-up
    /// target. Returns the leader.
    fn check_one_leader_followed(&self, live: &[(NodeId, NodeView)]) -> Result<NodeId, Failure> {
        let Some(leader) = self.current_leader() else {
            return Err(self.liveness_failure(format!(
                "no leader {}s after the faults stopped: {live:?}",
                self.plan.liveness_window_ns / SECOND
            )));
        };
        let leader_view = live.iter().find(|(id, _)| *id == leader).expect("leader is live").1;
        for (id, view) in live {
            if view.term != leader_view.term || view.leader != Some(leader) {
                return Err(self.liveness_failure(format!(
                    "node {id} does not follow leader {leader} (term {}): {view:?}",
                    leader_view.term
                )));
            }
            let target = self.catch_up_target.unwrap_or(0);
            if view.applied < target {
                return Err(self.liveness_failure(format!(
                    "node {id} did not catch up: applied {} of commit {target} reached {}s before the deadline",
                    view.applied,
                    CATCH_UP_MARGIN_NS / SECOND
                )));
            }
        }
        Ok(leader)
    }

    /// Every running member is in the leader's membership, and none is still a learner (added members
    /// join as learners; caught up, they must have been promoted).
    fn check_membership_settled(&self, leader: NodeId, live: &[(NodeId, NodeView)]) -> Result<(), Failure> {
        let membership = self.members[&leader].node.as_ref().expect("leader is live").membership();
        for (id, _) in live {
            if !membership.contains(*id) {
                return Err(
                    self.liveness_failure(format!("node {id} runs but is not a member: {membership:?}"))
                );
            }
        }
        if let Some(learner) = membership.learners.iter().find(|id| live.iter().any(|(live, _)| live == *id))
        {
            return Err(self.liveness_failure(format!(
                "member {learner} caught up but is still a learner: {membership:?}"
            )));
        }
        Ok(())
    }

    /// Every operation invoked once the cluster had settled succeeded (unless its member is out for
    /// good).
    fn check_operations_served(&self, settled: Time) -> Result<(), Failure> {
        let unserved = self.history.iter().find(|operation| {
            operation.invoked_at >= settled
                && matches!(operation.result, OperationResult::Ambiguous | OperationResult::Failed)
                && !self.members[&operation.node].retired
        });
        match unserved {
            Some(operation) => Err(self.liveness_failure(format!(
                "an operation invoked after the cluster had {}s to settle did not succeed: {}",
                SETTLE_GRACE_NS / SECOND,
                operation.describe()
            ))),
            None => Ok(()),
        }
    }

    /// Every client completed an operation after the faults stopped, and none still waits.
    fn check_clients_served(&self) -> Result<(), Failure> {
        for (client, state) in self.clients.iter().enumerate() {
            let succeeded = self.history.iter().any(|operation| {
                operation.client == client as u32
                    && operation.invoked_at >= self.plan.fault_phase_ns
                    && !matches!(operation.result, OperationResult::Ambiguous | OperationResult::Failed)
            });
            if !succeeded || state.pending.is_some() {
                return Err(self.liveness_failure(format!(
                    "client {client} completed no operation after the faults stopped"
                )));
            }
        }
        Ok(())
    }

    /// Once the cluster settled, a watch must not give up while a write on its key that it should
    /// report was acknowledged long enough before (`WATCH_APPLY_BOUND_NS`) for its member to apply it.
    /// Which writes it should report: with a wait index `w`, any acknowledged write of index >= w;
    /// without one, any write invoked after the watch (the member registered it at its store index
    /// then, and a later proposal gets a higher store index). `settled`: when the cluster had settled.
    fn check_watch_liveness(&self, settled: Time) -> Result<(), Failure> {
        for watch in &self.history {
            let OperationKind::Watch { wait_index } = watch.kind else { continue };
            if watch.invoked_at < settled
                || watch.result != OperationResult::WatchTimedOut
                || self.members[&watch.node].retired
            {
                continue;
            }
            let missed = self.history.iter().find(|write| {
                let OperationResult::Written { index } = write.result else { return false };
                let reportable = match wait_index {
                    Some(wait_index) => index >= wait_index,
                    None => write.invoked_at > watch.invoked_at,
                };
                write.key == watch.key
                    && reportable
                    && write.returned_at != NEVER
                    && write.returned_at.saturating_add(WATCH_APPLY_BOUND_NS) <= watch.returned_at
            });
            if let Some(write) = missed {
                return Err(self.fail(
                    Check::Liveness,
                    format!(
                        "a watch gave up although a write it should report was acknowledged {}ms before: {} \
                         missed {}",
                        (watch.returned_at - write.returned_at) / MILLISECOND,
                        watch.describe(),
                        write.describe()
                    ),
                ));
            }
        }
        Ok(())
    }
}
