//! The status copy the HTTP layer reads without asking the node thread: `/v2/stats`, `/v2/members`,
//! `/metrics` and `/health` are answered from it.

use raft::Role;

use super::node_loop::NodeLoop;
use crate::http::backend as api;

impl NodeLoop {
    pub(super) fn publish_status(&self) {
        let node_status = self.node.status();
        let raft = self.node.raft();
        let followers = (raft.role() == Role::Leader).then(|| {
            raft.conf_state()
                .all_members()
                .into_iter()
                .filter(|id| *id != node_status.id)
                .map(|id| api::FollowerStats { id, ..api::FollowerStats::default() })
                .collect()
        });
        let status = api::NodeStatus {
            name: self.name.clone(),
            member_id: node_status.id,
            cluster_id: node_status.cluster_id,
            leader_id: node_status.leader.unwrap_or(0),
            term: node_status.term,
            commit_index: node_status.commit_index,
            applied_index: node_status.applied_index,
            members: node_status
                .members
                .iter()
                .map(|member| api::Member {
                    id: member.id,
                    name: member.name.clone(),
                    peer_urls: member.peer_urls.clone(),
                    client_urls: member.client_urls.clone(),
                    // A member added as a voter waits as a learner only until it catches up; to the
                    // operator (and etcd, which adds voters directly) it is a voter.
                    is_learner: member.is_learner && !member.promote_when_caught_up,
                })
                .collect(),
            start_time: self.start_nanos,
            leader_start_time: self.leader_since,
            followers,
            store_stats: self.node.store().stats(),
            v3_revision: node_status.v3_revision,
            v3_size_bytes: i64::try_from(node_status.v3_size_bytes).unwrap_or(i64::MAX),
            auth_enabled: self.node.auth().enabled(),
            metrics: api::ServerMetrics {
                leader_changes_seen: self.leader_changes,
                proposals_committed: node_status.commit_index,
                proposals_applied: node_status.applied_index,
                proposals_pending: self.node.pending_requests() as u64,
                wal_fsync_seconds: self.disk_timings.wal_fsync.lock().map(|h| h.clone()).unwrap_or_default(),
                backend_commit_seconds: self
                    .disk_timings
                    .snapshot_fsync
                    .lock()
                    .map(|h| h.clone())
                    .unwrap_or_default(),
                watchers: node_status.watchers as u64,
                watchers_refused: node_status.watchers_refused,
                transport_messages_dropped: self.transport.stats().dropped.total(),
                raft_messages_dropped: self.node.raft().stats().dropped_messages,
                ..api::ServerMetrics::default()
            },
            ..api::NodeStatus::default()
        };
        if let Ok(mut shared) = self.status.write() {
            *shared = status;
        }
    }
}
