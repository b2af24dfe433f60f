//! Linearizable reads (ReadIndex): a confirmed read index waits until it is applied, then the read is
//! served from the local store, if the auth state lets the caller read it then.

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
        if !quorum && self.read_barrier_passed {
            self.serve_read(request_id, &key, recursive, sorted, &caller);
            return;
        }
        if !self.admit(request_id) {
            return;
        }
        let context = self.next_context();
        match self.raft.read_index(context) {
            Ok(()) => self.wait_for(context, request_id, Waiting::Read { key, recursive, sorted, caller }),
            Err(error) => self.answer(request_id, Err(propose_error(error))),
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

    pub(super) fn on_read_state(&mut self, read_state: ReadState) {
        if let Some(pending) = self.pending.remove(&read_state.context) {
            self.reads_to_serve.push((read_state.index, pending));
        }
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
