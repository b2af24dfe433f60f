//! What clients see of the keyspace: key-value pairs at a revision and the watch events between them
//! (etcd's `mvccpb.KeyValue` and `mvccpb.Event`).

use serde::{Deserialize, Serialize};

/// One version of a key (etcd's `mvccpb.KeyValue`). `create_revision` is the revision of the put that
/// created the key's current generation, `mod_revision` the revision of this version, `version` counts
/// the puts since the creation (1 for the creating put), `lease` is 0 when the key has no lease.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub value: Vec<u8>,
    pub lease: i64,
}

/// Whether an event put a key or deleted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change as a watcher sees it (etcd's `mvccpb.Event`). For a delete, `kv` holds only the key and
/// `mod_revision` (the revision of the delete), like etcd. `prev_kv` is filled only on request
/// (`Mvcc::fill_prev_kv`): the key's version just before the event's revision, when still retained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
    pub prev_kv: Option<KeyValue>,
}
