//! etcd v2 errors: the numeric `errorCode`, its fixed message, a cause and the store index, rendered
//! exactly as etcd 3.4 prints them (`{"errorCode":100,"message":"Key not found","cause":"/foo","index":3}`
//! plus a newline) with the HTTP status etcd uses for each code.

use crate::json;
use serde::{Deserialize, Serialize};

/// One etcd v2 error. `index` is the store's `X-Etcd-Index` when the error happened (0 for errors found
/// while parsing a request, before the store is involved).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreError {
    pub code: u16,
    pub message: String,
    /// Omitted from the JSON when empty, as etcd does.
    pub cause: String,
    pub index: u64,
}

pub const KEY_NOT_FOUND: u16 = 100;
pub const TEST_FAILED: u16 = 101;
pub const NOT_FILE: u16 = 102;
pub const NOT_DIR: u16 = 104;
pub const NODE_EXIST: u16 = 105;
pub const ROOT_READ_ONLY: u16 = 107;
pub const DIR_NOT_EMPTY: u16 = 108;
pub const UNAUTHORIZED: u16 = 110;
pub const VALUE_REQUIRED: u16 = 200;
pub const PREV_VALUE_REQUIRED: u16 = 201;
pub const TTL_NAN: u16 = 202;
pub const INDEX_NAN: u16 = 203;
pub const INVALID_FIELD: u16 = 209;
pub const INVALID_FORM: u16 = 210;
pub const REFRESH_VALUE: u16 = 211;
pub const REFRESH_TTL_REQUIRED: u16 = 212;
pub const RAFT_INTERNAL: u16 = 300;
pub const LEADER_ELECT: u16 = 301;
pub const WATCHER_CLEARED: u16 = 400;
pub const EVENT_INDEX_CLEARED: u16 = 401;

/// etcd's fixed message for `code` (v2error's table); unknown codes get an empty message.
pub fn message_for(code: u16) -> &'static str {
    match code {
        100 => "Key not found",
        101 => "Compare failed",
        102 => "Not a file",
        103 => "Reached the max number of peers in the cluster",
        104 => "Not a directory",
        105 => "Key already exists",
        106 => "The prefix of given key is a keyword in etcd",
        107 => "Root is read only",
        108 => "Directory not empty",
        109 => "Peer address has existed",
        110 => "The request requires user authentication",
        200 => "Value is Required in POST form",
        201 => "PrevValue is Required in POST form",
        202 => "The given TTL in POST form is not a number",
        203 => "The given index in POST form is not a number",
        204 => "Value or TTL is required in POST form",
        205 => "The given timeout in POST form is not a number",
        206 => "Name is required in POST form",
        207 => "Index or value is required",
        208 => "Index and value cannot both be specified",
        209 => "Invalid field",
        210 => "Invalid POST form",
        211 => "Value provided on refresh",
        212 => "A TTL must be provided on refresh",
        300 => "Raft Internal Error",
        301 => "During Leader Election",
        400 => "watcher is cleared due to etcd recovery",
        401 => "The event in requested index is outdated and cleared",
        402 => "Standby Internal Error",
        403 => "Invalid active size",
        404 => "Standby remove delay",
        500 => "Client Internal Error",
        _ => "",
    }
}

impl StoreError {
    /// An error with etcd's message for `code`.
    pub fn new(code: u16, cause: impl Into<String>, index: u64) -> StoreError {
        StoreError { code, message: message_for(code).to_string(), cause: cause.into(), index }
    }

    pub fn key_not_found(cause: impl Into<String>, index: u64) -> StoreError {
        StoreError::new(KEY_NOT_FOUND, cause, index)
    }
    /// `cause` is etcd's `[prevValue != value]`, `[prevIndex != modifiedIndex]` or both.
    pub fn test_failed(cause: impl Into<String>, index: u64) -> StoreError {
        StoreError::new(TEST_FAILED, cause, index)
    }
    pub fn not_file(cause: impl Into<String>, index: u64) -> StoreError {
        StoreError::new(NOT_FILE, cause, index)
    }
    pub fn not_dir(cause: impl Into<String>, index: u64) -> StoreError {
        StoreError::new(NOT_DIR, cause, index)
    }
    pub fn node_exist(cause: impl Into<String>, index: u64) -> StoreError {
        StoreError::new(NODE_EXIST, cause, index)
    }
    pub fn root_read_only(index: u64) -> StoreError {
        StoreError::new(ROOT_READ_ONLY, "/", index)
    }
    pub fn dir_not_empty(cause: impl Into<String>, index: u64) -> StoreError {
        StoreError::new(DIR_NOT_EMPTY, cause, index)
    }
    /// 110, as etcd answers a key request the caller's credentials do not allow.
    pub fn unauthorized() -> StoreError {
        StoreError::new(UNAUTHORIZED, "Insufficient credentials", 0)
    }
    /// 401: `waitIndex` older than the oldest event kept in the history.
    pub fn event_index_cleared(oldest_index: u64, requested_index: u64, index: u64) -> StoreError {
        StoreError::new(
            EVENT_INDEX_CLEARED,
            format!("the requested history has been cleared [{oldest_index}/{requested_index}]"),
            index,
        )
    }
    /// 300, for the server: `cause` is free text (etcd uses e.g. "etcdserver: request timed out").
    pub fn raft_internal(cause: impl Into<String>, index: u64) -> StoreError {
        StoreError::new(RAFT_INTERNAL, cause, index)
    }
    /// 301, for the server while no leader is known.
    pub fn leader_elect(cause: impl Into<String>, index: u64) -> StoreError {
        StoreError::new(LEADER_ELECT, cause, index)
    }

    // Request (form/parameter) errors: etcd reports them with index 0 before touching the store.

    /// 200 (POST without a value in the old API; kept for completeness).
    pub fn value_required(cause: impl Into<String>) -> StoreError {
        StoreError::new(VALUE_REQUIRED, cause, 0)
    }
    /// 201: `prevValue=` present but empty. etcd's cause: `"prevValue" cannot be empty`.
    pub fn prev_value_required() -> StoreError {
        StoreError::new(PREV_VALUE_REQUIRED, "\"prevValue\" cannot be empty", 0)
    }
    /// 202: `ttl` is not an unsigned integer. etcd's cause: `invalid value for "ttl"`.
    pub fn ttl_nan() -> StoreError {
        StoreError::new(TTL_NAN, "invalid value for \"ttl\"", 0)
    }
    /// 203: `prevIndex`/`waitIndex` is not an unsigned integer; `field` is the parameter name.
    pub fn index_nan(field: &str) -> StoreError {
        StoreError::new(INDEX_NAN, format!("invalid value for \"{field}\""), 0)
    }
    /// 204: neither value nor TTL (old API; kept for completeness).
    pub fn value_or_ttl_required(cause: impl Into<String>) -> StoreError {
        StoreError::new(204, cause, 0)
    }
    /// 205: a timeout parameter is not a number (old API; kept for completeness).
    pub fn timeout_nan(cause: impl Into<String>) -> StoreError {
        StoreError::new(205, cause, 0)
    }
    /// 206: a name is required (old API; kept for completeness).
    pub fn name_required(cause: impl Into<String>) -> StoreError {
        StoreError::new(206, cause, 0)
    }
    /// 207: index or value required (old lock API; kept for completeness).
    pub fn index_or_value_required(cause: impl Into<String>) -> StoreError {
        StoreError::new(207, cause, 0)
    }
    /// 208: index and value both given (old lock API; kept for completeness).
    pub fn index_value_mutex(cause: impl Into<String>) -> StoreError {
        StoreError::new(208, cause, 0)
    }
    /// 209 with the cause given verbatim (etcd quotes some field names and not others:
    /// `invalid value for "recursive"` but `invalid value for prevExist`).
    pub fn invalid_field(cause: impl Into<String>) -> StoreError {
        StoreError::new(INVALID_FIELD, cause, 0)
    }
    /// 210: the form could not be parsed.
    pub fn invalid_form(cause: impl Into<String>) -> StoreError {
        StoreError::new(INVALID_FORM, cause, 0)
    }
    /// 211: `refresh=true` with a non-empty value.
    pub fn refresh_value() -> StoreError {
        StoreError::new(REFRESH_VALUE, "A value was provided on a refresh", 0)
    }
    /// 212: `refresh=true` without `ttl`.
    pub fn refresh_ttl_required() -> StoreError {
        StoreError::new(REFRESH_TTL_REQUIRED, "No TTL value set", 0)
    }

    /// The HTTP status etcd answers this error with.
    pub fn http_status(&self) -> u16 {
        match self.code {
            KEY_NOT_FOUND => 404,
            TEST_FAILED | NODE_EXIST => 412,
            NOT_FILE | DIR_NOT_EMPTY => 403,
            UNAUTHORIZED => 401,
            RAFT_INTERNAL | LEADER_ELECT => 500,
            _ => 400,
        }
    }

    /// The response body etcd writes, trailing newline included.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 + self.message.len() + self.cause.len());
        out.push_str("{\"errorCode\":");
        out.push_str(&self.code.to_string());
        out.push_str(",\"message\":");
        json::push_string(&mut out, &self.message);
        if !self.cause.is_empty() {
            out.push_str(",\"cause\":");
            json::push_string(&mut out, &self.cause);
        }
        out.push_str(",\"index\":");
        out.push_str(&self.index.to_string());
        out.push_str("}\n");
        out
    }
}

impl std::fmt::Display for StoreError {
    /// etcdctl's rendering: `100: Key not found (/foo) [3]`.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}: {} ({}) [{}]", self.code, self.message, self.cause, self.index)
    }
}

impl std::error::Error for StoreError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_etcds_message_and_http_status() {
        let expected: [(u16, u16, &str); 24] = [
            (100, 404, "Key not found"),
            (101, 412, "Compare failed"),
            (102, 403, "Not a file"),
            (104, 400, "Not a directory"),
            (105, 412, "Key already exists"),
            (107, 400, "Root is read only"),
            (108, 403, "Directory not empty"),
            (110, 401, "The request requires user authentication"),
            (200, 400, "Value is Required in POST form"),
            (201, 400, "PrevValue is Required in POST form"),
            (202, 400, "The given TTL in POST form is not a number"),
            (203, 400, "The given index in POST form is not a number"),
            (204, 400, "Value or TTL is required in POST form"),
            (205, 400, "The given timeout in POST form is not a number"),
            (206, 400, "Name is required in POST form"),
            (207, 400, "Index or value is required"),
            (208, 400, "Index and value cannot both be specified"),
            (209, 400, "Invalid field"),
            (210, 400, "Invalid POST form"),
            (211, 400, "Value provided on refresh"),
            (212, 400, "A TTL must be provided on refresh"),
            (300, 500, "Raft Internal Error"),
            (301, 500, "During Leader Election"),
            (401, 400, "The event in requested index is outdated and cleared"),
        ];
        for (code, status, message) in expected {
            let error = StoreError::new(code, "c", 7);
            assert_eq!((error.http_status(), error.message.as_str()), (status, message), "code {code}");
        }
    }

    #[test]
    fn request_errors_carry_index_zero_and_etcds_causes() {
        assert_eq!(
            StoreError::unauthorized().to_json(),
            "{\"errorCode\":110,\"message\":\"The request requires user authentication\",\"cause\":\"Insufficient credentials\",\"index\":0}\n"
        );
        assert_eq!(StoreError::index_nan("waitIndex").cause, "invalid value for \"waitIndex\"");
        assert_eq!(StoreError::ttl_nan().index, 0);
        assert_eq!(
            StoreError::invalid_field("invalid value for prevExist").to_string(),
            "209: Invalid field (invalid value for prevExist) [0]"
        );
        // An empty cause is omitted, as Go's omitempty does.
        assert_eq!(
            StoreError::new(300, "", 5).to_json(),
            "{\"errorCode\":300,\"message\":\"Raft Internal Error\",\"index\":5}\n"
        );
    }
}
