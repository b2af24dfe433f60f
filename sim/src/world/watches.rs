//! The clients' background watches: starting one, recording its answer, giving up on it.

use rand::RngExt;

use super::World;
use super::events::Event;
use super::trace::result_code;
use crate::history::{OperationKind, OperationResult};

impl World<'_> {
    /// Maybe starts a one-shot watch in the background of the client's next operation, when it has
    /// none running (drawing only from `watch_random`, so the operations themselves stay as they were).
    pub(super) fn client_watch(&mut self, client: usize) {
        if !self.watches_enabled
            || self.clients[client].watch.is_some()
            || self.watch_random.random_range(0..100) >= self.plan.watch_percent
        {
            return;
        }
        let key = self.watch_random.random_range(0..self.plan.keys);
        let known = self.clients[client].known_indexes.get(&key).copied();
        let roll = self.watch_random.random_range(0..10);
        let wait_index = match known {
            // The next change from the member's point of view.
            _ if roll < 3 => None,
            // The next change after what the client saw: etcd's read-then-watch pattern.
            Some(known) if roll < 8 => Some(known + 1),
            // A little older: answered at once from the member's event history.
            Some(known) if roll < 9 => {
                Some(known.saturating_sub(self.watch_random.random_range(0..20)).max(1))
            }
            // About a history's length (1000 events) back: answered from the history's oldest events
            // or 401 (EventIndexCleared).
            Some(known) if known > 900 && self.watch_random.random_bool(0.5) => {
                Some(known - self.watch_random.random_range(900..=known.min(1100)) + 1)
            }
            // Old: the first change of the key ever, or 401 once the history moved past it.
            _ => Some(self.watch_random.random_range(1..=50)),
        };
        let kind = OperationKind::Watch { wait_index };
        let endpoints = self.endpoints();
        let node = endpoints[self.watch_random.random_range(0..endpoints.len())];
        let (request_id, operation_index) = self.invoke(client, node, key, &kind);
        if !self.submit(node, request_id, operation_index, key, &kind) {
            return; // connection refused: nothing was registered
        }
        self.clients[client].watch = Some((request_id, operation_index));
        self.await_answer(client, request_id, operation_index);
        self.schedule(self.now + self.plan.watch_timeout_ns, Event::ClientTimeout { client, request_id });
        self.request_process(node);
    }

    /// Records the answer to a client's background watch; false when `request_id` is not one.
    pub(super) fn watch_response(&mut self, request_id: u64, result: &OperationResult) -> bool {
        let Some(&(client, operation_index)) = self.request_owner.get(&request_id) else { return false };
        if self.clients[client].watch != Some((request_id, operation_index)) {
            return false;
        }
        self.request_owner.remove(&request_id);
        self.clients[client].watch = None;
        self.hash.word(request_id);
        self.hash.word(result_code(result));
        if self.trace {
            println!("{:>14}   client {client} <- watch {request_id}: {result:?}", self.now);
        }
        let key = self.history[operation_index].key;
        self.learn_index(client, key, result);
        self.complete(operation_index, result.clone(), self.now);
        true
    }

    /// The client's watch `request_id` saw nothing in time: it gives up, records so and cancels the
    /// watch on its member. Returns false when `request_id` is not a pending watch of the client.
    pub(super) fn watch_gave_up(&mut self, client: usize, request_id: u64) -> bool {
        let Some((watch, operation_index)) = self.clients[client].watch else { return false };
        if watch != request_id {
            return false;
        }
        self.hash.word(request_id);
        if self.trace {
            println!("{:>14}   client {client} gives up on watch {request_id} and cancels it", self.now);
        }
        self.complete(operation_index, OperationResult::WatchTimedOut, self.now);
        let node = self.history[operation_index].node;
        self.clients[client].watch = None;
        let owner = self.request_owner.remove(&request_id);
        assert_eq!(owner, Some((client, operation_index)), "a pending watch has its owner");
        let member = self.members.get_mut(&node).expect("member exists");
        let wall_ns = member.clock.wall_ns(self.now);
        if let Some(target) = member.node.as_mut() {
            target.cancel(request_id, wall_ns);
        }
        true
    }

    /// Remembers the newest index the client saw on `key`: where its next watch may start.
    pub(super) fn learn_index(&mut self, client: usize, key: u32, result: &OperationResult) {
        let index = match *result {
            OperationResult::Written { index }
            | OperationResult::Value { index, .. }
            | OperationResult::NotFound { index }
            | OperationResult::WatchEvent { index, .. } => index,
            _ => return,
        };
        let known = self.clients[client].known_indexes.entry(key).or_insert(0);
        *known = (*known).max(index);
    }
}
