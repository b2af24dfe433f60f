//! One-line descriptions of log entries for operators: Concord's (a normal entry's proposal and its
//! operation, a conf change and the member it adds) and etcd 3.4's (a v2 `Request`, a v3
//! `InternalRaftRequest`, a conf change). Best effort: bytes that do not decode are described as such.
//! Concord's entries decode with the node's own payload types (`node/entry.rs`).

use prost::Message;
use store::Command;
use store::auth::AuthCommand;

use crate::codec;
use crate::migrate::etcd_proto::{
    CONF_CHANGE_ADD_LEARNER_NODE, CONF_CHANGE_ADD_NODE, CONF_CHANGE_REMOVE_NODE, CONF_CHANGE_UPDATE_NODE,
    ConfChange, ENTRY_CONF_CHANGE, ENTRY_NORMAL, InternalRaftRequest, Request,
};
use crate::node::{ConfContext, Operation, Proposal};

/// Characters of a key or value shown at most.
const SHOWN_CHARACTERS: usize = 48;

/// Bytes as text, escaped and cut to `SHOWN_CHARACTERS`.
pub fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut escaped: String = text.escape_debug().take(SHOWN_CHARACTERS).collect();
    if text.escape_debug().count() > SHOWN_CHARACTERS {
        escaped.push('…');
    }
    escaped
}

/// A Concord entry.
pub fn concord_entry(entry: &raft::Entry) -> String {
    match &entry.payload {
        raft::EntryPayload::Empty => "empty (a new leader's)".to_string(),
        raft::EntryPayload::ConfChange(change) => concord_conf_change(change),
        raft::EntryPayload::Normal(bytes) => match codec::decode::<Proposal>(bytes) {
            Ok(proposal) => format!("{} (from {:x})", operation(&proposal.operation), proposal.origin),
            Err(error) => format!("normal, {} bytes, undecodable: {error}", bytes.len()),
        },
    }
}

fn concord_conf_change(change: &raft::ConfChange) -> String {
    let changes: Vec<String> =
        change.changes.iter().map(|single| format!("{:?} {:x}", single.kind, single.node_id)).collect();
    let member = codec::decode::<ConfContext>(&change.context)
        .ok()
        .and_then(|context| context.member)
        .map_or(String::new(), |member| format!(" peers {:?}", member.peer_urls));
    if changes.is_empty() {
        return "conf change: leave the joint configuration".to_string();
    }
    format!("conf change: {}{member}", changes.join(", "))
}

fn operation(operation: &Operation) -> String {
    match operation {
        Operation::Store(command) => store_command(command),
        Operation::StoreAs { caller, command } => format!("{} as {caller:?}", store_command(command)),
        Operation::UpdateMember { id, peer_urls } => format!("update member {id:x} peers {peer_urls:?}"),
        Operation::ClusterVersion { version } => format!("cluster version {version}"),
        Operation::V3(command) => v3_command(command),
        Operation::LeaseRenew { id } => format!("v3 lease keep-alive {id:x}"),
        Operation::LeaseExpire { id, checked_index } => {
            format!("v3 lease {id:x} expired (leader's decision at index {checked_index})")
        }
        Operation::Publish { id, name, client_urls } => {
            format!("publish {id:x} {name:?} clients {client_urls:?}")
        }
        Operation::Alarm { activate, alarm } => {
            format!(
                "alarm {} {:?} of {:x}",
                if *activate { "raise" } else { "clear" },
                alarm.alarm,
                alarm.member_id
            )
        }
        Operation::Auth { caller, command } => format!("v2 auth {} as {caller:?}", auth_command(command)),
        Operation::V3As { user, auth_revision, command } => {
            format!("{} as {user:?} (auth revision {auth_revision})", v3_command(command))
        }
        Operation::V3Auth { user, command } => format!("v3 auth {} as {user:?}", v3_auth_command(command)),
        Operation::V3Authenticate { name, .. } => format!("v3 authenticate {name}"),
    }
}

/// A v3 auth change, without password hashes.
fn v3_auth_command(command: &mvcc::AuthCommand) -> String {
    match command {
        mvcc::AuthCommand::UserAdd { name, .. } => format!("user add {name}"),
        mvcc::AuthCommand::UserChangePassword { name, .. } => format!("user change password {name}"),
        other => format!("{other:?}"),
    }
}

fn auth_command(command: &AuthCommand) -> String {
    match command {
        AuthCommand::Enable => "enable".to_string(),
        AuthCommand::Disable => "disable".to_string(),
        AuthCommand::PutUser { name, .. } => format!("put user {name}"),
        AuthCommand::DeleteUser { name } => format!("delete user {name}"),
        AuthCommand::PutRole { name, .. } => format!("put role {name}"),
        AuthCommand::DeleteRole { name } => format!("delete role {name}"),
    }
}

/// A v2 store command.
pub fn store_command(command: &Command) -> String {
    let ttl = |ttl: &Option<u64>| ttl.map_or(String::new(), |seconds| format!(" ttl {seconds}"));
    match command {
        Command::Set { key, value, dir: true, ttl: seconds, .. } if value.is_empty() => {
            format!("v2 set {key} (dir){}", ttl(seconds))
        }
        Command::Set { key, value, ttl: seconds, .. } => {
            format!("v2 set {key} = {}{}", shown(value.as_bytes()), ttl(seconds))
        }
        Command::Create { key, in_order: true, .. } => format!("v2 create in order under {key}"),
        Command::Create { key, dir, ttl: seconds, .. } => {
            format!("v2 create {key}{}{}", if *dir { " (dir)" } else { "" }, ttl(seconds))
        }
        Command::Update { key, ttl: seconds, .. } => format!("v2 update {key}{}", ttl(seconds)),
        Command::CompareAndSwap { key, .. } => format!("v2 compare-and-swap {key}"),
        Command::Delete { key, recursive, .. } => {
            format!("v2 delete {key}{}", if *recursive { " (recursive)" } else { "" })
        }
        Command::CompareAndDelete { key, .. } => format!("v2 compare-and-delete {key}"),
        Command::Sync { now } => format!("v2 sync (expire up to {now} ns)"),
    }
}

/// A v3 keyspace command.
pub fn v3_command(command: &mvcc::Command) -> String {
    match command {
        mvcc::Command::Range(request) => format!("v3 range {}", shown(&request.key)),
        mvcc::Command::Put(request) => {
            format!("v3 put {} ({} bytes)", shown(&request.key), request.value.len())
        }
        mvcc::Command::DeleteRange(request) => {
            format!("v3 delete {}", range(&request.key, &request.range_end))
        }
        mvcc::Command::Txn(request) => {
            format!(
                "v3 txn ({} compares, {} then, {} else)",
                request.compare.len(),
                request.success.len(),
                request.failure.len()
            )
        }
        mvcc::Command::Compaction(request) => format!("v3 compact at revision {}", request.revision),
        mvcc::Command::LeaseGrant { request, .. } => {
            format!("v3 lease grant {:x} ttl {}", request.id, request.ttl)
        }
        mvcc::Command::LeaseRevoke(request) => format!("v3 lease revoke {:x}", request.id),
        mvcc::Command::LeaseCheckpoint(checkpoints) => {
            format!("v3 lease checkpoint ({} leases)", checkpoints.len())
        }
    }
}

fn range(key: &[u8], range_end: &[u8]) -> String {
    if range_end.is_empty() { shown(key) } else { format!("[{}, {})", shown(key), shown(range_end)) }
}

/// An etcd 3.4 entry (`raftpb.Entry` type and data).
pub fn etcd_entry(entry_type: i32, data: &[u8]) -> String {
    match entry_type {
        ENTRY_NORMAL if data.is_empty() => "empty (a new leader's)".to_string(),
        ENTRY_NORMAL => etcd_normal(data),
        ENTRY_CONF_CHANGE => match ConfChange::decode(data) {
            Ok(change) => etcd_conf_change(&change),
            Err(error) => format!("conf change, undecodable: {error}"),
        },
        other => format!("entry type {other}, {} bytes", data.len()),
    }
}

fn etcd_normal(data: &[u8]) -> String {
    if let Ok(request) = InternalRaftRequest::decode(data) {
        if let Some(v2) = &request.v2 {
            return etcd_v2(v2);
        }
        let described = [
            request.put.as_ref().map(|put| format!("v3 put {} ({} bytes)", shown(&put.key), put.value.len())),
            request
                .delete_range
                .as_ref()
                .map(|delete| format!("v3 delete {}", range(&delete.key, &delete.range_end))),
            request.txn.as_ref().map(|txn| format!("v3 txn ({} compares)", txn.compare.len())),
            request
                .compaction
                .as_ref()
                .map(|compaction| format!("v3 compact at revision {}", compaction.revision)),
            request
                .lease_grant
                .as_ref()
                .map(|grant| format!("v3 lease grant {:x} ttl {}", grant.id, grant.ttl)),
            request.lease_revoke.as_ref().map(|revoke| format!("v3 lease revoke {:x}", revoke.id)),
            request.lease_checkpoint.as_ref().map(|_| "v3 lease checkpoint".to_string()),
            request
                .alarm
                .as_ref()
                .map(|alarm| format!("v3 alarm action {} type {}", alarm.action, alarm.alarm)),
            request.range.as_ref().map(|range| format!("v3 range {}", shown(&range.key))),
            request.auth_enable.as_ref().map(|_| "v3 auth enable".to_string()),
            request.auth_disable.as_ref().map(|_| "v3 auth disable".to_string()),
        ];
        return described
            .into_iter()
            .flatten()
            .next()
            .unwrap_or_else(|| "v3 auth or unknown request".to_string());
    }
    match Request::decode(data) {
        Ok(request) => etcd_v2(&request),
        Err(error) => format!("normal, {} bytes, undecodable: {error}", data.len()),
    }
}

fn etcd_v2(request: &Request) -> String {
    match request.method.as_str() {
        "SYNC" => format!("v2 SYNC (expire up to {} ns)", request.time),
        method => {
            let ttl = if request.expiration != 0 {
                format!(" expiring at {} ns", request.expiration)
            } else {
                String::new()
            };
            format!("v2 {method} {}{ttl}", request.path)
        }
    }
}

fn etcd_conf_change(change: &ConfChange) -> String {
    let kind = match change.change_type {
        CONF_CHANGE_ADD_NODE => "add node",
        CONF_CHANGE_REMOVE_NODE => "remove node",
        CONF_CHANGE_UPDATE_NODE => "update node",
        CONF_CHANGE_ADD_LEARNER_NODE => "add learner",
        _ => "unknown change",
    };
    let context =
        if change.context.is_empty() { String::new() } else { format!(" {}", shown(&change.context)) };
    format!("conf change: {kind} {:x}{context}", change.node_id)
}
