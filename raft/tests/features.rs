//! Pre-vote, check-quorum, leader transfer, ReadIndex, snapshots and membership changes as scenarios.

mod common;

use bytes::Bytes;
use common::*;
use raft::testing::Cluster;
use raft::*;

fn elected(pre_vote: bool, check_quorum: bool) -> Cluster {
    let mut cluster = Cluster::with_defaults(&[1, 2, 3], pre_vote, check_quorum);
    assert!(cluster.elect(1));
    cluster
}

fn change(transition: ConfChangeTransition, singles: &[(ConfChangeKind, NodeId)]) -> ConfChange {
    ConfChange {
        transition,
        changes: singles.iter().map(|&(kind, node_id)| ConfChangeSingle { kind, node_id }).collect(),
        context: Bytes::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Pre-vote.

#[test]
fn with_pre_vote_a_partitioned_node_rejoins_without_disrupting_the_leader() {
    let mut cluster = elected(true, true);
    cluster.isolate(3);
    for _ in 0..100 {
        cluster.tick(3);
    }
    assert_eq!(cluster.node(3).term(), 2, "pre-candidates never bump their term");
    cluster.heal();
    cluster.tick_all(30);
    assert_eq!(cluster.leader(), Some(1));
    assert_eq!(cluster.node(1).term(), 2);
    assert_eq!(cluster.node(3).leader(), Some(1));
    cluster.check_safety().unwrap();
}

#[test]
fn without_pre_vote_a_rejoining_node_forces_a_new_term() {
    let mut cluster = elected(false, false);
    cluster.isolate(3);
    for _ in 0..100 {
        cluster.tick(3);
    }
    assert!(cluster.node(3).term() > 1);
    cluster.heal();
    cluster.tick_all(40);
    assert!(cluster.node(1).term() > 1, "the old leader was deposed by the higher term");
    cluster.check_safety().unwrap();
}

#[test]
fn a_pre_vote_is_granted_for_a_future_term_without_changing_the_voters_term() {
    let mut node = Raft::new(config(2, true, false), RestoreState::new_cluster([1, 2, 3])).unwrap();
    node.step(Message {
        from: 3,
        to: 2,
        term: 5,
        body: MessageBody::RequestVote {
            pre_vote: true,
            last_log_index: 3,
            last_log_term: 1,
            leader_transfer: false,
        },
    });
    let ready = node.ready();
    assert_eq!(node.term(), 1, "the bootstrap term");
    assert_eq!(node.vote(), None);
    let answer = &ready.messages_after_persist[0];
    assert_eq!(answer.term, 5, "answers in the asked term");
    assert_eq!(answer.body, MessageBody::RequestVoteResponse { pre_vote: true, granted: true });
}

#[test]
fn a_pre_vote_rejection_at_a_higher_term_moves_the_pre_candidate_to_that_term() {
    let mut node = Raft::new(config(1, true, false), RestoreState::new_cluster([1, 2, 3])).unwrap();
    node.campaign();
    assert_eq!(node.role(), Role::PreCandidate);
    node.step(Message {
        from: 2,
        to: 1,
        term: 7,
        body: MessageBody::RequestVoteResponse { pre_vote: true, granted: false },
    });
    assert_eq!(node.role(), Role::Follower);
    assert_eq!(node.term(), 7);
}

// ---------------------------------------------------------------------------------------------
// Check-quorum and leader stickiness.

#[test]
fn a_leader_cut_off_from_the_quorum_steps_down_and_the_majority_elects() {
    let mut cluster = elected(true, true);
    cluster.isolate(1);
    // The first check after the cut still sees the answers from before it; the second one cannot.
    for _ in 0..20 {
        cluster.tick(1);
    }
    assert_eq!(cluster.node(1).role(), Role::Follower, "stepped down within two election timeouts");
    cluster.tick_all(30);
    let leader = cluster.leader().unwrap();
    assert_ne!(leader, 1);
    cluster.check_safety().unwrap();
}

#[test]
fn followers_that_hear_from_a_live_leader_ignore_vote_requests() {
    let mut cluster = elected(false, true);
    // Node 3 campaigns at a higher term without pre-vote; the others just heard from node 1.
    cluster.node_mut(3).campaign();
    cluster.stabilize();
    assert_eq!(cluster.node(1).role(), Role::Leader);
    assert_eq!(cluster.node(1).term(), 2);
    assert_eq!(cluster.node(2).term(), 2);
    assert_ne!(cluster.node(3).role(), Role::Leader);
}

#[test]
fn pre_candidates_forget_their_leader_so_pre_vote_with_check_quorum_cannot_stall() {
    // The liveness trap of etcd-io/etcd#8334: the leader dies. Node 2 times out first; node 3 still
    // heard from the leader recently and rightly refuses (stickiness). When node 3 times out in turn,
    // node 2 (a pre-candidate that reset its timer) must not refuse it for the same reason: had it
    // kept its dead leader, the two would refuse each other in turns forever.
    let mut cluster = elected(true, true);
    cluster.crash(1);
    cluster.node_mut(2).campaign();
    assert_eq!(cluster.node(2).role(), Role::PreCandidate);
    assert_eq!(cluster.node(2).leader(), None, "a pre-candidate forgets its leader");
    cluster.stabilize();
    assert_eq!(cluster.node(2).role(), Role::PreCandidate, "node 3 is still in its leader's lease");
    cluster.node_mut(3).campaign();
    cluster.stabilize();
    assert_eq!(cluster.leader(), Some(3), "node 2 granted at once");
    cluster.check_safety().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Leader transfer.

#[test]
fn leader_transfer_to_an_up_to_date_follower_hands_over_at_once() {
    let mut cluster = elected(true, true);
    cluster.node_mut(1).transfer_leader(2).unwrap();
    cluster.process_ready(1);
    cluster.stabilize();
    assert_eq!(cluster.leader(), Some(2));
    assert_eq!(cluster.node(2).term(), 3);
    assert_eq!(cluster.node(1).leader(), Some(2));
}

#[test]
fn leader_transfer_to_a_lagging_follower_catches_it_up_first() {
    let mut cluster = elected(true, true);
    cluster.cut.insert((1, 3));
    for i in 0..5u8 {
        cluster.propose(1, &[i]).unwrap();
    }
    cluster.stabilize();
    cluster.heal();
    cluster.node_mut(1).transfer_leader(3).unwrap();
    cluster.process_ready(1);
    cluster.stabilize();
    assert_eq!(cluster.leader(), Some(3));
    assert_eq!(cluster.nodes[&3].applied_data.len(), 5);
    cluster.check_safety().unwrap();
}

#[test]
fn proposals_are_refused_during_a_transfer_which_aborts_after_an_election_timeout() {
    let mut cluster = elected(true, false);
    cluster.isolate(3);
    cluster.node_mut(1).transfer_leader(3).unwrap();
    assert_eq!(cluster.propose(1, b"x"), Err(ProposeError::TransferInProgress));
    for _ in 0..10 {
        cluster.tick(1);
    }
    assert_eq!(cluster.node(1).transferee(), None);
    cluster.propose(1, b"x").unwrap();
    assert_eq!(cluster.leader(), Some(1));
}

#[test]
fn leader_transfer_to_a_non_voter_is_refused() {
    let mut cluster = elected(true, true);
    let add_learner = change(ConfChangeTransition::Auto, &[(ConfChangeKind::AddLearner, 4)]);
    cluster.node_mut(1).propose_conf_change(add_learner).unwrap();
    cluster.stabilize();
    assert_eq!(cluster.node_mut(1).transfer_leader(4), Err(ProposeError::InvalidTransferTarget(4)));
    assert_eq!(cluster.node_mut(2).transfer_leader(3), Err(ProposeError::NotLeader));
}

// ---------------------------------------------------------------------------------------------
// ReadIndex.

#[test]
fn read_index_on_the_leader_is_confirmed_by_a_heartbeat_quorum() {
    let mut cluster = elected(true, true);
    cluster.propose(1, b"w").unwrap();
    cluster.stabilize();
    cluster.node_mut(1).read_index(42).unwrap();
    cluster.process_ready(1);
    assert!(cluster.nodes[&1].read_states.is_empty(), "needs the heartbeat round first");
    cluster.stabilize();
    assert_eq!(cluster.nodes[&1].read_states, vec![ReadState { context: 42, index: 5 }]);
}

#[test]
fn read_index_on_a_follower_is_forwarded_and_answered() {
    let mut cluster = elected(true, true);
    cluster.node_mut(3).read_index(7).unwrap();
    cluster.process_ready(3);
    cluster.stabilize();
    assert_eq!(cluster.nodes[&3].read_states, vec![ReadState { context: 7, index: 4 }]);
}

#[test]
fn a_leader_cut_off_from_the_quorum_never_confirms_a_read() {
    let mut cluster = elected(true, false);
    cluster.isolate(1);
    cluster.node_mut(1).read_index(1).unwrap();
    for _ in 0..30 {
        cluster.tick(1);
    }
    assert!(cluster.nodes[&1].read_states.is_empty());
    cluster.heal();
    cluster.tick_all(1);
    assert_eq!(cluster.nodes[&1].read_states.len(), 1, "confirmed once the quorum answers again");
}

#[test]
fn a_new_leader_answers_reads_only_after_committing_an_entry_of_its_term() {
    let mut cluster = Cluster::with_defaults(&[1, 2, 3], false, false);
    cluster.node_mut(1).campaign();
    // Deliver only the votes: the leader's empty entry is not committed yet.
    cluster.deliver_matching(|message| {
        matches!(message.body, MessageBody::RequestVote { .. } | MessageBody::RequestVoteResponse { .. })
    });
    assert_eq!(cluster.node(1).role(), Role::Leader);
    cluster.node_mut(1).read_index(9).unwrap();
    cluster.process_ready(1);
    assert_eq!(cluster.node(1).commit_index(), 3, "only the bootstrap entries");
    assert!(cluster.nodes[&1].read_states.is_empty());
    cluster.stabilize();
    assert_eq!(cluster.nodes[&1].read_states, vec![ReadState { context: 9, index: 4 }]);
}

#[test]
fn a_single_voter_answers_reads_at_once() {
    let mut cluster = Cluster::with_defaults(&[1], true, true);
    assert!(cluster.elect(1));
    cluster.node_mut(1).read_index(3).unwrap();
    cluster.process_ready(1);
    assert_eq!(cluster.nodes[&1].read_states, vec![ReadState { context: 3, index: 2 }]);
}

// ---------------------------------------------------------------------------------------------
// Snapshots.

fn lagging_follower_after_compaction() -> Cluster {
    let mut cluster = elected(true, true);
    cluster.cut.insert((1, 3));
    for i in 0..10u8 {
        cluster.propose(1, &[i]).unwrap();
    }
    cluster.stabilize();
    cluster.compact(1);
    assert_eq!(cluster.node(1).first_index(), 15);
    cluster.heal();
    cluster
}

#[test]
fn a_follower_behind_the_compaction_point_installs_a_snapshot_and_catches_up() {
    let mut cluster = lagging_follower_after_compaction();
    cluster.propose(1, b"after").unwrap();
    cluster.tick_all(2);
    let follower = cluster.node(3);
    assert_eq!(follower.first_index(), 15);
    assert_eq!(follower.last_index(), 15);
    assert_eq!(follower.commit_index(), 15);
    assert_eq!(follower.conf_state(), &ConfState::with_voters([1, 2, 3]));
    assert_eq!(cluster.nodes[&3].applied_index, 15);
    assert_eq!(cluster.node(1).progress(3).unwrap().state, ProgressState::Replicate);
    cluster.check_safety().unwrap();
    // And it restarts from the snapshot it persisted.
    cluster.crash(3);
    cluster.restart(3);
    assert_eq!(cluster.node(3).first_index(), 15);
    assert_eq!(cluster.node(3).commit_index(), 15);
}

#[test]
fn a_lost_snapshot_is_sent_again() {
    let mut cluster = lagging_follower_after_compaction();
    cluster.node_mut(1).tick();
    cluster.process_ready(1);
    cluster.stabilize_dropping(|message| matches!(message.body, MessageBody::InstallSnapshot { .. }));
    assert_eq!(cluster.node(3).commit_index(), 4);
    cluster.tick_all(25);
    assert_eq!(cluster.node(3).commit_index(), 14);
}

#[test]
fn a_stale_snapshot_is_ignored_and_answered_with_the_commit_index() {
    let mut node = Raft::new(config(2, true, true), restored(&[1, 2, 3], &[1, 1, 1, 1, 1], 1, 5)).unwrap();
    let snapshot = Snapshot {
        meta: SnapshotMeta { index: 3, term: 1, conf_state: ConfState::with_voters([1, 2, 3]) },
        data: Bytes::new(),
    };
    node.step(Message { from: 1, to: 2, term: 1, body: MessageBody::InstallSnapshot { snapshot } });
    let ready = node.ready();
    assert!(ready.snapshot.is_none());
    assert_eq!(ready.messages_after_persist[0].body, MessageBody::AppendEntriesResponse { result: Ok(5) });
    assert_eq!(node.last_index(), 5);
}

#[test]
fn an_append_older_than_an_installed_snapshot_cannot_reach_compacted_entries() {
    let mut node = Raft::new(config(2, true, true), restored(&[1, 2, 3], &[1], 1, 0)).unwrap();
    let snapshot = Snapshot {
        meta: SnapshotMeta { index: 10, term: 2, conf_state: ConfState::with_voters([1, 2, 3]) },
        data: Bytes::from_static(b"state"),
    };
    node.step(Message { from: 1, to: 2, term: 2, body: MessageBody::InstallSnapshot { snapshot } });
    let ready = node.ready();
    assert_eq!(ready.snapshot.as_ref().map(|snapshot| snapshot.meta.index), Some(10));
    node.on_persisted(10, 2);
    let old_entries = (2..=6).map(|index| Entry { term: 1, index, payload: EntryPayload::Empty }).collect();
    node.step(Message {
        from: 1,
        to: 2,
        term: 2,
        body: MessageBody::AppendEntries {
            prev_log_index: 1,
            prev_log_term: 1,
            entries: old_entries,
            leader_commit: 6,
        },
    });
    let ready = node.ready();
    assert_eq!(ready.messages_after_persist[0].body, MessageBody::AppendEntriesResponse { result: Ok(10) });
    assert!(ready.entries.is_empty());
    assert_eq!((node.first_index(), node.last_index(), node.commit_index()), (11, 10, 10));
}

// ---------------------------------------------------------------------------------------------
// Membership: learners, joint consensus, removal.

/// Adds node `id` as a process that joins an existing cluster: it knows no configuration at all and
/// learns it by replaying the leader's log from the bootstrap entries on.
fn start_joiner(cluster: &mut Cluster, id: NodeId) {
    cluster.add_node(config(id, true, true), RestoreState::default());
}

#[test]
fn a_learner_catches_up_without_voting_and_is_then_promoted() {
    let mut cluster = elected(true, true);
    start_joiner(&mut cluster, 4);
    let add = change(ConfChangeTransition::Auto, &[(ConfChangeKind::AddLearner, 4)]);
    cluster.node_mut(1).propose_conf_change(add).unwrap();
    cluster.process_ready(1);
    cluster.stabilize();
    assert_eq!(cluster.node(4).commit_index(), 5);
    assert!(cluster.node(4).conf_state().learners.contains(&4));
    // The learner never campaigns.
    for _ in 0..50 {
        cluster.tick(4);
    }
    assert_eq!(cluster.node(4).role(), Role::Follower);
    // A learner does not count toward commitment: with 2 and 3 cut off nothing commits.
    cluster.isolate(2);
    cluster.isolate(3);
    cluster.cut.remove(&(1, 4));
    cluster.cut.remove(&(4, 1));
    cluster.propose(1, b"needs a voter quorum").unwrap();
    cluster.stabilize();
    assert_eq!(cluster.node(1).commit_index(), 5);
    cluster.heal();
    cluster.stabilize();
    let promote = change(ConfChangeTransition::Auto, &[(ConfChangeKind::AddVoter, 4)]);
    cluster.node_mut(1).propose_conf_change(promote).unwrap();
    cluster.process_ready(1);
    cluster.stabilize();
    assert_eq!(cluster.node(4).conf_state(), &ConfState::with_voters([1, 2, 3, 4]));
    cluster.check_safety().unwrap();
}

#[test]
fn replacing_a_voter_goes_through_a_joint_configuration_that_is_left_automatically() {
    let mut cluster = elected(true, true);
    start_joiner(&mut cluster, 4);
    let replace =
        change(ConfChangeTransition::Auto, &[(ConfChangeKind::RemoveNode, 3), (ConfChangeKind::AddVoter, 4)]);
    cluster.node_mut(1).propose_conf_change(replace).unwrap();
    assert!(cluster.node(1).conf_state().is_joint(), "takes effect when appended");
    cluster.process_ready(1);
    cluster.stabilize();
    for id in [1, 2, 4] {
        assert_eq!(cluster.node(id).conf_state(), &ConfState::with_voters([1, 2, 4]), "node {id}");
    }
    assert!(!cluster.node(1).pending_conf_change());
    cluster.check_safety().unwrap();
}

#[test]
fn a_joint_configuration_needs_both_majorities_to_commit() {
    let mut cluster = Cluster::with_defaults(&[1, 2, 3, 4, 5], true, true);
    assert!(cluster.elect(1));
    // C(old) = {1, 2, 3}: first shrink to it.
    for id in [5, 4] {
        let remove = change(ConfChangeTransition::Auto, &[(ConfChangeKind::RemoveNode, id)]);
        cluster.node_mut(1).propose_conf_change(remove).unwrap();
        cluster.process_ready(1);
        cluster.stabilize();
    }
    // Stay joint between {1,2,3} and {1,4,5}.
    let joint = change(
        ConfChangeTransition::JointExplicit,
        &[
            (ConfChangeKind::RemoveNode, 2),
            (ConfChangeKind::RemoveNode, 3),
            (ConfChangeKind::AddVoter, 4),
            (ConfChangeKind::AddVoter, 5),
        ],
    );
    cluster.node_mut(1).propose_conf_change(joint).unwrap();
    cluster.process_ready(1);
    cluster.stabilize();
    let conf = cluster.node(1).conf_state().clone();
    assert!(conf.is_joint() && !conf.auto_leave);

    let commit = cluster.node(1).commit_index();
    // The new half {1,4,5} alone cannot commit.
    cluster.isolate(2);
    cluster.isolate(3);
    for id in [4, 5] {
        cluster.cut.remove(&(1, id));
        cluster.cut.remove(&(id, 1));
    }
    cluster.propose(1, b"x").unwrap();
    cluster.stabilize();
    assert_eq!(cluster.node(1).commit_index(), commit);
    cluster.heal();
    cluster.tick_all(1); // a heartbeat round repairs the old half
    assert_eq!(cluster.node(1).commit_index(), commit + 1);
    // Leaving is explicit.
    cluster.node_mut(1).propose_conf_change(ConfChange::default()).unwrap();
    cluster.process_ready(1);
    cluster.stabilize();
    assert_eq!(cluster.node(1).conf_state(), &ConfState::with_voters([1, 4, 5]));
    cluster.check_safety().unwrap();
}

#[test]
fn only_one_configuration_change_may_be_pending() {
    let mut cluster = elected(true, true);
    cluster.cut.insert((1, 2));
    cluster.cut.insert((1, 3));
    let add = change(ConfChangeTransition::Auto, &[(ConfChangeKind::AddLearner, 4)]);
    cluster.node_mut(1).propose_conf_change(add).unwrap();
    let add_another = change(ConfChangeTransition::Auto, &[(ConfChangeKind::AddLearner, 5)]);
    assert_eq!(
        cluster.node_mut(1).propose_conf_change(add_another.clone()),
        Err(ProposeError::ConfChangePending)
    );
    assert!(matches!(
        cluster
            .node_mut(1)
            .propose_conf_change(change(ConfChangeTransition::Auto, &[(ConfChangeKind::RemoveNode, 1)])),
        Err(ProposeError::ConfChangePending)
    ));
    cluster.heal();
    cluster.stabilize();
    cluster.node_mut(1).propose_conf_change(add_another).unwrap();
}

#[test]
fn a_new_leader_recomputes_the_pending_change_from_its_uncommitted_log() {
    let mut cluster = elected(false, false);
    cluster.cut.insert((2, 1));
    cluster.cut.insert((3, 1));
    let add = change(ConfChangeTransition::Auto, &[(ConfChangeKind::AddLearner, 4)]);
    cluster.node_mut(1).propose_conf_change(add).unwrap();
    cluster.process_ready(1);
    cluster.stabilize();
    assert_eq!(cluster.node(2).commit_index(), 4, "appended but the acks never reached the leader");
    cluster.crash(1);
    cluster.node_mut(2).campaign();
    cluster.deliver_matching(|message| {
        matches!(message.body, MessageBody::RequestVote { .. } | MessageBody::RequestVoteResponse { .. })
    });
    assert_eq!(cluster.node(2).role(), Role::Leader);
    assert!(cluster.node(2).pending_conf_change(), "the uncommitted change is in its log");
    let add_another = change(ConfChangeTransition::Auto, &[(ConfChangeKind::AddLearner, 5)]);
    assert_eq!(cluster.node_mut(2).propose_conf_change(add_another), Err(ProposeError::ConfChangePending));
}

#[test]
fn invalid_configuration_changes_are_refused_with_a_reason() {
    let mut cluster = Cluster::with_defaults(&[1], true, true);
    assert!(cluster.elect(1));
    let remove_all = change(ConfChangeTransition::Auto, &[(ConfChangeKind::RemoveNode, 1)]);
    assert!(matches!(
        cluster.node_mut(1).propose_conf_change(remove_all),
        Err(ProposeError::InvalidConfChange(_))
    ));
    assert!(matches!(
        cluster.node_mut(1).propose_conf_change(ConfChange::default()),
        Err(ProposeError::InvalidConfChange(_))
    ));
}

#[test]
fn a_removed_leader_steps_down_once_its_removal_commits() {
    let mut cluster = elected(true, true);
    let remove = change(ConfChangeTransition::Auto, &[(ConfChangeKind::RemoveNode, 1)]);
    cluster.node_mut(1).propose_conf_change(remove).unwrap();
    cluster.process_ready(1);
    cluster.stabilize();
    assert_eq!(cluster.node(1).role(), Role::Follower);
    assert_eq!(cluster.node(2).conf_state(), &ConfState::with_voters([2, 3]));
    // It never campaigns again; the others elect among themselves.
    cluster.tick_all(40);
    let leader = cluster.leader().unwrap();
    assert!(leader == 2 || leader == 3);
    cluster.propose(leader, b"after removal").unwrap();
    cluster.stabilize();
    assert_eq!(cluster.nodes[&2].applied_data.len(), 1);
    cluster.check_safety().unwrap();
}

#[test]
fn a_leader_that_lost_leadership_before_its_removal_committed_can_still_be_elected() {
    // Thesis 4.2.2, Figure 4.6. Leader 1 of {1,2,3,4} appends its own removal, is cut off and steps
    // down before anyone received the entry; then 2 fails. 3 and 4 need a third vote in {1,2,3,4},
    // and 1 refuses them (its log is longer); only 1 can win, as a candidate of {2,3,4} (3 and 4 vote
    // for it). Found by the simulator (`sim run --seed 4448 --membership`) as a cluster that never
    // elected a leader again.
    let mut cluster = Cluster::with_defaults(&[1, 2, 3, 4], true, true);
    assert!(cluster.elect(1));
    cluster.propose(1, b"before").unwrap();
    cluster.stabilize();
    cluster.isolate(1);
    let remove = change(ConfChangeTransition::Auto, &[(ConfChangeKind::RemoveNode, 1)]);
    cluster.node_mut(1).propose_conf_change(remove).unwrap();
    cluster.process_ready(1);
    cluster.stabilize();
    for _ in 0..30 {
        cluster.tick(1);
    }
    assert_eq!(cluster.node(1).role(), Role::Follower, "check-quorum made it step down");
    assert!(cluster.node(1).pending_conf_change());
    cluster.crash(2);
    cluster.heal();
    cluster.tick_all(100);
    let leader = cluster.leader().expect("a leader is elected");
    assert!(leader == 3 || leader == 4, "the removal committed and 1 stepped down; leader {leader}");
    assert_eq!(cluster.node(leader).conf_state(), &ConfState::with_voters([2, 3, 4]));
    cluster.propose(leader, b"after").unwrap();
    cluster.stabilize();
    assert_eq!(cluster.nodes[&3].applied_data.len(), 2);
    cluster.check_safety().unwrap();
}

#[test]
fn responses_from_unknown_senders_are_dropped() {
    let mut cluster = elected(true, true);
    cluster.node_mut(1).step(Message {
        from: 9,
        to: 1,
        term: 50,
        body: MessageBody::AppendEntriesResponse { result: Ok(1) },
    });
    cluster.node_mut(1).step(Message {
        from: 9,
        to: 1,
        term: 2,
        body: MessageBody::RequestVoteResponse { pre_vote: false, granted: true },
    });
    assert_eq!(cluster.node(1).term(), 2);
    assert_eq!(cluster.node(1).role(), Role::Leader);
}

#[test]
fn a_lagging_voter_answers_a_candidate_of_a_configuration_it_has_not_seen() {
    // Node 2 still has {1, 2, 3}; meanwhile node 9 was added and now campaigns. Refusing it because
    // it is not in node 2's configuration could leave the newer configuration without any leader
    // (Raft thesis 4.2.1: servers answer requests without consulting their configuration).
    let mut cluster = elected(true, true);
    cluster.node_mut(2).ready();
    cluster.node_mut(2).step(Message {
        from: 9,
        to: 2,
        term: 50,
        body: MessageBody::RequestVote {
            pre_vote: false,
            last_log_index: 99,
            last_log_term: 49,
            leader_transfer: true,
        },
    });
    assert_eq!(cluster.node(2).term(), 50);
    assert_eq!(cluster.node(2).hard_state().vote, Some(9));
    let ready = cluster.node_mut(2).ready();
    let answers: Vec<&Message> = ready.messages.iter().chain(&ready.messages_after_persist).collect();
    assert!(
        answers.iter().any(|message| message.to == 9
            && message.body == MessageBody::RequestVoteResponse { pre_vote: false, granted: true }),
        "{answers:?}"
    );
}

#[test]
fn a_node_outside_the_voters_never_campaigns() {
    // A joining process (no configuration yet) and a member started with a list that lacks it.
    for restore in [RestoreState::default(), RestoreState::new_cluster([1, 2, 3])] {
        let mut node = Raft::new(Config::new(4, 1), restore).unwrap();
        node.ready();
        let term = node.term();
        for _ in 0..100 {
            node.tick();
        }
        node.campaign();
        assert_eq!((node.role(), node.term()), (Role::Follower, term));
        assert!(!node.has_ready());
    }
}

#[test]
fn a_truncated_configuration_change_reverts_the_configuration() {
    let mut node = Raft::new(config(2, false, false), restored(&[1, 2, 3], &[1], 1, 1)).unwrap();
    let add = change(ConfChangeTransition::Auto, &[(ConfChangeKind::AddVoter, 4)]);
    node.step(Message {
        from: 1,
        to: 2,
        term: 1,
        body: MessageBody::AppendEntries {
            prev_log_index: 1,
            prev_log_term: 1,
            entries: vec![Entry { term: 1, index: 2, payload: EntryPayload::ConfChange(add) }],
            leader_commit: 1,
        },
    });
    assert!(node.conf_state().voters.contains(&4), "in effect once appended");
    node.step(Message {
        from: 3,
        to: 2,
        term: 2,
        body: MessageBody::AppendEntries {
            prev_log_index: 1,
            prev_log_term: 1,
            entries: vec![Entry { term: 2, index: 2, payload: EntryPayload::Empty }],
            leader_commit: 1,
        },
    });
    assert_eq!(node.conf_state(), &ConfState::with_voters([1, 2, 3]), "reverted with the truncation");
}
