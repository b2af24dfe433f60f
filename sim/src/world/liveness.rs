//! The liveness checks at the deadline: one leader followed by all, members caught up, operations and
//! watches after the cluster settled served, membership changes finished.

use raft::NodeId;

use super::{Check, Failure, World};
use crate::cluster::NodeView;
use crate::history::{NEVER, OpKind, OpResult, Time};
use crate::plan::{MILLISECOND, SECOND};

/// After the fault phase ends, operations invoked later than this must all succeed.
pub(super) const SETTLE_GRACE: Time = 5 * SECOND;

/// Once the cluster settled, a member applies an acknowledged write within this long: a watch on its
/// key that gives up later than that without seeing an event is a liveness failure.
pub(super) const WATCH_APPLY_BOUND: Time = 2 * SECOND;

/// How long before the deadline the catch-up target is taken (the leader keeps proposing TTL syncs,
/// so "applied == the leader's commit" at one instant would be a race, not a liveness property).
pub(super) const CATCH_UP_MARGIN: Time = 3 * SECOND;

impl World<'_> {
    /// From when the cluster must serve every request: a grace period after the faults stopped, or
    /// after the last membership change if one was still finishing then (removing a leader after the
    /// faults stopped is one more fault).
    pub(super) fn settled_at(&self) -> Time {
        self.plan.fault_phase.max(self.operator.last_change_at) + SETTLE_GRACE
    }

    pub(super) fn check_liveness(&self) -> Result<(), Failure> {
        self.check_log_matching()?;
        let live: Vec<(NodeId, NodeView)> = self
            .members
            .iter()
            .filter_map(|(id, member)| member.node.as_ref().map(|node| (*id, node.view())))
            .collect();
        let fail = |detail: String| Err(self.fail(Check::Liveness, detail));
        let Some(leader) = self.current_leader() else {
            return fail(format!(
                "no leader {}s after the faults stopped: {live:?}",
                self.plan.liveness_window / SECOND
            ));
        };
        let leader_view = live.iter().find(|(id, _)| *id == leader).expect("leader is live").1;
        for (id, view) in &live {
            if view.term != leader_view.term || view.leader != Some(leader) {
                return fail(format!(
                    "node {id} does not follow leader {leader} (term {}): {view:?}",
                    leader_view.term
                ));
            }
            let target = self.catch_up_target.unwrap_or(0);
            if view.applied < target {
                return fail(format!(
                    "node {id} did not catch up: applied {} of commit {target} reached {}s before the deadline",
                    view.applied,
                    CATCH_UP_MARGIN / SECOND
                ));
            }
        }
        if !self.operator.idle() {
            return fail(format!(
                "the operator's membership changes did not finish: {}",
                self.operator.describe()
            ));
        }
        if self.backend.supports_membership() {
            let membership = self.members[&leader].node.as_ref().expect("leader is live").membership();
            for (id, _) in &live {
                if !membership.contains(*id) {
                    return fail(format!("node {id} runs but is not a member: {membership:?}"));
                }
            }
            // Added members join as learners; caught up, they must have been promoted.
            if let Some(learner) =
                membership.learners.iter().find(|id| live.iter().any(|(live, _)| live == *id))
            {
                return fail(format!("member {learner} caught up but is still a learner: {membership:?}"));
            }
        }
        let settled = self.settled_at();
        for operation in &self.history {
            if operation.invoked_at >= settled
                && matches!(operation.result, OpResult::Ambiguous | OpResult::Failed)
                && !self.members[&operation.node].retired
            {
                return fail(format!(
                    "an operation invoked after the cluster had {}s to settle did not succeed: {}",
                    SETTLE_GRACE / SECOND,
                    operation.describe()
                ));
            }
        }
        for (client, state) in self.clients.iter().enumerate() {
            let succeeded = self.history.iter().any(|operation| {
                operation.client == client as u32
                    && operation.invoked_at >= self.plan.fault_phase
                    && !matches!(operation.result, OpResult::Ambiguous | OpResult::Failed)
            });
            if !succeeded || state.pending.is_some() {
                return fail(format!("client {client} completed no operation after the faults stopped"));
            }
        }
        self.check_watch_liveness(settled)
    }

    /// Once the cluster settled, a watch must not give up while a write on its key that it should
    /// report was acknowledged long enough before (`WATCH_APPLY_BOUND`) for its member to apply it.
    /// Which writes it should report: with a wait index `w`, any acknowledged write of index >= w;
    /// without one, any write invoked after the watch (the member registered it at its store index
    /// then, and a later proposal gets a higher store index). `settled`: when the cluster had settled.
    pub(super) fn check_watch_liveness(&self, settled: Time) -> Result<(), Failure> {
        for watch in &self.history {
            let OpKind::Watch { wait_index } = watch.kind else { continue };
            if watch.invoked_at < settled
                || watch.result != OpResult::WatchTimedOut
                || self.members[&watch.node].retired
            {
                continue;
            }
            let missed = self.history.iter().find(|write| {
                let OpResult::Written { index } = write.result else { return false };
                let reportable = match wait_index {
                    Some(wait_index) => index >= wait_index,
                    None => write.invoked_at > watch.invoked_at,
                };
                write.key == watch.key
                    && reportable
                    && write.returned_at != NEVER
                    && write.returned_at.saturating_add(WATCH_APPLY_BOUND) <= watch.returned_at
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
