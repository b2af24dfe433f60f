//! The rules of the Raft paper as scenarios (etcd's raft_paper_test.go served as a checklist).

mod common;

use bytes::Bytes;
use common::*;
use raft::testing::Cluster;
use raft::*;

fn vote_request(from: NodeId, to: NodeId, term: Term, last_log_index: Index, last_log_term: Term) -> Message {
    Message {
        from,
        to,
        term,
        body: MessageBody::RequestVote {
            pre_vote: false,
            last_log_index,
            last_log_term,
            leader_transfer: false,
        },
    }
}

fn granted(ready: &Ready) -> Vec<(NodeId, bool)> {
    ready
        .messages_after_persist
        .iter()
        .filter_map(|message| match message.body {
            MessageBody::RequestVoteResponse { granted, .. } => Some((message.to, granted)),
            _ => None,
        })
        .collect()
}

/// A bootstrapped member of {1, 2, 3} (log: 3 membership entries of term 1, committed), with its
/// first Ready already persisted.
fn lone_node(id: NodeId, pre_vote: bool) -> Raft {
    let mut node = Raft::new(config(id, pre_vote, false), RestoreState::new_cluster([1, 2, 3])).unwrap();
    node.ready();
    node.on_persisted(3, 1);
    node
}

// ---------------------------------------------------------------------------------------------
// Elections (§5.2).

#[test]
fn follower_that_hears_nothing_campaigns_within_t_to_2t_ticks() {
    for seed in 0..20 {
        let mut settings = config(1, false, false);
        settings.seed = seed;
        let mut node = Raft::new(settings, RestoreState::new_cluster([1, 2, 3])).unwrap();
        let mut ticks = 0;
        while node.role() == Role::Follower {
            node.tick();
            ticks += 1;
            assert!(ticks < 20, "never campaigned");
        }
        assert!((10..20).contains(&ticks), "campaigned after {ticks} ticks");
        assert_eq!(node.role(), Role::Candidate);
        assert_eq!(node.term(), 2, "the bootstrap term is 1");
        assert_eq!(node.vote(), Some(1), "votes for itself");
    }
}

#[test]
fn election_timeouts_are_randomized_per_node() {
    let mut timeouts = std::collections::BTreeSet::new();
    for id in 1..=10 {
        let mut node = Raft::new(config(id, false, false), RestoreState::new_cluster(1..=10)).unwrap();
        let mut ticks = 0;
        while node.role() == Role::Follower {
            node.tick();
            ticks += 1;
        }
        timeouts.insert(ticks);
    }
    assert!(timeouts.len() >= 3, "timeouts not spread: {timeouts:?}");
}

#[test]
fn candidate_asks_every_voter_only_after_persisting_its_vote() {
    let mut node = lone_node(1, false);
    node.campaign();
    let ready = node.ready();
    assert_eq!(ready.hard_state, Some(HardState { term: 2, vote: Some(1), commit: 3 }));
    assert!(ready.messages.is_empty());
    let mut asked: Vec<NodeId> = ready.messages_after_persist.iter().map(|message| message.to).collect();
    asked.sort();
    assert_eq!(asked, vec![2, 3]);
}

#[test]
fn candidate_wins_with_a_majority_of_grants() {
    let mut node = lone_node(1, false);
    node.campaign();
    node.ready();
    node.step(Message {
        from: 2,
        to: 1,
        term: 2,
        body: MessageBody::RequestVoteResponse { pre_vote: false, granted: true },
    });
    assert_eq!(node.role(), Role::Leader);
}

#[test]
fn candidate_loses_to_a_majority_of_rejections_and_becomes_follower() {
    let mut node = Raft::new(config(1, false, false), RestoreState::new_cluster([1, 2, 3, 4, 5])).unwrap();
    node.ready();
    node.campaign();
    for from in [2, 3, 4] {
        node.step(Message {
            from,
            to: 1,
            term: 2,
            body: MessageBody::RequestVoteResponse { pre_vote: false, granted: false },
        });
    }
    assert_eq!(node.role(), Role::Follower);
    assert_eq!(node.term(), 2);
}

#[test]
fn a_voter_grants_at_most_one_vote_per_term() {
    let mut node = lone_node(3, false);
    node.step(vote_request(1, 3, 2, 3, 1));
    assert_eq!(granted(&node.ready()), vec![(1, true)]);
    node.step(vote_request(2, 3, 2, 3, 1));
    assert_eq!(granted(&node.ready()), vec![(2, false)], "already voted for 1 in term 2");
    node.step(vote_request(1, 3, 2, 3, 1));
    assert_eq!(granted(&node.ready()), vec![(1, true)], "a repeated request from the same candidate");
    node.step(vote_request(2, 3, 3, 3, 1));
    assert_eq!(granted(&node.ready()), vec![(2, true)], "a new term, a new vote");
}

#[test]
fn a_voter_refuses_a_candidate_whose_log_is_less_up_to_date() {
    // Voter log: terms [1, 2, 2].
    let restore = restored(&[1, 2, 3], &[1, 2, 2], 2, 0);
    let cases = [
        (1, 5, false), // older last term, longer log
        (2, 2, false), // same last term, shorter log
        (2, 3, true),  // same last term, same length
        (2, 4, true),  // same last term, longer
        (3, 1, true),  // newer last term, shorter
    ];
    for (last_term, last_index, expect) in cases {
        let mut node = Raft::new(config(3, false, false), restore.clone()).unwrap();
        node.step(vote_request(1, 3, 3, last_index, last_term));
        assert_eq!(granted(&node.ready()), vec![(1, expect)], "candidate last ({last_index}, {last_term})");
    }
}

#[test]
fn candidate_returns_to_follower_on_an_append_from_a_leader_of_its_term() {
    let mut node = lone_node(1, false);
    node.campaign();
    node.step(Message {
        from: 2,
        to: 1,
        term: 2,
        body: MessageBody::AppendEntries {
            prev_log_index: 3,
            prev_log_term: 1,
            entries: vec![],
            leader_commit: 3,
        },
    });
    assert_eq!(node.role(), Role::Follower);
    assert_eq!(node.leader(), Some(2));
    assert_eq!(node.term(), 2);
}

#[test]
fn a_leader_steps_down_on_a_message_with_a_higher_term() {
    let mut cluster = Cluster::with_defaults(&[1, 2, 3], false, false);
    assert!(cluster.elect(1));
    cluster.node_mut(1).step(Message {
        from: 2,
        to: 1,
        term: 5,
        body: MessageBody::AppendEntries {
            prev_log_index: 0,
            prev_log_term: 0,
            entries: vec![],
            leader_commit: 0,
        },
    });
    assert_eq!(cluster.node(1).role(), Role::Follower);
    assert_eq!(cluster.node(1).term(), 5);
    assert_eq!(cluster.node(1).leader(), Some(2));
}

#[test]
fn a_stale_leader_is_told_the_newer_term_when_it_sends_an_append() {
    let mut node = Raft::new(config(2, true, true), restored(&[1, 2, 3], &[1], 5, 0)).unwrap();
    node.step(Message {
        from: 1,
        to: 2,
        term: 3,
        body: MessageBody::Heartbeat { commit: 0, read_context: 0 },
    });
    let ready = node.ready();
    let answer = ready.messages.iter().chain(&ready.messages_after_persist).next().expect("an answer");
    assert_eq!((answer.to, answer.term), (1, 5));
    assert_eq!(node.term(), 5);
}

#[test]
fn split_votes_are_resolved_by_a_later_election() {
    let mut cluster = Cluster::with_defaults(&[1, 2, 3, 4], false, false);
    for id in 1..=4 {
        cluster.node_mut(id).campaign();
    }
    cluster.stabilize();
    assert!(cluster.leader().is_none(), "everyone voted for itself");
    cluster.tick_all(40);
    assert!(cluster.leader().is_some());
    cluster.check_safety().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Log replication (§5.3) and commitment (§5.4).

fn append(
    from: NodeId,
    to: NodeId,
    term: Term,
    prev: (Index, Term),
    entries: &[(Index, Term)],
    commit: Index,
) -> Message {
    Message {
        from,
        to,
        term,
        body: MessageBody::AppendEntries {
            prev_log_index: prev.0,
            prev_log_term: prev.1,
            entries: entries
                .iter()
                .map(|&(index, term)| Entry {
                    index,
                    term,
                    payload: EntryPayload::Normal(Bytes::from_static(b"x")),
                })
                .collect(),
            leader_commit: commit,
        },
    }
}

fn append_answer(node: &mut Raft) -> Result<Index, (Index, RejectHint)> {
    let ready = node.ready();
    let message = ready.messages.iter().chain(&ready.messages_after_persist).next().expect("an answer");
    match &message.body {
        MessageBody::AppendEntriesResponse { result } => *result,
        other => panic!("expected an append answer, got {other:?}"),
    }
}

#[test]
fn follower_rejects_an_append_whose_previous_entry_does_not_match_and_hints_where_to_retry() {
    // Follower log terms [1, 1, 2, 2, 2]; the leader's (term 3) prev is (5, 3).
    let mut node = Raft::new(config(2, false, false), restored(&[1, 2, 3], &[1, 1, 2, 2, 2], 3, 0)).unwrap();
    node.step(append(1, 2, 3, (5, 3), &[(6, 3)], 0));
    let (rejected, hint) = append_answer(&mut node).unwrap_err();
    assert_eq!(rejected, 5);
    assert_eq!(hint, RejectHint { hint_index: 5, hint_term: 2 });
    // Too short: prev beyond the end hints the last index.
    node.step(append(1, 2, 3, (9, 3), &[], 0));
    let (_, hint) = append_answer(&mut node).unwrap_err();
    assert_eq!(hint, RejectHint { hint_index: 5, hint_term: 2 });
    assert_eq!(node.last_index(), 5, "a rejection changes nothing");
}

#[test]
fn a_duplicate_or_stale_append_never_truncates_a_longer_log() {
    let mut node = Raft::new(config(2, false, false), restored(&[1, 2, 3], &[1], 1, 0)).unwrap();
    node.step(append(1, 2, 1, (1, 1), &[(2, 1), (3, 1), (4, 1)], 0));
    assert_eq!(append_answer(&mut node), Ok(4));
    node.step(append(1, 2, 1, (1, 1), &[(2, 1)], 0));
    assert_eq!(append_answer(&mut node), Ok(2), "acknowledges only what that message carried");
    assert_eq!(node.last_index(), 4, "entries 3 and 4 survive the stale append");
}

#[test]
fn a_conflicting_suffix_is_truncated_and_replaced() {
    let mut node = Raft::new(config(2, false, false), restored(&[1, 2, 3], &[1, 1, 2, 2], 2, 1)).unwrap();
    node.step(append(1, 2, 3, (2, 1), &[(3, 3)], 1));
    assert_eq!(append_answer(&mut node), Ok(3));
    assert_eq!(terms_of(&node), vec![1, 1, 3]);
}

#[test]
fn follower_commit_follows_the_leader_but_never_beyond_what_the_message_proved() {
    let mut node = Raft::new(config(2, false, false), restored(&[1, 2, 3], &[1, 1, 1, 1], 1, 0)).unwrap();
    // Entries 3..4 may differ from the leader's: the append only proves up to 2.
    node.step(append(1, 2, 2, (1, 1), &[(2, 1)], 10));
    assert_eq!(node.commit_index(), 2);
}

#[test]
fn committed_entries_are_handed_out_only_after_they_are_locally_persisted() {
    let mut node = Raft::new(config(2, false, false), restored(&[1, 2, 3], &[], 1, 0)).unwrap();
    node.step(append(1, 2, 1, (0, 0), &[(1, 1), (2, 1)], 2));
    let ready = node.ready();
    assert_eq!(ready.entries.len(), 2);
    assert!(ready.committed_entries.is_empty(), "not durable yet");
    assert_eq!(ready.hard_state.map(|hard| hard.commit), Some(2));
    node.on_persisted(2, 1);
    let ready = node.ready();
    assert_eq!(ready.committed_entries.len(), 2);
}

#[test]
fn repairing_a_far_behind_follower_takes_one_round_trip_per_term_not_per_entry() {
    let leader: Vec<Term> = [vec![1; 3], vec![2; 50], vec![3; 50]].concat();
    let follower: Vec<Term> = [vec![1; 3], vec![2; 20], vec![2; 60]].concat();
    let mut cluster = cluster_with_logs(&[1, 2, 3], &[&leader, &follower, &leader], 3, false);
    cluster.cut.insert((1, 2));
    cluster.cut.insert((2, 1));
    assert!(cluster.elect(1));
    cluster.heal();
    let before = cluster.delivered;
    cluster.node_mut(1).tick();
    cluster.stabilize();
    assert_eq!(terms_of(cluster.node(2)), terms_of(cluster.node(1)));
    assert!(cluster.delivered - before < 20, "took {} messages", cluster.delivered - before);
}

#[test]
fn figure_8_a_leader_never_commits_an_old_term_entry_by_counting_replicas() {
    figure_8(None).unwrap();
}

#[test]
fn a_heartbeat_answer_from_a_lagging_follower_triggers_a_resend() {
    let mut cluster = Cluster::with_defaults(&[1, 2, 3], false, false);
    assert!(cluster.elect(1));
    // Everything to 3 is lost while an entry commits with 2's help.
    cluster.cut.insert((1, 3));
    cluster.propose(1, b"lost").unwrap();
    cluster.stabilize();
    assert_eq!(cluster.node(3).last_index(), 4);
    cluster.heal();
    cluster.node_mut(1).tick(); // heartbeat
    cluster.stabilize();
    assert_eq!(cluster.node(3).last_index(), 5);
    assert_eq!(cluster.node(3).commit_index(), 5);
}

#[test]
fn the_leader_streams_many_entries_per_message_within_the_byte_bound() {
    let mut cluster = Cluster::with_defaults(&[1, 2, 3], false, false);
    assert!(cluster.elect(1));
    for i in 0..100u32 {
        cluster.node_mut(1).propose(Bytes::from(i.to_be_bytes().to_vec())).unwrap();
    }
    let ready = cluster.node_mut(1).ready();
    let appends: Vec<usize> = ready
        .messages
        .iter()
        .filter_map(|message| match &message.body {
            MessageBody::AppendEntries { entries, .. } => Some(entries.len()),
            _ => None,
        })
        .collect();
    assert_eq!(appends, vec![100, 100], "one batched append per follower");
}

// ---------------------------------------------------------------------------------------------
// Restart validation.

#[test]
fn restart_refuses_state_that_contradicts_itself() {
    let voters = [1, 2, 3];
    let beyond = restored(&voters, &[1, 1], 1, 3);
    let error = Raft::new(config(1, true, true), beyond).unwrap_err();
    assert!(error.to_string().contains("commit index 3 is beyond the last log index 2"), "{error}");

    let mut null_vote = restored(&voters, &[1], 1, 0);
    null_vote.hard_state.vote = Some(0);
    let error = Raft::new(config(1, true, true), null_vote).unwrap_err();
    assert!(error.to_string().contains("vote for node 0"), "{error}");
    // A vote for a node the log never named is a vote for a candidate of a newer configuration.
    let mut newer_candidate = restored(&voters, &[1], 1, 0);
    newer_candidate.hard_state.vote = Some(9);
    assert!(Raft::new(config(1, true, true), newer_candidate).is_ok());

    let mut gap = restored(&voters, &[1, 1, 1], 1, 0);
    gap.entries.remove(1);
    let error = Raft::new(config(1, true, true), gap).unwrap_err();
    assert!(error.to_string().contains("not contiguous"), "{error}");

    let behind = restored(&voters, &[1, 2], 1, 0);
    assert!(Raft::new(config(1, true, true), behind).is_err(), "hard state term behind the log");

    assert!(Raft::new(config(0, true, true), RestoreState::new_cluster(voters)).is_err(), "id 0");
}

#[test]
fn heartbeats_carry_the_commit_index_capped_at_each_followers_match() {
    let mut cluster = Cluster::with_defaults(&[1, 2, 3], false, false);
    assert!(cluster.elect(1));
    cluster.cut.insert((1, 3));
    cluster.propose(1, b"x").unwrap();
    cluster.stabilize();
    assert_eq!(cluster.node(1).commit_index(), 5);
    cluster.node_mut(1).tick();
    let ready = cluster.node_mut(1).ready();
    let commits: Vec<(NodeId, Index)> = ready
        .messages
        .iter()
        .filter_map(|message| match message.body {
            MessageBody::Heartbeat { commit, .. } => Some((message.to, commit)),
            _ => None,
        })
        .collect();
    assert_eq!(commits, vec![(2, 5), (3, 4)], "node 3 only matches up to 4");
}

#[test]
fn leader_appends_may_leave_before_its_own_log_is_durable() {
    let mut cluster = Cluster::with_defaults(&[1, 2, 3], false, false);
    assert!(cluster.elect(1));
    cluster.node_mut(1).propose(Bytes::from_static(b"x")).unwrap();
    let ready = cluster.node_mut(1).ready();
    assert_eq!(ready.entries.len(), 1);
    assert!(ready.messages.iter().any(|message| matches!(message.body, MessageBody::AppendEntries { .. })));
    assert!(ready.messages_after_persist.is_empty());
}

#[test]
fn the_uncommitted_tail_is_bounded() {
    let mut cluster = Cluster::new(&[1, 2, 3], |id| {
        let mut settings = config(id, false, false);
        settings.max_uncommitted_bytes = 1000;
        settings
    });
    assert!(cluster.elect(1));
    cluster.isolate(1);
    let payload = Bytes::from(vec![0u8; 100]);
    let mut accepted = 0;
    while cluster.node_mut(1).propose(payload.clone()).is_ok() {
        accepted += 1;
        assert!(accepted < 100, "never refused");
    }
    assert_eq!(cluster.node_mut(1).propose(payload.clone()), Err(ProposeError::UncommittedTailFull));
    assert!((7..=9).contains(&accepted), "accepted {accepted} entries of ~124 bytes under a 1000-byte bound");
    cluster.heal();
    cluster.tick_all(1);
    assert_eq!(cluster.node(1).commit_index(), 4 + accepted);
    cluster.node_mut(1).propose(payload).unwrap();
}
