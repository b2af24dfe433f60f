//! Running seeds: one, many in parallel (swarm; adaptive: later rounds of seeds get the fault mixes
//! that reached the rare rules), and shrinking a failing one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::node::NodeBackend;
use crate::backend::raft_kv::RaftKvBackend;
use crate::cluster::Backend;
use crate::coverage::CoverageTable;
use crate::history::Time;
use crate::mix::choose_mix;
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
    /// The failing seeds, sorted by seed.
    pub failures: Vec<SwarmFailure>,
    /// How the seeds settled once their faults stopped.
    pub liveness: LivenessSummary,
    /// What the seeds exercised in the Raft core.
    pub coverage: CoverageTable,
}

/// One failing seed of a swarm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwarmFailure {
    pub seed: u64,
    /// The fault mix its plan was drawn with (`--mix`).
    pub mix: u32,
    pub check: Check,
    /// The first line of the failure's detail.
    pub detail: String,
}

impl SwarmSummary {
    /// Adds one seed's run.
    fn add(&mut self, plan: &Plan, report: RunReport) {
        self.seeds += 1;
        self.simulated_ns += report.simulated_ns as u128;
        self.events += report.events;
        self.operations += report.operations as u64;
        self.operations_checked += report.operations_checked as u64;
        self.unknown += report.unknown_key.is_some() as u64;
        self.liveness.add(plan.seed, &report);
        self.coverage.add_seed(plan.mix, &report.coverage);
        if let Some(failure) = report.failure {
            let detail = failure.detail.lines().next().unwrap_or_default().to_string();
            self.failures.push(SwarmFailure { seed: plan.seed, mix: plan.mix, check: failure.check, detail });
        }
    }

    /// Adds a later round of the same swarm.
    fn merge(&mut self, round: SwarmSummary) {
        self.seeds += round.seeds;
        self.simulated_ns += round.simulated_ns;
        self.events += round.events;
        self.operations += round.operations;
        self.operations_checked += round.operations_checked;
        self.unknown += round.unknown;
        self.failures.extend(round.failures);
        self.liveness.merge(round.liveness);
        self.coverage.merge(&round.coverage);
    }
}

/// How a swarm's seeds settled once their faults stopped (the liveness phase).
#[derive(Debug, Default)]
pub struct LivenessSummary {
    /// Seeds that elected a leader after their faults stopped (the leader at the end of the faults
    /// was gone, or was deposed).
    pub seeds_with_elections: u64,
    /// Elections won after the faults stopped, over all seeds.
    pub elections: u64,
    /// Per seed that elected: (how long after its faults stopped its last election was won, seed).
    pub last_election_after_faults: Vec<(Time, u64)>,
    /// Per seed: (how long after its faults stopped its quiet period began, seed).
    pub quiet_from_after_faults: Vec<(Time, u64)>,
    /// Per seed whose deadline moved (its cluster settled late): (by how much, seed).
    pub deadline_extended: Vec<(Time, u64)>,
}

impl LivenessSummary {
    fn add(&mut self, seed: u64, report: &RunReport) {
        let outcome = report.liveness;
        self.elections += u64::from(outcome.elections_after_faults);
        if let Some(last) = outcome.last_election_after_faults_ns {
            self.seeds_with_elections += 1;
            self.last_election_after_faults.push((last, seed));
        }
        self.quiet_from_after_faults.push((outcome.quiet_from_after_faults_ns, seed));
        if outcome.deadline_extended_ns > 0 {
            self.deadline_extended.push((outcome.deadline_extended_ns, seed));
        }
    }

    fn merge(&mut self, round: LivenessSummary) {
        self.seeds_with_elections += round.seeds_with_elections;
        self.elections += round.elections;
        self.last_election_after_faults.extend(round.last_election_after_faults);
        self.quiet_from_after_faults.extend(round.quiet_from_after_faults);
        self.deadline_extended.extend(round.deadline_extended);
    }

    /// The median, the 99th percentile and the maximum (with its seed) of `samples`, sorted in place.
    pub fn percentiles(samples: &mut [(Time, u64)]) -> Option<(Time, Time, (Time, u64))> {
        samples.sort_unstable();
        let last = *samples.last()?;
        let at = |per_mille: usize| samples[(samples.len() - 1) * per_mille / 1000].0;
        Some((at(500), at(990), last))
    }
}

/// What a swarm hands each finished seed's plan and report to (e.g. to export its history).
pub type EachReport<'a> = &'a (dyn Fn(&Plan, &RunReport) + Sync);

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
    swarm_reporting(from, count, threads, backend, plan_for, progress, &|_, _| {})
}

/// As `swarm`, handing every seed's plan and report to `each_report` (on the thread that ran it).
pub fn swarm_reporting(
    from: u64,
    count: u64,
    threads: usize,
    backend: BackendKind,
    plan_for: &(dyn Fn(u64) -> Plan + Sync),
    progress: &(dyn Fn(u64, usize) + Sync),
    each_report: EachReport,
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
                    let plan = plan_for(from + offset);
                    let report = run(&plan, backend, false);
                    each_report(&plan, &report);
                    let mut summary = summary.lock().expect("no thread panics while holding the lock");
                    summary.add(&plan, report);
                    let (done, failed) = (summary.seeds, summary.failures.len());
                    drop(summary);
                    progress(done, failed);
                }
            });
        }
    });
    let mut summary = summary.into_inner().expect("no thread panicked");
    summary.failures.sort_by_key(|failure| failure.seed);
    summary
}

/// The fault mixes of an adaptive swarm: mixes 0..=`mixes`, chosen anew every `round_seeds` seeds.
#[derive(Clone, Copy, Debug)]
pub struct Adaptive {
    pub mixes: u32,
    pub round_seeds: u64,
}

/// An adaptive swarm: seeds run in rounds of `adaptive.round_seeds`; the first round spreads them
/// evenly over mixes 0..=`adaptive.mixes`, each later round gives more seeds to the mixes whose
/// seeds took the rare rules (`mix_weights`). Deterministic: a seed's mix depends only on the seed
/// and on the rounds before it, and each failure names its mix (`--mix`) for replay. `plan_for`
/// makes the plan of (seed, mix).
pub fn adaptive_swarm(
    from: u64,
    count: u64,
    threads: usize,
    backend: BackendKind,
    adaptive: Adaptive,
    plan_for: &(dyn Fn(u64, u32) -> Plan + Sync),
    progress: &(dyn Fn(u64, usize) + Sync),
) -> SwarmSummary {
    adaptive_swarm_reporting(from, count, threads, backend, adaptive, plan_for, progress, &|_, _| {})
}

/// As `adaptive_swarm`, handing every seed's plan and report to `each_report`.
#[allow(clippy::too_many_arguments)]
pub fn adaptive_swarm_reporting(
    from: u64,
    count: u64,
    threads: usize,
    backend: BackendKind,
    adaptive: Adaptive,
    plan_for: &(dyn Fn(u64, u32) -> Plan + Sync),
    progress: &(dyn Fn(u64, usize) + Sync),
    each_report: EachReport,
) -> SwarmSummary {
    assert!(adaptive.round_seeds > 0, "a round has seeds");
    let mut summary = SwarmSummary::default();
    let rounds = count.div_ceil(adaptive.round_seeds);
    for round in 0..rounds {
        let start = round * adaptive.round_seeds;
        let size = adaptive.round_seeds.min(count - start);
        let weights = mix_weights(&summary.coverage, adaptive.mixes);
        let (done_before, failed_before) = (summary.seeds, summary.failures.len());
        let round_progress = |done: u64, failed: usize| progress(done_before + done, failed_before + failed);
        let round_plan = |seed: u64| plan_for(seed, choose_mix(seed, &weights));
        let part =
            swarm_reporting(from + start, size, threads, backend, &round_plan, &round_progress, each_report);
        summary.merge(part);
    }
    summary.failures.sort_by_key(|failure| failure.seed);
    summary
}

/// Per mix 0..=`mixes`: its weight for the next round. Every mix keeps a base weight (so none is
/// starved); a mix gains for each rare rule in proportion to the share of its seeds that took it.
/// Integer arithmetic only, so the weights (and every seed's mix) replay exactly.
pub fn mix_weights(coverage: &CoverageTable, mixes: u32) -> Vec<u64> {
    const BASE_WEIGHT: u64 = 100;
    let rare = coverage.rare_rules();
    (0..=mixes)
        .map(|mix| {
            let Some(seen) = coverage.by_mix.get(&mix).filter(|seen| seen.seeds > 0) else {
                return BASE_WEIGHT;
            };
            let gain: u64 = rare
                .iter()
                .map(|rule| seen.seeds_hitting.get(*rule as usize).copied().unwrap_or(0) * 1000 / seen.seeds)
                .sum();
            BASE_WEIGHT + gain
        })
        .collect()
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
