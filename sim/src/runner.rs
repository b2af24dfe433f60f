//! Running seeds: one, many in parallel (swarm), and shrinking a failing one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::node::NodeBackend;
use crate::backend::raft_kv::RaftKvBackend;
use crate::cluster::Backend;
use crate::plan::Plan;
use crate::world::{Check, RunReport, run_plan};

/// Which member implementation the simulator drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// The production node (Raft + store + WAL + snapshots) over the fault-injecting memory disk.
    Node,
    /// The Raft core with an in-memory log and a tiny key space (no WAL, store or snapshots).
    RaftKv,
}

impl BackendKind {
    pub fn parse(name: &str) -> Result<BackendKind, String> {
        match name {
            "node" => Ok(BackendKind::Node),
            "raft-kv" => Ok(BackendKind::RaftKv),
            other => Err(format!("unknown backend {other:?}; known: node, raft-kv")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Node => "node",
            BackendKind::RaftKv => "raft-kv",
        }
    }

    pub fn create(self) -> Box<dyn Backend> {
        match self {
            BackendKind::Node => Box::new(NodeBackend::default()),
            BackendKind::RaftKv => Box::new(RaftKvBackend::default()),
        }
    }
}

/// Runs one plan on a fresh backend.
pub fn run(plan: &Plan, backend: BackendKind, trace: bool) -> RunReport {
    let mut backend = backend.create();
    run_plan(plan, backend.as_mut(), trace)
}

/// What a swarm found.
#[derive(Debug, Default)]
pub struct SwarmSummary {
    pub seeds: u64,
    pub simulated_ns: u128,
    pub events: u64,
    pub operations: u64,
    pub operations_checked: u64,
    pub unknown: u64,
    /// (seed, check, detail's first line), sorted by seed.
    pub failures: Vec<(u64, Check, String)>,
}

/// Runs `count` seeds from `from` on `threads` threads. `plan_for` makes the plan of a seed;
/// `progress` is called after each seed with (done, failures so far).
pub fn swarm(
    from: u64,
    count: u64,
    threads: usize,
    backend: BackendKind,
    plan_for: &(dyn Fn(u64) -> Plan + Sync),
    progress: &(dyn Fn(u64, usize) + Sync),
) -> SwarmSummary {
    let next = AtomicU64::new(0);
    let summary = Mutex::new(SwarmSummary::default());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let offset = next.fetch_add(1, Ordering::Relaxed);
                    if offset >= count {
                        break;
                    }
                    let seed = from + offset;
                    let report = run(&plan_for(seed), backend, false);
                    let mut summary = summary.lock().expect("no thread panics while holding the lock");
                    summary.seeds += 1;
                    summary.simulated_ns += report.simulated_ns as u128;
                    summary.events += report.events;
                    summary.operations += report.operations as u64;
                    summary.operations_checked += report.operations_checked as u64;
                    summary.unknown += report.unknown_key.is_some() as u64;
                    if let Some(failure) = report.failure {
                        let first_line = failure.detail.lines().next().unwrap_or_default().to_string();
                        summary.failures.push((seed, failure.check, first_line));
                    }
                    let (done, failed) = (summary.seeds, summary.failures.len());
                    drop(summary);
                    progress(done, failed);
                }
            });
        }
    });
    let mut summary = summary.into_inner().expect("no thread panicked");
    summary.failures.sort_by_key(|failure| failure.0);
    summary
}

/// Shrinks a failing plan: drops faults, shortens the fault phase and removes clients and keys for as
/// long as the run still fails the same check. Returns the smallest plan found and its report.
pub fn shrink(plan: &Plan, backend: BackendKind, log: &dyn Fn(&str)) -> Option<(Plan, RunReport)> {
    let first = run(plan, backend, false);
    let check = first.failure.as_ref()?.check;
    let mut shrinking = Shrinking { backend, check, log, best: plan.clone(), best_report: first };
    // Each round tries every kind of reduction; a round that keeps none ends the search. A round that
    // keeps one leaves fewer faults, a shorter fault phase, fewer clients and keys, or no watches.
    for _ in 0..MAX_SHRINK_ROUNDS {
        let progressed = [
            shrinking.drop_faults(),
            shrinking.shorten_fault_phase(),
            shrinking.fewer_clients_and_keys(),
            shrinking.drop_watches(),
        ]
        .contains(&true);
        if !progressed {
            break;
        }
    }
    Some((shrinking.best, shrinking.best_report))
}

/// Bound on shrinking rounds: far more than a plan has faults, clients and keys to lose.
const MAX_SHRINK_ROUNDS: usize = 1_000;

/// The state of a shrinking search: the smallest plan that still fails `check`.
struct Shrinking<'a> {
    backend: BackendKind,
    check: Check,
    log: &'a dyn Fn(&str),
    best: Plan,
    best_report: RunReport,
}

impl Shrinking<'_> {
    /// Keeps `candidate` if it still fails the same check; says whether it did.
    fn keep_if_failing(&mut self, candidate: Plan, what: &str) -> bool {
        let report = run(&candidate, self.backend, false);
        if report.failure.as_ref().map(|failure| failure.check) != Some(self.check) {
            return false;
        }
        (self.log)(what);
        self.best = candidate;
        self.best_report = report;
        true
    }

    /// Fewer faults, one at a time, latest first.
    fn drop_faults(&mut self) -> bool {
        let mut progressed = false;
        let mut index = self.best.faults.len();
        while index > 0 {
            index -= 1;
            let mut candidate = self.best.clone();
            candidate.faults.remove(index);
            let what = format!("  dropped fault {index}: {} faults left", candidate.faults.len());
            progressed |= self.keep_if_failing(candidate, &what);
        }
        progressed
    }

    /// A shorter fault phase (faults after it go too), down to a second.
    fn shorten_fault_phase(&mut self) -> bool {
        let mut candidate = self.best.clone();
        candidate.fault_phase_ns = self.best.fault_phase_ns / 2;
        candidate.faults.retain(|fault| fault.at < candidate.fault_phase_ns);
        if candidate.fault_phase_ns < crate::plan::SECOND {
            return false;
        }
        let what =
            format!("  fault phase shortened to {}ms", candidate.fault_phase_ns / crate::plan::MILLISECOND);
        self.keep_if_failing(candidate, &what)
    }

    /// Fewer clients and keys: fewer operations.
    fn fewer_clients_and_keys(&mut self) -> bool {
        let mut progressed = false;
        let (clients, keys) = (self.best.clients, self.best.keys);
        for (clients, keys) in [(clients.saturating_sub(1), keys), (clients, keys.saturating_sub(1))] {
            if clients == 0 || keys == 0 || (clients, keys) == (self.best.clients, self.best.keys) {
                continue;
            }
            let mut candidate = self.best.clone();
            candidate.clients = clients;
            candidate.keys = keys;
            progressed |= self.keep_if_failing(candidate, &format!("  {clients} clients on {keys} keys"));
        }
        progressed
    }

    /// No watches (a failure that does not need them replays with fewer operations).
    fn drop_watches(&mut self) -> bool {
        if self.best.watch_percent == 0 {
            return false;
        }
        let mut candidate = self.best.clone();
        candidate.watch_percent = 0;
        self.keep_if_failing(candidate, "  no watches")
    }
}
