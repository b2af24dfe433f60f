//! Each planted bug (feature `planted-bugs`) is caught by a safety check; the same scenario without
//! the bug passes. Run with `cargo test -p raft --features planted-bugs`.
#![cfg(feature = "planted-bugs")]

mod common;

use common::*;
use raft::testing::{Cluster, Violation};
use raft::*;

fn cluster_with_bug(ids: &[NodeId], bug: Option<PlantedBug>, pre_vote: bool, check_quorum: bool) -> Cluster {
    Cluster::new(ids, |id| {
        let mut settings = config(id, pre_vote, check_quorum);
        settings.planted_bug = bug;
        settings
    })
}

fn is_vote(message: &Message) -> bool {
    matches!(message.body, MessageBody::RequestVote { .. } | MessageBody::RequestVoteResponse { .. })
}

/// Node 1 wins term 1 with node 2's vote; before 1's appends arrive, node 3 (cut off from 1) also
/// campaigns in term 1 and asks node 2.
fn double_vote_scenario(bug: Option<PlantedBug>) -> Result<(), Violation> {
    let mut cluster = cluster_with_bug(&[1, 2, 3], bug, false, false);
    cluster.partition(&[&[1, 2], &[3]]);
    cluster.node_mut(1).campaign();
    cluster.deliver_matching(is_vote);
    assert_eq!(cluster.node(1).role(), Role::Leader);
    cluster.partition(&[&[1], &[3]]);
    cluster.cut.remove(&(3, 2));
    cluster.cut.remove(&(2, 3));
    cluster.node_mut(3).campaign();
    cluster.deliver_matching(is_vote);
    cluster.heal();
    cluster.stabilize();
    cluster.check_safety()
}

#[test]
fn double_vote_is_caught_by_election_safety() {
    double_vote_scenario(None).unwrap();
    let violation = double_vote_scenario(Some(PlantedBug::DoubleVote)).unwrap_err();
    assert!(violation.0.contains("election safety"), "{violation:?}");
}

#[test]
fn commit_old_term_is_caught_by_state_machine_safety_in_figure_8() {
    figure_8(None).unwrap();
    let violation = figure_8(Some(PlantedBug::CommitOldTerm)).unwrap_err();
    assert!(violation.0.contains("safety") || violation.0.contains("completeness"), "{violation:?}");
}

/// Leader 1 streams to node 2 (node 3 cut off); an early append to 2 is duplicated and arrives
/// after a later one, once the last entry is committed with node 2's ack.
fn stale_append_scenario(bug: Option<PlantedBug>) -> Result<(), Violation> {
    let mut cluster = cluster_with_bug(&[1, 2, 3], bug, false, false);
    assert!(cluster.elect(1));
    cluster.partition(&[&[1, 2], &[3]]);
    cluster.propose(1, b"a").unwrap();
    cluster.stabilize();
    cluster.propose(1, b"b").unwrap();
    let first = cluster.network.iter().find(|m| is_append_from(m, 1) && m.to == 2).cloned().unwrap();
    cluster.propose(1, b"c").unwrap();
    let appends: Vec<Message> = cluster.network.drain(..).collect();
    for message in appends {
        cluster.deliver(message);
    }
    cluster.deliver_matching(|message| message.to == 1); // the acks: the leader commits "c"
    assert_eq!(cluster.node(1).commit_index(), 7, "3 bootstrap entries, the empty entry, a, b, c");
    cluster.deliver(first); // the late duplicate, before node 2 hears of the commit
    // Node 1 dies at once; node 2 and node 3 elect among themselves.
    cluster.network.clear();
    cluster.crash(1);
    cluster.heal();
    cluster.isolate(1);
    cluster.elect(2);
    cluster.stabilize();
    cluster.check_safety()
}

#[test]
fn truncate_on_stale_append_is_caught_by_leader_completeness() {
    stale_append_scenario(None).unwrap();
    let violation = stale_append_scenario(Some(PlantedBug::TruncateOnStaleAppend)).unwrap_err();
    assert!(violation.0.contains("leader completeness"), "{violation:?}");
}

/// A deposed leader hears the newer term only through answers to its own heartbeats; it must step
/// down (a leader that keeps serving a stale term accepts writes that can never commit and, with
/// reads, serves stale data).
fn stale_leader_scenario(bug: Option<PlantedBug>) -> Result<(), String> {
    let mut cluster = cluster_with_bug(&[1, 2, 3], bug, false, false);
    assert!(cluster.elect(1));
    cluster.isolate(1);
    assert!(cluster.elect(2));
    cluster.heal();
    cluster.tick(1); // heartbeats at term 1, answered at term 2
    cluster.stabilize();
    let old = cluster.node(1);
    if old.role() == Role::Leader {
        return Err(format!("node 1 still leads term {} after answers from term 2", old.term()));
    }
    Ok(())
}

#[test]
fn no_step_down_on_higher_term_is_caught_by_the_stale_leader_check() {
    stale_leader_scenario(None).unwrap();
    assert!(stale_leader_scenario(Some(PlantedBug::NoStepDownOnHigherTerm)).is_err());
}

/// A leader of a quiet cluster (no proposals, only heartbeats) keeps its term for many election
/// timeouts; returns how many terms began meanwhile. Check-quorum on, pre-vote off: in this cluster,
/// which delivers everything at once, a pre-candidate hears the leader's next heartbeat before its
/// pre-votes come back and goes back to following, which hides the bug (the simulator's latencies
/// do not: `sim/tests/planted_bugs.rs`).
fn quiet_cluster_scenario(bug: Option<PlantedBug>) -> Term {
    let mut cluster = cluster_with_bug(&[1, 2, 3], bug, false, true);
    assert!(cluster.elect(1));
    let term = cluster.node(1).term();
    cluster.tick_all(10 * 20);
    cluster.check_safety().unwrap();
    (1..=3).map(|id| cluster.node(id).term()).max().unwrap() - term
}

#[test]
fn timer_ignoring_heartbeats_is_caught_by_terms_rising_in_a_quiet_cluster() {
    assert_eq!(quiet_cluster_scenario(None), 0, "heartbeats keep a healthy leader");
    let new_terms = quiet_cluster_scenario(Some(PlantedBug::TimerIgnoresHeartbeats));
    assert!(
        new_terms >= 5,
        "followers that ignore heartbeats depose the leader again and again: {new_terms}"
    );
}
