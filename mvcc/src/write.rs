//! A write transaction (etcd's `storeTxnWrite` with the lease bookkeeping of its `put` and `delete`):
//! every change gets the next main revision and the next sub-revision; reads inside see the changes
//! made so far; `finish` makes the revision current if anything changed. Each change is also recorded
//! as a watch event.

use crate::error::Error;
use crate::key_value::{Event, EventKind, KeyValue};
use crate::keyspace::{KeyRange, Keyspace};
use crate::lessor::Lessor;
use crate::range;
use crate::requests::{
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    ResponseHeader,
};
use crate::revision::Revision;

pub(crate) struct WriteTxn<'a> {
    keyspace: &'a mut Keyspace,
    lessor: &'a mut Lessor,
    events: &'a mut Vec<Event>,
    begin_revision: i64,
    changes: i64,
}

impl<'a> WriteTxn<'a> {
    pub(crate) fn new(
        keyspace: &'a mut Keyspace,
        lessor: &'a mut Lessor,
        events: &'a mut Vec<Event>,
    ) -> Self {
        let begin_revision = keyspace.current_revision;
        WriteTxn { keyspace, lessor, events, begin_revision, changes: 0 }
    }

    pub(crate) fn keyspace(&self) -> &Keyspace {
        self.keyspace
    }

    pub(crate) fn lessor(&self) -> &Lessor {
        self.lessor
    }

    /// The revision reads inside the transaction see: the write's own once it changed something.
    pub(crate) fn read_revision(&self) -> i64 {
        if self.changes > 0 { self.begin_revision + 1 } else { self.begin_revision }
    }

    fn next_revision(&mut self) -> Revision {
        let revision = Revision::new(self.begin_revision + 1, self.changes);
        self.changes += 1;
        revision
    }

    pub(crate) fn range(&self, request: &RangeRequest) -> Result<RangeResponse, Error> {
        range::range(self.keyspace, request, self.read_revision())
    }

    /// etcd's Put: the previous version is read when `prev_kv` or an `ignore_*` flag needs it; an
    /// `ignore_*` flag on a missing key fails before anything changes. The lease, if any, must exist.
    pub(crate) fn put(&mut self, request: &PutRequest) -> Result<PutResponse, Error> {
        let needs_previous = request.prev_kv || request.ignore_value || request.ignore_lease;
        let previous =
            if needs_previous { self.keyspace.get(&request.key, self.read_revision()) } else { None };
        let (value, lease) = match (&previous, request.ignore_value || request.ignore_lease) {
            (None, true) => return Err(Error::KeyNotFound),
            (Some(previous), true) => (
                if request.ignore_value { previous.value.clone() } else { request.value.clone() },
                if request.ignore_lease { previous.lease } else { request.lease },
            ),
            (_, false) => (request.value.clone(), request.lease),
        };
        assert!(
            lease == 0 || self.lessor.exists(lease),
            "put into lease {lease}, which was checked to exist"
        );
        let revision = self.next_revision();
        let outcome = self.keyspace.put(&request.key, value, lease, revision);
        if outcome.previous_lease != 0 {
            self.lessor.detach(outcome.previous_lease, &outcome.key);
        }
        if lease != 0 {
            self.lessor.attach(lease, outcome.key);
        }
        self.events.push(Event { kind: EventKind::Put, kv: outcome.key_value, prev_kv: None });
        let prev_kv = if request.prev_kv { previous } else { None };
        Ok(PutResponse { header: ResponseHeader { revision: self.begin_revision + 1 }, prev_kv })
    }

    /// etcd's DeleteRange: deletes the keys of the range live now (in key order, one sub-revision
    /// each), detaching their leases. The header has the write's revision once anything changed.
    pub(crate) fn delete_range(&mut self, request: &DeleteRangeRequest) -> DeleteRangeResponse {
        let range = KeyRange::new(&request.key, &request.range_end);
        let live = self.keyspace.live_at(range, self.read_revision());
        let prev_kvs = if request.prev_kv {
            live.iter().map(|(_, revision)| self.keyspace.record(*revision).to_key_value(*revision)).collect()
        } else {
            Vec::new()
        };
        for (key, _) in &live {
            let revision = self.next_revision();
            let previous_lease = self.keyspace.tombstone(key, revision);
            if previous_lease != 0 {
                self.lessor.detach(previous_lease, key);
            }
            let kv = KeyValue { key: key.to_vec(), mod_revision: revision.main, ..KeyValue::default() };
            self.events.push(Event { kind: EventKind::Delete, kv, prev_kv: None });
        }
        DeleteRangeResponse {
            header: ResponseHeader { revision: self.read_revision() },
            deleted: live.len() as i64,
            prev_kvs,
        }
    }

    /// Ends the transaction; returns the current revision after it.
    pub(crate) fn finish(self) -> i64 {
        if self.changes > 0 {
            self.keyspace.advance(self.begin_revision + 1);
        }
        self.keyspace.current_revision
    }
}
