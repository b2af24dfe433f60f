//! Snapshots: the node's snapshot payload (v2 store, v3 keyspace, membership, exactly-once table,
//! cluster version, alarms, v2 auth, v3 auth); starting one every `snapshot_count` applied entries
//! (an image handed to the shell as a `SnapshotJob`) and recording it once its file is durable; and
//! installing a leader's.

use std::collections::{BTreeMap, BTreeSet};

use raft::{NodeId, Snapshot, SnapshotMeta};
use serde::{Deserialize, Serialize};
use store::Store;

use super::snapshot_job::{NodeSnapshotImage, SnapshotJob, SnapshotWritten};
use super::snapshot_versions;
use super::v3::mvcc_config;
use super::{AlarmMember, Member, Node, NodeConfig, NodeError, Reply, SNAPSHOT_DATA_VERSION};
use crate::codec;
use crate::storage::wal::WalSnapshot;

/// The payload of a node snapshot: the store's own snapshot plus the membership.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodeSnapshotData {
    pub(crate) version: u32,
    pub(crate) members: BTreeMap<NodeId, Member>,
    pub(crate) removed: BTreeSet<NodeId>,
    pub(crate) applied_requests: BTreeMap<NodeId, (u64, u64)>,
    pub(crate) cluster_version: Option<String>,
    pub(crate) store: Vec<u8>,
    /// The v3 keyspace and its leases: both keyspaces come from one log and go into one snapshot.
    pub(crate) mvcc: mvcc::Snapshot,
    /// The raised alarms (version 5 on; a version 4 snapshot has none).
    pub(crate) alarms: BTreeSet<AlarmMember>,
    /// The v2 auth state (version 6 on; older snapshots have auth off and no users).
    pub(crate) auth: store::auth::Auth,
    /// The log index of each lease's last applied keep-alive (version 7 on; older snapshots have none,
    /// which only lets a pending expiry of theirs go ahead as it did then).
    pub(crate) lease_renewed_at: BTreeMap<i64, u64>,
    /// The v3 users, roles, enabled flag and auth revision (version 8 on; older snapshots have v3 auth
    /// off and no users). Tokens are not replicated state: each member keeps its own.
    pub(crate) v3_auth: mvcc::AuthStore,
}

/// The v3 keyspace of a snapshot, with the settings every member shares.
pub(super) fn restore_mvcc(snapshot: &mvcc::Snapshot, config: &NodeConfig) -> Result<mvcc::Mvcc, NodeError> {
    mvcc::Mvcc::restore(snapshot, mvcc_config(config))
        .map_err(|error| NodeError::SnapshotData(format!("v3 keyspace: {error}")))
}

pub(crate) fn decode_snapshot_data(bytes: &[u8]) -> Result<NodeSnapshotData, NodeError> {
    let data: NodeSnapshotData = match codec::decode(bytes) {
        Ok(data) => data,
        Err(error) => match snapshot_versions::decode_older_snapshot_data(bytes) {
            Some(data) => data,
            None => return Err(NodeError::SnapshotData(format!("undecodable: {error}"))),
        },
    };
    if data.version != SNAPSHOT_DATA_VERSION {
        return Err(NodeError::SnapshotData(format!("unknown snapshot data version {}", data.version)));
    }
    Ok(data)
}

impl Node {
    /// Once `snapshot_count` entries were applied since the last snapshot and none is in flight, copies
    /// the state at the applied index and hands it to the shell as a `SnapshotJob` (in the next
    /// `Output`). The log is compacted only when the file is durable (`finish_snapshot`).
    pub(super) fn maybe_snapshot(&mut self) {
        let applied = self.raft.applied_index();
        if applied < self.snapshot_index + self.config.snapshot_count.max(1)
            || self.snapshot_in_flight.is_some()
        {
            return;
        }
        let (Some(term), Some(conf_state)) = (self.raft.term_at(applied), self.raft.conf_state_at(applied))
        else {
            return;
        };
        assert!(applied > self.snapshot_index, "a snapshot that is not newer than the last one");
        assert!(self.snapshot_job.is_none(), "a snapshot job made while another waits for the shell");
        let job = SnapshotJob {
            image: self.snapshot_image(),
            meta: SnapshotMeta { index: applied, term, conf_state },
            snapshotter: self.snapshotter.clone(),
            marked_index: self.snapshot_index,
        };
        self.snapshot_in_flight = Some(WalSnapshot { index: applied, term });
        self.snapshot_job = Some(job);
    }

    /// A consistent copy of the replicated state at the applied index.
    fn snapshot_image(&self) -> NodeSnapshotImage {
        NodeSnapshotImage {
            members: self.members.clone(),
            removed: self.removed.clone(),
            applied_requests: self.applied_requests.clone(),
            cluster_version: self.cluster_version.clone(),
            store: self.store.image(),
            mvcc: self.mvcc.snapshot(),
            alarms: self.alarms.clone(),
            auth: self.auth.clone(),
            lease_renewed_at: self.lease_renewed_at.clone(),
            v3_auth: self.v3_auth.clone(),
        }
    }

    /// The shell finished the `SnapshotJob` this node handed out; the next `process()` records it.
    pub fn snapshot_written(&mut self, written: SnapshotWritten) {
        let in_flight = self.snapshot_in_flight.expect("a snapshot written that this node never asked for");
        assert_eq!(written.index(), in_flight.index, "a snapshot written other than the one in flight");
        assert!(self.snapshot_written.is_none(), "two snapshots written for one job");
        self.snapshot_written = Some(written);
    }

    /// Records a written snapshot: once its file is durable, the WAL marker (fsynced), then the log
    /// compaction and the release of covered WAL segments. A snapshot overtaken by a leader's installed
    /// meanwhile is dropped (its file is an older one retention removes). A failed write stops the node.
    pub(super) fn finish_snapshot(&mut self) -> Result<(), NodeError> {
        let Some(written) = self.snapshot_written.take() else {
            return Ok(());
        };
        let in_flight = self.snapshot_in_flight.take().expect("a written snapshot was in flight");
        written.outcome?;
        if in_flight.index <= self.snapshot_index {
            tracing::info!(index = in_flight.index, "dropped a snapshot overtaken by the leader's");
            return Ok(());
        }
        // The marker never precedes the durable file: the job's outcome says the file was fsynced.
        assert!(self.snapshotter.exists(in_flight)?, "a snapshot marker for a file that is not there");
        self.wal.save_snapshot_marker(in_flight)?;
        self.wal.sync()?;
        self.snapshot_index = in_flight.index;
        let compact_to = in_flight.index.saturating_sub(self.config.snapshot_catchup_entries);
        assert!(compact_to <= self.snapshot_index, "compaction beyond the durable snapshot");
        self.raft.compact(written.snapshot, compact_to);
        self.wal.release_to(in_flight.index)?;
        tracing::info!(member = %format!("{:x}", self.config.id), index = in_flight.index, term = in_flight.term, "saved snapshot");
        Ok(())
    }

    /// Persists a leader's snapshot (file, then the WAL marker that voids the older log) and restores
    /// the store and membership from it. Watchers of the replaced store end.
    pub(super) fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), NodeError> {
        let data = decode_snapshot_data(&snapshot.data)?;
        let store = Store::restore_with_history_limits(&data.store, self.config.v2_watch_history)
            .map_err(|error| NodeError::SnapshotData(error.to_string()))?;
        let mut keyspace = restore_mvcc(&data.mvcc, &self.config)?;
        self.snapshotter.save_beside(snapshot, self.snapshot_index)?;
        self.wal.save_installed_snapshot_marker(WalSnapshot {
            index: snapshot.meta.index,
            term: snapshot.meta.term,
        })?;
        self.wal.sync()?;
        self.store = store;
        // A follower's leases never expire; v3 watches catch up from the new keyspace's history (or
        // end with `Compacted` when it no longer has their next revision).
        keyspace.demote();
        self.mvcc = keyspace;
        self.members = data.members;
        self.membership_version += 1;
        self.removed = data.removed;
        self.applied_requests = data.applied_requests;
        self.cluster_version = data.cluster_version;
        self.alarms = data.alarms;
        self.auth = data.auth;
        self.lease_renewed_at = data.lease_renewed_at;
        self.install_v3_auth(data.v3_auth);
        if self.removed.contains(&self.config.id) {
            self.removed_self = true;
        }
        assert!(snapshot.meta.index > self.last_applied_index, "installed a snapshot that is not newer");
        self.snapshot_index = snapshot.meta.index;
        self.last_applied_index = snapshot.meta.index;
        let watches: Vec<u64> = self.watch_requests.values().map(|(request_id, _)| *request_id).collect();
        for request_id in watches {
            self.answer(request_id, Ok(Reply::WatchClosed));
        }
        self.watch_requests.clear();
        self.watchers_by_request.clear();
        tracing::info!(member = %format!("{:x}", self.config.id), index = snapshot.meta.index, "installed leader snapshot");
        Ok(())
    }
}
