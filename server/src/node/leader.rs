//! What only the leader does on its ticks: record the cluster version once every member published,
//! and promote learners that were added as voters once they caught up.

use raft::{ConfChange, ConfChangeKind, Role};

use super::entry::Operation;
use super::{CLUSTER_VERSION, Node};

impl Node {
    /// Once every member has published, the leader records the cluster version (etcd does this for
    /// `/0/version`); applying it again is a no-op, so a repeat by a later leader is harmless.
    pub(super) fn record_cluster_version(&mut self) {
        if self.raft.role() != Role::Leader
            || self.cluster_version.is_some()
            || self.members.is_empty()
            || self.members.values().any(|member| member.client_urls.is_empty())
            || !self.ticks.is_multiple_of(self.config.sync_interval_ticks.max(1))
        {
            return;
        }
        let _ = self.propose(Operation::ClusterVersion { version: CLUSTER_VERSION.to_string() });
    }

    /// The leader turns a learner that was added as a voter into a voter once its log has caught up
    /// with the commit index; one change at a time, like every configuration change.
    pub(super) fn promote_caught_up_learners(&mut self) {
        if self.raft.role() != Role::Leader || self.raft.pending_conf_change() {
            return;
        }
        // etcd's readiness rule for promoting a learner: its log holds at least 90% of the leader's
        // committed log. Waiting for an exact match could wait forever under steady writes (and the
        // leader's own TTL syncs), and every moment as a learner is a moment the cluster counts one
        // voter fewer than the operator asked for.
        let commit = self.raft.commit_index();
        let caught_up = commit - commit / 10;
        let ready = self.raft.conf_state().learners.iter().copied().find(|id| {
            self.members.get(id).is_some_and(|member| member.promote_when_caught_up)
                && self.raft.progress(*id).is_some_and(|progress| progress.match_index >= caught_up)
        });
        if let Some(id) = ready {
            let change = ConfChange {
                changes: vec![raft::ConfChangeSingle { kind: ConfChangeKind::AddVoter, node_id: id }],
                ..ConfChange::default()
            };
            match self.raft.propose_conf_change(change) {
                Ok(()) => tracing::info!(member = %format!("{id:x}"), "promoting caught-up learner to voter"),
                Err(error) => tracing::debug!(member = %format!("{id:x}"), "promotion deferred: {error}"),
            }
        }
    }
}
