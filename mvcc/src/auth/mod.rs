//! etcd 3.4's v3 auth store as a pure state machine: users (a bcrypt hash computed by the proposer,
//! so applying is deterministic, and their roles), roles (key permissions, `permissions.rs`), the
//! enabled flag and the auth revision, which moves with every change so a request checked before a
//! change can be refused when applied after it. Commands are applied in log order; queries and
//! permission checks read the state. Errors are etcd's (`error.rs`). Tokens, passwords and who asks
//! belong to the node.

mod error;
mod permissions;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use error::AuthError;
pub use permissions::{Permission, PermissionType};

/// The user and role etcd requires before auth can be enabled, and which may do everything.
pub const ROOT: &str = "root";

/// A user: its password's bcrypt hash (`None`: etcd's `--no-password` user, who cannot authenticate
/// with a password) and its role names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub password_hash: Option<String>,
    pub roles: BTreeSet<String>,
}

/// An auth change, as proposed through the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthCommand {
    Enable,
    Disable,
    UserAdd { name: String, password_hash: Option<String> },
    UserDelete { name: String },
    UserChangePassword { name: String, password_hash: Option<String> },
    UserGrantRole { name: String, role: String },
    UserRevokeRole { name: String, role: String },
    RoleAdd { name: String },
    RoleDelete { name: String },
    RoleGrantPermission { name: String, permission: Permission },
    RoleRevokePermission { name: String, key: Vec<u8>, range_end: Vec<u8> },
}

/// The auth state every member holds alike.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthStore {
    users: BTreeMap<String, User>,
    /// Each role's permissions, ordered by key then range end.
    roles: BTreeMap<String, Vec<Permission>>,
    enabled: bool,
    revision: u64,
}

impl Default for AuthStore {
    fn default() -> AuthStore {
        // etcd commits revision 1 when it creates its auth store.
        AuthStore { users: BTreeMap::new(), roles: BTreeMap::new(), enabled: false, revision: 1 }
    }
}

impl AuthStore {
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The auth revision: it moves with every applied change.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Applies a committed change; a refused one changes nothing.
    pub fn apply(&mut self, command: &AuthCommand) -> Result<(), AuthError> {
        let revision_before = self.revision;
        let changed = self.apply_command(command)?;
        if changed {
            self.revision += 1;
        }
        assert!(self.revision >= revision_before, "the auth revision went back");
        assert!(!self.enabled || self.has_root_role(ROOT), "auth is on without a root user holding root");
        Ok(())
    }

    /// Applies one command; `Ok(true)` when the state changed.
    fn apply_command(&mut self, command: &AuthCommand) -> Result<bool, AuthError> {
        match command {
            AuthCommand::Enable => self.enable(),
            AuthCommand::Disable => Ok(std::mem::replace(&mut self.enabled, false)),
            AuthCommand::UserAdd { name, password_hash } => self.user_add(name, password_hash),
            AuthCommand::UserDelete { name } => self.user_delete(name),
            AuthCommand::UserChangePassword { name, password_hash } => {
                self.users.get_mut(name).ok_or(AuthError::UserNotFound)?.password_hash =
                    password_hash.clone();
                Ok(true)
            }
            AuthCommand::UserGrantRole { name, role } => self.user_grant_role(name, role),
            AuthCommand::UserRevokeRole { name, role } => self.user_revoke_role(name, role),
            AuthCommand::RoleAdd { name } => self.role_add(name),
            AuthCommand::RoleDelete { name } => self.role_delete(name),
            AuthCommand::RoleGrantPermission { name, permission } => self.role_grant(name, permission),
            AuthCommand::RoleRevokePermission { name, key, range_end } => {
                self.role_revoke(name, key, range_end)
            }
        }
    }

    fn enable(&mut self) -> Result<bool, AuthError> {
        if self.enabled {
            return Ok(false);
        }
        if !self.users.contains_key(ROOT) {
            return Err(AuthError::RootUserNotExist);
        }
        if !self.has_root_role(ROOT) {
            return Err(AuthError::RootRoleNotExist);
        }
        self.enabled = true;
        Ok(true)
    }

    fn user_add(&mut self, name: &str, password_hash: &Option<String>) -> Result<bool, AuthError> {
        if name.is_empty() {
            return Err(AuthError::UserEmpty);
        }
        if self.users.contains_key(name) {
            return Err(AuthError::UserAlreadyExist);
        }
        let user = User { password_hash: password_hash.clone(), roles: BTreeSet::new() };
        self.users.insert(name.to_string(), user);
        Ok(true)
    }

    fn user_delete(&mut self, name: &str) -> Result<bool, AuthError> {
        if self.enabled && name == ROOT {
            return Err(AuthError::InvalidAuthManagement);
        }
        self.users.remove(name).ok_or(AuthError::UserNotFound)?;
        Ok(true)
    }

    fn user_grant_role(&mut self, name: &str, role: &str) -> Result<bool, AuthError> {
        if !self.users.contains_key(name) {
            return Err(AuthError::UserNotFound);
        }
        // etcd lets the root role be granted before it exists (etcdctl's `auth enable` adds it after).
        if role != ROOT && !self.roles.contains_key(role) {
            return Err(AuthError::RoleNotFound);
        }
        let user = self.users.get_mut(name).ok_or(AuthError::UserNotFound)?;
        Ok(user.roles.insert(role.to_string()))
    }

    fn user_revoke_role(&mut self, name: &str, role: &str) -> Result<bool, AuthError> {
        if self.enabled && name == ROOT && role == ROOT {
            return Err(AuthError::InvalidAuthManagement);
        }
        let user = self.users.get_mut(name).ok_or(AuthError::UserNotFound)?;
        if !user.roles.remove(role) {
            return Err(AuthError::RoleNotGranted);
        }
        Ok(true)
    }

    fn role_add(&mut self, name: &str) -> Result<bool, AuthError> {
        if name.is_empty() {
            return Err(AuthError::RoleEmpty);
        }
        if self.roles.contains_key(name) {
            return Err(AuthError::RoleAlreadyExist);
        }
        self.roles.insert(name.to_string(), Vec::new());
        Ok(true)
    }

    fn role_delete(&mut self, name: &str) -> Result<bool, AuthError> {
        if self.enabled && name == ROOT {
            return Err(AuthError::InvalidAuthManagement);
        }
        self.roles.remove(name).ok_or(AuthError::RoleNotFound)?;
        for user in self.users.values_mut() {
            user.roles.remove(name);
        }
        Ok(true)
    }

    /// Grants a permission; one with the same key and range end is replaced (its type changes).
    fn role_grant(&mut self, name: &str, permission: &Permission) -> Result<bool, AuthError> {
        let permissions = self.roles.get_mut(name).ok_or(AuthError::RoleNotFound)?;
        permissions.retain(|p| (&p.key, &p.range_end) != (&permission.key, &permission.range_end));
        permissions.push(permission.clone());
        permissions.sort_by(|a, b| (&a.key, &a.range_end).cmp(&(&b.key, &b.range_end)));
        Ok(true)
    }

    fn role_revoke(&mut self, name: &str, key: &[u8], range_end: &[u8]) -> Result<bool, AuthError> {
        let permissions = self.roles.get_mut(name).ok_or(AuthError::RoleNotFound)?;
        let count_before = permissions.len();
        permissions.retain(|p| (p.key.as_slice(), p.range_end.as_slice()) != (key, range_end));
        if permissions.len() == count_before {
            return Err(AuthError::PermissionNotGranted);
        }
        Ok(true)
    }

    /// A user's roles (etcd's UserGet).
    pub fn user_get(&self, name: &str) -> Result<Vec<String>, AuthError> {
        let user = self.users.get(name).ok_or(AuthError::UserNotFound)?;
        Ok(user.roles.iter().cloned().collect())
    }

    /// A user as stored, for the password check.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// Every user name, sorted.
    pub fn user_list(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    /// A role's permissions (etcd's RoleGet).
    pub fn role_get(&self, name: &str) -> Result<Vec<Permission>, AuthError> {
        self.roles.get(name).cloned().ok_or(AuthError::RoleNotFound)
    }

    /// Every role name, sorted.
    pub fn role_list(&self) -> Vec<String> {
        self.roles.keys().cloned().collect()
    }

    fn has_root_role(&self, name: &str) -> bool {
        self.users.get(name).is_some_and(|user| user.roles.contains(ROOT))
    }

    /// Whether `user` may manage auth and the cluster (etcd's `IsAdminPermitted`): anyone while auth
    /// is off, else only a user with the root role.
    pub fn check_admin(&self, user: Option<&str>) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        let name = user.filter(|name| !name.is_empty()).ok_or(AuthError::UserEmpty)?;
        if !self.users.contains_key(name) {
            return Err(AuthError::UserNotFound);
        }
        if !self.has_root_role(name) {
            return Err(AuthError::PermissionDenied);
        }
        Ok(())
    }

    /// Whether `user` may access (`Read` or `Write`) the key or range (etcd's `isOpPermitted`):
    /// anyone while auth is off; else a root user, or one whose roles' permissions cover it.
    pub fn check_permitted(
        &self,
        user: Option<&str>,
        key: &[u8],
        range_end: &[u8],
        access: PermissionType,
    ) -> Result<(), AuthError> {
        debug_assert!(access != PermissionType::ReadWrite, "an access is a read or a write");
        if !self.enabled {
            return Ok(());
        }
        let name = user.filter(|name| !name.is_empty()).ok_or(AuthError::UserEmpty)?;
        let found = self.users.get(name).ok_or(AuthError::PermissionDenied)?;
        if found.roles.contains(ROOT) {
            return Ok(());
        }
        let granted = found
            .roles
            .iter()
            .filter_map(|role| self.roles.get(role))
            .flatten()
            .filter(|permission| permission.permission_type.allows(access));
        if permissions::covered(granted, key, range_end) { Ok(()) } else { Err(AuthError::PermissionDenied) }
    }
}
