//! Target `http_keys`: arbitrary bytes as `/v2/keys` requests, through the same steps the v2 HTTP
//! service takes (`path_unescape`, `clean_request_path`, `Form::parse_into` on the body then the
//! query, `parse_keys_request`), and each request parsed into a v2 store.
//!
//! Input: requests back to back, each a method byte (GET, HEAD, PUT, POST, DELETE, or one etcd
//! answers with 405), a u8-long raw path (after `/v2/keys`), a u16-long query and a u16-long
//! urlencoded body.
//!
//! Checks: nothing panics; a refused form or request says why; path cleaning is idempotent;
//! a number `parse_go_uint` accepts prints back to a text it parses to the same number; a write's
//! store command round trips through the codec (it is what the Raft log carries); the store takes
//! every parsed request without panicking, and its snapshot restores to the same digest.

use server::http::backend::ClientRequest;
use server::http::form::{Form, clean_request_path, parse_go_uint, path_unescape};
use server::http::keys::{KeysMethod, KeysRequest, parse_keys_request};
use store::Store;

use crate::byte_source::ByteSource;
use crate::round_trip::check_round_trip;

/// The methods, in selector order; the last is one etcd refuses.
pub const METHOD_NAMES: [&str; 6] = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH"];
/// A plausible wall clock (Unix nanoseconds) stamped into writes; later requests are later.
const START_NANOS: i64 = 1_700_000_000_000_000_000;
/// Requests one input may make.
const MAX_REQUESTS: usize = 64;

pub fn check(data: &[u8]) {
    let mut source = ByteSource::new(data);
    let mut store = Store::new();
    for request_number in 0..MAX_REQUESTS {
        if source.is_empty() {
            break;
        }
        let method_name = METHOD_NAMES[usize::from(source.u8()) % METHOD_NAMES.len()];
        let key_bytes = usize::from(source.u8());
        let raw_key = source.take(key_bytes);
        let query_bytes = usize::from(source.u16());
        let query = source.take(query_bytes);
        let body_bytes = usize::from(source.u16());
        let body = source.take(body_bytes);
        let now = START_NANOS + request_number as i64 * 1_000_000_000;
        if let Some(request) = parse_request(method_name, raw_key, query, body, now) {
            apply(&mut store, request, now);
        }
    }
    let restored = Store::restore(&store.snapshot()).expect("a store's own snapshot restores");
    assert_eq!(restored.digest(), store.digest(), "a restored store has the same digest");
}

/// The service's steps for one request; `None` where the service answers without the store.
fn parse_request(
    method_name: &str,
    raw_key: &[u8],
    query: &[u8],
    body: &[u8],
    now: i64,
) -> Option<KeysRequest> {
    let mut raw_path = b"/v2/keys".to_vec();
    raw_path.extend_from_slice(raw_key);
    let Ok(path) = path_unescape(&raw_path) else { return None };
    let cleaned = clean_request_path(&path);
    assert_eq!(clean_request_path(&cleaned), cleaned, "cleaning a clean path changes nothing");
    if cleaned != path || !(path == "/v2/keys" || path.starts_with("/v2/keys/")) {
        // The service redirects to the clean path, or serves another API.
        return None;
    }
    let method = KeysMethod::from_name(method_name)?;
    let mut form = Form::default();
    let mut refusal = None;
    if method.reads_form_body() {
        refusal = form.parse_into(body).err();
    }
    if let Err(message) = form.parse_into(query) {
        refusal.get_or_insert(message);
    }
    if let Some(message) = refusal {
        assert!(!message.is_empty(), "a refused form says why");
        return None;
    }
    check_numbers(&form);
    match parse_keys_request(method, &path["/v2/keys".len()..], &form, now) {
        Ok(request) => Some(request),
        Err(error) => {
            assert!(!error.cause.is_empty(), "a refused request says why: {error:?}");
            None
        }
    }
}

/// Every numeric parameter that parses prints back to a text that parses to the same number.
fn check_numbers(form: &Form) {
    for name in ["prevIndex", "waitIndex", "ttl"] {
        if let Some(number) = form.first(name).and_then(parse_go_uint) {
            assert_eq!(parse_go_uint(&number.to_string()), Some(number));
        }
    }
}

/// Hands a parsed request to the store the way the node would.
fn apply(store: &mut Store, request: KeysRequest, now: i64) {
    match request {
        KeysRequest::Read { request: ClientRequest::Get { key, recursive, sorted, now, .. }, .. } => {
            let _ = store.get(&key, recursive, sorted, now);
        }
        KeysRequest::Read { request: ClientRequest::Write(command), .. }
        | KeysRequest::Write { request: ClientRequest::Write(command), .. } => {
            check_round_trip(&command, None);
            let _ = store.apply(&command);
        }
        KeysRequest::Write { request: ClientRequest::Get { .. }, .. } => {
            panic!("a write request parsed into a read")
        }
        KeysRequest::Watch(watch) => {
            let _ = store.watch(&watch.key, watch.recursive, watch.stream, watch.since_index);
            let _ = store.take_watch_events();
        }
    }
    let _ = store.expire(now);
}
