//! Concord's Raft core: the consensus protocol as a pure, deterministic state machine.
//!
//! Job: elections (pre-vote, check-quorum), log replication with flow control, commitment, membership
//! changes, leader transfer, ReadIndex and snapshots, exactly as a function of its inputs.
//! Boundaries: no sockets, no disk, no clock, no threads, no global randomness. Time is `tick()`,
//! randomness comes from a ChaCha RNG seeded by `Config::seed`, and every effect leaves through `Ready`
//! for the caller to carry out (persist, send, apply) and acknowledge.

pub mod types;

pub use types::*;
