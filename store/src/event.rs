//! What the store answers: an `Event` (action, node, previous node, store index) and its exact etcd JSON.

use crate::json;
use serde::{Deserialize, Serialize};

/// The `action` of an event, as etcd names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Action {
    Get,
    Set,
    Create,
    Update,
    Delete,
    CompareAndSwap,
    CompareAndDelete,
    Expire,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Get => "get",
            Action::Set => "set",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::CompareAndSwap => "compareAndSwap",
            Action::CompareAndDelete => "compareAndDelete",
            Action::Expire => "expire",
        }
    }
}

/// A node as etcd renders it (Go's `NodeExtern`). Zero/empty fields are omitted from the JSON exactly
/// like Go's `omitempty`: an empty `key` (the root), `dir == false`, `ttl == 0`, empty `nodes`, and
/// zero indexes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub key: String,
    pub dir: bool,
    /// `None` for directories (and for delete/expire events); `Some("")` renders `"value":""`.
    pub value: Option<String>,
    /// Absolute expiry time, Unix nanoseconds; `None` for permanent nodes.
    pub expiration: Option<i64>,
    /// Remaining seconds, rounded up, as of the time the node was rendered; 0 renders nothing.
    pub ttl: i64,
    pub nodes: Vec<Node>,
    pub modified_index: u64,
    pub created_index: u64,
}

impl Node {
    fn push_json(&self, out: &mut String) {
        out.push('{');
        let mut first = true;
        let mut field = |out: &mut String, name: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
        };
        if !self.key.is_empty() {
            field(out, "key");
            json::push_string(out, &self.key);
        }
        if self.dir {
            field(out, "dir");
            out.push_str("true");
        }
        if let Some(value) = &self.value {
            field(out, "value");
            json::push_string(out, value);
        }
        if let Some(expiration) = self.expiration {
            field(out, "expiration");
            json::push_rfc3339_nanos(out, expiration);
        }
        if self.ttl != 0 {
            field(out, "ttl");
            out.push_str(&self.ttl.to_string());
        }
        if !self.nodes.is_empty() {
            field(out, "nodes");
            out.push('[');
            for (position, child) in self.nodes.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                child.push_json(out);
            }
            out.push(']');
        }
        if self.modified_index != 0 {
            field(out, "modifiedIndex");
            out.push_str(&self.modified_index.to_string());
        }
        if self.created_index != 0 {
            field(out, "createdIndex");
            out.push_str(&self.created_index.to_string());
        }
        out.push('}');
    }

    /// This node alone as JSON (no newline).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.push_json(&mut out);
        out
    }
}

/// The answer to a read or a write, and what watchers receive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub action: Action,
    pub node: Node,
    pub prev_node: Option<Node>,
    /// The store index (`X-Etcd-Index`) taken atomically with the operation. Not part of the JSON.
    pub etcd_index: u64,
    /// A TTL refresh (`refresh=true`): in the history but invisible to watchers. Not part of the JSON.
    pub refresh: bool,
}

impl Event {
    /// The index watchers compare with their `waitIndex`: the node's modifiedIndex.
    pub fn index(&self) -> u64 {
        self.node.modified_index
    }

    /// etcd answers a write with `201 Created` for a create and for a set that made a new node, 200
    /// otherwise. (A watch answer is always 200.)
    pub fn http_status(&self) -> u16 {
        let created =
            self.action == Action::Create || (self.action == Action::Set && self.prev_node.is_none());
        if created { 201 } else { 200 }
    }

    /// The response body etcd writes for this event, trailing newline included.
    pub fn to_json(&self) -> String {
        self.to_json_with(false)
    }

    /// As `to_json`; with `no_value_on_success` (etcd's `noValueOnSuccess=true`), set, create, update
    /// and compareAndSwap answers drop `node` and `prevNode`.
    pub fn to_json_with(&self, no_value_on_success: bool) -> String {
        let mut out = String::with_capacity(128);
        out.push_str("{\"action\":\"");
        out.push_str(self.action.as_str());
        out.push('"');
        let drop_nodes = no_value_on_success
            && matches!(self.action, Action::Set | Action::CompareAndSwap | Action::Create | Action::Update);
        if !drop_nodes {
            out.push_str(",\"node\":");
            self.node.push_json(&mut out);
            if let Some(prev_node) = &self.prev_node {
                out.push_str(",\"prevNode\":");
                prev_node.push_json(&mut out);
            }
        }
        out.push_str("}\n");
        out
    }
}
