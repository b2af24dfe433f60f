//! Watches: registering a store watcher for a request, routing the store's watch events to the
//! requests that registered them, and forgetting watchers when they end or their client goes away.

use store::{WatchNotice, WatchStart, WatcherId};

use super::{Node, Reply, RequestError};

impl Node {
    /// A watch: answered at once from the store's history, or registered and answered `WatchStarted`
    /// now and by events later.
    pub(super) fn submit_watch(
        &mut self,
        request_id: u64,
        key: &str,
        recursive: bool,
        stream: bool,
        wait_index: Option<u64>,
    ) {
        assert!(self.watcher_count() <= self.config.max_watchers, "watchers beyond their bound");
        if self.watcher_count() == self.config.max_watchers {
            self.watchers_refused += 1;
            self.answer(request_id, Err(RequestError::TooManyWatchers));
            return;
        }
        match self.store.watch(key, recursive, stream, wait_index) {
            Ok(WatchStart::Event(event)) => self.answer(request_id, Ok(Reply::Event(event))),
            Ok(WatchStart::Registered { watcher, start_index }) => {
                let previous = self.watch_requests.insert(watcher, (request_id, stream));
                assert!(previous.is_none(), "the store handed out watcher {watcher:?} twice");
                self.watchers_by_request.insert(request_id, watcher);
                self.assert_watch_tables_agree();
                self.answer(request_id, Ok(Reply::WatchStarted { start_index }));
            }
            Err(error) => self.answer(request_id, Err(RequestError::Store(error))),
        }
    }

    /// Forgets the watch started by `watch_request_id` (its client went away).
    pub(super) fn cancel_watch(&mut self, watch_request_id: u64) {
        if let Some(watcher) = self.watchers_by_request.remove(&watch_request_id) {
            self.watch_requests.remove(&watcher);
            self.store.cancel_watch(watcher);
        }
        self.assert_watch_tables_agree();
    }

    /// The two watch tables are inverse maps of each other.
    fn assert_watch_tables_agree(&self) {
        assert_eq!(self.watch_requests.len(), self.watchers_by_request.len(), "watch tables disagree");
    }

    pub(super) fn route_watch_events(&mut self) {
        for notice in self.store.take_watch_events() {
            match notice {
                WatchNotice::Event { watcher, event } => {
                    let Some(&(request_id, stream)) = self.watch_requests.get(&watcher) else { continue };
                    self.answer(request_id, Ok(Reply::WatchEvent(event)));
                    if !stream {
                        // The store already dropped a one-shot watcher with its event.
                        self.forget_watch(watcher);
                    }
                }
                WatchNotice::Closed { watcher } => {
                    if let Some(&(request_id, _)) = self.watch_requests.get(&watcher) {
                        self.answer(request_id, Ok(Reply::WatchClosed));
                    }
                    self.forget_watch(watcher);
                }
            }
        }
    }

    pub(super) fn forget_watch(&mut self, watcher: WatcherId) {
        if let Some((request_id, _)) = self.watch_requests.remove(&watcher) {
            let forgotten = self.watchers_by_request.remove(&request_id);
            assert_eq!(forgotten, Some(watcher), "watch tables disagree on request {request_id}");
        }
        self.assert_watch_tables_agree();
    }
}
