//! Watch support: the events of the last write command (for watchers in step with the log), history
//! replay from a start revision in bounded batches (for watchers that start in the past or fell behind,
//! like etcd's unsynced watchers), and previous key-values on request. Delivering events to watchers,
//! filters and cancellation belong to the node.

use crate::key_value::{Event, EventKind, KeyValue};
use crate::keyspace::{KeyRange, Record};
use crate::mvcc::Mvcc;
use crate::revision::Revision;

/// A replayed stretch of history: the events of revisions `[start, next_revision)` in the watched
/// range, in revision order. The watcher is in step when `next_revision` is past the current revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventBatch {
    pub events: Vec<Event>,
    pub next_revision: i64,
}

/// A replay that starts before the compacted revision: etcd cancels such a watch and reports the
/// compacted revision (`compact_revision` of the watch response).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compacted {
    pub compact_revision: i64,
}

pub(crate) fn event_of(revision: Revision, record: &Record) -> Event {
    if record.is_tombstone() {
        let kv = KeyValue { key: record.key.to_vec(), mod_revision: revision.main, ..KeyValue::default() };
        return Event { kind: EventKind::Delete, kv, prev_kv: None };
    }
    Event { kind: EventKind::Put, kv: record.to_key_value(revision), prev_kv: None }
}

impl Mvcc {
    /// The events of the last command applied (one revision's changes, in sub-revision order; none if
    /// it changed nothing). Every write command replaces them, so the node takes them after each one.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Replays the events of `[key, range_end)` (etcd's range rules) from `start_revision`, covering at
    /// most `max_revisions` revisions (etcd syncs 1000 at a time); call again from `next_revision`
    /// until it passes the current revision. `start_revision` 0 means "from the next write". A start
    /// before the compacted revision is `Compacted` (starting exactly at it works, like etcd).
    pub fn events_since(
        &self,
        key: &[u8],
        range_end: &[u8],
        start_revision: i64,
        max_revisions: usize,
    ) -> Result<EventBatch, Compacted> {
        assert!(max_revisions > 0, "a replay covers at least one revision");
        let keyspace = &self.keyspace;
        let current = keyspace.current_revision;
        if start_revision == 0 {
            return Ok(EventBatch { events: Vec::new(), next_revision: current + 1 });
        }
        if start_revision < keyspace.compacted_revision {
            return Err(Compacted { compact_revision: keyspace.compacted_revision });
        }
        let start = start_revision.max(1);
        if start > current {
            return Ok(EventBatch { events: Vec::new(), next_revision: start });
        }
        let span = i64::try_from(max_revisions).unwrap_or(i64::MAX);
        let end = start.saturating_add(span).min(current + 1);
        let range = KeyRange::new(key, range_end);
        let events = keyspace
            .records
            .between(Revision::first_of(start), Revision::first_of(end))
            .filter(|(_, record)| range.contains(&record.key))
            .map(|(revision, record)| event_of(revision, record))
            .collect();
        Ok(EventBatch { events, next_revision: end })
    }

    /// Fills each event's `prev_kv`: the key's version live just before the event's revision (etcd
    /// reads it at `mod_revision - 1`), when that revision is not compacted and the key existed.
    pub fn fill_prev_kv(&self, events: &mut [Event]) {
        let keyspace = &self.keyspace;
        for event in events {
            let before = event.kv.mod_revision - 1;
            event.prev_kv = if before >= keyspace.compacted_revision && before >= 1 {
                keyspace.get(&event.kv.key, before)
            } else {
                None
            };
        }
    }
}
