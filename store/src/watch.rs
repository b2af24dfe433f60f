//! The event history (the last 1000 events, for `waitIndex`) and the watcher hub: registered watchers,
//! their bounded queues, and etcd's rules for which event reaches which watcher.

use crate::digest;
use crate::error::StoreError;
use crate::event::{Action, Event};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Events kept for `waitIndex` (etcd keeps 1000).
pub const HISTORY_CAPACITY: usize = 1000;

/// Events a watcher may hold before the caller drains them. A watcher that would exceed it is closed:
/// it keeps what it has, loses the rest, and is reported `Closed` (etcd closes a watcher whose 100-slot
/// channel is full; our caller drains in batches, so the bound is the size of the history).
pub const WATCHER_QUEUE_CAPACITY: usize = HISTORY_CAPACITY;

/// Identifies a registered watcher; ids are never reused by one store.
pub type WatcherId = u64;

/// The answer to `Store::watch`. (Short-lived values: the size difference between variants is fine.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchStart {
    /// `waitIndex` matched an event in the history: this is the answer (its `etcd_index` is the current
    /// store index). Nothing was registered, even for a stream watch (etcd sends exactly one event).
    Event(Event),
    /// A watcher now waits for future events; `start_index` is the `X-Etcd-Index` to send at once.
    Registered { watcher: WatcherId, start_index: u64 },
}

/// What `Store::take_watch_events` hands the caller.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchNotice {
    /// An event for a watcher. A one-shot watcher is finished after its event.
    Event { watcher: WatcherId, event: Event },
    /// The watcher fell too far behind and was closed after its queued events: end its response.
    Closed { watcher: WatcherId },
}

/// The last `HISTORY_CAPACITY` events, oldest first. Every store-index increment adds exactly one event,
/// so indexes are consecutive.
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    pub(crate) events: VecDeque<Event>,
    /// `event_hash` of each event in `events` (kept so that eviction does not rehash).
    hashes: VecDeque<u64>,
    /// Wrapping sum of `hashes`, for the state digest.
    pub(crate) hash_sum: u64,
}

impl History {
    pub(crate) fn push(&mut self, event: Event) {
        debug_assert!(self.events.back().is_none_or(|last| last.index() < event.index()));
        if self.events.len() == HISTORY_CAPACITY {
            self.events.pop_front();
            let evicted_hash = self.hashes.pop_front().unwrap_or(0);
            self.hash_sum = self.hash_sum.wrapping_sub(evicted_hash);
        }
        let hash = digest::event_hash(&event);
        self.hash_sum = self.hash_sum.wrapping_add(hash);
        self.hashes.push_back(hash);
        self.events.push_back(event);
        debug_assert_eq!(self.events.len(), self.hashes.len());
    }

    /// etcd's `EventHistory.StartIndex`: the oldest kept event's index (0 while empty).
    fn start_index(&self) -> u64 {
        self.events.front().map_or(0, Event::index)
    }

    fn last_index(&self) -> u64 {
        self.events.back().map_or(0, Event::index)
    }

    /// The first event at or after `index` that a watcher on `key` would see (refreshes excluded); a
    /// 401 if `index` predates the history; `None` if it is in the future.
    pub(crate) fn scan(
        &self,
        key: &str,
        recursive: bool,
        index: u64,
        current_index: u64,
    ) -> Result<Option<&Event>, StoreError> {
        let start_index = self.start_index();
        if index < start_index {
            return Err(StoreError::event_index_cleared(start_index, index, current_index));
        }
        if index > self.last_index() {
            return Ok(None);
        }
        let first = self.events.partition_point(|event| event.index() < index);
        let prefix = if key.ends_with('/') { key.to_string() } else { format!("{key}/") };
        for event in self.events.range(first..) {
            if event.refresh {
                continue;
            }
            let mut matches = event.node.key == key || (recursive && event.node.key.starts_with(&prefix));
            // A deleted or expired directory answers watchers of anything below it. etcd compares the
            // raw prefix (so "/foobar" also matches a deleted "/foo"); we do the same.
            if matches!(event.action, Action::Delete | Action::Expire)
                && let Some(prev_node) = &event.prev_node
                && prev_node.dir
            {
                matches = matches || key.starts_with(&prev_node.key);
            }
            if matches {
                return Ok(Some(event));
            }
        }
        Ok(None)
    }
}

#[derive(Debug)]
struct Watcher {
    key: String,
    recursive: bool,
    stream: bool,
    since_index: u64,
    queue: VecDeque<Event>,
    /// Still in `by_path`, i.e. will receive future events.
    registered: bool,
    overflowed: bool,
}

/// Registered watchers. Deterministic: watchers are kept per path in registration order, and drained
/// in id order.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    next_id: WatcherId,
    watchers: BTreeMap<WatcherId, Watcher>,
    by_path: BTreeMap<String, Vec<WatcherId>>,
    /// Watchers with queued events or a pending `Closed` notice.
    ready: BTreeSet<WatcherId>,
    registered_count: u64,
}

impl Hub {
    pub(crate) fn registered_count(&self) -> u64 {
        self.registered_count
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }

    pub(crate) fn register(
        &mut self,
        key: String,
        recursive: bool,
        stream: bool,
        since_index: u64,
    ) -> WatcherId {
        self.next_id += 1;
        let id = self.next_id;
        self.by_path.entry(key.clone()).or_default().push(id);
        let watcher = Watcher {
            key,
            recursive,
            stream,
            since_index,
            queue: VecDeque::new(),
            registered: true,
            overflowed: false,
        };
        self.watchers.insert(id, watcher);
        self.registered_count += 1;
        id
    }

    pub(crate) fn cancel(&mut self, id: WatcherId) -> bool {
        let Some(watcher) = self.watchers.remove(&id) else {
            return false;
        };
        self.ready.remove(&id);
        if watcher.registered {
            self.registered_count -= 1;
            if let Some(list) = self.by_path.get_mut(&watcher.key) {
                list.retain(|other| *other != id);
                if list.is_empty() {
                    self.by_path.remove(&watcher.key);
                }
            }
        }
        true
    }

    /// Registered watch paths equal to `path` or below it, in order.
    pub(crate) fn paths_at_or_under(&self, path: &str) -> Vec<String> {
        let mut paths = Vec::new();
        if self.by_path.contains_key(path) {
            paths.push(path.to_string());
        }
        let lower = if path == "/" { "/".to_string() } else { format!("{path}/") };
        for (watched, _) in self.by_path.range(lower.clone()..) {
            if !watched.starts_with(&lower) {
                break;
            }
            if watched != path {
                paths.push(watched.clone());
            }
        }
        paths
    }

    /// etcd's `notify`: offer the event to watchers of the key and of every ancestor.
    pub(crate) fn notify(&mut self, event: &Event) {
        if self.by_path.is_empty() {
            return;
        }
        self.notify_watchers(event, "/", false);
        let key = event.node.key.as_str();
        for (position, byte) in key.bytes().enumerate().skip(1) {
            if byte == b'/' {
                self.notify_watchers(event, &key[..position], false);
            }
        }
        if key != "/" {
            self.notify_watchers(event, key, false);
        }
    }

    /// etcd's `notifyWatchers`: offer the event to the watchers registered at `path`. `deleted` is set
    /// when `path` itself is being deleted (watchers there hear about it even if not recursive).
    pub(crate) fn notify_watchers(&mut self, event: &Event, path: &str, deleted: bool) {
        let Some(list) = self.by_path.get_mut(path) else {
            return;
        };
        let original_path = event.node.key == path;
        if !original_path && is_hidden(path, &event.node.key) {
            return;
        }
        let watchers = &mut self.watchers;
        let ready = &mut self.ready;
        let mut removed = 0;
        list.retain(|id| {
            let watcher = watchers.get_mut(id).expect("a listed watcher exists");
            if !((watcher.recursive || original_path || deleted) && event.index() >= watcher.since_index) {
                return true;
            }
            if watcher.queue.len() < WATCHER_QUEUE_CAPACITY {
                watcher.queue.push_back(event.clone());
            } else {
                watcher.overflowed = true;
            }
            ready.insert(*id);
            if watcher.stream && !watcher.overflowed {
                return true;
            }
            watcher.registered = false;
            removed += 1;
            false
        });
        self.registered_count -= removed;
        if list.is_empty() {
            self.by_path.remove(path);
        }
    }

    pub(crate) fn take(&mut self) -> Vec<WatchNotice> {
        let mut notices = Vec::new();
        for id in std::mem::take(&mut self.ready) {
            let Some(watcher) = self.watchers.get_mut(&id) else {
                continue;
            };
            for event in watcher.queue.drain(..) {
                notices.push(WatchNotice::Event { watcher: id, event });
            }
            if watcher.overflowed {
                notices.push(WatchNotice::Closed { watcher: id });
            }
            if !watcher.registered {
                self.watchers.remove(&id);
            }
        }
        notices
    }
}

/// etcd's `isHidden`: is `key` hidden from a watcher at `watch_path` (a path segment below the watch
/// path starts with `_`)? A watch path longer than the key (a child of a deleted directory) never is.
fn is_hidden(watch_path: &str, key: &str) -> bool {
    if watch_path.len() > key.len() {
        return false;
    }
    key.get(watch_path.len()..).is_some_and(|rest| rest.split('/').any(|segment| segment.starts_with('_')))
}
