//! Target `codec_raft`: arbitrary bytes through `server::codec::decode` as each type the node
//! decodes from disk or the wire: raft `Message`, `Entry`, `Vec<Entry>` (a WAL entries record),
//! `HardState`, `ConfState`, `ConfChange`, `Snapshot`, the WAL's `SnapshotMarker`, and the v3
//! keyspace's `Command` (what a v3 log entry carries).
//!
//! Input: a selector byte (modulo the number of types), then the encoded value.
//! Checks: nothing panics, a refusal is a `CodecError` with a message, an accepted value round
//! trips (see `round_trip.rs`).

use raft::types::{ConfChange, ConfState, Entry, HardState, Message, Snapshot};
use server::storage::wal::SnapshotMarker;

use crate::round_trip::decode_and_round_trip;

/// The types, in selector order.
pub const TYPE_NAMES: [&str; 9] = [
    "Message",
    "Entry",
    "Vec<Entry>",
    "HardState",
    "ConfState",
    "ConfChange",
    "Snapshot",
    "SnapshotMarker",
    "mvcc::Command",
];

pub fn check(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let refusal = match usize::from(selector) % TYPE_NAMES.len() {
        0 => decode_and_round_trip::<Message>(bytes).err(),
        1 => decode_and_round_trip::<Entry>(bytes).err(),
        2 => decode_and_round_trip::<Vec<Entry>>(bytes).err(),
        3 => decode_and_round_trip::<HardState>(bytes).err(),
        4 => decode_and_round_trip::<ConfState>(bytes).err(),
        5 => decode_and_round_trip::<ConfChange>(bytes).err(),
        6 => decode_and_round_trip::<Snapshot>(bytes).err(),
        7 => decode_and_round_trip::<SnapshotMarker>(bytes).err(),
        _ => decode_and_round_trip::<mvcc::Command>(bytes).err(),
    };
    if let Some(error) = refusal {
        assert!(!error.to_string().is_empty(), "a refusal says why");
    }
}
