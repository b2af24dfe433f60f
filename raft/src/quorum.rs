//! Quorum arithmetic over a configuration: vote tallies and the committed index. The only place that
//! knows what "a majority" means, so joint configurations (two majorities) need nothing from the roles.

use std::collections::BTreeSet;

use crate::types::{ConfState, Index, NodeId};

/// The outcome of an election tally so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    /// Not decided yet: some voters have not answered.
    Pending,
    /// Cannot be won any more.
    Lost,
    /// A quorum granted.
    Won,
}

/// The tally of one majority configuration. `vote_of` returns Some(granted) for voters that answered.
/// An empty configuration wins (it is the absent half of a non-joint configuration).
pub fn majority_vote(voters: &BTreeSet<NodeId>, vote_of: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
    if voters.is_empty() {
        return VoteResult::Won;
    }
    let (mut granted, mut rejected) = (0usize, 0usize);
    for &voter in voters {
        match vote_of(voter) {
            Some(true) => granted += 1,
            Some(false) => rejected += 1,
            None => {}
        }
    }
    let quorum = voters.len() / 2 + 1;
    if granted >= quorum {
        VoteResult::Won
    } else if voters.len() - rejected < quorum {
        VoteResult::Lost
    } else {
        VoteResult::Pending
    }
}

/// The tally of a (possibly joint) configuration: both halves must win; either losing loses.
pub fn joint_vote(conf: &ConfState, vote_of: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
    let incoming = majority_vote(&conf.voters, &vote_of);
    let outgoing = majority_vote(&conf.voters_outgoing, &vote_of);
    match (incoming, outgoing) {
        (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
        (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
        _ => VoteResult::Pending,
    }
}

/// The largest index that a majority of `voters` has (`match_of` gives each voter's acknowledged
/// index; unknown voters count as 0). An empty configuration returns `Index::MAX` so that it never
/// restricts the other half of a joint configuration.
pub fn majority_committed(voters: &BTreeSet<NodeId>, match_of: impl Fn(NodeId) -> Index) -> Index {
    if voters.is_empty() {
        return Index::MAX;
    }
    // Small fixed-size fast path: clusters have a handful of voters; avoid allocating.
    let mut stack = [0 as Index; 16];
    let mut heap = Vec::new();
    let matches: &mut [Index] = if voters.len() <= stack.len() {
        for (slot, &voter) in stack.iter_mut().zip(voters) {
            *slot = match_of(voter);
        }
        &mut stack[..voters.len()]
    } else {
        heap.extend(voters.iter().map(|&voter| match_of(voter)));
        &mut heap[..]
    };
    // Sorted descending, the quorum-th largest value is held by a majority.
    matches.sort_unstable_by(|a, b| b.cmp(a));
    matches[voters.len() / 2]
}

/// The committed index of a (possibly joint) configuration: the smaller of both halves.
pub fn joint_committed(conf: &ConfState, match_of: impl Fn(NodeId) -> Index) -> Index {
    let incoming = majority_committed(&conf.voters, &match_of);
    let outgoing = majority_committed(&conf.voters_outgoing, &match_of);
    incoming.min(outgoing)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn set(ids: &[NodeId]) -> BTreeSet<NodeId> {
        ids.iter().copied().collect()
    }

    #[test]
    fn three_voters_need_two_grants_and_lose_on_two_rejections() {
        let voters = set(&[1, 2, 3]);
        let mut votes = BTreeMap::new();
        votes.insert(1, true);
        assert_eq!(majority_vote(&voters, |id| votes.get(&id).copied()), VoteResult::Pending);
        votes.insert(2, false);
        assert_eq!(majority_vote(&voters, |id| votes.get(&id).copied()), VoteResult::Pending);
        votes.insert(3, true);
        assert_eq!(majority_vote(&voters, |id| votes.get(&id).copied()), VoteResult::Won);
        votes.insert(3, false);
        assert_eq!(majority_vote(&voters, |id| votes.get(&id).copied()), VoteResult::Lost);
    }

    #[test]
    fn committed_index_is_the_median_of_five() {
        let voters = set(&[1, 2, 3, 4, 5]);
        let matches: BTreeMap<NodeId, Index> = [(1, 10), (2, 3), (3, 7), (4, 1), (5, 9)].into();
        assert_eq!(majority_committed(&voters, |id| matches[&id]), 7);
    }

    #[test]
    fn joint_configuration_needs_both_majorities() {
        let conf =
            ConfState { voters: set(&[4, 5, 6]), voters_outgoing: set(&[1, 2, 3]), ..ConfState::default() };
        let matches: BTreeMap<NodeId, Index> = [(1, 9), (2, 9), (3, 1), (4, 5), (5, 5), (6, 0)].into();
        assert_eq!(joint_committed(&conf, |id| matches[&id]), 5);
        let votes: BTreeMap<NodeId, bool> = [(1, true), (2, true), (4, true), (5, false), (6, false)].into();
        assert_eq!(joint_vote(&conf, |id| votes.get(&id).copied()), VoteResult::Lost);
        let votes: BTreeMap<NodeId, bool> = [(1, true), (2, true), (4, true)].into();
        assert_eq!(joint_vote(&conf, |id| votes.get(&id).copied()), VoteResult::Pending);
        let votes: BTreeMap<NodeId, bool> = [(1, true), (2, true), (4, true), (6, true)].into();
        assert_eq!(joint_vote(&conf, |id| votes.get(&id).copied()), VoteResult::Won);
    }
}
