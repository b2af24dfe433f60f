//! Linearizable reads (ReadIndex): reads taken between two `process()` calls share one ReadIndex round;
//! a confirmed read index waits until it is applied, then each read is served from the local store, if
//! the auth state lets the caller read it then. `--linearizable-reads` sends plain v2 GETs this way too.

use raft::ReadState;
use store::auth::Caller;

use super::requests::Waiting;
use super::requests::propose_error;
use super::{Node, Reply, RequestError};

impl Node {
    /// A read. Plain reads are served from the local store at once, except that until one linearizable
    /// read has been served since the process started, they go through ReadIndex too: the commit index
    /// is persisted lazily, so a restarted member may have replayed less than it had applied (and
    /// acknowledged) before the crash; a confirmed read index brings it back past everything it ever
    /// acknowledged.
    pub(super) fn submit_read(
        &mut self,
        request_id: u64,
        key: String,
        recursive: bool,
        sorted: bool,
        quorum: bool,
        caller: Caller,
    ) {
        if !quorum && !self.config.linearizable_reads && self.read_barrier_passed {
            self.serve_read(request_id, &key, recursive, sorted, &caller);
            return;
        }
        self.join_read_round(request_id, Waiting::Read { key, recursive, sorted, caller });
    }

    /// Queues a linearizable read (v2 quorum or v3 range) for the next ReadIndex round: every read
    /// taken before one `process()` shares one round, so a burst of reads costs one heartbeat round
    /// (or one forwarded ReadIndex message) instead of one each.
    pub(super) fn join_read_round(&mut self, request_id: u64, waiting: Waiting) {
        if !self.admit(request_id) {
            return;
        }
        let key = self.next_context();
        self.wait_for(key, request_id, waiting);
        self.next_read_round.push(key);
        debug_assert!(self.next_read_round.len() <= self.pending.len());
    }

    /// Starts one ReadIndex round for every read queued since the last round. A refused round fails
    /// each of its reads with the refusal.
    pub(super) fn start_read_round(&mut self) {
        if self.next_read_round.is_empty() {
            return;
        }
        let keys = std::mem::take(&mut self.next_read_round);
        let context = self.next_context();
        match self.raft.read_index(context) {
            Ok(()) => {
                let previous = self.read_rounds.insert(context, keys);
                assert!(previous.is_none(), "read round context {context} started twice");
            }
            Err(error) => {
                for key in keys {
                    if let Some(pending) = self.pending.remove(&key) {
                        self.answer(pending.request_id, Err(propose_error(error.clone())));
                    }
                }
            }
        }
    }

    /// Serves a read from the local store if the auth state lets `caller` read it (else etcd's 110,
    /// whether or not the key exists).
    fn serve_read(&mut self, request_id: u64, key: &str, recursive: bool, sorted: bool, caller: &Caller) {
        if !self.auth.allows(caller, key, false, recursive) {
            return self.answer(request_id, Err(super::auth::unauthorized()));
        }
        let result = self.store.get(key, recursive, sorted, self.now);
        self.answer(request_id, result.map(Reply::Event).map_err(RequestError::Store));
    }

    /// A round was confirmed: each of its reads still waiting may be served once `read_state.index`
    /// is applied. (A read that timed out meanwhile is gone from `pending`.)
    pub(super) fn on_read_state(&mut self, read_state: ReadState) {
        let Some(keys) = self.read_rounds.remove(&read_state.context) else { return };
        for key in keys {
            if let Some(pending) = self.pending.remove(&key) {
                self.reads_to_serve.push((read_state.index, pending));
            }
        }
    }

    /// Forgets rounds none of whose reads still wait (their confirmation was lost with a leader, and
    /// every read of theirs timed out), so `read_rounds` stays within `pending`.
    pub(super) fn forget_abandoned_read_rounds(&mut self) {
        let pending = &self.pending;
        self.read_rounds.retain(|_, keys| keys.iter().any(|key| pending.contains_key(key)));
        assert!(self.read_rounds.len() <= self.pending.len(), "read rounds beyond the reads waiting");
    }

    pub(super) fn serve_confirmed_reads(&mut self) {
        if self.reads_to_serve.is_empty() {
            return;
        }
        let applied = self.raft.applied_index();
        let (ready, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.reads_to_serve).into_iter().partition(|(index, _)| *index <= applied);
        self.reads_to_serve = waiting;
        for (_, pending) in ready {
            self.read_barrier_passed = true;
            match &pending.waiting {
                Waiting::Read { key, recursive, sorted, caller } => {
                    self.serve_read(pending.request_id, key, *recursive, *sorted, caller)
                }
                Waiting::V3Range { range, user } => {
                    self.serve_v3_range(pending.request_id, range, user.as_deref())
                }
                Waiting::Apply => unreachable!("a proposal waits for its apply, not for a read index"),
            }
        }
    }
}
