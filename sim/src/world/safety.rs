//! The safety checks that run after every event: election safety, votes and terms made durable,
//! commit and applied indexes, committed entries, leader completeness, state machine safety and log
//! matching.

use std::collections::BTreeMap;

use raft::{Entry, Index, Message, MessageBody, NodeId, Role, Term};

use super::{Check, Failure, World};

/// How often the (quadratic) log matching check runs, in events.
pub(super) const LOG_MATCHING_EVERY: u64 = 997;

impl World<'_> {
    /// Tracks what a message proves the sender has made durable.
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

    /// Checks one member after an event; says whether it just became leader.
    pub(super) fn check_member(&mut self, id: NodeId) -> Result<bool, Failure> {
        let member = &self.members[&id];
        let Some(node) = member.node.as_ref() else { return Ok(false) };
        let view = node.view();
        let previous = member.last_view;
        if view.commit > view.last_index.max(view.first_index.saturating_sub(1)) && view.commit > 0 {
            // commit beyond the log is only possible with a snapshot covering it
            if view.commit > view.last_index {
                return Err(self.fail(
                    Check::CommitRegressed,
                    format!("node {id} commit {} beyond its last index {}", view.commit, view.last_index),
                ));
            }
        }
        if let Some(previous) = previous {
            if view.commit < previous.commit {
                return Err(self.fail(
                    Check::CommitRegressed,
                    format!("node {id} commit went back from {} to {}", previous.commit, view.commit),
                ));
            }
            if view.applied < previous.applied {
                return Err(self.fail(
                    Check::AppliedRegressed,
                    format!(
                        "node {id} applied index went back from {} to {}",
                        previous.applied, view.applied
                    ),
                ));
            }
            if view.term < previous.term {
                return Err(self.fail(
                    Check::DurableTermLost,
                    format!("node {id} term went back from {} to {}", previous.term, view.term),
                ));
            }
        }
        // Raft §5.4.2: a leader advances its commit index only onto an entry of its own term (older
        // entries are committed indirectly, never by counting their replicas).
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
        // Election safety: at most one leader per term, ever.
        let became_leader = view.role == Role::Leader
            && previous.is_none_or(|previous| previous.role != Role::Leader || previous.term != view.term);
        if view.role == Role::Leader {
            let leader = *self.leaders.entry(view.term).or_insert(id);
            if leader != id {
                return Err(self.fail(
                    Check::ElectionSafety,
                    format!("nodes {leader} and {id} both became leader in term {}", view.term),
                ));
            }
        }
        // Committed entries never change, on any member.
        if view.commit > member.checked_commit {
            let from = (member.checked_commit + 1).max(view.first_index);
            if from <= view.commit
                && let Some(entries) = node.entries(from, view.commit)
            {
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
            }
        }
        // Leader completeness: a new leader holds every entry committed so far.
        if became_leader {
            let first = view.first_index;
            let known: Vec<(Index, Term)> =
                self.committed.range(first..).map(|(index, entry)| (*index, entry.term)).collect();
            if let Some(&(last_committed, _)) = known.last() {
                let held = node.entries(first, last_committed.min(view.last_index)).unwrap_or_default();
                let held: BTreeMap<Index, Term> =
                    held.iter().map(|entry| (entry.index, entry.term)).collect();
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
            }
        }
        // State machine safety: the same applied index means the same store.
        if previous.is_none_or(|previous| previous.applied != view.applied) && view.applied > 0 {
            let digest = node.store_digest();
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
        }
        let member = self.members.get_mut(&id).expect("member exists");
        member.checked_commit = member.checked_commit.max(view.commit);
        member.last_view = Some(view);
        // An added member is given to clients once it follows a leader (an operator adds its URL to
        // the clients' endpoint lists after it joined).
        if !member.announced && view.leader.is_some() && view.applied > 0 {
            member.announced = true;
        }
        Ok(became_leader)
    }

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
        for (a, (id_a, log_a)) in logs.iter().enumerate() {
            for (id_b, log_b) in logs.iter().skip(a + 1) {
                let (Some(first_a), Some(first_b)) = (log_a.first(), log_b.first()) else { continue };
                let start = first_a.index.max(first_b.index);
                let end = (first_a.index + log_a.len() as Index).min(first_b.index + log_b.len() as Index);
                if start >= end {
                    continue; // no overlap
                }
                let slice_a = &log_a[(start - first_a.index) as usize..];
                let slice_b = &log_b[(start - first_b.index) as usize..];
                let overlap = slice_a.len().min(slice_b.len());
                // The last index where both hold an entry of the same term: everything up to it must match.
                let Some(matching) = (0..overlap).rev().find(|&i| slice_a[i].term == slice_b[i].term) else {
                    continue;
                };
                if let Some(i) = (0..=matching).find(|&i| slice_a[i] != slice_b[i]) {
                    return Err(self.fail(
                        Check::LogMatching,
                        format!(
                            "nodes {id_a} and {id_b} agree on index {} term {} but differ at index {}: {:?} vs {:?}",
                            slice_a[matching].index, slice_a[matching].term, slice_a[i].index, slice_a[i], slice_b[i]
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
