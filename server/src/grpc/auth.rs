//! etcd's Auth service over the node's v3 auth: changes go through the log (passwords hashed here,
//! with bcrypt at etcd's cost off the async threads, so applying is deterministic), lookups are served
//! by the member, and Authenticate checks the password here against the stored hash (bcrypt is slow:
//! never on the node thread), then has a token assigned through the log so every member knows it.
//! Every request carries the caller's token (metadata `token`), checked by the node.

use std::hash::{BuildHasher, Hasher};

use api::authpb;
use api::etcdserverpb as pb;
use api::etcdserverpb::auth_server::Auth;
use mvcc::{AuthCommand, Permission, PermissionType};
use tonic::{Request, Response, Status};

use super::{V3Backend, ask, convert, mismatched, on_behalf, token};
use crate::http::auth::BCRYPT_COST;
use crate::node::{AuthReply, AuthRequest, V3Reply, V3Request};

/// Letters of a simple token's random part (etcd's `defaultSimpleTokenLength`).
const TOKEN_PREFIX_LETTERS: usize = 16;

/// The Auth service over a backend.
pub struct AuthService<B> {
    backend: B,
}

impl<B> AuthService<B> {
    pub fn new(backend: B) -> AuthService<B> {
        AuthService { backend }
    }
}

type AuthResult<T> = Result<Response<T>, Status>;

impl<B: V3Backend> AuthService<B> {
    /// One auth request on behalf of the caller's token; its reply and etcd's header.
    async fn ask_auth(
        &self,
        token: Option<String>,
        request: AuthRequest,
    ) -> Result<(AuthReply, Option<pb::ResponseHeader>), Status> {
        let answer = ask(&self.backend, on_behalf(token, V3Request::Auth(request))).await?;
        match answer.reply {
            V3Reply::Auth(reply) => Ok((reply, Some(convert::header(answer.header)))),
            other => Err(mismatched(&other)),
        }
    }

    /// A change through the log; the header of its answer.
    async fn change<T>(
        &self,
        request: &Request<T>,
        command: AuthCommand,
    ) -> Result<Option<pb::ResponseHeader>, Status> {
        let (_, header) = self.ask_auth(token(request), AuthRequest::Change(command)).await?;
        Ok(header)
    }

    /// Authenticate: the stored hash from the member, the password checked here, the token through
    /// the log.
    async fn authenticate_user(
        &self,
        name: String,
        password: String,
    ) -> Result<(String, Option<pb::ResponseHeader>), Status> {
        let lookup = AuthRequest::PasswordHash { name: name.clone() };
        let checked_hash = match self.ask_auth(None, lookup).await? {
            (AuthReply::PasswordHash(hash), _) => hash,
            (other, _) => return Err(mismatched(&V3Reply::Auth(other))),
        };
        let hash = checked_hash.clone();
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .map_err(|error| Status::internal(format!("concord: the password check failed: {error}")))?;
        if !matches {
            tracing::info!(user = %name, "v3 authentication failed");
            return Err(api::errors::AUTH_FAILED.status());
        }
        let assign = AuthRequest::Authenticate { name, checked_hash, token_prefix: token_prefix() };
        match self.ask_auth(None, assign).await? {
            (AuthReply::Token(token), header) => Ok((token, header)),
            (other, _) => Err(mismatched(&V3Reply::Auth(other))),
        }
    }
}

/// A bcrypt hash of `password` at etcd's cost, made off the async threads.
async fn hash_password(password: String) -> Result<String, Status> {
    tokio::task::spawn_blocking(move || bcrypt::hash(password, BCRYPT_COST))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| Status::internal("concord: hashing the password failed"))
}

/// The random part of a simple token: letters from the standard library's randomly seeded hasher
/// (randomness belongs to the shell, never to the node).
fn token_prefix() -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let mut prefix = String::with_capacity(TOKEN_PREFIX_LETTERS);
    for position in 0..TOKEN_PREFIX_LETTERS {
        hasher.write_usize(position);
        let value = hasher.finish();
        prefix.push(LETTERS[(value % LETTERS.len() as u64) as usize] as char);
    }
    assert_eq!(prefix.len(), TOKEN_PREFIX_LETTERS);
    prefix
}

fn permission_from_wire(permission: Option<authpb::Permission>) -> Permission {
    let permission = permission.unwrap_or_default();
    Permission {
        permission_type: PermissionType::from_number(permission.perm_type),
        key: permission.key,
        range_end: permission.range_end,
    }
}

fn permission_to_wire(permission: Permission) -> authpb::Permission {
    authpb::Permission {
        perm_type: permission.permission_type as i32,
        key: permission.key,
        range_end: permission.range_end,
    }
}

fn names(reply: AuthReply) -> Result<Vec<String>, Status> {
    match reply {
        AuthReply::Roles(names) | AuthReply::Users(names) => Ok(names),
        other => Err(mismatched(&V3Reply::Auth(other))),
    }
}

#[tonic::async_trait]
impl<B: V3Backend> Auth for AuthService<B> {
    async fn auth_enable(
        &self,
        request: Request<pb::AuthEnableRequest>,
    ) -> AuthResult<pb::AuthEnableResponse> {
        let header = self.change(&request, AuthCommand::Enable).await?;
        Ok(Response::new(pb::AuthEnableResponse { header }))
    }

    async fn auth_disable(
        &self,
        request: Request<pb::AuthDisableRequest>,
    ) -> AuthResult<pb::AuthDisableResponse> {
        let header = self.change(&request, AuthCommand::Disable).await?;
        Ok(Response::new(pb::AuthDisableResponse { header }))
    }

    async fn authenticate(
        &self,
        request: Request<pb::AuthenticateRequest>,
    ) -> AuthResult<pb::AuthenticateResponse> {
        let pb::AuthenticateRequest { name, password } = request.into_inner();
        let (token, header) = self.authenticate_user(name, password).await?;
        Ok(Response::new(pb::AuthenticateResponse { header, token }))
    }

    async fn user_add(
        &self,
        request: Request<pb::AuthUserAddRequest>,
    ) -> AuthResult<pb::AuthUserAddResponse> {
        let add = request.get_ref();
        let no_password = add.options.as_ref().is_some_and(|options| options.no_password);
        let password_hash = if no_password || add.name.is_empty() {
            None
        } else {
            Some(hash_password(add.password.clone()).await?)
        };
        let command = AuthCommand::UserAdd { name: add.name.clone(), password_hash };
        let header = self.change(&request, command).await?;
        Ok(Response::new(pb::AuthUserAddResponse { header }))
    }

    async fn user_get(
        &self,
        request: Request<pb::AuthUserGetRequest>,
    ) -> AuthResult<pb::AuthUserGetResponse> {
        let get = AuthRequest::UserGet { name: request.get_ref().name.clone() };
        let (reply, header) = self.ask_auth(token(&request), get).await?;
        Ok(Response::new(pb::AuthUserGetResponse { header, roles: names(reply)? }))
    }

    async fn user_list(
        &self,
        request: Request<pb::AuthUserListRequest>,
    ) -> AuthResult<pb::AuthUserListResponse> {
        let (reply, header) = self.ask_auth(token(&request), AuthRequest::UserList).await?;
        Ok(Response::new(pb::AuthUserListResponse { header, users: names(reply)? }))
    }

    async fn user_delete(
        &self,
        request: Request<pb::AuthUserDeleteRequest>,
    ) -> AuthResult<pb::AuthUserDeleteResponse> {
        let command = AuthCommand::UserDelete { name: request.get_ref().name.clone() };
        let header = self.change(&request, command).await?;
        Ok(Response::new(pb::AuthUserDeleteResponse { header }))
    }

    async fn user_change_password(
        &self,
        request: Request<pb::AuthUserChangePasswordRequest>,
    ) -> AuthResult<pb::AuthUserChangePasswordResponse> {
        let password_hash = Some(hash_password(request.get_ref().password.clone()).await?);
        let command = AuthCommand::UserChangePassword { name: request.get_ref().name.clone(), password_hash };
        let header = self.change(&request, command).await?;
        Ok(Response::new(pb::AuthUserChangePasswordResponse { header }))
    }

    async fn user_grant_role(
        &self,
        request: Request<pb::AuthUserGrantRoleRequest>,
    ) -> AuthResult<pb::AuthUserGrantRoleResponse> {
        let grant = request.get_ref();
        let command = AuthCommand::UserGrantRole { name: grant.user.clone(), role: grant.role.clone() };
        let header = self.change(&request, command).await?;
        Ok(Response::new(pb::AuthUserGrantRoleResponse { header }))
    }

    async fn user_revoke_role(
        &self,
        request: Request<pb::AuthUserRevokeRoleRequest>,
    ) -> AuthResult<pb::AuthUserRevokeRoleResponse> {
        let revoke = request.get_ref();
        let command = AuthCommand::UserRevokeRole { name: revoke.name.clone(), role: revoke.role.clone() };
        let header = self.change(&request, command).await?;
        Ok(Response::new(pb::AuthUserRevokeRoleResponse { header }))
    }

    async fn role_add(
        &self,
        request: Request<pb::AuthRoleAddRequest>,
    ) -> AuthResult<pb::AuthRoleAddResponse> {
        let command = AuthCommand::RoleAdd { name: request.get_ref().name.clone() };
        let header = self.change(&request, command).await?;
        Ok(Response::new(pb::AuthRoleAddResponse { header }))
    }

    async fn role_get(
        &self,
        request: Request<pb::AuthRoleGetRequest>,
    ) -> AuthResult<pb::AuthRoleGetResponse> {
        let get = AuthRequest::RoleGet { name: request.get_ref().role.clone() };
        let (reply, header) = self.ask_auth(token(&request), get).await?;
        let AuthReply::Permissions(permissions) = reply else {
            return Err(mismatched(&V3Reply::Auth(reply)));
        };
        let perm = permissions.into_iter().map(permission_to_wire).collect();
        Ok(Response::new(pb::AuthRoleGetResponse { header, perm }))
    }

    async fn role_list(
        &self,
        request: Request<pb::AuthRoleListRequest>,
    ) -> AuthResult<pb::AuthRoleListResponse> {
        let (reply, header) = self.ask_auth(token(&request), AuthRequest::RoleList).await?;
        Ok(Response::new(pb::AuthRoleListResponse { header, roles: names(reply)? }))
    }

    async fn role_delete(
        &self,
        request: Request<pb::AuthRoleDeleteRequest>,
    ) -> AuthResult<pb::AuthRoleDeleteResponse> {
        let command = AuthCommand::RoleDelete { name: request.get_ref().role.clone() };
        let header = self.change(&request, command).await?;
        Ok(Response::new(pb::AuthRoleDeleteResponse { header }))
    }

    async fn role_grant_permission(
        &self,
        request: Request<pb::AuthRoleGrantPermissionRequest>,
    ) -> AuthResult<pb::AuthRoleGrantPermissionResponse> {
        let grant = request.get_ref();
        let permission = permission_from_wire(grant.perm.clone());
        let command = AuthCommand::RoleGrantPermission { name: grant.name.clone(), permission };
        let header = self.change(&request, command).await?;
        Ok(Response::new(pb::AuthRoleGrantPermissionResponse { header }))
    }

    async fn role_revoke_permission(
        &self,
        request: Request<pb::AuthRoleRevokePermissionRequest>,
    ) -> AuthResult<pb::AuthRoleRevokePermissionResponse> {
        let revoke = request.get_ref();
        let command = AuthCommand::RoleRevokePermission {
            name: revoke.role.clone(),
            key: revoke.key.clone(),
            range_end: revoke.range_end.clone(),
        };
        let header = self.change(&request, command).await?;
        Ok(Response::new(pb::AuthRoleRevokePermissionResponse { header }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_prefixes_are_letters_and_differ() {
        let first = token_prefix();
        assert_eq!(first.len(), TOKEN_PREFIX_LETTERS);
        assert!(first.bytes().all(|byte| byte.is_ascii_alphabetic()));
        assert_ne!(first, token_prefix());
    }
}
