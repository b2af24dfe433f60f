//! The coverage counters count what they say: each scenario takes one rule (or a few) on a known
//! member, and the counter of that rule moves there, and only once the scenario took it.

mod common;

use common::*;
use raft::testing::Cluster;
use raft::*;

fn cluster(pre_vote: bool, check_quorum: bool) -> Cluster {
    Cluster::new(&[1, 2, 3], |id| config(id, pre_vote, check_quorum))
}

fn is_vote(message: &Message) -> bool {
    matches!(message.body, MessageBody::RequestVote { .. } | MessageBody::RequestVoteResponse { .. })
}

#[test]
fn an_isolated_leader_steps_down_by_check_quorum() {
    let mut cluster = cluster(true, true);
    assert!(cluster.elect(1));
    assert_eq!(cluster.node(1).coverage().count(Rule::ElectionWon), 1);
    assert_eq!(cluster.node(1).coverage().count(Rule::LeaderSteppedDownCheckQuorum), 0);
    cluster.isolate(1);
    for _ in 0..2 * 10 {
        cluster.tick(1);
    }
    assert_ne!(cluster.node(1).role(), Role::Leader);
    assert_eq!(cluster.node(1).coverage().count(Rule::LeaderSteppedDownCheckQuorum), 1);
}

#[test]
fn a_rejoining_member_s_pre_votes_are_ignored_in_the_leader_s_lease() {
    let mut cluster = cluster(true, true);
    assert!(cluster.elect(1));
    cluster.isolate(3);
    for _ in 0..2 * 10 {
        cluster.tick(3); // its timer expires: it pre-campaigns, unheard
    }
    assert!(cluster.node(3).coverage().count(Rule::PreVoteStarted) > 0);
    cluster.heal();
    cluster.node_mut(3).campaign();
    cluster.stabilize();
    assert!(cluster.node(2).coverage().count(Rule::PreVoteIgnoredInLease) > 0, "node 2 heard from leader 1");
    assert_eq!(cluster.node(1).role(), Role::Leader, "the rejoining member deposed nobody");
    assert_eq!(cluster.node(2).coverage().count(Rule::PreVoteGranted), 1, "only the first election's");
}

#[test]
fn a_vote_for_a_candidate_with_an_older_log_is_refused() {
    let mut cluster = cluster(false, false);
    assert!(cluster.elect(1));
    cluster.isolate(3);
    cluster.propose(1, b"missed by 3").unwrap();
    cluster.stabilize();
    cluster.heal();
    cluster.node_mut(3).campaign();
    cluster.stabilize();
    assert_ne!(cluster.node(3).role(), Role::Leader);
    let refusals: u64 =
        [1, 2].iter().map(|id| cluster.node(*id).coverage().count(Rule::VoteRefusedLogBehind)).sum();
    assert!(refusals > 0, "the voters hold an entry node 3 lacks");
    assert_eq!(cluster.node(3).coverage().count(Rule::ElectionLost), 1);
}

#[test]
fn a_follower_learns_the_commit_index_from_a_heartbeat() {
    let mut cluster = cluster(true, true);
    assert!(cluster.elect(1));
    cluster.propose(1, b"x").unwrap();
    // Deliver the appends and their acknowledgements, but not the append announcing the commit.
    cluster.deliver_matching(|message| matches!(message.body, MessageBody::AppendEntries { ref entries, .. } if !entries.is_empty()));
    cluster.deliver_matching(|message| message.to == 1);
    cluster.drop_matching(|message| matches!(message.body, MessageBody::AppendEntries { .. }));
    let before = cluster.node(2).coverage().count(Rule::FollowerCommitByHeartbeat);
    assert!(cluster.node(2).commit_index() < cluster.node(1).commit_index());
    cluster.tick(1);
    cluster.stabilize();
    assert_eq!(cluster.node(2).commit_index(), cluster.node(1).commit_index());
    assert_eq!(cluster.node(2).coverage().count(Rule::FollowerCommitByHeartbeat), before + 1);
}

#[test]
fn a_read_index_waits_for_the_new_leader_s_own_entry_to_commit() {
    let mut cluster = cluster(false, false);
    cluster.node_mut(1).campaign();
    cluster.deliver_matching(is_vote); // leader, its empty entry not yet committed
    assert_eq!(cluster.node(1).role(), Role::Leader);
    cluster.node_mut(1).read_index(7).unwrap();
    let coverage = cluster.node(1).coverage().clone();
    assert_eq!(coverage.count(Rule::ReadIndexHeldForOwnTerm), 1);
    assert_eq!(coverage.count(Rule::ReadIndexReleasedAfterCommit), 0);
    cluster.stabilize();
    assert_eq!(cluster.node(1).coverage().count(Rule::ReadIndexReleasedAfterCommit), 1);
    assert_eq!(cluster.node(1).coverage().count(Rule::ReadIndexConfirmed), 1);
}
