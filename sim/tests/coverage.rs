//! What fixed seeds exercise in the Raft core: the common rules are taken by a handful of seeds,
//! the table flags the rules no seed took, a seed takes the same rules the same number of times on
//! every run, and an adaptive swarm (mixes chosen from the coverage of earlier rounds) replays.

use raft::Rule;
use sim::plan::{MembershipChanges, Plan};
use sim::runner::{self, Adaptive, BackendKind};

#[test]
fn a_few_fixed_seeds_take_the_common_rules_and_the_table_flags_the_others() {
    let plan_for = |seed| Plan::from_seed(seed, None);
    let summary = runner::swarm(0, 8, 2, BackendKind::Node, &plan_for, &|_, _| {});
    let coverage = &summary.coverage;
    assert_eq!(coverage.seeds, 8);
    for rule in [
        Rule::ElectionWon,
        Rule::PreVoteGranted,
        Rule::VoteGranted,
        Rule::PreVoteIgnoredInLease,
        Rule::LeaderSteppedDownCheckQuorum,
        Rule::AppendAccepted,
        Rule::AppendRejectedLogShort,
        Rule::FollowerCommitByHeartbeat,
        Rule::LeaderCommitAdvanced,
        Rule::ReadIndexConfirmed,
    ] {
        assert!(coverage.hits.count(rule) > 0, "no seed took {rule}: {:?}", coverage.hits);
        assert!(coverage.seeds_hitting(rule) > 0);
    }
    // The server changes membership one voter at a time: no joint configuration, ever.
    assert_eq!(coverage.hits.count(Rule::JointEntered), 0);
    let table = coverage.render();
    assert!(table.lines().any(|line| line.contains("joint-entered") && line.ends_with("NEVER")), "{table}");
}

#[test]
fn the_same_seed_takes_the_same_rules_the_same_number_of_times() {
    for (seed, backend) in [(42, BackendKind::Node), (20_007, BackendKind::Node), (1, BackendKind::RaftKv)] {
        let plan = Plan::from_seed_with(seed, None, MembershipChanges::Always);
        let first = runner::run(&plan, backend, false);
        let second = runner::run(&plan, backend, false);
        assert!(first.coverage.count(Rule::ElectionWon) > 0, "seed {seed} elected");
        assert_eq!(first.coverage, second.coverage, "seed {seed} on {} replays its coverage", backend.name());
    }
    let other = runner::run(&Plan::from_seed(43, None), BackendKind::Node, false);
    let again = runner::run(&Plan::from_seed(42, None), BackendKind::Node, false);
    assert_ne!(other.coverage, again.coverage, "different seeds exercise the core differently");
}

#[test]
fn an_adaptive_swarm_spreads_seeds_over_the_mixes_and_replays() {
    let adaptive = Adaptive { mixes: 3, round_seeds: 10 };
    let plan_for = |seed, mix| {
        Plan::from_seed_with_mix(seed, None, MembershipChanges::BySeed, &sim::mix::FaultMix::new(mix))
    };
    let run = || runner::adaptive_swarm(0, 20, 2, BackendKind::RaftKv, adaptive, &plan_for, &|_, _| {});
    let (first, second) = (run(), run());
    assert_eq!(first.seeds, 20);
    let seeds_per_mix = |summary: &runner::SwarmSummary| {
        summary.coverage.by_mix.iter().map(|(mix, seen)| (*mix, seen.seeds)).collect::<Vec<_>>()
    };
    assert_eq!(seeds_per_mix(&first), seeds_per_mix(&second), "every seed gets the same mix again");
    assert_eq!(first.coverage.hits, second.coverage.hits);
    assert!(
        first.coverage.by_mix.len() > 1,
        "the seeds are spread over the mixes: {:?}",
        seeds_per_mix(&first)
    );
}
