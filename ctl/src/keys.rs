//! The v2 keys API as the client sees it: request builders, response/error decoding, and the Go-compatible
//! JSON encoding etcdctl's `-o json` prints.

use serde_json::Value;

use crate::http::{Request, encode_form, escape_path};

/// One node of the v2 key tree, as etcd's Go client (`client.Node`) decodes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub key: String,
    pub dir: bool,
    pub value: String,
    /// `None` when the server sent no `nodes` field (Go prints `"nodes":null`).
    pub nodes: Option<Vec<Node>>,
    pub created_index: u64,
    pub modified_index: u64,
    /// RFC 3339 text exactly as the server sent it.
    pub expiration: Option<String>,
    pub ttl: i64,
}

/// A successful keys response plus the `X-Etcd-Index` header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeysResponse {
    pub action: String,
    pub node: Node,
    pub prev_node: Option<Node>,
    /// `X-Etcd-Index` (0 when absent).
    pub etcd_index: u64,
    /// `X-Raft-Index` / `X-Raft-Term` when the server sent them.
    pub raft_index: Option<u64>,
    pub raft_term: Option<u64>,
}

/// A v2 error body: `{"errorCode":100,"message":"Key not found","cause":"/two","index":4}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdError {
    pub code: u64,
    pub message: String,
    pub cause: String,
    pub index: u64,
}

impl std::fmt::Display for EtcdError {
    /// Go client's `Error.Error()`: `100: Key not found (/two) [4]` (the parentheses stay when cause is empty).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({}) [{}]", self.code, self.message, self.cause, self.index)
    }
}

fn parse_node(value: &Value) -> Node {
    let text = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or("").to_string();
    let number = |name: &str| value.get(name).and_then(Value::as_u64).unwrap_or(0);
    Node {
        key: text("key"),
        dir: value.get("dir").and_then(Value::as_bool).unwrap_or(false),
        value: text("value"),
        nodes: value
            .get("nodes")
            .and_then(Value::as_array)
            .map(|children| children.iter().map(parse_node).collect()),
        created_index: number("createdIndex"),
        modified_index: number("modifiedIndex"),
        expiration: value.get("expiration").and_then(Value::as_str).map(str::to_string),
        ttl: value.get("ttl").and_then(Value::as_i64).unwrap_or(0),
    }
}

/// What a keys call returned, once HTTP worked.
#[derive(Debug)]
pub enum KeysOutcome {
    Ok(Box<KeysResponse>),
    /// 200/201 with an empty body: a watch long-poll that the server closed without an event.
    Empty,
    Error(EtcdError),
    /// A body that is neither: the text says what was wrong.
    Malformed(String),
}

/// Decodes a keys response the way Go's `unmarshalHTTPResponse` does: 200/201 are successes, anything else
/// must be an etcd error body.
pub fn decode(status: u16, headers: &[(String, String)], body: &[u8]) -> KeysOutcome {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.parse::<u64>().ok())
    };
    if status == 200 || status == 201 {
        if body.is_empty() {
            return KeysOutcome::Empty;
        }
        let value: Value = match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(error) => return KeysOutcome::Malformed(error.to_string()),
        };
        let Some(node) = value.get("node") else {
            return KeysOutcome::Malformed("response has no node".to_string());
        };
        return KeysOutcome::Ok(Box::new(KeysResponse {
            action: value.get("action").and_then(Value::as_str).unwrap_or("").to_string(),
            node: parse_node(node),
            prev_node: value.get("prevNode").filter(|node| node.is_object()).map(parse_node),
            etcd_index: header("x-etcd-index").unwrap_or(0),
            raft_index: header("x-raft-index"),
            raft_term: header("x-raft-term"),
        }));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value) if value.get("errorCode").is_some() => KeysOutcome::Error(EtcdError {
            code: value.get("errorCode").and_then(Value::as_u64).unwrap_or(0),
            message: value.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
            cause: value.get("cause").and_then(Value::as_str).unwrap_or("").to_string(),
            index: value.get("index").and_then(Value::as_u64).unwrap_or(0),
        }),
        Ok(_) => KeysOutcome::Malformed(format!("unexpected response status {status}")),
        Err(error) => KeysOutcome::Malformed(error.to_string()),
    }
}

/// `/v2/keys` + the canonical key path, as the Go client builds it: a leading slash is added (`get two`
/// reads `/two`), `.`/`..`/empty segments are cleaned, and a trailing slash is kept.
fn key_path(key: &str) -> String {
    format!("/v2/keys{}", escape_path(&canonical_path(key)))
}

/// `path.Clean` on `/` + `key`, keeping a trailing slash (Go's `pathutil.CanonicalURLPath`).
pub fn canonical_path(key: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in key.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut path = format!("/{}", segments.join("/"));
    if key.ends_with('/') && path != "/" {
        path.push('/');
    }
    path
}

fn with_query(path: String, params: &[(&str, String)]) -> String {
    if params.is_empty() { path } else { format!("{path}?{}", encode_form(params)) }
}

/// `prevExist` handling, as in the Go client's `PrevExistType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrevExist {
    Ignore,
    MustExist,
    MustNotExist,
}

/// Options of a PUT (set/mk/update/mkdir/setdir/updatedir).
#[derive(Clone, Debug)]
pub struct SetOptions {
    pub ttl: i64,
    pub prev_value: String,
    pub prev_index: u64,
    pub prev_exist: PrevExist,
    pub dir: bool,
}

impl Default for SetOptions {
    fn default() -> Self {
        SetOptions {
            ttl: 0,
            prev_value: String::new(),
            prev_index: 0,
            prev_exist: PrevExist::Ignore,
            dir: false,
        }
    }
}

/// Builds the PUT the Go client sends: value and ttl in the form body, conditions in the query string.
pub fn set_request(key: &str, value: &str, options: &SetOptions) -> Request {
    let mut params: Vec<(&str, String)> = Vec::new();
    let mut form: Vec<(&str, String)> = Vec::new();
    if options.dir {
        params.push(("dir", "true".to_string()));
    } else {
        if !options.prev_value.is_empty() {
            params.push(("prevValue", options.prev_value.clone()));
        }
        form.push(("value", value.to_string()));
    }
    if options.prev_index != 0 {
        params.push(("prevIndex", options.prev_index.to_string()));
    }
    match options.prev_exist {
        PrevExist::Ignore => {}
        PrevExist::MustExist => params.push(("prevExist", "true".to_string())),
        PrevExist::MustNotExist => params.push(("prevExist", "false".to_string())),
    }
    if options.ttl > 0 {
        form.push(("ttl", options.ttl.to_string()));
    }
    Request::with_body("PUT", with_query(key_path(key), &params), FORM, encode_form(&form).into_bytes())
}

/// The content type of the keys API's write bodies.
const FORM: &str = "application/x-www-form-urlencoded";

/// POST to a directory: an in-order key named after the new index.
pub fn create_in_order_request(dir: &str, value: &str, ttl: i64) -> Request {
    let mut form: Vec<(&str, String)> = vec![("value", value.to_string())];
    if ttl > 0 {
        form.push(("ttl", ttl.to_string()));
    }
    Request::with_body("POST", key_path(dir), FORM, encode_form(&form).into_bytes())
}

#[derive(Clone, Copy, Debug, Default)]
pub struct GetOptions {
    pub recursive: bool,
    pub sort: bool,
    pub quorum: bool,
}

pub fn get_request(key: &str, options: GetOptions) -> Request {
    // The Go client always sends all three flags, `true` or `false`.
    let params: Vec<(&str, String)> = vec![
        ("recursive", options.recursive.to_string()),
        ("sorted", options.sort.to_string()),
        ("quorum", options.quorum.to_string()),
    ];
    Request::get(with_query(key_path(key), &params))
}

#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub prev_value: String,
    pub prev_index: u64,
    pub dir: bool,
    pub recursive: bool,
}

pub fn delete_request(key: &str, options: &DeleteOptions) -> Request {
    let mut params: Vec<(&str, String)> = Vec::new();
    if !options.prev_value.is_empty() {
        params.push(("prevValue", options.prev_value.clone()));
    }
    if options.prev_index != 0 {
        params.push(("prevIndex", options.prev_index.to_string()));
    }
    if options.dir {
        params.push(("dir", "true".to_string()));
    }
    if options.recursive {
        params.push(("recursive", "true".to_string()));
    }
    Request::new("DELETE", with_query(key_path(key), &params))
}

/// A long-poll for the first event at or after `wait_index` (0: the next event), as the Go client sends it.
pub fn wait_request(key: &str, wait_index: u64, recursive: bool) -> Request {
    let params: Vec<(&str, String)> = vec![
        ("wait", "true".to_string()),
        ("waitIndex", wait_index.to_string()),
        ("recursive", recursive.to_string()),
    ];
    Request::get(with_query(key_path(key), &params))
}

/// Appends `text` as a JSON string the way Go's `encoding/json` does (HTML-safe: `<>&` escaped, and
/// U+2028/U+2029 escaped), so `-o json` output is byte-identical to etcdctl's.
pub fn push_go_json_string(out: &mut String, text: &str) {
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", character as u32))
            }
            control if (control as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", control as u32)),
            other => out.push(other),
        }
    }
    out.push('"');
}

fn push_node_json(out: &mut String, node: &Node) {
    out.push_str("{\"key\":");
    push_go_json_string(out, &node.key);
    if node.dir {
        out.push_str(",\"dir\":true");
    }
    out.push_str(",\"value\":");
    push_go_json_string(out, &node.value);
    out.push_str(",\"nodes\":");
    match &node.nodes {
        None => out.push_str("null"),
        Some(children) => {
            out.push('[');
            for (position, child) in children.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                push_node_json(out, child);
            }
            out.push(']');
        }
    }
    out.push_str(&format!(
        ",\"createdIndex\":{},\"modifiedIndex\":{}",
        node.created_index, node.modified_index
    ));
    if let Some(expiration) = &node.expiration {
        out.push_str(",\"expiration\":");
        push_go_json_string(out, expiration);
    }
    if node.ttl != 0 {
        out.push_str(&format!(",\"ttl\":{}", node.ttl));
    }
    out.push('}');
}

/// The JSON etcdctl prints for `-o json`: Go's marshalling of `client.Response`.
pub fn response_json(response: &KeysResponse) -> String {
    let mut out = String::new();
    out.push_str("{\"action\":");
    push_go_json_string(&mut out, &response.action);
    out.push_str(",\"node\":");
    push_node_json(&mut out, &response.node);
    out.push_str(",\"prevNode\":");
    match &response.prev_node {
        Some(prev) => push_node_json(&mut out, prev),
        None => out.push_str("null"),
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_renders_like_etcdctl() {
        let body = br#"{"errorCode":100,"message":"Key not found","cause":"/two","index":4}"#;
        match decode(404, &[], body) {
            KeysOutcome::Error(error) => assert_eq!(error.to_string(), "100: Key not found (/two) [4]"),
            other => panic!("expected an etcd error, got {other:?}"),
        }
    }

    #[test]
    fn json_output_matches_go_field_order_and_escaping() {
        let body =
            br#"{"action":"get","node":{"key":"/a","value":"v<&>","modifiedIndex":10,"createdIndex":9}}"#;
        let headers = vec![("x-etcd-index".to_string(), "12".to_string())];
        let KeysOutcome::Ok(response) = decode(200, &headers, body) else { panic!("expected success") };
        assert_eq!(response.etcd_index, 12);
        assert_eq!(
            response_json(&response),
            r#"{"action":"get","node":{"key":"/a","value":"v\u003c\u0026\u003e","nodes":null,"createdIndex":9,"modifiedIndex":10},"prevNode":null}"#
        );
    }

    #[test]
    fn set_request_puts_value_in_body_and_conditions_in_query() {
        let options = SetOptions { ttl: 5, prev_value: "old".to_string(), ..SetOptions::default() };
        let request = set_request("foo", "a b", &options);
        assert_eq!(request.method, "PUT");
        assert_eq!(request.path_and_query, "/v2/keys/foo?prevValue=old");
        assert_eq!(request.body.unwrap().1, b"ttl=5&value=a+b".to_vec());
        let dir = set_request(
            "/d",
            "",
            &SetOptions { dir: true, prev_exist: PrevExist::MustNotExist, ..SetOptions::default() },
        );
        assert_eq!(dir.path_and_query, "/v2/keys/d?dir=true&prevExist=false");
    }

    #[test]
    fn key_paths_are_canonical() {
        assert_eq!(canonical_path("two"), "/two");
        assert_eq!(canonical_path("/a/../b"), "/b");
        assert_eq!(canonical_path("//a//b/./c/"), "/a/b/c/");
        assert_eq!(canonical_path("/../.."), "/");
        assert_eq!(canonical_path(""), "/");
    }

    #[test]
    fn empty_success_body_is_a_closed_long_poll() {
        assert!(matches!(decode(200, &[], b""), KeysOutcome::Empty));
        assert!(matches!(decode(500, &[], b"garbage"), KeysOutcome::Malformed(_)));
    }
}
