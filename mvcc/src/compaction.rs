//! Compaction (etcd's `store.Compact` with `treeIndex.Compact` and the backend's `scheduleCompaction`,
//! done at once rather than in the background): history at or before the compaction revision goes,
//! except each key's version live at that revision; keys with nothing left leave the index.

use crate::error::Error;
use crate::keyspace::Keyspace;
use crate::revision::Revision;
use std::collections::BTreeSet;

impl Keyspace {
    /// Compacts at `revision`: refused when it is not after the compacted revision (`Compacted`) or is
    /// after the current one (`FutureRevision`). Afterwards reads at `revision` or later still work.
    pub(crate) fn compact(&mut self, revision: i64) -> Result<(), Error> {
        if revision <= self.compacted_revision {
            return Err(Error::Compacted);
        }
        if revision > self.current_revision {
            return Err(Error::FutureRevision);
        }
        self.compacted_revision = revision;
        let kept = self.compact_index(revision);
        self.records.remove_before(Revision::first_of(revision.saturating_add(1)), &kept);
        debug_assert!(self.records.len() >= self.index.len(), "every key keeps a record");
        Ok(())
    }

    /// Compacts every key index; returns the revisions kept at or before `revision`.
    fn compact_index(&mut self, revision: i64) -> BTreeSet<Revision> {
        let mut kept = BTreeSet::new();
        self.index.retain(|_, index| {
            if let Some(kept_revision) = index.compact(revision) {
                kept.insert(kept_revision);
            }
            !index.is_empty()
        });
        kept
    }

    /// The revisions a compaction at `revision` would keep at or before it (etcd's `treeIndex.Keep`).
    pub(crate) fn kept_at(&self, revision: i64) -> BTreeSet<Revision> {
        self.index.values().filter_map(|index| index.kept_at(revision)).collect()
    }
}
