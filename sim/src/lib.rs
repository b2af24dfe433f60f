//! Concord's deterministic simulator: whole clusters of real nodes (Raft core, store, WAL over a
//! fault-injecting memory disk) plus clients, run in one thread on virtual time.
//!
//! Job: drive the production node code through seeded faults (network, clocks, crashes, disk
//! corruption), check safety invariants after every event and linearizability of the client history at
//! the end, check liveness once faults stop, and make every failure replay exactly from its seed.
//! Boundaries: the simulator never reads the wall clock or any unseeded randomness in the run itself;
//! only the CLI measures wall time, and prints it to stderr. It does not change the nodes: it drives
//! them only through the sans-IO node API and observes them through read-only accessors.

pub mod auth_checks;
pub mod auth_world;
pub mod backend;
pub mod cluster;
pub mod coverage;
pub mod history;
pub mod history_export;
pub mod linearizability;
pub mod mix;
pub mod plan;
pub mod runner;
pub mod v3_checks;
pub mod v3_model;
pub mod world;
