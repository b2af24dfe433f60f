//! Target `store_v2`: arbitrary sequences of v2 writes, reads, expiries and watches applied to a
//! `store::Store`, compared with a simple model where one applies (`store_model.rs`), and arbitrary
//! snapshot bytes restored.
//!
//! Input: a mode byte, then steps of 4 bytes (operation, key, value, flags) plus what a step reads.
//! Mode bit 0: model mode, permanent nodes on keys under `/a../d` up to 3 deep, compared step by
//! step with the model (result, error code, index, the whole tree). Otherwise free mode: TTLs,
//! refreshes, in-order creates, raw keys, expiry and watches, checked by invariants only. Mode bit 1
//! starts from a restored snapshot (a u16-long snapshot; bit 2: the harness appends its CRC).
//!
//! Checks: nothing panics; a refused write changes nothing (index and digest) and an accepted one
//! takes exactly the next index; a restored snapshot snapshots to bytes that restore to the same
//! digest; at the end, the store's own snapshot restores to the same digest and bytes (so the
//! incrementally kept digest equals the one computed from scratch).

use store::{Command, Event, Node, Store, StoreError};

use crate::byte_source::ByteSource;
use crate::store_model::{Model, ModelNode, ModelWrite};

/// Steps one input may make.
const MAX_STEPS: usize = 128;
/// A plausible wall clock (Unix nanoseconds) for the first step.
const START_NANOS: i64 = 1_700_000_000_000_000_000;
const NANOS_PER_SECOND: i64 = 1_000_000_000;
/// Key segments of model mode.
const SEGMENTS: [&str; 4] = ["a", "b", "c", "d"];

pub fn check(data: &[u8]) {
    let mut source = ByteSource::new(data);
    let mode = source.u8();
    let mut store = Store::new();
    if mode & 2 == 2 {
        let length = usize::from(source.u16());
        let mut bytes = source.take(length).to_vec();
        if mode & 4 == 4 {
            let checksum = crc32fast::hash(&bytes);
            bytes.extend_from_slice(&checksum.to_le_bytes());
        }
        match Store::restore(&bytes) {
            Ok(restored) => store = restored,
            Err(_) => return,
        }
        check_snapshot_round_trip(&store);
    }
    let mut model = (mode & 3 == 1).then(Model::default);
    for step in 0..MAX_STEPS {
        if source.is_empty() {
            break;
        }
        let now = START_NANOS + step as i64 * NANOS_PER_SECOND;
        match &mut model {
            Some(model) => model_step(&mut source, &mut store, model, now),
            None => free_step(&mut source, &mut store, now),
        }
    }
    check_snapshot_round_trip(&store);
}

/// A restored store's snapshot restores to the same state: same digest, same bytes again.
fn check_snapshot_round_trip(store: &Store) {
    let bytes = store.snapshot();
    let restored = Store::restore(&bytes).expect("a store's own snapshot restores");
    assert_eq!(restored.digest(), store.digest(), "a restored store has the same digest");
    assert_eq!(restored.current_index(), store.current_index());
    assert_eq!(restored.snapshot(), bytes, "a restored store snapshots to the same bytes");
}

/// A model-mode key: 1 to 3 segments from [`SEGMENTS`] (`0xFF`: the root), sometimes written with
/// a trailing slash or a doubled one (the store cleans keys).
fn model_key(key_byte: u8, flags: u8) -> (String, String) {
    if key_byte == 0xFF {
        return ("/".to_string(), "/".to_string());
    }
    let depth = 1 + usize::from(key_byte & 3) % 3;
    let path: String = (0..depth)
        .map(|level| format!("/{}", SEGMENTS[usize::from(key_byte >> (2 + 2 * level)) & 3]))
        .collect();
    let written = match flags >> 6 {
        1 => format!("{path}/"),
        2 => format!("/{path}"),
        _ => path.clone(),
    };
    (path, written)
}

fn model_value(value_byte: u8) -> String {
    if value_byte & 3 == 0 { String::new() } else { format!("v{}", value_byte % 4) }
}

fn model_step(source: &mut ByteSource, store: &mut Store, model: &mut Model, now: i64) {
    let (operation, key_byte, value_byte, flags) = (source.u8(), source.u8(), source.u8(), source.u8());
    let (path, key) = model_key(key_byte, flags);
    let value = model_value(value_byte);
    let (dir, recursive) = (flags & 1 == 1, flags & 2 == 2);
    let prev_value = model_value(value_byte >> 2);
    let prev_index = match (flags >> 2) & 3 {
        0 => 0,
        back => model.index.saturating_sub(u64::from(back) - 1),
    };
    let (write, command) = match operation % 7 {
        0 => (
            ModelWrite::Set { path, value: value.clone(), dir },
            Command::Set { key, value, dir, ttl: None, refresh: false, now },
        ),
        1 | 2 => {
            let in_order = operation % 7 == 2;
            (
                ModelWrite::Create { path, value: value.clone(), dir, in_order },
                Command::Create { key, value, dir, ttl: None, in_order, now },
            )
        }
        3 => (
            ModelWrite::Update { path, value: value.clone() },
            Command::Update { key, value, ttl: None, refresh: false, now },
        ),
        4 => (
            ModelWrite::CompareAndSwap {
                path,
                value: value.clone(),
                prev_value: prev_value.clone(),
                prev_index,
            },
            Command::CompareAndSwap { key, value, prev_value, prev_index, ttl: None, refresh: false, now },
        ),
        5 => (ModelWrite::Delete { path, dir, recursive }, Command::Delete { key, dir, recursive, now }),
        _ => (
            ModelWrite::CompareAndDelete { path, prev_value: prev_value.clone(), prev_index },
            Command::CompareAndDelete { key, prev_value, prev_index, now },
        ),
    };
    let expected = model.apply(&write);
    let result = apply_checked(store, &command);
    assert_eq!(
        result.as_ref().map(|_| ()).map_err(|error| error.code),
        expected,
        "{write:?} against the model"
    );
    assert_eq!(store.current_index(), model.index, "index after {write:?}");
    assert_eq!(tree(store, now), model.nodes, "keyspace after {write:?}");
}

/// Applies a write: a refusal changes neither the index nor the digest; a success takes the next
/// index and its event says so.
fn apply_checked(store: &mut Store, command: &Command) -> Result<Event, StoreError> {
    let (index_before, digest_before) = (store.current_index(), store.digest());
    let result = store.apply(command);
    match &result {
        Err(error) => {
            assert_eq!(store.current_index(), index_before, "a refused {command:?} takes no index");
            assert_eq!(store.digest(), digest_before, "a refused {command:?} changes nothing: {error:?}");
            assert_eq!(error.index, index_before, "a refusal names the current index");
        }
        Ok(event) if !matches!(command, Command::Sync { .. }) => {
            assert_eq!(store.current_index(), index_before + 1, "{command:?} takes the next index");
            assert_eq!(event.etcd_index, store.current_index(), "the event carries the new index");
        }
        Ok(_) => assert!(store.current_index() >= index_before, "expiry only moves the index forward"),
    }
    result
}

/// The whole keyspace as the model keeps it, read through `get`.
fn tree(store: &Store, now: i64) -> std::collections::BTreeMap<String, ModelNode> {
    let root = store.get("/", true, true, now).expect("the root reads").node;
    let mut nodes = std::collections::BTreeMap::new();
    let mut pending: Vec<&Node> = root.nodes.iter().collect();
    while let Some(node) = pending.pop() {
        let value = node.value.clone().unwrap_or_default();
        let model_node = ModelNode {
            dir: node.dir,
            value,
            created_index: node.created_index,
            modified_index: node.modified_index,
        };
        assert!(nodes.insert(node.key.clone(), model_node).is_none(), "{} listed once", node.key);
        pending.extend(node.nodes.iter());
    }
    nodes
}

/// A free-mode step: any operation on any key, with TTLs and refreshes, expiry and watches.
fn free_step(source: &mut ByteSource, store: &mut Store, now: i64) {
    let (operation, key_byte, value_byte, flags) = (source.u8(), source.u8(), source.u8(), source.u8());
    let key = if key_byte & 0x80 == 0x80 {
        let length = usize::from(key_byte & 0x7F);
        String::from_utf8_lossy(source.take(length)).into_owned()
    } else {
        model_key(key_byte, flags).1
    };
    let value = model_value(value_byte);
    let ttl = match flags & 3 {
        0 => None,
        1 => Some(u64::from(value_byte % 8)),
        2 => Some(source.u64()),
        _ => Some(u64::from(source.u16())),
    };
    let (dir, recursive, refresh) = (flags & 4 == 4, flags & 8 == 8, flags & 16 == 16);
    let prev_index = store.current_index().saturating_sub(u64::from(flags >> 5));
    let prev_value = model_value(value_byte >> 2);
    let command = match operation % 10 {
        0 => Command::Set { key, value, dir, ttl, refresh, now },
        1 => Command::Create { key, value, dir, ttl, in_order: refresh, now },
        2 => Command::Update { key, value, ttl, refresh, now },
        3 => Command::CompareAndSwap { key, value, prev_value, prev_index, ttl, refresh, now },
        4 => Command::Delete { key, dir, recursive, now },
        5 => Command::CompareAndDelete { key, prev_value, prev_index, now },
        6 => Command::Sync { now: now + i64::from(value_byte) * NANOS_PER_SECOND },
        7 => return watch_step(store, &key, flags),
        _ => return read_step(store, &key, flags, now),
    };
    crate::round_trip::check_round_trip(&command, None);
    if let Ok(event) = apply_checked(store, &command)
        && matches!(command, Command::Sync { .. })
    {
        for expired in &event.node.nodes {
            assert!(store.get(&expired.key, false, false, now).is_err(), "{} expired", expired.key);
        }
    }
}

fn watch_step(store: &mut Store, key: &str, flags: u8) {
    let since_index = (flags & 1 == 1).then(|| store.current_index().saturating_sub(u64::from(flags >> 3)));
    let _ = store.watch(key, flags & 2 == 2, flags & 4 == 4, since_index);
    let _ = store.take_watch_events();
}

fn read_step(store: &Store, key: &str, flags: u8, now: i64) {
    if let Ok(event) = store.get(key, flags & 1 == 1, flags & 2 == 2, now) {
        // etcd renders the root without a key.
        let path = store::clean_path(key);
        let expected = if path == "/" { "" } else { &*path };
        assert_eq!(event.node.key, expected, "a read names the clean key");
    }
}
