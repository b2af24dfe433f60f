//! The `protobuf` format: the response's protobuf encoding, raw on stdout. etcdctl has it for the
//! responses that are protobuf messages (keys, txn, watch, members, alarms, move-leader); for the lease
//! commands, whose Go client types are not messages, and the `endpoint` commands it refuses.

use api::etcdserverpb::WatchResponse;
use prost::Message;

use super::Shown;

/// The encoded response for `shown`, or `None` where etcdctl refuses.
pub fn render(shown: &Shown) -> Option<Vec<u8>> {
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
        _ => return None,
    };
    Some(bytes)
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
