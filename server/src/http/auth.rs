//! etcd 3.4's v2 authentication over HTTP: Basic credentials turned into a `Caller` (bcrypt checked
//! off the async threads, with a small cache of successful checks), and the `/v2/auth/enable`,
//! `/v2/auth/users[/<name>]` and `/v2/auth/roles[/<name>]` endpoints with etcd's JSON shapes, statuses
//! and messages. Passwords are hashed here, before proposing, so applying the log stays deterministic.

use std::collections::VecDeque;
use std::sync::Mutex;

use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use store::auth::{Auth, AuthCommand, AuthError, AuthReply, Caller, Permissions};

use super::backend::Backend;
use super::render::{self, CONTENT_TYPE_JSON, Reply};

/// etcd's bcrypt cost (Go's `bcrypt.DefaultCost`).
pub const BCRYPT_COST: u32 = 10;

/// Successful credential checks remembered at most (oldest forgotten first).
pub const CREDENTIAL_CACHE_ENTRIES: usize = 1024;

/// Why a request's credentials were not accepted.
#[derive(Debug)]
pub struct Denied;

/// Remembers (user, SHA-256 of the password, stored hash) of recent successful checks, so a client
/// that sends the same credentials on every request pays bcrypt once. A changed password changes the
/// stored hash, so old entries stop matching.
#[derive(Default)]
pub struct CredentialCache {
    entries: Mutex<VecDeque<(String, [u8; 32], String)>>,
}

impl CredentialCache {
    fn contains(&self, user: &str, digest: &[u8; 32], hash: &str) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.iter().any(|(name, seen, stored)| name == user && seen == digest && stored == hash)
    }

    fn remember(&self, user: &str, digest: [u8; 32], hash: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() == CREDENTIAL_CACHE_ENTRIES {
            entries.pop_front();
        }
        entries.push_back((user.to_string(), digest, hash.to_string()));
        assert!(entries.len() <= CREDENTIAL_CACHE_ENTRIES, "credential cache beyond its bound");
    }
}

/// The user and password of an `Authorization: Basic` header (Go's `Request.BasicAuth`).
pub fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Who is asking: the guest when auth is off or no credentials came, the user when its password
/// matches; `Denied` for unknown users and wrong passwords (logged with the user name only).
pub async fn authenticate<B: Backend>(
    backend: &B,
    cache: &CredentialCache,
    authorization: Option<&str>,
) -> Result<Caller, Denied> {
    if !backend.auth_enabled() {
        return Ok(Caller::Guest);
    }
    let Some((user, password)) = authorization.and_then(basic_credentials) else {
        return Ok(Caller::Guest);
    };
    let state = backend.auth_state().await.map_err(|_| Denied)?;
    let Some(stored) = state.user(&user) else {
        tracing::warn!(user = %user, "v2 auth: credentials for an unknown user");
        return Err(Denied);
    };
    let hash = stored.password_hash.clone();
    let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
    if cache.contains(&user, &digest, &hash) {
        return Ok(Caller::User(user));
    }
    let checked_hash = hash.clone();
    let matches =
        tokio::task::spawn_blocking(move || bcrypt::verify(password, &checked_hash).unwrap_or(false))
            .await
            .unwrap_or(false);
    if !matches {
        tracing::warn!(user = %user, "v2 auth: wrong password");
        return Err(Denied);
    }
    cache.remember(&user, digest, &hash);
    Ok(Caller::User(user))
}

/// etcd's 401 on `/v2/auth` and `/v2/members`: no cluster id header.
pub fn insufficient_credentials() -> Reply {
    render::json_message(401, "Insufficient credentials")
}

/// Serves `/v2/auth/...`; `rest` is the path after `/v2/auth`.
pub async fn handle<B: Backend>(
    backend: &B,
    cache: &CredentialCache,
    method: &str,
    rest: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Reply {
    let allowed = match rest {
        "/enable" => "GET,PUT,DELETE",
        "/users" | "/roles" | "/users/" | "/roles/" => "GET",
        _ if rest.starts_with("/users/") || rest.starts_with("/roles/") => "GET,PUT,DELETE",
        _ => return render::not_found(),
    };
    if !allowed.split(',').any(|name| name == method) {
        return render::method_not_allowed(Some(allowed));
    }
    if rest == "/enable" && method == "GET" {
        return json(200, format!("{{\"enabled\":{}}}", backend.auth_enabled()));
    }
    let Ok(caller) = authenticate(backend, cache, authorization).await else {
        return insufficient_credentials();
    };
    let Ok(state) = backend.auth_state().await else {
        return render::json_message(500, "Internal Server Error");
    };
    // While auth is off everyone is root; once it is on, everything here needs root.
    if !state.is_root(&caller) {
        return insufficient_credentials();
    }
    let command = match (rest, method) {
        ("/enable", "PUT") => AuthCommand::Enable,
        ("/enable", _) => AuthCommand::Disable,
        ("/users" | "/users/", _) => return json(200, users_json(&state)),
        ("/roles" | "/roles/", _) => return json(200, roles_json(&state)),
        (_, "GET") => return get_one(&state, rest),
        _ => match parse_write(rest, method, body).await {
            Ok(command) => command,
            Err(reply) => return reply,
        },
    };
    match backend.auth_write(caller, command).await {
        Ok(reply) => write_reply(reply),
        Err(error) => error_reply(&error),
    }
}

fn json(status: u16, body: String) -> Reply {
    Reply::new(status).header("Content-Type", CONTENT_TYPE_JSON).body(body)
}

fn error_reply(error: &AuthError) -> Reply {
    render::json_message(error.status, &error.message)
}

fn get_one(state: &Auth, rest: &str) -> Reply {
    if let Some(name) = rest.strip_prefix("/users/") {
        return match user_json(state, name) {
            Ok(body) => json(200, body),
            Err(error) => error_reply(&error),
        };
    }
    let name = rest.trim_start_matches("/roles/");
    match state.role(name) {
        Some(permissions) => json(200, role_json(name, &permissions)),
        None => error_reply(&AuthError::role_not_found(name)),
    }
}

#[derive(Deserialize)]
struct UserBody {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    grant: Option<Vec<String>>,
    #[serde(default)]
    revoke: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
struct KvBody {
    #[serde(default)]
    read: Option<Vec<String>>,
    #[serde(default)]
    write: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
struct PermissionsBody {
    #[serde(default)]
    kv: KvBody,
}

impl PermissionsBody {
    fn into_permissions(self) -> Permissions {
        Permissions {
            read_missing: self.kv.read.is_none(),
            write_missing: self.kv.write.is_none(),
            read: self.kv.read.unwrap_or_default().into_iter().collect(),
            write: self.kv.write.unwrap_or_default().into_iter().collect(),
        }
    }
}

#[derive(Deserialize)]
struct RoleBody {
    #[serde(default)]
    role: String,
    #[serde(default)]
    permissions: Option<PermissionsBody>,
    #[serde(default)]
    grant: Option<PermissionsBody>,
    #[serde(default)]
    revoke: Option<PermissionsBody>,
}

fn invalid_json() -> Reply {
    render::json_message(400, "Invalid JSON in request body.")
}

/// A PUT or DELETE of one user or role as the command to propose (the password hashed here).
async fn parse_write(rest: &str, method: &str, body: &[u8]) -> Result<AuthCommand, Reply> {
    let (mut command, password) = parse_write_body(rest, method, body)?;
    if let (Some(password), AuthCommand::PutUser { password_hash, .. }) = (password, &mut command) {
        *password_hash = Some(hash_password(password).await?);
    }
    Ok(command)
}

/// [`parse_write`] without the hashing: the command (a user's `password_hash` still `None`) and the
/// new password to hash, when the body sets one.
pub(crate) fn parse_write_body(
    rest: &str,
    method: &str,
    body: &[u8],
) -> Result<(AuthCommand, Option<String>), Reply> {
    if let Some(name) = rest.strip_prefix("/users/") {
        if method == "DELETE" {
            return Ok((AuthCommand::DeleteUser { name: name.to_string() }, None));
        }
        let parsed: UserBody = serde_json::from_slice(body).map_err(|_| invalid_json())?;
        if parsed.user != name {
            return Err(render::json_message(400, "User JSON name does not match the name in the URL"));
        }
        let password = Some(parsed.password).filter(|password| !password.is_empty());
        let command = AuthCommand::PutUser {
            name: name.to_string(),
            password_hash: None,
            roles: parsed.roles.unwrap_or_default(),
            grant: parsed.grant.unwrap_or_default(),
            revoke: parsed.revoke.unwrap_or_default(),
        };
        return Ok((command, password));
    }
    let name = rest.trim_start_matches("/roles/");
    if method == "DELETE" {
        return Ok((AuthCommand::DeleteRole { name: name.to_string() }, None));
    }
    let parsed: RoleBody = serde_json::from_slice(body).map_err(|_| invalid_json())?;
    if parsed.role != name {
        return Err(render::json_message(400, "Role JSON name does not match the name in the URL"));
    }
    let command = AuthCommand::PutRole {
        name: name.to_string(),
        permissions: parsed.permissions.unwrap_or_default().into_permissions(),
        grant: parsed.grant.map(PermissionsBody::into_permissions),
        revoke: parsed.revoke.map(PermissionsBody::into_permissions),
    };
    Ok((command, None))
}

/// A salted bcrypt hash at etcd's cost, made off the async threads.
async fn hash_password(password: String) -> Result<String, Reply> {
    tokio::task::spawn_blocking(move || bcrypt::hash(password, BCRYPT_COST))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| render::json_message(500, "Internal Server Error"))
}

fn write_reply(reply: AuthReply) -> Reply {
    match reply {
        AuthReply::Done => Reply::new(200).header("Content-Type", CONTENT_TYPE_JSON),
        AuthReply::User { name, roles, created } => {
            let mut body = String::from("{\"user\":");
            store::json::push_string(&mut body, &name);
            body.push_str(",\"roles\":");
            if created && roles.is_empty() {
                body.push_str("null");
            } else {
                push_string_list(&mut body, roles.iter());
            }
            body.push('}');
            json(if created { 201 } else { 200 }, body)
        }
        AuthReply::Role { name, permissions, created } => {
            json(if created { 201 } else { 200 }, role_json(&name, &permissions))
        }
    }
}

fn push_string_list<'a>(out: &mut String, items: impl Iterator<Item = &'a String>) {
    out.push('[');
    for (position, item) in items.enumerate() {
        if position > 0 {
            out.push(',');
        }
        store::json::push_string(out, item);
    }
    out.push(']');
}

fn push_string_list_or_null(out: &mut String, items: &std::collections::BTreeSet<String>, missing: bool) {
    if missing {
        out.push_str("null");
    } else {
        push_string_list(out, items.iter());
    }
}

/// `{"role":...,"permissions":{"kv":{"read":[...],"write":[...]}}}`.
fn role_json(name: &str, permissions: &Permissions) -> String {
    let mut body = String::from("{\"role\":");
    store::json::push_string(&mut body, name);
    body.push_str(",\"permissions\":{\"kv\":{\"read\":");
    push_string_list_or_null(&mut body, &permissions.read, permissions.read_missing);
    body.push_str(",\"write\":");
    push_string_list_or_null(&mut body, &permissions.write, permissions.write_missing);
    body.push_str("}}}");
    body
}

/// A user with its roles spelled out; etcd omits `roles` when there are none and fails with the
/// first role that no longer exists.
fn user_json(state: &Auth, name: &str) -> Result<String, AuthError> {
    let roles = state.user_roles(name).ok_or_else(|| AuthError::user_not_found(name))?;
    let mut body = String::from("{\"user\":");
    store::json::push_string(&mut body, name);
    if !roles.is_empty() {
        let mut rendered = Vec::with_capacity(roles.len());
        for role in &roles {
            let permissions = state.role(role).ok_or_else(|| AuthError::role_not_found(role))?;
            rendered.push(role_json(role, &permissions));
        }
        body.push_str(",\"roles\":[");
        body.push_str(&rendered.join(","));
        body.push(']');
    }
    body.push('}');
    Ok(body)
}

/// `{"users":[...]}` sorted by name (`null` when there are none); roles that no longer exist are left
/// out of the listing (and `roles` with them when none is left), as etcd does.
fn users_json(state: &Auth) -> String {
    if state.users().is_empty() {
        return "{\"users\":null}".to_string();
    }
    let entries: Vec<String> = state
        .users()
        .keys()
        .map(|name| {
            let mut body = String::from("{\"user\":");
            store::json::push_string(&mut body, name);
            let roles: Vec<String> = state
                .user_roles(name)
                .unwrap_or_default()
                .iter()
                .filter_map(|role| state.role(role).map(|permissions| role_json(role, &permissions)))
                .collect();
            if !roles.is_empty() {
                body.push_str(",\"roles\":[");
                body.push_str(&roles.join(","));
                body.push(']');
            }
            body.push('}');
            body
        })
        .collect();
    format!("{{\"users\":[{}]}}", entries.join(","))
}

/// `{"roles":[...]}` sorted by name, `root` included.
fn roles_json(state: &Auth) -> String {
    let entries: Vec<String> = state
        .role_names()
        .iter()
        .filter_map(|name| state.role(name).map(|permissions| role_json(name, &permissions)))
        .collect();
    format!("{{\"roles\":[{}]}}", entries.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_follow_go() {
        assert_eq!(basic_credentials("Basic cm9vdDpwdzpwdw=="), Some(("root".into(), "pw:pw".into())));
        assert_eq!(basic_credentials("basic cm9vdDo="), Some(("root".into(), String::new())));
        assert_eq!(basic_credentials("Bearer cm9vdDpwdw=="), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
        assert_eq!(basic_credentials("Basic cm9vdA=="), None, "no colon: not credentials");
    }

    #[test]
    fn the_credential_cache_is_bounded_and_keyed_by_the_stored_hash() {
        let cache = CredentialCache::default();
        for index in 0..=CREDENTIAL_CACHE_ENTRIES {
            cache.remember(&format!("user{index}"), [0; 32], "hash");
        }
        assert!(!cache.contains("user0", &[0; 32], "hash"), "the oldest entry was forgotten");
        assert!(cache.contains("user1", &[0; 32], "hash"));
        assert!(!cache.contains("user1", &[0; 32], "new hash"), "a changed password never matches");
    }
}
