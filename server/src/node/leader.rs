//! What only the leader does on its ticks: record the cluster version once every member published,
//! promote learners that were added as voters once they caught up, and compact the v3 keyspace by
//! itself (etcd's auto-compaction).

use raft::{ConfChange, ConfChangeKind, Role};

use super::entry::Operation;
use super::{AutoCompaction, CLUSTER_VERSION, Node};

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

    /// etcd's auto-compaction, on the leader only (a member that stops leading forgets its samples):
    /// periodic mode compacts to the revision current one retention period ago, revision mode keeps
    /// the newest `retention_revisions`. The compaction goes through the log like a client's.
    pub(super) fn auto_compact(&mut self) {
        if self.raft.role() != Role::Leader {
            self.compaction_samples.clear();
            return;
        }
        let target = match self.config.auto_compaction {
            AutoCompaction::Off => return,
            AutoCompaction::Periodic { retention_ticks, interval_ticks } => {
                if !self.ticks.is_multiple_of(interval_ticks.max(1)) {
                    return;
                }
                let samples_kept = (retention_ticks / interval_ticks.max(1)) as usize + 1;
                self.compaction_samples.push_back(self.mvcc.current_revision());
                while self.compaction_samples.len() > samples_kept {
                    self.compaction_samples.pop_front();
                }
                if self.compaction_samples.len() < samples_kept {
                    return;
                }
                self.compaction_samples[0]
            }
            AutoCompaction::Revision { retention_revisions, interval_ticks } => {
                if !self.ticks.is_multiple_of(interval_ticks.max(1)) {
                    return;
                }
                self.mvcc.current_revision() - retention_revisions
            }
        };
        if target > self.mvcc.compacted_revision() && target <= self.mvcc.current_revision() {
            let compact = mvcc::CompactionRequest { revision: target, physical: false };
            let _ = self.propose(Operation::V3(mvcc::Command::Compaction(compact)));
        }
    }
}
