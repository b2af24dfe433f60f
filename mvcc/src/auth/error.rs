//! The refusals of etcd 3.4's v3 auth store, with etcd's exact texts (the gRPC codes are in the api
//! crate's error table, found by text).

use std::fmt;

/// A request the auth store refuses. A refused request changes nothing and keeps the auth revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    RootUserNotExist,
    RootRoleNotExist,
    UserAlreadyExist,
    UserEmpty,
    UserNotFound,
    RoleAlreadyExist,
    RoleNotFound,
    RoleEmpty,
    /// Wrong user name or password.
    AuthFailed,
    PermissionDenied,
    RoleNotGranted,
    PermissionNotGranted,
    AuthNotEnabled,
    InvalidAuthToken,
    /// Removing the root user, its root role, or the root role while auth is on.
    InvalidAuthManagement,
    /// The request was checked at an older auth revision than the one it is applied at.
    AuthOldRevision,
}

impl AuthError {
    /// etcd's error text (what `etcdctl` prints after `Error: `).
    pub fn message(self) -> &'static str {
        match self {
            AuthError::RootUserNotExist => "etcdserver: root user does not exist",
            AuthError::RootRoleNotExist => "etcdserver: root user does not have root role",
            AuthError::UserAlreadyExist => "etcdserver: user name already exists",
            AuthError::UserEmpty => "etcdserver: user name is empty",
            AuthError::UserNotFound => "etcdserver: user name not found",
            AuthError::RoleAlreadyExist => "etcdserver: role name already exists",
            AuthError::RoleNotFound => "etcdserver: role name not found",
            AuthError::RoleEmpty => "etcdserver: role name is empty",
            AuthError::AuthFailed => "etcdserver: authentication failed, invalid user ID or password",
            AuthError::PermissionDenied => "etcdserver: permission denied",
            AuthError::RoleNotGranted => "etcdserver: role is not granted to the user",
            AuthError::PermissionNotGranted => "etcdserver: permission is not granted to the role",
            AuthError::AuthNotEnabled => "etcdserver: authentication is not enabled",
            AuthError::InvalidAuthToken => "etcdserver: invalid auth token",
            AuthError::InvalidAuthManagement => "etcdserver: invalid auth management",
            AuthError::AuthOldRevision => "etcdserver: revision of auth store is old",
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.message())
    }
}

impl std::error::Error for AuthError {}
