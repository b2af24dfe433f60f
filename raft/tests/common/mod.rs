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
