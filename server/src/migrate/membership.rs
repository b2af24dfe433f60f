//! The cluster as etcd 3.4 keeps it in its v2 store: each member's `raftAttributes` (peer URLs,
//! learner) and `attributes` (name, client URLs) under `/0/members/<hex id>`, removed members under
//! `/0/removed_members/<hex id>`, the cluster version at `/0/version`; turned into Concord's members
//! and the Raft configuration they imply (voters and learners; etcd 3.4 never leaves a joint one).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use store::Store;

use super::replay::strings;
use crate::node::Member;

/// The cluster read from etcd's `/0`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    pub members: BTreeMap<u64, Member>,
    pub removed: BTreeSet<u64>,
    pub cluster_version: Option<String>,
}

impl Membership {
    /// The Raft configuration of these members.
    pub fn conf_state(&self) -> raft::ConfState {
        let mut conf = raft::ConfState::with_voters(
            self.members.values().filter(|member| !member.is_learner).map(|member| member.id),
        );
        conf.learners =
            self.members.values().filter(|member| member.is_learner).map(|member| member.id).collect();
        conf
    }
}

/// The children of a directory of `store` (hidden ones are not listed; etcd writes none under `/0`).
fn children(store: &Store, key: &str) -> Vec<store::Node> {
    store.get(key, true, true, 0).map(|event| event.node.nodes).unwrap_or_default()
}

/// The last segment of a key as a hex member ID.
fn member_id(key: &str) -> Option<u64> {
    u64::from_str_radix(key.rsplit('/').next()?, 16).ok()
}

/// Reads the membership from etcd's whole tree (see `etcd_v2_store`).
pub fn read_membership(store: &Store) -> Result<Membership, String> {
    let mut membership = Membership::default();
    for member_dir in children(store, "/0/members") {
        let id = member_id(&member_dir.key).ok_or_else(|| format!("bad member key {}", member_dir.key))?;
        let mut member = Member { id, ..Member::default() };
        for record in &member_dir.nodes {
            let json: Value =
                serde_json::from_str(record.value.as_deref().unwrap_or("")).unwrap_or(Value::Null);
            if record.key.ends_with("/raftAttributes") {
                member.peer_urls = strings(&json["peerURLs"]);
                member.is_learner = json["isLearner"].as_bool().unwrap_or(false);
            } else if record.key.ends_with("/attributes") {
                member.name = json["name"].as_str().unwrap_or_default().to_string();
                member.client_urls = strings(&json["clientURLs"]);
            }
        }
        if member.peer_urls.is_empty() {
            return Err(format!("member {id:x} has no peer URLs in {}", member_dir.key));
        }
        membership.members.insert(id, member);
    }
    for removed in children(store, "/0/removed_members") {
        let id = member_id(&removed.key).ok_or_else(|| format!("bad removed member key {}", removed.key))?;
        membership.removed.insert(id);
    }
    membership.cluster_version =
        store.get("/0/version", false, false, 0).ok().and_then(|event| event.node.value);
    if membership.members.keys().any(|id| membership.removed.contains(id)) {
        return Err("a member is both present and removed".to_string());
    }
    Ok(membership)
}
