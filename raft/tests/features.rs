//! Pre-vote, ReadIndex, snapshots and membership changes where a test crafts messages or checks an
//! API answer. Cluster scenarios of the same features (check-quorum, leader transfer, joint
//! consensus, learners, snapshot installs, ...) are transcripts in `tests/scenarios/*.txt`.

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
// ReadIndex.

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
