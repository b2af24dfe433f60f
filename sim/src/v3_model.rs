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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::V3_KEY_BASE;
    use crate::linearizability::DEFAULT_STEP_BUDGET;

    const KEY: u32 = V3_KEY_BASE;

    fn operation(kind: OperationKind, from: u64, to: u64, result: OperationResult) -> Operation {
        Operation { client: 0, node: 1, key: KEY, kind, invoked_at: from, returned_at: to, result }
    }

    fn put(value: u64, from: u64, to: u64, revision: u64) -> Operation {
        let kind = OperationKind::V3Put { value, lease: 0 };
        operation(kind, from, to, OperationResult::V3Written { revision })
    }

    fn range(
        from: u64,
        to: u64,
        value: u64,
        mod_revision: u64,
        create_revision: u64,
        version: u64,
    ) -> Operation {
        let result = OperationResult::V3Value {
            value,
            mod_revision,
            create_revision,
            version,
            revision: mod_revision,
        };
        operation(OperationKind::V3Range, from, to, result)
    }

    fn missing(from: u64, to: u64) -> Operation {
        operation(OperationKind::V3Range, from, to, OperationResult::V3Missing { revision: 1 })
    }

    fn linearizable(history: &[Operation]) -> bool {
        matches!(check_v3_history(history, DEFAULT_STEP_BUDGET).0, Verdict::Linearizable)
    }

    #[test]
    fn puts_then_a_range_with_the_right_revisions_and_version_pass() {
        let history = [put(1, 0, 10, 2), put(2, 20, 30, 3), range(40, 50, 2, 3, 2, 2)];
        assert!(linearizable(&history));
    }

    #[test]
    fn a_range_with_a_wrong_version_mod_or_create_revision_is_caught() {
        let writes = [put(1, 0, 10, 2), put(2, 20, 30, 3)];
        for wrong in [range(40, 50, 2, 3, 2, 1), range(40, 50, 2, 4, 2, 2), range(40, 50, 2, 3, 3, 2)] {
            let history: Vec<Operation> = writes.iter().cloned().chain([wrong.clone()]).collect();
            assert!(!linearizable(&history), "accepted {}", wrong.describe());
        }
    }

    #[test]
    fn a_stale_range_after_an_acknowledged_put_is_caught() {
        assert!(!linearizable(&[put(1, 0, 10, 2), put(2, 20, 30, 3), range(40, 50, 1, 2, 2, 1)]));
    }

    #[test]
    fn a_key_s_write_revisions_must_grow_in_the_order_of_its_writes() {
        assert!(!linearizable(&[put(1, 0, 10, 5), put(2, 20, 30, 3)]));
        // Overlapping, either order is possible, and the revisions pick it.
        assert!(linearizable(&[put(1, 0, 30, 5), put(2, 10, 20, 3), range(40, 50, 1, 5, 3, 2)]));
    }

    #[test]
    fn an_ambiguous_put_may_count_and_then_a_range_pins_its_revision() {
        let ambiguous =
            operation(OperationKind::V3Put { value: 2, lease: 0 }, 20, NEVER, OperationResult::Ambiguous);
        let history = [put(1, 0, 10, 2), ambiguous.clone(), range(40, 50, 2, 7, 2, 2), put(3, 60, 70, 8)];
        assert!(linearizable(&history));
        // The pinned revision must stay above the key's earlier writes.
        let history = [put(1, 0, 10, 4), ambiguous, range(40, 50, 2, 3, 4, 2)];
        assert!(!linearizable(&history));
    }

    #[test]
    fn a_compare_and_put_succeeds_exactly_when_its_compare_holds() {
        let compare = V3Compare::ModRevision { revision: 2, of_value: 1 };
        let cap = |from, to, result| {
            operation(OperationKind::V3CompareAndPut { compare, value: 9 }, from, to, result)
        };
        assert!(linearizable(&[put(1, 0, 10, 2), cap(20, 30, OperationResult::V3Written { revision: 3 })]));
        let overwritten = [put(1, 0, 10, 2), put(2, 12, 18, 3)];
        let mut history = overwritten.to_vec();
        history.push(cap(20, 30, OperationResult::V3Written { revision: 4 }));
        assert!(!linearizable(&history), "a compare-and-put on an overwritten revision succeeded");
        let mut history = overwritten.to_vec();
        history.push(cap(20, 30, OperationResult::V3CompareFailed { revision: 3 }));
        assert!(linearizable(&history));
        let history = [put(1, 0, 10, 2), cap(20, 30, OperationResult::V3CompareFailed { revision: 2 })];
        assert!(!linearizable(&history), "a compare-and-put whose compare held failed");
    }

    #[test]
    fn a_delete_ends_the_key_and_the_next_put_starts_a_new_generation() {
        let delete = operation(OperationKind::V3Delete, 20, 30, OperationResult::V3Written { revision: 3 });
        let history =
            [put(1, 0, 10, 2), delete.clone(), missing(40, 50), put(2, 60, 70, 4), range(80, 90, 2, 4, 4, 1)];
        assert!(linearizable(&history));
        let history = [put(1, 0, 10, 2), delete, put(2, 60, 70, 4), range(80, 90, 2, 4, 2, 2)];
        assert!(!linearizable(&history), "the new generation kept the old create_revision and version");
    }

    #[test]
    fn a_key_attached_to_a_lease_disappears_only_once_the_lease_may_have_ended() {
        let leased = operation(
            OperationKind::V3Put { value: 1, lease: 7 },
            0,
            10,
            OperationResult::V3Written { revision: 2 },
        );
        let lease_end =
            operation(OperationKind::V3LeaseEnd { lease: 7 }, 100, NEVER, OperationResult::Ambiguous);
        assert!(linearizable(&[leased.clone(), lease_end.clone(), missing(110, 120)]));
        assert!(
            !linearizable(&[leased.clone(), lease_end.clone(), missing(40, 50)]),
            "gone before its lease ended"
        );
        assert!(!linearizable(&[leased.clone(), missing(110, 120)]), "gone with no end of its lease");
        // A later put without the lease detaches the key: the lease's end leaves it alone.
        let detached = put(2, 20, 30, 3);
        assert!(!linearizable(&[leased, detached, lease_end, missing(110, 120)]));
    }

    #[test]
    fn a_key_attached_to_a_lease_is_gone_once_its_lease_must_have_ended() {
        let leased = operation(
            OperationKind::V3Put { value: 1, lease: 7 },
            0,
            10,
            OperationResult::V3Written { revision: 2 },
        );
        let lease_end =
            operation(OperationKind::V3LeaseEnd { lease: 7 }, 100, 200, OperationResult::Ambiguous);
        assert!(linearizable(&[leased.clone(), lease_end.clone(), range(150, 160, 1, 2, 2, 1)]));
        assert!(!linearizable(&[leased, lease_end, range(210, 220, 1, 2, 2, 1)]), "outlived its lease");
    }
}
