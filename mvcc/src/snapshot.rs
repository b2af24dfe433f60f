//! Snapshots: the whole state (every retained revision, the current and compacted revisions, leases)
//! as plain serde data the node encodes with its codec, and an exact, validating restore that rebuilds
//! the index from the records the way etcd rebuilds it from its backend.

use crate::key_index::KeyIndex;
use crate::keyspace::{INITIAL_REVISION, Key, KeyRange, Keyspace, NEVER_COMPACTED, Record};
use crate::lease_requests::MAX_LEASE_TTL_SECONDS;
use crate::lessor::Lessor;
use crate::mvcc::{Config, Mvcc};
use crate::revision::Revision;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The state of an `Mvcc`, in revision order. A tombstone record has `create_revision == 0` and no
/// value, version or lease (etcd's stored tombstones hold only the key).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub current_revision: i64,
    pub compacted_revision: i64,
    pub records: Vec<SnapshotRecord>,
    pub leases: Vec<SnapshotLease>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    pub revision: Revision,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub version: i64,
    pub lease: i64,
}

/// A lease; its keys follow from the live records' `lease` fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotLease {
    pub id: i64,
    pub ttl_seconds: i64,
    pub remaining_ttl_seconds: i64,
    pub expiry_ms: Option<i64>,
}

/// Why a snapshot cannot be restored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotError(pub String);

impl fmt::Display for SnapshotError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "invalid mvcc snapshot: {}", self.0)
    }
}

impl std::error::Error for SnapshotError {}

fn invalid(problem: String) -> SnapshotError {
    SnapshotError(problem)
}

impl Mvcc {
    /// The whole state. The events of the last command are not part of it.
    pub fn snapshot(&self) -> Snapshot {
        let records = self
            .keyspace
            .records
            .iter()
            .map(|(revision, record)| SnapshotRecord {
                revision,
                key: record.key.to_vec(),
                value: record.value.to_vec(),
                create_revision: record.create_revision,
                version: record.version,
                lease: record.lease,
            })
            .collect();
        let leases = self
            .lessor
            .leases
            .iter()
            .map(|(id, lease)| SnapshotLease {
                id: *id,
                ttl_seconds: lease.ttl_seconds,
                remaining_ttl_seconds: lease.remaining_ttl_seconds,
                expiry_ms: lease.expiry_ms,
            })
            .collect();
        Snapshot {
            current_revision: self.keyspace.current_revision,
            compacted_revision: self.keyspace.compacted_revision,
            records,
            leases,
        }
    }

    /// Rebuilds the state a snapshot was taken of. Any inconsistency is an error, never a panic.
    pub fn restore(snapshot: &Snapshot, config: Config) -> Result<Mvcc, SnapshotError> {
        let (current, compacted) = (snapshot.current_revision, snapshot.compacted_revision);
        if current < INITIAL_REVISION || compacted < NEVER_COMPACTED || compacted > current {
            return Err(invalid(format!("current revision {current}, compacted {compacted}")));
        }
        let mut mvcc = Mvcc::new(config);
        mvcc.keyspace.current_revision = current;
        mvcc.keyspace.compacted_revision = compacted;
        restore_leases(&mut mvcc.lessor, &snapshot.leases)?;
        let mut previous: Option<Revision> = None;
        for record in &snapshot.records {
            if previous.is_some_and(|previous| previous >= record.revision) {
                return Err(invalid(format!("record {:?} out of order", record.revision)));
            }
            previous = Some(record.revision);
            restore_record(&mut mvcc.keyspace, record)?;
        }
        attach_leases(&mut mvcc)?;
        mvcc.check_invariants().map_err(invalid)?;
        Ok(mvcc)
    }
}

fn restore_leases(lessor: &mut Lessor, leases: &[SnapshotLease]) -> Result<(), SnapshotError> {
    for lease in leases {
        let ttl_valid = (1..=MAX_LEASE_TTL_SECONDS).contains(&lease.ttl_seconds);
        if lease.id == 0 || !ttl_valid || lease.remaining_ttl_seconds < 0 || lessor.exists(lease.id) {
            return Err(invalid(format!("lease {lease:?}")));
        }
        lessor.insert_restored(lease.id, lease.ttl_seconds, lease.remaining_ttl_seconds, lease.expiry_ms);
    }
    Ok(())
}

/// Adds one record to the keyspace, checking it continues its key's history.
fn restore_record(keyspace: &mut Keyspace, record: &SnapshotRecord) -> Result<(), SnapshotError> {
    let revision = record.revision;
    let in_range =
        revision.main > INITIAL_REVISION && revision.main <= keyspace.current_revision && revision.sub >= 0;
    if !in_range || record.key.is_empty() {
        return Err(invalid(format!("record {revision:?} with key {:?}", record.key)));
    }
    let key: Key = match keyspace.index.get_key_value(&record.key[..]) {
        Some((key, _)) => key.clone(),
        None => Key::from(&record.key[..]),
    };
    let compacted = keyspace.compacted_revision;
    let index = keyspace.index.entry(key.clone()).or_insert_with(KeyIndex::new);
    if record.create_revision == 0 {
        if !index.is_live() || !record.value.is_empty() || record.version != 0 || record.lease != 0 {
            return Err(invalid(format!("tombstone {revision:?}")));
        }
        index.tombstone(revision);
        keyspace.records.push(revision, Record::tombstone(key));
        return Ok(());
    }
    check_put_continues(index, record, compacted)?;
    if index.is_live() || record.create_revision == revision.main {
        index.put(revision);
    } else {
        index.put_restored(revision, record.create_revision, record.version);
    }
    let value = record.value.clone().into_boxed_slice();
    let stored = Record {
        key,
        value,
        create_revision: record.create_revision,
        version: record.version,
        lease: record.lease,
    };
    keyspace.records.push(revision, stored);
    Ok(())
}

/// A put either starts a generation (at its own revision with version 1, or, for the version a
/// compaction kept, earlier) or continues the live one (same creation, next version).
fn check_put_continues(
    index: &KeyIndex,
    record: &SnapshotRecord,
    compacted: i64,
) -> Result<(), SnapshotError> {
    let revision = record.revision;
    let consistent = match index.get(revision.main) {
        Some(found) => {
            found.created == record.create_revision
                && found.version + 1 == record.version
                && found.modified < revision
        }
        None if index.is_live() => false,
        None if record.create_revision == revision.main => record.version == 1,
        None => revision.main <= compacted && record.create_revision < revision.main && record.version >= 1,
    };
    if !consistent || record.create_revision < INITIAL_REVISION + 1 {
        return Err(invalid(format!("put {revision:?} does not continue its key's history")));
    }
    Ok(())
}

/// Attaches every live key with a lease to it (etcd's restore does the same from its backend).
fn attach_leases(mvcc: &mut Mvcc) -> Result<(), SnapshotError> {
    let live = mvcc.keyspace.live_at(KeyRange::FromKey(&[]), mvcc.keyspace.current_revision);
    for (key, revision) in live {
        let lease = mvcc.keyspace.record(revision).lease;
        if lease == 0 {
            continue;
        }
        if !mvcc.lessor.exists(lease) {
            return Err(invalid(format!("key {key:?} has unknown lease {lease}")));
        }
        mvcc.lessor.attach(lease, key);
    }
    Ok(())
}
