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
struct Revisions {
    /// Per key, its changes by revision.
    per_key: BTreeMap<u32, BTreeMap<u64, Option<u64>>>,
    /// Every change by revision, with who saw it first (for reports).
    by_revision: BTreeMap<u64, Vec<(Change, String)>>,
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

impl Revisions {
    fn gather(history: &[Operation], streams: &[V3WatchRecord]) -> Result<Revisions, String> {
        let mut revisions = Revisions { per_key: BTreeMap::new(), by_revision: BTreeMap::new() };
        for operation in history {
            if let Some((revision, change)) = observed_change(operation) {
                revisions.add(revision, change, operation.describe())?;
            }
        }
        for (index, stream) in streams.iter().enumerate() {
            for event in &stream.events {
                let change = Change { key: event.key, value: event.value };
                revisions.add(event.revision, change, format!("watch stream {index}: {stream:?}"))?;
            }
        }
        Ok(revisions)
    }

    fn add(&mut self, revision: u64, change: Change, seen_by: String) -> Result<(), String> {
        if revision == 0 {
            return Err(format!("revision 0 names no change: {seen_by}"));
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
        if let Some((other, first_seen_by)) = conflict {
            return Err(format!(
                "revision {revision} is two different changes: {other:?} seen by {first_seen_by}, and \
                 {change:?} seen by {seen_by}"
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
    let mut checked = 0;
    for range in history {
        let OperationKind::V3RangeAt { revision: at } = range.kind else { continue };
        let compactions = history.iter().filter_map(|compact| match (&compact.kind, &compact.result) {
            (
                OperationKind::V3Compact { revision },
                OperationResult::V3Done { .. } | OperationResult::Ambiguous,
            ) if *revision > at => Some(compact),
            _ => None,
        });
        let (may_be_compacted, must_be_compacted) =
            compactions.fold((false, false), |(may, must), compact| {
                (
                    may || compact.invoked_at <= range.returned_at,
                    must || (compact.returned_at != NEVER && compact.returned_at < range.invoked_at),
                )
            });
        let fault = match range.result {
            OperationResult::V3Compacted if !may_be_compacted => {
                Some("compacted error with no compaction past it")
            }
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
    // Like etcd, a compaction at revision `c` drops a delete at `c` from the history a watch replays.
    let compacted_at: BTreeSet<u64> = history
        .iter()
        .filter(|operation| operation.result != OperationResult::Failed)
        .filter_map(|operation| match operation.kind {
            OperationKind::V3Compact { revision } => Some(revision),
            _ => None,
        })
        .collect();
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
        let owed = |(revision, value): &(&u64, &Option<u64>)| {
            value.is_some() || !compacted_at.contains(revision) || reported.contains(revision)
        };
        let expected: Vec<u64> = revisions
            .changes(stream.key, first, through)
            .filter(owed)
            .map(|(revision, _)| *revision)
            .collect();
        if reported != expected {
            return fail(&format!(
                "skipped revisions of its key: reported {reported:?}, the key changed at {expected:?} in \
                 {first}..={through}"
            ));
        }
    }
    Ok(checked)
}
