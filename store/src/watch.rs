//! The event history (the last 1000 events by default, for `waitIndex`) and the watcher hub: registered
//! watchers, their bounded queues, and etcd's rules for which event reaches which watcher.

use crate::digest;
use crate::error::StoreError;
use crate::event::{Action, Event};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Events kept for `waitIndex` by default (etcd keeps exactly 1000; `--v2-watch-history` changes it).
pub const HISTORY_CAPACITY: usize = 1000;

/// The most events a history may be configured to keep, and the most a snapshot may carry.
pub const MAX_HISTORY_EVENTS: usize = 10_000_000;

/// The default byte cap of the history: far above 1000 events of ordinary values, so only histories
/// of large values (or a large `--v2-watch-history`) are cut short by it.
pub const DEFAULT_HISTORY_BYTES: usize = 256 * 1024 * 1024;

/// The bytes an event costs in the history beyond its strings: the `Event` and `Node` structs, the
/// deque slot and its hash (measured with `size_of` on x86-64; see `event_size_bytes`).
pub const EVENT_OVERHEAD_BYTES: usize = 320;

/// Events a watcher may hold before the caller drains them. A watcher that would exceed it is closed:
/// it keeps what it has, loses the rest, and is reported `Closed` (etcd closes a watcher whose 100-slot
/// channel is full; our caller drains in batches, so the bound is etcd's history size).
pub const WATCHER_QUEUE_CAPACITY: usize = HISTORY_CAPACITY;

/// How much event history a store keeps: at most `max_events` events and at most `max_bytes` of them
/// (as `event_size_bytes` counts), the oldest evicted first. A member-local setting: members with
/// different limits answer old `waitIndex` values differently, as etcd members with different
/// histories would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryLimits {
    pub max_events: usize,
    pub max_bytes: usize,
}

impl Default for HistoryLimits {
    fn default() -> HistoryLimits {
        HistoryLimits { max_events: HISTORY_CAPACITY, max_bytes: DEFAULT_HISTORY_BYTES }
    }
}

impl HistoryLimits {
    /// Limits that never evict anything a valid snapshot holds (used while restoring one).
    pub(crate) const UNBOUNDED: HistoryLimits =
        HistoryLimits { max_events: MAX_HISTORY_EVENTS, max_bytes: usize::MAX };

    /// Refuses limits that could not keep even one event, or more events than any history may hold.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_events == 0 || self.max_events > MAX_HISTORY_EVENTS {
            return Err(format!(
                "the watch history must keep 1 to {MAX_HISTORY_EVENTS} events, not {}",
                self.max_events
            ));
        }
        if self.max_bytes < EVENT_OVERHEAD_BYTES {
            return Err(format!(
                "the watch history byte cap must be at least {EVENT_OVERHEAD_BYTES}, not {}",
                self.max_bytes
            ));
        }
        Ok(())
    }
}

/// What one event costs in the history: its strings (keys and values of the node, the previous node
/// and any child nodes an expiry lists) plus `EVENT_OVERHEAD_BYTES` per node.
pub fn event_size_bytes(event: &Event) -> usize {
    let previous_bytes = event.prev_node.as_ref().map_or(0, node_size_bytes);
    node_size_bytes(&event.node) + previous_bytes + EVENT_OVERHEAD_BYTES
}

fn node_size_bytes(node: &crate::event::Node) -> usize {
    let own_bytes = node.key.len() + node.value.as_ref().map_or(0, String::len);
    // An expiry's node lists the expired nodes one level deep; they list nothing below themselves.
    let children_bytes: usize = node
        .nodes
        .iter()
        .map(|child| child.key.len() + child.value.as_ref().map_or(0, String::len) + EVENT_OVERHEAD_BYTES)
        .sum();
    own_bytes + children_bytes
}

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

/// The last events within `limits`, oldest first. Every store-index increment adds exactly one event,
/// so indexes are consecutive.
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    pub(crate) events: VecDeque<Event>,
    /// `event_hash` and `event_size_bytes` of each event in `events` (kept so that eviction does not
    /// recompute them).
    costs: VecDeque<(u64, usize)>,
    /// Wrapping sum of the hashes, for the state digest.
    pub(crate) hash_sum: u64,
    /// Sum of the sizes in `costs`.
    size_bytes: usize,
    limits: HistoryLimits,
}

impl History {
    pub(crate) fn with_limits(limits: HistoryLimits) -> History {
        History { limits, ..History::default() }
    }

    pub(crate) fn push(&mut self, event: Event) {
        debug_assert!(self.events.back().is_none_or(|last| last.index() < event.index()));
        let hash = digest::event_hash(&event);
        let size_bytes = event_size_bytes(&event);
        self.hash_sum = self.hash_sum.wrapping_add(hash);
        self.size_bytes += size_bytes;
        self.costs.push_back((hash, size_bytes));
        self.events.push_back(event);
        self.evict_beyond_limits();
    }

    /// Changes the limits, evicting at once what the new ones do not keep.
    pub(crate) fn set_limits(&mut self, limits: HistoryLimits) {
        self.limits = limits;
        self.evict_beyond_limits();
    }

    /// Evicts the oldest events until both limits hold; the newest event always stays (a history that
    /// could not hold the last write would answer its own index with 401).
    fn evict_beyond_limits(&mut self) {
        while self.events.len() > self.limits.max_events
            || (self.size_bytes > self.limits.max_bytes && self.events.len() > 1)
        {
            self.events.pop_front();
            let (evicted_hash, evicted_size_bytes) = self.costs.pop_front().unwrap_or((0, 0));
            self.hash_sum = self.hash_sum.wrapping_sub(evicted_hash);
            self.size_bytes -= evicted_size_bytes;
        }
        debug_assert_eq!(self.events.len(), self.costs.len());
        debug_assert!(self.events.len() <= self.limits.max_events);
    }

    pub(crate) fn limits(&self) -> HistoryLimits {
        self.limits
    }

    /// The bytes the kept events cost, as `event_size_bytes` counts them.
    pub(crate) fn size_bytes(&self) -> usize {
        self.size_bytes
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
