//! `sim`: run one seed, a swarm of seeds, or shrink a failing seed. Everything printed to stdout is a
//! function of the seed alone; wall-clock figures go to stderr.

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use sim::mix::FaultMix;
use sim::plan::{MembershipChanges, Plan, SECOND, seconds};
use sim::runner::{self, Adaptive, BackendKind, LivenessSummary, SwarmSummary};

#[derive(Parser)]
#[command(name = "sim", about = "Concord's deterministic cluster simulator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one seed: print its fault plan, the outcome and the trace hash.
    Run {
        #[arg(long)]
        seed: u64,
        /// Print every event with its virtual time.
        #[arg(long)]
        trace: bool,
        /// Print how often the Raft cores took each rule (summed over the members' processes).
        #[arg(long)]
        coverage: bool,
        /// Cluster size (default: chosen by the seed among 3, 5, 7).
        #[arg(long)]
        nodes: Option<usize>,
        /// Write the client history to FILE as JSON lines (the format in DESIGN.md).
        #[arg(long, value_name = "FILE")]
        history: Option<std::path::PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Run many seeds in parallel; exit 1 if any fails.
    Swarm {
        #[arg(long, default_value_t = 1000)]
        seeds: u64,
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long)]
        nodes: Option<usize>,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Adaptive swarm testing over fault mixes 0..=N: seeds run in rounds, and each round gives
        /// more seeds to the mixes whose seeds took the rare rules (0: every seed uses --mix).
        #[arg(long, default_value_t = 0)]
        mixes: u32,
        /// Seeds per round of an adaptive swarm.
        #[arg(long, default_value_t = 200)]
        round_seeds: u64,
        /// Write each seed's client history to DIR/seed-<seed>.jsonl (the format in DESIGN.md).
        #[arg(long, value_name = "DIR")]
        histories: Option<std::path::PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Shrink a failing seed to a smaller plan that fails the same check, and print its trace.
    /// The auth workload (`auth_world`): auth set up, enabled and revoked key by key under a lossy,
    /// delaying, isolating network while an authenticated user puts and ranges; checks that no
    /// revoked permission lets a later request through.
    Auth {
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long)]
        planted_bug: Option<String>,
    },
    Shrink {
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        nodes: Option<usize>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(clap::Args)]
struct Common {
    /// Which member implementation to drive.
    #[arg(long, default_value = "node")]
    backend: String,
    /// Enable a planted bug by name (needs the planted-bugs feature).
    #[arg(long)]
    planted_bug: Option<String>,
    /// Let network duplication and reordering hit forwarded client proposals too.
    #[arg(long)]
    duplicate_proposals: bool,
    /// Give every seed membership changes (adds, removals, replacements); by default about a third
    /// of the seeds get them.
    #[arg(long)]
    membership: bool,
    /// Percentage of client operations that are watches, instead of the seed's own choice.
    #[arg(long)]
    watch_percent: Option<u32>,
    /// Percentage of client operations on the v3 keyspace, instead of the seed's own choice.
    #[arg(long)]
    v3_percent: Option<u32>,
    /// The fault mix the plans are drawn with (0: the default; see `sim::mix`).
    #[arg(long, default_value_t = 0)]
    mix: u32,
}

impl Common {
    fn backend(&self) -> Result<BackendKind, String> {
        BackendKind::parse(&self.backend)
    }

    fn plan(&self, seed: u64, nodes: Option<usize>) -> Plan {
        self.plan_with_mix(seed, nodes, self.mix)
    }

    fn plan_with_mix(&self, seed: u64, nodes: Option<usize>, mix: u32) -> Plan {
        let membership = if self.membership { MembershipChanges::Always } else { MembershipChanges::BySeed };
        let mut plan = Plan::from_seed_with_mix(seed, nodes, membership, &FaultMix::new(mix));
        plan.planted_bug = self.planted_bug.clone();
        plan.duplicate_proposals = self.duplicate_proposals;
        if let Some(percent) = self.watch_percent {
            plan.watch_percent = percent.min(100);
        }
        if let Some(percent) = self.v3_percent {
            plan.v3_percent = percent.min(100);
        }
        plan
    }

    /// The flags that replay a seed of this command drawn with fault mix `mix`.
    fn flags(&self, nodes: Option<usize>, mix: u32) -> String {
        let mut flags = String::new();
        if mix != 0 {
            flags.push_str(&format!(" --mix {mix}"));
        }
        if let Some(nodes) = nodes {
            flags.push_str(&format!(" --nodes {nodes}"));
        }
        if self.backend != "node" {
            flags.push_str(&format!(" --backend {}", self.backend));
        }
        if let Some(bug) = &self.planted_bug {
            flags.push_str(&format!(" --planted-bug {bug}"));
        }
        if self.duplicate_proposals {
            flags.push_str(" --duplicate-proposals");
        }
        if self.membership {
            flags.push_str(" --membership");
        }
        if let Some(percent) = self.watch_percent {
            flags.push_str(&format!(" --watch-percent {percent}"));
        }
        if let Some(percent) = self.v3_percent {
            flags.push_str(&format!(" --v3-percent {percent}"));
        }
        flags
    }
}

/// CPU seconds this process used so far (Linux /proc; None elsewhere): on a shared machine wall
/// time says little about the simulator's own speed.
fn cpu_seconds() -> Option<f64> {
    let process_status = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
    let after_name = process_status.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    const CLOCK_TICKS_PER_SECOND: f64 = 100.0;
    Some((user + system) / CLOCK_TICKS_PER_SECOND)
}

fn print_report(report: &sim::world::RunReport) {
    for note in &report.notes {
        println!("  {note}");
    }
    println!(
        "simulated {:.3}s, {} events, {} operations ({} checked{})",
        report.simulated_ns as f64 / SECOND as f64,
        report.events,
        report.operations,
        report.operations_checked,
        if let Some(key) = report.unknown_key {
            format!("; linearizability of k{key} unknown: search bound hit")
        } else {
            String::new()
        }
    );
    let liveness = report.liveness;
    println!(
        "liveness: {} elections after the faults stopped{}; quiet from {} after them",
        liveness.elections_after_faults,
        liveness
            .last_election_after_faults_ns
            .map(|last| format!(" (the last {} after them)", seconds(last)))
            .unwrap_or_default(),
        seconds(liveness.quiet_from_after_faults_ns)
    );
    match &report.failure {
        None => println!("outcome: PASS"),
        Some(failure) => {
            println!("outcome: FAIL [{}] at {:.6}s", failure.check.name(), failure.at as f64 / SECOND as f64);
            println!("{}", failure.detail);
        }
    }
    println!("trace hash: {:016x}", report.trace_hash);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Run { seed, trace, coverage, nodes, history, common } => {
            run_one(RunArguments { seed, trace, coverage, nodes, history }, &common)
        }
        Command::Swarm { seeds, from, nodes, threads, mixes, round_seeds, histories, common } => {
            let adaptive = Adaptive { mixes, round_seeds: round_seeds.max(1) };
            run_swarm(SwarmArguments { seeds, from, nodes, threads, adaptive, histories }, &common)
        }
        Command::Shrink { seed, nodes, common } => run_shrink(seed, nodes, &common),
        Command::Auth { seeds, from, planted_bug } => run_auth(seeds, from, planted_bug.as_deref()),
    }
}

/// `sim auth`: every seed's auth run; a line per failing seed and a summary.
fn run_auth(seeds: u64, from: u64, planted_bug: Option<&str>) -> Result<ExitCode, String> {
    let started = Instant::now();
    let reports = sim::auth_world::run_seeds(from, seeds, planted_bug)?;
    let (mut failed, mut after_revoke, mut refused, mut allowed, mut fully_revoked) = (0, 0, 0, 0, 0);
    for (seed, report) in &reports {
        let verdict = &report.verdict;
        after_revoke += verdict.after_revoke;
        refused += verdict.refused_after_revoke;
        allowed += verdict.allowed_before_revoke;
        fully_revoked += u64::from(report.revoked_keys == 4);
        if let Some(first) = verdict.violations.first() {
            failed += 1;
            println!("seed {seed}: FAILED ({} violations): {first}", verdict.violations.len());
            let bug = planted_bug.map(|bug| format!(" --planted-bug {bug}")).unwrap_or_default();
            let features = if planted_bug.is_some() { " --features planted-bugs" } else { "" };
            println!("  replay: cargo run --release -p sim{features} -- auth --from {seed} --seeds 1{bug}");
        }
    }
    println!(
        "auth: {seeds} seeds, {failed} failed; {allowed} requests allowed before their revoke, {after_revoke} \
         invoked after it ({refused} refused, the rest unanswered); every key revoked in {fully_revoked} seeds"
    );
    eprintln!("wall time: {:.1} s", started.elapsed().as_secs_f64());
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// What `sim run` was asked for.
struct RunArguments {
    seed: u64,
    trace: bool,
    coverage: bool,
    nodes: Option<usize>,
    /// `--history FILE`: where to write the client history.
    history: Option<std::path::PathBuf>,
}

/// `sim run`: the plan, the outcome and the trace hash of one seed; speed on stderr.
fn run_one(arguments: RunArguments, common: &Common) -> Result<ExitCode, String> {
    let RunArguments { seed, trace, coverage, nodes, history } = arguments;
    let backend = common.backend()?;
    let plan = common.plan(seed, nodes);
    print!("{plan}");
    let started = Instant::now();
    let report = runner::run(&plan, backend, trace);
    let wall_seconds = started.elapsed().as_secs_f64();
    print_report(&report);
    if let Some(path) = &history {
        sim::history_export::write_history(path, &report.history)
            .map_err(|error| format!("writing the history to {}: {error}", path.display()))?;
    }
    if coverage {
        println!("coverage of the Raft cores (rules taken; {} rules in all):", raft::Rule::COUNT);
        for (rule, hits) in report.coverage.iter().filter(|(_, hits)| *hits > 0) {
            println!("  {:<36} {hits:>10}", rule.name());
        }
    }
    let simulated_seconds = report.simulated_ns as f64 / SECOND as f64;
    eprintln!(
        "wall {wall_seconds:.3}s: {:.0} simulated seconds per wall second",
        simulated_seconds / wall_seconds
    );
    if let Some(cpu_time_seconds) = cpu_seconds() {
        eprintln!(
            "cpu {cpu_time_seconds:.3}s: {:.0} simulated seconds per CPU-second",
            simulated_seconds / cpu_time_seconds
        );
    }
    Ok(if report.failure.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// What `sim swarm` was asked for.
struct SwarmArguments {
    seeds: u64,
    from: u64,
    nodes: Option<usize>,
    threads: usize,
    /// Adaptive over mixes 0..=mixes (no mixes: every seed uses the `--mix` of `Common`).
    adaptive: Adaptive,
    /// `--histories DIR`: where to write each seed's client history.
    histories: Option<std::path::PathBuf>,
}

/// `sim swarm`: many seeds; a summary, the liveness outcome, the coverage table and a replay command
/// per failing seed; progress and speed on stderr.
fn run_swarm(arguments: SwarmArguments, common: &Common) -> Result<ExitCode, String> {
    let SwarmArguments { seeds, from, nodes, threads, adaptive, histories } = arguments;
    let backend = common.backend()?;
    if let Some(directory) = &histories {
        std::fs::create_dir_all(directory)
            .map_err(|error| format!("creating {}: {error}", directory.display()))?;
    }
    let export_failures = std::sync::Mutex::new(Vec::new());
    let each_report = |plan: &sim::plan::Plan, report: &sim::world::RunReport| {
        let Some(directory) = &histories else { return };
        let path = directory.join(format!("seed-{}.jsonl", plan.seed));
        if let Err(error) = sim::history_export::write_history(&path, &report.history) {
            export_failures.lock().expect("export failures").push(format!("{}: {error}", path.display()));
        }
    };
    let started = Instant::now();
    let progress = |done: u64, failed: usize| {
        if done.is_multiple_of(100) || done == seeds {
            eprintln!(
                "  {done}/{seeds} seeds, {failed} failed, {:.0}s wall",
                started.elapsed().as_secs_f64()
            );
        }
    };
    let mut summary = if adaptive.mixes == 0 {
        let plan_for = |seed| common.plan(seed, nodes);
        runner::swarm_reporting(from, seeds, threads, backend, &plan_for, &progress, &each_report)
    } else {
        let plan_for = |seed, mix| common.plan_with_mix(seed, nodes, mix);
        runner::adaptive_swarm_reporting(
            from,
            seeds,
            threads,
            backend,
            adaptive,
            &plan_for,
            &progress,
            &each_report,
        )
    };
    if let Some(first) = export_failures.into_inner().expect("export failures").first() {
        return Err(format!("writing a history: {first}"));
    }
    let wall_seconds = started.elapsed().as_secs_f64();
    print_swarm_summary(&mut summary, from, backend, nodes);
    for failure in &summary.failures {
        println!("FAIL seed {} [{}]: {}", failure.seed, failure.check.name(), failure.detail);
        println!(
            "  replay: cargo run --release -p sim -- run --seed {}{}",
            failure.seed,
            common.flags(nodes, failure.mix)
        );
    }
    print_speed(&summary, wall_seconds);
    Ok(if summary.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// What a swarm ran and found, its liveness outcome and its coverage table (stdout: a function of
/// the seeds alone).
fn print_swarm_summary(summary: &mut SwarmSummary, from: u64, backend: BackendKind, nodes: Option<usize>) {
    let simulated_seconds = summary.simulated_ns as f64 / SECOND as f64;
    println!(
        "swarm: {} seeds from {from} on {} ({} nodes), simulated {simulated_seconds:.0}s, {} events, {} operations, {} checked, {} unknown, {} failures",
        summary.seeds,
        backend.name(),
        nodes.map(|nodes| nodes.to_string()).unwrap_or_else(|| "3/5/7".to_string()),
        summary.events,
        summary.operations,
        summary.operations_checked,
        summary.unknown,
        summary.failures.len()
    );
    print_liveness_summary(&mut summary.liveness, summary.seeds);
    print!("{}", summary.coverage.render());
    let mixes: Vec<u32> = summary.coverage.by_mix.keys().copied().filter(|mix| *mix != 0).collect();
    for mix in mixes {
        println!("  {}", FaultMix::new(mix).describe());
    }
}

/// Seeds and simulated seconds per wall second and per CPU-second (stderr: wall time is not a
/// function of the seeds).
fn print_speed(summary: &SwarmSummary, wall_seconds: f64) {
    let simulated_seconds = summary.simulated_ns as f64 / SECOND as f64;
    let seeds_done = summary.seeds as f64;
    eprintln!(
        "wall {wall_seconds:.1}s: {:.0} seeds/minute, {:.0} simulated seconds per wall second",
        seeds_done / wall_seconds * 60.0,
        simulated_seconds / wall_seconds
    );
    if let Some(cpu_time_seconds) = cpu_seconds() {
        eprintln!(
            "cpu {cpu_time_seconds:.1}s: {:.0} seeds per CPU-minute, {:.0} simulated seconds per CPU-second",
            seeds_done / cpu_time_seconds * 60.0,
            simulated_seconds / cpu_time_seconds
        );
    }
}

/// The liveness phase over a swarm: how many seeds elected after their faults stopped, how long
/// after them the last election and the quiet period came, and how many seeds settled so late that
/// their deadline moved.
fn print_liveness_summary(liveness: &mut LivenessSummary, seeds: u64) {
    println!(
        "liveness: {} of {seeds} seeds elected after their faults stopped ({} elections)",
        liveness.seeds_with_elections, liveness.elections
    );
    let distributions = [
        ("last election after the faults", &mut liveness.last_election_after_faults),
        ("quiet period from (after the faults)", &mut liveness.quiet_from_after_faults),
        ("deadline extended", &mut liveness.deadline_extended),
    ];
    for (what, samples) in distributions {
        let count = samples.len();
        if let Some((median, p99, (max, seed))) = LivenessSummary::percentiles(samples) {
            println!(
                "  {what} ({count} seeds): median {}, p99 {}, max {} (seed {seed})",
                seconds(median),
                seconds(p99),
                seconds(max)
            );
        }
    }
}

/// `sim shrink`: the smallest plan failing the same check as the seed, and its full trace.
fn run_shrink(seed: u64, nodes: Option<usize>, common: &Common) -> Result<ExitCode, String> {
    let backend = common.backend()?;
    let plan = common.plan(seed, nodes);
    println!("shrinking seed {seed}...");
    let log = |line: &str| println!("{line}");
    let Some((small, _)) = runner::shrink(&plan, backend, &log) else {
        println!("seed {seed} passes: nothing to shrink");
        return Ok(ExitCode::SUCCESS);
    };
    print!("smallest failing {small}");
    let report = runner::run(&small, backend, true);
    print_report(&report);
    Ok(ExitCode::FAILURE)
}
