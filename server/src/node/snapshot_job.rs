//! The periodic snapshot's slow half, as work the node hands its shell: a consistent image of the
//! replicated state at the applied index (copied on the node thread) is encoded, written and fsynced
//! wherever the shell runs it (a blocking thread in production, a delayed event in the simulator), and
//! comes back as `SnapshotWritten`. Only then does the node record the WAL marker and compact the log
//! (`snapshot.rs`), so the marker never precedes a durable file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::Bytes;
use raft::{Index, NodeId, Snapshot, SnapshotMeta};

use super::snapshot::NodeSnapshotData;
use super::{AlarmMember, Member, SNAPSHOT_DATA_VERSION};
use crate::codec;
use crate::storage::snap::{SnapError, Snapshotter};

/// The replicated state at one applied index, copied so that the node can go on applying while it is
/// encoded. The same fields as `NodeSnapshotData`, with the v2 store still as a tree.
#[derive(Clone, Debug)]
pub(super) struct NodeSnapshotImage {
    pub(super) members: BTreeMap<NodeId, Member>,
    pub(super) removed: BTreeSet<NodeId>,
    pub(super) applied_requests: BTreeMap<NodeId, (u64, u64)>,
    pub(super) cluster_version: Option<String>,
    pub(super) store: store::StoreImage,
    pub(super) mvcc: mvcc::Snapshot,
    pub(super) alarms: BTreeSet<AlarmMember>,
    pub(super) auth: store::auth::Auth,
    pub(super) lease_renewed_at: BTreeMap<i64, u64>,
    pub(super) v3_auth: mvcc::AuthStore,
}

impl NodeSnapshotImage {
    /// The snapshot payload, exactly as a snapshot taken on the node thread at the same index.
    fn encode(self) -> Vec<u8> {
        let data = NodeSnapshotData {
            version: SNAPSHOT_DATA_VERSION,
            members: self.members,
            removed: self.removed,
            applied_requests: self.applied_requests,
            cluster_version: self.cluster_version,
            store: self.store.encode(),
            mvcc: self.mvcc,
            alarms: self.alarms,
            auth: self.auth,
            lease_renewed_at: self.lease_renewed_at,
            v3_auth: self.v3_auth,
        };
        codec::encode(&data)
    }
}

/// "Persist this snapshot image": encode it, write the file, fsync it and its directory. The shell runs
/// it off the node thread (`run`) and gives the result back with `Node::snapshot_written`. At most one
/// exists per node at a time.
pub struct SnapshotJob {
    pub(super) image: NodeSnapshotImage,
    /// Index, term and configuration at the applied index the image was taken at.
    pub(super) meta: SnapshotMeta,
    pub(super) snapshotter: Snapshotter,
    /// The newest snapshot the WAL had a marker for when the job was made: retention keeps it.
    pub(super) marked_index: Index,
}

impl fmt::Debug for SnapshotJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotJob").field("index", &self.meta.index).field("term", &self.meta.term).finish()
    }
}

impl SnapshotJob {
    /// The log index the snapshot covers.
    pub fn index(&self) -> Index {
        self.meta.index
    }

    /// Encodes the image and writes it durably (temporary file, fdatasync, rename, directory fsync),
    /// then removes the oldest files beyond `--max-snapshots`. Blocking: run it off the node thread.
    pub fn run(self) -> SnapshotWritten {
        assert!(self.marked_index < self.meta.index, "a snapshot job not newer than the marked snapshot");
        let snapshot = Snapshot { meta: self.meta, data: Bytes::from(self.image.encode()) };
        let outcome = self.snapshotter.save_beside(&snapshot, self.marked_index).map(|_| ());
        SnapshotWritten { snapshot, outcome }
    }
}

/// The end of a `SnapshotJob`: the snapshot (kept by Raft to send to slow followers once it is
/// recorded) and whether its file is durable.
pub struct SnapshotWritten {
    pub(super) snapshot: Snapshot,
    /// `Ok` only once the file and its directory entry were fsynced.
    pub(super) outcome: Result<(), SnapError>,
}

impl SnapshotWritten {
    /// The log index the snapshot covers.
    pub fn index(&self) -> Index {
        self.snapshot.meta.index
    }
}

impl fmt::Debug for SnapshotWritten {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotWritten")
            .field("index", &self.snapshot.meta.index)
            .field("durable", &self.outcome.is_ok())
            .finish()
    }
}
