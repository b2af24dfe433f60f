//! One Raft Ready at a time: record a snapshot the shell finished writing, then for each Ready send what
//! may leave before the fsync, write and fsync the WAL (etcd's MustSync rule), acknowledge persistence
//! to Raft, release the messages that needed it, apply committed entries, serve confirmed reads, and
//! start a snapshot when due.

use raft::{Entry, HardState, Message};

#[cfg(feature = "planted-bugs")]
use super::PlantedBug;
use super::{Node, NodeError, Output};

impl Node {
    pub(super) fn process_sending_early(
        &mut self,
        send_now: Option<&mut dyn FnMut(Message)>,
    ) -> Result<Output, NodeError> {
        if let Some(failure) = &self.failure {
            return Err(NodeError::Failed(failure.clone()));
        }
        match self.process_ready(send_now) {
            Ok(output) => Ok(output),
            Err(error) => {
                self.failure = Some(error.to_string());
                Err(error)
            }
        }
    }

    pub(super) fn process_ready(
        &mut self,
        mut send_now: Option<&mut dyn FnMut(Message)>,
    ) -> Result<Output, NodeError> {
        let mut output = std::mem::take(&mut self.carried);
        self.finish_snapshot()?;
        self.start_read_round();
        while self.raft.has_ready() {
            let ready = self.raft.ready();
            let persisted_point = ready.persisted_point();
            if let Some(soft_state) = ready.soft_state {
                if soft_state.role != self.soft_state.role {
                    self.on_role_change_for_leases(soft_state.role);
                }
                self.soft_state = soft_state;
                output.soft_state = Some(soft_state);
            }
            // Leader appends and heartbeats may leave before the local fsync (Raft thesis §10.2.1).
            match send_now.as_mut() {
                Some(send_now) => ready.messages.into_iter().for_each(send_now),
                None => output.messages.extend(ready.messages),
            }
            if let Some(snapshot) = &ready.snapshot {
                self.install_snapshot(snapshot)?;
            }
            self.persist(ready.hard_state.as_ref(), &ready.entries)?;
            if let Some((index, term)) = persisted_point {
                self.raft.on_persisted(index, term);
            }
            output.messages.extend(ready.messages_after_persist);
            for entry in ready.committed_entries {
                self.apply(entry);
            }
            for read_state in ready.read_states {
                self.on_read_state(read_state);
            }
            self.serve_confirmed_reads();
            self.maybe_snapshot();
        }
        self.route_watch_events();
        self.replay_v3_watches();
        self.check_leader_move();
        self.assert_cursors();
        output.answers = std::mem::take(&mut self.answers);
        output.removed = self.removed_self;
        // A job made while the node opened is carried in `output` already; at most one is in flight.
        if let Some(job) = self.snapshot_job.take() {
            assert!(output.snapshot_job.is_none(), "two snapshot jobs in flight");
            output.snapshot_job = Some(job);
        }
        Ok(output)
    }

    #[cfg(feature = "planted-bugs")]
    pub(super) fn sync_before_ack(&self) -> bool {
        self.config.planted_bug != Some(PlantedBug::AckBeforeDurable)
    }

    #[cfg(not(feature = "planted-bugs"))]
    pub(super) fn sync_before_ack(&self) -> bool {
        true
    }

    /// The simulator plants a double vote to prove its checker finds one; the assertion must not
    /// find it first.
    #[cfg(feature = "planted-bugs")]
    fn double_vote_planted(&self) -> bool {
        self.config.planted_bug == Some(PlantedBug::Raft(raft::PlantedBug::DoubleVote))
    }

    #[cfg(not(feature = "planted-bugs"))]
    fn double_vote_planted(&self) -> bool {
        false
    }

    /// Writes a Ready's entries and hard state to the WAL, fsyncing by etcd's MustSync rule: new
    /// entries, a new term or a new vote must be durable before anyone hears of them. A commit index
    /// alone is a hint a crash may lose (the leader tells it again), so it rides along with the next
    /// fsync instead of costing one of its own: this halves the fsyncs of every write.
    fn persist(&mut self, hard_state: Option<&HardState>, entries: &[Entry]) -> Result<(), NodeError> {
        if hard_state.is_none() && entries.is_empty() {
            return Ok(());
        }
        self.wal.save(hard_state, entries)?;
        let term_vote = hard_state.map(|state| (state.term, state.vote));
        let must_sync =
            !entries.is_empty() || term_vote.is_some_and(|term_vote| term_vote != self.durable_term_vote);
        if must_sync && self.sync_before_ack() {
            self.wal.sync()?;
        }
        if let Some((term, vote)) = term_vote {
            let (durable_term, durable_vote) = self.durable_term_vote;
            assert!(term >= durable_term, "the durable term went back from {durable_term} to {term}");
            assert!(
                term > durable_term
                    || durable_vote.is_none()
                    || vote == durable_vote
                    || self.double_vote_planted(),
                "a second vote in term {term}: {durable_vote:?} then {vote:?}"
            );
            self.durable_term_vote = (term, vote);
        }
        Ok(())
    }

    /// applied <= committed <= last, and neither the newest snapshot nor one in flight is ahead of
    /// what was applied.
    fn assert_cursors(&self) {
        let applied = self.raft.applied_index();
        let committed = self.raft.commit_index();
        assert_eq!(applied, self.last_applied_index, "the node and Raft disagree on the applied index");
        assert!(applied <= committed, "applied {applied} beyond committed {committed}");
        assert!(committed <= self.raft.last_index(), "committed {committed} beyond the last index");
        assert!(self.snapshot_index <= applied, "snapshot {} beyond applied {applied}", self.snapshot_index);
        if let Some(in_flight) = self.snapshot_in_flight {
            assert!(
                in_flight.index <= applied,
                "snapshot in flight {} beyond applied {applied}",
                in_flight.index
            );
        }
    }
}
