//! The v3 checks beside the per-key model (`v3_model`): the revision order of everything that
//! carries a revision, ranges at older revisions against the key's history by revision, and v3 watch
//! streams (every revision that touches the watched key, exactly once, in order, no gaps).
//!
//! All three read the keys' history by revision (`Revisions`): what acknowledged writes, ranges
//! (their kv's mod_revision) and watch events say happened at each revision. A revision is one put
//! of one key, or deletes (one key's, or every key of a revoked lease's), so two sources that
//! disagree on a revision are already an anomaly.

use std::collections::{BTreeMap, BTreeSet};

use crate::history::{NEVER, Operation, OperationKind, OperationResult, V3WatchRecord};

/// What happened at one revision: key `key` became `value` (None: deleted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Change {
    key: u32,
    value: Option<u64>,
}

/// The keys' history by revision, gathered from everything the clients saw.
struct Revisions<'a> {
    history: &'a [Operation],
    streams: &'a [V3WatchRecord],
    /// Per key, its changes by revision.
    per_key: BTreeMap<u32, BTreeMap<u64, Option<u64>>>,
    /// Every change by revision, with who saw it first (described only in a report).
    by_revision: BTreeMap<u64, Vec<(Change, Observer)>>,
}

/// Who saw a change: an operation or a watch stream, by its place in the history or the streams.
#[derive(Clone, Copy, Debug)]
enum Observer {
    Operation(usize),
    Stream(usize),
}

/// The change an operation saw, with its revision: an acknowledged v3 write's own, or the version a
/// range found (its mod_revision).
fn observed_change(operation: &Operation) -> Option<(u64, Change)> {
    let key = operation.key;
    match (&operation.kind, &operation.result) {
        (
            OperationKind::V3Put { value, .. } | OperationKind::V3CompareAndPut { value, .. },
            OperationResult::V3Written { revision },
        ) => Some((*revision, Change { key, value: Some(*value) })),
        (OperationKind::V3Delete, OperationResult::V3Written { revision }) => {
            Some((*revision, Change { key, value: None }))
        }
        (
            OperationKind::V3Range | OperationKind::V3RangeAt { .. },
            OperationResult::V3Value { value, mod_revision, .. },
        ) => Some((*mod_revision, Change { key, value: Some(*value) })),
        _ => None,
    }
}

impl<'a> Revisions<'a> {
    fn gather(history: &'a [Operation], streams: &'a [V3WatchRecord]) -> Result<Revisions<'a>, String> {
        let mut revisions =
            Revisions { history, streams, per_key: BTreeMap::new(), by_revision: BTreeMap::new() };
        for (place, operation) in history.iter().enumerate() {
            if let Some((revision, change)) = observed_change(operation) {
                revisions.add(revision, change, Observer::Operation(place))?;
            }
        }
        for (index, stream) in streams.iter().enumerate() {
            for event in &stream.events {
                let change = Change { key: event.key, value: event.value };
                revisions.add(event.revision, change, Observer::Stream(index))?;
            }
        }
        Ok(revisions)
    }

    /// Who saw a change, for a report (formatted only then: a stream's text is long).
    fn describe(&self, observer: Observer) -> String {
        match observer {
            Observer::Operation(place) => self.history[place].describe(),
            Observer::Stream(index) => format!("watch stream {index}: {:?}", self.streams[index]),
        }
    }

    fn add(&mut self, revision: u64, change: Change, seen_by: Observer) -> Result<(), String> {
        if revision == 0 {
            return Err(format!("revision 0 names no change: {}", self.describe(seen_by)));
        }
        let known = self.by_revision.entry(revision).or_default();
        // One revision is one put of one key, or deletes only (a lease's revoke deletes all its keys).
        let conflict = known.iter().find(|(other, _)| {
            if other.key == change.key {
                *other != change
            } else {
                other.value.is_some() || change.value.is_some()
            }
        });
        if let Some(&(other, first_seen_by)) = conflict {
            return Err(format!(
                "revision {revision} is two different changes: {other:?} seen by {}, and {change:?} seen by {}",
                self.describe(first_seen_by),
                self.describe(seen_by)
            ));
        }
        if known.iter().all(|(other, _)| *other != change) {
            known.push((change, seen_by));
            self.per_key.entry(change.key).or_default().insert(revision, change.value);
        }
        Ok(())
    }

    /// The key's known changes with a revision in `from..=through` (none when `from > through`).
    fn changes(&self, key: u32, from: u64, through: u64) -> impl Iterator<Item = (&u64, &Option<u64>)> {
        let changes = self.per_key.get(&key).filter(|_| from <= through);
        changes.into_iter().flat_map(move |changes| changes.range(from..=through))
    }
}

/// The revision an answer's header carries, and whether the operation wrote at it.
fn header_revision(operation: &Operation) -> Option<(u64, bool)> {
    match operation.result {
        OperationResult::V3Written { revision } => Some((revision, true)),
        OperationResult::V3NothingDeleted { revision }
        | OperationResult::V3CompareFailed { revision }
        | OperationResult::V3Missing { revision }
        | OperationResult::V3Value { revision, .. } => Some((revision, false)),
        _ => None,
    }
}

/// The revision order of v3 answers: every acknowledged write has its own revision; in real time,
/// an answer's header revision is never below one that returned before it was invoked, and a write's
/// is above it; a range's kv has `create_revision <= mod_revision <= header revision`, and the
/// revisions of every change agree across everyone who saw them. Returns the answers checked.
pub fn check_revision_order(history: &[Operation], streams: &[V3WatchRecord]) -> Result<usize, String> {
    Revisions::gather(history, streams)?;
    let mut writes_at: BTreeMap<u64, &Operation> = BTreeMap::new();
    for operation in history {
        if let OperationResult::V3Written { revision } = operation.result
            && let Some(other) = writes_at.insert(revision, operation)
        {
            return Err(format!(
                "two writes acknowledged at revision {revision}: {} and {}",
                other.describe(),
                operation.describe()
            ));
        }
        if let OperationResult::V3Value { mod_revision, create_revision, revision, .. } = operation.result
            && !(create_revision <= mod_revision && mod_revision <= revision)
        {
            return Err(format!("a range's revisions are out of order: {}", operation.describe()));
        }
    }
    let mut answered: Vec<(&Operation, u64, bool)> = history
        .iter()
        .filter_map(|operation| {
            header_revision(operation).map(|(revision, wrote)| (operation, revision, wrote))
        })
        .collect();
    answered.sort_by_key(|(operation, _, _)| operation.invoked_at);
    let mut by_return: Vec<&(&Operation, u64, bool)> =
        answered.iter().filter(|(operation, _, _)| operation.returned_at != NEVER).collect();
    by_return.sort_by_key(|(operation, _, _)| operation.returned_at);
    let mut returned = 0;
    let mut highest: Option<(u64, &Operation)> = None;
    for (operation, revision, wrote) in &answered {
        while returned < by_return.len() && by_return[returned].0.returned_at < operation.invoked_at {
            let (earlier, earlier_revision, _) = by_return[returned];
            if highest.is_none_or(|(known, _)| *earlier_revision > known) {
                highest = Some((*earlier_revision, earlier));
            }
            returned += 1;
        }
        if let Some((before, earlier)) = highest
            && (*revision < before || (*wrote && *revision == before))
        {
            return Err(format!(
                "revision {revision} answered after revision {before} had been: {} invoked after {} returned",
                operation.describe(),
                earlier.describe()
            ));
        }
    }
    Ok(answered.len())
}

/// Ranges at older revisions: the answer is the key as it was at that revision (its latest change at
/// or below it), or etcd's compacted error when a compaction past that revision may have happened; a
/// compaction past it acknowledged before the range was invoked leaves only that error. Returns the
/// ranges checked.
pub fn check_past_ranges(history: &[Operation], streams: &[V3WatchRecord]) -> Result<usize, String> {
    let revisions = Revisions::gather(history, streams)?;
    let compactions: Vec<&Operation> = history
        .iter()
        .filter(|compact| matches!(compact.kind, OperationKind::V3Compact { .. }))
        .filter(|compact| {
            matches!(compact.result, OperationResult::V3Done { .. } | OperationResult::Ambiguous)
        })
        .collect();
    let mut checked = 0;
    for range in history {
        let OperationKind::V3RangeAt { revision: at } = range.kind else { continue };
        let (may_be_compacted, must_be_compacted) = compaction_bounds(&compactions, range, at);
        let fault = match range.result {
            OperationResult::V3Compacted if !may_be_compacted => {
                Some("compacted error with no compaction past it")
            }
            OperationResult::V3Compacted => None,
            OperationResult::V3Value { .. } | OperationResult::V3Missing { .. } if must_be_compacted => {
                Some("an answer below a compaction acknowledged before the range")
            }
            OperationResult::V3Value { mod_revision, .. } if mod_revision > at => {
                Some("a version newer than the revision asked for")
            }
            OperationResult::V3Value { mod_revision, .. } => revisions
                .changes(range.key, mod_revision + 1, at)
                .next()
                .map(|_| "a version the key had already left at that revision"),
            OperationResult::V3Missing { .. } => missing_fault(history, &revisions, range, at),
            _ => continue,
        };
        if let Some(fault) = fault {
            return Err(format!("range at revision {at}: {fault}: {}", range.describe()));
        }
        checked += 1;
    }
    Ok(checked)
}

/// Whether a compaction past revision `at` may have happened before `range` returned, and whether
/// one was acknowledged before it was invoked.
fn compaction_bounds(compactions: &[&Operation], range: &Operation, at: u64) -> (bool, bool) {
    let past = compactions
        .iter()
        .filter(|compact| matches!(compact.kind, OperationKind::V3Compact { revision } if revision > at));
    past.fold((false, false), |(may, must), compact| {
        (
            may || compact.invoked_at <= range.returned_at,
            must || (compact.returned_at != NEVER && compact.returned_at < range.invoked_at),
        )
    })
}

/// A range at `at` found no key: wrong when the key's latest known change at or below `at` is a put,
/// unless a delete nobody saw the revision of may lie after it (an ambiguous delete, or the end of
/// the put's lease).
fn missing_fault(
    history: &[Operation],
    revisions: &Revisions,
    range: &Operation,
    at: u64,
) -> Option<&'static str> {
    let (_, latest) = revisions.changes(range.key, 1, at).last()?;
    let value = (*latest)?;
    let unseen_delete = history.iter().any(|write| {
        write.key == range.key
            && match (&write.kind, &write.result) {
                (OperationKind::V3Delete, OperationResult::Ambiguous) => {
                    write.invoked_at <= range.returned_at
                }
                (OperationKind::V3Put { value: put, lease }, _) => *put == value && *lease != 0,
                _ => false,
            }
    });
    (!unseen_delete).then_some("no key where the key held a value at that revision")
}

/// v3 watch streams: each reports its key's changes in strictly increasing revision order, none before
/// its first revision or past its progress, and exactly the known changes of its key in between (no
/// gap, no duplicate, the same change everyone else saw at that revision; etcd's one exception: a
/// delete at exactly a compaction's revision, which the compaction drops); a compacted stream owed a
/// revision below the compaction (its start, or one it fell behind at when its member installed a
/// snapshot). Returns the events checked.
pub fn check_watch_streams(history: &[Operation], streams: &[V3WatchRecord]) -> Result<usize, String> {
    let revisions = Revisions::gather(history, streams)?;
    let compacted_at = compaction_revisions(history);
    let mut checked = 0;
    for (index, stream) in streams.iter().enumerate() {
        let fail = |what: &str| Err(format!("watch stream {index} {what}: {stream:?}"));
        if stream.events.windows(2).any(|pair| pair[0].revision >= pair[1].revision) {
            return fail("reported revisions out of order or twice");
        }
        if stream.events.iter().any(|event| event.key != stream.key) {
            return fail("reported another key");
        }
        if let Some(compacted) = stream.compacted
            && stream.next_revision().is_none_or(|next| next >= compacted)
        {
            return fail("was compacted though the revision it owed next was not below the compaction");
        }
        checked += stream.events.len();
        let Some(first) = stream.first_revision() else {
            if !stream.events.is_empty() {
                return fail("reported events before it was created");
            }
            continue;
        };
        let through = stream.covered_through().unwrap_or(first - 1);
        if stream.events.iter().any(|event| event.revision < first || event.revision > through) {
            return fail("reported an event outside its revisions");
        }
        let reported: Vec<u64> = stream.events.iter().map(|event| event.revision).collect();
        let expected = owed_revisions(&revisions, &compacted_at, stream, first, through);
        if reported != expected {
            return fail(&format!(
                "skipped revisions of its key: reported {reported:?}, the key changed at {expected:?} in \
                 {first}..={through}"
            ));
        }
    }
    Ok(checked)
}

/// The revisions `compacted_at` a compaction was asked for (not certainly failed): like etcd, a
/// compaction at revision `c` drops a delete at `c` from the history a watch replays.
fn compaction_revisions(history: &[Operation]) -> BTreeSet<u64> {
    history
        .iter()
        .filter(|operation| operation.result != OperationResult::Failed)
        .filter_map(|operation| match operation.kind {
            OperationKind::V3Compact { revision } => Some(revision),
            _ => None,
        })
        .collect()
}

/// The revisions in `from..=through` whose change of the stream's key it owes (all but a delete at a
/// compaction's revision that it did not report).
fn owed_revisions(
    revisions: &Revisions,
    compacted_at: &BTreeSet<u64>,
    stream: &V3WatchRecord,
    from: u64,
    through: u64,
) -> Vec<u64> {
    let reported = |revision: &u64| stream.events.iter().any(|event| event.revision == *revision);
    revisions
        .changes(stream.key, from, through)
        .filter(|(revision, value)| value.is_some() || !compacted_at.contains(revision) || reported(revision))
        .map(|(revision, _)| *revision)
        .collect()
}

/// Streams still open at the end on a member that caught up (`open`, indexes into `streams`) have
/// reported every change of their key from their first revision through `caught_up_revision` (the
/// highest revision acknowledged before the catch-up mark, which every live member applied): a stream
/// that silently stopped is caught here. Returns the streams checked.
pub fn check_streams_caught_up(
    history: &[Operation],
    streams: &[V3WatchRecord],
    open: &[usize],
    caught_up_revision: u64,
) -> Result<usize, String> {
    let revisions = Revisions::gather(history, streams)?;
    let compacted_at = compaction_revisions(history);
    let mut checked = 0;
    for &index in open {
        let stream = &streams[index];
        assert!(!stream.over, "only open streams are owed the end of the history");
        let Some(first) = stream.first_revision() else { continue };
        let owed = owed_revisions(&revisions, &compacted_at, stream, first, caught_up_revision);
        let missing: Vec<u64> = owed
            .into_iter()
            .filter(|revision| stream.events.iter().all(|event| event.revision != *revision))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "watch stream {index} never reported revisions {missing:?} of its key (acknowledged before the \
                 catch-up mark, applied by its member): {stream:?}"
            ));
        }
        checked += 1;
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{V3_KEY_BASE, V3_LEASE_KEY, V3WatchEvent};

    const KEY: u32 = V3_KEY_BASE;
    const OTHER_KEY: u32 = V3_KEY_BASE + 1;

    fn operation(key: u32, kind: OperationKind, from: u64, to: u64, result: OperationResult) -> Operation {
        Operation { client: 0, node: 1, key, kind, invoked_at: from, returned_at: to, result }
    }

    fn put(key: u32, value: u64, from: u64, to: u64, revision: u64) -> Operation {
        operation(
            key,
            OperationKind::V3Put { value, lease: 0 },
            from,
            to,
            OperationResult::V3Written { revision },
        )
    }

    fn delete(key: u32, from: u64, to: u64, revision: u64) -> Operation {
        operation(key, OperationKind::V3Delete, from, to, OperationResult::V3Written { revision })
    }

    fn range_at(at: u64, from: u64, to: u64, result: OperationResult) -> Operation {
        operation(KEY, OperationKind::V3RangeAt { revision: at }, from, to, result)
    }

    fn value(value: u64, mod_revision: u64) -> OperationResult {
        OperationResult::V3Value {
            value,
            mod_revision,
            create_revision: mod_revision,
            version: 1,
            revision: 20,
        }
    }

    fn compact(revision: u64, from: u64, to: u64) -> Operation {
        operation(
            V3_LEASE_KEY,
            OperationKind::V3Compact { revision },
            from,
            to,
            OperationResult::V3Done { revision: 9 },
        )
    }

    /// Key `KEY`: 1 at revision 2, 2 at revision 4, deleted at 6; `OTHER_KEY`: 5 at revision 3.
    fn writes() -> Vec<Operation> {
        vec![
            put(KEY, 1, 0, 10, 2),
            put(OTHER_KEY, 5, 11, 12, 3),
            put(KEY, 2, 20, 30, 4),
            delete(KEY, 40, 50, 6),
        ]
    }

    fn with(mut history: Vec<Operation>, extra: Operation) -> Vec<Operation> {
        history.push(extra);
        history
    }

    #[test]
    fn revisions_that_grow_with_real_time_pass() {
        let history = with(
            writes(),
            operation(KEY, OperationKind::V3Range, 60, 70, OperationResult::V3Missing { revision: 6 }),
        );
        assert_eq!(check_revision_order(&history, &[]), Ok(5));
    }

    #[test]
    fn a_revision_answered_twice_or_out_of_real_time_order_is_caught() {
        let twice = with(writes(), put(OTHER_KEY, 9, 60, 70, 4));
        assert!(
            check_revision_order(&twice, &[]).unwrap_err().contains("revision 4 is two different changes")
        );
        let went_back = with(writes(), put(OTHER_KEY, 9, 60, 70, 5));
        assert!(check_revision_order(&went_back, &[]).unwrap_err().contains("answered after revision 6"));
        let stale_header =
            operation(KEY, OperationKind::V3Range, 60, 70, OperationResult::V3Missing { revision: 5 });
        assert!(check_revision_order(&with(writes(), stale_header), &[]).is_err());
        let read_names_another_write = operation(KEY, OperationKind::V3Range, 60, 70, value(1, 3));
        assert!(check_revision_order(&with(writes(), read_names_another_write), &[]).is_err());
    }

    #[test]
    fn a_range_at_an_older_revision_sees_the_key_as_it_was_then() {
        for (at, result) in [
            (2, value(1, 2)),
            (3, value(1, 2)),
            (5, value(2, 4)),
            (6, OperationResult::V3Missing { revision: 20 }),
        ] {
            assert_eq!(
                check_past_ranges(&with(writes(), range_at(at, 60, 70, result)), &[]),
                Ok(1),
                "at {at}"
            );
        }
        for (at, result) in
            [(5, value(1, 2)), (3, value(2, 4)), (4, OperationResult::V3Missing { revision: 20 })]
        {
            let history = with(writes(), range_at(at, 60, 70, result.clone()));
            assert!(check_past_ranges(&history, &[]).is_err(), "accepted {result:?} at {at}");
        }
    }

    #[test]
    fn the_compacted_error_needs_a_compaction_past_the_revision_and_is_the_only_answer_after_one() {
        let compacted = range_at(3, 60, 70, OperationResult::V3Compacted);
        assert!(check_past_ranges(&with(writes(), compacted.clone()), &[]).is_err());
        let history = with(with(writes(), compact(4, 55, 80)), compacted);
        assert_eq!(check_past_ranges(&history, &[]), Ok(1));
        let after_compaction = with(with(writes(), compact(4, 52, 55)), range_at(3, 60, 70, value(1, 2)));
        assert!(check_past_ranges(&after_compaction, &[]).unwrap_err().contains("below a compaction"));
    }

    fn stream(key: u32, start_revision: u64, events: &[(u64, Option<u64>)], progress: u64) -> V3WatchRecord {
        V3WatchRecord {
            key,
            start_revision,
            created_revision: Some(1),
            events: events.iter().map(|&(revision, value)| V3WatchEvent { revision, key, value }).collect(),
            progress: Some(progress),
            ..V3WatchRecord::default()
        }
    }

    #[test]
    fn a_stream_with_every_change_of_its_key_in_order_passes() {
        let streams =
            [stream(KEY, 0, &[(2, Some(1)), (4, Some(2)), (6, None)], 6), stream(KEY, 3, &[(4, Some(2))], 5)];
        assert_eq!(check_watch_streams(&writes(), &streams), Ok(4));
    }

    #[test]
    fn a_skipped_repeated_reordered_or_wrong_event_is_caught() {
        let bad = [
            stream(KEY, 0, &[(2, Some(1)), (6, None)], 6),
            stream(KEY, 0, &[(2, Some(1)), (2, Some(1)), (4, Some(2)), (6, None)], 6),
            stream(KEY, 0, &[(4, Some(2)), (2, Some(1)), (6, None)], 6),
            stream(KEY, 0, &[(2, Some(1)), (4, Some(3)), (6, None)], 6),
            stream(KEY, 3, &[(2, Some(1)), (4, Some(2))], 5),
        ];
        for bad in bad {
            assert!(check_watch_streams(&writes(), std::slice::from_ref(&bad)).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn a_change_only_another_stream_saw_is_still_owed() {
        // A lease's revoke deletes both keys at revision 7, which no client write shows.
        let saw_it = stream(OTHER_KEY, 0, &[(3, Some(5)), (7, None)], 7);
        let also_saw_it = stream(KEY, 5, &[(6, None), (7, None)], 8);
        let missed_it = stream(KEY, 5, &[(6, None)], 8);
        let revoke_on_key = stream(KEY, 7, &[(7, None)], 7);
        assert!(check_watch_streams(&writes(), &[saw_it.clone(), revoke_on_key, also_saw_it]).is_ok());
        assert!(
            check_watch_streams(&writes(), &[saw_it, stream(KEY, 7, &[(7, None)], 7), missed_it]).is_err()
        );
    }

    #[test]
    fn a_compacted_stream_owed_a_revision_below_the_compaction() {
        let mut compacted = stream(KEY, 3, &[], 0);
        compacted.progress = None;
        compacted.compacted = Some(5);
        assert!(check_watch_streams(&writes(), std::slice::from_ref(&compacted)).is_ok());
        compacted.compacted = Some(3);
        assert!(check_watch_streams(&writes(), &[compacted]).is_err());
    }

    #[test]
    fn a_stream_open_at_the_end_owes_every_change_acknowledged_before_the_catch_up_mark() {
        let stalled = stream(KEY, 0, &[(2, Some(1))], 2);
        let missing = check_streams_caught_up(&writes(), std::slice::from_ref(&stalled), &[0], 6);
        assert!(missing.unwrap_err().contains("never reported revisions [4, 6]"));
        let complete = stream(KEY, 0, &[(2, Some(1)), (4, Some(2)), (6, None)], 6);
        assert_eq!(check_streams_caught_up(&writes(), &[complete], &[0], 6), Ok(1));
        // Changes after the mark are not owed yet.
        assert_eq!(check_streams_caught_up(&writes(), &[stalled], &[0], 3), Ok(1));
    }
}
