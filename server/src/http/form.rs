//! Go's `net/url` form handling, reproduced because etcd's answers depend on its exact rules: `&`
//! separates pairs, `;` is an error, `+` is a space, bad `%` escapes are errors (yet the other pairs
//! still count), values keep their order per key. Plus `strconv.ParseBool` / `ParseUint`.

/// The parsed form: every (name, value) pair in order. Lookups take the FIRST value, as Go's
/// `FormValue` and etcd's `form[key][0]` do. Body pairs come before query pairs (body wins).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

/// Upper bound on pairs kept from one request: far above anything etcd's API uses, and it keeps a
/// hostile `a&a&a&...` query from costing more than its own bytes.
pub const MAX_FORM_PAIRS: usize = 4096;

impl Form {
    /// Appends the pairs of `raw` (query-string syntax). Returns Go's first error message, if any;
    /// valid pairs are kept even then, as Go keeps them.
    pub fn parse_into(&mut self, raw: &[u8]) -> Result<(), String> {
        let mut first_error: Option<String> = None;
        for piece in raw.split(|byte| *byte == b'&') {
            if piece.contains(&b';') {
                first_error.get_or_insert_with(|| "invalid semicolon separator in query".to_string());
                continue;
            }
            if piece.is_empty() {
                continue;
            }
            let (name, value) = match piece.iter().position(|byte| *byte == b'=') {
                Some(at) => (&piece[..at], &piece[at + 1..]),
                None => (piece, &piece[piece.len()..]),
            };
            let decoded = query_unescape(name).and_then(|name| Ok((name, query_unescape(value)?)));
            match decoded {
                Ok(pair) => {
                    if self.pairs.len() < MAX_FORM_PAIRS {
                        self.pairs.push(pair);
                    }
                }
                Err(message) => {
                    first_error.get_or_insert(message);
                }
            }
        }
        match first_error {
            Some(message) => Err(message),
            None => Ok(()),
        }
    }

    /// The first value of `name`, if present at all (`Some("")` for `name=` or a bare `name`).
    pub fn first(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.first(name).is_some()
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Go's escape error text: `invalid URL escape "%zz"` (the `%` and at most two following bytes).
fn escape_error(rest: &[u8]) -> String {
    let shown = &rest[..rest.len().min(3)];
    format!("invalid URL escape {:?}", String::from_utf8_lossy(shown))
}

/// Percent-decoding; `plus_is_space` for query components (not for paths). Invalid UTF-8 in the
/// result is replaced (Go keeps raw bytes; a Rust `String` cannot).
fn unescape(raw: &[u8], plus_is_space: bool) -> Result<String, String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut position = 0;
    while position < raw.len() {
        match raw[position] {
            b'%' => {
                let high = raw.get(position + 1).copied().and_then(hex_value);
                let low = raw.get(position + 2).copied().and_then(hex_value);
                match (high, low) {
                    (Some(high), Some(low)) => out.push(high << 4 | low),
                    _ => return Err(escape_error(&raw[position..])),
                }
                position += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                position += 1;
            }
            byte => {
                out.push(byte);
                position += 1;
            }
        }
    }
    Ok(match String::from_utf8(out) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    })
}

/// `url.QueryUnescape`.
pub fn query_unescape(raw: &[u8]) -> Result<String, String> {
    unescape(raw, true)
}

/// `url.PathUnescape` (a `+` stays a `+`).
pub fn path_unescape(raw: &[u8]) -> Result<String, String> {
    unescape(raw, false)
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseUint(text, 10, 64)`: ASCII digits only (no sign, no spaces), no overflow.
pub fn parse_go_uint(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Go's `path.Clean`, keeping a trailing slash as `http.ServeMux`'s `cleanPath` does. The request
/// path is already percent-decoded.
pub fn clean_request_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut cleaned = String::with_capacity(path.len() + 1);
    for segment in &segments {
        cleaned.push('/');
        cleaned.push_str(segment);
    }
    // The root, or a path whose trailing slash ServeMux keeps.
    if cleaned.is_empty() || path.ends_with('/') {
        cleaned.push('/');
    }
    cleaned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(raw: &str) -> (Form, Result<(), String>) {
        let mut form = Form::default();
        let result = form.parse_into(raw.as_bytes());
        (form, result)
    }

    #[test]
    fn first_value_wins_and_plus_is_space() {
        let (form, result) = form("value=a+b&value=second&flag&empty=");
        assert_eq!(result, Ok(()));
        assert_eq!(form.first("value"), Some("a b"));
        assert_eq!(form.first("flag"), Some(""));
        assert_eq!(form.first("empty"), Some(""));
        assert_eq!(form.first("absent"), None);
    }

    #[test]
    fn go_error_messages_for_bad_escapes_and_semicolons() {
        // Both compared with etcd 3.4.23: 210 with exactly these causes.
        let (form, result) = form("value=%zz&ok=1");
        assert_eq!(result, Err("invalid URL escape \"%zz\"".to_string()));
        assert_eq!(form.first("ok"), Some("1"), "Go keeps the good pairs");
        assert_eq!(self::form("value=1;b=2").1, Err("invalid semicolon separator in query".to_string()));
        assert_eq!(self::form("v=%4").1, Err("invalid URL escape \"%4\"".to_string()));
    }

    #[test]
    fn go_parse_bool_and_uint() {
        for text in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(text), Some(true), "{text}");
        }
        for text in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(text), Some(false), "{text}");
        }
        for text in ["", "yes", "tRuE", " true", "2"] {
            assert_eq!(parse_go_bool(text), None, "{text}");
        }
        assert_eq!(parse_go_uint("0"), Some(0));
        assert_eq!(parse_go_uint("18446744073709551615"), Some(u64::MAX));
        for text in ["", "+5", "-1", "1.5", "abc", "18446744073709551616", " 1"] {
            assert_eq!(parse_go_uint(text), None, "{text}");
        }
    }

    #[test]
    fn paths_clean_like_go_serve_mux() {
        assert_eq!(clean_request_path("/v2/keys//dbl/slash"), "/v2/keys/dbl/slash");
        assert_eq!(clean_request_path("/v2/keys/a/../b"), "/v2/keys/b");
        assert_eq!(clean_request_path("/v2/keys/a/"), "/v2/keys/a/");
        assert_eq!(clean_request_path("/v2/keys/./a"), "/v2/keys/a");
        assert_eq!(clean_request_path("/../.."), "/");
        assert_eq!(clean_request_path("/"), "/");
    }

    #[test]
    fn path_unescape_keeps_plus() {
        assert_eq!(path_unescape(b"/a+b%20c"), Ok("/a+b c".to_string()));
        assert!(path_unescape(b"/a%zz").is_err());
    }
}
