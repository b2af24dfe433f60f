//! The record of elections that the liveness phase reads: when the cluster's highest term last rose
//! (a candidate, won or not), and the elections won once the faults had stopped. Once the cluster
//! settled, no term may rise any more: a rejoining, restarted or lagging member must not depose a
//! healthy leader (pre-vote and check-quorum are there for that).

use raft::{NodeId, Role, Term};

use super::World;
use crate::history::Time;
use crate::plan::seconds;

/// Bound on the elections remembered for a failure's message (all are counted).
const MAX_RECORDED_ELECTIONS: usize = 16;

/// One election won: when, by whom, in which term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Election {
    pub(super) at: Time,
    pub(super) leader: NodeId,
    pub(super) term: Term,
}

/// What the run saw of elections.
#[derive(Debug, Default)]
pub(super) struct ElectionRecord {
    /// The highest term any member reached, when it was first reached, and by whom.
    pub(super) highest_term: Term,
    pub(super) highest_term_at: Time,
    pub(super) highest_term_node: NodeId,
    /// Elections won after the fault phase ended: the first `MAX_RECORDED_ELECTIONS` of them.
    pub(super) won_after_faults: Vec<Election>,
    /// How many elections were won after the fault phase ended.
    pub(super) won_after_faults_count: u32,
    /// The last election won after the fault phase ended.
    pub(super) last_won_after_faults: Option<Election>,
}

impl ElectionRecord {
    /// Notes member `node`'s term and role after an event; `became_leader`: it just won its term.
    fn observe(&mut self, now: Time, fault_phase_over: bool, node: NodeId, term: Term, became_leader: bool) {
        if term > self.highest_term {
            self.highest_term = term;
            self.highest_term_at = now;
            self.highest_term_node = node;
        }
        if !(became_leader && fault_phase_over) {
            return;
        }
        let election = Election { at: now, leader: node, term };
        self.won_after_faults_count += 1;
        self.last_won_after_faults = Some(election);
        if self.won_after_faults.len() < MAX_RECORDED_ELECTIONS {
            self.won_after_faults.push(election);
        }
        assert!(self.won_after_faults.len() <= MAX_RECORDED_ELECTIONS, "the election record is bounded");
    }
}

impl World<'_> {
    /// Records member `id`'s term and role after the event that touched it (`became_leader`: it just
    /// won an election).
    pub(super) fn record_elections(&mut self, id: NodeId, became_leader: bool) {
        let Some(view) = self.members[&id].last_view else { return };
        if self.members[&id].node.is_none() {
            return;
        }
        debug_assert!(!became_leader || view.role == Role::Leader, "a new leader leads");
        self.elections.observe(self.now, self.fault_phase_over, id, view.term, became_leader);
    }

    /// The elections won after the faults stopped, for a failure's message.
    pub(super) fn describe_elections_after_faults(&self) -> String {
        let record = &self.elections;
        let listed: Vec<String> = record
            .won_after_faults
            .iter()
            .map(|election| {
                format!("node {} won term {} at {}", election.leader, election.term, seconds(election.at))
            })
            .collect();
        let more = record.won_after_faults_count as usize - listed.len();
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        format!(
            "{} elections won after the faults stopped: [{}]{more}",
            record.won_after_faults_count,
            listed.join(", ")
        )
    }
}
