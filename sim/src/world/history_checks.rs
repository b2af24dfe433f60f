//! The checks of what the clients saw, once the run is over: TTL expiries added to the history,
//! then linearizability, plain gets, watches, watchers left registered on members, and the v3
//! checks (lease ends added to the history, the per-key model, revision order, ranges at older
//! revisions, watch streams).

use std::collections::BTreeSet;

use super::liveness::CATCH_UP_MARGIN_NS;

/// After the cluster settled, proposals still in flight (a keep-alive among them) are applied within
/// this.
const LEASE_SETTLE_MARGIN_NS: Time = 2 * SECOND;
/// The leader proposes an expired lease's revoke again after this (the node's 30 ticks), plus a tick.
const LEASE_REVOKE_RETRY_NS: Time = 31 * TICK_INTERVAL_NS;
use super::{Check, Failure, RunReport, World};
use crate::history::{NEVER, Operation, OperationKind, OperationResult, Time, V3_KEY_BASE};
use crate::linearizability::{self, DEFAULT_STEP_BUDGET, Verdict};
use crate::plan::{Fault, SECOND, TICK_INTERVAL_NS};
use crate::{v3_checks, v3_model};

impl World<'_> {
    /// Checks the history in order (linearizability with the TTL expiries, plain gets, watches, then
    /// watchers left on members), counting in `report` what was checked, up to the first failure.
    pub(super) fn check_what_clients_saw(&self, report: &mut RunReport) -> Result<(), Failure> {
        let mut checked = self.history.clone();
        checked.extend(self.expirations());
        if self.linearizable_reads {
            // `--linearizable-reads` promises plain gets what it promises quorum gets.
            for operation in &mut checked {
                if operation.kind == (OperationKind::Get { quorum: false }) {
                    operation.kind = OperationKind::Get { quorum: true };
                }
            }
        }
        let (verdict, statistics) = linearizability::check_history(&checked, DEFAULT_STEP_BUDGET);
        report.operations_checked = statistics.operations_checked;
        match verdict {
            Verdict::Linearizable => {}
            Verdict::Unknown { key } => report.unknown_key = Some(key),
            Verdict::Violation { key, detail } => {
                return Err(self.fail(
                    Check::Linearizability,
                    format!("history of key k{key} is not linearizable:\n{detail}"),
                ));
            }
        }
        let plain_gets = linearizability::check_plain_gets(&self.history)
            .map_err(|detail| self.fail(Check::PlainGet, detail))?;
        report.operations_checked += plain_gets;
        let watch_answers = linearizability::check_watches(&self.history)
            .map_err(|detail| self.fail(Check::Watch, detail))?;
        report.operations_checked += watch_answers;
        report.watch_events = watch_answers;
        self.check_watcher_leaks()?;
        self.check_v3(report)
    }

    /// The v3 checks: the per-key model with the leases' ends, the revision order, ranges at older
    /// revisions, and watch streams.
    fn check_v3(&self, report: &mut RunReport) -> Result<(), Failure> {
        if !self.v3_enabled {
            return Ok(());
        }
        let mut checked = self.history.clone();
        checked.extend(self.lease_ends());
        let (verdict, statistics) = v3_model::check_v3_history(&checked, DEFAULT_STEP_BUDGET);
        report.operations_checked += statistics.operations_checked;
        report.v3_operations_checked = statistics.operations_checked;
        match verdict {
            Verdict::Linearizable => {}
            Verdict::Unknown { key } => report.unknown_key = report.unknown_key.or(Some(key)),
            Verdict::Violation { key, detail } => {
                return Err(self.fail(
                    Check::V3Linearizability,
                    format!("history of v3 key k{} is not linearizable:\n{detail}", key - V3_KEY_BASE),
                ));
            }
        }
        let streams = &self.v3_streams;
        report.operations_checked += v3_checks::check_revision_order(&self.history, streams)
            .map_err(|detail| self.fail(Check::V3Revisions, detail))?;
        report.operations_checked += v3_checks::check_past_ranges(&self.history, streams)
            .map_err(|detail| self.fail(Check::V3PastRange, detail))?;
        let events = v3_checks::check_watch_streams(&self.history, streams)
            .map_err(|detail| self.fail(Check::V3Watch, detail))?;
        let (open, caught_up_revision) = self.streams_owed_the_end();
        report.operations_checked +=
            v3_checks::check_streams_caught_up(&self.history, streams, &open, caught_up_revision)
                .map_err(|detail| self.fail(Check::V3Watch, detail))?;
        report.operations_checked += events;
        report.v3_watch_events = events;
        Ok(())
    }

    /// The v3 streams still open at the end on the incarnation of the member they were opened on, and
    /// the highest revision acknowledged before the catch-up mark (every live member applied it, or the
    /// liveness check failed first).
    fn streams_owed_the_end(&self) -> (Vec<usize>, u64) {
        let mark = self.deadline - CATCH_UP_MARGIN_NS;
        let caught_up_revision = self
            .history
            .iter()
            .filter(|operation| operation.returned_at != NEVER && operation.returned_at <= mark)
            .filter_map(|operation| match operation.result {
                OperationResult::V3Written { revision } => Some(revision),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let open = (0..self.v3_streams.len())
            .filter(|&stream| {
                let record = &self.v3_streams[stream];
                let member = &self.members[&record.node];
                !record.over
                    && member.node.is_some()
                    && member.incarnation == self.v3_stream_incarnations[stream]
            })
            .collect();
        (open, caught_up_revision)
    }

    /// The end of every granted lease as it acts on each key a put attached to it, as
    /// pseudo-operations for the v3 model. Lease safety sets the earliest instant: the lease ends no
    /// sooner than a revoke was asked, or than its TTL after the grant or the last keep-alive the
    /// leader acknowledged (the leader refreshes the lease when it applies the keep-alive, and a new
    /// leader gives every lease its full TTL again), less how far the clocks can disagree. It may
    /// come any time later, or never. A follower's acknowledgement only says the lease existed when
    /// it applied the keep-alive: the leader may have found it expired then (see the sim README).
    fn lease_ends(&self) -> Vec<Operation> {
        let mut ends = Vec::new();
        for grant in &self.history {
            let OperationResult::V3LeaseGranted { lease, ttl_seconds } = grant.result else { continue };
            let (earliest, latest) = self.lease_end_window(grant, lease, ttl_seconds.max(0) as u64 * SECOND);
            let keys: BTreeSet<u32> = self
                .history
                .iter()
                .filter(|put| matches!(put.kind, OperationKind::V3Put { lease: id, .. } if id == lease))
                .map(|put| put.key)
                .collect();
            ends.extend(keys.into_iter().map(|key| Operation {
                client: u32::MAX,
                node: 0,
                key,
                kind: OperationKind::V3LeaseEnd { lease },
                invoked_at: earliest,
                returned_at: latest,
                result: OperationResult::Ambiguous,
            }));
        }
        ends
    }

    /// When the end of `lease` (granted by `grant` with `ttl_ns`) may come. Earliest: a revoke was
    /// asked, or the TTL passed since the grant or the last keep-alive any member acknowledged (every
    /// member answers a keep-alive alike, and the leader's expiry yields to it), less the clocks'
    /// disagreement. Latest (the leader expires leases through the log): an acknowledged
    /// revoke's return; or, once the cluster settled, the TTL after the last keep-alive anyone may
    /// have applied (or after the settling, which may bring a new leader that gives it its full TTL
    /// and an election timeout again), plus the clocks' disagreement and the revoke's retry interval.
    /// `NEVER` past the deadline.
    fn lease_end_window(&self, grant: &Operation, lease: i64, ttl_ns: Time) -> (Time, Time) {
        let slack_ns = self.clock_disagreement_bound();
        let of_lease = |operation: &&Operation| match operation.kind {
            OperationKind::V3LeaseKeepAlive { lease: id } | OperationKind::V3LeaseRevoke { lease: id } => {
                id == lease
            }
            _ => false,
        };
        let keep_alives = || {
            self.history
                .iter()
                .filter(of_lease)
                .filter(|operation| matches!(operation.kind, OperationKind::V3LeaseKeepAlive { .. }))
        };
        let revokes = || {
            self.history
                .iter()
                .filter(of_lease)
                .filter(|operation| matches!(operation.kind, OperationKind::V3LeaseRevoke { .. }))
                .filter(|operation| operation.result != OperationResult::Failed)
        };
        let last_refresh = keep_alives()
            .filter(|operation| matches!(operation.result, OperationResult::V3LeaseKept { .. }))
            .map(|operation| operation.invoked_at)
            .fold(grant.invoked_at, Time::max);
        let expiry = (last_refresh + ttl_ns).saturating_sub(slack_ns);
        let earliest =
            revokes().map(|revoke| revoke.invoked_at).fold(expiry, Time::min).max(grant.invoked_at);
        let last_attempt = keep_alives()
            .filter(|operation| operation.result != OperationResult::Failed)
            .map(|operation| operation.invoked_at)
            .fold(grant.invoked_at, Time::max);
        let election_timeout_ns = u64::from(self.plan.election_ticks) * TICK_INTERVAL_NS;
        let expired_by = last_attempt.max(self.settled_at() + LEASE_SETTLE_MARGIN_NS)
            + ttl_ns
            + election_timeout_ns
            + slack_ns
            + LEASE_REVOKE_RETRY_NS;
        let revoked_by = revokes().map(|revoke| revoke.returned_at).fold(NEVER, Time::min);
        let latest = expired_by.min(revoked_by);
        let latest = if latest >= self.deadline { NEVER } else { latest };
        assert!(latest >= earliest, "a lease's end window is not empty");
        (earliest, latest)
    }

    /// The expiry of every value a TTL'd set wrote, as pseudo-operations for the linearizability
    /// check. The leader expires a key once its own clock passes the write's stamp (the clock of the
    /// member that took the write, read when it was invoked) plus the TTL, so in virtual time the
    /// expiry lies within the TTL plus or minus how far two members' clocks can disagree: initial
    /// skews, every jump, drift over the run, and the offsets of members added later. It may never
    /// come while faults keep a leader from proposing its time; once the cluster has settled it must
    /// come within that bound (plus a sync interval and delivery).
    fn expirations(&self) -> Vec<Operation> {
        let slack_ns = self.clock_disagreement_bound();
        let settled = self.settled_at();
        self.history
            .iter()
            .filter_map(|write| {
                let OperationKind::SetTtl { value, ttl_seconds } = write.kind else { return None };
                let ttl_ns = ttl_seconds * SECOND;
                let earliest = (write.invoked_at + ttl_ns).saturating_sub(slack_ns).max(write.invoked_at);
                let latest = if write.returned_at == NEVER {
                    NEVER
                } else {
                    (write.returned_at + ttl_ns).max(settled) + slack_ns
                };
                Some(Operation {
                    client: u32::MAX,
                    node: 0,
                    key: write.key,
                    kind: OperationKind::Expire { value },
                    invoked_at: earliest,
                    returned_at: latest,
                    result: OperationResult::Ambiguous,
                })
            })
            .collect()
    }

    /// How far two members' clocks can disagree over the run: the spread of the initial skews (more
    /// with members added later), every jump, drift both ways, and a second for sync and delivery.
    fn clock_disagreement_bound(&self) -> Time {
        let skews = &self.plan.skew_ns;
        let skew_spread_ns = (skews.iter().max().copied().unwrap_or(0)
            - skews.iter().min().copied().unwrap_or(0))
        .unsigned_abs()
            + if self.members.len() > self.plan.nodes { 4 * SECOND } else { 0 };
        let jumps_ns: u64 = self
            .plan
            .faults
            .iter()
            .filter_map(|fault| match fault.fault {
                Fault::ClockJump { delta_ns, .. } => Some(delta_ns.unsigned_abs()),
                _ => None,
            })
            .sum();
        let max_drift_ppm =
            self.members.values().map(|member| member.clock.drift_ppm.unsigned_abs()).max().unwrap_or(0);
        let drift_ns = 2 * max_drift_ppm * (self.deadline / 1_000_000);
        skew_spread_ns + jumps_ns + drift_ns + SECOND
    }

    /// At the end, a live member keeps no more watchers registered than clients still wait on it:
    /// one-shot watchers go with their event, given-up ones with the client's cancel, and a store
    /// replaced by a snapshot takes its watchers along.
    fn check_watcher_leaks(&self) -> Result<(), Failure> {
        for (id, member) in &self.members {
            let Some(node) = member.node.as_ref() else { continue };
            let waiting = self
                .clients
                .iter()
                .filter_map(|client| client.watch)
                .filter(|&(_, operation_index)| {
                    let operation = &self.history[operation_index];
                    operation.node == *id && matches!(operation.kind, OperationKind::Watch { .. })
                })
                .count() as u64;
            let registered = node.watchers();
            if registered > waiting {
                return Err(self.fail(
                    Check::Watch,
                    format!(
                        "node {id} still has {registered} watchers registered at the end while clients \
                         wait on {waiting} watches there (a cancelled or answered watch leaked)"
                    ),
                ));
            }
        }
        Ok(())
    }
}
