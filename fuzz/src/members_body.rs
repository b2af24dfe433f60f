//! Target `members_body`: arbitrary bytes as the body of POST/PUT `/v2/members[/<id>]` and the id in
//! its path, through the service's own parsers (`server::http::fuzzing`).
//!
//! Input: a content-type selector byte (the last choice takes a u8-long content type from the
//! input), a u8-long member id text, then the JSON body (the rest).
//!
//! Checks: nothing panics; a refused body answers 400 (bad JSON or URLs) or 415 (not JSON) with a
//! message; accepted peer URLs are non-empty, sorted, pass the checks again unchanged, and survive
//! being sent back as `{"peerURLs":[...]}`; an accepted id is 1 to 16 hex digits (Go's `ParseUint`,
//! no sign) and its lowercase hex form parses to the same id.

use server::http::fuzzing::{parse_member_body, parse_member_id};
use server::http::validate_peer_urls;

use crate::byte_source::ByteSource;

/// The content types the selector picks from; one past the end reads one from the input.
pub const CONTENT_TYPES: [&str; 4] =
    ["application/json", "application/JSON; charset=utf-8", "text/plain", "application/json;"];

pub fn check(data: &[u8]) {
    let mut source = ByteSource::new(data);
    let selector = usize::from(source.u8()) % (CONTENT_TYPES.len() + 1);
    let content_type = match CONTENT_TYPES.get(selector) {
        Some(content_type) => content_type.to_string(),
        None => {
            let length = usize::from(source.u8());
            String::from_utf8_lossy(source.take(length)).into_owned()
        }
    };
    let id_length = usize::from(source.u8());
    let id_text = String::from_utf8_lossy(source.take(id_length)).into_owned();
    check_id(&id_text);
    check_body(&content_type, source.remaining());
}

fn check_id(text: &str) {
    let Some(id) = parse_member_id(text) else { return };
    assert!(
        (1..=16).contains(&text.len()) && text.bytes().all(|byte| byte.is_ascii_hexdigit()),
        "member id {text:?} accepted as {id:x}"
    );
    assert_eq!(u64::from_str_radix(text, 16).ok(), Some(id));
    assert_eq!(parse_member_id(&format!("{id:x}")), Some(id), "an id's hex form parses back");
}

fn check_body(content_type: &str, body: &[u8]) {
    let peer_urls = match parse_member_body(content_type, body) {
        Ok(peer_urls) => peer_urls,
        Err(reply) => {
            assert!(matches!(reply.status, 400 | 415), "refused with {}", reply.status);
            assert!(!reply.body.is_empty(), "a refusal says why");
            return;
        }
    };
    assert!(!peer_urls.is_empty(), "an accepted body names peer URLs");
    assert!(peer_urls.is_sorted(), "accepted peer URLs come sorted");
    assert_eq!(validate_peer_urls(&peer_urls).as_ref(), Ok(&peer_urls), "checked URLs check again unchanged");
    let again = serde_json::json!({ "peerURLs": peer_urls }).to_string();
    let reparsed = parse_member_body("application/json", again.as_bytes());
    assert_eq!(reparsed.ok().as_ref(), Some(&peer_urls), "accepted URLs sent back parse the same");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_id_with_a_sign_is_refused_as_go_parse_uint_does() {
        // Found by this target's check: Rust's `from_str_radix` takes a leading '+', Go's does not.
        assert_eq!(parse_member_id("+1"), None);
        assert_eq!(parse_member_id("-1"), None);
        assert_eq!(parse_member_id("8e9e05c52164694d"), Some(0x8e9e_05c5_2164_694d));
        check(b"\x00\x02+1{\"peerURLs\":[\"http://a:1\"]}");
    }
}
