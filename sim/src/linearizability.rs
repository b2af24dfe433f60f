//! A linearizability checker for the client history, in the style of Porcupine (Lowe's just-in-time
//! linearizability search with a cache of (linearized set, state) pairs), written for Concord.
//!
//! The history is split per key (P-compositionality: a history is linearizable iff each key's
//! sub-history is, because keys are independent objects). Quorum gets and all writes are checked
//! strictly against a model of one v2 key; plain gets are checked separately for the weaker guarantee
//! etcd documents (see `check_plain_gets`). Ambiguous writes return "never": the search may place them
//! anywhere after their invocation, including after everything else (= never took effect).
//! Search effort is bounded: a key whose search exceeds the budget is reported as `Unknown`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use raft::NodeId;

use crate::history::{NEVER, Operation, OperationKind, OperationResult, Time, UNKNOWN_VALUE, WatchAction};

/// The model's state of one v2 key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyState {
    /// The current value, or None when the key does not exist.
    pub value: Option<u64>,
    /// The modifiedIndex of the last modification when known (an ambiguous write makes it unknown
    /// until a read pins it).
    pub modified_index: Option<u64>,
}

impl KeyState {
    pub const ABSENT: KeyState = KeyState { value: None, modified_index: None };
}

/// Whether `index` may be the index of a modification that follows one at `previous`.
fn index_after(previous: Option<u64>, index: u64) -> bool {
    previous.is_none_or(|previous| index > previous)
}

/// The sequential specification of one key: the state after applying `kind` with outcome `result`
/// to `state`, or None when that outcome is impossible from that state.
pub fn step(state: &KeyState, kind: &OperationKind, result: &OperationResult) -> Option<KeyState> {
    let written = |value: Option<u64>, index: Option<u64>| KeyState { value, modified_index: index };
    match (kind, result) {
        (OperationKind::Get { .. }, OperationResult::Value { value, index }) => {
            if state.value != Some(*value) {
                return None;
            }
            match state.modified_index {
                Some(known) if known != *index => None,
                _ => Some(written(Some(*value), Some(*index))),
            }
        }
        (OperationKind::Get { .. }, OperationResult::NotFound { .. }) => {
            state.value.is_none().then(|| state.clone())
        }
        (OperationKind::Get { .. }, OperationResult::Ambiguous | OperationResult::Failed) => {
            Some(state.clone())
        }
        (OperationKind::Set { value }, OperationResult::Written { index }) => {
            index_after(state.modified_index, *index).then(|| written(Some(*value), Some(*index)))
        }
        (OperationKind::Set { value }, OperationResult::Ambiguous) => Some(written(Some(*value), None)),
        (OperationKind::SetTtl { value, .. }, OperationResult::Written { index }) => {
            index_after(state.modified_index, *index).then(|| written(Some(*value), Some(*index)))
        }
        (OperationKind::SetTtl { value, .. }, OperationResult::Ambiguous) => {
            Some(written(Some(*value), None))
        }
        // The expiry is its own modification (etcd's "expire" event) with an index nobody saw.
        (OperationKind::Expire { value }, OperationResult::Ambiguous) => {
            Some(if state.value == Some(*value) { written(None, None) } else { state.clone() })
        }
        (OperationKind::Create { value }, OperationResult::Written { index }) => (state.value.is_none()
            && index_after(state.modified_index, *index))
        .then(|| written(Some(*value), Some(*index))),
        (OperationKind::Create { .. }, OperationResult::AlreadyExists) => {
            state.value.is_some().then(|| state.clone())
        }
        (OperationKind::Create { value }, OperationResult::Ambiguous) => {
            Some(if state.value.is_none() { written(Some(*value), None) } else { state.clone() })
        }
        (OperationKind::CompareAndSwap { previous, value }, OperationResult::Written { index }) => {
            (state.value == Some(*previous) && index_after(state.modified_index, *index))
                .then(|| written(Some(*value), Some(*index)))
        }
        (OperationKind::CompareAndSwap { previous, .. }, OperationResult::CompareFailed) => {
            (state.value.is_some() && state.value != Some(*previous)).then(|| state.clone())
        }
        (OperationKind::CompareAndSwap { .. }, OperationResult::NotFound { .. }) => {
            state.value.is_none().then(|| state.clone())
        }
        (OperationKind::CompareAndSwap { previous, value }, OperationResult::Ambiguous) => {
            Some(if state.value == Some(*previous) { written(Some(*value), None) } else { state.clone() })
        }
        (OperationKind::Delete, OperationResult::Written { index }) => (state.value.is_some()
            && index_after(state.modified_index, *index))
        .then(|| written(None, Some(*index))),
        (OperationKind::Delete, OperationResult::NotFound { .. }) => {
            state.value.is_none().then(|| state.clone())
        }
        (OperationKind::Delete, OperationResult::Ambiguous) => {
            Some(if state.value.is_some() { written(None, None) } else { state.clone() })
        }
        // A write that certainly failed before proposing changes nothing.
        (_, OperationResult::Failed) => Some(state.clone()),
        // Any other pairing (e.g. a get answered "written") is a protocol error.
        _ => None,
    }
}

/// The verdict on one key or a whole history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order of the operations explains what the clients saw.
    Violation {
        key: u32,
        detail: String,
    },
    /// The search hit its effort bound before deciding.
    Unknown {
        key: u32,
    },
}

/// Statistics of a check, for reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckStatistics {
    pub keys: usize,
    pub operations_checked: usize,
    pub search_steps: u64,
}

/// Default bound on search steps per key.
pub const DEFAULT_STEP_BUDGET: u64 = 500_000;

/// Checks the strict part of the history (writes and quorum gets) key by key.
pub fn check_history(history: &[Operation], step_budget_per_key: u64) -> (Verdict, CheckStatistics) {
    let mut per_key: BTreeMap<u32, Vec<&Operation>> = BTreeMap::new();
    for operation in history {
        let strict = match operation.kind {
            OperationKind::Get { quorum } => {
                quorum && !matches!(operation.result, OperationResult::Ambiguous | OperationResult::Failed)
            }
            // Watches change nothing and have their own check (`check_watches`).
            OperationKind::Watch { .. } => false,
            // The v3 keyspace has its own model (`v3_model`).
            ref kind if kind.is_v3() => false,
            _ => !matches!(operation.result, OperationResult::Failed),
        };
        if strict {
            per_key.entry(operation.key).or_default().push(operation);
        }
    }
    check_keys(&per_key, step_budget_per_key, &KeyState::ABSENT, &|state, operation| {
        step(state, &operation.kind, &operation.result)
    })
}

/// A sequential specification of one key: the state after an operation with its outcome, or None
/// when that outcome is impossible from that state.
pub type StepFunction<'a, S> = &'a dyn Fn(&S, &Operation) -> Option<S>;

/// Checks each key's operations against the model `step` from `initial`, up to the first violation.
pub fn check_keys<S: Clone + Eq + std::hash::Hash>(
    per_key: &BTreeMap<u32, Vec<&Operation>>,
    step_budget_per_key: u64,
    initial: &S,
    step: StepFunction<S>,
) -> (Verdict, CheckStatistics) {
    let mut statistics = CheckStatistics { keys: per_key.len(), ..CheckStatistics::default() };
    debug_assert!(
        per_key.values().all(|operations| operations.iter().all(|operation| {
            operation.returned_at == NEVER || operation.returned_at >= operation.invoked_at
        })),
        "operations return after they are invoked"
    );
    let mut unknown = None;
    for (key, operations) in per_key {
        statistics.operations_checked += operations.len();
        let (outcome, steps) = check_key(operations, step_budget_per_key, initial, step);
        statistics.search_steps += steps;
        match outcome {
            KeyOutcome::Linearizable => {}
            KeyOutcome::Unknown => unknown = unknown.or(Some(*key)),
            KeyOutcome::Violation => {
                let detail = explain_violation(operations, step_budget_per_key, initial, step);
                return (Verdict::Violation { key: *key, detail }, statistics);
            }
        }
    }
    match unknown {
        Some(key) => (Verdict::Unknown { key }, statistics),
        None => (Verdict::Linearizable, statistics),
    }
}

/// Narrows a violation down for a human: the shortest prefix (by invocation time) of the key's
/// operations that is already not linearizable, showing its last operations (the culprit is among
/// them, usually the very last one).
fn explain_violation<S: Clone + Eq + std::hash::Hash>(
    operations: &[&Operation],
    step_budget: u64,
    initial: &S,
    step: StepFunction<S>,
) -> String {
    let mut sorted: Vec<&Operation> = operations.to_vec();
    sorted.sort_by_key(|operation| operation.invoked_at);
    let fails = |length: usize| {
        matches!(check_key(&sorted[..length], step_budget, initial, step).0, KeyOutcome::Violation)
    };
    // Binary search for the shortest failing prefix (the whole history fails).
    let (mut passing, mut failing) = (0, sorted.len());
    while failing - passing > 1 {
        let middle = (passing + failing) / 2;
        if fails(middle) { failing = middle } else { passing = middle }
    }
    const SHOWN: usize = 20;
    let mut detail = format!(
        "{} operations on the key; the first {failing} are already not linearizable; the last of those:\n",
        sorted.len()
    );
    for operation in &sorted[failing.saturating_sub(SHOWN)..failing] {
        detail.push_str("  ");
        detail.push_str(&operation.describe());
        detail.push('\n');
    }
    detail
}

enum KeyOutcome {
    Linearizable,
    Violation,
    Unknown,
}

const NONE: usize = usize::MAX;

/// The calls and returns of one key's operations in time order, as a doubly linked list: a linearized
/// operation's two entries are lifted out, and put back when the search backtracks, in O(1). Entry
/// 2*i is the call of operation i, entry 2*i+1 its return.
struct EntryList {
    next: Vec<usize>,
    previous: Vec<usize>,
    /// The sentinel before the first entry.
    head: usize,
}

impl EntryList {
    fn new(operations: &[&Operation]) -> EntryList {
        let count = operations.len();
        // Calls sort before returns at the same instant (overlapping), which is the permissive
        // reading of a tie.
        let mut order: Vec<usize> = (0..2 * count).collect();
        let time_of = |entry: usize| {
            let operation = operations[entry / 2];
            if entry.is_multiple_of(2) { operation.invoked_at } else { operation.returned_at }
        };
        order.sort_by_key(|&entry| (time_of(entry), entry % 2, entry / 2));
        let head = 2 * count;
        let mut list =
            EntryList { next: vec![NONE; 2 * count + 1], previous: vec![NONE; 2 * count + 1], head };
        let mut last = head;
        for &entry in &order {
            list.next[last] = entry;
            list.previous[entry] = last;
            last = entry;
        }
        debug_assert!(order.iter().all(|&entry| list.previous[entry] != NONE), "every entry is linked");
        list
    }

    fn first(&self) -> usize {
        self.next[self.head]
    }

    fn is_empty(&self) -> bool {
        self.first() == NONE
    }

    fn after(&self, entry: usize) -> usize {
        self.next[entry]
    }

    fn lift(&mut self, entry: usize) {
        assert!(entry != self.head, "the sentinel stays");
        let (previous, next) = (self.previous[entry], self.next[entry]);
        debug_assert_eq!(self.next[previous], entry, "only a linked entry is lifted");
        self.next[previous] = next;
        if next != NONE {
            self.previous[next] = previous;
        }
    }

    /// Puts back an entry lifted last (entries go back in the reverse order of their lifting).
    fn unlift(&mut self, entry: usize) {
        assert!(entry != self.head, "the sentinel stays");
        let (previous, next) = (self.previous[entry], self.next[entry]);
        debug_assert_eq!(self.next[previous], next, "an entry goes back where it was lifted from");
        self.next[previous] = entry;
        if next != NONE {
            self.previous[next] = entry;
        }
    }
}

/// Which operations the search has linearized, one bit each.
struct OperationSet(Vec<u64>);

impl OperationSet {
    fn new(count: usize) -> OperationSet {
        OperationSet(vec![0; count.div_ceil(64)])
    }

    fn contains(&self, operation: usize) -> bool {
        self.0[operation / 64] & (1 << (operation % 64)) != 0
    }

    fn insert(&mut self, operation: usize) {
        debug_assert!(!self.contains(operation), "an operation is linearized once");
        self.0[operation / 64] |= 1 << (operation % 64);
    }

    fn remove(&mut self, operation: usize) {
        debug_assert!(self.contains(operation), "only a linearized operation is undone");
        self.0[operation / 64] &= !(1 << (operation % 64));
    }
}

/// Lowe's search over one key's operations: linearize the first call that the model accepts and that
/// leads to an unseen (linearized set, state); when a return comes first, undo the last choice.
fn check_key<S: Clone + Eq + std::hash::Hash>(
    operations: &[&Operation],
    step_budget: u64,
    initial: &S,
    step: StepFunction<S>,
) -> (KeyOutcome, u64) {
    let mut entries = EntryList::new(operations);
    let mut linearized = OperationSet::new(operations.len());
    let mut cache: HashSet<(Vec<u64>, S)> = HashSet::new();
    let mut stack: Vec<(usize, S)> = Vec::new();
    let mut state = initial.clone();
    let mut entry = entries.first();
    let mut steps = 0u64;
    while !entries.is_empty() {
        steps += 1;
        if steps > step_budget {
            return (KeyOutcome::Unknown, steps);
        }
        debug_assert!(entry != NONE, "a return entry always precedes the end of the list");
        let operation_index = entry / 2;
        if entry.is_multiple_of(2) {
            let operation = operations[operation_index];
            if let Some(new_state) = step(&state, operation) {
                linearized.insert(operation_index);
                if cache.insert((linearized.0.clone(), new_state.clone())) {
                    stack.push((entry, std::mem::replace(&mut state, new_state)));
                    assert!(stack.len() <= operations.len(), "each operation is linearized at most once");
                    // Lift the call, then its return; unlifting goes in the reverse order.
                    entries.lift(entry);
                    entries.lift(entry + 1);
                    entry = entries.first();
                    continue;
                }
                linearized.remove(operation_index);
            }
            entry = entries.after(entry);
        } else {
            // An operation returned before any order could place it: undo the last choice.
            let Some((call, previous_state)) = stack.pop() else {
                return (KeyOutcome::Violation, steps);
            };
            state = previous_state;
            linearized.remove(call / 2);
            entries.unlift(call + 1);
            entries.unlift(call);
            entry = entries.after(call);
        }
    }
    assert_eq!(stack.len(), operations.len(), "a linearization places every operation");
    (KeyOutcome::Linearizable, steps)
}

/// The weaker guarantee of a plain (non-quorum) get, which a member serves from its own applied
/// state: it never returns a value no write produced, and it is never older than the writes the same
/// client had acknowledged by the same member on that key before the get was invoked.
pub fn check_plain_gets(history: &[Operation]) -> Result<usize, String> {
    let mut written_values: BTreeMap<(u32, u64), u64> = BTreeMap::new(); // (key, value) -> invoked_at
    for operation in history {
        match operation.kind {
            OperationKind::Set { value }
            | OperationKind::SetTtl { value, .. }
            | OperationKind::Create { value }
            | OperationKind::CompareAndSwap { value, .. } => {
                written_values.insert((operation.key, value), operation.invoked_at);
            }
            _ => {}
        }
    }
    let own_writes = AcknowledgedWrites::new(history);
    let mut checked = 0;
    for get in history {
        if get.kind != (OperationKind::Get { quorum: false }) {
            continue;
        }
        let observed_index = match get.result {
            OperationResult::Value { value, index } => {
                let produced = written_values.get(&(get.key, value));
                if value == UNKNOWN_VALUE || produced.is_none_or(|&invoked| invoked > get.returned_at) {
                    return Err(format!("plain get read a value no write produced: {}", get.describe()));
                }
                index
            }
            OperationResult::NotFound { index } => index,
            _ => continue,
        };
        checked += 1;
        // The newest write by this client on this key acknowledged by this member before the get.
        let own_write = own_writes.newest_before(get.client, get.key, get.node, get.invoked_at);
        if let Some(own_index) = own_write
            && observed_index < own_index
        {
            return Err(format!(
                "plain get older than the client's own acknowledged write (index {own_index}) on the same \
                 member: {}",
                get.describe()
            ));
        }
    }
    Ok(checked)
}

/// The acknowledged v2 writes of a history by (client, key, member), in the order they returned,
/// each with the highest store index acknowledged so far in its group: the newest write a client saw
/// acknowledged by a member before an instant is one binary search away.
struct AcknowledgedWrites {
    /// (client, key, member) -> [(returned at, highest index acknowledged up to then)].
    by_group: BTreeMap<(u32, u32, NodeId), Vec<(Time, u64)>>,
}

impl AcknowledgedWrites {
    fn new(history: &[Operation]) -> AcknowledgedWrites {
        let mut by_group: BTreeMap<(u32, u32, NodeId), Vec<(Time, u64)>> = BTreeMap::new();
        for write in history {
            if let OperationResult::Written { index } = write.result
                && write.kind.is_write()
                && write.returned_at != NEVER
            {
                by_group
                    .entry((write.client, write.key, write.node))
                    .or_default()
                    .push((write.returned_at, index));
            }
        }
        for writes in by_group.values_mut() {
            writes.sort_unstable();
            let mut highest = 0;
            for (_, index) in writes.iter_mut() {
                highest = highest.max(*index);
                *index = highest;
            }
        }
        AcknowledgedWrites { by_group }
    }

    /// The highest index of the writes `client` saw acknowledged by `member` on `key` at or before
    /// `instant`.
    fn newest_before(&self, client: u32, key: u32, member: NodeId, instant: Time) -> Option<u64> {
        let writes = self.by_group.get(&(client, key, member))?;
        let returned_by_then = writes.partition_point(|(returned_at, _)| *returned_at <= instant);
        returned_by_then.checked_sub(1).map(|last| writes[last].1)
    }
}

/// What one operation tells about the modification at one store index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Modification {
    key: u32,
    /// None when only a read saw it (then it was not a delete).
    action: Option<WatchAction>,
    /// The key's value after it (None: deleted).
    value: Option<u64>,
}

impl Modification {
    /// Whether two observations of the same index can be the same modification.
    fn agrees_with(&self, other: &Modification) -> bool {
        self.key == other.key
            && self.value == other.value
            && (self.action.is_none() || other.action.is_none() || self.action == other.action)
    }
}

/// The value a write sets (None for a delete, reads and watches).
fn written_value(kind: &OperationKind) -> Option<u64> {
    match *kind {
        OperationKind::Set { value }
        | OperationKind::Create { value }
        | OperationKind::CompareAndSwap { value, .. } => Some(value),
        _ => None,
    }
}

/// The modification an operation observed, if it observed one: an acknowledged write's own, the one a
/// read's modifiedIndex names, or a watch's event.
fn observed_modification(operation: &Operation) -> Option<(u64, Modification)> {
    let key = operation.key;
    match (&operation.kind, &operation.result) {
        (kind, OperationResult::Written { index }) if kind.is_write() => Some((
            *index,
            Modification { key, action: WatchAction::of_write(kind), value: written_value(kind) },
        )),
        (OperationKind::Get { .. }, OperationResult::Value { value, index }) => {
            Some((*index, Modification { key, action: None, value: Some(*value) }))
        }
        (OperationKind::Watch { .. }, OperationResult::WatchEvent { index, action, value, .. }) => {
            Some((*index, Modification { key, action: Some(*action), value: *value }))
        }
        _ => None,
    }
}

/// Every modification the history shows, for checking watches against.
struct Observations<'a> {
    /// Per store index, what each operation that observed it saw there.
    observed: BTreeMap<u64, Vec<(Modification, &'a Operation)>>,
    /// Per key, the store indexes of its observed modifications.
    modified_at: BTreeMap<u32, BTreeSet<u64>>,
    /// The write of each (unique) value.
    writes_of_value: BTreeMap<u64, &'a Operation>,
}

impl<'a> Observations<'a> {
    fn gather(history: &'a [Operation]) -> Observations<'a> {
        let mut observations = Observations {
            observed: BTreeMap::new(),
            modified_at: BTreeMap::new(),
            writes_of_value: BTreeMap::new(),
        };
        for operation in history {
            if let Some((index, modification)) = observed_modification(operation) {
                observations.observed.entry(index).or_default().push((modification, operation));
                observations.modified_at.entry(operation.key).or_default().insert(index);
            }
            if let Some(value) = written_value(&operation.kind) {
                observations.writes_of_value.insert(value, operation);
            }
        }
        observations
    }
}

/// Whether a write may have produced the modification at `index`: it did not certainly fail and, if
/// acknowledged, it was at that index.
fn may_have_produced(write: &Operation, index: u64) -> bool {
    match write.result {
        OperationResult::Written { index: written } => written == index,
        OperationResult::Ambiguous => true,
        _ => false,
    }
}

/// Checks what one-shot watches reported against everything else the clients saw. A member's event
/// history is the sequence of modifications it applied, the same on every member (state machine
/// safety), one modification per store index; so for a watch event at index `i` on key `k`:
/// (a) every other observation of index `i` (an acknowledged write's index, a read's modifiedIndex,
///     another watch's event) is the same modification: same key, same value, same action;
/// (b) a write on `k` invoked before the watch returned produced it: the write of that (unique)
///     value with the action its kind causes, or a delete; not a write that certainly failed or that
///     was acknowledged at another index;
/// (c) it is the FIRST modification of `k` at or after the index the watch waited from (its wait
///     index, or the member's store index + 1 when it registered without one): `i` is at least that
///     index and no observed modification of `k` lies in between.
/// A 401 (history cleared) needs the store at least `HISTORY_CAPACITY` indexes past the wait index.
/// Returns the number of watch answers checked (events and 401s).
pub fn check_watches(history: &[Operation]) -> Result<usize, String> {
    let observations = Observations::gather(history);
    let mut checked = 0;
    for watch in history {
        match watch.result {
            OperationResult::WatchCleared { index: store_index } => check_cleared(watch, store_index)?,
            OperationResult::WatchEvent { index, action, value, since } => {
                if !matches!(watch.kind, OperationKind::Watch { .. }) {
                    return Err(format!(
                        "a watch event answered an operation that is not a watch: {}",
                        watch.describe()
                    ));
                }
                let this = Modification { key: watch.key, action: Some(action), value };
                check_same_modification(&observations, watch, index, &this)?;
                check_produced_by_a_write(history, &observations, watch, index)?;
                if let Some(since) = since {
                    check_first_modification_since(&observations, watch, index, since)?;
                }
            }
            _ => continue,
        }
        checked += 1;
    }
    Ok(checked)
}

/// A 401 means the history (the last HISTORY_CAPACITY events, consecutive indexes) no longer holds the
/// wait index: it is full and the store is at least that far beyond it.
fn check_cleared(watch: &Operation, store_index: u64) -> Result<(), String> {
    let OperationKind::Watch { wait_index: Some(wait_index) } = watch.kind else {
        return Err(format!("a watch without a wait index was answered 401: {}", watch.describe()));
    };
    if store_index < wait_index + store::HISTORY_CAPACITY as u64 {
        return Err(format!(
            "a watch was answered 401 (history cleared) at store index {store_index}, less than {} events after \
             its wait index: {}",
            store::HISTORY_CAPACITY,
            watch.describe()
        ));
    }
    Ok(())
}

/// (a) One modification per index: every other observation of `index` agrees with the watch's.
fn check_same_modification(
    observations: &Observations,
    watch: &Operation,
    index: u64,
    this: &Modification,
) -> Result<(), String> {
    for (other, operation) in &observations.observed[&index] {
        if !this.agrees_with(other) {
            return Err(format!(
                "a watch reported a different modification at index {index} than another operation saw \
                 there:\n  {}\n  {}",
                watch.describe(),
                operation.describe()
            ));
        }
    }
    Ok(())
}

/// (b) Some write on the key, invoked before the watch returned, can have produced the event.
fn check_produced_by_a_write(
    history: &[Operation],
    observations: &Observations,
    watch: &Operation,
    index: u64,
) -> Result<(), String> {
    let OperationResult::WatchEvent { action, value, .. } = watch.result else { return Ok(()) };
    let producer = match (action, value) {
        (WatchAction::Delete, None) => history.iter().find(|write| {
            write.kind == OperationKind::Delete
                && write.key == watch.key
                && write.invoked_at <= watch.returned_at
                && may_have_produced(write, index)
        }),
        (WatchAction::Set | WatchAction::Create | WatchAction::CompareAndSwap, Some(value))
            if value != UNKNOWN_VALUE =>
        {
            observations.writes_of_value.get(&value).copied().filter(|write| {
                write.key == watch.key
                    && WatchAction::of_write(&write.kind) == Some(action)
                    && write.invoked_at <= watch.returned_at
                    && may_have_produced(write, index)
            })
        }
        _ => None,
    };
    match producer {
        Some(_) => Ok(()),
        None => Err(format!(
            "a watch reported a modification no write on the key can have produced: {}",
            watch.describe()
        )),
    }
}

/// (c) The event is the first modification of the key at or after `since`, the index the watch
/// waited from.
fn check_first_modification_since(
    observations: &Observations,
    watch: &Operation,
    index: u64,
    since: u64,
) -> Result<(), String> {
    if index < since {
        return Err(format!(
            "a watch waiting from index {since} reported an older modification: {}",
            watch.describe()
        ));
    }
    let skipped =
        observations.modified_at.get(&watch.key).and_then(|indexes| indexes.range(since..index).next());
    if let Some(&skipped) = skipped {
        let (_, seen_by) = observations.observed[&skipped][0];
        return Err(format!(
            "a watch waiting from index {since} skipped the modification of its key at index {skipped}:\n  {}\n  \
             seen by: {}",
            watch.describe(),
            seen_by.describe()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation(
        key: u32,
        kind: OperationKind,
        invoked_at: u64,
        returned_at: u64,
        result: OperationResult,
    ) -> Operation {
        Operation { client: 0, node: 1, key, kind, invoked_at, returned_at, result }
    }

    fn verdict(history: &[Operation]) -> Verdict {
        check_history(history, DEFAULT_STEP_BUDGET).0
    }

    fn set(value: u64, from: u64, to: u64, index: u64) -> Operation {
        operation(0, OperationKind::Set { value }, from, to, OperationResult::Written { index })
    }

    fn get(value: u64, from: u64, to: u64, index: u64) -> Operation {
        operation(0, OperationKind::Get { quorum: true }, from, to, OperationResult::Value { value, index })
    }

    #[test]
    fn a_ttl_value_expires_inside_its_window_and_only_there() {
        let ttl_set = operation(
            0,
            OperationKind::SetTtl { value: 7, ttl_seconds: 1 },
            0,
            10,
            OperationResult::Written { index: 5 },
        );
        // The expiry may come anywhere in [100, 200] (World::expirations derives the window).
        let expire = operation(0, OperationKind::Expire { value: 7 }, 100, 200, OperationResult::Ambiguous);
        let absent = |from, to| {
            operation(
                0,
                OperationKind::Get { quorum: true },
                from,
                to,
                OperationResult::NotFound { index: 6 },
            )
        };
        let present = |from, to| get(7, from, to, 5);
        let verdict_of = |read: Operation| verdict(&[ttl_set.clone(), expire.clone(), read]);
        assert_eq!(verdict_of(absent(150, 160)), Verdict::Linearizable);
        assert_eq!(verdict_of(present(150, 160)), Verdict::Linearizable);
        assert_eq!(verdict_of(present(50, 60)), Verdict::Linearizable);
        assert!(matches!(verdict_of(absent(50, 60)), Verdict::Violation { .. }), "expired too early");
        assert!(matches!(verdict_of(present(300, 310)), Verdict::Violation { .. }), "expired too late");
        // An expiry only removes the value it belongs to: a later plain set survives it.
        let history = [ttl_set.clone(), set(8, 20, 30, 6), expire.clone(), get(8, 300, 310, 6)];
        assert_eq!(verdict(&history), Verdict::Linearizable);
    }

    #[test]
    fn sequential_write_then_read_is_linearizable() {
        let history = [set(1, 0, 10, 5), get(1, 20, 30, 5)];
        assert_eq!(verdict(&history), Verdict::Linearizable);
    }

    #[test]
    fn stale_read_after_acknowledged_write_is_a_violation() {
        // Write 1, then write 2 acknowledged, then a quorum read still sees 1.
        let history = [set(1, 0, 10, 5), set(2, 20, 30, 6), get(1, 40, 50, 5)];
        assert!(matches!(verdict(&history), Verdict::Violation { key: 0, .. }));
    }

    #[test]
    fn concurrent_writes_allow_either_order_for_readers() {
        // Two overlapping writes; readers after both see the one with the higher index.
        let history = [set(1, 0, 100, 8), set(2, 10, 90, 7), get(1, 200, 210, 8)];
        assert_eq!(verdict(&history), Verdict::Linearizable);
        // But a reader cannot see the one that was overwritten after both finished.
        let history = [set(1, 0, 100, 8), set(2, 10, 90, 7), get(2, 200, 210, 7)];
        assert!(matches!(verdict(&history), Verdict::Violation { .. }));
    }

    #[test]
    fn readers_must_agree_on_one_order() {
        // Concurrent writes; two sequential readers see 1 then 2 then 1 again: impossible.
        let history =
            [set(1, 0, 1000, 3), set(2, 0, 1000, 4), get(1, 10, 20, 3), get(2, 30, 40, 4), get(1, 50, 60, 3)];
        assert!(matches!(verdict(&history), Verdict::Violation { .. }));
    }

    #[test]
    fn modified_indexes_must_grow_with_the_order() {
        // Sequential writes whose indexes go backwards cannot come from one log.
        let history = [set(1, 0, 10, 9), set(2, 20, 30, 4)];
        assert!(matches!(verdict(&history), Verdict::Violation { .. }));
    }

    #[test]
    fn ambiguous_write_may_or_may_not_take_effect() {
        let ambiguous = operation(0, OperationKind::Set { value: 7 }, 0, NEVER, OperationResult::Ambiguous);
        // Seen later: fine.
        assert_eq!(verdict(&[ambiguous.clone(), get(7, 100, 110, 3)]), Verdict::Linearizable);
        // Never seen: fine too.
        let absent = operation(
            0,
            OperationKind::Get { quorum: true },
            100,
            110,
            OperationResult::NotFound { index: 2 },
        );
        assert_eq!(verdict(&[ambiguous.clone(), absent.clone()]), Verdict::Linearizable);
        // Seen, then unseen without any other write: a violation (it cannot take effect twice).
        let absent_later = operation(
            0,
            OperationKind::Get { quorum: true },
            200,
            210,
            OperationResult::NotFound { index: 3 },
        );
        let history = [ambiguous, get(7, 100, 110, 3), absent_later];
        assert!(matches!(verdict(&history), Verdict::Violation { .. }));
    }

    #[test]
    fn an_ambiguous_write_cannot_take_effect_before_it_was_invoked() {
        let history = [
            get(7, 0, 10, 3),
            operation(0, OperationKind::Set { value: 7 }, 20, NEVER, OperationResult::Ambiguous),
        ];
        assert!(matches!(verdict(&history), Verdict::Violation { .. }));
    }

    #[test]
    fn create_and_compare_and_swap_semantics() {
        let create =
            |value, from, to, result| operation(0, OperationKind::Create { value }, from, to, result);
        let compare_and_swap = |previous, value, from, to, result| {
            operation(0, OperationKind::CompareAndSwap { previous, value }, from, to, result)
        };
        // Two sequential creates: the second must fail.
        let ok = [
            create(1, 0, 10, OperationResult::Written { index: 2 }),
            create(2, 20, 30, OperationResult::AlreadyExists),
            compare_and_swap(1, 3, 40, 50, OperationResult::Written { index: 3 }),
            compare_and_swap(1, 4, 60, 70, OperationResult::CompareFailed),
            get(3, 80, 90, 3),
        ];
        assert_eq!(verdict(&ok), Verdict::Linearizable);
        let double_create = [
            create(1, 0, 10, OperationResult::Written { index: 2 }),
            create(2, 20, 30, OperationResult::Written { index: 3 }),
        ];
        assert!(matches!(verdict(&double_create), Verdict::Violation { .. }));
        let cas_on_missing = [compare_and_swap(1, 2, 0, 10, OperationResult::Written { index: 2 })];
        assert!(matches!(verdict(&cas_on_missing), Verdict::Violation { .. }));
    }

    #[test]
    fn delete_semantics() {
        let delete = |from, to, result| operation(0, OperationKind::Delete, from, to, result);
        let ok = [
            set(1, 0, 10, 2),
            delete(20, 30, OperationResult::Written { index: 3 }),
            delete(40, 50, OperationResult::NotFound { index: 3 }),
        ];
        assert_eq!(verdict(&ok), Verdict::Linearizable);
        let read_after_delete =
            [set(1, 0, 10, 2), delete(20, 30, OperationResult::Written { index: 3 }), get(1, 40, 50, 2)];
        assert!(matches!(verdict(&read_after_delete), Verdict::Violation { .. }));
    }

    #[test]
    fn keys_are_checked_independently() {
        let mut other_key = set(5, 0, 10, 9);
        other_key.key = 1;
        // Indexes only need to grow per key.
        let history = [set(1, 20, 30, 4), other_key];
        assert_eq!(verdict(&history), Verdict::Linearizable);
    }

    #[test]
    fn search_effort_is_bounded() {
        // Many fully concurrent writes and a final read nobody can explain: with a tiny budget the
        // checker gives up with Unknown instead of searching forever.
        let unexplainable = |writes: u64| {
            let mut history: Vec<Operation> =
                (1..=writes).map(|value| set(value, 0, 1000, 100 + value)).collect();
            history.push(get(999, 2000, 2010, 1));
            history
        };
        assert_eq!(check_history(&unexplainable(40), 1000).0, Verdict::Unknown { key: 0 });
        assert!(matches!(check_history(&unexplainable(10), u64::MAX).0, Verdict::Violation { .. }));
    }

    #[test]
    fn plain_gets_are_never_older_than_own_acknowledged_writes() {
        let write = set(1, 0, 10, 5);
        let plain = |value, index| {
            operation(
                0,
                OperationKind::Get { quorum: false },
                20,
                30,
                OperationResult::Value { value, index },
            )
        };
        assert!(check_plain_gets(&[write.clone(), plain(1, 5)]).is_ok());
        // The client wrote 2 then 1 through this member; reading 2 back is older than its own write.
        let history = [set(2, 0, 4, 3), set(1, 5, 10, 5), plain(2, 3)];
        assert!(check_plain_gets(&history).is_err());
        // A value nobody wrote.
        assert!(check_plain_gets(&[write, plain(77, 9)]).is_err());
    }

    fn watch(key: u32, wait_index: Option<u64>, from: u64, to: u64, result: OperationResult) -> Operation {
        operation(key, OperationKind::Watch { wait_index }, from, to, result)
    }

    fn event(index: u64, action: WatchAction, value: Option<u64>, since: u64) -> OperationResult {
        OperationResult::WatchEvent { index, action, value, since: Some(since) }
    }

    /// Key 0: set 1 (index 5), create-less set 2 (index 7), delete (index 9); a quorum read of 2.
    fn writes() -> Vec<Operation> {
        vec![
            set(1, 0, 10, 5),
            set(2, 20, 30, 7),
            operation(0, OperationKind::Delete, 40, 50, OperationResult::Written { index: 9 }),
            get(2, 32, 38, 7),
        ]
    }

    fn watches_with(extra: Operation) -> Result<usize, String> {
        let mut history = writes();
        history.push(extra);
        check_watches(&history)
    }

    #[test]
    fn watches_reporting_the_next_modification_pass() {
        let mut history = writes();
        history.extend([
            watch(0, Some(5), 1, 12, event(5, WatchAction::Set, Some(1), 5)),
            watch(0, Some(6), 12, 31, event(7, WatchAction::Set, Some(2), 6)),
            watch(0, Some(8), 31, 52, event(9, WatchAction::Delete, None, 8)),
            // Registered without a wait index at store index 8: the delete is next.
            watch(
                0,
                None,
                31,
                52,
                OperationResult::WatchEvent {
                    index: 9,
                    action: WatchAction::Delete,
                    value: None,
                    since: Some(9),
                },
            ),
            watch(0, Some(1), 60, 61, OperationResult::WatchCleared { index: 1001 }),
            watch(0, None, 60, 61, OperationResult::WatchClosed),
            watch(0, None, 60, 90, OperationResult::WatchTimedOut),
        ]);
        assert_eq!(check_watches(&history), Ok(5));
        // Watches stay out of the per-key linearizability search.
        assert_eq!(verdict(&history), Verdict::Linearizable);
    }

    #[test]
    fn an_ambiguous_write_may_be_what_a_watch_saw() {
        let mut history = writes();
        history.push(operation(0, OperationKind::Create { value: 3 }, 55, NEVER, OperationResult::Ambiguous));
        history.push(watch(0, Some(10), 52, 70, event(11, WatchAction::Create, Some(3), 10)));
        assert_eq!(check_watches(&history), Ok(1));
        // ... but not with another action than its kind causes.
        history.push(watch(0, Some(10), 52, 70, event(11, WatchAction::Set, Some(3), 10)));
        assert!(check_watches(&history).is_err());
    }

    #[test]
    fn a_wrong_event_at_an_acknowledged_index_is_caught() {
        // Index 7 was set 2; reporting value 1 there is wrong (and 1 was written at 5, not 7).
        assert!(watches_with(watch(0, Some(6), 12, 31, event(7, WatchAction::Set, Some(1), 6))).is_err());
        // Reporting the right value with the wrong action.
        assert!(
            watches_with(watch(0, Some(6), 12, 31, event(7, WatchAction::CompareAndSwap, Some(2), 6)))
                .is_err()
        );
        // A delete where a read saw a value.
        assert!(watches_with(watch(0, Some(6), 12, 31, event(7, WatchAction::Delete, None, 6))).is_err());
        // The right modification reported on another key: index 7 belongs to key 0.
        assert!(watches_with(watch(1, Some(6), 12, 31, event(7, WatchAction::Set, Some(2), 6))).is_err());
        // Off by one: value 2 at index 8.
        assert!(watches_with(watch(0, Some(6), 12, 31, event(8, WatchAction::Set, Some(2), 6))).is_err());
    }

    #[test]
    fn a_skipped_event_is_caught() {
        // Waiting from 5, the first modification is set 1 at 5, not set 2 at 7.
        assert!(watches_with(watch(0, Some(5), 1, 31, event(7, WatchAction::Set, Some(2), 5))).is_err());
        // Waiting from 6 (after 5), the delete at 9 skips the set at 7 (which only a read and a write saw).
        assert!(watches_with(watch(0, Some(6), 12, 52, event(9, WatchAction::Delete, None, 6))).is_err());
        // An event older than the index the watch waited from.
        assert!(watches_with(watch(0, Some(6), 1, 12, event(5, WatchAction::Set, Some(1), 6))).is_err());
    }

    #[test]
    fn a_value_no_write_produced_is_caught() {
        // Nobody wrote 77.
        assert!(watches_with(watch(0, Some(10), 52, 70, event(11, WatchAction::Set, Some(77), 10))).is_err());
        // A value that does not parse as a workload value.
        let unknown = event(11, WatchAction::Set, Some(UNKNOWN_VALUE), 10);
        assert!(watches_with(watch(0, Some(10), 52, 70, unknown)).is_err());
        // A delete nobody issued (key 1 saw no delete).
        assert!(watches_with(watch(1, Some(10), 52, 70, event(11, WatchAction::Delete, None, 10))).is_err());
        // An action no workload write causes.
        assert!(
            watches_with(watch(0, Some(10), 52, 70, event(11, WatchAction::Other, Some(2), 10))).is_err()
        );
        // A write invoked only after the watch returned.
        let late = operation(0, OperationKind::Set { value: 4 }, 80, NEVER, OperationResult::Ambiguous);
        let mut history = writes();
        history.extend([late, watch(0, Some(10), 52, 70, event(11, WatchAction::Set, Some(4), 10))]);
        assert!(check_watches(&history).is_err());
        // A write that certainly failed.
        let failed = operation(0, OperationKind::Create { value: 5 }, 55, 60, OperationResult::AlreadyExists);
        let mut history = writes();
        history.extend([failed, watch(0, Some(10), 52, 70, event(11, WatchAction::Create, Some(5), 10))]);
        assert!(check_watches(&history).is_err());
    }

    #[test]
    fn a_401_needs_a_full_history_past_the_wait_index() {
        let cleared =
            |wait_index, index| watch(0, wait_index, 60, 61, OperationResult::WatchCleared { index });
        assert_eq!(check_watches(&[cleared(Some(5), 1005)]), Ok(1));
        // The history holds 1000 events: at store index 1004 it still holds index 5.
        assert!(check_watches(&[cleared(Some(5), 1004)]).is_err());
        // Without a wait index a watch waits for the future: never 401.
        assert!(check_watches(&[cleared(None, 5000)]).is_err());
    }

    #[test]
    fn two_watches_must_agree_on_an_index() {
        let ambiguous = operation(0, OperationKind::Set { value: 3 }, 55, NEVER, OperationResult::Ambiguous);
        let other = operation(0, OperationKind::Set { value: 4 }, 55, NEVER, OperationResult::Ambiguous);
        let mut history = writes();
        history.extend([
            ambiguous,
            other,
            watch(0, Some(10), 52, 70, event(11, WatchAction::Set, Some(3), 10)),
            watch(0, Some(10), 52, 70, event(11, WatchAction::Set, Some(4), 10)),
        ]);
        assert!(check_watches(&history).is_err());
    }
}
