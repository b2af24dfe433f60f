//! The clients' v3 workload: which operations go to the v3 keyspace, which v3 operation a client
//! asks next (put — now and then attached to its lease —, delete, linearizable range, range at a
//! revision it saw earlier, compare-and-put txn, lease grant, keep-alive and revoke, and rarely a
//! compaction), and what the client remembers of the answers to build its next requests.

use rand::RngExt;

use super::World;
use crate::history::{OperationKind, OperationResult, V3_KEY_BASE, V3_LEASE_KEY, V3Compare};

/// Revisions a client remembers (the newest), to range or compact at.
const REMEMBERED_REVISIONS: usize = 16;
/// The largest TTL a client asks for its lease (the node raises it to its minimum TTL).
const MAX_LEASE_TTL_SECONDS: i64 = 4;

impl World<'_> {
    /// Whether the client's next operation goes to the v3 keyspace (drawn from `v3_random` only, so
    /// plans without v3 operations run as they did before).
    pub(super) fn v3_chosen(&mut self) -> bool {
        self.v3_enabled && self.v3_random.random_range(0..100) < self.plan.v3_percent
    }

    /// A v3 operation: on one of the plan's keys (numbered from `V3_KEY_BASE`) or, for lease requests
    /// and compactions, on `V3_LEASE_KEY`.
    pub(super) fn next_v3_operation(&mut self, client: usize) -> (u32, OperationKind) {
        let key = V3_KEY_BASE + self.v3_random.random_range(0..self.plan.keys);
        let roll = self.v3_random.random_range(0..100);
        let (key, kind) = match roll {
            0..20 => (key, OperationKind::V3Range),
            20..28 => (key, self.past_range(client)),
            28 => (V3_LEASE_KEY, self.compaction(client)),
            29..37 => (V3_LEASE_KEY, self.lease_request(client)),
            37..90 => (key, self.v3_write(client, key, roll < 60)),
            _ => (key, OperationKind::V3Delete),
        };
        assert!((key >= V3_KEY_BASE) && kind.is_v3(), "v3 operations use v3 keys");
        (key, kind)
    }

    /// A range at a revision the client saw (a linearizable range when it saw none yet).
    fn past_range(&mut self, client: usize) -> OperationKind {
        let seen = &self.clients[client].v3_revisions;
        if seen.is_empty() {
            return OperationKind::V3Range;
        }
        let revision = seen[self.v3_random.random_range(0..seen.len())];
        OperationKind::V3RangeAt { revision }
    }

    /// A compaction up to the oldest revision the client remembers (a range when it knows none).
    fn compaction(&mut self, client: usize) -> OperationKind {
        match self.clients[client].v3_revisions.iter().min() {
            Some(&revision) => OperationKind::V3Compact { revision },
            None => OperationKind::V3Range,
        }
    }

    /// A grant when the client holds no lease; otherwise mostly a keep-alive, sometimes a revoke.
    fn lease_request(&mut self, client: usize) -> OperationKind {
        match self.clients[client].v3_lease {
            None => OperationKind::V3LeaseGrant {
                ttl_seconds: self.v3_random.random_range(1..=MAX_LEASE_TTL_SECONDS),
            },
            Some(lease) if self.v3_random.random_range(0..5) == 0 => OperationKind::V3LeaseRevoke { lease },
            Some(lease) => OperationKind::V3LeaseKeepAlive { lease },
        }
    }

    /// A put (attached to the client's lease a third of the time when it holds one), or, when
    /// `compare` and the client knows the key, a compare-and-put against what it saw (the value or its
    /// mod_revision).
    fn v3_write(&mut self, client: usize, key: u32, compare: bool) -> OperationKind {
        let value = self.fresh_value();
        let known = self.clients[client].v3_known.get(&key).copied();
        match known {
            Some((of_value, revision)) if compare => {
                let compare = if self.v3_random.random_bool(0.5) {
                    V3Compare::ModRevision { revision, of_value }
                } else {
                    V3Compare::Value { value: of_value }
                };
                OperationKind::V3CompareAndPut { compare, value }
            }
            _ => {
                let lease = match self.clients[client].v3_lease {
                    Some(lease) if self.v3_random.random_range(0..3) == 0 => lease,
                    _ => 0,
                };
                OperationKind::V3Put { value, lease }
            }
        }
    }

    /// Remembers what a v3 answer shows: the value and mod_revision of its key (a range's, a write's
    /// own; forgotten when the key is gone), the revisions it carries, and the client's lease.
    pub(super) fn remember_v3(&mut self, client: usize, operation_index: usize, result: &OperationResult) {
        let operation = &self.history[operation_index];
        let (key, kind) = (operation.key, operation.kind.clone());
        self.remember_v3_value(client, key, &kind, result);
        self.remember_lease(client, &kind, result);
        let revision = match *result {
            OperationResult::V3Written { revision }
            | OperationResult::V3NothingDeleted { revision }
            | OperationResult::V3CompareFailed { revision }
            | OperationResult::V3Missing { revision }
            | OperationResult::V3Value { revision, .. } => revision,
            _ => 0,
        };
        let seen = &mut self.clients[client].v3_revisions;
        if revision > 0 && !seen.contains(&revision) {
            if seen.len() == REMEMBERED_REVISIONS {
                seen.remove(0);
            }
            seen.push(revision);
        }
        assert!(seen.len() <= REMEMBERED_REVISIONS, "a client remembers a bounded number of revisions");
    }

    fn remember_v3_value(&mut self, client: usize, key: u32, kind: &OperationKind, result: &OperationResult) {
        let seen = match (kind, result) {
            (OperationKind::V3Range, OperationResult::V3Value { value, mod_revision, .. }) => {
                Some(Some((*value, *mod_revision)))
            }
            (
                OperationKind::V3Put { value, .. } | OperationKind::V3CompareAndPut { value, .. },
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

    /// A granted lease becomes the client's; a lease found gone (or revoked) is forgotten.
    fn remember_lease(&mut self, client: usize, kind: &OperationKind, result: &OperationResult) {
        let state = &mut self.clients[client];
        match (kind, result) {
            (OperationKind::V3LeaseGrant { .. }, OperationResult::V3LeaseGranted { lease, .. }) => {
                state.v3_lease = Some(*lease);
            }
            (OperationKind::V3LeaseRevoke { .. }, OperationResult::V3Done { .. })
            | (_, OperationResult::V3LeaseNotFound) => state.v3_lease = None,
            _ => {}
        }
    }
}
