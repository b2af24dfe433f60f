//! Fixed seeds: every one passes every check on the production node and on the bare Raft core, and a
//! seed replays exactly (same trace hash).

use sim::plan::Plan;
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
    let plan_for = |seed| Plan::from_seed(seed, None);
    let summary = runner::swarm(from, count, 2, backend, &plan_for, &|_, _| {});
    assert_eq!(summary.seeds, count);
    assert!(summary.operations_checked > 0, "the workload ran and was checked");
    let replays: Vec<String> = summary
        .failures
        .iter()
        .map(|(seed, check, detail)| {
            format!(
                "seed {seed} [{}] {detail}: cargo run --release -p sim -- run --seed {seed} --backend {}",
                check.name(),
                backend.name()
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
