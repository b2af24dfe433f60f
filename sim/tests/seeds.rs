//! Fixed seeds on the Raft-core backend pass every check, and a seed replays exactly on both backends.

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
    let a = runner::run(&Plan::from_seed(1, None), BackendKind::RaftKv, false);
    let b = runner::run(&Plan::from_seed(2, None), BackendKind::RaftKv, false);
    assert_ne!(a.trace_hash, b.trace_hash, "different seeds should run differently");
}

#[test]
fn fixed_seeds_pass() {
    let plan_for = |seed| Plan::from_seed(seed, None);
    let summary = runner::swarm(10_000, 100, 2, BackendKind::RaftKv, &plan_for, &|_, _| {});
    assert_eq!(summary.seeds, 100);
    assert!(summary.operations_checked > 0, "the workload ran and was checked");
    assert!(summary.failures.is_empty(), "failing seeds: {:?}", summary.failures);
}
