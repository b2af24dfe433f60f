//! etcd 3.4's v3 backend (`member/snap/db`, a bbolt file) read into Concord's v3 keyspace image: the
//! `key` bucket's revisions (tombstones included), the compaction point from `meta`, the leases, the
//! raised alarms, the Raft index the file is at (`consistent_index`: the log's v3 requests above it
//! are not in the file yet) and whether v3 auth is on (Concord serves no v3 auth). The file is read
//! with the validating bbolt reader of `v3_snapshot`, so a damaged file is refused.

use std::collections::BTreeMap;
use std::path::Path;

use prost::Message;

use crate::v3_snapshot::bbolt::Entry;
use crate::v3_snapshot::bbolt_reader::read_database;
use crate::v3_snapshot::etcd_db::StoredLease;

/// Bytes of a revision key (big-endian main, `_`, big-endian sub); a tombstone's has a 18th, `t`.
const REVISION_KEY_BYTES: usize = 17;

/// What the backend file holds, as Concord needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdBackend {
    pub keyspace: mvcc::Snapshot,
    /// The Raft index of the last entry whose v3 effects are in the file.
    pub consistent_index: u64,
    /// Raised alarms as (member ID, etcd `AlarmType` number).
    pub alarms: Vec<(u64, i32)>,
    pub auth_enabled: bool,
}

/// Reads and checks `path`.
pub fn read_backend(path: &Path) -> Result<EtcdBackend, String> {
    let bytes = std::fs::read(path).map_err(|error| format!("{}: read: {error}", path.display()))?;
    backend_from_bytes(&bytes).map_err(|error| format!("{}: {error}", path.display()))
}

/// The image of a bbolt file's bytes.
pub fn backend_from_bytes(bytes: &[u8]) -> Result<EtcdBackend, String> {
    let (_, buckets) = read_database(bytes).map_err(|error| error.to_string())?;
    let buckets: BTreeMap<Vec<u8>, Vec<Entry>> =
        buckets.into_iter().map(|bucket| (bucket.name, bucket.entries)).collect();
    let empty = Vec::new();
    let bucket = |name: &[u8]| buckets.get(name).unwrap_or(&empty);
    let meta: BTreeMap<&[u8], &[u8]> =
        bucket(b"meta").iter().map(|(key, value)| (key.as_slice(), value.as_slice())).collect();
    let consistent_index = match meta.get(b"consistent_index".as_slice()) {
        Some(value) => {
            u64::from_be_bytes((*value).try_into().map_err(|_| "consistent_index is not 8 bytes")?)
        }
        None => 0,
    };
    let compacted = match meta.get(b"finishedCompactRev".as_slice()) {
        Some(value) => revision_of(value)?.0,
        None => 0,
    };
    let records =
        bucket(b"key").iter().map(|(key, value)| record_of(key, value)).collect::<Result<Vec<_>, _>>()?;
    let last = records.last().map_or(1, |record| record.revision.main);
    let keyspace = mvcc::Snapshot {
        current_revision: last.max(compacted).max(1),
        compacted_revision: compacted,
        records,
        leases: bucket(b"lease").iter().map(|(_, value)| lease_of(value)).collect::<Result<Vec<_>, _>>()?,
    };
    let alarms = bucket(b"alarm")
        .iter()
        .map(|(key, _)| {
            api::etcdserverpb::AlarmMember::decode(key.as_slice())
                .map(|alarm| (alarm.member_id, alarm.alarm))
                .map_err(|error| format!("alarm bucket: {error}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let auth_enabled = bucket(b"auth")
        .iter()
        .any(|(key, value)| key.as_slice() == b"authEnabled" && value.as_slice() == [1]);
    Ok(EtcdBackend { keyspace, consistent_index, alarms, auth_enabled })
}

/// (main, sub, tombstone) of a revision key.
fn revision_of(key: &[u8]) -> Result<(i64, i64, bool), String> {
    let tombstone = match key.len() {
        REVISION_KEY_BYTES => false,
        18 if key[REVISION_KEY_BYTES] == b't' => true,
        _ => return Err(format!("revision key of {} bytes", key.len())),
    };
    if key[8] != b'_' {
        return Err("revision key without its separator".to_string());
    }
    let main = i64::from_be_bytes(key[..8].try_into().expect("8 bytes"));
    let sub = i64::from_be_bytes(key[9..17].try_into().expect("8 bytes"));
    Ok((main, sub, tombstone))
}

fn record_of(key: &[u8], value: &[u8]) -> Result<mvcc::SnapshotRecord, String> {
    let (main, sub, tombstone) = revision_of(key)?;
    let stored = api::mvccpb::KeyValue::decode(value).map_err(|error| format!("key bucket: {error}"))?;
    let revision = mvcc::Revision::new(main, sub);
    if tombstone {
        return Ok(mvcc::SnapshotRecord { revision, key: stored.key, ..mvcc::SnapshotRecord::default() });
    }
    if stored.mod_revision != main {
        return Err(format!("key at revision {main} says it was modified at {}", stored.mod_revision));
    }
    Ok(mvcc::SnapshotRecord {
        revision,
        key: stored.key,
        value: stored.value,
        create_revision: stored.create_revision,
        version: stored.version,
        lease: stored.lease,
    })
}

fn lease_of(value: &[u8]) -> Result<mvcc::SnapshotLease, String> {
    let stored = StoredLease::decode(value).map_err(|error| format!("lease bucket: {error}"))?;
    Ok(mvcc::SnapshotLease {
        id: stored.id,
        ttl_seconds: stored.ttl,
        remaining_ttl_seconds: stored.remaining_ttl,
        expiry_ms: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v3_snapshot::etcd_db::{EtcdImage, etcd_database};

    fn keyspace_with_history() -> mvcc::Snapshot {
        let mut keyspace = mvcc::Mvcc::new(mvcc::Config::default());
        keyspace.put(&mvcc::PutRequest::new("a", "1")).expect("put");
        keyspace.put(&mvcc::PutRequest::new("a", "2")).expect("put");
        keyspace.put(&mvcc::PutRequest::new("b", "x")).expect("put");
        keyspace.delete_range(&mvcc::DeleteRangeRequest::key("b")).expect("delete");
        keyspace.compact(&mvcc::CompactionRequest { revision: 3, physical: false }).expect("compact");
        keyspace.snapshot()
    }

    #[test]
    fn an_etcd_database_reads_back_as_the_keyspace_it_was_written_from() {
        let keyspace = keyspace_with_history();
        let alarms = [(7, 1)];
        let bytes = etcd_database(&EtcdImage { keyspace: &keyspace, consistent_index: 42, alarms: &alarms });
        let backend = backend_from_bytes(&bytes).expect("a valid database");
        assert_eq!(backend.keyspace, keyspace);
        assert_eq!(
            (backend.consistent_index, backend.alarms, backend.auth_enabled),
            (42, vec![(7, 1)], false)
        );
    }

    #[test]
    fn a_damaged_database_is_refused() {
        let keyspace = keyspace_with_history();
        let mut bytes = etcd_database(&EtcdImage { keyspace: &keyspace, consistent_index: 1, alarms: &[] });
        bytes.truncate(bytes.len() - 4096);
        assert!(backend_from_bytes(&bytes).is_err());
    }
}
