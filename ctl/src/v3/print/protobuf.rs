//! The `protobuf` format: the response's protobuf encoding, raw on stdout. etcdctl has it for the
//! responses that are protobuf messages (keys, txn, watch, members, alarms, move-leader). The Go
//! client's lease responses are not messages: for those that embed the header etcdctl writes the
//! header's encoding, and it refuses `lease revoke` and the `endpoint` commands.

use api::etcdserverpb::{ResponseHeader, WatchResponse};
use prost::Message;

use super::Shown;

/// The encoded response for `shown`, or etcdctl's reason for refusing.
pub fn render(shown: &Shown) -> Result<Vec<u8>, String> {
    let bytes = match shown {
        Shown::Get(response) => response.encode_to_vec(),
        Shown::Put(response) => response.encode_to_vec(),
        Shown::Delete(response) => response.encode_to_vec(),
        Shown::Txn(response) => response.encode_to_vec(),
        Shown::Watch(response) => watch_message(response).encode_to_vec(),
        Shown::MemberAdd(response) => response.encode_to_vec(),
        Shown::MemberRemove { response, .. } => response.encode_to_vec(),
        Shown::MemberUpdate { response, .. } => response.encode_to_vec(),
        Shown::MemberList(response) => response.encode_to_vec(),
        Shown::MoveLeader { response, .. } => response.encode_to_vec(),
        Shown::Alarm(response) => response.encode_to_vec(),
        Shown::Auth(shown) => shown.encoded.clone(),
        Shown::Grant(response) => header_bytes(response.header.as_ref()),
        Shown::KeepAlive(response) => header_bytes(response.header.as_ref()),
        Shown::TimeToLive { response, .. } => header_bytes(response.header.as_ref()),
        Shown::Leases(response) => header_bytes(response.header.as_ref()),
        Shown::Revoke { response, .. } => {
            return Err(format!(
                "marshal unsupported for type clientv3.LeaseRevokeResponse ({{{}}})",
                header_text(response.header.as_ref())
            ));
        }
        _ => return Err("protobuf not supported as output format".to_string()),
    };
    Ok(bytes)
}

fn header_bytes(header: Option<&ResponseHeader>) -> Vec<u8> {
    header.map(Message::encode_to_vec).unwrap_or_default()
}

/// Go's `%v` of a header pointer: its compact protobuf text, or `<nil>`.
fn header_text(header: Option<&ResponseHeader>) -> String {
    let Some(header) = header else { return "<nil>".to_string() };
    let mut text = String::new();
    let fields = [
        ("cluster_id", header.cluster_id.to_string()),
        ("member_id", header.member_id.to_string()),
        ("revision", header.revision.to_string()),
        ("raft_term", header.raft_term.to_string()),
    ];
    for (name, value) in fields {
        if value != "0" {
            text.push_str(&format!("{name}:{value} "));
        }
    }
    text
}

/// The watch response as etcdctl rebuilds it from the Go client's: header (always), events, compact
/// revision, canceled and created; no watch ID.
fn watch_message(response: &WatchResponse) -> WatchResponse {
    WatchResponse {
        header: Some(response.header.unwrap_or_default()),
        watch_id: 0,
        created: response.created,
        canceled: response.canceled,
        compact_revision: response.compact_revision,
        cancel_reason: String::new(),
        fragment: false,
        events: response.events.clone(),
    }
}
