//! v3 watches: registering a watch on a key range from a start revision, handing each applied
//! revision's events to the watches in step with the log, replaying history (in bounded batches) to
//! watches that start in the past, and ending watches. Every update goes out as an answer to the
//! request that created the watch, in revision order, none repeated: a watch's `next_revision` only
//! moves forward and every event it is sent is at or past it.

use mvcc::{Event, EventKind};

use super::{Node, Reply, RequestError, WatchCreate, WatchUpdate};

/// Revisions replayed per watch and `process()` at most (etcd syncs 1000 at a time).
const MAX_REPLAY_REVISIONS: usize = 1000;
/// Watches brought up to date per `process()` at most; the others wait for the next one.
const MAX_WATCHES_REPLAYED_PER_PROCESS: usize = 64;

/// One registered v3 watch.
#[derive(Clone, Debug)]
pub(super) struct V3Watch {
    pub(super) create: WatchCreate,
    /// The first revision whose events this watch has not been sent yet.
    pub(super) next_revision: i64,
}

impl Node {
    /// Registers a watch and answers `Created` (or `Compacted` when its start was compacted away).
    pub(super) fn submit_v3_watch(&mut self, request_id: u64, create: WatchCreate) {
        if let Err(error) = mvcc::validate_range(&mvcc::RangeRequest::key(create.key.clone())) {
            return self.answer(request_id, Err(RequestError::V3(error)));
        }
        if let Err(error) = self.check_v3_watch(&create) {
            return self.answer(request_id, Err(error));
        }
        assert!(self.watcher_count() <= self.config.max_watchers, "watchers beyond their bound");
        if self.watcher_count() == self.config.max_watchers {
            self.watchers_refused += 1;
            return self.answer(request_id, Err(RequestError::TooManyWatchers));
        }
        let current = self.mvcc.current_revision();
        let compacted = self.mvcc.compacted_revision();
        if create.start_revision > 0 && create.start_revision < compacted {
            let update = WatchUpdate::Compacted { compact_revision: compacted };
            return self.answer(request_id, Ok(Reply::V3Watch(update)));
        }
        let next_revision = if create.start_revision > 0 { create.start_revision } else { current + 1 };
        let previous = self.v3_watches.insert(request_id, V3Watch { create, next_revision });
        assert!(previous.is_none(), "request {request_id} registered two v3 watches");
        self.answer(request_id, Ok(Reply::V3Watch(WatchUpdate::Created { revision: current })));
    }

    /// Forgets a v3 watch (its client canceled it or went away).
    pub(super) fn cancel_v3_watch(&mut self, watch_request_id: u64) {
        self.v3_watches.remove(&watch_request_id);
    }

    /// v2 and v3 watchers registered on this member.
    pub(super) fn watcher_count(&self) -> usize {
        self.watch_requests.len() + self.v3_watches.len()
    }

    /// Hands one applied revision's events to every watch in step with the log (whose next revision is
    /// past `revision_before`); watches still replaying history get them from the replay, and watches
    /// that start at a future revision are left alone until the log reaches it.
    pub(super) fn notify_v3_watches(&mut self, revision_before: i64, events: Vec<Event>) {
        let current = self.mvcc.current_revision();
        if self.v3_watches.is_empty() || current == revision_before {
            return;
        }
        let mut with_previous: Option<Vec<Event>> = None;
        let mut updates = Vec::new();
        for (request_id, watch) in self.v3_watches.iter_mut() {
            // Behind: the replay catches it up. Ahead (it starts at a future revision): nothing yet,
            // and its start stays where the client put it.
            if watch.next_revision <= revision_before || watch.next_revision > current {
                continue;
            }
            let source = if watch.create.prev_kv {
                with_previous.get_or_insert_with(|| {
                    let mut copy = events.clone();
                    self.mvcc.fill_prev_kv(&mut copy);
                    copy
                })
            } else {
                &events
            };
            let selected = select_events(&watch.create, source, watch.next_revision);
            assert!(current + 1 > watch.next_revision, "a watch's next revision only moves forward");
            watch.next_revision = current + 1;
            if !selected.is_empty() {
                updates.push((*request_id, WatchUpdate::Events { revision: current, events: selected }));
            }
        }
        for (request_id, update) in updates {
            self.answer(request_id, Ok(Reply::V3Watch(update)));
        }
    }

    /// Replays history to the watches behind the log, in bounded batches; a watch whose next revision
    /// was compacted away meanwhile is ended with `Compacted`.
    pub(super) fn replay_v3_watches(&mut self) {
        let current = self.mvcc.current_revision();
        let behind: Vec<u64> = self
            .v3_watches
            .iter()
            .filter(|(_, watch)| watch.next_revision <= current)
            .map(|(request_id, _)| *request_id)
            .take(MAX_WATCHES_REPLAYED_PER_PROCESS)
            .collect();
        for request_id in behind {
            self.replay_v3_watch(request_id);
        }
    }

    fn replay_v3_watch(&mut self, request_id: u64) {
        let Some(watch) = self.v3_watches.get(&request_id) else { return };
        let (create, start) = (watch.create.clone(), watch.next_revision);
        match self.mvcc.events_since(&create.key, &create.range_end, start, MAX_REPLAY_REVISIONS) {
            Ok(mut batch) => {
                assert!(batch.next_revision > start, "a replay that does not move forward");
                if create.prev_kv {
                    self.mvcc.fill_prev_kv(&mut batch.events);
                }
                let selected = select_events(&create, &batch.events, start);
                if let Some(watch) = self.v3_watches.get_mut(&request_id) {
                    watch.next_revision = batch.next_revision;
                }
                if !selected.is_empty() {
                    let update = WatchUpdate::Events { revision: batch.next_revision - 1, events: selected };
                    self.answer(request_id, Ok(Reply::V3Watch(update)));
                }
            }
            Err(compacted) => {
                self.v3_watches.remove(&request_id);
                let update = WatchUpdate::Compacted { compact_revision: compacted.compact_revision };
                self.answer(request_id, Ok(Reply::V3Watch(update)));
            }
        }
    }
}

/// The events a watch wants: in its range, at or past its next revision, and not filtered out.
fn select_events(create: &WatchCreate, events: &[Event], from_revision: i64) -> Vec<Event> {
    events
        .iter()
        .filter(|event| event.kv.mod_revision >= from_revision)
        .filter(|event| in_range(&event.kv.key, &create.key, &create.range_end))
        .filter(|event| match event.kind {
            EventKind::Put => !create.no_put,
            EventKind::Delete => !create.no_delete,
        })
        .cloned()
        .collect()
}

/// etcd's range rules: an empty end is the single key, `[0]` every key from `start` on, anything else
/// the half-open range.
fn in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
    match end {
        [] => key == start,
        [0] => key >= start,
        _ => key >= start && key < end,
    }
}
