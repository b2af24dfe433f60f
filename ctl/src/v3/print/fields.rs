//! The `fields` format: one `"Name" : value` line per field, strings quoted the Go way (`%q`). etcdctl
//! has it for the key, watch, lease, `member list`, `endpoint` and `alarm` commands only.

use api::etcdserverpb::response_op::Response;
use api::etcdserverpb::{
    DeleteRangeResponse, LeaseTimeToLiveResponse, Member, PutResponse, RangeResponse, ResponseHeader,
    TxnResponse, WatchResponse,
};
use api::mvccpb::KeyValue;
use api::mvccpb::event::EventType;

use super::go_text::{alarm_type_name, go_quote, go_string_list};
use super::{EndpointHash, EndpointHealth, EndpointStatus, Shown};

/// The field lines for `shown`, or `None` where etcdctl has no fields output.
pub fn render(shown: &Shown) -> Option<String> {
    let mut out = Lines::default();
    match shown {
        Shown::Get(response) => out.get(response),
        Shown::Put(response) => out.put(response),
        Shown::Delete(response) => out.delete(response),
        Shown::Txn(response) => out.txn(response),
        Shown::Watch(response) => out.watch(response),
        Shown::Grant(response) => {
            out.header(response.header.as_ref()).value("ID", response.id).value("TTL", response.ttl)
        }
        Shown::Revoke { response, .. } => out.header(response.header.as_ref()),
        Shown::KeepAlive(response) => {
            out.header(response.header.as_ref()).value("ID", response.id).value("TTL", response.ttl)
        }
        Shown::TimeToLive { response, .. } => out.time_to_live(response),
        Shown::Leases(response) => {
            out.header(response.header.as_ref());
            for lease in &response.leases {
                out.value("ID", lease.id);
            }
            &mut out
        }
        Shown::MemberList(response) => {
            out.header(response.header.as_ref());
            for member in &response.members {
                out.member(member);
            }
            &mut out
        }
        Shown::EndpointHealth(checks) => out.health(checks),
        Shown::EndpointStatus(statuses) => out.statuses(statuses),
        Shown::EndpointHash(hashes) => out.hashes(hashes),
        Shown::Alarm(response) => {
            out.header(response.header.as_ref());
            for alarm in &response.alarms {
                out.value("MemberID", alarm.member_id)
                    .value("AlarmType", alarm_type_name(alarm.alarm))
                    .blank();
            }
            &mut out
        }
        Shown::SnapshotStatus(status) => out
            .value("Hash", status.hash)
            .value("Revision", status.revision)
            .value("Keys", status.total_keys)
            .value("Size", status.total_size_bytes),
        Shown::Auth(shown) => {
            let rest = super::auth::fields_after_header(shown)?;
            out.header(shown.header.as_ref());
            out.text.push_str(&rest);
            &mut out
        }
        _ => return None,
    };
    Some(out.text)
}

#[derive(Default)]
struct Lines {
    text: String,
}

impl Lines {
    /// `"name" : value`, the value as Go's `Println` writes it.
    fn value(&mut self, name: &str, value: impl std::fmt::Display) -> &mut Lines {
        self.text.push_str(&format!("\"{name}\" : {value}\n"));
        self
    }

    /// `"name" : "quoted"`.
    fn quoted(&mut self, name: &str, bytes: &[u8]) -> &mut Lines {
        self.text.push_str(&format!("\"{name}\" : {}\n", go_quote(bytes)));
        self
    }

    fn blank(&mut self) -> &mut Lines {
        self.text.push('\n');
        self
    }

    /// The four header lines (zeros where the response has no header).
    fn header(&mut self, header: Option<&ResponseHeader>) -> &mut Lines {
        let header = header.copied().unwrap_or_default();
        self.value("ClusterID", header.cluster_id)
            .value("MemberID", header.member_id)
            .value("Revision", header.revision)
            .value("RaftTerm", header.raft_term)
    }

    fn key_value(&mut self, prefix: &str, key_value: &KeyValue) -> &mut Lines {
        self.quoted(&format!("{prefix}Key"), &key_value.key)
            .value(&format!("{prefix}CreateRevision"), key_value.create_revision)
            .value(&format!("{prefix}ModRevision"), key_value.mod_revision)
            .value(&format!("{prefix}Version"), key_value.version)
            .quoted(&format!("{prefix}Value"), &key_value.value)
            .value(&format!("{prefix}Lease"), key_value.lease)
    }

    fn get(&mut self, response: &RangeResponse) -> &mut Lines {
        self.header(response.header.as_ref());
        for key_value in &response.kvs {
            self.key_value("", key_value);
        }
        self.value("More", response.more).value("Count", response.count)
    }

    fn put(&mut self, response: &PutResponse) -> &mut Lines {
        self.header(response.header.as_ref());
        if let Some(previous) = &response.prev_kv {
            self.key_value("Prev", previous);
        }
        self
    }

    fn delete(&mut self, response: &DeleteRangeResponse) -> &mut Lines {
        self.header(response.header.as_ref()).value("Deleted", response.deleted);
        for previous in &response.prev_kvs {
            self.key_value("Prev", previous);
        }
        self
    }

    fn txn(&mut self, response: &TxnResponse) -> &mut Lines {
        self.header(response.header.as_ref()).value("Succeeded", response.succeeded);
        for operation in &response.responses {
            match &operation.response {
                Some(Response::ResponseRange(range)) => self.get(range),
                Some(Response::ResponsePut(put)) => self.put(put),
                Some(Response::ResponseDeleteRange(delete)) => self.delete(delete),
                Some(Response::ResponseTxn(nested)) => self.txn(nested),
                None => self.value("Unknown", "\"<nil>\""),
            };
        }
        self
    }

    fn watch(&mut self, response: &WatchResponse) -> &mut Lines {
        self.header(Some(&response.header.unwrap_or_default()));
        for event in &response.events {
            let name = EventType::try_from(event.r#type).map(|kind| kind.as_str_name()).unwrap_or("UNKNOWN");
            self.value("Type", name);
            if let Some(previous) = &event.prev_kv {
                self.key_value("Prev", previous);
            }
            self.key_value("", event.kv.as_ref().unwrap_or(&KeyValue::default()));
        }
        self
    }

    fn time_to_live(&mut self, response: &LeaseTimeToLiveResponse) -> &mut Lines {
        self.header(response.header.as_ref())
            .value("ID", response.id)
            .value("TTL", response.ttl)
            .value("GrantedTTL", response.granted_ttl);
        for key in &response.keys {
            self.quoted("Key", key);
        }
        self
    }

    fn member(&mut self, member: &Member) -> &mut Lines {
        self.value("ID", member.id).quoted("Name", member.name.as_bytes());
        for url in &member.peer_ur_ls {
            self.quoted("PeerURL", url.as_bytes());
        }
        for url in &member.client_ur_ls {
            self.quoted("ClientURL", url.as_bytes());
        }
        self.value("IsLearner", member.is_learner).blank()
    }

    fn health(&mut self, checks: &[EndpointHealth]) -> &mut Lines {
        for check in checks {
            self.quoted("Endpoint", check.endpoint.as_bytes())
                .value("Health", check.health)
                .value("Took", &check.took)
                .value("Error", &check.error)
                .blank();
        }
        self
    }

    fn statuses(&mut self, statuses: &[EndpointStatus]) -> &mut Lines {
        for entry in statuses {
            let status = &entry.status;
            self.header(status.header.as_ref())
                .quoted("Version", status.version.as_bytes())
                .value("DBSize", status.db_size)
                .value("Leader", status.leader)
                .value("IsLearner", status.is_learner)
                .value("RaftIndex", status.raft_index)
                .value("RaftTerm", status.raft_term)
                .value("RaftAppliedIndex", status.raft_applied_index)
                .value("Errors", go_string_list(&status.errors))
                .quoted("Endpoint", entry.endpoint.as_bytes())
                .blank();
        }
        self
    }

    fn hashes(&mut self, hashes: &[EndpointHash]) -> &mut Lines {
        for entry in hashes {
            self.header(entry.hash.header.as_ref())
                .quoted("Endpoint", entry.endpoint.as_bytes())
                .value("Hash", entry.hash.hash)
                .blank();
        }
        self
    }
}
