//! Lease state (etcd's `lessor`): each lease's TTL, its attached keys and its expiry.
//!
//! Time: expiries are milliseconds of the leader's clock, passed in by the node (`now_ms`); nothing
//! here reads a clock. What is replicated — the same on every member — is which leases exist, their
//! granted TTL and their keys. Expiries (and checkpointed remaining TTLs) are the leader's soft state,
//! as in etcd: a new leader calls `promote`, which gives every lease its remaining TTL again; only the
//! leader acts on `expired`. Hashes leave expiries out; snapshots keep them so a restore is exact.

use crate::error::Error;
use crate::keyspace::Key;
use crate::lease_requests::MAX_LEASE_TTL_SECONDS;
use std::collections::{BTreeMap, BTreeSet};

const MILLISECONDS_PER_SECOND: i64 = 1000;

/// Above this many leases, `promote` spreads expiries so that at most `PROMOTE_EXPIRIES_PER_SECOND`
/// leases expire in any second (etcd's `leaseRevokeRate` and 3/4 of it).
const PROMOTE_SPREAD_THRESHOLD: usize = 1000;
const PROMOTE_EXPIRIES_PER_SECOND: i64 = 750;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lease {
    pub(crate) ttl_seconds: i64,
    /// A checkpointed remaining TTL (0: none, use the full TTL).
    pub(crate) remaining_ttl_seconds: i64,
    /// Leader's-clock milliseconds; `None` is etcd's "forever" (a demoted lessor).
    pub(crate) expiry_ms: Option<i64>,
    pub(crate) keys: BTreeSet<Key>,
}

impl Lease {
    /// The TTL a refresh gives: the checkpointed remainder if any, else the full TTL.
    fn refresh_ttl_seconds(&self) -> i64 {
        if self.remaining_ttl_seconds > 0 { self.remaining_ttl_seconds } else { self.ttl_seconds }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lessor {
    pub(crate) leases: BTreeMap<i64, Lease>,
    /// (expiry, ID) of every lease with an expiry: the expiry order `expired` and `leases` walk.
    by_expiry: BTreeSet<(i64, i64)>,
    min_ttl_seconds: i64,
}

impl Lessor {
    pub(crate) fn new(min_ttl_seconds: i64) -> Lessor {
        Lessor { leases: BTreeMap::new(), by_expiry: BTreeSet::new(), min_ttl_seconds }
    }

    pub(crate) fn exists(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    /// Grants lease `id` for `ttl_seconds` (raised to the minimum TTL), expiring that long after
    /// `now_ms`. Returns the TTL granted.
    pub(crate) fn grant(&mut self, id: i64, ttl_seconds: i64, now_ms: i64) -> Result<i64, Error> {
        if id == 0 {
            return Err(Error::LeaseNotFound);
        }
        if ttl_seconds > MAX_LEASE_TTL_SECONDS {
            return Err(Error::LeaseTtlTooLarge);
        }
        if self.exists(id) {
            return Err(Error::LeaseExists);
        }
        let ttl_seconds = ttl_seconds.max(self.min_ttl_seconds);
        let lease = Lease { ttl_seconds, remaining_ttl_seconds: 0, expiry_ms: None, keys: BTreeSet::new() };
        self.leases.insert(id, lease);
        self.refresh(id, now_ms, 0);
        Ok(ttl_seconds)
    }

    /// Inserts a lease as a snapshot holds it (keys are attached afterwards).
    pub(crate) fn insert_restored(
        &mut self,
        id: i64,
        ttl_seconds: i64,
        remaining_ttl_seconds: i64,
        expiry_ms: Option<i64>,
    ) {
        let lease = Lease { ttl_seconds, remaining_ttl_seconds, expiry_ms, keys: BTreeSet::new() };
        assert!(self.leases.insert(id, lease).is_none(), "lease {id} restored twice");
        if let Some(expiry_ms) = expiry_ms {
            self.by_expiry.insert((expiry_ms, id));
        }
    }

    pub(crate) fn attach(&mut self, id: i64, key: Key) {
        let lease = self.leases.get_mut(&id).expect("keys attach only to existing leases");
        lease.keys.insert(key);
    }

    pub(crate) fn detach(&mut self, id: i64, key: &Key) {
        let lease = self.leases.get_mut(&id).expect("a key's lease exists while the key does");
        let was_attached = lease.keys.remove(key);
        assert!(was_attached, "key was not attached to lease {id}");
    }

    /// The keys attached to `id`, in byte order.
    pub(crate) fn keys(&self, id: i64) -> Vec<Key> {
        self.leases.get(&id).map(|lease| lease.keys.iter().cloned().collect()).unwrap_or_default()
    }

    /// Forgets a lease whose keys are gone.
    pub(crate) fn remove(&mut self, id: i64) {
        let lease = self.leases.remove(&id).expect("only existing leases are removed");
        assert!(lease.keys.is_empty(), "lease {id} removed with keys attached");
        if let Some(expiry_ms) = lease.expiry_ms {
            self.by_expiry.remove(&(expiry_ms, id));
        }
    }

    /// Sets the expiry of `id` to `now_ms + extend_ms + its refresh TTL`.
    fn refresh(&mut self, id: i64, now_ms: i64, extend_ms: i64) {
        let lease = self.leases.get_mut(&id).expect("only existing leases are refreshed");
        let ttl_ms = lease.refresh_ttl_seconds().saturating_mul(MILLISECONDS_PER_SECOND);
        let expiry_ms = now_ms.saturating_add(extend_ms).saturating_add(ttl_ms);
        if let Some(old) = lease.expiry_ms.replace(expiry_ms) {
            self.by_expiry.remove(&(old, id));
        }
        self.by_expiry.insert((expiry_ms, id));
    }

    /// Keep-alive: the lease gets its full TTL from `now_ms` again (a checkpointed remainder is
    /// dropped), whether or not its expiry has passed: every member applies the same keep-alive alike,
    /// whatever its clock, and a lease is gone only once its revoke is applied. Returns the TTL.
    pub(crate) fn renew(&mut self, id: i64, now_ms: i64) -> Result<i64, Error> {
        let lease = self.leases.get_mut(&id).ok_or(Error::LeaseNotFound)?;
        lease.remaining_ttl_seconds = 0;
        let ttl_seconds = lease.ttl_seconds;
        self.refresh(id, now_ms, 0);
        Ok(ttl_seconds)
    }

    /// Records a checkpointed remaining TTL; unknown leases are ignored (etcd's rule).
    pub(crate) fn checkpoint(&mut self, id: i64, remaining_ttl_seconds: i64) {
        if let Some(lease) = self.leases.get_mut(&id) {
            lease.remaining_ttl_seconds = remaining_ttl_seconds;
        }
    }

    /// Remaining whole seconds of `id` at `now_ms`, truncated toward zero like Go's
    /// `int64(duration.Seconds())`; a lease without expiry reports Go's largest duration.
    pub(crate) fn remaining_seconds(&self, id: i64, now_ms: i64) -> Option<i64> {
        let lease = self.leases.get(&id)?;
        Some(match lease.expiry_ms {
            Some(expiry_ms) => expiry_ms.saturating_sub(now_ms) / MILLISECONDS_PER_SECOND,
            None => i64::MAX / 1_000_000_000,
        })
    }

    /// Lease IDs, soonest expiry first, ties and leases without expiry by ID.
    pub(crate) fn ids_by_expiry(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.by_expiry.iter().map(|(_, id)| *id).collect();
        ids.extend(self.leases.iter().filter(|(_, lease)| lease.expiry_ms.is_none()).map(|(id, _)| *id));
        ids
    }

    /// Up to `limit` leases whose expiry is at or before `now_ms`, soonest first.
    pub(crate) fn expired(&self, now_ms: i64, limit: usize) -> Vec<i64> {
        self.by_expiry
            .iter()
            .take_while(|(expiry_ms, _)| *expiry_ms <= now_ms)
            .take(limit)
            .map(|(_, id)| *id)
            .collect()
    }

    /// A new leader's refresh (etcd's `Promote(extend)`): every lease expires `extend_ms` plus its
    /// refresh TTL after `now_ms`; with 1000 leases or more, expiries are spread so that no second
    /// sees more than 750 of them.
    pub(crate) fn promote(&mut self, now_ms: i64, extend_ms: i64) {
        let ids: Vec<i64> = self.leases.keys().copied().collect();
        for id in &ids {
            self.refresh(*id, now_ms, extend_ms);
        }
        if ids.len() >= PROMOTE_SPREAD_THRESHOLD {
            self.spread_expiries(now_ms, extend_ms);
        }
    }

    /// etcd's rate limit after a promotion: walking leases by expiry, a window opens at the first
    /// lease of each one-second stretch; once a window holds its quota, each further lease is pushed
    /// back by its share of a second.
    fn spread_expiries(&mut self, now_ms: i64, extend_ms: i64) {
        let by_expiry: Vec<(i64, i64)> = self.by_expiry.iter().copied().collect();
        let Some(&(first_expiry_ms, _)) = by_expiry.first() else { return };
        let mut window_start_ms = first_expiry_ms - now_ms;
        let mut next_window_ms = window_start_ms + MILLISECONDS_PER_SECOND;
        let mut expiries: i64 = 0;
        for (expiry_ms, id) in by_expiry {
            let remaining_ms = expiry_ms - now_ms;
            if remaining_ms > next_window_ms {
                window_start_ms = remaining_ms;
                next_window_ms = window_start_ms + MILLISECONDS_PER_SECOND;
                expiries = 1;
                continue;
            }
            expiries += 1;
            if expiries <= PROMOTE_EXPIRIES_PER_SECOND {
                continue;
            }
            let delay_ms = MILLISECONDS_PER_SECOND * expiries / PROMOTE_EXPIRIES_PER_SECOND
                - (remaining_ms - window_start_ms);
            next_window_ms = window_start_ms + delay_ms;
            self.refresh(id, now_ms, delay_ms + extend_ms);
        }
    }

    /// etcd's `Demote`: no lease expires any more (a member that stopped leading).
    pub(crate) fn demote(&mut self) {
        self.by_expiry.clear();
        for lease in self.leases.values_mut() {
            lease.expiry_ms = None;
        }
    }

    /// Checks that the expiry order matches the leases.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let with_expiry = self.leases.values().filter(|lease| lease.expiry_ms.is_some()).count();
        if with_expiry != self.by_expiry.len() {
            return Err(format!("{with_expiry} leases expire, {} in the expiry order", self.by_expiry.len()));
        }
        for (expiry_ms, id) in &self.by_expiry {
            if self.leases.get(id).and_then(|lease| lease.expiry_ms) != Some(*expiry_ms) {
                return Err(format!("lease {id} out of the expiry order"));
            }
        }
        Ok(())
    }
}
