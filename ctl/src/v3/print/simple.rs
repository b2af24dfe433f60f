//! The `simple` format (etcdctl v3's default): keys and values on their own lines, raw bytes, one line
//! per lease, member or endpoint. `endpoint health` writes its lines to stderr, as etcdctl does.

use std::io::Write;

use api::etcdserverpb::response_op::Response;
use api::etcdserverpb::{
    DeleteRangeResponse, LeaseTimeToLiveResponse, PutResponse, RangeResponse, TxnResponse,
};
use api::mvccpb::KeyValue;
use api::mvccpb::event::EventType;

use super::go_text::{alarm_member_text, go_string_list, hex_escaped};
use super::table::{endpoint_hash_rows, endpoint_status_rows, member_rows, snapshot_status_row};
use super::{EndpointHealth, Shown, write_stderr_line};

/// What the simple format prints for `shown` (never unsupported).
pub fn render(shown: &Shown, hex: bool, value_only: bool) -> Option<Vec<u8>> {
    let style = Style { hex, value_only };
    let mut out = Vec::new();
    match shown {
        Shown::Get(response) => style.get(&mut out, response),
        Shown::Put(response) => style.put(&mut out, response),
        Shown::Delete(response) => style.delete(&mut out, response),
        Shown::Txn(response) => style.txn(&mut out, response),
        Shown::Watch(response) => {
            for event in &response.events {
                let name =
                    EventType::try_from(event.r#type).map(|kind| kind.as_str_name()).unwrap_or("UNKNOWN");
                line(&mut out, name);
                if let Some(previous) = &event.prev_kv {
                    style.key_value(&mut out, previous);
                }
                style.key_value(&mut out, event.kv.as_ref().unwrap_or(&KeyValue::default()));
            }
        }
        Shown::MemberList(response) => rows(&mut out, &member_rows(&response.members)),
        Shown::Auth(shown) => out.extend_from_slice(super::auth::simple(shown).as_bytes()),
        Shown::EndpointHealth(checks) => health_lines(checks),
        Shown::EndpointStatus(statuses) => rows(&mut out, &endpoint_status_rows(statuses)),
        Shown::EndpointHash(hashes) => rows(&mut out, &endpoint_hash_rows(hashes)),
        Shown::Alarm(response) => {
            for alarm in &response.alarms {
                line(&mut out, &alarm_member_text(alarm.member_id, alarm.alarm));
            }
        }
        Shown::SnapshotStatus(status) => rows(&mut out, &[snapshot_status_row(status)]),
        other => line(&mut out, &one_line(other)),
    }
    Some(out)
}

/// The commands whose simple output is a single line.
fn one_line(shown: &Shown) -> String {
    let cluster_of =
        |header: &Option<api::etcdserverpb::ResponseHeader>| header.unwrap_or_default().cluster_id;
    match shown {
        Shown::Grant(response) => {
            format!("lease {} granted with TTL({}s)", lease_hex(response.id), response.ttl)
        }
        Shown::Revoke { id, .. } => format!("lease {} revoked", lease_hex(*id)),
        Shown::KeepAlive(response) => {
            format!("lease {} keepalived with TTL({})", lease_hex(response.id), response.ttl)
        }
        Shown::TimeToLive { response, keys } => time_to_live(response, *keys),
        Shown::Leases(response) => {
            let mut text = format!("found {} leases", response.leases.len());
            for lease in &response.leases {
                text.push('\n');
                text.push_str(&lease_hex(lease.id));
            }
            text
        }
        Shown::MemberAdd(response) => {
            let id = response.member.as_ref().map(|member| member.id).unwrap_or(0);
            format!("Member {id:16x} added to cluster {:16x}", cluster_of(&response.header))
        }
        Shown::MemberRemove { id, response } => {
            format!("Member {id:16x} removed from cluster {:16x}", cluster_of(&response.header))
        }
        Shown::MemberUpdate { id, response } => {
            format!("Member {id:16x} updated in cluster {:16x}", cluster_of(&response.header))
        }
        Shown::MemberPromote { id, response } => {
            format!("Member {id:16x} promoted in cluster {:16x}", cluster_of(&response.header))
        }
        Shown::MoveLeader { leader, target, .. } => {
            format!("Leadership transferred from {leader:x} to {target:x}")
        }
        multi_line => unreachable!("{multi_line:?} is rendered line by line"),
    }
}

/// A lease ID as Go's `%016x` writes an int64 (a sign, then zero padding to 16 characters in all).
pub fn lease_hex(id: i64) -> String {
    if id < 0 { format!("-{:015x}", id.unsigned_abs()) } else { format!("{id:016x}") }
}

fn time_to_live(response: &LeaseTimeToLiveResponse, keys: bool) -> String {
    if response.granted_ttl == 0 && response.ttl == -1 {
        return format!("lease {} already expired", lease_hex(response.id));
    }
    let mut text = format!(
        "lease {} granted with TTL({}s), remaining({}s)",
        lease_hex(response.id),
        response.granted_ttl,
        response.ttl
    );
    if keys {
        let names: Vec<String> =
            response.keys.iter().map(|key| String::from_utf8_lossy(key).into_owned()).collect();
        text.push_str(&format!(", attached keys({})", go_string_list(&names)));
    }
    text
}

fn health_lines(checks: &[EndpointHealth]) {
    for check in checks {
        if check.error.is_empty() {
            write_stderr_line(&format!(
                "{} is healthy: successfully committed proposal: took = {}",
                check.endpoint, check.took
            ));
        } else {
            write_stderr_line(&format!(
                "{} is unhealthy: failed to commit proposal: {}",
                check.endpoint, check.error
            ));
        }
    }
}

fn line(out: &mut Vec<u8>, text: &str) {
    let _ = writeln!(out, "{text}");
}

fn rows(out: &mut Vec<u8>, table: &[Vec<String>]) {
    for row in table {
        line(out, &row.join(", "));
    }
}

/// `--hex` and `--print-value-only`.
struct Style {
    hex: bool,
    value_only: bool,
}

impl Style {
    fn bytes(&self, out: &mut Vec<u8>, bytes: &[u8]) {
        if self.hex {
            out.extend_from_slice(hex_escaped(bytes).as_bytes());
        } else {
            out.extend_from_slice(bytes);
        }
        out.push(b'\n');
    }

    fn key_value(&self, out: &mut Vec<u8>, key_value: &KeyValue) {
        if !self.value_only {
            self.bytes(out, &key_value.key);
        }
        self.bytes(out, &key_value.value);
    }

    fn get(&self, out: &mut Vec<u8>, response: &RangeResponse) {
        for key_value in &response.kvs {
            self.key_value(out, key_value);
        }
    }

    fn put(&self, out: &mut Vec<u8>, response: &PutResponse) {
        line(out, "OK");
        if let Some(previous) = &response.prev_kv {
            self.key_value(out, previous);
        }
    }

    fn delete(&self, out: &mut Vec<u8>, response: &DeleteRangeResponse) {
        line(out, &response.deleted.to_string());
        for previous in &response.prev_kvs {
            self.key_value(out, previous);
        }
    }

    fn txn(&self, out: &mut Vec<u8>, response: &TxnResponse) {
        line(out, if response.succeeded { "SUCCESS" } else { "FAILURE" });
        for operation in &response.responses {
            line(out, "");
            match &operation.response {
                Some(Response::ResponseRange(range)) => self.get(out, range),
                Some(Response::ResponsePut(put)) => self.put(out, put),
                Some(Response::ResponseDeleteRange(delete)) => self.delete(out, delete),
                Some(Response::ResponseTxn(nested)) => self.txn(out, nested),
                None => line(out, "unexpected response"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_ids_are_zero_padded_like_go() {
        assert_eq!(lease_hex(0x1234), "0000000000001234");
        assert_eq!(lease_hex(-5), "-000000000000005");
    }

    #[test]
    fn a_txn_prints_each_response_after_a_blank_line() {
        let response = TxnResponse {
            header: None,
            succeeded: true,
            responses: vec![
                api::etcdserverpb::ResponseOp {
                    response: Some(Response::ResponsePut(PutResponse { header: None, prev_kv: None })),
                },
                api::etcdserverpb::ResponseOp {
                    response: Some(Response::ResponseDeleteRange(DeleteRangeResponse {
                        header: None,
                        deleted: 0,
                        prev_kvs: vec![],
                    })),
                },
            ],
        };
        let text = render(&Shown::Txn(&response), false, false).unwrap();
        assert_eq!(String::from_utf8(text).unwrap(), "SUCCESS\n\nOK\n\n0\n");
    }
}
