//! Percent-encoding of key paths, query values and forms, the way Go's `net/url` does it (etcdctl
//! sends what Go encodes, and the servers see the same bytes from both clients).

/// Percent-encodes a key path the way Go's `url.URL.EscapedPath` does: unreserved characters, `/` and the
/// sub-delimiters Go keeps in paths stay; everything else becomes `%XX`.
pub fn escape_path(path: &str) -> String {
    let mut escaped = String::with_capacity(path.len());
    for byte in path.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'_' | b'.' | b'~' | b'/' | b'$' | b'&' | b'+' | b',' | b':' | b';' | b'=' | b'@'
            );
        if keep {
            escaped.push(byte as char);
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

/// Encodes a form/query value (`application/x-www-form-urlencoded`, as Go's `url.QueryEscape`).
pub fn escape_query(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            escaped.push(byte as char);
        } else if byte == b' ' {
            escaped.push('+');
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

/// Joins `(name, value)` pairs into `a=1&b=2`, sorted by name like Go's `url.Values.Encode`.
pub fn encode_form(pairs: &[(&str, String)]) -> String {
    let mut sorted: Vec<&(&str, String)> = pairs.iter().collect();
    sorted.sort_by(|left, right| left.0.cmp(right.0));
    sorted
        .iter()
        .map(|(name, value)| format!("{}={}", escape_query(name), escape_query(value)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_forms_are_escaped_like_go() {
        assert_eq!(escape_path("/a b?c#d%"), "/a%20b%3Fc%23d%25");
        assert_eq!(escape_path("/k=v:x@y"), "/k=v:x@y");
        assert_eq!(
            encode_form(&[("value", "a b&c".to_string()), ("ttl", "5".to_string())]),
            "ttl=5&value=a+b%26c"
        );
    }
}
