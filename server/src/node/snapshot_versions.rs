//! Older layouts of the node's snapshot payload, read so that data dirs written by earlier releases
//! still open: each is brought to the current `NodeSnapshotData`, with the state it did not carry at
//! its empty value. Version 4 had no alarms, 5 no v2 auth, 6 no lease renewal indexes, 7 no v3 auth.

use std::collections::{BTreeMap, BTreeSet};

use raft::NodeId;
use serde::Deserialize;
#[cfg(test)]
use serde::Serialize;

use super::snapshot::NodeSnapshotData;
use super::{AlarmMember, Member, SNAPSHOT_DATA_VERSION};
use crate::codec;

/// The payload before v3 auth was replicated (version 7).
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct NodeSnapshotDataVersion7 {
    version: u32,
    members: BTreeMap<NodeId, Member>,
    removed: BTreeSet<NodeId>,
    applied_requests: BTreeMap<NodeId, (u64, u64)>,
    cluster_version: Option<String>,
    store: Vec<u8>,
    mvcc: mvcc::Snapshot,
    alarms: BTreeSet<AlarmMember>,
    auth: store::auth::Auth,
    lease_renewed_at: BTreeMap<i64, u64>,
}

/// The payload before lease renewal indexes were replicated (version 6).
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct NodeSnapshotDataVersion6 {
    version: u32,
    members: BTreeMap<NodeId, Member>,
    removed: BTreeSet<NodeId>,
    applied_requests: BTreeMap<NodeId, (u64, u64)>,
    cluster_version: Option<String>,
    store: Vec<u8>,
    mvcc: mvcc::Snapshot,
    alarms: BTreeSet<AlarmMember>,
    auth: store::auth::Auth,
}

/// The payload before v2 auth was replicated (version 5).
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct NodeSnapshotDataVersion5 {
    version: u32,
    members: BTreeMap<NodeId, Member>,
    removed: BTreeSet<NodeId>,
    applied_requests: BTreeMap<NodeId, (u64, u64)>,
    cluster_version: Option<String>,
    store: Vec<u8>,
    mvcc: mvcc::Snapshot,
    alarms: BTreeSet<AlarmMember>,
}

/// The payload before alarms were replicated (version 4).
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct NodeSnapshotDataVersion4 {
    version: u32,
    members: BTreeMap<NodeId, Member>,
    removed: BTreeSet<NodeId>,
    applied_requests: BTreeMap<NodeId, (u64, u64)>,
    cluster_version: Option<String>,
    store: Vec<u8>,
    mvcc: mvcc::Snapshot,
}

const VERSION_WITHOUT_V3_AUTH: u32 = 7;
const VERSION_WITHOUT_LEASE_RENEWALS: u32 = 6;
const VERSION_WITHOUT_AUTH: u32 = 5;
const VERSION_WITHOUT_ALARMS: u32 = 4;

/// A version 7, 6, 5 or 4 payload, brought to the current layout; `None` for anything else.
pub(super) fn decode_older_snapshot_data(bytes: &[u8]) -> Option<NodeSnapshotData> {
    if let Ok(old) = codec::decode::<NodeSnapshotDataVersion7>(bytes)
        && old.version == VERSION_WITHOUT_V3_AUTH
    {
        return Some(from_version_7(old));
    }
    if let Ok(old) = codec::decode::<NodeSnapshotDataVersion6>(bytes)
        && old.version == VERSION_WITHOUT_LEASE_RENEWALS
    {
        return Some(from_version_7(from_version_6(old)));
    }
    if let Ok(old) = codec::decode::<NodeSnapshotDataVersion5>(bytes)
        && old.version == VERSION_WITHOUT_AUTH
    {
        return Some(from_version_7(from_version_6(from_version_5(old))));
    }
    let old = codec::decode::<NodeSnapshotDataVersion4>(bytes).ok()?;
    (old.version == VERSION_WITHOUT_ALARMS)
        .then(|| from_version_7(from_version_6(from_version_5(from_version_4(old)))))
}

fn from_version_7(old: NodeSnapshotDataVersion7) -> NodeSnapshotData {
    NodeSnapshotData {
        version: SNAPSHOT_DATA_VERSION,
        members: old.members,
        removed: old.removed,
        applied_requests: old.applied_requests,
        cluster_version: old.cluster_version,
        store: old.store,
        mvcc: old.mvcc,
        alarms: old.alarms,
        auth: old.auth,
        lease_renewed_at: old.lease_renewed_at,
        v3_auth: mvcc::AuthStore::default(),
    }
}

fn from_version_6(old: NodeSnapshotDataVersion6) -> NodeSnapshotDataVersion7 {
    NodeSnapshotDataVersion7 {
        version: VERSION_WITHOUT_V3_AUTH,
        members: old.members,
        removed: old.removed,
        applied_requests: old.applied_requests,
        cluster_version: old.cluster_version,
        store: old.store,
        mvcc: old.mvcc,
        alarms: old.alarms,
        auth: old.auth,
        lease_renewed_at: BTreeMap::new(),
    }
}

fn from_version_5(old: NodeSnapshotDataVersion5) -> NodeSnapshotDataVersion6 {
    NodeSnapshotDataVersion6 {
        version: VERSION_WITHOUT_LEASE_RENEWALS,
        members: old.members,
        removed: old.removed,
        applied_requests: old.applied_requests,
        cluster_version: old.cluster_version,
        store: old.store,
        mvcc: old.mvcc,
        alarms: old.alarms,
        auth: store::auth::Auth::default(),
    }
}

fn from_version_4(old: NodeSnapshotDataVersion4) -> NodeSnapshotDataVersion5 {
    NodeSnapshotDataVersion5 {
        version: VERSION_WITHOUT_AUTH,
        members: old.members,
        removed: old.removed,
        applied_requests: old.applied_requests,
        cluster_version: old.cluster_version,
        store: old.store,
        mvcc: old.mvcc,
        alarms: BTreeSet::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::snapshot::decode_snapshot_data;
    use super::*;

    #[test]
    fn a_version_4_payload_reads_with_no_alarms_and_other_versions_are_refused() {
        let old = NodeSnapshotDataVersion4 {
            version: VERSION_WITHOUT_ALARMS,
            members: BTreeMap::new(),
            removed: BTreeSet::from([7]),
            applied_requests: BTreeMap::new(),
            cluster_version: Some("3.4.0".to_string()),
            store: vec![1, 2, 3],
            mvcc: mvcc::Snapshot::default(),
        };
        let data = decode_snapshot_data(&codec::encode(&old)).expect("version 4 still reads");
        assert_eq!(data.version, SNAPSHOT_DATA_VERSION);
        assert_eq!(
            (data.removed, data.store, data.alarms),
            (BTreeSet::from([7]), vec![1, 2, 3], BTreeSet::new())
        );
        let unknown = NodeSnapshotDataVersion4 { version: 3, ..old };
        assert!(decode_snapshot_data(&codec::encode(&unknown)).is_err());
    }

    #[test]
    fn a_version_5_payload_reads_with_auth_off() {
        let old = NodeSnapshotDataVersion5 {
            version: VERSION_WITHOUT_AUTH,
            members: BTreeMap::new(),
            removed: BTreeSet::new(),
            applied_requests: BTreeMap::new(),
            cluster_version: None,
            store: vec![4],
            mvcc: mvcc::Snapshot::default(),
            alarms: BTreeSet::new(),
        };
        let data = decode_snapshot_data(&codec::encode(&old)).expect("version 5 still reads");
        assert_eq!((data.version, data.store), (SNAPSHOT_DATA_VERSION, vec![4]));
        assert_eq!(data.auth, store::auth::Auth::default());
    }

    #[test]
    fn a_version_6_payload_reads_with_no_lease_renewals() {
        let old = NodeSnapshotDataVersion6 {
            version: VERSION_WITHOUT_LEASE_RENEWALS,
            members: BTreeMap::new(),
            removed: BTreeSet::new(),
            applied_requests: BTreeMap::from([(1, (2, 3))]),
            cluster_version: None,
            store: vec![5],
            mvcc: mvcc::Snapshot::default(),
            alarms: BTreeSet::new(),
            auth: store::auth::Auth::default(),
        };
        let data = decode_snapshot_data(&codec::encode(&old)).expect("version 6 still reads");
        assert_eq!((data.version, data.store), (SNAPSHOT_DATA_VERSION, vec![5]));
        assert_eq!(data.applied_requests, BTreeMap::from([(1, (2, 3))]));
        assert!(data.lease_renewed_at.is_empty());
    }

    #[test]
    fn a_version_7_payload_reads_with_v3_auth_off() {
        let old = NodeSnapshotDataVersion7 {
            version: VERSION_WITHOUT_V3_AUTH,
            members: BTreeMap::new(),
            removed: BTreeSet::new(),
            applied_requests: BTreeMap::new(),
            cluster_version: None,
            store: vec![6],
            mvcc: mvcc::Snapshot::default(),
            alarms: BTreeSet::new(),
            auth: store::auth::Auth::default(),
            lease_renewed_at: BTreeMap::from([(9, 10)]),
        };
        let data = decode_snapshot_data(&codec::encode(&old)).expect("version 7 still reads");
        assert_eq!((data.version, data.store), (SNAPSHOT_DATA_VERSION, vec![6]));
        assert_eq!(data.lease_renewed_at, BTreeMap::from([(9, 10)]));
        assert_eq!(data.v3_auth, mvcc::AuthStore::default());
    }
}
