//! The multi-version keyspace: every retained revision's record, in revision order (etcd's backend
//! `key` bucket), and the per-key index of revisions (etcd's `treeIndex`), plus the current and
//! compacted revisions. Knows nothing of requests, leases or transactions: `write` and `range` build
//! those on top.
//!
//! Invariants (checked by `check_invariants`): every revision an index holds has a record and every
//! record is in its key's index; each main revision after the compacted one (and after 1) has records
//! with subs 0, 1, ... and nothing is newer than the current revision; a tombstone record
//! (`create_revision == 0`) has no value, version or lease.

use crate::key_index::{Found, KeyIndex};
use crate::key_value::KeyValue;
pub(crate) use crate::record_log::{Key, Record, RecordLog};
use crate::revision::Revision;
use std::collections::BTreeMap;
use std::ops::Bound;

/// The revision before any write (etcd starts at 1, so the first write is revision 2).
pub(crate) const INITIAL_REVISION: i64 = 1;

/// The compacted revision of a keyspace never compacted (etcd's -1).
pub(crate) const NEVER_COMPACTED: i64 = -1;

/// A set of keys as etcd's requests give it: `(key, range_end)` with an empty `range_end` for one
/// key and `[0]` for every key from `key` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyRange<'a> {
    Single(&'a [u8]),
    FromKey(&'a [u8]),
    /// `[start, end)`; empty when `end <= start`.
    Span(&'a [u8], &'a [u8]),
}

impl<'a> KeyRange<'a> {
    pub(crate) fn new(key: &'a [u8], range_end: &'a [u8]) -> KeyRange<'a> {
        match range_end {
            [] => KeyRange::Single(key),
            [0] => KeyRange::FromKey(key),
            end => KeyRange::Span(key, end),
        }
    }

    pub(crate) fn contains(&self, key: &[u8]) -> bool {
        match *self {
            KeyRange::Single(single) => key == single,
            KeyRange::FromKey(start) => key >= start,
            KeyRange::Span(start, end) => key >= start && key < end,
        }
    }
}

/// A put's effect: the new version, and the lease the key had before (0 for none or a new key).
pub(crate) struct PutOutcome {
    pub(crate) key: Key,
    pub(crate) key_value: KeyValue,
    pub(crate) previous_lease: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Keyspace {
    pub(crate) index: BTreeMap<Key, KeyIndex>,
    pub(crate) records: RecordLog,
    pub(crate) current_revision: i64,
    pub(crate) compacted_revision: i64,
}

impl Keyspace {
    pub(crate) fn new() -> Keyspace {
        Keyspace {
            index: BTreeMap::new(),
            records: RecordLog::default(),
            current_revision: INITIAL_REVISION,
            compacted_revision: NEVER_COMPACTED,
        }
    }

    pub(crate) fn record(&self, revision: Revision) -> &Record {
        self.records.get(revision).expect("every indexed revision has a record")
    }

    /// Calls `visit` for every key of `range` in the index, in key order.
    pub(crate) fn visit_keys(&self, range: KeyRange<'_>, mut visit: impl FnMut(&Key, &KeyIndex)) {
        match range {
            KeyRange::Single(key) => {
                if let Some((key, index)) = self.index.get_key_value(key) {
                    visit(key, index);
                }
            }
            KeyRange::FromKey(start) => {
                for (key, index) in self.index.range::<[u8], _>((Bound::Included(start), Bound::Unbounded)) {
                    visit(key, index);
                }
            }
            KeyRange::Span(start, end) if start < end => {
                for (key, index) in
                    self.index.range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
                {
                    visit(key, index);
                }
            }
            KeyRange::Span(..) => {}
        }
    }

    /// The keys of `range` that exist at main revision `at`, each with the revision of its version
    /// then, in key order.
    pub(crate) fn live_at(&self, range: KeyRange<'_>, at: i64) -> Vec<(Key, Revision)> {
        let mut found = Vec::new();
        self.visit_keys(range, |key, index| {
            if let Some(Found { modified, .. }) = index.get(at) {
                found.push((key.clone(), modified));
            }
        });
        found
    }

    /// The version of `key` live at main revision `at`.
    pub(crate) fn get(&self, key: &[u8], at: i64) -> Option<KeyValue> {
        let found = self.index.get(key)?.get(at)?;
        Some(self.record(found.modified).to_key_value(found.modified))
    }

    /// The lease of `key`'s live version (0 when it has none or does not exist).
    pub(crate) fn current_lease(&self, key: &[u8]) -> i64 {
        match self.index.get(key) {
            Some(index) if index.is_live() => {
                index.modified().map_or(0, |modified| self.record(modified).lease)
            }
            _ => 0,
        }
    }

    /// Writes a new version of `key` at `revision` (a revision of the write in progress).
    pub(crate) fn put(&mut self, key: &[u8], value: Vec<u8>, lease: i64, revision: Revision) -> PutOutcome {
        assert_eq!(revision.main, self.current_revision + 1, "puts belong to the next revision");
        let shared_key = self.shared_key(key);
        let index = self.index.entry(shared_key.clone()).or_insert_with(KeyIndex::new);
        let previous = index.get(revision.main);
        index.put(revision);
        let (create_revision, version, previous_lease) = match previous {
            Some(found) => (found.created, found.version + 1, self.record(found.modified).lease),
            None => (revision.main, 1, 0),
        };
        let record = Record {
            key: shared_key.clone(),
            value: value.into_boxed_slice(),
            create_revision,
            version,
            lease,
        };
        let key_value = record.to_key_value(revision);
        self.records.push(revision, record);
        PutOutcome { key: shared_key, key_value, previous_lease }
    }

    /// Deletes the live `key` at `revision`; returns the lease it had (0 for none).
    pub(crate) fn tombstone(&mut self, key: &Key, revision: Revision) -> i64 {
        assert_eq!(revision.main, self.current_revision + 1, "deletes belong to the next revision");
        let index = self.index.get_mut(&**key).expect("only existing keys are deleted");
        let modified = index.modified().expect("a live key has revisions");
        index.tombstone(revision);
        let previous_lease = self.record(modified).lease;
        self.records.push(revision, Record::tombstone(key.clone()));
        previous_lease
    }

    /// Ends a write that changed something: `revision` becomes current.
    pub(crate) fn advance(&mut self, revision: i64) {
        assert_eq!(revision, self.current_revision + 1, "revisions advance one at a time");
        debug_assert!(self.records.get(Revision::first_of(revision)).is_some(), "a revision has changes");
        self.current_revision = revision;
    }

    /// The index's copy of `key` (so records share it), or a new one.
    fn shared_key(&self, key: &[u8]) -> Key {
        match self.index.get_key_value(key) {
            Some((shared, _)) => shared.clone(),
            None => Key::from(key),
        }
    }

    /// Checks the invariants of the module documentation and of every key index. O(everything):
    /// for tests and after restoring a snapshot.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        if self.compacted_revision < NEVER_COMPACTED || self.compacted_revision > self.current_revision {
            return Err(format!("compacted {} current {}", self.compacted_revision, self.current_revision));
        }
        let mut indexed = 0;
        for (key, index) in &self.index {
            index.check_invariants().map_err(|problem| format!("key {key:?}: {problem}"))?;
            for revision in index.revisions_since(i64::MIN) {
                let record = self.records.get(revision).ok_or(format!("{revision:?} has no record"))?;
                if record.key != *key {
                    return Err(format!("{revision:?} belongs to another key"));
                }
                indexed += 1;
            }
        }
        if indexed != self.records.len() {
            return Err(format!("{} records but {indexed} indexed revisions", self.records.len()));
        }
        self.check_records()
    }

    fn check_records(&self) -> Result<(), String> {
        let dense_from = self.compacted_revision.max(INITIAL_REVISION) + 1;
        let mut expected = Revision::first_of(dense_from);
        for (revision, record) in self.records.iter() {
            if revision.main > self.current_revision || revision.main <= INITIAL_REVISION {
                return Err(format!("{revision:?} outside (1, {}]", self.current_revision));
            }
            if record.is_tombstone() && (!record.value.is_empty() || record.version != 0 || record.lease != 0)
            {
                return Err(format!("tombstone {revision:?} has content"));
            }
            if revision.main < dense_from {
                continue;
            }
            if revision == expected
                || (revision.main == expected.main + 1 && revision.sub == 0 && expected.sub > 0)
            {
                expected = Revision::new(revision.main, revision.sub + 1);
                continue;
            }
            return Err(format!("{revision:?} where {expected:?} was due"));
        }
        let newest_complete = if expected.sub > 0 { expected.main } else { expected.main - 1 };
        if newest_complete != self.current_revision.max(dense_from - 1) {
            return Err(format!("revisions end at {newest_complete}, current is {}", self.current_revision));
        }
        Ok(())
    }
}
