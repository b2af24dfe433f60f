//! etcd 3.4's backend layout: the buckets of an etcd data file (`member/snap/db`) for a v3 keyspace
//! image, the way etcd's mvcc store, lessor, alarm store, auth store and membership write them.
//!
//! - `key`: each retained revision, keyed by 17 bytes (big-endian main, `_`, big-endian sub), an 18th
//!   byte `t` marking a tombstone; the value is the `mvccpb.KeyValue` (a tombstone's holds only the key).
//! - `meta`: `consistent_index` (big-endian u64, the Raft index the image is at) and, once the
//!   keyspace was compacted, `scheduledCompactRev` and `finishedCompactRev` (the compacted revision as
//!   a 17-byte revision key), so etcd's restore knows where history starts.
//! - `lease`: each lease keyed by its big-endian ID, the value a `leasepb.Lease` (ID, TTL,
//!   RemainingTTL); the keys attached follow from the `key` bucket's lease fields, as in etcd.
//! - `alarm`: each raised alarm as an encoded `AlarmMember` key with an empty value.
//! - `cluster`: the cluster version; `members`, `members_removed`, `auth`, `authUsers`, `authRoles`:
//!   empty (etcd's restore rewrites the membership anyway, and Concord has no auth store).
//!
//! Pure and deterministic: the same image gives the same bytes.

use prost::Message;

use super::bbolt::{Bucket, Entry, write_database};

/// The bbolt transaction id of the image's meta page (the other meta page has one less).
const IMAGE_TXID: u64 = 2;
/// The cluster version etcd 3.4 stores in the `cluster` bucket.
const CLUSTER_VERSION: &str = "3.4.0";
/// The byte that marks a tombstone's revision key.
const TOMBSTONE_MARK: u8 = b't';

/// What the image holds: the keyspace, the Raft index it is at, and the raised alarms as
/// (member ID, etcd `AlarmType` number).
#[derive(Clone, Copy, Debug)]
pub struct EtcdImage<'a> {
    pub keyspace: &'a mvcc::Snapshot,
    pub consistent_index: u64,
    pub alarms: &'a [(u64, i32)],
}

/// etcd's `leasepb.Lease`, as its lessor stores it.
#[derive(Clone, PartialEq, Message)]
pub struct StoredLease {
    #[prost(int64, tag = "1")]
    pub id: i64,
    #[prost(int64, tag = "2")]
    pub ttl: i64,
    #[prost(int64, tag = "3")]
    pub remaining_ttl: i64,
}

/// The bbolt database of the image.
pub fn etcd_database(image: &EtcdImage) -> Vec<u8> {
    write_database(&etcd_buckets(image), IMAGE_TXID)
}

/// The image's buckets, names in bbolt's (bytewise) order.
pub fn etcd_buckets(image: &EtcdImage) -> Vec<Bucket> {
    let mut buckets = vec![
        Bucket::new(b"alarm", alarm_entries(image.alarms)),
        Bucket::new(b"auth", Vec::new()),
        Bucket::new(b"authRoles", Vec::new()),
        Bucket::new(b"authUsers", Vec::new()),
        Bucket::new(b"cluster", vec![(b"clusterVersion".to_vec(), CLUSTER_VERSION.as_bytes().to_vec())]),
        Bucket::new(b"key", key_entries(image.keyspace)),
        Bucket::new(b"lease", lease_entries(image.keyspace)),
        Bucket::new(b"members", Vec::new()),
        Bucket::new(b"members_removed", Vec::new()),
        Bucket::new(b"meta", meta_entries(image)),
    ];
    buckets.sort_by(|first, second| first.name.cmp(&second.name));
    buckets
}

/// etcd's backend key of a revision.
pub fn revision_key(revision: mvcc::Revision, tombstone: bool) -> Vec<u8> {
    let mut key = Vec::with_capacity(18);
    key.extend_from_slice(&revision.main.to_be_bytes());
    key.push(b'_');
    key.extend_from_slice(&revision.sub.to_be_bytes());
    if tombstone {
        key.push(TOMBSTONE_MARK);
    }
    key
}

fn key_entries(keyspace: &mvcc::Snapshot) -> Vec<Entry> {
    keyspace
        .records
        .iter()
        .map(|record| {
            let tombstone = record.create_revision == 0;
            let stored = if tombstone {
                api::mvccpb::KeyValue { key: record.key.clone(), ..Default::default() }
            } else {
                api::mvccpb::KeyValue {
                    key: record.key.clone(),
                    create_revision: record.create_revision,
                    mod_revision: record.revision.main,
                    version: record.version,
                    value: record.value.clone(),
                    lease: record.lease,
                }
            };
            (revision_key(record.revision, tombstone), stored.encode_to_vec())
        })
        .collect()
}

fn lease_entries(keyspace: &mvcc::Snapshot) -> Vec<Entry> {
    let mut entries: Vec<Entry> = keyspace
        .leases
        .iter()
        .map(|lease| {
            let stored = StoredLease {
                id: lease.id,
                ttl: lease.ttl_seconds,
                remaining_ttl: lease.remaining_ttl_seconds,
            };
            (lease.id.to_be_bytes().to_vec(), stored.encode_to_vec())
        })
        .collect();
    entries.sort();
    entries
}

fn meta_entries(image: &EtcdImage) -> Vec<Entry> {
    let mut entries = vec![(b"consistent_index".to_vec(), image.consistent_index.to_be_bytes().to_vec())];
    let compacted = image.keyspace.compacted_revision;
    if compacted > 0 {
        let revision = revision_key(mvcc::Revision::new(compacted, 0), false);
        entries.push((b"finishedCompactRev".to_vec(), revision.clone()));
        entries.push((b"scheduledCompactRev".to_vec(), revision));
    }
    entries.sort();
    entries
}

fn alarm_entries(alarms: &[(u64, i32)]) -> Vec<Entry> {
    let mut entries: Vec<Entry> = alarms
        .iter()
        .map(|(member_id, alarm)| {
            let stored = api::etcdserverpb::AlarmMember { member_id: *member_id, alarm: *alarm };
            (stored.encode_to_vec(), Vec::new())
        })
        .collect();
    entries.sort();
    entries.dedup();
    entries
}
