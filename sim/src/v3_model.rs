//! The sequential model of one v3 key, for the linearizability search (`linearizability::check_keys`):
//! value, mod_revision, create_revision, version and lease, with the revision rules etcd keeps (every
//! write of the key takes a revision above the key's previous ones; a range shows exactly the model's
//! version, and the revisions it has pinned). Lease ends are pseudo-operations (`V3LeaseEnd`) that
//! delete the key while it is still attached to the lease.

use std::collections::BTreeMap;

use crate::history::{NEVER, Operation, OperationKind, OperationResult, V3Compare};
use crate::linearizability::{CheckStatistics, Verdict, check_keys};

/// The model's state of one v3 key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct V3KeyState {
    /// The current value, None when the key does not exist.
    pub value: Option<u64>,
    /// The revision of the last write of the key (put or delete), when known: an ambiguous write
    /// makes it unknown until a range pins it.
    pub mod_revision: Option<u64>,
    /// The revision that created the current generation, when known (None when absent).
    pub create_revision: Option<u64>,
    /// Puts since the creation (0 when absent).
    pub version: u64,
    /// The lease the current value is attached to (0: none).
    pub lease: i64,
    /// Every write of the key so far had a revision at most this: the next one's is above it.
    pub revision_floor: u64,
}

impl V3KeyState {
    /// The key after a put of `value` with `lease` at `revision` (None: not known).
    fn put(&self, value: u64, lease: i64, revision: Option<u64>) -> V3KeyState {
        let created = self.value.is_none();
        V3KeyState {
            value: Some(value),
            mod_revision: revision,
            create_revision: if created { revision } else { self.create_revision },
            version: if created { 1 } else { self.version + 1 },
            lease,
            revision_floor: self.floor_after_write(revision),
        }
    }

    /// The key after a delete at `revision` (None: not known).
    fn deleted(&self, revision: Option<u64>) -> V3KeyState {
        V3KeyState {
            value: None,
            mod_revision: revision,
            create_revision: None,
            version: 0,
            lease: 0,
            revision_floor: self.floor_after_write(revision),
        }
    }

    fn floor_after_write(&self, revision: Option<u64>) -> u64 {
        revision.unwrap_or(self.mod_revision.unwrap_or(self.revision_floor)).max(self.revision_floor)
    }

    /// Whether a write at `revision` may come next: above every earlier write of the key.
    fn may_write_at(&self, revision: u64) -> bool {
        revision > self.revision_floor && self.mod_revision.is_none_or(|known| revision > known)
    }

    /// Whether the compare of a compare-and-put holds. Values are unique, so the value the client saw
    /// at a mod_revision is current exactly when that mod_revision is.
    fn holds(&self, compare: &V3Compare) -> bool {
        match *compare {
            V3Compare::ModRevision { revision, of_value } => {
                self.value == Some(of_value) && self.mod_revision.is_none_or(|known| known == revision)
            }
            V3Compare::Value { value } => self.value == Some(value),
        }
    }

    /// A range found the key with these fields: they must be the model's, and pin what it did not know.
    fn read(&self, value: u64, mod_revision: u64, create_revision: u64, version: u64) -> Option<V3KeyState> {
        let consistent = self.value == Some(value)
            && self.version == version
            && self.mod_revision.is_none_or(|known| known == mod_revision)
            && self.create_revision.is_none_or(|known| known == create_revision)
            && (self.mod_revision.is_some() || mod_revision > self.revision_floor)
            && create_revision <= mod_revision
            && (version != 1 || create_revision == mod_revision);
        consistent.then(|| V3KeyState {
            mod_revision: Some(mod_revision),
            create_revision: Some(create_revision),
            ..self.clone()
        })
    }
}

/// The sequential specification of one v3 key: the state after `operation` with its outcome, or
/// None when that outcome is impossible from `state`.
pub fn v3_step(state: &V3KeyState, operation: &Operation) -> Option<V3KeyState> {
    let unchanged = || Some(state.clone());
    match (&operation.kind, &operation.result) {
        (OperationKind::V3Put { value, lease }, OperationResult::V3Written { revision }) => {
            state.may_write_at(*revision).then(|| state.put(*value, *lease, Some(*revision)))
        }
        (OperationKind::V3Put { value, lease }, OperationResult::Ambiguous) => {
            Some(state.put(*value, *lease, None))
        }
        (OperationKind::V3Put { lease, .. }, OperationResult::V3LeaseNotFound) if *lease != 0 => unchanged(),
        (OperationKind::V3CompareAndPut { compare, value }, OperationResult::V3Written { revision }) => {
            (state.holds(compare) && state.may_write_at(*revision))
                .then(|| state.put(*value, 0, Some(*revision)))
        }
        (OperationKind::V3CompareAndPut { compare, .. }, OperationResult::V3CompareFailed { .. }) => {
            (!state.holds(compare)).then(|| state.clone())
        }
        (OperationKind::V3CompareAndPut { compare, value }, OperationResult::Ambiguous) => {
            Some(if state.holds(compare) { state.put(*value, 0, None) } else { state.clone() })
        }
        (OperationKind::V3Delete, OperationResult::V3Written { revision }) => {
            (state.value.is_some() && state.may_write_at(*revision)).then(|| state.deleted(Some(*revision)))
        }
        (OperationKind::V3Delete, OperationResult::V3NothingDeleted { .. }) => {
            state.value.is_none().then(|| state.clone())
        }
        (OperationKind::V3Delete, OperationResult::Ambiguous) => {
            Some(if state.value.is_some() { state.deleted(None) } else { state.clone() })
        }
        (
            OperationKind::V3Range,
            OperationResult::V3Value { value, mod_revision, create_revision, version, .. },
        ) => state.read(*value, *mod_revision, *create_revision, *version),
        (OperationKind::V3Range, OperationResult::V3Missing { .. }) => {
            state.value.is_none().then(|| state.clone())
        }
        (OperationKind::V3LeaseEnd { lease }, OperationResult::Ambiguous) => {
            Some(if state.value.is_some() && state.lease == *lease {
                state.deleted(None)
            } else {
                state.clone()
            })
        }
        (_, OperationResult::Failed) => unchanged(),
        _ => None,
    }
}

/// Whether the per-key model checks this operation: v3 writes, linearizable ranges and lease ends
/// (ranges at older revisions have their own check, `v3_checks::check_past_ranges`).
fn modelled(operation: &Operation) -> bool {
    let kind_modelled = matches!(
        operation.kind,
        OperationKind::V3Put { .. }
            | OperationKind::V3Delete
            | OperationKind::V3CompareAndPut { .. }
            | OperationKind::V3Range
            | OperationKind::V3LeaseEnd { .. }
    );
    let read_told_nothing = operation.kind == OperationKind::V3Range
        && matches!(operation.result, OperationResult::Ambiguous | OperationResult::Failed);
    kind_modelled && !read_told_nothing && !matches!(operation.result, OperationResult::Failed)
}

/// Checks the v3 keys' histories (writes, linearizable ranges, lease ends) key by key.
pub fn check_v3_history(history: &[Operation], step_budget_per_key: u64) -> (Verdict, CheckStatistics) {
    let mut per_key: BTreeMap<u32, Vec<&Operation>> = BTreeMap::new();
    for operation in history.iter().filter(|operation| modelled(operation)) {
        debug_assert!(
            operation.returned_at != NEVER || operation.result == OperationResult::Ambiguous,
            "only an ambiguous operation never returns"
        );
        per_key.entry(operation.key).or_default().push(operation);
    }
    check_keys(&per_key, step_budget_per_key, &V3KeyState::default(), &v3_step)
}
