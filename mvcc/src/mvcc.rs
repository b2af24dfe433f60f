//! `Mvcc`, the v3 keyspace as one state machine: KV requests, compaction and leases, each a method
//! mirroring etcd's applier (`etcdserver/apply.go`), plus the lease calls etcd makes outside the log.

use crate::error::Error;
use crate::key_value::Event;
use crate::keyspace::Keyspace;
use crate::lease_requests::{
    LeaseCheckpoint, LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveResponse, LeaseLeasesResponse,
    LeaseRevokeRequest, LeaseRevokeResponse, LeaseTimeToLiveResponse,
};
use crate::lessor::Lessor;
use crate::range;
use crate::requests::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse,
    RangeRequest, RangeResponse, ResponseHeader, TxnRequest, TxnResponse,
};
use crate::txn;
use crate::validate::{validate_delete_range, validate_put, validate_range, validate_txn_structure};
use crate::write::WriteTxn;

/// What members must agree on before they apply a log (it changes answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Leases granted a shorter TTL get this one (seconds). etcd derives it from the election timeout:
    /// `ceil(1.5 × election timeout)`, 2 with the default 1 s.
    pub min_lease_ttl_seconds: i64,
}

impl Default for Config {
    fn default() -> Config {
        Config { min_lease_ttl_seconds: 2 }
    }
}

/// Sizes, for monitoring and the memory figures of the README.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Keys in the index (live, or deleted with history retained).
    pub keys: usize,
    /// Keys that exist now.
    pub live_keys: usize,
    /// Retained revisions (records), tombstones included.
    pub revisions: usize,
    pub leases: usize,
}

/// The etcd v3 keyspace. See the crate documentation for the contract. Two values are equal when
/// their states are (the events waiting in `take_events` do not count).
#[derive(Clone, Debug)]
pub struct Mvcc {
    pub(crate) keyspace: Keyspace,
    pub(crate) lessor: Lessor,
    pub(crate) events: Vec<Event>,
    pub(crate) config: Config,
}

impl PartialEq for Mvcc {
    fn eq(&self, other: &Mvcc) -> bool {
        self.keyspace == other.keyspace && self.lessor == other.lessor && self.config == other.config
    }
}

impl Eq for Mvcc {}

impl Mvcc {
    pub fn new(config: Config) -> Mvcc {
        Mvcc {
            keyspace: Keyspace::new(),
            lessor: Lessor::new(config.min_lease_ttl_seconds),
            events: Vec::new(),
            config,
        }
    }

    pub fn config(&self) -> Config {
        self.config
    }

    /// The newest revision (1 before the first write).
    pub fn current_revision(&self) -> i64 {
        self.keyspace.current_revision
    }

    /// The revision of the last compaction (-1 when never compacted, like etcd).
    pub fn compacted_revision(&self) -> i64 {
        self.keyspace.compacted_revision
    }

    /// Retained revisions (records), tombstones included: O(1), unlike `stats`.
    pub fn retained_revisions(&self) -> usize {
        self.keyspace.records.len()
    }

    /// Bytes of the keys and values of every retained revision (tombstones count their key).
    pub fn retained_data_bytes(&self) -> u64 {
        self.keyspace.records.data_bytes()
    }

    pub fn stats(&self) -> Stats {
        Stats {
            keys: self.keyspace.index.len(),
            live_keys: self.keyspace.index.values().filter(|index| index.is_live()).count(),
            revisions: self.keyspace.records.len(),
            leases: self.lessor.leases.len(),
        }
    }

    fn header(&self) -> ResponseHeader {
        ResponseHeader { revision: self.keyspace.current_revision }
    }

    /// Starts a write command: the events of the previous one are dropped.
    fn write(&mut self) -> WriteTxn<'_> {
        self.events.clear();
        WriteTxn::new(&mut self.keyspace, &mut self.lessor, &mut self.events)
    }

    /// A read at the current revision (or the one asked for). Changes nothing.
    pub fn range(&self, request: &RangeRequest) -> Result<RangeResponse, Error> {
        validate_range(request)?;
        range::range(&self.keyspace, request, self.keyspace.current_revision)
    }

    /// A put: always a new revision. The lease must exist.
    pub fn put(&mut self, request: &PutRequest) -> Result<PutResponse, Error> {
        self.events.clear();
        validate_put(request)?;
        if request.lease != 0 && !self.lessor.exists(request.lease) {
            return Err(Error::LeaseNotFound);
        }
        let mut write = self.write();
        let response = write.put(request);
        write.finish();
        response
    }

    /// A delete of a key or range: a new revision only if a key was deleted.
    pub fn delete_range(&mut self, request: &DeleteRangeRequest) -> Result<DeleteRangeResponse, Error> {
        self.events.clear();
        validate_delete_range(request)?;
        let mut write = self.write();
        let response = write.delete_range(request);
        write.finish();
        Ok(response)
    }

    /// A txn: one revision for all its writes (none if it writes nothing).
    pub fn txn(&mut self, request: &TxnRequest) -> Result<TxnResponse, Error> {
        self.events.clear();
        validate_txn_structure(request)?;
        let mut write = self.write();
        let response = txn::txn(&mut write, request);
        write.finish();
        response
    }

    /// Compacts history at `request.revision` (see `Keyspace::compact`). The header has the current
    /// revision.
    pub fn compact(&mut self, request: &CompactionRequest) -> Result<CompactionResponse, Error> {
        self.events.clear();
        self.keyspace.compact(request.revision)?;
        Ok(CompactionResponse { header: self.header() })
    }

    /// Grants a lease, expiring `ttl` seconds after `now_ms` (the leader's clock when it proposed the
    /// grant, carried in the command so every member computes the same expiry).
    pub fn lease_grant(
        &mut self,
        request: &LeaseGrantRequest,
        now_ms: i64,
    ) -> Result<LeaseGrantResponse, Error> {
        self.events.clear();
        let ttl = self.lessor.grant(request.id, request.ttl, now_ms)?;
        Ok(LeaseGrantResponse { header: self.header(), id: request.id, ttl })
    }

    /// Revokes a lease: its keys are deleted in one revision (in key order), then the lease goes.
    pub fn lease_revoke(&mut self, request: &LeaseRevokeRequest) -> Result<LeaseRevokeResponse, Error> {
        self.events.clear();
        if !self.lessor.exists(request.id) {
            return Err(Error::LeaseNotFound);
        }
        let keys = self.lessor.keys(request.id);
        let mut write = self.write();
        for key in &keys {
            write.delete_range(&DeleteRangeRequest::key(key.to_vec()));
        }
        write.finish();
        self.lessor.remove(request.id);
        Ok(LeaseRevokeResponse { header: self.header() })
    }

    /// Records checkpointed remaining TTLs (etcd's `LeaseCheckpoint` command); unknown leases are skipped.
    pub fn lease_checkpoint(&mut self, checkpoints: &[LeaseCheckpoint]) -> ResponseHeader {
        self.events.clear();
        for checkpoint in checkpoints {
            self.lessor.checkpoint(checkpoint.id, checkpoint.remaining_ttl);
        }
        self.header()
    }

    /// Keep-alive (leader only in etcd, outside the log): the lease expires its full TTL after `now_ms`.
    pub fn lease_renew(&mut self, id: i64, now_ms: i64) -> Result<LeaseKeepAliveResponse, Error> {
        let ttl = self.lessor.renew(id, now_ms)?;
        Ok(LeaseKeepAliveResponse { header: self.header(), id, ttl })
    }

    /// The lease's remaining seconds at `now_ms`, granted TTL and (if `keys`) attached keys. etcd's
    /// gRPC layer answers an unknown lease with TTL -1 rather than this `LeaseNotFound`.
    pub fn lease_time_to_live(
        &self,
        id: i64,
        keys: bool,
        now_ms: i64,
    ) -> Result<LeaseTimeToLiveResponse, Error> {
        let ttl = self.lessor.remaining_seconds(id, now_ms).ok_or(Error::LeaseNotFound)?;
        let lease = &self.lessor.leases[&id];
        let keys = if keys { lease.keys.iter().map(|key| key.to_vec()).collect() } else { Vec::new() };
        Ok(LeaseTimeToLiveResponse { header: self.header(), id, ttl, granted_ttl: lease.ttl_seconds, keys })
    }

    /// How many leases exist.
    pub fn lease_count(&self) -> usize {
        self.lessor.leases.len()
    }

    /// Every lease, soonest expiry first.
    pub fn lease_leases(&self) -> LeaseLeasesResponse {
        LeaseLeasesResponse { header: self.header(), leases: self.lessor.ids_by_expiry() }
    }

    /// Up to `limit` leases whose expiry is at or before `now_ms`, soonest first: the leader proposes
    /// their revokes (etcd revokes at most 500 per half second, and asks again after 3 s for a lease
    /// whose revoke did not happen: the node's business).
    pub fn expired_leases(&self, now_ms: i64, limit: usize) -> Vec<i64> {
        self.lessor.expired(now_ms, limit)
    }

    /// On becoming leader (etcd's `Promote`): every lease gets at least its full TTL (or checkpointed
    /// remainder) again, counted from `now_ms + extend_ms` (etcd extends by the election timeout).
    pub fn promote(&mut self, now_ms: i64, extend_ms: i64) {
        self.lessor.promote(now_ms, extend_ms);
    }

    /// On losing leadership (etcd's `Demote`): leases stop expiring until the next `promote`.
    pub fn demote(&mut self) {
        self.lessor.demote();
    }

    /// Checks every invariant of the keyspace, the index and the leases (O(everything), for tests).
    pub fn check_invariants(&self) -> Result<(), String> {
        self.keyspace.check_invariants()?;
        self.lessor.check_invariants()?;
        self.check_lease_attachments()
    }

    /// Every live key with a lease is attached to it, and every attached key is live with that lease.
    fn check_lease_attachments(&self) -> Result<(), String> {
        let mut attached = 0;
        for (key, index) in &self.keyspace.index {
            let lease = self.keyspace.current_lease(key);
            if index.is_live() && lease != 0 {
                let lease_keys =
                    &self.lessor.leases.get(&lease).ok_or(format!("lease {lease} missing"))?.keys;
                if !lease_keys.contains(key) {
                    return Err(format!("key {key:?} not attached to its lease {lease}"));
                }
                attached += 1;
            }
        }
        let total: usize = self.lessor.leases.values().map(|lease| lease.keys.len()).sum();
        if total != attached {
            return Err(format!("{total} keys attached to leases, {attached} live keys have a lease"));
        }
        Ok(())
    }
}
