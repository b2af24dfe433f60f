//! The safety checks that run after every event: terms and votes made durable before they were
//! announced (and still there after a restart), one vote per term, commit and applied indexes that
//! never go back, the leader's commit rule, election safety, committed entries that never change,
//! leader completeness, state machine safety, and (every `LOG_MATCHING_EVERY_EVENTS` events) log matching.

use std::collections::BTreeMap;

use raft::{Entry, Index, Message, MessageBody, NodeId, Role, Term};

use super::{Check, Failure, World};
use crate::cluster::{NodeView, SimNode};

/// How often the (quadratic) log matching check runs, in events.
pub(super) const LOG_MATCHING_EVERY_EVENTS: u64 = 997;

impl World<'_> {
    /// Tracks what a message proves the sender has made durable: its term, and a vote it granted
    /// (which must be its only one in that term).
    pub(super) fn record_sent(&mut self, message: &Message) -> Result<(), Failure> {
        let pre_vote = matches!(
            message.body,
            MessageBody::RequestVote { pre_vote: true, .. }
                | MessageBody::RequestVoteResponse { pre_vote: true, .. }
        );
        if pre_vote {
            return Ok(());
        }
        let member = self.members.get_mut(&message.from).expect("member exists");
        member.durable_term = member.durable_term.max(message.term);
        if let MessageBody::RequestVoteResponse { granted: true, .. } = message.body {
            let previous = *member.granted_votes.entry(message.term).or_insert(message.to);
            if previous != message.to {
                return Err(self.fail(
                    Check::DoubleVote,
                    format!(
                        "node {} granted its vote in term {} to both {previous} and {}",
                        message.from, message.term, message.to
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A member that just started: the terms and votes it announced before the crash must have
    /// survived it.
    pub(super) fn check_durable_state_survived(&self, id: NodeId, view: &NodeView) -> Result<(), Failure> {
        let member = &self.members[&id];
        if view.term < member.durable_term {
            return Err(self.fail(
                Check::DurableTermLost,
                format!(
                    "node {id} restarted at term {} after announcing term {}",
                    view.term, member.durable_term
                ),
            ));
        }
        if let Some(&candidate) = member.granted_votes.get(&view.term)
            && view.vote != Some(candidate)
        {
            return Err(self.fail(
                Check::DurableVoteLost,
                format!(
                    "node {id} restarted in term {} with vote {:?} after granting its vote to {candidate}",
                    view.term, view.vote
                ),
            ));
        }
        Ok(())
    }

    /// Checks one member after an event; says whether it just became leader.
    pub(super) fn check_member(&mut self, id: NodeId) -> Result<bool, Failure> {
        let member = &self.members[&id];
        let Some(node) = member.node.as_deref() else { return Ok(false) };
        let view = node.view();
        let previous = member.last_view;
        self.check_commit_within_log(id, &view)?;
        if let Some(previous) = &previous {
            self.check_nothing_went_back(id, previous, &view)?;
        }
        self.check_leader_commit_rule(id, node, previous.as_ref(), &view)?;
        let became_leader = view.role == Role::Leader
            && previous.is_none_or(|previous| previous.role != Role::Leader || previous.term != view.term);
        self.check_election_safety(id, &view)?;
        self.check_committed_entries(id, &view)?;
        if became_leader {
            self.check_leader_completeness(id, &view)?;
        }
        if previous.is_none_or(|previous| previous.applied != view.applied) && view.applied > 0 {
            self.check_state_machine_safety(id, &view)?;
        }
        self.remember_view(id, view);
        Ok(became_leader)
    }

    /// The member's running node (the caller checked it runs).
    fn running_node(&self, id: NodeId) -> &dyn SimNode {
        self.members[&id].node.as_deref().expect("the member runs")
    }

    /// The commit index never lies beyond the log (or the snapshot that covers its start).
    fn check_commit_within_log(&self, id: NodeId, view: &NodeView) -> Result<(), Failure> {
        let log_end = view.last_index.max(view.first_index.saturating_sub(1));
        if view.commit > 0 && view.commit > log_end {
            return Err(self.fail(
                Check::CommitRegressed,
                format!("node {id} commit {} beyond its last index {}", view.commit, view.last_index),
            ));
        }
        Ok(())
    }

    /// Within one process life, commit index, applied index and term never go back.
    fn check_nothing_went_back(
        &self,
        id: NodeId,
        previous: &NodeView,
        view: &NodeView,
    ) -> Result<(), Failure> {
        if view.commit < previous.commit {
            return Err(self.fail(
                Check::CommitRegressed,
                format!("node {id} commit went back from {} to {}", previous.commit, view.commit),
            ));
        }
        if view.applied < previous.applied {
            return Err(self.fail(
                Check::AppliedRegressed,
                format!("node {id} applied index went back from {} to {}", previous.applied, view.applied),
            ));
        }
        if view.term < previous.term {
            return Err(self.fail(
                Check::DurableTermLost,
                format!("node {id} term went back from {} to {}", previous.term, view.term),
            ));
        }
        Ok(())
    }

    /// Raft §5.4.2: a leader advances its commit index only onto an entry of its own term (older
    /// entries are committed indirectly, never by counting their replicas).
    fn check_leader_commit_rule(
        &self,
        id: NodeId,
        node: &dyn SimNode,
        previous: Option<&NodeView>,
        view: &NodeView,
    ) -> Result<(), Failure> {
        if view.role == Role::Leader
            && previous.is_some_and(|previous| previous.role == Role::Leader && previous.term == view.term)
            && previous.is_some_and(|previous| view.commit > previous.commit)
            && let Some(entries) = node.entries(view.commit, view.commit)
            && let Some(entry) = entries.first()
            && entry.term != view.term
        {
            return Err(self.fail(
                Check::LeaderCommitRule,
                format!(
                    "leader {id} of term {} advanced its commit to index {} whose entry is of term {}",
                    view.term, view.commit, entry.term
                ),
            ));
        }
        Ok(())
    }

    /// Election safety: at most one leader per term, ever.
    fn check_election_safety(&mut self, id: NodeId, view: &NodeView) -> Result<(), Failure> {
        if view.role != Role::Leader {
            return Ok(());
        }
        let leader = *self.leaders.entry(view.term).or_insert(id);
        if leader != id {
            return Err(self.fail(
                Check::ElectionSafety,
                format!("nodes {leader} and {id} both became leader in term {}", view.term),
            ));
        }
        Ok(())
    }

    /// Committed entries never change, on any member: the ones this member committed since the last
    /// check match the cluster's record, and the new ones join it.
    fn check_committed_entries(&mut self, id: NodeId, view: &NodeView) -> Result<(), Failure> {
        let checked_commit = self.members[&id].checked_commit;
        if view.commit <= checked_commit {
            return Ok(());
        }
        let from = (checked_commit + 1).max(view.first_index);
        if from > view.commit {
            return Ok(());
        }
        let Some(entries) = self.running_node(id).entries(from, view.commit) else { return Ok(()) };
        for entry in entries {
            match self.committed.get(&entry.index) {
                Some(known) if *known != entry => {
                    return Err(self.fail(
                        Check::CommittedEntryChanged,
                        format!(
                            "node {id} committed {:?} at index {} where {:?} was committed before",
                            entry, entry.index, known
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    self.committed.insert(entry.index, entry);
                }
            }
        }
        Ok(())
    }

    /// Leader completeness: a new leader holds every entry committed so far (that it has not
    /// compacted into its snapshot).
    fn check_leader_completeness(&self, id: NodeId, view: &NodeView) -> Result<(), Failure> {
        let first = view.first_index;
        let known: Vec<(Index, Term)> =
            self.committed.range(first..).map(|(index, entry)| (*index, entry.term)).collect();
        let Some(&(last_committed, _)) = known.last() else { return Ok(()) };
        let held =
            self.running_node(id).entries(first, last_committed.min(view.last_index)).unwrap_or_default();
        let held: BTreeMap<Index, Term> = held.iter().map(|entry| (entry.index, entry.term)).collect();
        for (index, term) in known {
            if held.get(&index) != Some(&term) {
                return Err(self.fail(
                    Check::LeaderCompleteness,
                    format!(
                        "node {id} became leader of term {} without committed entry {index} (term {term}); it has {:?}",
                        view.term,
                        held.get(&index)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// State machine safety: the same applied index means the same store, on every member.
    fn check_state_machine_safety(&mut self, id: NodeId, view: &NodeView) -> Result<(), Failure> {
        let digest = self.running_node(id).store_digest();
        let (known, by) = *self.digests.entry(view.applied).or_insert((digest, id));
        if known != digest {
            return Err(self.fail(
                Check::StateMachineSafety,
                format!(
                    "node {id} store at applied index {} differs from node {by}'s at the same index",
                    view.applied
                ),
            ));
        }
        Ok(())
    }

    /// Remembers what the member looked like after this event. An added member is given to clients
    /// once it follows a leader (an operator adds its URL to the clients' endpoint lists after it
    /// joined).
    fn remember_view(&mut self, id: NodeId, view: NodeView) {
        let member = self.members.get_mut(&id).expect("member exists");
        member.checked_commit = member.checked_commit.max(view.commit);
        member.last_view = Some(view);
        if !member.announced && view.leader.is_some() && view.applied > 0 {
            member.announced = true;
        }
    }

    /// Log matching: two logs holding an entry of the same term at the same index are identical up to
    /// that index (compared pairwise over the running members).
    pub(super) fn check_log_matching(&self) -> Result<(), Failure> {
        let logs: Vec<(NodeId, Vec<Entry>)> = self
            .members
            .iter()
            .filter_map(|(id, member)| {
                let node = member.node.as_ref()?;
                let view = node.view();
                let entries = node.entries(view.first_index, view.last_index).unwrap_or_default();
                Some((*id, entries))
            })
            .collect();
        for (position, (first_id, first_log)) in logs.iter().enumerate() {
            for (second_id, second_log) in logs.iter().skip(position + 1) {
                if let Some((agreed, first_entry, second_entry)) = log_mismatch(first_log, second_log) {
                    return Err(self.fail(
                        Check::LogMatching,
                        format!(
                            "nodes {first_id} and {second_id} agree on index {} term {} but differ at index {}: {:?} vs {:?}",
                            agreed.index, agreed.term, first_entry.index, first_entry, second_entry
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Where two logs break log matching, if they do: the last entry of the same term at the same index
/// in both, and the first pair of different entries up to it.
fn log_mismatch<'a>(
    first_log: &'a [Entry],
    second_log: &'a [Entry],
) -> Option<(&'a Entry, &'a Entry, &'a Entry)> {
    let (first_start, second_start) = (first_log.first()?.index, second_log.first()?.index);
    let start = first_start.max(second_start);
    let end = (first_start + first_log.len() as Index).min(second_start + second_log.len() as Index);
    if start >= end {
        return None; // no overlap
    }
    let first_slice = &first_log[(start - first_start) as usize..];
    let second_slice = &second_log[(start - second_start) as usize..];
    let overlap = first_slice.len().min(second_slice.len());
    // The last index where both hold an entry of the same term: everything up to it must match.
    let matching =
        (0..overlap).rev().find(|&offset| first_slice[offset].term == second_slice[offset].term)?;
    let differing = (0..=matching).find(|&offset| first_slice[offset] != second_slice[offset])?;
    Some((&first_slice[matching], &first_slice[differing], &second_slice[differing]))
}
