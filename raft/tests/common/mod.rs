//! Builders shared by the scenario tests.
#![allow(dead_code)]

use bytes::Bytes;
use raft::testing::Cluster;
use raft::*;

/// A config with pre-vote and check-quorum as given (seeded by id).
pub fn config(id: NodeId, pre_vote: bool, check_quorum: bool) -> Config {
    let mut config = Config::new(id, id * 7919);
    config.pre_vote = pre_vote;
    config.check_quorum = check_quorum;
    config
}

/// Entries with the given terms at indexes 1.. (payload: the index as bytes).
pub fn log_of_terms(terms: &[Term]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(position, &term)| Entry {
            term,
            index: position as Index + 1,
            payload: EntryPayload::Normal(Bytes::from(format!("t{term}i{}", position + 1))),
        })
        .collect()
}

/// A node of `voters` restarting with the given log terms, hard-state term and commit.
pub fn restored(voters: &[NodeId], terms: &[Term], term: Term, commit: Index) -> RestoreState {
    RestoreState {
        hard_state: HardState { term, vote: None, commit },
        snapshot: None,
        entries: log_of_terms(terms),
        initial_conf: ConfState::with_voters(voters.iter().copied()),
        applied: 0,
    }
}

/// A cluster whose node `ids[i]` restarts with `logs[i]`, all at hard-state term `term`.
pub fn cluster_with_logs(ids: &[NodeId], logs: &[&[Term]], term: Term, pre_vote: bool) -> Cluster {
    Cluster::from_states(
        ids.iter()
            .zip(logs)
            .map(|(&id, terms)| (config(id, pre_vote, true), restored(ids, terms, term, 0)))
            .collect(),
    )
}

pub fn terms_of(raft: &Raft) -> Vec<Term> {
    raft.log_entries(raft.first_index(), raft.last_index()).unwrap().iter().map(|entry| entry.term).collect()
}

pub fn is_append_from(message: &Message, from: NodeId) -> bool {
    message.from == from && matches!(message.body, MessageBody::AppendEntries { .. })
}

/// Figure 8 played out. S1 (term 4 leader) gets its term-2 entry at index 2 onto a majority but not
/// its term-4 entry. It must not commit index 2, because S5 (whose index 2 is from term 3) can still
/// win and overwrite it.
pub fn figure_8(bug: Option<PlantedBug>) -> Result<(), raft::testing::Violation> {
    let ids = [1, 2, 3, 4, 5];
    let logs: [&[Term]; 5] = [&[1, 2], &[1], &[1], &[1], &[1, 3]];
    let mut cluster = Cluster::from_states(
        ids.iter()
            .zip(logs)
            .map(|(&id, terms)| {
                let mut settings = config(id, false, false);
                settings.max_message_bytes = 1; // one entry per append, so index 2 travels alone
                #[cfg(feature = "planted-bugs")]
                {
                    settings.planted_bug = bug;
                }
                let _ = bug;
                (settings, restored(&ids, terms, 3, 1))
            })
            .collect(),
    );
    cluster.isolate(5);
    cluster.cut.insert((1, 4));
    cluster.cut.insert((4, 1));
    // Let only the term-2 entry reach S2 and S3, and never let S1's commit news out: S1's messages
    // lose their term-4 entries and their commit index on the way.
    let censor = |mut message: Message| {
        if message.from == 1 {
            match &mut message.body {
                MessageBody::AppendEntries { entries, leader_commit, .. } => {
                    entries.retain(|entry| entry.term < 4);
                    *leader_commit = (*leader_commit).min(1);
                }
                MessageBody::Heartbeat { commit, .. } => *commit = (*commit).min(1),
                _ => {}
            }
        }
        message
    };
    let run = |cluster: &mut Cluster| {
        for _ in 0..10_000 {
            cluster.process_all_ready();
            let Some(message) = cluster.network.pop_front() else { break };
            cluster.deliver(censor(message));
        }
    };
    cluster.node_mut(1).campaign();
    run(&mut cluster);
    assert_eq!(cluster.node(1).role(), Role::Leader, "S2 and S3 vote for S1 in term 4");
    for _ in 0..5 {
        cluster.node_mut(1).tick();
        run(&mut cluster);
    }
    assert_eq!(terms_of(cluster.node(2)), vec![1, 2]);
    assert_eq!(terms_of(cluster.node(3)), vec![1, 2]);
    // S1 crashes; S5 comes back and is elected by S2, S3, S4 (its last term 3 beats their 2).
    cluster.crash(1);
    cluster.heal();
    cluster.isolate(1);
    for _ in 0..3 {
        cluster.elect(5);
        if cluster.node(5).role() == Role::Leader {
            break;
        }
    }
    assert_eq!(cluster.node(5).role(), Role::Leader);
    cluster.stabilize();
    assert_eq!(terms_of(cluster.node(2))[..2], [1, 3], "S5 overwrote the uncommitted index 2");
    cluster.check_safety()
}
