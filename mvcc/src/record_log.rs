//! The retained records in revision order (etcd's backend `key` bucket): one record per change, a
//! version of a key or its tombstone. Writes only ever append newer revisions and only compaction
//! removes any, so a sorted double-ended queue holds them with less memory than a tree: lookups are
//! binary searches, replays and hashes walk it in order.

use crate::key_value::KeyValue;
use crate::revision::Revision;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

/// A key's bytes, shared by the index and every record of the key.
pub(crate) type Key = Arc<[u8]>;

/// One change: a version of a key, or its tombstone (`create_revision == 0`, like etcd's stored
/// tombstones, which hold only the key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) key: Key,
    pub(crate) value: Box<[u8]>,
    pub(crate) create_revision: i64,
    pub(crate) version: i64,
    pub(crate) lease: i64,
}

impl Record {
    pub(crate) fn tombstone(key: Key) -> Record {
        Record { key, value: Box::default(), create_revision: 0, version: 0, lease: 0 }
    }

    pub(crate) fn is_tombstone(&self) -> bool {
        self.create_revision == 0
    }

    /// The client's view of this record at `revision`. For a tombstone: the key and `mod_revision`.
    pub(crate) fn to_key_value(&self, revision: Revision) -> KeyValue {
        KeyValue {
            key: self.key.to_vec(),
            create_revision: self.create_revision,
            mod_revision: revision.main,
            version: self.version,
            value: self.value.to_vec(),
            lease: self.lease,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RecordLog {
    entries: VecDeque<(Revision, Record)>,
    /// Bytes of the retained records' keys and values.
    data_bytes: u64,
}

impl RecordLog {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of the retained records' keys and values.
    pub(crate) fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// Position of the first record at or after `revision`.
    fn position(&self, revision: Revision) -> usize {
        self.entries.partition_point(|(entry_revision, _)| *entry_revision < revision)
    }

    pub(crate) fn get(&self, revision: Revision) -> Option<&Record> {
        let position = self.position(revision);
        match self.entries.get(position) {
            Some((entry_revision, record)) if *entry_revision == revision => Some(record),
            _ => None,
        }
    }

    /// Appends the record of a revision newer than every retained one.
    pub(crate) fn push(&mut self, revision: Revision, record: Record) {
        if let Some((newest, _)) = self.entries.back() {
            assert!(revision > *newest, "record {revision:?} not after {newest:?}");
        }
        self.data_bytes += record_bytes(&record);
        self.entries.push_back((revision, record));
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (Revision, &Record)> {
        self.entries.iter().map(|(revision, record)| (*revision, record))
    }

    /// The records from `from` (included) to `to` (excluded), oldest first.
    pub(crate) fn between(&self, from: Revision, to: Revision) -> impl Iterator<Item = (Revision, &Record)> {
        let start = self.position(from);
        let end = self.position(to).max(start);
        self.entries.range(start..end).map(|(revision, record)| (*revision, record))
    }

    /// Removes every record before `before` except those in `keep`; returns how many went.
    pub(crate) fn remove_before(&mut self, before: Revision, keep: &BTreeSet<Revision>) -> usize {
        let end = self.position(before);
        let mut kept: Vec<(Revision, Record)> = Vec::with_capacity(keep.len());
        for (revision, record) in self.entries.drain(..end) {
            if keep.contains(&revision) {
                kept.push((revision, record));
            } else {
                self.data_bytes -= record_bytes(&record);
            }
        }
        let removed = end - kept.len();
        for entry in kept.into_iter().rev() {
            self.entries.push_front(entry);
        }
        if self.entries.capacity() > 2 * self.entries.len() + 64 {
            self.entries.shrink_to(self.entries.len() + self.entries.len() / 4);
        }
        removed
    }
}

fn record_bytes(record: &Record) -> u64 {
    (record.key.len() + record.value.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(mains: &[i64]) -> RecordLog {
        let mut log = RecordLog::default();
        for main in mains {
            log.push(Revision::new(*main, 0), Record::tombstone(Key::from(&b"k"[..])));
        }
        log
    }

    #[test]
    fn lookups_and_ranges_follow_revision_order() {
        let log = log_of(&[2, 3, 5, 8]);
        assert!(log.get(Revision::new(5, 0)).is_some());
        assert!(log.get(Revision::new(4, 0)).is_none());
        let mains: Vec<i64> =
            log.between(Revision::new(3, 0), Revision::new(8, 0)).map(|(r, _)| r.main).collect();
        assert_eq!(mains, [3, 5]);
        assert_eq!(log.between(Revision::new(9, 0), Revision::new(3, 0)).count(), 0);
    }

    #[test]
    fn removal_keeps_the_chosen_old_records_and_everything_newer() {
        let mut log = log_of(&[2, 3, 5, 8]);
        let keep = BTreeSet::from([Revision::new(3, 0)]);
        assert_eq!(log.remove_before(Revision::new(6, 0), &keep), 2);
        let mains: Vec<i64> = log.iter().map(|(r, _)| r.main).collect();
        assert_eq!(mains, [3, 8]);
        assert_eq!(log.data_bytes(), 2, "two one-byte keys remain");
    }

    #[test]
    fn data_bytes_count_keys_and_values_of_retained_records() {
        let mut log = RecordLog::default();
        let record = Record {
            key: Key::from(&b"key"[..]),
            value: vec![0; 10].into(),
            create_revision: 2,
            version: 1,
            lease: 0,
        };
        log.push(Revision::new(2, 0), record);
        log.push(Revision::new(3, 0), Record::tombstone(Key::from(&b"key"[..])));
        assert_eq!(log.data_bytes(), 13 + 3);
        assert_eq!(log.remove_before(Revision::new(3, 0), &BTreeSet::new()), 1);
        assert_eq!(log.data_bytes(), 3);
    }

    #[test]
    #[should_panic(expected = "not after")]
    fn records_only_append() {
        let mut log = log_of(&[3]);
        log.push(Revision::new(2, 0), Record::tombstone(Key::from(&b"k"[..])));
    }
}
