//! Property tests: random schedules of ticks, deliveries, drops, duplicates, reorders, crashes and
//! compactions over 3 and 5 nodes; after every step the safety checks hold. And no message content
//! can make a node panic.

mod common;

use bytes::Bytes;
use proptest::prelude::*;
use raft::testing::Cluster;
use raft::*;

#[derive(Clone, Debug)]
enum Action {
    Tick(usize),
    Deliver(usize),
    Drop(usize),
    Duplicate(usize),
    Propose(usize, u8),
    Crash(usize),
    Restart(usize),
    Compact(usize),
    /// Deliver everything in flight (and what it causes), up to a bound.
    Flush,
    /// Cut one node off (both directions) until the next heal.
    Isolate(usize),
    Heal,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        12 => (0..8usize).prop_map(Action::Tick),
        40 => (0..64usize).prop_map(Action::Deliver),
        4 => (0..64usize).prop_map(Action::Drop),
        3 => (0..64usize).prop_map(Action::Duplicate),
        8 => (0..8usize, any::<u8>()).prop_map(|(node, byte)| Action::Propose(node, byte)),
        1 => (0..8usize).prop_map(Action::Crash),
        2 => (0..8usize).prop_map(Action::Restart),
        1 => (0..8usize).prop_map(Action::Compact),
        3 => Just(Action::Flush),
        1 => (0..8usize).prop_map(Action::Isolate),
        2 => Just(Action::Heal),
    ]
}

fn run(node_count: u64, pre_vote: bool, actions: &[Action]) -> Result<(), TestCaseError> {
    let ids: Vec<NodeId> = (1..=node_count).collect();
    let mut cluster = Cluster::new(&ids, |id| {
        let mut settings = common::config(id, pre_vote, pre_vote);
        settings.election_ticks = 4;
        settings.max_message_bytes = 64; // small batches exercise more of the flow control
        settings.max_inflight_messages = 4;
        // Mutation check: RAFT_PLANTED_BUG=<name> runs the schedules against a planted bug.
        #[cfg(feature = "planted-bugs")]
        {
            settings.planted_bug = std::env::var("RAFT_PLANTED_BUG").ok().map(|name| name.parse().unwrap());
        }
        settings
    });
    let pick = |index: usize| ids[index % ids.len()];
    for action in actions {
        match *action {
            Action::Tick(node) => cluster.tick(pick(node)),
            Action::Deliver(position) => {
                // Delivering from anywhere in the queue is the reordering.
                if !cluster.network.is_empty() {
                    let position = position % cluster.network.len();
                    let message = cluster.network.remove(position).unwrap();
                    cluster.deliver(message);
                }
            }
            Action::Drop(position) => {
                if !cluster.network.is_empty() {
                    let position = position % cluster.network.len();
                    cluster.network.remove(position);
                }
            }
            Action::Duplicate(position) => {
                if !cluster.network.is_empty() && cluster.network.len() < 256 {
                    let position = position % cluster.network.len();
                    let copy = cluster.network[position].clone();
                    cluster.network.push_back(copy);
                }
            }
            Action::Propose(node, byte) => {
                let id = pick(node);
                if cluster.nodes[&id].up {
                    let _ = cluster.node_mut(id).propose(Bytes::from(vec![byte]));
                    cluster.process_ready(id);
                }
            }
            Action::Crash(node) => {
                // Keep a majority up so that progress stays possible.
                let down = cluster.nodes.values().filter(|node| !node.up).count();
                if down < (ids.len() - 1) / 2 {
                    cluster.crash(pick(node));
                }
            }
            Action::Restart(node) => {
                let id = pick(node);
                if !cluster.nodes[&id].up {
                    cluster.restart(id);
                }
            }
            Action::Flush => {
                for _ in 0..200 {
                    cluster.process_all_ready();
                    let Some(message) = cluster.network.pop_front() else { break };
                    cluster.deliver(message);
                    if cluster.check_safety().is_err() {
                        break;
                    }
                }
            }
            Action::Isolate(node) => cluster.isolate(pick(node)),
            Action::Heal => cluster.heal(),
            Action::Compact(node) => {
                let id = pick(node);
                if cluster.nodes[&id].up {
                    cluster.compact(id);
                }
            }
        }
        if let Err(violation) = cluster.check_safety() {
            return Err(TestCaseError::fail(format!("{violation:?} after {action:?}")));
        }
    }
    // Liveness once the faults stop: everyone back, network healed. A leader emerges, a new write
    // commits, and every node applies everything (no follower stays stuck in probe or snapshot).
    cluster.heal();
    for &id in &ids {
        if !cluster.nodes[&id].up {
            cluster.restart(id);
        }
    }
    let mut written = false;
    for _ in 0..200 {
        cluster.tick_all(1);
        if let Some(leader) = cluster.leader()
            && !written
            && cluster.propose(leader, b"final").is_ok()
        {
            written = true;
        }
        let target = cluster.leader().map(|leader| cluster.node(leader).commit_index());
        let converged = written
            && target.is_some_and(|target| {
                cluster
                    .nodes
                    .values()
                    .all(|node| node.applied_index == target && node.raft.commit_index() == target)
            });
        if converged {
            break;
        }
    }
    if let Err(violation) = cluster.check_safety() {
        return Err(TestCaseError::fail(format!("{violation:?} after healing")));
    }
    let leader = cluster.leader().ok_or_else(|| TestCaseError::fail("no leader after healing"))?;
    let target = cluster.node(leader).commit_index();
    for node in cluster.nodes.values() {
        prop_assert!(written, "the final write was never accepted");
        prop_assert_eq!(node.applied_index, target, "node {} stuck: {:?}", node.raft.id(), node.raft);
    }
    Ok(())
}

fn cases(default: u32) -> u32 {
    std::env::var("RAFT_PROPTEST_CASES").ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), max_shrink_iters: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn three_nodes_stay_safe_under_random_faults(actions in prop::collection::vec(action(), 1..500), pre_vote in any::<bool>()) {
        run(3, pre_vote, &actions)?;
    }

    #[test]
    fn five_nodes_stay_safe_under_random_faults(actions in prop::collection::vec(action(), 1..500), pre_vote in any::<bool>()) {
        run(5, pre_vote, &actions)?;
    }
}

fn small_index() -> impl Strategy<Value = u64> {
    prop_oneof![0..12u64, Just(u64::MAX), Just(u64::MAX - 1)]
}

fn entry() -> impl Strategy<Value = Entry> {
    (0..6u64, small_index(), prop::bool::ANY).prop_map(|(term, index, conf)| Entry {
        term,
        index,
        payload: if conf {
            EntryPayload::ConfChange(ConfChange {
                transition: ConfChangeTransition::Auto,
                changes: vec![ConfChangeSingle { kind: ConfChangeKind::RemoveNode, node_id: term }],
                context: Bytes::new(),
            })
        } else {
            EntryPayload::Normal(Bytes::from_static(b"p"))
        },
    })
}

fn body() -> impl Strategy<Value = MessageBody> {
    prop_oneof![
        (any::<bool>(), small_index(), 0..6u64, any::<bool>()).prop_map(
            |(pre_vote, last_log_index, last_log_term, leader_transfer)| {
                MessageBody::RequestVote { pre_vote, last_log_index, last_log_term, leader_transfer }
            }
        ),
        (any::<bool>(), any::<bool>())
            .prop_map(|(pre_vote, granted)| MessageBody::RequestVoteResponse { pre_vote, granted }),
        (small_index(), 0..6u64, prop::collection::vec(entry(), 0..4), small_index()).prop_map(
            |(prev_log_index, prev_log_term, entries, leader_commit)| MessageBody::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit
            }
        ),
        small_index().prop_map(|index| MessageBody::AppendEntriesResponse { result: Ok(index) }),
        (small_index(), small_index(), 0..6u64).prop_map(|(rejected, hint_index, hint_term)| {
            MessageBody::AppendEntriesResponse {
                result: Err((rejected, RejectHint { hint_index, hint_term })),
            }
        }),
        (small_index(), 0..3u64)
            .prop_map(|(commit, read_context)| MessageBody::Heartbeat { commit, read_context }),
        (0..3u64).prop_map(|read_context| MessageBody::HeartbeatResponse { read_context }),
        (small_index(), 0..6u64).prop_map(|(index, term)| MessageBody::InstallSnapshot {
            snapshot: Snapshot {
                meta: SnapshotMeta { index, term, conf_state: ConfState::with_voters([1, 2, 3]) },
                data: Bytes::new()
            }
        }),
        Just(MessageBody::TimeoutNow),
        Just(MessageBody::Propose { entries: vec![EntryPayload::Empty] }),
        (0..3u64).prop_map(|context| MessageBody::ReadIndex { context }),
        (0..3u64, small_index())
            .prop_map(|(context, index)| MessageBody::ReadIndexResponse { context, index }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (0..5u64, 0..5u64, 0..6u64, body()).prop_map(|(from, to, term, body)| Message { from, to, term, body })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// Garbage from the network never panics a leader or a follower, and never breaks the basic
    /// invariants (commit within the log, terms never backwards).
    #[test]
    fn no_message_content_panics_a_node(messages in prop::collection::vec(message(), 1..40), lead in any::<bool>()) {
        let mut cluster = Cluster::with_defaults(&[1, 2, 3], true, true);
        if lead {
            prop_assert!(cluster.elect(1));
        }
        for message in messages {
            let target = message.to;
            let term_before = cluster.nodes.get(&target).map(|node| node.raft.term());
            if let Some(node) = cluster.nodes.get_mut(&target) {
                node.raft.step(message);
                let raft = &node.raft;
                prop_assert!(raft.commit_index() <= raft.last_index());
                prop_assert!(Some(raft.term()) >= term_before);
            }
            cluster.process_all_ready();
            cluster.network.clear();
        }
    }
}
