//! The revision history of one key: its generations (etcd's `keyIndex`).
//!
//! A generation runs from the put that creates the key to the tombstone that deletes it; a tombstone
//! closes the current generation and opens a new, empty one. For example put@2, put@3, delete@4, put@5
//! gives `{2, 3, 4(tombstone)} {5}`; a delete@6 then gives `{2, 3, 4t} {5, 6t} {}`.
//!
//! Invariants (checked by `check_invariants`): at least one generation; only the last one may be empty
//! and the last one never ends with a tombstone; every other generation holds at least one put followed
//! by its tombstone; revisions increase strictly across generations;
//! a generation's `version` counts every revision it ever had (including compacted ones and its
//! tombstone), so the version of the put at position `n` is `version - (len - 1 - n)`.

use crate::revision::Revision;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Generation {
    /// Number of revisions this generation ever had (puts and tombstone, compacted ones included).
    pub(crate) version: i64,
    /// Main revision of the put that created the generation (that put may be compacted away).
    pub(crate) created: i64,
    /// The retained revisions, oldest first. A closed generation ends with its tombstone.
    pub(crate) revisions: Vec<Revision>,
}

impl Generation {
    fn is_empty(&self) -> bool {
        self.revisions.is_empty()
    }

    fn last_revision(&self) -> Option<Revision> {
        self.revisions.last().copied()
    }

    /// Position of the newest retained revision at or before main revision `at`.
    fn newest_at(&self, at: i64) -> Option<usize> {
        let count = self.revisions.partition_point(|revision| revision.main <= at);
        count.checked_sub(1)
    }
}

/// What `KeyIndex::get` finds: the version of the key live at a revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) modified: Revision,
    pub(crate) created: i64,
    pub(crate) version: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyIndex {
    generations: Vec<Generation>,
}

impl KeyIndex {
    pub(crate) fn new() -> KeyIndex {
        KeyIndex { generations: vec![Generation::default()] }
    }

    /// No revision left at all (after compaction): the key can leave the index.
    pub(crate) fn is_empty(&self) -> bool {
        self.generations.len() == 1 && self.generations[0].is_empty()
    }

    /// The key exists now (its current generation has a put).
    pub(crate) fn is_live(&self) -> bool {
        !self.current_generation().is_empty()
    }

    /// The newest revision of the key (its last put or tombstone).
    pub(crate) fn modified(&self) -> Option<Revision> {
        self.generations.iter().rev().find_map(Generation::last_revision)
    }

    fn current_generation(&self) -> &Generation {
        self.generations.last().expect("a key index always has a generation")
    }

    /// Records a put at `revision`, which must be newer than every revision of the key.
    pub(crate) fn put(&mut self, revision: Revision) {
        let modified = self.modified();
        assert!(modified < Some(revision), "put at {revision:?} not after {modified:?}");
        let generation = self.generations.last_mut().expect("a key index always has a generation");
        if generation.is_empty() {
            generation.created = revision.main;
            generation.revisions.reserve_exact(1);
        }
        generation.revisions.push(revision);
        generation.version += 1;
    }

    /// Starts the key's history from a retained put whose generation began earlier (snapshot restore):
    /// the generation was created at main revision `created` and this put is its `version`-th revision.
    pub(crate) fn put_restored(&mut self, revision: Revision, created: i64, version: i64) {
        assert!(!self.is_live(), "a restored generation starts only where none is open");
        assert!(created <= revision.main && version >= 1);
        self.put(revision);
        let generation = self.generations.last_mut().expect("a key index always has a generation");
        generation.created = created;
        generation.version = version;
    }

    /// Records the delete of the live key at `revision` and opens a new, empty generation.
    pub(crate) fn tombstone(&mut self, revision: Revision) {
        assert!(self.is_live(), "tombstone of a key that does not exist");
        self.put(revision);
        self.generations.push(Generation::default());
    }

    /// The version of the key live at main revision `at`, if any.
    pub(crate) fn get(&self, at: i64) -> Option<Found> {
        let generation = self.generation_at(at)?;
        let position = generation.newest_at(at)?;
        let newer = (generation.revisions.len() - 1 - position) as i64;
        Some(Found {
            modified: generation.revisions[position],
            created: generation.created,
            version: generation.version - newer,
        })
    }

    /// The generation the key was in at `at`; `None` when the key did not exist then (before its first
    /// retained revision, or between a tombstone and the next put).
    fn generation_at(&self, at: i64) -> Option<&Generation> {
        let last = self.generations.len() - 1;
        for (position, generation) in self.generations.iter().enumerate().rev() {
            let Some(first) = generation.revisions.first() else { continue };
            if position != last {
                let tombstone = generation.last_revision().expect("closed generations are not empty");
                if tombstone.main <= at {
                    return None;
                }
            }
            if first.main <= at {
                return Some(generation);
            }
        }
        None
    }

    /// The generation a compaction at `at` keeps first, and in it the newest revision at or before
    /// `at` (etcd's `doCompact`): the first generation whose tombstone is after `at`, or the last one.
    fn compaction_point(&self, at: i64) -> (usize, Option<usize>) {
        let last = self.generations.len() - 1;
        let mut position = 0;
        while position < last {
            let tombstone =
                self.generations[position].last_revision().expect("closed generations are not empty");
            if tombstone.main > at {
                break;
            }
            position += 1;
        }
        (position, self.generations[position].newest_at(at))
    }

    /// The revision a compaction at `at` keeps of this key (its version live at `at`), if any.
    pub(crate) fn kept_at(&self, at: i64) -> Option<Revision> {
        let (generation, position) = self.compaction_point(at);
        position.map(|position| self.generations[generation].revisions[position])
    }

    /// Drops every revision at or before `at` except the newest one of the version live at `at`
    /// (a tombstone at or before `at` goes with its whole generation). Returns the kept revision.
    pub(crate) fn compact(&mut self, at: i64) -> Option<Revision> {
        let (generation, position) = self.compaction_point(at);
        if let Some(position) = position {
            let revisions = &mut self.generations[generation].revisions;
            revisions.drain(..position);
            if revisions.capacity() > 2 * revisions.len() {
                revisions.shrink_to_fit();
            }
        }
        self.generations.drain(..generation);
        debug_assert!(self.check_invariants().is_ok());
        position.map(|_| self.generations[0].revisions[0])
    }

    /// The revisions of the key at or after main revision `from`, oldest first.
    pub(crate) fn revisions_since(&self, from: i64) -> impl Iterator<Item = Revision> + '_ {
        self.generations
            .iter()
            .flat_map(|generation| generation.revisions.iter().copied())
            .filter(move |revision| revision.main >= from)
    }

    /// Checks the invariants listed in the module documentation.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let last = self.generations.len().checked_sub(1).ok_or("no generation")?;
        let mut previous: Option<Revision> = None;
        for (position, generation) in self.generations.iter().enumerate() {
            if position != last && generation.revisions.len() < 2 {
                return Err(format!("closed generation {position} has {:?}", generation.revisions));
            }
            if generation.version < generation.revisions.len() as i64 {
                return Err(format!("generation {position} version {} too small", generation.version));
            }
            if let Some(first) = generation.revisions.first()
                && generation.created > first.main
            {
                return Err(format!("generation {position} created after its first revision"));
            }
            for revision in &generation.revisions {
                if previous.is_some_and(|previous| previous >= *revision) {
                    return Err(format!("revisions not increasing at {revision:?}"));
                }
                previous = Some(*revision);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revision(main: i64) -> Revision {
        Revision::new(main, 0)
    }

    /// put@2, put@3, delete@4, put@5, delete@6: `{2, 3, 4t} {5, 6t} {}`.
    fn two_generations() -> KeyIndex {
        let mut index = KeyIndex::new();
        index.put(revision(2));
        index.put(revision(3));
        index.tombstone(revision(4));
        index.put(revision(5));
        index.tombstone(revision(6));
        index.check_invariants().unwrap();
        index
    }

    #[test]
    fn get_finds_the_version_live_at_a_revision() {
        let index = two_generations();
        assert_eq!(index.get(1), None);
        let found = index.get(3).unwrap();
        assert_eq!((found.modified, found.created, found.version), (revision(3), 2, 2));
        assert_eq!(index.get(4), None, "deleted at 4");
        let found = index.get(5).unwrap();
        assert_eq!((found.modified, found.created, found.version), (revision(5), 5, 1));
        assert_eq!(index.get(6), None);
        assert_eq!(index.get(100), None);
        assert!(!index.is_live());
    }

    #[test]
    fn compaction_keeps_the_version_live_at_the_revision() {
        let mut index = two_generations();
        assert_eq!(index.compact(3), Some(revision(3)));
        assert_eq!(index.get(3).unwrap().version, 2, "version survives compaction");
        assert_eq!(index.compact(4), None, "the first generation ended at 4");
        assert_eq!(index.get(5).unwrap().modified, revision(5));
        assert!(!index.is_empty());
        assert_eq!(index.compact(6), None);
        assert!(index.is_empty(), "everything deleted at or before 6");
    }

    #[test]
    fn compaction_before_any_revision_keeps_everything() {
        let mut index = two_generations();
        assert_eq!(index.compact(1), None);
        assert_eq!(index, two_generations());
    }

    #[test]
    fn a_put_and_a_delete_in_one_transaction_use_sub_revisions() {
        let mut index = KeyIndex::new();
        index.put(Revision::new(7, 0));
        index.tombstone(Revision::new(7, 1));
        assert_eq!(index.get(7), None);
        assert_eq!(
            index.revisions_since(7).collect::<Vec<_>>(),
            vec![Revision::new(7, 0), Revision::new(7, 1)]
        );
    }

    #[test]
    #[should_panic(expected = "not after")]
    fn an_older_put_is_refused() {
        let mut index = KeyIndex::new();
        index.put(revision(3));
        index.put(revision(2));
    }
}
