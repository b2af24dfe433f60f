//! Fixed seeds: every one passes every check on the production node and on the bare Raft core, and a
//! seed replays exactly (same trace hash).

use sim::plan::{MembershipChanges, Plan};
use sim::runner::{self, BackendKind};

#[test]
fn same_seed_same_trace_hash() {
    for (seed, backend) in [(1, BackendKind::RaftKv), (42, BackendKind::Node), (4242, BackendKind::Node)] {
        let plan = Plan::from_seed(seed, None);
        let first = runner::run(&plan, backend, false);
        let second = runner::run(&plan, backend, false);
        assert_eq!(first.trace_hash, second.trace_hash, "seed {seed} replays differently");
        assert_eq!(first.events, second.events);
        assert_eq!(first.operations, second.operations);
    }
    let a = runner::run(&Plan::from_seed(1, None), BackendKind::Node, false);
    let b = runner::run(&Plan::from_seed(2, None), BackendKind::Node, false);
    assert_ne!(a.trace_hash, b.trace_hash, "different seeds should run differently");
}

fn assert_seeds_pass(backend: BackendKind, from: u64, count: u64) {
    assert_seeds_pass_with(backend, from, count, MembershipChanges::BySeed);
}

fn assert_seeds_pass_with(backend: BackendKind, from: u64, count: u64, membership: MembershipChanges) {
    let plan_for = |seed| Plan::from_seed_with(seed, None, membership);
    let summary = runner::swarm(from, count, 2, backend, &plan_for, &|_, _| {});
    assert_eq!(summary.seeds, count);
    assert!(summary.operations_checked > 0, "the workload ran and was checked");
    let replays: Vec<String> = summary
        .failures
        .iter()
        .map(|failure| {
            let flag = if membership == MembershipChanges::Always { " --membership" } else { "" };
            format!(
                "seed {seed} [{}] {}: cargo run --release -p sim -- run --seed {seed} --backend {}{flag}",
                failure.check.name(),
                failure.detail,
                backend.name(),
                seed = failure.seed
            )
        })
        .collect();
    assert!(replays.is_empty(), "failing seeds:\n{}", replays.join("\n"));
}

#[test]
fn fixed_seeds_pass_on_the_node() {
    assert_seeds_pass(BackendKind::Node, 0, 200);
}

#[test]
fn fixed_seeds_pass_on_the_raft_core() {
    assert_seeds_pass(BackendKind::RaftKv, 10_000, 100);
}

#[test]
fn fixed_seeds_with_membership_changes_pass_on_the_node() {
    assert_seeds_pass_with(BackendKind::Node, 20_000, 150, MembershipChanges::Always);
}

#[test]
fn membership_changes_really_happen_and_replay_exactly() {
    // The seed set above must exercise what it claims: members added and started, members removed
    // (the leader among them) that then exit, and corrupted members replaced.
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for seed in 20_000..20_150 {
        let plan = Plan::from_seed_with(seed, None, MembershipChanges::Always);
        let report = runner::run(&plan, BackendKind::Node, false);
        for note in &report.notes {
            for (what, pattern) in [
                ("added", "added; starting it"),
                ("removed", "operator: member"),
                ("leader removed", "(the leader)"),
                ("exited", "permanently removed"),
                ("corrupt replaced", "whose disk is corrupt"),
            ] {
                if note.contains(pattern) && (what != "removed" || note.ends_with("removed")) {
                    *counts.entry(what).or_default() += 1;
                }
            }
        }
    }
    eprintln!("membership events over 150 seeds: {counts:?}");
    for what in ["added", "removed", "leader removed", "exited", "corrupt replaced"] {
        assert!(counts.get(what).copied().unwrap_or(0) > 0, "no {what} in 150 seeds: {counts:?}");
    }
    let plan = Plan::from_seed_with(20_007, None, MembershipChanges::Always);
    let first = runner::run(&plan, BackendKind::Node, false);
    let second = runner::run(&plan, BackendKind::Node, false);
    assert_eq!(first.trace_hash, second.trace_hash, "a membership seed replays differently");
}

#[test]
fn watches_run_beside_the_operations_and_are_checked() {
    let plan = Plan::from_seed(42, None);
    assert!(plan.watch_percent > 0, "seed 42 draws watches from its own stream");
    let with_watches = runner::run(&plan, BackendKind::Node, false);
    assert!(with_watches.failure.is_none(), "{:?}", with_watches.failure);
    assert!(with_watches.watch_events > 0, "watches saw events and the checker read them");
    // Without watches the same seed runs its operations without any watch event.
    let mut without = plan.clone();
    without.watch_percent = 0;
    let without_watches = runner::run(&without, BackendKind::Node, false);
    assert!(without_watches.failure.is_none());
    assert_eq!(without_watches.watch_events, 0);
    // The raft-kv backend serves no watches: its runs never issue one.
    let raft_kv = runner::run(&plan, BackendKind::RaftKv, false);
    assert_eq!(raft_kv.watch_events, 0);
}

#[test]
fn v3_operations_watch_streams_and_leases_run_and_are_checked() {
    // The fixed seeds above run the v3 workload on about half of them; this one shows what it does.
    let plan = Plan::from_seed(42, None);
    assert!(plan.v3_percent > 0, "seed 42 draws v3 operations from its own stream");
    let report = runner::run(&plan, BackendKind::Node, false);
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert!(report.v3_operations_checked > 100, "the v3 model checked the v3 operations: {report:?}");
    assert!(report.v3_watch_events > 0, "v3 watch streams saw events and the checker read them");
    let again = runner::run(&plan, BackendKind::Node, false);
    assert_eq!(report.trace_hash, again.trace_hash, "a v3 seed replays exactly");
    // Without v3 operations the same seed checks none.
    let mut without = plan.clone();
    without.v3_percent = 0;
    let without_v3 = runner::run(&without, BackendKind::Node, false);
    assert!(without_v3.failure.is_none());
    assert_eq!((without_v3.v3_operations_checked, without_v3.v3_watch_events), (0, 0));
}
