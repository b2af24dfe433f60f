//! etcd's v2 auth API (`/v2/auth/...`) as the Go client (`client.AuthUserAPI`, `AuthRoleAPI`,
//! `AuthAPI`) speaks it: the requests with the JSON bodies Go's encoder writes, which statuses count
//! as success, and how answers and failures decode, down to the quirks etcdctl's output shows (a user's
//! roles, sent as objects, decode as one empty name per role followed by the names).

use serde_json::Value;

use crate::client::Client;
use crate::http::{Request, escape_path};
use crate::keys::{canonical_path, push_go_json_string};

/// A role's key permissions; `None` is JSON `null` (Go's nil slice), kept apart from `[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    pub read: Option<Vec<String>>,
    pub write: Option<Vec<String>>,
}

/// A role as `GET /v2/auth/roles/NAME` describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Role {
    pub role: String,
    pub permissions: Permissions,
    pub grant: Option<Permissions>,
    pub revoke: Option<Permissions>,
}

/// A user as the Go client decodes `GET /v2/auth/users/NAME`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    pub user: String,
    pub roles: Vec<String>,
}

/// Which keys permission a role change is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    ReadWrite,
}

/// Whether a role change adds or removes permissions, a user change roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Grant,
    Revoke,
}

impl Change {
    fn field(self) -> &'static str {
        match self {
            Change::Grant => "grant",
            Change::Revoke => "revoke",
        }
    }
}

/// `/v2/auth/<action>[/<name>]`, cleaned like Go's `path.Join` and escaped like its URLs.
fn auth_path(action: &str, name: &str) -> String {
    let joined =
        if name.is_empty() { format!("/v2/auth/{action}") } else { format!("/v2/auth/{action}/{name}") };
    let mut cleaned = canonical_path(&joined);
    if cleaned.len() > 1 && cleaned.ends_with('/') {
        cleaned.pop();
    }
    escape_path(&cleaned)
}

fn json_request(method: &'static str, path: String, body: String) -> Request {
    Request::with_body(method, path, "application/json", body.into_bytes())
}

fn push_string_list(out: &mut String, items: Option<&[String]>) {
    let Some(items) = items else {
        out.push_str("null");
        return;
    };
    out.push('[');
    for (position, item) in items.iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        push_go_json_string(out, item);
    }
    out.push(']');
}

/// Go's encoding of a `client.User` (password omitted when empty, roles always `null`).
fn user_body(name: &str, password: &str, roles_change: Option<(Change, &[String])>) -> String {
    let mut body = String::from("{\"user\":");
    push_go_json_string(&mut body, name);
    if !password.is_empty() {
        body.push_str(",\"password\":");
        push_go_json_string(&mut body, password);
    }
    body.push_str(",\"roles\":null");
    if let Some((change, roles)) = roles_change {
        body.push_str(&format!(",\"{}\":", change.field()));
        push_string_list(&mut body, Some(roles));
    }
    body.push('}');
    body
}

fn push_permissions(out: &mut String, permissions: &Permissions) {
    out.push_str("{\"kv\":{\"read\":");
    push_string_list(out, permissions.read.as_deref());
    out.push_str(",\"write\":");
    push_string_list(out, permissions.write.as_deref());
    out.push_str("}}");
}

/// Go's encoding of a `client.Role` carrying an optional grant or revoke.
fn role_body(name: &str, change: Option<(Change, &Permissions)>) -> String {
    let mut body = String::from("{\"role\":");
    push_go_json_string(&mut body, name);
    body.push_str(",\"permissions\":");
    push_permissions(&mut body, &Permissions::default());
    if let Some((change, permissions)) = change {
        body.push_str(&format!(",\"{}\":", change.field()));
        push_permissions(&mut body, permissions);
    }
    body.push('}');
    body
}

/// The permissions a `--read`, `--write` or `--readwrite` change names, for `paths`.
pub fn permissions_for(paths: &[String], access: Access) -> Permissions {
    let listed = Some(paths.to_vec());
    match access {
        Access::Read => Permissions { read: listed, write: None },
        Access::Write => Permissions { read: None, write: listed },
        Access::ReadWrite => Permissions { read: listed.clone(), write: listed },
    }
}

/// Sends one auth request; a failed exchange fails with the client error's text (Go's `err.Error()`).
fn call(client: &Client, request: &Request) -> Result<(u16, Vec<u8>), String> {
    let response = client.send(request).map_err(|error| error.to_string())?;
    Ok((response.status, response.body))
}

/// The failure an unexpected status carries: the server's `message`, or Go's JSON error.
fn auth_failure(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => fields.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
        Ok(other) => {
            format!("json: cannot unmarshal {} into Go value of type client.authError", go_kind(&other))
        }
        Err(error) => go_json_error(&error, body),
    }
}

/// Go's name for a JSON value's kind in its unmarshal errors.
fn go_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Go's `encoding/json` text for a body that is not JSON.
fn go_json_error(error: &serde_json::Error, body: &[u8]) -> String {
    if error.is_eof() {
        return "unexpected end of JSON input".to_string();
    }
    let offending = body.iter().find(|byte| !byte.is_ascii_whitespace()).copied().unwrap_or(b'?');
    format!("invalid character '{}' looking for beginning of value", offending as char)
}

fn decode(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|error| go_json_error(&error, body))
}

/// Sends a request whose success is one of `accepted` and whose answer is not needed.
fn call_expecting(client: &Client, request: &Request, accepted: &[u16]) -> Result<(), String> {
    let (status, body) = call(client, request)?;
    if accepted.contains(&status) { Ok(()) } else { Err(auth_failure(&body)) }
}

/// `auth enable` (`PUT /v2/auth/enable`) or `auth disable` (`DELETE`).
pub fn set_enabled(client: &Client, enabled: bool) -> Result<(), String> {
    let method = if enabled { "PUT" } else { "DELETE" };
    call_expecting(client, &Request::new(method, auth_path("enable", "")), &[200, 201])
}

/// The user names, in the server's order.
pub fn list_users(client: &Client) -> Result<Vec<String>, String> {
    let (status, body) = call(client, &Request::get(auth_path("users", "")))?;
    if status != 200 {
        return Err(auth_failure(&body));
    }
    Ok(names_in(&decode(&body)?, "users", "user"))
}

/// The role names, in the server's order (a refusal is only a status code here, as in Go's client).
pub fn list_roles(client: &Client) -> Result<Vec<String>, String> {
    let (status, body) = call(client, &Request::get(auth_path("roles", "")))?;
    if status != 200 {
        return Err(format!("unexpected status code {status}"));
    }
    Ok(names_in(&decode(&body)?, "roles", "role"))
}

fn names_in(value: &Value, list: &str, field: &str) -> Vec<String> {
    let entries = value.get(list).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    entries.iter().map(|entry| entry.get(field).and_then(Value::as_str).unwrap_or("").to_string()).collect()
}

/// Creates a user, or sets its password (`PUT`, answered 200 or 201).
pub fn add_user(client: &Client, name: &str, password: &str) -> Result<(), String> {
    let request = json_request("PUT", auth_path("users", name), user_body(name, password, None));
    call_expecting(client, &request, &[200, 201])
}

pub fn remove_user(client: &Client, name: &str) -> Result<(), String> {
    call_expecting(client, &Request::new("DELETE", auth_path("users", name)), &[200, 201])
}

pub fn get_user(client: &Client, name: &str) -> Result<User, String> {
    modify_user(client, Request::get(auth_path("users", name)))
}

/// Grants or revokes roles (the names exactly as given: `-roles a,b` is one name).
pub fn change_user_roles(
    client: &Client,
    name: &str,
    change: Change,
    roles: &[String],
) -> Result<User, String> {
    let body = user_body(name, "", Some((change, roles)));
    modify_user(client, json_request("PUT", auth_path("users", name), body))
}

pub fn change_password(client: &Client, name: &str, password: &str) -> Result<User, String> {
    let body = user_body(name, password, None);
    modify_user(client, json_request("PUT", auth_path("users", name), body))
}

fn modify_user(client: &Client, request: Request) -> Result<User, String> {
    let (status, body) = call(client, &request)?;
    if status != 200 {
        return Err(auth_failure(&body));
    }
    decode_user(&decode(&body)?)
}

/// Go's two-step decoding of a user: as `User` (roles as strings); when that fails on role objects,
/// the names from `UserRoles` are appended to the empty names the first attempt left behind.
pub fn decode_user(value: &Value) -> Result<User, String> {
    let user = value.get("user").and_then(Value::as_str).unwrap_or("").to_string();
    let entries = value.get("roles").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut roles: Vec<String> =
        entries.iter().map(|entry| entry.as_str().unwrap_or("").to_string()).collect();
    let Some(mismatch) = entries.iter().find(|entry| !entry.is_string()) else {
        return Ok(User { user, roles });
    };
    if !entries.iter().all(Value::is_object) {
        return Err(format!(
            "json: cannot unmarshal {} into Go struct field User.roles of type string",
            go_kind(mismatch)
        ));
    }
    roles.extend(
        entries.iter().map(|entry| entry.get("role").and_then(Value::as_str).unwrap_or("").to_string()),
    );
    Ok(User { user, roles })
}

pub fn add_role(client: &Client, name: &str) -> Result<(), String> {
    let request = json_request("PUT", auth_path("roles", name), role_body(name, None));
    call_expecting(client, &request, &[200, 201])
}

pub fn remove_role(client: &Client, name: &str) -> Result<(), String> {
    call_expecting(client, &Request::new("DELETE", auth_path("roles", name)), &[200, 201])
}

pub fn get_role(client: &Client, name: &str) -> Result<Role, String> {
    modify_role(client, Request::get(auth_path("roles", name)))
}

/// Grants or revokes key permissions of a role.
pub fn change_role(
    client: &Client,
    name: &str,
    change: Change,
    permissions: &Permissions,
) -> Result<Role, String> {
    let request = json_request("PUT", auth_path("roles", name), role_body(name, Some((change, permissions))));
    modify_role(client, request)
}

fn modify_role(client: &Client, request: Request) -> Result<Role, String> {
    let (status, body) = call(client, &request)?;
    if status != 200 {
        return Err(auth_failure(&body));
    }
    Ok(decode_role(&decode(&body)?))
}

fn decode_permissions(value: Option<&Value>) -> Permissions {
    let kv = value.and_then(|permissions| permissions.get("kv"));
    let list = |name: &str| {
        kv.and_then(|kv| kv.get(name))
            .and_then(Value::as_array)
            .map(|items| items.iter().map(|item| item.as_str().unwrap_or("").to_string()).collect::<Vec<_>>())
    };
    Permissions { read: list("read"), write: list("write") }
}

pub fn decode_role(value: &Value) -> Role {
    let present = |name: &str| value.get(name).filter(|field| !field.is_null());
    Role {
        role: value.get("role").and_then(Value::as_str).unwrap_or("").to_string(),
        permissions: decode_permissions(value.get("permissions")),
        grant: present("grant").map(|grant| decode_permissions(Some(grant))),
        revoke: present("revoke").map(|revoke| decode_permissions(Some(revoke))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_what_gos_encoder_writes() {
        assert_eq!(user_body("Client1", "pw", None), r#"{"user":"Client1","password":"pw","roles":null}"#);
        let roles = ["a,b".to_string()];
        assert_eq!(
            user_body("X", "", Some((Change::Grant, &roles))),
            r#"{"user":"X","roles":null,"grant":["a,b"]}"#
        );
        let permissions = permissions_for(&["/ETCD_information/*".to_string()], Access::Write);
        assert_eq!(
            role_body("Client_role", Some((Change::Grant, &permissions))),
            r#"{"role":"Client_role","permissions":{"kv":{"read":null,"write":null}},"grant":{"kv":{"read":null,"write":["/ETCD_information/*"]}}}"#
        );
    }

    #[test]
    fn paths_are_joined_and_cleaned_like_go() {
        assert_eq!(auth_path("users", ""), "/v2/auth/users");
        assert_eq!(auth_path("users", "a b"), "/v2/auth/users/a%20b");
        assert_eq!(auth_path("roles", "x/../y/"), "/v2/auth/roles/y");
    }

    #[test]
    fn role_objects_decode_as_empty_names_then_names() {
        let value: Value =
            serde_json::from_str(r#"{"user":"u","roles":[{"role":"A","permissions":{}},{"role":"B"}]}"#)
                .unwrap();
        assert_eq!(decode_user(&value).unwrap().roles, ["", "", "A", "B"]);
        let value: Value = serde_json::from_str(r#"{"user":"u","roles":["A"]}"#).unwrap();
        assert_eq!(decode_user(&value).unwrap().roles, ["A"]);
    }

    #[test]
    fn failures_carry_the_servers_message_or_gos_json_error() {
        assert_eq!(auth_failure(br#"{"message":"auth: already enabled"}"#), "auth: already enabled");
        assert_eq!(auth_failure(b""), "unexpected end of JSON input");
        assert_eq!(auth_failure(b"<html>"), "invalid character '<' looking for beginning of value");
    }
}
