//! The `json` format: what Go's `encoding/json` makes of the structs etcdctl prints. For the generated
//! protobuf types that means snake-case (or etcd's camel-case) names in field order, every field
//! `omitempty`, `[]byte` as base64 and enums as numbers. The client library's own wrappers differ:
//! watch responses use Go field names (`Header`, `Events`, ...) and lease responses lift the header's
//! fields to the top level next to `ID` and `TTL`.

use api::etcdserverpb::response_op::Response;
use api::etcdserverpb::{
    AlarmResponse, DeleteRangeResponse, LeaseTimeToLiveResponse, Member, PutResponse, RangeResponse,
    ResponseHeader, StatusResponse, TxnResponse, WatchResponse,
};
use api::mvccpb::{Event, KeyValue};

use super::go_text::base64_text;
use super::{EndpointHash, EndpointHealth, EndpointStatus, Shown};
use crate::keys::push_go_json_string;

/// The JSON text (one line, no newline) for `shown`.
pub fn render(shown: &Shown) -> Option<String> {
    let text = match shown {
        Shown::Get(response) => range(response),
        Shown::Put(response) => put(response),
        Shown::Delete(response) => delete(response),
        Shown::Txn(response) => txn(response),
        Shown::Watch(response) => watch(response),
        Shown::Grant(response) => lease_with_header(response.header.as_ref(), response.id, response.ttl)
            .raw("Error", &string_json(&response.error))
            .finish(),
        Shown::Revoke { response, .. } => header_only(response.header.as_ref()),
        Shown::KeepAlive(response) => {
            lease_with_header(response.header.as_ref(), response.id, response.ttl).finish()
        }
        Shown::TimeToLive { response, .. } => time_to_live(response),
        Shown::Leases(response) => {
            let leases: Vec<String> = response
                .leases
                .iter()
                .map(|lease| Object::new().raw("id", &lease.id.to_string()).finish())
                .collect();
            promoted_header(Object::new(), response.header.as_ref()).raw("leases", &list(&leases)).finish()
        }
        Shown::MemberAdd(response) => Object::new()
            .optional("header", response.header.as_ref().map(header))
            .optional("member", response.member.as_ref().map(member))
            .list("members", response.members.iter().map(member).collect())
            .finish(),
        Shown::MemberRemove { response, .. } => members(response.header.as_ref(), &response.members),
        Shown::MemberUpdate { response, .. } => members(response.header.as_ref(), &response.members),
        Shown::MemberPromote { response, .. } => members(response.header.as_ref(), &response.members),
        Shown::MemberList(response) => members(response.header.as_ref(), &response.members),
        Shown::EndpointHealth(checks) => list(&checks.iter().map(health).collect::<Vec<_>>()),
        Shown::EndpointStatus(statuses) => list(&statuses.iter().map(endpoint_status).collect::<Vec<_>>()),
        Shown::EndpointHash(hashes) => list(&hashes.iter().map(endpoint_hash).collect::<Vec<_>>()),
        Shown::MoveLeader { response, .. } => header_only(response.header.as_ref()),
        Shown::Alarm(response) => alarms(response),
        Shown::Auth(shown) => super::auth::json(shown, header),
        Shown::SnapshotStatus(status) => Object::new()
            .number("hash", status.hash)
            .number("revision", status.revision)
            .number("totalKey", status.total_keys)
            .number("totalSize", status.total_size_bytes)
            .finish(),
    };
    Some(text)
}

/// A JSON object written field by field; the `omitempty` rules are in the method names' callers.
pub struct Object {
    text: String,
}

impl Object {
    pub fn new() -> Object {
        Object { text: String::from("{") }
    }

    /// A field written whatever its value.
    pub fn raw(mut self, name: &str, value: &str) -> Object {
        if self.text.len() > 1 {
            self.text.push(',');
        }
        push_go_json_string(&mut self.text, name);
        self.text.push(':');
        self.text.push_str(value);
        self
    }

    /// An `omitempty` number (left out when zero).
    pub fn number<N: Into<i128>>(self, name: &str, value: N) -> Object {
        let value: i128 = value.into();
        if value == 0 { self } else { self.raw(name, &value.to_string()) }
    }

    /// An `omitempty` boolean (left out when false).
    pub fn flag(self, name: &str, value: bool) -> Object {
        if value { self.raw(name, "true") } else { self }
    }

    /// An `omitempty` `[]byte` (left out when empty), as base64.
    pub fn bytes(self, name: &str, value: &[u8]) -> Object {
        if value.is_empty() { self } else { self.raw(name, &format!("\"{}\"", base64_text(value))) }
    }

    /// An `omitempty` string (left out when empty).
    pub fn string(self, name: &str, value: &str) -> Object {
        if value.is_empty() { self } else { self.raw(name, &string_json(value)) }
    }

    /// An `omitempty` pointer (left out when nil), already encoded.
    pub fn optional(self, name: &str, value: Option<String>) -> Object {
        match value {
            Some(encoded) => self.raw(name, &encoded),
            None => self,
        }
    }

    /// An `omitempty` slice (left out when empty), items already encoded.
    pub fn list(self, name: &str, items: Vec<String>) -> Object {
        if items.is_empty() { self } else { self.raw(name, &list(&items)) }
    }

    pub fn finish(mut self) -> String {
        self.text.push('}');
        self.text
    }
}

impl Default for Object {
    fn default() -> Self {
        Object::new()
    }
}

fn string_json(text: &str) -> String {
    let mut encoded = String::new();
    push_go_json_string(&mut encoded, text);
    encoded
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.join(","))
}

fn header(header: &ResponseHeader) -> String {
    promoted_header(Object::new(), Some(header)).finish()
}

/// The header's fields added to `object` (a Go struct embedding `*ResponseHeader`).
fn promoted_header(object: Object, header: Option<&ResponseHeader>) -> Object {
    let Some(header) = header else { return object };
    object
        .number("cluster_id", header.cluster_id)
        .number("member_id", header.member_id)
        .number("revision", header.revision)
        .number("raft_term", header.raft_term)
}

fn header_only(response_header: Option<&ResponseHeader>) -> String {
    Object::new().optional("header", response_header.map(header)).finish()
}

pub fn key_value(key_value: &KeyValue) -> String {
    Object::new()
        .bytes("key", &key_value.key)
        .number("create_revision", key_value.create_revision)
        .number("mod_revision", key_value.mod_revision)
        .number("version", key_value.version)
        .bytes("value", &key_value.value)
        .number("lease", key_value.lease)
        .finish()
}

fn range(response: &RangeResponse) -> String {
    Object::new()
        .optional("header", response.header.as_ref().map(header))
        .list("kvs", response.kvs.iter().map(key_value).collect())
        .flag("more", response.more)
        .number("count", response.count)
        .finish()
}

fn put(response: &PutResponse) -> String {
    Object::new()
        .optional("header", response.header.as_ref().map(header))
        .optional("prev_kv", response.prev_kv.as_ref().map(key_value))
        .finish()
}

fn delete(response: &DeleteRangeResponse) -> String {
    Object::new()
        .optional("header", response.header.as_ref().map(header))
        .number("deleted", response.deleted)
        .list("prev_kvs", response.prev_kvs.iter().map(key_value).collect())
        .finish()
}

fn txn(response: &TxnResponse) -> String {
    let operations = response
        .responses
        .iter()
        .map(|operation| {
            let inner = match &operation.response {
                Some(Response::ResponseRange(range_response)) => {
                    Object::new().raw("ResponseRange", &range(range_response)).finish()
                }
                Some(Response::ResponsePut(put_response)) => {
                    Object::new().raw("ResponsePut", &put(put_response)).finish()
                }
                Some(Response::ResponseDeleteRange(delete_response)) => {
                    Object::new().raw("ResponseDeleteRange", &delete(delete_response)).finish()
                }
                Some(Response::ResponseTxn(nested)) => {
                    Object::new().raw("ResponseTxn", &txn(nested)).finish()
                }
                None => "null".to_string(),
            };
            Object::new().raw("Response", &inner).finish()
        })
        .collect();
    Object::new()
        .optional("header", response.header.as_ref().map(header))
        .flag("succeeded", response.succeeded)
        .list("responses", operations)
        .finish()
}

pub fn event(event: &Event) -> String {
    Object::new()
        .number("type", event.r#type)
        .optional("kv", event.kv.as_ref().map(key_value))
        .optional("prev_kv", event.prev_kv.as_ref().map(key_value))
        .finish()
}

/// The Go client's `WatchResponse`: exported Go field names, no `omitempty`.
fn watch(response: &WatchResponse) -> String {
    let header_text = header(&response.header.unwrap_or_default());
    let events: Vec<String> = response.events.iter().map(event).collect();
    Object::new()
        .raw("Header", &header_text)
        .raw("Events", &list(&events))
        .raw("CompactRevision", &response.compact_revision.to_string())
        .raw("Canceled", &response.canceled.to_string())
        .raw("Created", &response.created.to_string())
        .finish()
}

/// The Go client's lease responses: the header's fields, then `ID` and `TTL`.
fn lease_with_header(response_header: Option<&ResponseHeader>, id: i64, ttl: i64) -> Object {
    promoted_header(Object::new(), response_header).raw("ID", &id.to_string()).raw("TTL", &ttl.to_string())
}

fn time_to_live(response: &LeaseTimeToLiveResponse) -> String {
    let keys = if response.keys.is_empty() {
        "null".to_string()
    } else {
        list(&response.keys.iter().map(|key| format!("\"{}\"", base64_text(key))).collect::<Vec<_>>())
    };
    promoted_header(Object::new(), response.header.as_ref())
        .raw("id", &response.id.to_string())
        .raw("ttl", &response.ttl.to_string())
        .raw("granted-ttl", &response.granted_ttl.to_string())
        .raw("keys", &keys)
        .finish()
}

fn member(member: &Member) -> String {
    let strings = |urls: &[String]| urls.iter().map(|url| string_json(url)).collect::<Vec<_>>();
    Object::new()
        .number("ID", member.id)
        .string("name", &member.name)
        .list("peerURLs", strings(&member.peer_ur_ls))
        .list("clientURLs", strings(&member.client_ur_ls))
        .flag("isLearner", member.is_learner)
        .finish()
}

fn members(response_header: Option<&ResponseHeader>, all: &[Member]) -> String {
    Object::new()
        .optional("header", response_header.map(header))
        .list("members", all.iter().map(member).collect())
        .finish()
}

fn alarms(response: &AlarmResponse) -> String {
    let alarms = response
        .alarms
        .iter()
        .map(|alarm| Object::new().number("memberID", alarm.member_id).number("alarm", alarm.alarm).finish())
        .collect();
    Object::new().optional("header", response.header.as_ref().map(header)).list("alarms", alarms).finish()
}

fn health(check: &EndpointHealth) -> String {
    Object::new()
        .raw("endpoint", &string_json(&check.endpoint))
        .raw("health", &check.health.to_string())
        .raw("took", &string_json(&check.took))
        .string("error", &check.error)
        .finish()
}

fn status(status: &StatusResponse) -> String {
    let errors = status.errors.iter().map(|error| string_json(error)).collect();
    Object::new()
        .optional("header", status.header.as_ref().map(header))
        .string("version", &status.version)
        .number("dbSize", status.db_size)
        .number("leader", status.leader)
        .number("raftIndex", status.raft_index)
        .number("raftTerm", status.raft_term)
        .number("raftAppliedIndex", status.raft_applied_index)
        .list("errors", errors)
        .number("dbSizeInUse", status.db_size_in_use)
        .flag("isLearner", status.is_learner)
        .finish()
}

fn endpoint_status(entry: &EndpointStatus) -> String {
    Object::new()
        .raw("Endpoint", &string_json(&entry.endpoint))
        .raw("Status", &status(&entry.status))
        .finish()
}

fn endpoint_hash(entry: &EndpointHash) -> String {
    let hash = Object::new()
        .optional("header", entry.hash.header.as_ref().map(header))
        .number("hash", entry.hash.hash)
        .number("compact_revision", entry.hash.compact_revision)
        .finish();
    Object::new().raw("Endpoint", &string_json(&entry.endpoint)).raw("HashKV", &hash).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_header() -> ResponseHeader {
        ResponseHeader {
            cluster_id: 13455796455940752355,
            member_id: 443629905751424238,
            revision: 2,
            raft_term: 2,
        }
    }

    #[test]
    fn a_range_reads_like_the_recorded_etcdctl_output() {
        let response = RangeResponse {
            header: Some(sample_header()),
            kvs: vec![KeyValue {
                key: b"srn".to_vec(),
                create_revision: 2,
                mod_revision: 2,
                version: 1,
                value: b"pes1ug21cs001".to_vec(),
                lease: 0,
            }],
            more: false,
            count: 1,
        };
        assert_eq!(
            render(&Shown::Get(&response)).unwrap(),
            "{\"header\":{\"cluster_id\":13455796455940752355,\"member_id\":443629905751424238,\"revision\":2,\
             \"raft_term\":2},\"kvs\":[{\"key\":\"c3Ju\",\"create_revision\":2,\"mod_revision\":2,\"version\":1,\
             \"value\":\"cGVzMXVnMjFjczAwMQ==\"}],\"count\":1}"
        );
    }

    #[test]
    fn lease_grants_lift_the_header_fields() {
        let response = api::etcdserverpb::LeaseGrantResponse {
            header: Some(ResponseHeader { revision: 0, ..sample_header() }),
            id: 7,
            ttl: 60,
            error: String::new(),
        };
        assert_eq!(
            render(&Shown::Grant(&response)).unwrap(),
            "{\"cluster_id\":13455796455940752355,\"member_id\":443629905751424238,\"raft_term\":2,\"ID\":7,\
             \"TTL\":60,\"Error\":\"\"}"
        );
    }

    #[test]
    fn a_missing_header_leaves_an_empty_object() {
        let response = AlarmResponse { header: None, alarms: vec![] };
        assert_eq!(render(&Shown::Alarm(&response)).unwrap(), "{}");
    }
}
