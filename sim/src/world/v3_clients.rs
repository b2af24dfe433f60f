//! The clients' v3 workload: which operations go to the v3 keyspace, which v3 operation a client
//! asks next (put, delete, linearizable range, compare-and-put txn on a few keys), and what the client
//! remembers of the answers to build its next compare.

use rand::RngExt;

use super::World;
use crate::history::{OperationKind, OperationResult, V3_KEY_BASE, V3Compare};

impl World<'_> {
    /// Whether the client's next operation goes to the v3 keyspace (drawn from `v3_random` only, so
    /// plans without v3 operations run as they did before).
    pub(super) fn v3_chosen(&mut self) -> bool {
        self.v3_enabled && self.v3_random.random_range(0..100) < self.plan.v3_percent
    }

    /// A v3 operation on one of the plan's keys (numbered from `V3_KEY_BASE`): a linearizable range,
    /// a put, a compare-and-put against what the client last saw (the value or its mod_revision), or
    /// a delete.
    pub(super) fn next_v3_operation(&mut self, client: usize) -> (u32, OperationKind) {
        let key = V3_KEY_BASE + self.v3_random.random_range(0..self.plan.keys);
        let roll = self.v3_random.random_range(0..100);
        if roll < 25 {
            return (key, OperationKind::V3Range);
        }
        if roll >= 90 {
            return (key, OperationKind::V3Delete);
        }
        let value = self.fresh_value();
        let known = self.clients[client].v3_known.get(&key).copied();
        let kind = match known {
            Some((of_value, revision)) if roll < 55 => {
                let compare = if self.v3_random.random_bool(0.5) {
                    V3Compare::ModRevision { revision, of_value }
                } else {
                    V3Compare::Value { value: of_value }
                };
                OperationKind::V3CompareAndPut { compare, value }
            }
            _ => OperationKind::V3Put { value },
        };
        assert!(key >= V3_KEY_BASE && kind.is_v3(), "v3 operations use v3 keys");
        (key, kind)
    }

    /// Remembers the value and mod_revision a v3 answer shows on its key (a range's, a write's own);
    /// forgets them when the key is gone.
    pub(super) fn remember_v3(&mut self, client: usize, operation_index: usize, result: &OperationResult) {
        let operation = &self.history[operation_index];
        let key = operation.key;
        let seen = match (&operation.kind, result) {
            (OperationKind::V3Range, OperationResult::V3Value { value, mod_revision, .. }) => {
                Some(Some((*value, *mod_revision)))
            }
            (
                OperationKind::V3Put { value } | OperationKind::V3CompareAndPut { value, .. },
                OperationResult::V3Written { revision },
            ) => Some(Some((*value, *revision))),
            (OperationKind::V3Range, OperationResult::V3Missing { .. })
            | (OperationKind::V3Delete, OperationResult::V3Written { .. }) => Some(None),
            _ => None,
        };
        let known = &mut self.clients[client].v3_known;
        match seen {
            Some(Some(pair)) => {
                known.insert(key, pair);
            }
            Some(None) => {
                known.remove(&key);
            }
            None => {}
        }
        assert!(known.len() <= self.plan.keys as usize, "a client knows at most one pair per v3 key");
    }
}
