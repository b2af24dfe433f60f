//! Turning one v3 answer into one comparable transcript line: the response's `Debug` rendering (or the
//! gRPC status code and message of an error), with byte strings shown as text, the fields that
//! legitimately differ between two servers masked by name, and server-chosen numbers (lease and member
//! IDs, URLs with ports) replaced by stable names. Revisions are never masked.

use std::fmt::Debug;

/// Header fields that identify the server rather than the answer; masked in every line.
pub const HEADER_MASKS: &[&str] = &["cluster_id", "member_id"];

/// Longest rendered answer kept whole in a transcript line (a bound on the transcript's size).
const MAX_LINE_CHARS: usize = 20_000;

/// The normalised rendering of `answer`: `ok <Debug>` or `error <code>: <message>`.
pub fn answer_line<T: Debug>(answer: &Result<T, tonic::Status>, masks: &[&str]) -> String {
    let text = match answer {
        Ok(response) => format!("ok {}", bytes_as_text(&format!("{response:?}"))),
        Err(status) => format!("error {:?}: {}", status.code(), status.message()),
    };
    let mut masked = text;
    for field in HEADER_MASKS.iter().chain(masks) {
        masked = mask_field(&masked, field, |_| true);
    }
    if masked.len() > MAX_LINE_CHARS {
        let cut = (0..=MAX_LINE_CHARS).rev().find(|&index| masked.is_char_boundary(index)).unwrap_or(0);
        return format!("{}... ({} chars)", &masked[..cut], masked.len());
    }
    masked
}

/// Replaces the value after every ` <field>: ` for which `should_mask` holds with `<field>`. Values are
/// numbers or quoted strings without escaped quotes.
pub fn mask_field(text: &str, field: &str, should_mask: impl Fn(&str) -> bool) -> String {
    let needle = format!(" {field}: ");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(&needle) {
        let value_start = start + needle.len();
        out.push_str(&rest[..value_start]);
        let value_length = value_length(&rest[value_start..]);
        let value = &rest[value_start..value_start + value_length];
        if should_mask(value) {
            out.push_str(&format!("<{field}>"));
        } else {
            out.push_str(value);
        }
        rest = &rest[value_start + value_length..];
    }
    out.push_str(rest);
    out
}

/// The length of the value at the start of `text`: a quoted string, or a number (or enum name).
fn value_length(text: &str) -> usize {
    if let Some(quoted) = text.strip_prefix('"') {
        return quoted.find('"').map_or(text.len(), |end| end + 2);
    }
    text.find([',', ' ', '}', ')', ']']).unwrap_or(text.len())
}

/// Replaces every list of byte values (`[97, 98]`) in a `Debug` rendering with `b"ab"`.
pub fn bytes_as_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find(']').and_then(|close| parse_bytes(&after[..close]).map(|bytes| (close, bytes))) {
            Some((close, bytes)) => {
                out.push_str(&format!("b\"{}\"", bytes.escape_ascii()));
                rest = &after[close + 1..];
            }
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `97, 98` as bytes; `None` when the list is empty or not all bytes.
fn parse_bytes(list: &str) -> Option<Vec<u8>> {
    if list.is_empty() {
        return None;
    }
    list.split(", ").map(|item| item.parse::<u8>().ok()).collect()
}

/// Replaces each `from` with its `to` (server-chosen IDs and addresses by stable names).
pub fn substitute(line: &str, substitutions: &[(String, String)]) -> String {
    substitutions.iter().fold(line.to_string(), |text, (from, to)| text.replace(from.as_str(), to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_lists_become_text_and_other_lists_stay() {
        assert_eq!(
            bytes_as_text("key: [97, 0], kvs: [], x: [KeyValue { v: [98] }]"),
            "key: b\"a\\x00\", kvs: [], x: [KeyValue { v: b\"b\" }]"
        );
    }

    #[test]
    fn masking_replaces_only_the_named_field() {
        let text = "H { member_id: 12, raft_term: 2 }, watch_id: 3, id: 5, version: \"3.4\" }";
        assert_eq!(
            mask_field(text, "id", |_| true),
            "H { member_id: 12, raft_term: 2 }, watch_id: 3, id: <id>, version: \"3.4\" }"
        );
        assert_eq!(
            mask_field(text, "version", |_| true),
            "H { member_id: 12, raft_term: 2 }, watch_id: 3, id: 5, version: <version> }"
        );
    }
}
