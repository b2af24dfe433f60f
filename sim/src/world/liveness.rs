//! The liveness checks at the deadline: one leader followed by all, members caught up (to the target
//! marked shortly before), membership changes finished, and operations, clients and watches served
//! once the cluster settled.

use raft::NodeId;

use super::{Check, Failure, World};
use crate::cluster::NodeView;
use crate::history::{NEVER, OperationKind, OperationResult, Time};
use crate::plan::{MILLISECOND, SECOND};

/// After the fault phase ends, operations invoked later than this must all succeed.
const SETTLE_GRACE_NS: Time = 5 * SECOND;

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
        let leader = self.check_one_leader_followed(&live)?;
        if !self.operator.idle() {
            return Err(self.liveness_failure(format!(
                "the operator's membership changes did not finish: {}",
                self.operator.describe()
            )));
        }
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
