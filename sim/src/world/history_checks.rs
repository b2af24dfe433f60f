//! The checks of what the clients saw, once the run is over: TTL expiries added to the history,
//! then linearizability, plain gets, watches, and watchers left registered on members.

use super::{Check, Failure, RunReport, World};
use crate::history::{NEVER, Operation, OperationKind, OperationResult, Time};
use crate::linearizability::{self, DEFAULT_STEP_BUDGET, Verdict};
use crate::plan::{Fault, SECOND};

impl World<'_> {
    /// Checks the history in order (linearizability with the TTL expiries, plain gets, watches, then
    /// watchers left on members), counting in `report` what was checked, up to the first failure.
    pub(super) fn check_what_clients_saw(&self, report: &mut RunReport) -> Result<(), Failure> {
        let mut checked = self.history.clone();
        checked.extend(self.expirations());
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
        self.check_watcher_leaks()
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
