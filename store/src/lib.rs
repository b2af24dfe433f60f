//! Concord's etcd v2 keyspace: the state machine the Raft log feeds.
//!
//! Job: keys and directories, hidden keys, TTLs, set/create/update/compareAndSwap/delete/
//! compareAndDelete/in-order create, etcd's own store index (`X-Etcd-Index`), the 1000-event history,
//! watchers with bounded queues, `/v2/stats/store` counters, canonical snapshots, and etcd 3.4's exact
//! JSON and error codes; `auth` holds etcd's v2 users, roles and permission rules.
//! Boundaries: pure and deterministic. No clock (time arrives as `now` inside each `Command`), no IO, no
//! threads, no randomness that can reach an answer. HTTP parsing, Raft and delivery of watch events to
//! connections belong to the caller.
//!
//! Contract: `Store::apply(&Command)` for committed writes (failed writes change no state and use no
//! store index), `Store::get` for local reads, `Store::watch` / `take_watch_events` / `cancel_watch` for
//! watches, `Store::expire` (or `Command::Sync`) for TTLs, `snapshot` / `restore` / `digest` for Raft
//! snapshots and cross-member checks.

pub mod auth;
mod command;
mod compact;
mod digest;
pub mod error;
mod event;
mod import;
pub mod json;
mod snapshot;
mod stats;
mod store;
mod watch;

pub use command::{Command, WriteMethod, WriteRequest};
pub use error::StoreError;
pub use event::{Action, Event, Node};
pub use import::{ImportedBody, ImportedNode};
pub use snapshot::{SnapshotError, StoreImage};
pub use stats::StoreStats;
pub use store::{MAX_KEY_DEPTH, Store, clean_path};
pub use watch::{
    DEFAULT_HISTORY_BYTES, EVENT_OVERHEAD_BYTES, HISTORY_CAPACITY, HistoryLimits, MAX_HISTORY_EVENTS,
    WATCHER_QUEUE_CAPACITY, WatchNotice, WatchStart, WatcherId, event_size_bytes,
};
