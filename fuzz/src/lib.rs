//! Concord's fuzz checks: one function per fuzz target, each taking arbitrary bytes and asserting
//! that the project's parser of untrusted bytes answers with a clear error, never a panic, and
//! (where a round trip exists) that encoding what it decoded decodes to the same value again.
//!
//! The libFuzzer targets in `fuzz_targets/` are one line each around these functions, so the same
//! checks run without instrumentation too: `cargo test` here replays every generated seed through
//! them, and `cargo run --bin make_seeds` writes those seeds as the starting corpora.
//!
//! Map: `byte_source.rs` reads fuzz input as a stream of small decisions; `wal_framing.rs` frames
//! WAL records by DESIGN.md's format (so a target can get past the CRCs on purpose); `round_trip.rs`
//! the codec round-trip assertion; `command_decoder.rs` turns bytes into `mvcc::Command`s; one file
//! per target (`wal_open.rs`, `snapshot_file.rs`, `codec_raft.rs`, `wire_frames.rs`, `http_keys.rs`,
//! `mvcc_restore.rs`, `mvcc_commands.rs`, `members_body.rs`, `auth_bodies.rs`, `config_load.rs`,
//! `store_v2.rs` with its model `store_model.rs`); `seeds.rs` (and `v2_seeds.rs`) the seed corpora, generated from real
//! encoders, never fetched.

pub mod auth_bodies;
pub mod byte_source;
pub mod codec_raft;
pub mod command_decoder;
pub mod config_load;
pub mod http_keys;
pub mod members_body;
pub mod mvcc_commands;
pub mod mvcc_restore;
pub mod round_trip;
pub mod seeds;
pub mod snapshot_file;
pub mod store_model;
pub mod store_v2;
pub mod v2_seeds;
pub mod wal_framing;
pub mod wal_open;
pub mod wire_frames;

/// A target's check: panics on a finding, returns on any clear outcome.
pub type Check = fn(&[u8]);

/// Every target's name and check, in the order `bench/fuzz.sh` runs them.
pub const TARGETS: [(&str, Check); 11] = [
    ("wal_open", wal_open::check),
    ("snapshot_file", snapshot_file::check),
    ("codec_raft", codec_raft::check),
    ("wire_frames", wire_frames::check),
    ("http_keys", http_keys::check),
    ("mvcc_restore", mvcc_restore::check),
    ("mvcc_commands", mvcc_commands::check),
    ("members_body", members_body::check),
    ("auth_bodies", auth_bodies::check),
    ("config_load", config_load::check),
    ("store_v2", store_v2::check),
];
