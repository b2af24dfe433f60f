//! Snapshot and restore: the keyspace, the store index and the event history (so `waitIndex` keeps
//! working after a restore) in a versioned, checksummed, canonical byte format. Canonical means the same
//! applied state gives the same bytes on every member: directories are written in name order, and
//! nothing local (watchers, counters) is included.
//!
//! Layout (integers little-endian):
//! `magic "CCDSTORE"` `version u32` `current_index u64` `root tree` `history` `crc32 u32` where the CRC
//! covers every byte before it. A tree entry is `kind u8 (0 file, 1 dir)` `created u64` `modified u64`
//! `expiration i64`, then a file's `value str` or a directory's `count u32` and `(name str, entry)*`.
//! `str` is `len u32` + UTF-8 bytes. The history is `count u32` + events.

use crate::event::{Action, Event, Node};
use crate::store::{Body, Children, Entry, MAX_KEY_DEPTH, Store, sorted_children};
use crate::watch::{History, HistoryLimits, MAX_HISTORY_EVENTS};

const MAGIC: &[u8; 8] = b"CCDSTORE";
const VERSION: u32 = 1;

/// Why a snapshot could not be restored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotError(pub String);

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "invalid store snapshot: {}", self.0)
    }
}

impl std::error::Error for SnapshotError {}

fn fail<T>(reason: impl Into<String>) -> Result<T, SnapshotError> {
    Err(SnapshotError(reason.into()))
}

struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }
    fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }
    fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }
    fn i64(&mut self, value: i64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }
    fn len(&mut self, length: usize) {
        self.u32(u32::try_from(length).expect("fewer than 2^32 items"));
    }
    fn str(&mut self, text: &str) {
        self.len(text.len());
        self.bytes.extend_from_slice(text.as_bytes());
    }

    fn entry(&mut self, entry: &Entry) {
        self.u8(u8::from(matches!(entry.body, Body::Dir(_))));
        self.u64(entry.created_index);
        self.u64(entry.modified_index);
        self.i64(entry.expiration);
        match &entry.body {
            Body::File(value) => self.str(value.as_str()),
            Body::Dir(children) => {
                self.len(children.len());
                for (name, child) in sorted_children(children) {
                    self.str(name);
                    self.entry(child);
                }
            }
        }
    }

    fn node(&mut self, node: &Node) {
        self.str(&node.key);
        self.u8(u8::from(node.dir));
        match &node.value {
            None => self.u8(0),
            Some(value) => {
                self.u8(1);
                self.str(value);
            }
        }
        match node.expiration {
            None => self.u8(0),
            Some(expiration) => {
                self.u8(1);
                self.i64(expiration);
            }
        }
        self.i64(node.ttl);
        self.len(node.nodes.len());
        for child in &node.nodes {
            self.node(child);
        }
        self.u64(node.modified_index);
        self.u64(node.created_index);
    }

    fn event(&mut self, event: &Event) {
        self.u8(action_code(event.action));
        self.node(&event.node);
        match &event.prev_node {
            None => self.u8(0),
            Some(prev_node) => {
                self.u8(1);
                self.node(prev_node);
            }
        }
        self.u64(event.etcd_index);
        self.u8(u8::from(event.refresh));
    }
}

fn action_code(action: Action) -> u8 {
    match action {
        Action::Get => 0,
        Action::Set => 1,
        Action::Create => 2,
        Action::Update => 3,
        Action::Delete => 4,
        Action::CompareAndSwap => 5,
        Action::CompareAndDelete => 6,
        Action::Expire => 7,
    }
}

fn action_from_code(code: u8) -> Result<Action, SnapshotError> {
    Ok(match code {
        0 => Action::Get,
        1 => Action::Set,
        2 => Action::Create,
        3 => Action::Update,
        4 => Action::Delete,
        5 => Action::CompareAndSwap,
        6 => Action::CompareAndDelete,
        7 => Action::Expire,
        _ => return fail(format!("unknown action {code}")),
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], SnapshotError> {
        if self.bytes.len() - self.position < count {
            return fail("truncated");
        }
        let slice = &self.bytes[self.position..self.position + count];
        self.position += count;
        Ok(slice)
    }
    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take(1)?[0])
    }
    fn bool(&mut self) -> Result<bool, SnapshotError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => fail(format!("bad flag {other}")),
        }
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    /// A count of items that each take at least `min_item_bytes`: bounded by what is left, so a corrupt
    /// count cannot make us allocate more than the input justifies.
    fn count(&mut self, min_item_bytes: usize) -> Result<usize, SnapshotError> {
        let count = self.u32()? as usize;
        if count.saturating_mul(min_item_bytes) > self.bytes.len() - self.position {
            return fail("count larger than the remaining bytes");
        }
        Ok(count)
    }
    fn str(&mut self) -> Result<&'a str, SnapshotError> {
        let length = self.u32()? as usize;
        std::str::from_utf8(self.take(length)?).map_err(|_| SnapshotError("string is not UTF-8".into()))
    }

    fn entry(&mut self, depth: usize, current_index: u64) -> Result<Entry, SnapshotError> {
        if depth > MAX_KEY_DEPTH {
            return fail("tree deeper than the key depth limit");
        }
        let is_dir = self.bool()?;
        let created_index = self.u64()?;
        let modified_index = self.u64()?;
        let expiration = self.i64()?;
        if created_index > current_index || modified_index > current_index {
            return fail("node index beyond the store index");
        }
        let body = if is_dir {
            let count = self.count(4 + 25)?;
            let mut children = Children::with_capacity(count);
            let mut previous_name: Option<&str> = None;
            for _ in 0..count {
                let name = self.str()?;
                if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                    return fail(format!("bad node name {name:?}"));
                }
                if previous_name.is_some_and(|previous| previous >= name) {
                    return fail("directory entries not in strict name order");
                }
                previous_name = Some(name);
                let child = self.entry(depth + 1, current_index)?;
                children.insert(name.into(), child);
            }
            Body::Dir(Box::new(children))
        } else {
            Body::File(self.str()?.into())
        };
        Ok(Entry { created_index, modified_index, expiration, body })
    }

    fn node(&mut self, depth: usize) -> Result<Node, SnapshotError> {
        if depth > MAX_KEY_DEPTH {
            return fail("node nesting too deep");
        }
        let key = self.str()?.to_string();
        let dir = self.bool()?;
        let value = if self.bool()? { Some(self.str()?.to_string()) } else { None };
        let expiration = if self.bool()? { Some(self.i64()?) } else { None };
        let ttl = self.i64()?;
        let count = self.count(35)?;
        let mut nodes = Vec::with_capacity(count);
        for _ in 0..count {
            nodes.push(self.node(depth + 1)?);
        }
        let modified_index = self.u64()?;
        let created_index = self.u64()?;
        Ok(Node { key, dir, value, expiration, ttl, nodes, modified_index, created_index })
    }

    fn event(&mut self) -> Result<Event, SnapshotError> {
        let action = action_from_code(self.u8()?)?;
        let node = self.node(0)?;
        let prev_node = if self.bool()? { Some(self.node(0)?) } else { None };
        let etcd_index = self.u64()?;
        let refresh = self.bool()?;
        Ok(Event { action, node, prev_node, etcd_index, refresh })
    }
}

/// A copy of the store's replicated state at one index (the tree and the history, without watchers or
/// counters), taken on the node thread so that encoding it can happen elsewhere while the store moves on.
#[derive(Clone, Debug)]
pub struct StoreImage {
    root: Entry,
    current_index: u64,
    history: History,
}

impl StoreImage {
    /// The store index the image was taken at.
    pub fn current_index(&self) -> u64 {
        self.current_index
    }

    /// The image as canonical bytes, exactly what `Store::snapshot` gives for the same state.
    pub fn encode(&self) -> Vec<u8> {
        encode_state(&self.root, self.current_index, &self.history)
    }
}

/// The canonical bytes of a tree, its index and its history (see the module documentation).
fn encode_state(root: &Entry, current_index: u64, history: &History) -> Vec<u8> {
    let mut writer = Writer { bytes: Vec::with_capacity(64) };
    writer.bytes.extend_from_slice(MAGIC);
    writer.u32(VERSION);
    writer.u64(current_index);
    writer.entry(root);
    writer.len(history.events.len());
    for event in &history.events {
        writer.event(event);
    }
    let checksum = crc32fast::hash(&writer.bytes);
    writer.u32(checksum);
    writer.bytes
}

impl Store {
    /// The whole replicated state as canonical bytes (see the module documentation).
    pub fn snapshot(&self) -> Vec<u8> {
        encode_state(&self.root, self.current_index, &self.history)
    }

    /// A copy of the replicated state to encode later (`StoreImage::encode`), off the caller's thread:
    /// it costs one clone of the tree, which is cheaper than encoding it.
    pub fn image(&self) -> StoreImage {
        StoreImage {
            root: self.root.clone(),
            current_index: self.current_index,
            history: self.history.clone(),
        }
    }

    /// Rebuilds a store from `snapshot()` bytes, keeping etcd's default history. Watchers and counters
    /// start empty. Any corruption (checksum, version, structure) is an error, never a panic.
    pub fn restore(bytes: &[u8]) -> Result<Store, SnapshotError> {
        Store::restore_with_history_limits(bytes, HistoryLimits::default())
    }

    /// `restore`, keeping as much of the snapshot's history as `limits` allow (the newest events).
    pub fn restore_with_history_limits(bytes: &[u8], limits: HistoryLimits) -> Result<Store, SnapshotError> {
        let mut store = Store::restore_unbounded(bytes)?;
        store.set_history_limits(limits);
        Ok(store)
    }

    fn restore_unbounded(bytes: &[u8]) -> Result<Store, SnapshotError> {
        if bytes.len() < MAGIC.len() + 4 + 4 {
            return fail("too short");
        }
        let (body, checksum) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body) != u32::from_le_bytes(checksum.try_into().expect("4 bytes")) {
            return fail("checksum mismatch");
        }
        let mut reader = Reader { bytes: body, position: 0 };
        if reader.take(MAGIC.len())? != MAGIC {
            return fail("not a store snapshot");
        }
        let version = reader.u32()?;
        if version != VERSION {
            return fail(format!("unsupported version {version}"));
        }
        let current_index = reader.u64()?;
        let root = reader.entry(0, current_index)?;
        if !matches!(root.body, Body::Dir(_))
            || root.created_index != 0
            || root.modified_index != 0
            || root.expiration != 0
        {
            return fail("the root must be a permanent directory with no indexes");
        }
        let count = reader.count(46)?;
        if count > MAX_HISTORY_EVENTS {
            return fail("history longer than any history may be");
        }
        let mut history = History::with_limits(HistoryLimits::UNBOUNDED);
        for _ in 0..count {
            let event = reader.event()?;
            if history.events.back().is_some_and(|last| last.index() >= event.index())
                || event.index() > current_index
            {
                return fail("history out of order");
            }
            history.push(event);
        }
        if reader.position != body.len() {
            return fail("trailing bytes");
        }
        Ok(Store::from_parts(root, current_index, history))
    }

    /// A 64-bit digest of the replicated state (keyspace, store index, history), maintained
    /// incrementally: O(1), equal on members with equal state, different otherwise with overwhelming
    /// probability. Stable across processes and restarts (no per-process hash keys).
    pub fn digest(&self) -> u64 {
        let mut hasher = crate::digest::Hasher::new();
        hasher.u64(self.current_index);
        hasher.u64(self.tree_hash);
        hasher.u64(self.history.hash_sum);
        hasher.finish()
    }
}
