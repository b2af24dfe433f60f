//! etcd 3.4's v2 authentication as a pure, deterministic state machine: users (with password hashes
//! made by the caller before proposing) and their roles, roles with key read/write path patterns, the
//! enabled flag, the built-in `root` role and the `guest` role that applies to requests without
//! credentials. Replicated through the log: every member applies the same `AuthCommand`s in order.
//!
//! Boundaries: no hashing or password checks here (the HTTP shell hashes before proposing and verifies
//! credentials itself), no IO. Error texts and statuses are etcd 3.4's, as observed on etcd 3.4.23.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The user and role whose access is unlimited.
pub const ROOT: &str = "root";
/// The role of requests without credentials (created with read-write on `/*` when auth is enabled).
pub const GUEST: &str = "guest";

/// Paths in the v2 store that etcd writes the first time auth state is written (`/2`, `/2/users/`,
/// `/2/roles/`, `/2/enabled`): each consumes a store index.
pub const AUTH_DIRECTORY_KEYS: [&str; 4] = ["/2", "/2/users", "/2/roles", "/2/enabled"];

/// Who asks: an internal request (never checked), a client without credentials, or an authenticated user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Caller {
    Trusted,
    Guest,
    User(String),
}

/// A role's key permissions: path patterns for reading and for writing, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    pub read: BTreeSet<String>,
    pub write: BTreeSet<String>,
    /// A list the role's creation did not give: etcd shows it as `null` until the role is updated.
    pub read_missing: bool,
    pub write_missing: bool,
}

impl Permissions {
    /// Read-write on every key.
    pub fn everything() -> Permissions {
        let all = BTreeSet::from(["/*".to_string()]);
        Permissions { read: all.clone(), write: all, ..Permissions::default() }
    }

    fn patterns(&self, write: bool) -> &BTreeSet<String> {
        if write { &self.write } else { &self.read }
    }
}

/// A stored user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub password_hash: String,
    pub roles: BTreeSet<String>,
}

/// A replicated auth write. `password_hash` is a bcrypt hash made before proposing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthCommand {
    Enable,
    Disable,
    /// etcd's PUT `/v2/auth/users/<name>`: with `grant`/`revoke` an update of an existing user,
    /// otherwise a creation (with `roles`) or a password change.
    PutUser {
        name: String,
        password_hash: Option<String>,
        roles: Vec<String>,
        grant: Vec<String>,
        revoke: Vec<String>,
    },
    DeleteUser {
        name: String,
    },
    /// etcd's PUT `/v2/auth/roles/<name>`: without `grant`/`revoke` a creation, otherwise an update.
    PutRole {
        name: String,
        permissions: Permissions,
        grant: Option<Permissions>,
        revoke: Option<Permissions>,
    },
    DeleteRole {
        name: String,
    },
}

/// What a successful auth write answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthReply {
    /// The user's name and role names; `created` answers 201 and shows empty roles as `null`.
    User {
        name: String,
        roles: Vec<String>,
        created: bool,
    },
    Role {
        name: String,
        permissions: Permissions,
        created: bool,
    },
    Done,
}

/// A refused auth request: etcd's HTTP status and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthError {
    pub status: u16,
    pub message: String,
}

impl AuthError {
    fn new(status: u16, message: impl Into<String>) -> AuthError {
        AuthError { status, message: message.into() }
    }

    /// 401 `Insufficient credentials`.
    pub fn insufficient_credentials() -> AuthError {
        AuthError::new(401, "Insufficient credentials")
    }

    pub fn user_not_found(name: &str) -> AuthError {
        AuthError::new(404, format!("auth: User {name} does not exist."))
    }

    pub fn role_not_found(name: &str) -> AuthError {
        AuthError::new(404, format!("auth: Role {name} does not exist."))
    }

    fn root_role_read_only() -> AuthError {
        AuthError::new(403, "auth: Cannot modify role root: is root role.")
    }
}

/// Whether `pattern` covers `key` (etcd's rule: a trailing `*` is a prefix, anything else exact).
pub fn pattern_matches(pattern: &str, key: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => key == pattern,
    }
}

/// Whether `pattern` covers every key under `key` (a recursive operation): only prefix patterns can.
pub fn pattern_covers_prefix(pattern: &str, key: &str) -> bool {
    pattern.strip_suffix('*').is_some_and(|prefix| key.starts_with(prefix))
}

/// The auth state of the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    enabled: bool,
    /// Whether etcd's auth directories were written (their indexes consumed) already.
    directories_written: bool,
    users: BTreeMap<String, User>,
    /// Roles other than `root` (built in, never stored).
    roles: BTreeMap<String, Permissions>,
}

impl Auth {
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    pub fn users(&self) -> &BTreeMap<String, User> {
        &self.users
    }

    /// A role by name, the built-in `root` included.
    pub fn role(&self, name: &str) -> Option<Permissions> {
        if name == ROOT { Some(Permissions::everything()) } else { self.roles.get(name).cloned() }
    }

    /// Every role name, `root` included, sorted.
    pub fn role_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.roles.keys().cloned().collect();
        names.push(ROOT.to_string());
        names.sort();
        names
    }

    /// A user's roles as etcd shows them: the `root` user always has the `root` role.
    pub fn user_roles(&self, name: &str) -> Option<BTreeSet<String>> {
        let mut roles = self.users.get(name)?.roles.clone();
        if name == ROOT {
            roles.insert(ROOT.to_string());
        }
        Some(roles)
    }

    /// Whether `caller` has unlimited access (auth off, a trusted request, or the root role).
    pub fn is_root(&self, caller: &Caller) -> bool {
        match caller {
            _ if !self.enabled => true,
            Caller::Trusted => true,
            Caller::Guest => false,
            Caller::User(name) => self.user_roles(name).is_some_and(|roles| roles.contains(ROOT)),
        }
    }

    /// Whether `caller` may read (or `write`) `key`, or everything under it when `recursive`.
    pub fn allows(&self, caller: &Caller, key: &str, write: bool, recursive: bool) -> bool {
        if self.is_root(caller) {
            return true;
        }
        let roles: Vec<String> = match caller {
            Caller::Guest => vec![GUEST.to_string()],
            Caller::User(name) => {
                self.user_roles(name).map(|roles| roles.into_iter().collect()).unwrap_or_default()
            }
            Caller::Trusted => unreachable!("trusted callers have root access"),
        };
        roles.iter().filter_map(|role| self.roles.get(role)).any(|permissions| {
            permissions.patterns(write).iter().any(|pattern| {
                if recursive { pattern_covers_prefix(pattern, key) } else { pattern_matches(pattern, key) }
            })
        })
    }

    /// Applies one command on behalf of `caller`. Returns the answer and the v2 store keys the write
    /// touched in etcd (each consumes one store index, in order); a refusal touches at most the auth
    /// directories.
    pub fn apply(
        &mut self,
        caller: &Caller,
        command: &AuthCommand,
    ) -> (Result<AuthReply, AuthError>, Vec<String>) {
        // Everyone is root while auth is off; once it is on, every change (enabling again included)
        // needs root.
        if !self.is_root(caller) {
            return (Err(AuthError::insufficient_credentials()), Vec::new());
        }
        // etcd writes its auth directories before any user or role change, even one it then refuses
        // (enabling and disabling check their preconditions first).
        let mut written = Vec::new();
        let toggles = matches!(command, AuthCommand::Enable | AuthCommand::Disable);
        if !toggles && !self.directories_written {
            self.directories_written = true;
            written.extend(AUTH_DIRECTORY_KEYS.iter().map(|key| key.to_string()));
        }
        let before = self.clone();
        let mut touched = Vec::new();
        let result = match command {
            AuthCommand::Enable => self.enable(&mut touched),
            AuthCommand::Disable => self.disable(&mut touched),
            AuthCommand::PutUser { name, password_hash, roles, grant, revoke } => {
                self.put_user(name, password_hash.as_deref(), roles, grant, revoke, &mut touched)
            }
            AuthCommand::DeleteUser { name } => self.delete_user(name, &mut touched),
            AuthCommand::PutRole { name, permissions, grant, revoke } => {
                self.put_role(name, permissions, grant.as_ref(), revoke.as_ref(), &mut touched)
            }
            AuthCommand::DeleteRole { name } => self.delete_role(name, &mut touched),
        };
        if result.is_err() {
            *self = before;
            return (result, written);
        }
        written.append(&mut touched);
        (result, written)
    }

    fn enable(&mut self, touched: &mut Vec<String>) -> Result<AuthReply, AuthError> {
        if self.enabled {
            return Err(AuthError::new(409, "auth: already enabled"));
        }
        if !self.users.contains_key(ROOT) {
            return Err(AuthError::new(409, "auth: No root user available, please create one"));
        }
        if !self.roles.contains_key(GUEST) {
            self.roles.insert(GUEST.to_string(), Permissions::everything());
            touched.push(format!("/2/roles/{GUEST}"));
        }
        self.enabled = true;
        touched.push("/2/enabled".to_string());
        Ok(AuthReply::Done)
    }

    fn disable(&mut self, touched: &mut Vec<String>) -> Result<AuthReply, AuthError> {
        if !self.enabled {
            return Err(AuthError::new(409, "auth: already disabled"));
        }
        self.enabled = false;
        touched.push("/2/enabled".to_string());
        Ok(AuthReply::Done)
    }

    fn put_user(
        &mut self,
        name: &str,
        password_hash: Option<&str>,
        roles: &[String],
        grant: &[String],
        revoke: &[String],
        touched: &mut Vec<String>,
    ) -> Result<AuthReply, AuthError> {
        let exists = self.users.contains_key(name);
        if !grant.is_empty() || !revoke.is_empty() || (exists && !roles.is_empty()) {
            if !exists {
                return Err(AuthError::user_not_found(name));
            }
            return self.update_user_roles(name, password_hash, grant, revoke, touched);
        }
        if let Some(user) = self.users.get_mut(name) {
            match password_hash {
                Some(hash) => user.password_hash = hash.to_string(),
                // etcd compares the user before and after: only a user without roles "changes" (Go's
                // nil role list becomes an empty one).
                None if !user.roles.is_empty() => {
                    let why = "auth: User not updated. Use grant/revoke/password to update the user.";
                    return Err(AuthError::new(400, why));
                }
                None => {}
            }
            touched.push(format!("/2/users/{name}"));
            let roles = self.user_roles(name).unwrap_or_default().into_iter().collect();
            return Ok(AuthReply::User { name: name.to_string(), roles, created: false });
        }
        let Some(hash) = password_hash else {
            return Err(AuthError::new(
                400,
                format!("auth: Cannot create user {name} with an empty password"),
            ));
        };
        touched.push(format!("/2/users/{name}"));
        let mut role_set: BTreeSet<String> = roles.iter().cloned().collect();
        if name == ROOT {
            role_set.insert(ROOT.to_string());
        }
        self.users
            .insert(name.to_string(), User { password_hash: hash.to_string(), roles: role_set.clone() });
        // etcd answers a creation that named roles with 200, as an update.
        let created = roles.is_empty();
        Ok(AuthReply::User { name: name.to_string(), roles: role_set.into_iter().collect(), created })
    }

    fn update_user_roles(
        &mut self,
        name: &str,
        password_hash: Option<&str>,
        grant: &[String],
        revoke: &[String],
        touched: &mut Vec<String>,
    ) -> Result<AuthReply, AuthError> {
        let user = self.users.get_mut(name).expect("the caller checked the user exists");
        for role in grant {
            if !user.roles.insert(role.clone()) {
                return Err(AuthError::new(
                    409,
                    format!("auth: Granting duplicate role {role} for user {name}"),
                ));
            }
        }
        for role in revoke {
            if !user.roles.remove(role) {
                return Err(AuthError::new(
                    409,
                    format!("auth: Revoking ungranted role {role} for user {name}"),
                ));
            }
        }
        if let Some(hash) = password_hash {
            user.password_hash = hash.to_string();
        }
        let roles = user.roles.iter().cloned().collect();
        touched.push(format!("/2/users/{name}"));
        Ok(AuthReply::User { name: name.to_string(), roles, created: false })
    }

    fn delete_user(&mut self, name: &str, touched: &mut Vec<String>) -> Result<AuthReply, AuthError> {
        if self.enabled && name == ROOT {
            return Err(AuthError::new(403, "auth: Cannot delete root user while auth is enabled."));
        }
        if self.users.remove(name).is_none() {
            return Err(AuthError::new(404, format!("auth: User {name} does not exist")));
        }
        touched.push(format!("/2/users/{name}"));
        Ok(AuthReply::Done)
    }

    fn put_role(
        &mut self,
        name: &str,
        permissions: &Permissions,
        grant: Option<&Permissions>,
        revoke: Option<&Permissions>,
        touched: &mut Vec<String>,
    ) -> Result<AuthReply, AuthError> {
        if name == ROOT {
            return Err(AuthError::root_role_read_only());
        }
        if grant.is_none() && revoke.is_none() {
            if self.roles.contains_key(name) {
                return Err(AuthError::new(409, format!("auth: Role {name} already exists.")));
            }
            self.roles.insert(name.to_string(), permissions.clone());
            touched.push(format!("/2/roles/{name}"));
            return Ok(AuthReply::Role {
                name: name.to_string(),
                permissions: permissions.clone(),
                created: true,
            });
        }
        let Some(current) = self.roles.get_mut(name) else {
            return Err(AuthError::role_not_found(name));
        };
        let old = current.clone();
        // Any update turns lists that were never given into empty ones (etcd's nil slices become empty).
        current.read_missing = false;
        current.write_missing = false;
        if let Some(grant) = grant {
            grant_permissions(current, grant)?;
        }
        if let Some(revoke) = revoke {
            current.read.retain(|path| !revoke.read.contains(path));
            current.write.retain(|path| !revoke.write.contains(path));
        }
        if *current == old {
            return Err(AuthError::new(400, "auth: Role not updated. Use grant/revoke to update the role."));
        }
        touched.push(format!("/2/roles/{name}"));
        Ok(AuthReply::Role { name: name.to_string(), permissions: current.clone(), created: false })
    }

    fn delete_role(&mut self, name: &str, touched: &mut Vec<String>) -> Result<AuthReply, AuthError> {
        if name == ROOT {
            return Err(AuthError::root_role_read_only());
        }
        if self.roles.remove(name).is_none() {
            return Err(AuthError::new(404, format!("auth: Role {name} doesn't exist.")));
        }
        touched.push(format!("/2/roles/{name}"));
        Ok(AuthReply::Done)
    }
}

fn grant_permissions(current: &mut Permissions, grant: &Permissions) -> Result<(), AuthError> {
    for path in &grant.read {
        if !current.read.insert(path.clone()) {
            return Err(AuthError::new(409, format!("auth: Granting duplicate read permission {path}")));
        }
    }
    for path in &grant.write {
        if !current.write.insert(path.clone()) {
            return Err(AuthError::new(409, format!("auth: Granting duplicate write permission {path}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
