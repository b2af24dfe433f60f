//! The clients' workload: what each client asks next (and on which key and member), recording its
//! requests in the history, handing them to members, and recording answers and timeouts.

use std::collections::BTreeMap;

use raft::NodeId;
use rand::RngExt;

use super::World;
use super::events::Event;
use super::trace::result_code;
use crate::history::Time;
use crate::history::{NEVER, Operation, OperationKind, OperationResult};
use crate::plan::MILLISECOND;

/// Bound on a client's requests in flight: one operation and one background watch. It also bounds
/// the history: an event invokes at most this many (a client's next operation and a watch beside
/// it), and the event budget bounds the events.
const REQUESTS_IN_FLIGHT_PER_CLIENT: usize = 2;

pub(super) struct Client {
    /// Its operation in flight (request id, history index).
    pub(super) pending: Option<(u64, usize)>,
    /// The last value this client knows per key, to make compare-and-swap likely to succeed.
    pub(super) known_values: BTreeMap<u32, u64>,
    /// The highest modifiedIndex (or, for a key found missing, store index) this client saw per key:
    /// its watches wait for what comes after it.
    pub(super) known_indexes: BTreeMap<u32, u64>,
    /// Its watch in the background (request id, history index), beside its operations, as an etcd
    /// client runs a watcher while it reads and writes.
    pub(super) watch: Option<(u64, usize)>,
    /// Per v3 key, the value and mod_revision this client last saw (for its compare-and-puts).
    pub(super) v3_known: BTreeMap<u32, (u64, u64)>,
    /// The newest v3 revisions this client saw (at most `REMEMBERED_REVISIONS`), oldest first.
    pub(super) v3_revisions: Vec<u64>,
    /// The lease this client holds, once granted (until it finds it gone or revokes it).
    pub(super) v3_lease: Option<i64>,
    /// Its v3 watch stream (an index into `World::v3_streams`), beside its operations.
    pub(super) v3_watch: Option<usize>,
    /// The workload is over for it.
    pub(super) finished: bool,
}

impl Client {
    pub(super) fn new() -> Client {
        Client {
            pending: None,
            known_values: BTreeMap::new(),
            known_indexes: BTreeMap::new(),
            watch: None,
            v3_known: BTreeMap::new(),
            v3_revisions: Vec::new(),
            v3_lease: None,
            v3_watch: None,
            finished: false,
        }
    }
}

impl World<'_> {
    /// The client's next operation (and maybe a watch beside it), sent to a random member; or the
    /// end of its workload.
    pub(super) fn client_next(&mut self, client: usize) {
        if self.clients[client].pending.is_some() || self.clients[client].finished {
            return;
        }
        if self.now >= self.workload_end {
            self.clients[client].finished = true;
            return;
        }
        self.client_watch(client);
        self.client_v3_watch(client);
        let (key, kind) = self.next_operation(client);
        let endpoints = self.endpoints();
        let node = endpoints[self.random.random_range(0..endpoints.len())];
        let (request_id, operation_index) = self.invoke(client, node, key, &kind);
        if !self.submit(node, request_id, operation_index, key, &kind) {
            // Connection refused: certainly not executed; try again after a pause.
            let think_ns = self.plan.think_time_ns.max(MILLISECOND);
            self.schedule(self.now + think_ns, Event::ClientNext { client });
            return;
        }
        self.clients[client].pending = Some((request_id, operation_index));
        self.await_answer(client, request_id, operation_index);
        self.schedule(self.now + self.plan.client_timeout_ns, Event::ClientTimeout { client, request_id });
        self.request_process(node);
    }

    /// Draws the client's next operation and its key: now and then a TTL'd set, otherwise a quorum
    /// get, a plain get or a write, in the plan's mix.
    fn next_operation(&mut self, client: usize) -> (u32, OperationKind) {
        if self.v3_chosen() {
            return self.next_v3_operation(client);
        }
        let ttl_write = self.ttl_chosen();
        let key = self.random.random_range(0..self.plan.keys);
        let roll = self.random.random_range(0..100);
        if ttl_write {
            let value = self.fresh_value();
            let ttl_seconds = self.ttl_random.random_range(1..=self.plan.max_ttl_seconds.max(1));
            (self.plan.keys, OperationKind::SetTtl { value, ttl_seconds })
        } else if roll < self.plan.quorum_get_percent {
            (self.maybe_ttl_key(key), OperationKind::Get { quorum: true })
        } else if roll < self.plan.quorum_get_percent + self.plan.plain_get_percent {
            (self.maybe_ttl_key(key), OperationKind::Get { quorum: false })
        } else {
            (key, self.next_write(client, key))
        }
    }

    /// A write on `key` with a fresh value: set, create, compare-and-swap against the value the client
    /// last saw (a create when it saw none) or delete.
    fn next_write(&mut self, client: usize, key: u32) -> OperationKind {
        let value = self.fresh_value();
        match self.random.random_range(0..100) {
            0..40 => OperationKind::Set { value },
            40..55 => OperationKind::Create { value },
            55..85 => match self.clients[client].known_values.get(&key) {
                Some(&previous) => OperationKind::CompareAndSwap { previous, value },
                None => OperationKind::Create { value },
            },
            _ => OperationKind::Delete,
        }
    }

    /// A value no write used before, so that a value read back names its write.
    pub(super) fn fresh_value(&mut self) -> u64 {
        let value = self.next_value;
        self.next_value += 1;
        value
    }

    /// Records a client's request in the history (ambiguous until answered) and in the trace; returns
    /// its request ID and its place in the history.
    pub(super) fn invoke(
        &mut self,
        client: usize,
        node: NodeId,
        key: u32,
        kind: &OperationKind,
    ) -> (u64, usize) {
        let state = &self.clients[client];
        let waiting = if matches!(kind, OperationKind::Watch { .. }) { state.watch } else { state.pending };
        assert!(waiting.is_none(), "client {client} waits for one operation and one watch at a time");
        assert!(
            self.history.last().is_none_or(|last| last.invoked_at <= self.now),
            "the history is in invocation order"
        );
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        let operation_index = self.history.len();
        assert!(self.open_operations.insert(operation_index), "a new operation is not open yet");
        assert!(
            self.history.len() < REQUESTS_IN_FLIGHT_PER_CLIENT * self.events as usize,
            "history bound: at most {REQUESTS_IN_FLIGHT_PER_CLIENT} invocations per event"
        );
        self.history.push(Operation {
            client: client as u32,
            node,
            key,
            kind: kind.clone(),
            invoked_at: self.now,
            returned_at: NEVER,
            result: OperationResult::Ambiguous,
        });
        self.hash.word(request_id);
        self.hash.word(node);
        if self.trace {
            println!(
                "{:>14}   client {client} -> node {node}: request {request_id} k{key} {kind:?}",
                self.now
            );
        }
        (request_id, operation_index)
    }

    /// Hands a recorded request to its member; false (and the operation marked failed) when the
    /// member is down, like a refused connection.
    pub(super) fn submit(
        &mut self,
        node: NodeId,
        request_id: u64,
        operation_index: usize,
        key: u32,
        kind: &OperationKind,
    ) -> bool {
        let member = self.members.get_mut(&node).expect("member exists");
        let Some(target) = member.node.as_mut() else {
            self.complete(operation_index, OperationResult::Failed, self.now);
            return false;
        };
        let wall_ns = member.clock.wall_ns(self.now);
        target.submit(request_id, key, kind, wall_ns);
        true
    }

    /// A member answered request `request_id`: a watch's answer, or the pending operation of the
    /// client that sent it (unless the client gave up on it already).
    pub(super) fn client_response(&mut self, request_id: u64, result: OperationResult) {
        if let OperationResult::V3Watch(update) = result {
            self.v3_watch_update(request_id, update);
            return;
        }
        if self.watch_response(request_id, &result) {
            return;
        }
        let Some((client, operation_index)) = self.request_owner.remove(&request_id) else {
            return; // the client gave up on it already
        };
        assert_eq!(
            self.clients[client].pending,
            Some((request_id, operation_index)),
            "a request's client waits for it"
        );
        self.hash.word(request_id);
        self.hash.word(result_code(&result));
        if self.trace {
            println!("{:>14}   client {client} <- request {request_id}: {result:?}", self.now);
        }
        let key = self.history[operation_index].key;
        self.learn_index(client, key, &result);
        self.remember_value(client, operation_index, &result);
        self.remember_v3(client, operation_index, &result);
        let returned_at = if matches!(result, OperationResult::Ambiguous) { NEVER } else { self.now };
        self.complete(operation_index, result, returned_at);
        self.clients[client].pending = None;
        let think_ns = self.plan.think_time_ns;
        self.schedule(self.now + think_ns, Event::ClientNext { client });
    }

    /// Remembers the value the answer shows on the operation's key (a read's value, a write's own).
    fn remember_value(&mut self, client: usize, operation_index: usize, result: &OperationResult) {
        let operation = &self.history[operation_index];
        match (&operation.kind, result) {
            (OperationKind::Get { .. }, OperationResult::Value { value, .. })
            | (
                OperationKind::Set { value }
                | OperationKind::SetTtl { value, .. }
                | OperationKind::Create { value }
                | OperationKind::CompareAndSwap { value, .. },
                OperationResult::Written { .. },
            ) => {
                self.clients[client].known_values.insert(operation.key, *value);
            }
            _ => {}
        }
    }

    /// The client's timeout for `request_id` fired: a watch gives up; an operation still pending
    /// becomes ambiguous and the client moves on after its think time.
    pub(super) fn client_timed_out(&mut self, client: usize, request_id: u64) {
        if self.watch_gave_up(client, request_id) {
            return;
        }
        let Some((pending, operation_index)) = self.clients[client].pending else { return };
        if pending != request_id {
            return;
        }
        self.hash.word(request_id);
        self.complete(operation_index, OperationResult::Ambiguous, NEVER);
        self.clients[client].pending = None;
        let owner = self.request_owner.remove(&request_id);
        assert_eq!(owner, Some((client, operation_index)), "a pending request has its owner");
        let think_ns = self.plan.think_time_ns;
        self.schedule(self.now + think_ns, Event::ClientNext { client });
    }

    /// The client now waits for the answer to `request_id`, recorded at `operation_index` in the history.
    pub(super) fn await_answer(&mut self, client: usize, request_id: u64, operation_index: usize) {
        let previous = self.request_owner.insert(request_id, (client, operation_index));
        assert!(previous.is_none(), "request ids are never reused");
        assert!(
            self.request_owner.len() <= REQUESTS_IN_FLIGHT_PER_CLIENT * self.clients.len(),
            "request bound exceeded"
        );
    }

    /// Records the outcome of an open operation: at most once, when it happens (or `NEVER` for an
    /// ambiguous one), never before its invocation.
    pub(super) fn complete(&mut self, operation_index: usize, result: OperationResult, returned_at: Time) {
        assert!(self.open_operations.remove(&operation_index), "an operation completes at most once");
        let operation = &mut self.history[operation_index];
        assert!(
            operation.result == OperationResult::Ambiguous && operation.returned_at == NEVER,
            "an open operation has no outcome yet"
        );
        assert!(
            returned_at == NEVER || returned_at == self.now,
            "an operation completes when it is recorded"
        );
        assert!(returned_at >= operation.invoked_at, "an operation completes after its invocation");
        assert!(
            returned_at != NEVER || result == OperationResult::Ambiguous,
            "only an ambiguous outcome never returns"
        );
        operation.result = result;
        operation.returned_at = returned_at;
    }

    /// The request bookkeeping agrees with itself: each client's pending operation and watch are open
    /// and owned by it, and nothing else is.
    pub(super) fn assert_requests_consistent(&self) {
        let mut waiting = 0;
        for (client, state) in self.clients.iter().enumerate() {
            for (request_id, operation_index) in state.pending.into_iter().chain(state.watch) {
                assert_eq!(
                    self.request_owner.get(&request_id),
                    Some(&(client, operation_index)),
                    "owner of {request_id}"
                );
                assert!(self.open_operations.contains(&operation_index), "request {request_id} is open");
                waiting += 1;
            }
        }
        assert_eq!(self.request_owner.len(), waiting, "every owned request is a client's");
        assert_eq!(self.open_operations.len(), waiting, "every open operation is a client's");
    }

    /// Whether this operation is a TTL'd set on the TTL key (its own random stream, so TTLs do not
    /// shift the other choices of a seed).
    fn ttl_chosen(&mut self) -> bool {
        self.ttl_active() && self.ttl_random.random_range(0..1000) < self.plan.ttl_per_mille
    }

    fn ttl_active(&self) -> bool {
        self.backend.supports_ttl() && self.plan.ttl_per_mille > 0
    }

    /// Reads also go to the TTL key (`plan.keys`), as often as to any other key.
    fn maybe_ttl_key(&mut self, key: u32) -> u32 {
        if self.ttl_active() && self.ttl_random.random_range(0..=self.plan.keys) == self.plan.keys {
            self.plan.keys
        } else {
            key
        }
    }
}
