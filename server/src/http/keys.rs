//! `/v2/keys` request parsing: method + key + form -> a typed request, or etcd's parameter error.
//! Pure: the caller supplies `now` (stamped into writes) and the already-collected form. The checks run
//! in etcd 3.4's order, so a request with several bad parameters gets the error etcd gives.

use super::backend::{ClientRequest, WatchRequest};
use super::form::{Form, parse_go_bool, parse_go_uint};
use store::{StoreError, WriteMethod, WriteRequest};

/// The methods `/v2/keys` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeysMethod {
    Get,
    Head,
    Put,
    Post,
    Delete,
}

impl KeysMethod {
    /// `None` for a method etcd answers with 405.
    pub fn from_name(name: &str) -> Option<KeysMethod> {
        match name {
            "GET" => Some(KeysMethod::Get),
            "HEAD" => Some(KeysMethod::Head),
            "PUT" => Some(KeysMethod::Put),
            "POST" => Some(KeysMethod::Post),
            "DELETE" => Some(KeysMethod::Delete),
            _ => None,
        }
    }

    /// Go's `ParseForm` reads the body only for these.
    pub fn reads_form_body(self) -> bool {
        matches!(self, KeysMethod::Put | KeysMethod::Post)
    }
}

/// A parsed keys request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeysRequest {
    /// GET (possibly `quorum`) or HEAD; `head` answers without a body.
    Read { request: ClientRequest, head: bool },
    /// `wait=true` GET.
    Watch(WatchRequest),
    /// PUT, POST or DELETE; `no_value_on_success` trims the answer.
    Write { request: ClientRequest, no_value_on_success: bool },
}

fn uint_param(form: &Form, name: &str) -> Result<u64, StoreError> {
    match form.first(name) {
        None => Ok(0),
        Some(text) => parse_go_uint(text).ok_or_else(|| StoreError::index_nan(name)),
    }
}

/// etcd quotes the field name for these booleans (`invalid value for "recursive"`).
fn bool_param(form: &Form, name: &str) -> Result<bool, StoreError> {
    match form.first(name) {
        None => Ok(false),
        Some(text) => parse_go_bool(text)
            .ok_or_else(|| StoreError::invalid_field(format!("invalid value for \"{name}\""))),
    }
}

/// etcd does NOT quote the field name for the nullable booleans (`invalid value for prevExist`).
fn nullable_bool_param(form: &Form, name: &str) -> Result<Option<bool>, StoreError> {
    match form.first(name) {
        None => Ok(None),
        Some(text) => parse_go_bool(text)
            .map(Some)
            .ok_or_else(|| StoreError::invalid_field(format!("invalid value for {name}"))),
    }
}

/// Parses a keys request. `key` is the part of the (decoded, cleaned) path after `/v2/keys`; `now` is
/// the wall clock in Unix nanoseconds, stamped into writes.
pub fn parse_keys_request(
    method: KeysMethod,
    key: &str,
    form: &Form,
    now: i64,
) -> Result<KeysRequest, StoreError> {
    let key = store::clean_path(key).into_owned();
    let prev_index = uint_param(form, "prevIndex")?;
    let wait_index = uint_param(form, "waitIndex")?;
    let recursive = bool_param(form, "recursive")?;
    let sorted = bool_param(form, "sorted")?;
    let wait = bool_param(form, "wait")?;
    let dir = bool_param(form, "dir")?;
    let quorum = bool_param(form, "quorum")?;
    let stream = bool_param(form, "stream")?;
    if wait && method != KeysMethod::Get {
        return Err(StoreError::invalid_field("\"wait\" can only be used with GET requests"));
    }
    let prev_value = form.first("prevValue").map(str::to_string);
    if prev_value.as_deref() == Some("") {
        return Err(StoreError::prev_value_required());
    }
    let no_value_on_success = bool_param(form, "noValueOnSuccess")?;
    let (ttl, prev_exist, refresh, value) = ttl_and_value_params(form)?;
    let write_method = match method {
        KeysMethod::Get if quorum => {
            // etcd turns a quorum GET into a read through Raft even with `wait=true`.
            let request = ClientRequest::Get { key, recursive, sorted, quorum: true, now };
            return Ok(KeysRequest::Read { request, head: false });
        }
        KeysMethod::Get if wait => {
            let since_index = (wait_index != 0).then_some(wait_index);
            return Ok(KeysRequest::Watch(WatchRequest { key, recursive, stream, since_index }));
        }
        KeysMethod::Get | KeysMethod::Head => {
            let request = ClientRequest::Get { key, recursive, sorted, quorum: false, now };
            return Ok(KeysRequest::Read { request, head: method == KeysMethod::Head });
        }
        KeysMethod::Put => WriteMethod::Put,
        KeysMethod::Post => WriteMethod::Post,
        KeysMethod::Delete => WriteMethod::Delete,
    };
    let write = WriteRequest {
        method: Some(write_method),
        key,
        value,
        dir,
        ttl,
        prev_value,
        prev_index,
        prev_exist,
        recursive,
        refresh,
        now,
    };
    Ok(KeysRequest::Write { request: ClientRequest::Write(write.into_command()), no_value_on_success })
}

/// `ttl`, `prevExist`, `refresh` and `value`, checked in etcd's order: an empty `ttl=` is "no TTL" (on
/// update: remove the TTL), not an error; a refresh carries a TTL and no value.
fn ttl_and_value_params(form: &Form) -> Result<(Option<u64>, Option<bool>, bool, String), StoreError> {
    let ttl = match form.first("ttl") {
        None | Some("") => None,
        Some(text) => Some(parse_go_uint(text).ok_or_else(StoreError::ttl_nan)?),
    };
    let prev_exist = nullable_bool_param(form, "prevExist")?;
    let refresh = nullable_bool_param(form, "refresh")?.unwrap_or(false);
    let value = form.first("value").unwrap_or("").to_string();
    if refresh {
        if !value.is_empty() {
            return Err(StoreError::refresh_value());
        }
        if ttl.is_none() {
            return Err(StoreError::refresh_ttl_required());
        }
    }
    Ok((ttl, prev_exist, refresh, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::Command;

    const NOW: i64 = 1_700_000_000_000_000_000;

    fn parse(method: KeysMethod, key: &str, query: &str) -> Result<KeysRequest, StoreError> {
        let mut form = Form::default();
        form.parse_into(query.as_bytes()).expect("test queries are well formed");
        parse_keys_request(method, key, &form, NOW)
    }

    fn command(method: KeysMethod, key: &str, query: &str) -> Command {
        match parse(method, key, query) {
            Ok(KeysRequest::Write { request: ClientRequest::Write(command), .. }) => command,
            other => panic!("expected a write, got {other:?}"),
        }
    }

    fn error(method: KeysMethod, query: &str) -> (u16, String) {
        let error = parse(method, "/k", query).expect_err("expected a parameter error");
        assert_eq!(error.index, 0, "parameter errors carry index 0");
        (error.code, error.cause)
    }

    #[test]
    fn plain_put_is_set_and_trailing_slash_is_ignored() {
        assert_eq!(
            command(KeysMethod::Put, "/message/", "value=Hello+world"),
            Command::Set {
                key: "/message".into(),
                value: "Hello world".into(),
                dir: false,
                ttl: None,
                refresh: false,
                now: NOW
            }
        );
    }

    #[test]
    fn prev_exist_and_compares_route_like_etcd() {
        assert!(matches!(command(KeysMethod::Put, "/k", "value=v&prevExist=true"), Command::Update { .. }));
        assert!(matches!(
            command(KeysMethod::Put, "/k", "value=v&prevExist=0&prevValue=x"),
            Command::Create { in_order: false, .. }
        ));
        assert!(matches!(command(KeysMethod::Put, "/k", "prevIndex=3"), Command::CompareAndSwap { .. }));
        assert!(matches!(command(KeysMethod::Delete, "/k", "prevValue=x"), Command::CompareAndDelete { .. }));
        assert!(matches!(
            command(KeysMethod::Delete, "/k", "recursive=t"),
            Command::Delete { recursive: true, .. }
        ));
        assert!(matches!(command(KeysMethod::Post, "/q", "value=v"), Command::Create { in_order: true, .. }));
        // prevIndex=0 is "not given".
        assert!(matches!(command(KeysMethod::Put, "/k", "prevIndex=0"), Command::Set { .. }));
    }

    #[test]
    fn ttl_empty_means_none_and_refresh_keeps_ttl() {
        assert!(matches!(command(KeysMethod::Put, "/k", "ttl="), Command::Set { ttl: None, .. }));
        assert!(matches!(
            command(KeysMethod::Put, "/k", "ttl=5&refresh=true&prevExist=true"),
            Command::Update { ttl: Some(5), refresh: true, .. }
        ));
    }

    #[test]
    fn reads_watches_and_quorum() {
        assert_eq!(
            parse(KeysMethod::Get, "/", "recursive=true&sorted=1").unwrap(),
            KeysRequest::Read {
                request: ClientRequest::Get {
                    key: "/".into(),
                    recursive: true,
                    sorted: true,
                    quorum: false,
                    now: NOW
                },
                head: false
            }
        );
        assert_eq!(
            parse(KeysMethod::Get, "/d", "wait=true&waitIndex=7&stream=true").unwrap(),
            KeysRequest::Watch(WatchRequest {
                key: "/d".into(),
                recursive: false,
                stream: true,
                since_index: Some(7)
            })
        );
        // Observed: wait=true&quorum=true is a plain quorum GET.
        assert!(matches!(
            parse(KeysMethod::Get, "/d", "wait=true&quorum=true&waitIndex=0").unwrap(),
            KeysRequest::Read { request: ClientRequest::Get { quorum: true, .. }, .. }
        ));
        assert!(matches!(parse(KeysMethod::Head, "/d", "").unwrap(), KeysRequest::Read { head: true, .. }));
    }

    #[test]
    fn parameter_errors_match_etcd_causes() {
        // Every cause below was compared with etcd 3.4.23.
        assert_eq!(
            error(KeysMethod::Get, "recursive=maybe"),
            (209, "invalid value for \"recursive\"".into())
        );
        assert_eq!(error(KeysMethod::Put, "prevExist=maybe"), (209, "invalid value for prevExist".into()));
        assert_eq!(error(KeysMethod::Put, "refresh=xx"), (209, "invalid value for refresh".into()));
        assert_eq!(error(KeysMethod::Put, "dir=zz"), (209, "invalid value for \"dir\"".into()));
        assert_eq!(
            error(KeysMethod::Put, "noValueOnSuccess=zz"),
            (209, "invalid value for \"noValueOnSuccess\"".into())
        );
        assert_eq!(error(KeysMethod::Put, "prevValue="), (201, "\"prevValue\" cannot be empty".into()));
        assert_eq!(error(KeysMethod::Put, "prevIndex=x"), (203, "invalid value for \"prevIndex\"".into()));
        assert_eq!(
            error(KeysMethod::Get, "waitIndex=x&wait=true"),
            (203, "invalid value for \"waitIndex\"".into())
        );
        assert_eq!(error(KeysMethod::Put, "ttl=abc"), (202, "invalid value for \"ttl\"".into()));
        assert_eq!(error(KeysMethod::Put, "ttl=-1"), (202, "invalid value for \"ttl\"".into()));
        assert_eq!(error(KeysMethod::Put, "ttl=1.5"), (202, "invalid value for \"ttl\"".into()));
        assert_eq!(
            error(KeysMethod::Put, "wait=true"),
            (209, "\"wait\" can only be used with GET requests".into())
        );
        assert_eq!(
            error(KeysMethod::Put, "refresh=true&ttl=5&value=x"),
            (211, "A value was provided on a refresh".into())
        );
        assert_eq!(error(KeysMethod::Put, "refresh=true"), (212, "No TTL value set".into()));
        // Order: prevIndex is checked before recursive, as in etcd.
        assert_eq!(error(KeysMethod::Put, "recursive=x&prevIndex=y").0, 203);
    }
}
