//! `--strict-reconfig-check`, with etcd's rules (mayAddMember / mayRemoveMember): a membership change
//! must not leave the cluster without a quorum of started and connected voters.

use std::time::{Duration, Instant};

use raft::NodeId;

use super::node_loop::NodeLoop;
use crate::node::{self};

/// How long a peer must have been connected to count for `--strict-reconfig-check` (etcd's
/// HealthInterval).
pub(super) const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

pub(super) const ERR_NOT_ENOUGH_STARTED_MEMBERS: &str =
    "etcdserver: re-configuration failed due to not enough started members";

pub(super) const ERR_UNHEALTHY: &str = "etcdserver: unhealthy cluster";

pub(super) fn quorum(voters: usize) -> usize {
    voters / 2 + 1
}

/// Whether `--strict-reconfig-check` counts `member` as a voting member: a voter, or a member added
/// as a voter that is a learner only until it catches up (see `NodeLoop::reconfig_refusal`).
pub(super) fn votes_for_strict_check(member: &node::Member) -> bool {
    !member.is_learner || member.promote_when_caught_up
}

impl NodeLoop {
    /// `--strict-reconfig-check`, as etcd's mayAddMember / mayRemoveMember: a change must not leave the
    /// cluster without a quorum of started (published) and connected voters. "Connected" is this
    /// member's transport view: an active stream for at least `HEALTH_INTERVAL`, like etcd's.
    ///
    /// "Voters" include members added as voters that are still learners waiting to be promoted
    /// (`promote_when_caught_up`): to the operator, and to etcd, which adds them as voting members
    /// at once, they vote from the moment `member add` returns, and they will once caught up. So a
    /// member added but never started counts in the quorum but not as started, and a second
    /// addition before it starts is refused, as etcd 3.4 refuses it; removing it is a voter's
    /// removal (quorum of the others, safe while it is down).
    pub(super) fn reconfig_refusal(&self, request: &node::ClientRequest) -> Option<&'static str> {
        if !self.strict_reconfig_check {
            return None;
        }
        let me = self.node.id();
        let voters: Vec<&node::Member> =
            self.node.members().values().filter(|member| votes_for_strict_check(member)).collect();
        let statuses = self.transport.peer_status();
        let healthy_since = Instant::now().checked_sub(HEALTH_INTERVAL);
        let connected = |id: NodeId| {
            id == me
                || statuses.get(&id).is_some_and(|status| {
                    status.active && healthy_since.is_some_and(|limit| status.since <= limit)
                })
        };
        let started = |member: &&&node::Member| !member.name.is_empty();
        match request {
            node::ClientRequest::AddMember { member } => {
                // The new member joins as a learner, but is meant to vote: count it as a voter.
                if votes_for_strict_check(member) {
                    let started_voters = voters.iter().filter(started).count();
                    // etcd's exception: a 1-member cluster may always add a second member (restoring a
                    // cluster from one member's data starts that way).
                    let restoring = started_voters == 1 && voters.len() == 1;
                    if !restoring && started_voters < quorum(voters.len() + 1) {
                        return Some(ERR_NOT_ENOUGH_STARTED_MEMBERS);
                    }
                }
                if !voters.iter().all(|member| connected(member.id)) {
                    return Some(ERR_UNHEALTHY);
                }
                None
            }
            node::ClientRequest::RemoveMember { id } => {
                let target = self.node.members().get(id)?;
                if !votes_for_strict_check(target) {
                    return None;
                }
                let started_others = voters.iter().filter(started).filter(|member| member.id != *id).count();
                if started_others < quorum(voters.len() - 1) {
                    return Some(ERR_NOT_ENOUGH_STARTED_MEMBERS);
                }
                // A member that is down is safe to remove: it is not part of the active quorum.
                if *id != me && !statuses.get(id).is_some_and(|status| status.active) {
                    return None;
                }
                let active = voters.iter().filter(|member| connected(member.id)).count();
                if active.saturating_sub(1) < 1 + voters.len().saturating_sub(1) / 2 {
                    return Some(ERR_UNHEALTHY);
                }
                None
            }
            _ => None,
        }
    }
}
