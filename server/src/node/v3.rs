//! The v3 keyspace inside the node: taking v3 requests (validated before proposing, as etcd's gRPC
//! layer does), applying committed v3 commands, serving v3 reads (linearizable through ReadIndex unless
//! serializable), and the leases' clock rules.
//!
//! Lease rules (etcd's): a grant carries the proposing member's clock; only the leader decides that a
//! lease expired, by its own clock, and revokes it through the log; a member that becomes leader first
//! gives every lease its full TTL again (`Mvcc::promote`), so no lease expires because of a failover;
//! followers' leases never expire (`Mvcc::demote`).
//!
//! Keep-alives go through the log (etcd sends them to the leader outside it), so any member may answer
//! one, and every member must answer it alike: each applies it as a renewal, whatever its clock, and
//! records the entry's index (`lease_renewed_at`). The leader's expiry is a `LeaseExpire` carrying the
//! index it had applied when it decided; a keep-alive applied after that index and before the expiry
//! was not seen by the decision, was answered with the full TTL everywhere, and so wins: the expiry is
//! dropped. Without it a follower could acknowledge a keep-alive for a lease the leader revokes next.

use mvcc::{Command, LeaseGrantRequest, LeaseRevokeRequest, RangeRequest, Response};
use raft::Role;

use super::entry::Operation;
use super::requests::Waiting;
use super::v3_auth::AuthBug;
use super::{Node, Reply, RequestError, V3Reply, V3Request};

/// Leases the leader revokes per tick at most (etcd: 500 per half second).
const MAX_LEASE_REVOKES_PER_TICK: usize = 250;
/// Ticks before the leader proposes the revoke of an expired lease again (etcd waits 3 s).
const LEASE_REVOKE_RETRY_TICKS: u64 = 30;
/// Nanoseconds per millisecond: the node's clock is in Unix nanoseconds, lease times in milliseconds.
const NANOSECONDS_PER_MILLISECOND: i64 = 1_000_000;

impl Node {
    /// A v3 request: reads and hashes are served here (after a ReadIndex round for linearizable
    /// reads); everything else is validated, then proposed.
    pub(super) fn submit_v3(&mut self, request_id: u64, request: V3Request) {
        let (user, request) = match self.v3_caller(request) {
            Ok(found) => found,
            Err(error) => return self.answer(request_id, Err(error)),
        };
        if self.refuse_over_quota(request_id, &request) {
            return;
        }
        let command = match request {
            V3Request::Range(range) => return self.submit_v3_range(request_id, range, user),
            V3Request::LeaseTimeToLive { id, keys } => {
                let result = self.mvcc.lease_time_to_live(id, keys, self.now_ms());
                return self.answer_v3(request_id, result.map(V3Reply::LeaseTimeToLive));
            }
            V3Request::LeaseLeases => {
                return self.answer_v3(request_id, Ok(V3Reply::LeaseLeases(self.mvcc.lease_leases())));
            }
            V3Request::HashKv { revision } => {
                return self.answer_v3(request_id, self.mvcc.hash_kv(revision).map(V3Reply::HashKv));
            }
            V3Request::Hash => return self.answer_v3(request_id, Ok(V3Reply::Hash(self.mvcc.hash()))),
            V3Request::Snapshot => return self.answer_v3(request_id, Ok(V3Reply::Snapshot(self.v3_image()))),
            V3Request::Alarm { action, member_id, alarm } => {
                return self.submit_alarm(request_id, action, member_id, alarm);
            }
            V3Request::Auth(auth) => return self.submit_v3_auth(request_id, user, auth),
            V3Request::Authorized { .. } => unreachable!("the caller was taken out"),
            V3Request::LeaseKeepAlive { id } => {
                return self.submit_proposal(request_id, Operation::LeaseRenew { id });
            }
            V3Request::Put(put) => mvcc::validate_put(&put).map(|()| Command::Put(put)),
            V3Request::DeleteRange(delete) => {
                mvcc::validate_delete_range(&delete).map(|()| Command::DeleteRange(delete))
            }
            V3Request::Txn(txn) => {
                mvcc::validate_txn(&txn, self.config.max_txn_ops).map(|()| Command::Txn(txn))
            }
            V3Request::Compact(compact) => Ok(Command::Compaction(compact)),
            V3Request::LeaseGrant { ttl_seconds, id } => Ok(self.lease_grant_command(ttl_seconds, id)),
            V3Request::LeaseRevoke { id } => Ok(Command::LeaseRevoke(LeaseRevokeRequest { id })),
        };
        match command.map_err(RequestError::V3).and_then(|command| self.v3_write_operation(user, command)) {
            Ok(operation) => self.submit_proposal(request_id, operation),
            Err(error) => self.answer(request_id, Err(error)),
        }
    }

    /// A grant carries the proposer's clock and a lease ID every member applies alike: the client's,
    /// or one derived from this member's identity and a fresh sequence number.
    fn lease_grant_command(&mut self, ttl_seconds: i64, id: i64) -> Command {
        let id = if id != 0 {
            id
        } else {
            let seq = self.next_sequence();
            let request_identity =
                self.config.id.rotate_left(32) ^ self.config.incarnation.rotate_left(16) ^ seq;
            mvcc::lease_id_from_request_id(request_identity).unwrap_or(1)
        };
        Command::LeaseGrant { request: LeaseGrantRequest { ttl: ttl_seconds, id }, now_ms: self.now_ms() }
    }

    /// A range: a serializable one is served now, a linearizable one once its read index is applied.
    /// Either is checked for `user`'s read permission when served (etcd's `doSerialize`), so a revoke
    /// committed before a linearizable read started is honoured even on a member that had not
    /// applied it yet when the read arrived.
    fn submit_v3_range(&mut self, request_id: u64, range: RangeRequest, user: Option<String>) {
        if let Err(error) = mvcc::validate_range(&range) {
            return self.answer(request_id, Err(RequestError::V3(error)));
        }
        if range.serializable {
            return self.serve_v3_range(request_id, &range, user.as_deref());
        }
        if self.auth_planted(AuthBug::CheckBeforeReadIndex) {
            if let Err(error) = self.check_v3_range(user.as_deref(), &range) {
                return self.answer(request_id, Err(error));
            }
            let root = Some(mvcc::ROOT.to_string());
            return self.join_read_round(request_id, Waiting::V3Range { range, user: root });
        }
        self.join_read_round(request_id, Waiting::V3Range { range, user });
    }

    /// Serves a v3 read (a linearizable one once its read index was applied) if `user` may read it.
    pub(super) fn serve_v3_range(&mut self, request_id: u64, range: &RangeRequest, user: Option<&str>) {
        if let Err(error) = self.check_v3_range(user, range) {
            return self.answer(request_id, Err(error));
        }
        let result = self.mvcc.range(range);
        self.answer_v3(request_id, result.map(V3Reply::Range));
    }

    fn answer_v3(&mut self, request_id: u64, result: Result<V3Reply, mvcc::Error>) {
        self.answer(request_id, result.map(Reply::V3).map_err(RequestError::V3));
    }

    /// Applies a committed v3 command, hands its events to the v3 watches, and returns the answer for
    /// the member that took the request.
    pub(super) fn apply_v3(&mut self, command: &Command) -> Result<Reply, RequestError> {
        if self.refused_for_space(command) {
            return Err(RequestError::V3(mvcc::Error::NoSpace));
        }
        let revision_before = self.mvcc.current_revision();
        let result = self.mvcc.apply(command);
        let events = self.mvcc.take_events();
        assert!(self.mvcc.current_revision() >= revision_before, "the v3 revision went back");
        assert!(
            events.is_empty() || self.mvcc.current_revision() == revision_before + 1,
            "one write, one revision"
        );
        if let Command::LeaseRevoke(revoke) = command {
            self.lease_revokes_proposed.remove(&revoke.id);
            self.lease_renewed_at.remove(&revoke.id);
        }
        self.notify_v3_watches(revision_before, events);
        let response = result.map_err(RequestError::V3)?;
        Ok(Reply::V3(v3_reply(response)))
    }

    /// A committed keep-alive: every member renews the lease (only the leader's expiry counts, from its
    /// clock now) and records the entry's index, so a pending expiry decided before it yields.
    pub(super) fn apply_lease_renew(&mut self, id: i64) -> Result<Reply, RequestError> {
        let now_ms = self.now_ms();
        let response = self.mvcc.lease_renew(id, now_ms).map_err(RequestError::V3)?;
        let index = self.last_applied_index;
        let previous = self.lease_renewed_at.insert(id, index);
        assert!(previous.is_none_or(|previous| previous < index), "keep-alives applied out of log order");
        assert!(self.lease_renewed_at.len() <= self.mvcc.lease_count(), "renewals of leases that are gone");
        Ok(Reply::V3(V3Reply::LeaseKeepAlive(response)))
    }

    /// A committed expiry: the lease is revoked unless a keep-alive was applied after the index the
    /// leader had applied when it found the lease expired.
    pub(super) fn apply_lease_expire(&mut self, id: i64, checked_index: u64) -> Result<Reply, RequestError> {
        assert!(checked_index < self.last_applied_index, "an expiry decided at or after its own entry");
        let renewed_since = self.lease_renewed_at.get(&id).is_some_and(|renewed| *renewed > checked_index);
        if renewed_since {
            self.lease_revokes_proposed.remove(&id);
            return Err(RequestError::V3(mvcc::Error::LeaseNotFound));
        }
        self.apply_v3(&Command::LeaseRevoke(LeaseRevokeRequest { id }))
    }

    /// On the leader's ticks: propose the revoke of every lease whose expiry passed by its clock, at
    /// most `MAX_LEASE_REVOKES_PER_TICK`, again after `LEASE_REVOKE_RETRY_TICKS` if it did not happen.
    pub(super) fn revoke_expired_leases(&mut self) {
        if self.raft.role() != Role::Leader {
            return;
        }
        let ticks = self.ticks;
        self.lease_revokes_proposed
            .retain(|_, proposed_tick| ticks < *proposed_tick + LEASE_REVOKE_RETRY_TICKS);
        for id in self.mvcc.expired_leases(self.now_ms(), MAX_LEASE_REVOKES_PER_TICK) {
            if self.lease_revokes_proposed.contains_key(&id) {
                continue;
            }
            let expire = Operation::LeaseExpire { id, checked_index: self.last_applied_index };
            if self.propose(expire).is_ok() {
                self.lease_revokes_proposed.insert(id, ticks);
            }
        }
        let most_pending = MAX_LEASE_REVOKES_PER_TICK * LEASE_REVOKE_RETRY_TICKS as usize;
        assert!(self.lease_revokes_proposed.len() <= most_pending, "lease revokes beyond their bound");
    }

    /// Leadership changed: a new leader gives every lease its full TTL again (counted from now plus an
    /// election timeout, etcd's extension); a member that stops leading stops expiring leases.
    pub(super) fn on_role_change_for_leases(&mut self, role: Role) {
        if role == Role::Leader {
            let election_timeout_ms = i64::from(self.config.election_ticks) * self.config.tick_ms as i64;
            self.mvcc.promote(self.now_ms(), election_timeout_ms);
        } else {
            self.mvcc.demote();
        }
        self.lease_revokes_proposed.clear();
    }

    pub(super) fn now_ms(&self) -> i64 {
        self.now / NANOSECONDS_PER_MILLISECOND
    }
}

/// The v3 keyspace's settings every member must share: etcd's minimum lease TTL is
/// ceil(1.5 × election timeout) in seconds.
pub(super) fn mvcc_config(config: &super::NodeConfig) -> mvcc::Config {
    let election_timeout_ms = u64::from(config.election_ticks) * config.tick_ms;
    let min_lease_ttl_seconds = (3 * election_timeout_ms).div_ceil(2 * 1000).max(1);
    mvcc::Config { min_lease_ttl_seconds: min_lease_ttl_seconds as i64 }
}

fn v3_reply(response: Response) -> V3Reply {
    match response {
        Response::Range(range) => V3Reply::Range(range),
        Response::Put(put) => V3Reply::Put(put),
        Response::DeleteRange(delete) => V3Reply::DeleteRange(delete),
        Response::Txn(txn) => V3Reply::Txn(txn),
        Response::Compaction(compaction) => V3Reply::Compact(compaction),
        Response::LeaseGrant(grant) => V3Reply::LeaseGrant(grant),
        Response::LeaseRevoke(revoke) => V3Reply::LeaseRevoke(revoke),
        Response::LeaseCheckpoint(header) => V3Reply::LeaseRevoke(mvcc::LeaseRevokeResponse { header }),
    }
}
