//! Applying the committed etcd log after its snapshot, the way etcd 3.4's applier does, to the
//! state read from the snapshot and the backend: v2 requests (`etcdserverpb.Request`) through
//! Concord's store apply path on the whole etcd tree (so every write, failed write and expiry takes
//! or skips a store index exactly as it did in etcd), conf changes as etcd writes them under
//! `/0/members`, and v3 requests (`InternalRaftRequest`) above the backend's consistent index through
//! the v3 keyspace's apply.
//!
//! etcd's v2 requests carry an absolute expiration while Concord's commands carry a TTL and the
//! proposer's clock; the command is stamped with the clock of the newest `SYNC` seen, so the TTL it
//! carries is close to what the client asked for and `now + ttl` is the exact expiration.

use std::collections::BTreeSet;

use prost::Message;
use serde_json::Value;
use store::{Command, Store};

use super::etcd_proto::{
    CONF_CHANGE_ADD_LEARNER_NODE, CONF_CHANGE_ADD_NODE, CONF_CHANGE_REMOVE_NODE, CONF_CHANGE_UPDATE_NODE,
    ConfChange, ENTRY_CONF_CHANGE, ENTRY_CONF_CHANGE_V2, ENTRY_NORMAL, Entry, InternalRaftRequest, Request,
};
use crate::grpc::convert;

/// Nanoseconds per second.
const NANOS_PER_SECOND: i64 = 1_000_000_000;
/// Notes kept at most (each says what was not applied and why).
const MAX_NOTES: usize = 100;

/// The state being rebuilt and what applying it found.
pub struct Replay {
    /// etcd's whole v2 tree: `/0` membership, `/1` keys, `/2` v2 auth.
    pub store: Store,
    pub mvcc: mvcc::Mvcc,
    /// v3 requests at or below this index are in the backend already.
    pub consistent_index: u64,
    /// Raised alarms as (member ID, etcd `AlarmType` number).
    pub alarms: BTreeSet<(u64, i32)>,
    /// The newest clock a `SYNC` carried (Unix nanoseconds), 0 before the first.
    pub clock_ns: i64,
    /// What was not applied, and why (at most `MAX_NOTES`).
    pub notes: Vec<String>,
    /// The index of the last entry applied (entries come in index order, each once).
    pub applied_index: u64,
}

impl Replay {
    pub fn new(
        store: Store,
        mvcc: mvcc::Mvcc,
        consistent_index: u64,
        alarms: BTreeSet<(u64, i32)>,
    ) -> Replay {
        Replay { store, mvcc, consistent_index, alarms, clock_ns: 0, notes: Vec::new(), applied_index: 0 }
    }

    fn note(&mut self, note: String) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(note);
        }
    }

    /// Applies one committed entry; entries come in index order, each once.
    pub fn apply(&mut self, entry: &Entry) -> Result<(), String> {
        assert!(
            entry.index > self.applied_index,
            "entry {} applied after {}",
            entry.index,
            self.applied_index
        );
        self.applied_index = entry.index;
        match entry.entry_type {
            ENTRY_NORMAL if entry.data.is_empty() => Ok(()), // a new leader's empty entry
            ENTRY_NORMAL => {
                self.apply_normal(entry.index, &entry.data);
                Ok(())
            }
            ENTRY_CONF_CHANGE => {
                let change = ConfChange::decode(entry.data.as_slice())
                    .map_err(|error| format!("entry {}: undecodable conf change: {error}", entry.index))?;
                self.apply_conf_change(entry.index, &change);
                Ok(())
            }
            ENTRY_CONF_CHANGE_V2 => {
                Err(format!("entry {}: a ConfChangeV2, which etcd 3.4 never writes", entry.index))
            }
            other => Err(format!("entry {}: unknown entry type {other}", entry.index)),
        }
    }

    /// etcd's `applyEntryNormal`: an `InternalRaftRequest` if the bytes decode as one, else a v2
    /// `Request` (what etcd's v2 API proposes).
    fn apply_normal(&mut self, index: u64, data: &[u8]) {
        if let Ok(request) = InternalRaftRequest::decode(data) {
            match &request.v2 {
                Some(v2) => self.apply_v2(index, v2),
                None => self.apply_v3(index, &request),
            }
            return;
        }
        match Request::decode(data) {
            Ok(request) => self.apply_v2(index, &request),
            Err(error) => self.note(format!("entry {index}: undecodable request ({error}), not applied")),
        }
    }

    /// etcd's `applyV2Request`.
    fn apply_v2(&mut self, index: u64, request: &Request) {
        let path = store::clean_path(&request.path).into_owned();
        let command = match request.method.as_str() {
            "SYNC" => {
                self.clock_ns = self.clock_ns.max(request.time);
                Command::Sync { now: request.time }
            }
            "QGET" | "GET" | "HEAD" => return,
            _ if ["/", "/0", "/1"].contains(&path.as_str()) => return, // etcd's read-only directories
            "PUT" | "POST" | "DELETE" => match self.write_command(request, path) {
                Some(command) => command,
                None => return,
            },
            other => {
                self.note(format!("entry {index}: unknown v2 method {other:?}, not applied"));
                return;
            }
        };
        // A failed write changes nothing and takes no index, as in etcd.
        let _ = self.store.apply(&command);
    }

    /// The store command of a v2 write (etcd's `applierV2store` Put/Post/Delete); `None` when etcd
    /// would write nothing (a member that is gone publishing its attributes).
    fn write_command(&self, request: &Request, key: String) -> Option<Command> {
        let (ttl, now) = self.ttl_and_now(request.expiration);
        let refresh = request.refresh.unwrap_or(false);
        let value = request.val.clone();
        let compares = request.prev_index > 0 || !request.prev_value.is_empty();
        let (prev_value, prev_index, dir) = (request.prev_value.clone(), request.prev_index, request.dir);
        Some(match request.method.as_str() {
            "POST" => Command::Create { key, value, dir, ttl, in_order: true, now },
            "DELETE" if compares => Command::CompareAndDelete { key, prev_value, prev_index, now },
            "DELETE" => Command::Delete { key, dir, recursive: request.recursive, now },
            _ => match request.prev_exist {
                Some(true) if !compares => Command::Update { key, value, ttl, refresh, now },
                Some(true) => {
                    Command::CompareAndSwap { key, value, prev_value, prev_index, ttl, refresh, now }
                }
                Some(false) => Command::Create { key, value, dir, ttl, in_order: false, now },
                None if compares => {
                    Command::CompareAndSwap { key, value, prev_value, prev_index, ttl, refresh, now }
                }
                None if is_member_attributes(&key) && !self.exists(parent(&key)) => return None,
                None => Command::Set { key, value, dir, ttl, refresh, now },
            },
        })
    }

    /// A TTL and a clock whose sum is exactly `expiration` (0: none), the clock as near the newest
    /// `SYNC`'s as whole seconds allow.
    fn ttl_and_now(&self, expiration: i64) -> (Option<u64>, i64) {
        if expiration == 0 {
            return (None, self.clock_ns);
        }
        let remaining_ns = expiration.saturating_sub(self.clock_ns);
        let seconds = if self.clock_ns == 0 || remaining_ns <= 0 {
            1
        } else {
            (remaining_ns + NANOS_PER_SECOND - 1) / NANOS_PER_SECOND
        };
        (Some(seconds as u64), expiration - seconds * NANOS_PER_SECOND)
    }

    fn exists(&self, key: &str) -> bool {
        self.store.get(key, false, false, 0).is_ok()
    }

    /// etcd's v3 applier for one request above the backend's consistent index.
    fn apply_v3(&mut self, index: u64, request: &InternalRaftRequest) {
        if index <= self.consistent_index {
            return;
        }
        let now_ms = self.clock_ns / 1_000_000;
        let command = if let Some(put) = &request.put {
            mvcc::Command::Put(convert::put_request(put.clone()))
        } else if let Some(delete) = &request.delete_range {
            mvcc::Command::DeleteRange(convert::delete_range_request(delete.clone()))
        } else if let Some(txn) = &request.txn {
            match convert::txn_request(txn.clone()) {
                Ok(txn) => mvcc::Command::Txn(txn),
                Err(_) => return, // etcd refuses it when applying too
            }
        } else if let Some(compaction) = &request.compaction {
            mvcc::Command::Compaction(convert::compaction_request(*compaction))
        } else if let Some(grant) = &request.lease_grant {
            let request = mvcc::LeaseGrantRequest { ttl: grant.ttl, id: grant.id };
            mvcc::Command::LeaseGrant { request, now_ms }
        } else if let Some(revoke) = &request.lease_revoke {
            mvcc::Command::LeaseRevoke(mvcc::LeaseRevokeRequest { id: revoke.id })
        } else if let Some(checkpoint) = &request.lease_checkpoint {
            let checkpoints = checkpoint
                .checkpoints
                .iter()
                .map(|item| mvcc::LeaseCheckpoint { id: item.id, remaining_ttl: item.remaining_ttl })
                .collect();
            mvcc::Command::LeaseCheckpoint(checkpoints)
        } else if let Some(alarm) = &request.alarm {
            self.apply_alarm(alarm);
            return;
        } else if request.range.is_some() {
            return;
        } else {
            self.note(format!(
                "entry {index}: a v3 auth or unknown request, not applied (Concord has no v3 auth)"
            ));
            return;
        };
        // A refused request changes nothing, as in etcd.
        let _ = self.mvcc.apply(&command);
    }

    /// etcd's alarm store: activate adds, deactivate removes (`GET` = 0 changes nothing).
    fn apply_alarm(&mut self, alarm: &api::etcdserverpb::AlarmRequest) {
        const ACTIVATE: i32 = 1;
        const DEACTIVATE: i32 = 2;
        const NONE: i32 = 0;
        match alarm.action {
            ACTIVATE if alarm.alarm != NONE => {
                self.alarms.insert((alarm.member_id, alarm.alarm));
            }
            DEACTIVATE => {
                self.alarms.remove(&(alarm.member_id, alarm.alarm));
            }
            _ => {}
        }
    }

    /// etcd's `applyConfChange`: a change its membership check refuses writes nothing; otherwise the
    /// member's records under `/0` change as etcd's `RaftCluster` writes them.
    fn apply_conf_change(&mut self, index: u64, change: &ConfChange) {
        let id = change.node_id;
        let member_key = format!("/0/members/{id:x}");
        let attributes_key = format!("{member_key}/raftAttributes");
        let is_member = self.exists(&member_key);
        let is_removed = self.exists(&format!("/0/removed_members/{id:x}"));
        let context: Value = serde_json::from_slice(&change.context).unwrap_or(Value::Null);
        let commands = match change.change_type {
            CONF_CHANGE_ADD_NODE | CONF_CHANGE_ADD_LEARNER_NODE
                if context["isPromote"].as_bool() == Some(true) =>
            {
                if !is_member {
                    return self.note(format!("entry {index}: promotion of unknown member {id:x} refused"));
                }
                let urls = self.peer_urls(&attributes_key);
                vec![update(&attributes_key, raft_attributes(&urls, false))]
            }
            CONF_CHANGE_ADD_NODE | CONF_CHANGE_ADD_LEARNER_NODE => {
                if is_member || is_removed || id == 0 {
                    return self.note(format!("entry {index}: addition of member {id:x} refused"));
                }
                let learner = context["isLearner"].as_bool().unwrap_or(false);
                let attributes = raft_attributes(&strings(&context["peerURLs"]), learner);
                vec![Command::Create {
                    key: attributes_key,
                    value: attributes,
                    dir: false,
                    ttl: None,
                    in_order: false,
                    now: 0,
                }]
            }
            CONF_CHANGE_REMOVE_NODE => {
                if !is_member {
                    return self.note(format!("entry {index}: removal of unknown member {id:x} refused"));
                }
                vec![
                    Command::Delete { key: member_key, dir: true, recursive: true, now: 0 },
                    Command::Create {
                        key: format!("/0/removed_members/{id:x}"),
                        value: String::new(),
                        dir: false,
                        ttl: None,
                        in_order: false,
                        now: 0,
                    },
                ]
            }
            CONF_CHANGE_UPDATE_NODE if is_member => {
                let learner = self.is_learner(&attributes_key);
                vec![update(&attributes_key, raft_attributes(&strings(&context["peerURLs"]), learner))]
            }
            _ => return self.note(format!("entry {index}: conf change {change:?} refused")),
        };
        for command in commands {
            let _ = self.store.apply(&command);
        }
    }

    fn attributes(&self, key: &str) -> Value {
        let event = self.store.get(key, false, false, 0);
        let text = event.ok().and_then(|event| event.node.value).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    fn peer_urls(&self, key: &str) -> Vec<String> {
        strings(&self.attributes(key)["peerURLs"])
    }

    fn is_learner(&self, key: &str) -> bool {
        self.attributes(key)["isLearner"].as_bool().unwrap_or(false)
    }
}

fn update(key: &str, value: String) -> Command {
    Command::Update { key: key.to_string(), value, ttl: None, refresh: false, now: 0 }
}

/// etcd's `RaftAttributes` JSON.
fn raft_attributes(peer_urls: &[String], is_learner: bool) -> String {
    let mut json = serde_json::json!({ "peerURLs": peer_urls });
    if is_learner {
        json["isLearner"] = Value::Bool(true);
    }
    json.to_string()
}

/// A JSON array of strings (anything else is empty).
pub fn strings(value: &Value) -> Vec<String> {
    value.as_array().map_or_else(Vec::new, |items| {
        items.iter().filter_map(|item| item.as_str().map(str::to_string)).collect()
    })
}

/// `/0/members/<id>/attributes`, which etcd's applier turns into a member update.
fn is_member_attributes(key: &str) -> bool {
    key.strip_prefix("/0/members/")
        .and_then(|rest| rest.strip_suffix("/attributes"))
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|byte| byte.is_ascii_hexdigit()))
}

fn parent(key: &str) -> &str {
    key.rsplit_once('/').map_or("/", |(parent, _)| parent)
}
