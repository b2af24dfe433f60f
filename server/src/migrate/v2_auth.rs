//! etcd 3.4's v2 auth as its v2 store keeps it (`/2/users/<name>`: the user's JSON with its bcrypt
//! hash and roles; `/2/roles/<name>`: the role's JSON with its `kv` read and write patterns, a list
//! that was never given being `null`; `/2/enabled`) turned into Concord's replicated auth state, by
//! applying the same writes to it: roles, then users, then enabling. The store indexes these writes
//! took in etcd are already in the migrated store index; nothing here takes another.

use serde_json::Value;
use store::Store;
use store::auth::{Auth, AuthCommand, Caller, Permissions, ROOT};

use super::replay::strings;

/// The children (name, JSON value) of an etcd auth directory.
fn records(store: &Store, dir: &str) -> Vec<(String, Value)> {
    let listed = store.get(dir, false, true, 0).map(|event| event.node.nodes).unwrap_or_default();
    listed
        .into_iter()
        .map(|node| {
            let name = node.key.rsplit('/').next().unwrap_or_default().to_string();
            let json = serde_json::from_str(node.value.as_deref().unwrap_or("")).unwrap_or(Value::Null);
            (name, json)
        })
        .collect()
}

/// A role's permissions from etcd's JSON (`permissions.kv.read` / `.write`).
fn permissions(json: &Value) -> Permissions {
    let kv = &json["permissions"]["kv"];
    Permissions {
        read: strings(&kv["read"]).into_iter().collect(),
        write: strings(&kv["write"]).into_iter().collect(),
        read_missing: kv["read"].is_null(),
        write_missing: kv["write"].is_null(),
    }
}

/// Concord's auth state equal to etcd's `/2` in the whole etcd tree `store`.
pub fn read_auth(store: &Store) -> Result<Auth, String> {
    let mut auth = Auth::default();
    let mut apply = |command: AuthCommand| match auth.apply(&Caller::Trusted, &command).0 {
        Ok(_) => Ok(()),
        Err(error) => Err(format!("etcd's v2 auth: {command:?}: {}", error.message)),
    };
    for (name, json) in records(store, "/2/roles") {
        if name != ROOT {
            apply(AuthCommand::PutRole { name, permissions: permissions(&json), grant: None, revoke: None })?;
        }
    }
    for (name, json) in records(store, "/2/users") {
        let password_hash = json["password"].as_str().map(str::to_string);
        let roles = strings(&json["roles"]).into_iter().filter(|role| name != ROOT || role != ROOT).collect();
        apply(AuthCommand::PutUser { name, password_hash, roles, grant: Vec::new(), revoke: Vec::new() })?;
    }
    let enabled = store.get("/2/enabled", false, false, 0).ok().and_then(|event| event.node.value);
    if enabled.as_deref() == Some("true") {
        apply(AuthCommand::Enable)?;
    }
    Ok(auth)
}
