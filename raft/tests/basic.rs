//! First scenarios: elections, replication, commitment and the Ready contract.

use bytes::Bytes;
use raft::testing::Cluster;
use raft::*;

fn three() -> Cluster {
    Cluster::with_defaults(&[1, 2, 3], true, true)
}

#[test]
fn a_proposal_on_the_leader_commits_and_applies_everywhere() {
    let mut cluster = three();
    assert!(cluster.elect(1));
    cluster.propose(1, b"hello").unwrap();
    cluster.stabilize();
    for id in [1, 2, 3] {
        let node = &cluster.nodes[&id];
        assert_eq!(
            node.raft.commit_index(),
            5,
            "3 bootstrap entries, the leader's empty entry, the proposal"
        );
        assert_eq!(node.applied_data, vec![Bytes::from_static(b"hello")]);
    }
    cluster.check_safety().unwrap();
}

#[test]
fn a_proposal_on_a_follower_is_forwarded_and_with_no_leader_refused() {
    let mut cluster = three();
    assert_eq!(cluster.propose(2, b"x"), Err(ProposeError::NoLeader));
    assert!(cluster.elect(1));
    cluster.propose(2, b"forwarded").unwrap();
    cluster.stabilize();
    assert_eq!(cluster.nodes[&3].applied_data, vec![Bytes::from_static(b"forwarded")]);
}

#[test]
fn single_node_cluster_elects_itself_and_commits_after_persisting() {
    let mut cluster = Cluster::with_defaults(&[1], true, true);
    assert!(cluster.elect(1));
    cluster.propose(1, b"a").unwrap();
    cluster.stabilize();
    assert_eq!(cluster.node(1).commit_index(), 3, "bootstrap entry, empty entry, proposal");
    assert_eq!(cluster.nodes[&1].applied_data.len(), 1);
}

#[test]
fn ready_holds_vote_answers_until_the_vote_is_persisted() {
    let mut node = Raft::new(Config::new(2, 1), RestoreState::new_cluster([1, 2, 3])).unwrap();
    let bootstrap = node.ready();
    assert_eq!(bootstrap.hard_state, Some(HardState { term: 1, vote: None, commit: 3 }));
    assert_eq!(bootstrap.entries.len(), 3, "one membership entry per initial member");
    node.on_persisted(3, 1);
    node.step(Message {
        from: 1,
        to: 2,
        term: 2,
        body: MessageBody::RequestVote {
            pre_vote: false,
            last_log_index: 3,
            last_log_term: 1,
            leader_transfer: false,
        },
    });
    let ready = node.ready();
    assert_eq!(ready.hard_state, Some(HardState { term: 2, vote: Some(1), commit: 3 }));
    assert!(ready.messages.is_empty());
    assert_eq!(ready.messages_after_persist.len(), 1);
    assert!(matches!(
        ready.messages_after_persist[0].body,
        MessageBody::RequestVoteResponse { pre_vote: false, granted: true }
    ));
    assert!(!node.has_ready());
}

#[test]
fn restart_keeps_term_vote_and_log() {
    let mut cluster = three();
    assert!(cluster.elect(1));
    for i in 0..5u8 {
        cluster.propose(1, &[i]).unwrap();
    }
    cluster.stabilize();
    cluster.crash(2);
    cluster.restart(2);
    cluster.stabilize();
    let restarted = cluster.node(2);
    assert_eq!(restarted.term(), cluster.node(1).term());
    assert_eq!(restarted.last_index(), 9);
    assert_eq!(cluster.nodes[&2].applied_data.len(), 5, "re-applied from index 1 after the restart");
    assert_eq!(restarted.conf_state(), &ConfState::with_voters([1, 2, 3]));
    cluster.check_safety().unwrap();
}

#[test]
fn messages_beyond_the_outbox_cap_are_dropped_and_counted() {
    // A caller that stops draining Ready: every heartbeat still gets an answer queued, until the
    // outbox is full; the rest are dropped like a lossy network would, and counted.
    let mut node = Raft::new(Config::new(2, 1), RestoreState::new_cluster([1, 2, 3])).unwrap();
    let overflow = 100;
    for _ in 0..MAX_PENDING_MESSAGES + overflow {
        node.step(Message {
            from: 1,
            to: 2,
            term: 2,
            body: MessageBody::Heartbeat { commit: 0, read_context: 0 },
        });
    }
    assert_eq!(node.stats().dropped_messages, overflow as u64);
    let ready = node.ready();
    assert_eq!(ready.messages.len(), MAX_PENDING_MESSAGES);
    node.step(Message {
        from: 1,
        to: 2,
        term: 2,
        body: MessageBody::Heartbeat { commit: 0, read_context: 0 },
    });
    assert_eq!(node.ready().messages.len(), 1, "a drained outbox accepts messages again");
    assert_eq!(node.stats().dropped_messages, overflow as u64);
}

#[test]
fn forwarded_requests_a_non_leader_cannot_serve_are_counted_as_dropped() {
    let mut node = Raft::new(Config::new(2, 1), RestoreState::new_cluster([1, 2, 3])).unwrap();
    let propose = MessageBody::Propose { entries: vec![EntryPayload::Empty, EntryPayload::Empty] };
    node.step(Message { from: 3, to: 2, term: 0, body: propose });
    node.step(Message { from: 3, to: 2, term: 0, body: MessageBody::ReadIndex { context: 1 } });
    node.step(Message { from: 3, to: 9, term: 1, body: MessageBody::TimeoutNow });
    node.step(Message { from: 7, to: 2, term: 1, body: MessageBody::HeartbeatResponse { read_context: 0 } });
    assert_eq!(
        node.stats(),
        RaftStats {
            dropped_messages: 0,
            dropped_proposals: 2,
            dropped_reads: 1,
            malformed_messages: 1,
            non_member_messages: 1,
        }
    );
}

#[test]
fn reads_pending_when_leadership_is_lost_are_counted_as_dropped() {
    let mut cluster = Cluster::with_defaults(&[1, 2, 3], false, false);
    assert!(cluster.elect(1));
    cluster.isolate(1);
    cluster.node_mut(1).read_index(5).unwrap();
    cluster.process_ready(1);
    cluster.node_mut(1).step(Message {
        from: 2,
        to: 1,
        term: 9,
        body: MessageBody::Heartbeat { commit: 0, read_context: 0 },
    });
    assert_eq!(cluster.node(1).role(), Role::Follower);
    assert_eq!(cluster.node(1).stats().dropped_reads, 1);
}
