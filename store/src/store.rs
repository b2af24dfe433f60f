//! The keyspace tree and the operations on it, following etcd 3.4's v2 store rule for rule (including
//! its quirks, which the behaviour reference lists: set resets createdIndex, a directory's TTL update does
//! not stick to its modifiedIndex, stream watchers on a deleted path hear the delete twice, ...).

use crate::command::Command;
use crate::compact::Compact;
use crate::digest;
use crate::error::{self, StoreError};
use crate::event::{Action, Event, Node};
use crate::json::NANOS_PER_SECOND;
use crate::stats::StoreStats;
use crate::watch::{History, HistoryLimits, Hub, WatchNotice, WatchStart, WatcherId};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

/// The deepest key the store accepts (path segments). etcd has no limit, but every tree walk here may
/// recurse once per level, so the depth is bounded to keep the stack bounded on any input.
pub const MAX_KEY_DEPTH: usize = 256;

/// Expirations before 2000-01-01 mean "no TTL" (etcd's `minExpireTime`; this is how a TTL so large that
/// Go's nanosecond arithmetic wraps silently gives a permanent key).
const MIN_EXPIRATION: i64 = 946_684_800 * NANOS_PER_SECOND;

/// Children of a directory by name. The map is only ever iterated through `sorted_children`, so its
/// (per-process random) order never reaches an answer, a snapshot or a digest.
pub(crate) type Children = HashMap<Compact, Entry>;

/// A node of the tree. Its name is the key of its parent's map, its full path is known from the walk
/// that reached it: no node stores its path.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) created_index: u64,
    pub(crate) modified_index: u64,
    /// Unix nanoseconds; 0 = permanent (Go's zero time).
    pub(crate) expiration: i64,
    pub(crate) body: Body,
}

#[derive(Clone, Debug)]
pub(crate) enum Body {
    File(Compact),
    Dir(Box<Children>),
}

impl Entry {
    pub(crate) fn new_dir(index: u64, expiration: i64) -> Entry {
        Entry { created_index: index, modified_index: index, expiration, body: Body::Dir(Box::default()) }
    }

    fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir(_))
    }

    fn value(&self) -> &str {
        match &self.body {
            Body::File(value) => value.as_str(),
            Body::Dir(_) => "",
        }
    }
}

/// Children sorted by name, the one way the store iterates a directory.
pub(crate) fn sorted_children(children: &Children) -> Vec<(&str, &Entry)> {
    let mut sorted: Vec<(&str, &Entry)> =
        children.iter().map(|(name, entry)| (name.as_str(), entry)).collect();
    sorted.sort_unstable_by(|left, right| left.0.cmp(right.0));
    sorted
}

fn child_path(parent: &str, name: &str) -> String {
    let mut path = String::with_capacity(parent.len() + 1 + name.len());
    path.push_str(parent);
    if parent != "/" {
        path.push('/');
    }
    path.push_str(name);
    path
}

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

/// Go's `path.Clean(path.Join("/", key))`: absolute, no empty, `.` or `..` segments, no trailing slash.
pub fn clean_path(key: &str) -> Cow<'_, str> {
    let already_clean = key == "/"
        || (key.starts_with('/')
            && !key.ends_with('/')
            && key[1..].split('/').all(|segment| !segment.is_empty() && segment != "." && segment != ".."));
    if already_clean {
        return Cow::Borrowed(key);
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in key.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    let mut path = String::with_capacity(key.len() + 1);
    for segment in &segments {
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() {
        path.push('/');
    }
    Cow::Owned(path)
}

/// Go's `expireTime` computed by etcd's HTTP layer: `now + ttl seconds` in wrapping int64 nanoseconds
/// (`time.Duration(ttl) * time.Second`, then `UnixNano()`); 0 when there is no TTL.
fn expiration_from_ttl(ttl: Option<u64>, now: i64) -> i64 {
    match ttl {
        None => 0,
        Some(seconds) => now.wrapping_add((seconds as i64).wrapping_mul(NANOS_PER_SECOND)),
    }
}

/// etcd's `expirationAndTTL`: the expiration and the remaining seconds rounded up (Go integer division,
/// so an expired node shows 0 or a negative number of whole seconds).
pub(crate) fn expiration_and_ttl(expiration: i64, now: i64) -> (Option<i64>, i64) {
    if expiration == 0 {
        return (None, 0);
    }
    let remaining = expiration.saturating_sub(now);
    let mut ttl = remaining / NANOS_PER_SECOND;
    if remaining % NANOS_PER_SECOND > 0 {
        ttl += 1;
    }
    (Some(expiration), ttl)
}

/// etcd's `Repr`: a node without children unless `recursive`; hidden children are never listed.
fn repr(entry: &Entry, key: &str, recursive: bool, now: i64) -> Node {
    let (expiration, ttl) = expiration_and_ttl(entry.expiration, now);
    let mut node = Node {
        key: key.to_string(),
        dir: entry.is_dir(),
        value: None,
        expiration,
        ttl,
        nodes: Vec::new(),
        modified_index: entry.modified_index,
        created_index: entry.created_index,
    };
    match &entry.body {
        Body::File(value) => node.value = Some(value.as_str().to_string()),
        Body::Dir(children) if recursive => node.nodes = list(children, key, true, now),
        Body::Dir(_) => {}
    }
    node
}

fn list(children: &Children, key: &str, recursive: bool, now: i64) -> Vec<Node> {
    sorted_children(children)
        .into_iter()
        .filter(|(name, _)| !name.starts_with('_'))
        .map(|(name, child)| repr(child, &child_path(key, name), recursive, now))
        .collect()
}

/// etcd's `loadInternalNode` for a get: a directory always lists one level (more with `recursive`).
fn load(entry: &Entry, key: &str, recursive: bool, now: i64) -> Node {
    let mut node = repr(entry, key, false, now);
    if let Body::Dir(children) = &entry.body {
        node.nodes = list(children, key, recursive, now);
    }
    node
}

/// Which comparison of compareAndSwap/compareAndDelete failed, rendered as etcd's error cause.
fn compare(entry: &Entry, prev_value: &str, prev_index: u64) -> Result<(), String> {
    let index_matches = prev_index == 0 || entry.modified_index == prev_index;
    let value_matches = prev_value.is_empty() || entry.value() == prev_value;
    match (value_matches, index_matches) {
        (true, true) => Ok(()),
        (false, true) => Err(format!("[{} != {}]", prev_value, entry.value())),
        (true, false) => Err(format!("[{} != {}]", prev_index, entry.modified_index)),
        (false, false) => {
            Err(format!("[{} != {}] [{} != {}]", prev_value, entry.value(), prev_index, entry.modified_index))
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    gets_success: AtomicU64,
    gets_fail: AtomicU64,
    writes: StoreStats,
}

/// The etcd v2 keyspace. See the crate documentation for the contract.
#[derive(Debug)]
pub struct Store {
    pub(crate) root: Entry,
    pub(crate) current_index: u64,
    /// Nodes with a TTL: (expiration, createdIndex) -> path. createdIndex identifies a live node.
    pub(crate) ttl_index: BTreeMap<(i64, u64), String>,
    pub(crate) history: History,
    /// Wrapping sum of `entry_hash` over every node, root included (see `digest`).
    pub(crate) tree_hash: u64,
    hub: Hub,
    counters: Counters,
}

impl Default for Store {
    fn default() -> Store {
        Store::new()
    }
}

enum Lookup<'a> {
    Found(&'a Entry),
    Missing(StoreError),
}

impl Store {
    /// An empty store at index 0.
    pub fn new() -> Store {
        Store::from_parts(Entry::new_dir(0, 0), 0, History::default())
    }

    pub(crate) fn from_parts(root: Entry, current_index: u64, history: History) -> Store {
        let mut ttl_index = BTreeMap::new();
        let tree_hash = walk_subtree(&root, "/", &mut ttl_index);
        Store {
            root,
            current_index,
            ttl_index,
            history,
            tree_hash,
            hub: Hub::default(),
            counters: Counters::default(),
        }
    }

    /// Changes how much event history this store keeps (`--v2-watch-history`), evicting at once the
    /// oldest events the new limits do not keep.
    pub fn set_history_limits(&mut self, limits: HistoryLimits) {
        assert!(limits.validate().is_ok(), "history limits are validated by the caller: {limits:?}");
        self.history.set_limits(limits);
    }

    /// The events kept for `waitIndex` and what they cost (`event_size_bytes`).
    pub fn history_usage(&self) -> (usize, usize) {
        (self.history.events.len(), self.history.size_bytes())
    }

    /// The store index (`X-Etcd-Index`): incremented by each successful change and each expiry.
    pub fn current_index(&self) -> u64 {
        self.current_index
    }

    /// Applies one committed write. Failed writes change nothing but the failure counters (they consume
    /// a Raft index, never a store index). `Sync` answers an `expire` event whose node is the root and
    /// whose `nodes` are the nodes it expired (each also produced its own `expire` event for watchers).
    pub fn apply(&mut self, command: &Command) -> Result<Event, StoreError> {
        let now = command.now();
        match command {
            Command::Set { key, value, dir, ttl, refresh, now } => {
                let result = self.set(key, value, *dir, expiration_from_ttl(*ttl, *now), *refresh, *now);
                self.count(result.is_ok(), |s| &mut s.sets_success, |s| &mut s.sets_fail);
                result
            }
            Command::Create { key, value, dir, ttl, in_order, now } => {
                let expiration = expiration_from_ttl(*ttl, *now);
                let result = self
                    .internal_create(
                        key,
                        *dir,
                        value,
                        *in_order,
                        false,
                        false,
                        expiration,
                        Action::Create,
                        *now,
                    )
                    .map(|event| self.publish(event));
                self.count(result.is_ok(), |s| &mut s.create_success, |s| &mut s.create_fail);
                result
            }
            Command::Update { key, value, ttl, refresh, now } => {
                let result = self.update(key, value, expiration_from_ttl(*ttl, *now), *refresh, *now);
                self.count(result.is_ok(), |s| &mut s.update_success, |s| &mut s.update_fail);
                result
            }
            Command::CompareAndSwap { key, value, prev_value, prev_index, ttl, refresh, now } => {
                let expiration = expiration_from_ttl(*ttl, *now);
                let result =
                    self.compare_and_swap(key, value, prev_value, *prev_index, expiration, *refresh, *now);
                self.count(
                    result.is_ok(),
                    |s| &mut s.compare_and_swap_success,
                    |s| &mut s.compare_and_swap_fail,
                );
                result
            }
            Command::Delete { key, dir, recursive, now } => {
                let result = self.delete(key, *dir, *recursive, *now);
                self.count(result.is_ok(), |s| &mut s.delete_success, |s| &mut s.delete_fail);
                result
            }
            Command::CompareAndDelete { key, prev_value, prev_index, now } => {
                let result = self.compare_and_delete(key, prev_value, *prev_index, *now);
                self.count(
                    result.is_ok(),
                    |s| &mut s.compare_and_delete_success,
                    |s| &mut s.compare_and_delete_fail,
                );
                result
            }
            Command::Sync { .. } => {
                let expired = self.expire(now);
                let nodes = expired.into_iter().map(|event| event.node).collect();
                let node = Node { dir: true, nodes, ..Node::default() };
                Ok(Event {
                    action: Action::Expire,
                    node,
                    prev_node: None,
                    etcd_index: self.current_index,
                    refresh: false,
                })
            }
        }
    }

    fn count(
        &mut self,
        success: bool,
        on_success: impl FnOnce(&mut StoreStats) -> &mut u64,
        on_failure: impl FnOnce(&mut StoreStats) -> &mut u64,
    ) {
        let counter = if success {
            on_success(&mut self.counters.writes)
        } else {
            on_failure(&mut self.counters.writes)
        };
        *counter += 1;
    }

    /// Reads `key`: a file, or a directory listing (one level, or all with `recursive`). Hidden children
    /// are not listed. Listings are always in key order (etcd's unsorted order is unspecified), so
    /// `sorted` changes nothing. `now` only renders `ttl`.
    pub fn get(&self, key: &str, recursive: bool, sorted: bool, now: i64) -> Result<Event, StoreError> {
        let _ = sorted;
        let path = clean_path(key);
        match self.lookup(&path) {
            Lookup::Found(entry) => {
                self.counters.gets_success.fetch_add(1, Ordering::Relaxed);
                let key = if path == "/" { "" } else { &*path };
                let node = load(entry, key, recursive, now);
                Ok(Event {
                    action: Action::Get,
                    node,
                    prev_node: None,
                    etcd_index: self.current_index,
                    refresh: false,
                })
            }
            Lookup::Missing(error) => {
                self.counters.gets_fail.fetch_add(1, Ordering::Relaxed);
                Err(error)
            }
        }
    }

    /// etcd's `internalGet`: 104 names the file met on the way, 100 the first missing component.
    fn lookup(&self, path: &str) -> Lookup<'_> {
        let mut entry = &self.root;
        let mut end = 0;
        for segment in path.split('/').skip(1).filter(|segment| !segment.is_empty()) {
            let children = match &entry.body {
                Body::Dir(children) => children,
                Body::File(_) => {
                    return Lookup::Missing(StoreError::not_dir(&path[..end], self.current_index));
                }
            };
            end += 1 + segment.len();
            match children.get(segment.as_bytes()) {
                Some(child) => entry = child,
                None => return Lookup::Missing(StoreError::key_not_found(&path[..end], self.current_index)),
            }
        }
        Lookup::Found(entry)
    }

    fn get_entry(&self, path: &str) -> Result<&Entry, StoreError> {
        match self.lookup(path) {
            Lookup::Found(entry) => Ok(entry),
            Lookup::Missing(error) => Err(error),
        }
    }

    /// The entry at a path `lookup` found.
    fn entry_mut(&mut self, path: &str) -> &mut Entry {
        let mut entry = &mut self.root;
        for segment in path.split('/').skip(1).filter(|segment| !segment.is_empty()) {
            entry = match &mut entry.body {
                Body::Dir(children) => children.get_mut(segment.as_bytes()).expect("path was looked up"),
                Body::File(_) => unreachable!("path was looked up"),
            };
        }
        entry
    }

    /// The parent directory's children of an existing non-root path.
    fn parent_children_mut(&mut self, path: &str) -> &mut Children {
        let parent = &path[..path.rfind('/').expect("absolute path")];
        match &mut self.entry_mut(if parent.is_empty() { "/" } else { parent }).body {
            Body::Dir(children) => children,
            Body::File(_) => unreachable!("a parent is a directory"),
        }
    }

    fn set(
        &mut self,
        key: &str,
        value: &str,
        dir: bool,
        expiration: i64,
        refresh: bool,
        now: i64,
    ) -> Result<Event, StoreError> {
        let path = clean_path(key);
        let (previous, previous_value) = match self.lookup(&path) {
            Lookup::Found(entry) => {
                // The old value is only needed by a refresh, which keeps it.
                let kept_value = if refresh { entry.value().to_string() } else { String::new() };
                (Some(repr(entry, &path, false, now)), kept_value)
            }
            Lookup::Missing(error) if error.code == error::KEY_NOT_FOUND => {
                if refresh {
                    return Err(error);
                }
                (None, String::new())
            }
            Lookup::Missing(error) => return Err(error),
        };
        let value = if refresh { previous_value.as_str() } else { value };
        let mut event =
            self.internal_create(&path, dir, value, false, true, true, expiration, Action::Set, now)?;
        event.prev_node = previous;
        Ok(if refresh { self.record_refresh(event) } else { self.publish(event) })
    }

    /// etcd's `internalCreate`: creates missing parent directories, then the node; `replace` lets a file
    /// (never a directory) be replaced.
    #[allow(clippy::too_many_arguments)]
    fn internal_create(
        &mut self,
        key: &str,
        dir: bool,
        value: &str,
        in_order: bool,
        replace: bool,
        prev_known: bool,
        expiration: i64,
        action: Action,
        now: i64,
    ) -> Result<Event, StoreError> {
        let current_index = self.current_index;
        let next_index = current_index + 1;
        let joined;
        let key = if in_order {
            joined = format!("{key}/{next_index:020}");
            joined.as_str()
        } else {
            key
        };
        let path = clean_path(key);
        if path == "/" {
            return Err(StoreError::root_read_only(current_index));
        }
        let depth = path.bytes().filter(|byte| *byte == b'/').count();
        if depth > MAX_KEY_DEPTH {
            return Err(StoreError::new(
                error::INVALID_FIELD,
                format!("key is {depth} levels deep; the limit is {MAX_KEY_DEPTH}"),
                current_index,
            ));
        }
        let expiration = if expiration < MIN_EXPIRATION { 0 } else { expiration };
        let name_start = path.rfind('/').expect("absolute path") + 1;
        let name = &path[name_start..];

        // Walk to the parent, creating missing directories (etcd's checkDir).
        let mut parent = &mut self.root;
        let mut end = 0;
        for segment in path[..name_start].split('/').filter(|segment| !segment.is_empty()) {
            end += 1 + segment.len();
            let Body::Dir(children) = &mut parent.body else { unreachable!("walk only enters directories") };
            if !children.contains_key(segment.as_bytes()) {
                let new_dir = Entry::new_dir(next_index, 0);
                self.tree_hash = self.tree_hash.wrapping_add(entry_hash(&path[..end], &new_dir));
                children.insert(segment.into(), new_dir);
            }
            let child = children.get_mut(segment.as_bytes()).expect("present or just inserted");
            if !child.is_dir() {
                self.counters.writes.sets_fail += 1; // etcd counts this failure as a set failure too
                return Err(StoreError::not_dir(&path[..end], current_index));
            }
            parent = child;
        }
        let Body::Dir(children) = &mut parent.body else { unreachable!("walk only enters directories") };

        let mut prev_node = None;
        let mut replaced_ttl = None;
        let body = if dir { Body::Dir(Box::default()) } else { Body::File(value.into()) };
        let entry = Entry { created_index: next_index, modified_index: next_index, expiration, body };
        if let Some(existing) = children.get_mut(name.as_bytes()) {
            if !replace {
                return Err(StoreError::node_exist(&*path, current_index));
            }
            if existing.is_dir() {
                return Err(StoreError::not_file(&*path, current_index));
            }
            if !prev_known {
                prev_node = Some(repr(existing, &path, false, now));
            }
            if existing.expiration != 0 {
                replaced_ttl = Some((existing.expiration, existing.created_index));
            }
            self.tree_hash = self.tree_hash.wrapping_sub(entry_hash(&path, existing));
            self.tree_hash = self.tree_hash.wrapping_add(entry_hash(&path, &entry));
            *existing = entry; // replace in place: the name stays where it is
        } else {
            self.tree_hash = self.tree_hash.wrapping_add(entry_hash(&path, &entry));
            children.insert(name.into(), entry);
        }
        if let Some(old) = replaced_ttl {
            self.ttl_index.remove(&old);
        }
        if expiration != 0 {
            self.ttl_index.insert((expiration, next_index), path.to_string());
        }
        let (expiration, ttl) = expiration_and_ttl(expiration, now);
        let node = Node {
            key: path.into_owned(),
            dir,
            value: if dir { None } else { Some(value.to_string()) },
            expiration,
            ttl,
            nodes: Vec::new(),
            modified_index: next_index,
            created_index: next_index,
        };
        self.current_index = next_index;
        Ok(Event { action, node, prev_node, etcd_index: next_index, refresh: false })
    }

    fn update(
        &mut self,
        key: &str,
        value: &str,
        expiration: i64,
        refresh: bool,
        now: i64,
    ) -> Result<Event, StoreError> {
        let path = clean_path(key);
        if path == "/" {
            return Err(StoreError::root_read_only(self.current_index));
        }
        let entry = self.get_entry(&path)?;
        if entry.is_dir() && !value.is_empty() {
            return Err(StoreError::not_file(&*path, self.current_index));
        }
        let value = if refresh { entry.value().to_string() } else { value.to_string() };
        let event = self.rewrite(&path, value, expiration, Action::Update, now);
        Ok(if refresh { self.record_refresh(event) } else { self.publish(event) })
    }

    #[allow(clippy::too_many_arguments)]
    fn compare_and_swap(
        &mut self,
        key: &str,
        value: &str,
        prev_value: &str,
        prev_index: u64,
        expiration: i64,
        refresh: bool,
        now: i64,
    ) -> Result<Event, StoreError> {
        let path = clean_path(key);
        if path == "/" {
            return Err(StoreError::root_read_only(self.current_index));
        }
        let entry = self.get_entry(&path)?;
        if entry.is_dir() {
            return Err(StoreError::not_file(&*path, self.current_index));
        }
        compare(entry, prev_value, prev_index)
            .map_err(|cause| StoreError::test_failed(cause, self.current_index))?;
        let value = if refresh { entry.value().to_string() } else { value.to_string() };
        let event = self.rewrite(&path, value, expiration, Action::CompareAndSwap, now);
        Ok(if refresh { self.record_refresh(event) } else { self.publish(event) })
    }

    /// Update and compareAndSwap's common write: new value (files only: a directory keeps its
    /// modifiedIndex, an etcd quirk), new TTL (no TTL = permanent), next index.
    fn rewrite(&mut self, path: &str, value: String, expiration: i64, action: Action, now: i64) -> Event {
        let next_index = self.current_index + 1;
        let entry = self.entry_mut(path);
        let old_hash = entry_hash(path, entry);
        let prev_node = repr(entry, path, false, now);
        let is_dir = entry.is_dir();
        if let Body::File(old_value) = &mut entry.body {
            *old_value = value.as_str().into();
            entry.modified_index = next_index;
        }
        let old_ttl = (entry.expiration, entry.created_index);
        entry.expiration = expiration;
        let created_index = entry.created_index;
        let new_hash = entry_hash(path, entry);
        self.tree_hash = self.tree_hash.wrapping_sub(old_hash).wrapping_add(new_hash);
        if old_ttl.0 != 0 {
            self.ttl_index.remove(&old_ttl);
        }
        if expiration != 0 {
            self.ttl_index.insert((expiration, created_index), path.to_string());
        }
        let (expiration, ttl) = expiration_and_ttl(expiration, now);
        let node = Node {
            key: path.to_string(),
            dir: is_dir,
            value: if is_dir { None } else { Some(value) },
            expiration,
            ttl,
            nodes: Vec::new(),
            modified_index: next_index,
            created_index,
        };
        self.current_index = next_index;
        Event { action, node, prev_node: Some(prev_node), etcd_index: next_index, refresh: false }
    }

    fn delete(&mut self, key: &str, dir: bool, recursive: bool, now: i64) -> Result<Event, StoreError> {
        let path = clean_path(key);
        if path == "/" {
            return Err(StoreError::root_read_only(self.current_index));
        }
        let dir = dir || recursive;
        let entry = self.get_entry(&path)?;
        if let Body::Dir(children) = &entry.body {
            if !dir {
                return Err(StoreError::not_file(&*path, self.current_index));
            }
            if !children.is_empty() && !recursive {
                return Err(StoreError::dir_not_empty(&*path, self.current_index));
            }
        }
        Ok(self.remove(&path, Action::Delete, now))
    }

    fn compare_and_delete(
        &mut self,
        key: &str,
        prev_value: &str,
        prev_index: u64,
        now: i64,
    ) -> Result<Event, StoreError> {
        let path = clean_path(key);
        let entry = self.get_entry(&path)?;
        if entry.is_dir() {
            return Err(StoreError::not_file(&*path, self.current_index));
        }
        compare(entry, prev_value, prev_index)
            .map_err(|cause| StoreError::test_failed(cause, self.current_index))?;
        Ok(self.remove(&path, Action::CompareAndDelete, now))
    }

    /// Removes an existing node (with its subtree) at the next index and notifies: watchers on every
    /// removed path hear it as a deletion (etcd's Remove callback), then the usual ancestors walk.
    fn remove(&mut self, path: &str, action: Action, now: i64) -> Event {
        debug_assert!(path != "/");
        let next_index = self.current_index + 1;
        let entry = self.get_entry(path).expect("caller looked the path up");
        let prev_node = repr(entry, path, false, now);
        let node = Node {
            key: path.to_string(),
            dir: entry.is_dir(),
            modified_index: next_index,
            created_index: entry.created_index,
            ..Node::default()
        };
        let event =
            Event { action, node, prev_node: Some(prev_node), etcd_index: next_index, refresh: false };

        let watched_paths = if self.hub.is_empty() { Vec::new() } else { self.hub.paths_at_or_under(path) };
        let mut deleted_paths = Vec::with_capacity(watched_paths.len());
        for watched in watched_paths {
            if matches!(self.lookup(&watched), Lookup::Found(_)) {
                deleted_paths.push(watched);
            }
        }
        let name = last_segment(path).to_string();
        let removed = self.parent_children_mut(path).remove(name.as_bytes()).expect("entry exists");
        let mut ttls = BTreeMap::new();
        let removed_hash = walk_subtree(&removed, path, &mut ttls);
        self.tree_hash = self.tree_hash.wrapping_sub(removed_hash);
        for key in ttls.keys() {
            self.ttl_index.remove(key);
        }
        drop(removed);

        self.current_index = next_index;
        // etcd calls back children before their parent; the order only matters across watchers.
        for deleted in deleted_paths.iter().rev() {
            self.hub.notify_watchers(&event, deleted, true);
        }
        self.publish(event)
    }

    /// Expires every node whose expiration is at or before `now`, oldest first, one index and one
    /// `expire` event each (an expiring directory takes its subtree with it). Like every change, call
    /// it only while applying the log (`apply(&Command::Sync { now })` does), never from a local clock.
    pub fn expire(&mut self, now: i64) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some((&(expiration, created_index), _)) = self.ttl_index.first_key_value() {
            if expiration > now {
                break;
            }
            let path = self.ttl_index.remove(&(expiration, created_index)).expect("first key exists");
            debug_assert!(
                matches!(self.lookup(&path), Lookup::Found(entry) if entry.created_index == created_index)
            );
            if path == "/" || !matches!(self.lookup(&path), Lookup::Found(_)) {
                continue; // unreachable by construction; never panic on it
            }
            let event = self.remove(&path, Action::Expire, now);
            self.counters.writes.expire_count += 1;
            events.push(event);
        }
        events
    }

    /// Adds the event to the history and hands it to watchers.
    fn publish(&mut self, event: Event) -> Event {
        self.history.push(event.clone());
        self.hub.notify(&event);
        event
    }

    /// A write etcd makes outside the keyspace its keys API serves: etcd keeps cluster membership and
    /// the cluster version in the same v2 store, under `/0`, so each such write takes a store index
    /// (a fresh one-member etcd answers its first user write with index 4). Concord keeps membership
    /// outside the store but consumes the same indexes, so `X-Etcd-Index`, `modifiedIndex` and in-order
    /// key names match etcd's. `key` names the write etcd would have made. The event is kept in the
    /// history like a refresh: it uses an index, and no watcher ever sees it. Returns the new index.
    pub fn apply_internal(&mut self, key: &str) -> u64 {
        self.current_index += 1;
        let index = self.current_index;
        let node =
            Node { key: key.to_string(), modified_index: index, created_index: index, ..Node::default() };
        self.record_refresh(Event {
            action: Action::Set,
            node,
            prev_node: None,
            etcd_index: index,
            refresh: true,
        });
        index
    }

    /// A refresh: recorded in the history (it used an index) but not shown to watchers.
    fn record_refresh(&mut self, mut event: Event) -> Event {
        event.refresh = true;
        self.history.push(event.clone());
        event
    }

    /// Starts a watch on `key`. With `since_index` (etcd's waitIndex; 0 = none) the first matching event
    /// at or after it in the history answers at once; older than the history is 401. Otherwise a watcher
    /// is registered for events after the current index.
    pub fn watch(
        &mut self,
        key: &str,
        recursive: bool,
        stream: bool,
        since_index: Option<u64>,
    ) -> Result<WatchStart, StoreError> {
        let path = clean_path(key).into_owned();
        let since_index = since_index.filter(|index| *index != 0).unwrap_or(self.current_index + 1);
        if let Some(event) = self.history.scan(&path, recursive, since_index, self.current_index)? {
            let mut event = event.clone();
            event.etcd_index = self.current_index;
            return Ok(WatchStart::Event(event));
        }
        let watcher = self.hub.register(path, recursive, stream, since_index);
        Ok(WatchStart::Registered { watcher, start_index: self.current_index })
    }

    /// Drains every watcher's queued events (watchers in id order, events in order). One-shot watchers
    /// are gone once their event is taken; `Closed` follows the last event of an overflowed watcher.
    pub fn take_watch_events(&mut self) -> Vec<WatchNotice> {
        self.hub.take()
    }

    /// Forgets a watcher (its client went away). Returns whether it existed.
    pub fn cancel_watch(&mut self, watcher: WatcherId) -> bool {
        self.hub.cancel(watcher)
    }

    /// The `/v2/stats/store` counters.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            gets_success: self.counters.gets_success.load(Ordering::Relaxed),
            gets_fail: self.counters.gets_fail.load(Ordering::Relaxed),
            watchers: self.hub.registered_count(),
            ..self.counters.writes
        }
    }
}

/// The hash of the node at `path`, a term of `Store::tree_hash`.
fn entry_hash(path: &str, entry: &Entry) -> u64 {
    digest::node_hash(
        path,
        entry.is_dir(),
        entry.value(),
        entry.created_index,
        entry.modified_index,
        entry.expiration,
    )
}

/// Collects every node with a TTL in the subtree at `path` (keyed as in `Store::ttl_index`) and
/// returns the sum of the subtree's node hashes. Order-independent, so map order does not matter.
fn walk_subtree(entry: &Entry, path: &str, ttls: &mut BTreeMap<(i64, u64), String>) -> u64 {
    if entry.expiration != 0 {
        ttls.insert((entry.expiration, entry.created_index), path.to_string());
    }
    let mut sum = entry_hash(path, entry);
    if let Body::Dir(children) = &entry.body {
        for (name, child) in children.iter() {
            sum = sum.wrapping_add(walk_subtree(child, &child_path(path, name.as_str()), ttls));
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_stay_small() {
        // 1,000,000 keys cost a map bucket each (name + entry): keep both compact.
        assert!(std::mem::size_of::<Entry>() <= 48, "Entry is {} bytes", std::mem::size_of::<Entry>());
        assert_eq!(std::mem::size_of::<Body>(), 24);
    }
}
