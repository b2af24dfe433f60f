//! The in-memory Raft log: the compaction point, the entries after it, and the four cursors that
//! move along it (persisted <= last, applied <= committed <= last, unstable = not yet handed out).

use crate::types::{Entry, Index, Term};

#[derive(Clone, Debug)]
pub struct RaftLog {
    /// Entries up to and including `offset` are compacted away (covered by a snapshot, or the empty
    /// prefix when 0). `offset_term` is the term of the entry at `offset`.
    offset: Index,
    offset_term: Term,
    /// `entries[i].index == offset + 1 + i`.
    entries: Vec<Entry>,
    /// The highest index known committed. Never decreases, never beyond the last index.
    committed: Index,
    /// The highest index handed to the application (in Ready::committed_entries or as a snapshot).
    applied: Index,
    /// The highest index the caller reported durable (and that still holds the same entry).
    persisted: Index,
    /// The first index not yet handed out in a Ready for persistence.
    unstable_from: Index,
}

impl RaftLog {
    /// A log restored from durable state: everything given is already persisted.
    pub fn new(
        offset: Index,
        offset_term: Term,
        entries: Vec<Entry>,
        committed: Index,
        applied: Index,
    ) -> Self {
        let last = offset + entries.len() as Index;
        let log = RaftLog {
            offset,
            offset_term,
            entries,
            committed,
            applied,
            persisted: last,
            unstable_from: last + 1,
        };
        log.assert_cursors();
        log
    }

    /// The cursor invariants every mutation keeps: applied <= committed <= last, persisted <= last,
    /// and a position counts as persisted only once it was handed out (persisted < unstable_from).
    fn assert_cursors(&self) {
        let last = self.last_index();
        assert!(
            self.applied <= self.committed && self.committed <= last,
            "cursors out of order: applied {} committed {} last {last}",
            self.applied,
            self.committed
        );
        assert!(
            self.persisted < self.unstable_from && self.unstable_from <= last + 1,
            "persistence cursors out of order: persisted {} unstable from {} last {last}",
            self.persisted,
            self.unstable_from
        );
    }

    /// The highest index known committed.
    pub fn committed(&self) -> Index {
        self.committed
    }

    /// The highest index handed to the application.
    pub fn applied(&self) -> Index {
        self.applied
    }

    /// The highest index the caller reported durable.
    pub fn persisted(&self) -> Index {
        self.persisted
    }

    pub fn first_index(&self) -> Index {
        self.offset + 1
    }

    pub fn last_index(&self) -> Index {
        self.offset + self.entries.len() as Index
    }

    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(self.offset_term, |entry| entry.term)
    }

    /// The compaction point (index and term of the last compacted entry).
    pub fn offset(&self) -> (Index, Term) {
        (self.offset, self.offset_term)
    }

    /// The term of the entry at `index`; None when compacted away or beyond the end.
    pub fn term(&self, index: Index) -> Option<Term> {
        if index == self.offset {
            return Some(self.offset_term);
        }
        if index < self.offset || index > self.last_index() {
            return None;
        }
        Some(self.entries[(index - self.offset - 1) as usize].term)
    }

    pub fn match_term(&self, index: Index, term: Term) -> bool {
        self.term(index) == Some(term)
    }

    /// Raft §5.4.1: a candidate's log is at least as up to date as ours if its last term is higher, or
    /// equal with a last index at least as large.
    pub fn is_up_to_date(&self, last_index: Index, last_term: Term) -> bool {
        last_term > self.last_term() || (last_term == self.last_term() && last_index >= self.last_index())
    }

    pub fn entry(&self, index: Index) -> Option<&Entry> {
        if index <= self.offset || index > self.last_index() {
            return None;
        }
        Some(&self.entries[(index - self.offset - 1) as usize])
    }

    /// Entries in [from, to_inclusive] (both inside the log), as a borrowed slice.
    pub fn slice(&self, from: Index, to_inclusive: Index) -> &[Entry] {
        debug_assert!(from > self.offset && to_inclusive <= self.last_index());
        if from > to_inclusive {
            return &[];
        }
        let start = (from - self.offset - 1) as usize;
        let end = (to_inclusive - self.offset) as usize;
        &self.entries[start..end]
    }

    /// Entries from `from` on, at most `max_bytes` of them but always at least one when any exists.
    pub fn entries_bounded(&self, from: Index, max_bytes: usize) -> (&[Entry], usize) {
        if from > self.last_index() || from <= self.offset {
            return (&[], 0);
        }
        let all = self.slice(from, self.last_index());
        let mut bytes = 0;
        let mut count = 0;
        for entry in all {
            let size_bytes = entry.size_bytes();
            if count > 0 && bytes + size_bytes > max_bytes {
                break;
            }
            bytes += size_bytes;
            count += 1;
        }
        (&all[..count], bytes)
    }

    /// The index of the first entry in `entries` that is not already in the log with the same term,
    /// or None when all of them are present (a duplicate or stale append).
    pub fn find_conflict(&self, entries: &[Entry]) -> Option<Index> {
        entries.iter().find(|entry| !self.match_term(entry.index, entry.term)).map(|entry| entry.index)
    }

    /// The largest index <= `index` whose term is <= `term` (used for fast nextIndex repair), with
    /// that term. Compacted positions answer the compaction point.
    pub fn find_conflict_by_term(&self, index: Index, term: Term) -> (Index, Term) {
        let mut candidate = index.min(self.last_index());
        loop {
            match self.term(candidate) {
                Some(found) if found <= term => return (candidate, found),
                Some(_) if candidate > self.offset => candidate -= 1,
                _ => return (self.offset, 0),
            }
        }
    }

    /// Appends entries that continue the log exactly (leader appends, or after a truncation).
    pub fn append(&mut self, new_entries: &[Entry]) {
        let Some(first) = new_entries.first() else { return };
        assert!(first.index > self.committed, "appending over committed entries");
        assert!(first.index <= self.last_index() + 1, "log gap on append");
        if first.index <= self.last_index() {
            self.truncate_from(first.index);
        }
        debug_assert!(first.term >= self.last_term(), "log terms must not decrease");
        self.entries.extend_from_slice(new_entries);
        self.assert_cursors();
    }

    pub fn push(&mut self, entry: Entry) {
        assert_eq!(entry.index, self.last_index() + 1, "log gap on push");
        debug_assert!(entry.term >= self.last_term());
        self.entries.push(entry);
    }

    /// Drops every entry from `index` on. Persistence cursors fall back: the durable copy of those
    /// positions no longer holds our entries.
    pub fn truncate_from(&mut self, index: Index) {
        assert!(index > self.committed, "truncating committed entries");
        if index > self.last_index() {
            return;
        }
        self.entries.truncate((index - self.offset - 1) as usize);
        self.unstable_from = self.unstable_from.min(index);
        self.persisted = self.persisted.min(index - 1);
        self.assert_cursors();
    }

    /// Moves the commit index forward to `index`; an older index is a no-op (commit never goes back).
    pub fn commit_to(&mut self, index: Index) -> bool {
        if index <= self.committed {
            return false;
        }
        assert!(index <= self.last_index(), "commit {index} beyond last index {}", self.last_index());
        self.committed = index;
        self.assert_cursors();
        true
    }

    /// Entries the caller has not yet been given for persistence.
    pub fn unstable_entries(&self) -> &[Entry] {
        let last = self.last_index();
        if self.unstable_from > last {
            return &[];
        }
        self.slice(self.unstable_from.max(self.offset + 1), last)
    }

    pub fn has_unstable(&self) -> bool {
        self.unstable_from <= self.last_index()
    }

    pub fn mark_unstable_handed_out(&mut self) {
        self.unstable_from = self.last_index() + 1;
    }

    /// The caller made entries up to (index, term) durable.
    pub fn persisted_to(&mut self, index: Index, term: Term) -> bool {
        // Only positions that were handed out and still hold that entry count.
        if index < self.unstable_from && index > self.persisted && self.match_term(index, term) {
            self.persisted = index;
            self.assert_cursors();
            return true;
        }
        false
    }

    /// The highest index the application may apply now: committed and locally durable.
    pub fn applicable_to(&self) -> Index {
        self.committed.min(self.persisted)
    }

    pub fn has_applicable(&self) -> bool {
        self.applicable_to() > self.applied
    }

    /// Hands out committed, durable entries after `applied` (bounded by bytes, at least one entry).
    pub fn take_applicable(&mut self, max_bytes: usize) -> Vec<Entry> {
        let to = self.applicable_to();
        if to <= self.applied {
            return Vec::new();
        }
        let from = self.applied + 1;
        debug_assert!(from > self.offset, "applicable entries were compacted");
        let mut bytes = 0;
        let mut taken = Vec::new();
        for entry in self.slice(from, to) {
            bytes += entry.size_bytes();
            if !taken.is_empty() && bytes > max_bytes {
                break;
            }
            taken.push(entry.clone());
        }
        self.applied += taken.len() as Index;
        assert!(self.applied <= self.persisted, "handing out entries that are not durable");
        self.assert_cursors();
        taken
    }

    /// A snapshot up to `index` was handed to the application (it replaces applying entries).
    pub fn snapshot_handed_out(&mut self, index: Index) {
        assert!(index <= self.committed, "handing out snapshot {index} beyond commit {}", self.committed);
        self.applied = self.applied.max(index);
        self.assert_cursors();
    }

    /// Replaces the whole log by a snapshot point (the follower installs a leader's snapshot).
    pub fn restore(&mut self, index: Index, term: Term) {
        assert!(index > self.committed, "restoring an older snapshot");
        self.entries.clear();
        self.offset = index;
        self.offset_term = term;
        self.committed = index;
        self.unstable_from = index + 1;
        self.persisted = self.persisted.min(index);
        self.assert_cursors();
    }

    /// Drops entries up to `index` (the application snapshotted them). Refuses to drop what is not
    /// applied or not durable yet.
    pub fn compact(&mut self, index: Index) -> Result<(), String> {
        if index <= self.offset {
            return Ok(());
        }
        if index > self.applied || index > self.persisted {
            return Err(format!(
                "cannot compact to {index}: applied is {} and persisted is {}",
                self.applied, self.persisted
            ));
        }
        let term = self.term(index).expect("index inside the log");
        self.entries.drain(..(index - self.offset) as usize);
        self.offset = index;
        self.offset_term = term;
        self.assert_cursors();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::EntryPayload;

    fn entries(terms: &[(Index, Term)]) -> Vec<Entry> {
        terms.iter().map(|&(index, term)| Entry { index, term, payload: EntryPayload::Empty }).collect()
    }

    #[test]
    fn duplicate_append_finds_no_conflict_and_a_new_term_does() {
        let log = RaftLog::new(0, 0, entries(&[(1, 1), (2, 1), (3, 2)]), 0, 0);
        assert_eq!(log.find_conflict(&entries(&[(2, 1), (3, 2)])), None);
        assert_eq!(log.find_conflict(&entries(&[(2, 1), (3, 3)])), Some(3));
        assert_eq!(log.find_conflict(&entries(&[(3, 2), (4, 2)])), Some(4));
    }

    #[test]
    fn conflict_by_term_skips_whole_terms() {
        let log = RaftLog::new(0, 0, entries(&[(1, 1), (2, 1), (3, 4), (4, 4), (5, 4)]), 0, 0);
        assert_eq!(log.find_conflict_by_term(5, 2), (2, 1));
        assert_eq!(log.find_conflict_by_term(9, 4), (5, 4));
        assert_eq!(log.find_conflict_by_term(5, 0), (0, 0));
    }

    #[test]
    fn truncation_pulls_back_persisted_and_unstable_cursors() {
        let mut log = RaftLog::new(0, 0, entries(&[(1, 1), (2, 1), (3, 1)]), 1, 0);
        log.append(&entries(&[(3, 2), (4, 2)]));
        assert_eq!(log.persisted(), 2);
        assert_eq!(log.unstable_entries().len(), 2);
        log.mark_unstable_handed_out();
        assert!(!log.persisted_to(4, 1), "wrong term");
        assert!(log.persisted_to(4, 2));
        assert_eq!(log.applicable_to(), 1);
    }

    #[test]
    fn committed_entries_are_handed_out_only_once_durable() {
        let mut log = RaftLog::new(0, 0, entries(&[(1, 1)]), 0, 0);
        log.append(&entries(&[(2, 1), (3, 1)]));
        log.commit_to(3);
        assert_eq!(log.take_applicable(usize::MAX).len(), 1, "only index 1 is durable");
        log.mark_unstable_handed_out();
        assert!(log.persisted_to(3, 1));
        assert_eq!(log.take_applicable(usize::MAX).len(), 2);
        assert_eq!((log.applied(), log.committed(), log.persisted()), (3, 3, 3));
    }

    #[test]
    fn commit_never_goes_back() {
        let mut log = RaftLog::new(0, 0, entries(&[(1, 1), (2, 1)]), 2, 0);
        assert!(!log.commit_to(1));
        assert_eq!(log.committed(), 2);
    }

    #[test]
    #[should_panic(expected = "beyond last index")]
    fn commit_beyond_the_last_index_trips_the_assertion() {
        let mut log = RaftLog::new(0, 0, entries(&[(1, 1)]), 0, 0);
        log.commit_to(2);
    }

    #[test]
    #[should_panic(expected = "beyond commit")]
    fn handing_out_a_snapshot_beyond_the_commit_index_trips_the_assertion() {
        let mut log = RaftLog::new(0, 0, entries(&[(1, 1), (2, 1)]), 1, 0);
        log.snapshot_handed_out(2);
    }

    #[test]
    fn compaction_keeps_the_term_of_the_compaction_point() {
        let mut log = RaftLog::new(0, 0, entries(&[(1, 1), (2, 2), (3, 3)]), 3, 3);
        assert!(log.compact(4).is_err());
        log.compact(2).unwrap();
        assert_eq!(log.first_index(), 3);
        assert_eq!(log.term(2), Some(2));
        assert_eq!(log.term(1), None);
        assert_eq!(log.last_index(), 3);
    }
}
