//! Keyspaces from elsewhere: building a store from a tree kept by another program (etcd's own v2
//! store, read by `concord migrate`) with its indexes, expirations, store index and event history;
//! taking the store of one directory out of a larger one (etcd keeps its keys under `/1`, beside its
//! membership under `/0` and its auth under `/2`); and counting nodes (for inspection tools).
//!
//! Every import is checked as a snapshot restore checks its bytes (names, strict order, indexes not
//! beyond the store index, history in order and within its capacity): the tree is written in the
//! snapshot format and read back, so a foreign tree can never build a store `restore` would refuse.

use std::collections::BTreeMap;

use crate::event::{Event, Node};
use crate::snapshot::SnapshotError;
use crate::store::{Body, Children, Entry, MAX_KEY_DEPTH, Store, sorted_children};
use crate::watch::{History, HistoryLimits, MAX_HISTORY_EVENTS};

/// A node of a tree to import: a file with its value or a directory with its children by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedNode {
    pub created_index: u64,
    pub modified_index: u64,
    /// Unix nanoseconds; 0 = permanent.
    pub expiration: i64,
    pub body: ImportedBody,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportedBody {
    File(String),
    Dir(BTreeMap<String, ImportedNode>),
}

impl ImportedNode {
    /// An empty permanent directory with both indexes at `index`.
    pub fn empty_dir(index: u64) -> ImportedNode {
        ImportedNode {
            created_index: index,
            modified_index: index,
            expiration: 0,
            body: ImportedBody::Dir(BTreeMap::new()),
        }
    }
}

fn fail<T>(reason: impl Into<String>) -> Result<T, SnapshotError> {
    Err(SnapshotError(reason.into()))
}

/// The store's entry for an imported node; `depth` bounds the recursion.
fn entry_of(node: ImportedNode, depth: usize) -> Result<Entry, SnapshotError> {
    if depth > MAX_KEY_DEPTH {
        return fail("tree deeper than the key depth limit");
    }
    let body = match node.body {
        ImportedBody::File(value) => Body::File(value.as_str().into()),
        ImportedBody::Dir(children) => {
            let mut entries = Children::with_capacity(children.len());
            for (name, child) in children {
                let entry = entry_of(child, depth + 1)?;
                entries.insert(name.as_str().into(), entry);
            }
            Body::Dir(Box::new(entries))
        }
    };
    Ok(Entry {
        created_index: node.created_index,
        modified_index: node.modified_index,
        expiration: node.expiration,
        body,
    })
}

/// `key` with `prefix` (a directory path, not `/`) taken off, or `None` when it is not under it.
fn strip_prefix(key: &str, prefix: &str) -> Option<String> {
    if key == prefix {
        return Some("/".to_string());
    }
    key.strip_prefix(prefix).filter(|rest| rest.starts_with('/')).map(str::to_string)
}

/// `node` and its listed children with `prefix` taken off their keys.
fn rekey(node: &mut Node, prefix: &str, depth: usize) {
    if depth > MAX_KEY_DEPTH {
        return;
    }
    if let Some(key) = strip_prefix(&node.key, prefix) {
        node.key = key;
    }
    for child in &mut node.nodes {
        rekey(child, prefix, depth + 1);
    }
}

impl Store {
    /// A store holding `root` (a permanent directory with both indexes 0) at store index
    /// `current_index`, with `history` (oldest first) as its event history. Watchers and counters
    /// start empty. Anything `restore` would refuse is refused.
    pub fn import(
        root: ImportedNode,
        current_index: u64,
        history: Vec<Event>,
    ) -> Result<Store, SnapshotError> {
        if history.len() > MAX_HISTORY_EVENTS {
            return fail(format!("{} history events, more than {MAX_HISTORY_EVENTS}", history.len()));
        }
        if !history.windows(2).all(|pair| pair[0].index() < pair[1].index()) {
            return fail("history out of order");
        }
        let mut kept = History::with_limits(HistoryLimits::UNBOUNDED);
        for event in history {
            kept.push(event);
        }
        let store = Store::from_parts(entry_of(root, 0)?, current_index, kept);
        // The snapshot reader holds every rule a store's state must keep.
        Store::restore(&store.snapshot())
    }

    /// The store of the directory at `path`: its subtree becomes the root, the store index stays, and
    /// the history keeps every event (so indexes still line up with `waitIndex`): events under `path`
    /// with `path` taken off their keys, the others as internal events no watcher sees.
    pub fn into_subtree(mut self, path: &str) -> Result<Store, SnapshotError> {
        let Some(name) = path.strip_prefix('/').filter(|name| !name.is_empty() && !name.contains('/')) else {
            return fail(format!("{path:?} is not a directory right below the root"));
        };
        let Body::Dir(children) = &mut self.root.body else {
            return fail("the root is not a directory");
        };
        let Some(subtree) = children.remove(name.as_bytes()) else {
            return fail(format!("no {path} to take out"));
        };
        if !matches!(subtree.body, Body::Dir(_))
            || subtree.created_index != 0
            || subtree.modified_index != 0
            || subtree.expiration != 0
        {
            return fail(format!("{path} must be a permanent directory with no indexes to become a root"));
        }
        let mut history = History::with_limits(self.history.limits());
        for mut event in std::mem::take(&mut self.history.events) {
            if strip_prefix(&event.node.key, path).is_some() {
                rekey(&mut event.node, path, 0);
                if let Some(prev_node) = &mut event.prev_node {
                    rekey(prev_node, path, 0);
                }
            } else {
                event.refresh = true;
            }
            history.push(event);
        }
        Ok(Store::from_parts(subtree, self.current_index, history))
    }

    /// Every node below the root, hidden ones included (the root itself does not count).
    pub fn node_count(&self) -> usize {
        fn count(entry: &Entry, depth: usize) -> usize {
            match &entry.body {
                Body::Dir(children) if depth <= MAX_KEY_DEPTH => {
                    sorted_children(children).iter().map(|(_, child)| 1 + count(child, depth + 1)).sum()
                }
                _ => 0,
            }
        }
        count(&self.root, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Command;

    fn file(index: u64, value: &str) -> ImportedNode {
        ImportedNode {
            created_index: index,
            modified_index: index,
            expiration: 0,
            body: ImportedBody::File(value.to_string()),
        }
    }

    fn dir(index: u64, children: Vec<(&str, ImportedNode)>) -> ImportedNode {
        ImportedNode {
            created_index: index,
            modified_index: index,
            expiration: 0,
            body: ImportedBody::Dir(
                children.into_iter().map(|(name, node)| (name.to_string(), node)).collect(),
            ),
        }
    }

    #[test]
    fn an_imported_tree_keeps_its_indexes_and_the_next_write_takes_the_next_index() {
        let root = dir(0, vec![("a", file(3, "x")), ("d", dir(5, vec![("_hidden", file(7, "h"))]))]);
        let mut store = Store::import(root, 9, Vec::new()).expect("a valid tree");
        let read = store.get("/a", false, false, 0).expect("imported key");
        assert_eq!((read.node.value.as_deref(), read.node.created_index), (Some("x"), 3));
        assert_eq!(store.node_count(), 3, "hidden nodes count too");
        let write = Command::Set {
            key: "/b".into(),
            value: "y".into(),
            dir: false,
            ttl: None,
            refresh: false,
            now: 0,
        };
        assert_eq!(store.apply(&write).expect("set").node.modified_index, 10);
    }

    #[test]
    fn a_tree_with_an_index_beyond_the_store_index_or_a_bad_name_is_refused() {
        assert!(Store::import(dir(0, vec![("a", file(12, "x"))]), 11, Vec::new()).is_err());
        assert!(Store::import(dir(0, vec![("a/b", file(1, "x"))]), 11, Vec::new()).is_err());
        assert!(Store::import(dir(1, Vec::new()), 11, Vec::new()).is_err(), "the root has no index");
    }

    #[test]
    fn the_subtree_of_a_prefix_becomes_the_keyspace_and_other_events_turn_internal() {
        let root = dir(0, vec![("0", dir(0, Vec::new())), ("1", dir(0, Vec::new()))]);
        let mut full = Store::import(root, 0, Vec::new()).expect("valid");
        let set = |key: &str| Command::Set {
            key: key.into(),
            value: "v".into(),
            dir: false,
            ttl: None,
            refresh: false,
            now: 0,
        };
        full.apply(&set("/0/members/1")).expect("internal write");
        full.apply(&set("/1/foo")).expect("user write");
        let mut keys = full.into_subtree("/1").expect("a root-able subtree");
        assert_eq!(keys.current_index(), 2);
        assert_eq!(keys.get("/foo", false, false, 0).expect("re-rooted").node.modified_index, 2);
        assert!(keys.get("/0", false, false, 0).is_err(), "the other prefix is gone");
        let history = keys.watch("/", true, false, Some(1)).expect("within the history");
        let crate::WatchStart::Event(event) = history else { panic!("the history answers: {history:?}") };
        assert_eq!(
            (event.node.key.as_str(), event.node.modified_index),
            ("/foo", 2),
            "internal write unseen"
        );
    }
}
