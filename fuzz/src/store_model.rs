//! A simple model of the etcd v2 keyspace for the `store_v2` target: a `BTreeMap` from path to
//! node, written from etcd's documented rules (set, create, in-order create, update, compare-and-swap,
//! delete, compare-and-delete; permanent nodes only), to compare the real `store::Store` against.
//!
//! Rules kept: every change takes the next index; writing under a file is 104, at the root 107
//! (except compare-and-delete, which finds the root a directory: 102); set and create make missing
//! parent directories at the write's index; set replaces a file (never a directory: 102) with a new
//! node, create refuses an existing key (105); update and compare-and-swap keep createdIndex, and
//! on a directory update only renews it (same modifiedIndex, an etcd quirk) and refuses a value
//! (102); a failed comparison is 101; deleting a directory needs `dir` (102), a non-empty one
//! `recursive` (108), and takes its subtree.

use std::collections::BTreeMap;

use store::error::{
    DIR_NOT_EMPTY, KEY_NOT_FOUND, NODE_EXIST, NOT_DIR, NOT_FILE, ROOT_READ_ONLY, TEST_FAILED,
};

/// One node of the model: a directory or a file with its value, and its indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelNode {
    pub dir: bool,
    pub value: String,
    pub created_index: u64,
    pub modified_index: u64,
}

/// The keyspace as path -> node (the root is implicit) and the store index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    pub nodes: BTreeMap<String, ModelNode>,
    pub index: u64,
}

/// The write a step makes, on clean paths.
#[derive(Clone, Debug)]
pub enum ModelWrite {
    Set { path: String, value: String, dir: bool },
    Create { path: String, value: String, dir: bool, in_order: bool },
    Update { path: String, value: String },
    CompareAndSwap { path: String, value: String, prev_value: String, prev_index: u64 },
    Delete { path: String, dir: bool, recursive: bool },
    CompareAndDelete { path: String, prev_value: String, prev_index: u64 },
}

/// The proper ancestors of a clean path, outermost first, without the root.
fn ancestors(path: &str) -> Vec<&str> {
    path.match_indices('/').skip(1).map(|(at, _)| &path[..at]).collect()
}

impl Model {
    /// Applies one write: `Ok(())` or the etcd error code it fails with (then nothing changed).
    pub fn apply(&mut self, write: &ModelWrite) -> Result<(), u16> {
        match write {
            ModelWrite::Set { path, value, dir } => self.set(path, value, *dir),
            ModelWrite::Create { path, value, dir, in_order } => {
                let path = if *in_order {
                    store::clean_path(&format!("{path}/{:020}", self.index + 1)).into_owned()
                } else {
                    path.clone()
                };
                self.create(&path, value, *dir)
            }
            ModelWrite::Update { path, value } => self.update(path, value),
            ModelWrite::CompareAndSwap { path, value, prev_value, prev_index } => {
                self.compare_and_swap(path, value, prev_value, *prev_index)
            }
            ModelWrite::Delete { path, dir, recursive } => self.delete(path, *dir || *recursive, *recursive),
            ModelWrite::CompareAndDelete { path, prev_value, prev_index } => {
                self.compare_and_delete(path, prev_value, *prev_index)
            }
        }
    }

    /// etcd's lookup: 104 when a file stands on the way, 100 when a component is missing.
    fn lookup(&self, path: &str) -> Result<Option<&ModelNode>, u16> {
        if path == "/" {
            return Ok(None); // the root directory
        }
        for ancestor in ancestors(path) {
            match self.nodes.get(ancestor) {
                None => return Err(KEY_NOT_FOUND),
                Some(node) if !node.dir => return Err(NOT_DIR),
                Some(_) => {}
            }
        }
        self.nodes.get(path).map(Some).ok_or(KEY_NOT_FOUND)
    }

    fn set(&mut self, path: &str, value: &str, dir: bool) -> Result<(), u16> {
        match self.lookup(path) {
            Err(KEY_NOT_FOUND) | Ok(_) => {}
            Err(code) => return Err(code),
        }
        self.put_new(path, value, dir, true)
    }

    fn create(&mut self, path: &str, value: &str, dir: bool) -> Result<(), u16> {
        self.put_new(path, value, dir, false)
    }

    /// etcd's internalCreate: missing parents become directories, the node is new.
    fn put_new(&mut self, path: &str, value: &str, dir: bool, replace: bool) -> Result<(), u16> {
        if path == "/" {
            return Err(ROOT_READ_ONLY);
        }
        if ancestors(path).iter().any(|ancestor| self.nodes.get(*ancestor).is_some_and(|node| !node.dir)) {
            return Err(NOT_DIR);
        }
        match self.nodes.get(path) {
            Some(_) if !replace => return Err(NODE_EXIST),
            Some(existing) if existing.dir => return Err(NOT_FILE),
            _ => {}
        }
        let index = self.index + 1;
        for ancestor in ancestors(path) {
            self.nodes.entry(ancestor.to_string()).or_insert_with(|| directory(index));
        }
        let value = if dir { String::new() } else { value.to_string() };
        self.nodes
            .insert(path.to_string(), ModelNode { dir, value, created_index: index, modified_index: index });
        self.index = index;
        Ok(())
    }

    fn update(&mut self, path: &str, value: &str) -> Result<(), u16> {
        if path == "/" {
            return Err(ROOT_READ_ONLY);
        }
        let node = self.lookup(path)?.expect("not the root");
        if node.dir && !value.is_empty() {
            return Err(NOT_FILE);
        }
        self.rewrite(path, value);
        Ok(())
    }

    fn compare_and_swap(
        &mut self,
        path: &str,
        value: &str,
        prev_value: &str,
        prev_index: u64,
    ) -> Result<(), u16> {
        if path == "/" {
            return Err(ROOT_READ_ONLY);
        }
        let node = self.lookup(path)?.expect("not the root");
        if node.dir {
            return Err(NOT_FILE);
        }
        compare(node, prev_value, prev_index)?;
        self.rewrite(path, value);
        Ok(())
    }

    /// A new value for a file (a directory keeps its modifiedIndex), at the next index.
    fn rewrite(&mut self, path: &str, value: &str) {
        self.index += 1;
        let node = self.nodes.get_mut(path).expect("looked up");
        if !node.dir {
            node.value = value.to_string();
            node.modified_index = self.index;
        }
    }

    fn delete(&mut self, path: &str, dir: bool, recursive: bool) -> Result<(), u16> {
        if path == "/" {
            return Err(ROOT_READ_ONLY);
        }
        let node = self.lookup(path)?.expect("not the root");
        if node.dir {
            if !dir {
                return Err(NOT_FILE);
            }
            if self.has_children(path) && !recursive {
                return Err(DIR_NOT_EMPTY);
            }
        }
        self.remove(path);
        Ok(())
    }

    fn compare_and_delete(&mut self, path: &str, prev_value: &str, prev_index: u64) -> Result<(), u16> {
        let node = match self.lookup(path)? {
            None => return Err(NOT_FILE), // the root is a directory
            Some(node) if node.dir => return Err(NOT_FILE),
            Some(node) => node,
        };
        compare(node, prev_value, prev_index)?;
        self.remove(path);
        Ok(())
    }

    fn has_children(&self, path: &str) -> bool {
        let prefix = format!("{path}/");
        self.nodes.range(prefix.clone()..).next().is_some_and(|(key, _)| key.starts_with(&prefix))
    }

    /// Removes a node and its subtree at the next index.
    fn remove(&mut self, path: &str) {
        let prefix = format!("{path}/");
        self.nodes.retain(|key, _| key != path && !key.starts_with(&prefix));
        self.index += 1;
    }
}

fn directory(index: u64) -> ModelNode {
    ModelNode { dir: true, value: String::new(), created_index: index, modified_index: index }
}

fn compare(node: &ModelNode, prev_value: &str, prev_index: u64) -> Result<(), u16> {
    let value_matches = prev_value.is_empty() || node.value == prev_value;
    let index_matches = prev_index == 0 || node.modified_index == prev_index;
    if value_matches && index_matches { Ok(()) } else { Err(TEST_FAILED) }
}
