//! Concord's Raft core: the consensus protocol as a pure, deterministic state machine.
//!
//! Job: elections (pre-vote, check-quorum), log replication with flow control, commitment, membership
//! changes, leader transfer, ReadIndex and snapshots, exactly as a function of its inputs.
//! Boundaries: no sockets, no disk, no clock, no threads, no global randomness. Time is `tick()`,
//! randomness comes from a ChaCha RNG seeded by `Config::seed`, and every effect leaves through `Ready`
//! for the caller to carry out (persist, send, apply) and acknowledge.
//!
//! The caller's loop: feed `tick`/`step`/proposals; when `has_ready()`, take `ready()`; persist its
//! snapshot, entries (truncating the stored log from `entries[0].index` when it overlaps) and hard
//! state; send `messages` at any time and `messages_after_persist` only once that is durable; call
//! `on_persisted(index, term)` with `Ready::persisted_point()`; apply `committed_entries` in order.
//!
//! Starting: a member of a brand-new cluster passes `RestoreState::new_cluster(voters)`; its first
//! Ready carries the bootstrap membership entries (one per initial member, term 1, committed) to
//! persist and apply. A process joining an existing cluster passes `RestoreState::default()` (no
//! configuration): it never campaigns and learns the membership from the leader's log or snapshot.
//! A restart passes what was persisted (hard state, snapshot, entries after it) and the same
//! `initial_conf` as at creation.
//!
//! Module map: `coverage` (a counter per protocol rule and branch, read through `Raft::coverage`),
//! `log` (the in-memory log and its cursors), `progress` (per-follower flow control),
//! `quorum` (majorities, joint or not), `confchange` (membership changes as a pure function),
//! `read_only` (ReadIndex rounds), `restore` (start-up state and its checks), `raft` (roles and the
//! step functions), `testing` (an in-memory cluster for tests and benchmarks).
//!
//! Tests: besides Rust tests, cluster scenarios are transcripts in `tests/scenarios/*.txt` (commands
//! such as `campaign 1`, `stabilize`, `status`, each followed by the output it must print), run by
//! `tests/scenarios.rs`; `REWRITE=1` rewrites the expected output. See `tests/README.md`.

pub mod confchange;
pub mod config;
pub mod coverage;
pub mod log;
pub mod progress;
pub mod quorum;
mod raft;
pub mod read_only;
mod restore;
pub mod testing;
pub mod types;

pub use config::{Config, PlantedBug};
pub use coverage::{Coverage, Rule};
pub use progress::{ProgressState, ProgressView};
pub use raft::{MAX_PENDING_MESSAGES, MAX_READS_WAITING_FOR_COMMIT, ProposeError, Raft, RaftStats, Ready};
pub use restore::{RestoreState, StartError};
pub use types::*;
