//! etcd's Auth service as etcd answers it with authentication disabled and no users or roles, which
//! is all Concord has: AuthDisable succeeds, AuthEnable needs a root user, Authenticate says
//! authentication is not enabled, listings are empty, and every request naming a user or role answers
//! that it does not exist. Creating users or roles is refused (`Unimplemented`): Concord keeps no
//! auth store.

use api::errors;
use api::etcdserverpb as pb;
use api::etcdserverpb::auth_server::Auth;
use tonic::{Request, Response, Status};

use super::{V3Backend, convert};

/// Why creating users and roles is refused.
pub const AUTH_STORE_UNSUPPORTED: &str = "concord: users and roles are not supported";

/// The Auth service over a backend (which only provides headers).
pub struct AuthService<B> {
    backend: B,
}

impl<B> AuthService<B> {
    pub fn new(backend: B) -> AuthService<B> {
        AuthService { backend }
    }
}

impl<B: V3Backend> AuthService<B> {
    fn header(&self) -> Option<pb::ResponseHeader> {
        Some(convert::header(self.backend.v3_status().header))
    }
}

/// etcd's refusal to create a user or role: a name is required first.
fn refuse_creation(name: &str, empty: errors::EtcdError) -> Status {
    if name.is_empty() { empty.status() } else { Status::unimplemented(AUTH_STORE_UNSUPPORTED) }
}

type AuthResult<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl<B: V3Backend> Auth for AuthService<B> {
    async fn auth_enable(
        &self,
        _request: Request<pb::AuthEnableRequest>,
    ) -> AuthResult<pb::AuthEnableResponse> {
        Err(errors::ROOT_USER_NOT_EXIST.status())
    }

    async fn auth_disable(
        &self,
        _request: Request<pb::AuthDisableRequest>,
    ) -> AuthResult<pb::AuthDisableResponse> {
        Ok(Response::new(pb::AuthDisableResponse { header: self.header() }))
    }

    async fn authenticate(
        &self,
        _request: Request<pb::AuthenticateRequest>,
    ) -> AuthResult<pb::AuthenticateResponse> {
        Err(errors::AUTH_NOT_ENABLED.status())
    }

    async fn user_add(
        &self,
        request: Request<pb::AuthUserAddRequest>,
    ) -> AuthResult<pb::AuthUserAddResponse> {
        Err(refuse_creation(&request.get_ref().name, errors::USER_EMPTY))
    }

    async fn user_get(
        &self,
        _request: Request<pb::AuthUserGetRequest>,
    ) -> AuthResult<pb::AuthUserGetResponse> {
        Err(errors::USER_NOT_FOUND.status())
    }

    async fn user_list(
        &self,
        _request: Request<pb::AuthUserListRequest>,
    ) -> AuthResult<pb::AuthUserListResponse> {
        Ok(Response::new(pb::AuthUserListResponse { header: self.header(), users: Vec::new() }))
    }

    async fn user_delete(
        &self,
        _request: Request<pb::AuthUserDeleteRequest>,
    ) -> AuthResult<pb::AuthUserDeleteResponse> {
        Err(errors::USER_NOT_FOUND.status())
    }

    async fn user_change_password(
        &self,
        _request: Request<pb::AuthUserChangePasswordRequest>,
    ) -> AuthResult<pb::AuthUserChangePasswordResponse> {
        Err(errors::USER_NOT_FOUND.status())
    }

    async fn user_grant_role(
        &self,
        _request: Request<pb::AuthUserGrantRoleRequest>,
    ) -> AuthResult<pb::AuthUserGrantRoleResponse> {
        Err(errors::USER_NOT_FOUND.status())
    }

    async fn user_revoke_role(
        &self,
        _request: Request<pb::AuthUserRevokeRoleRequest>,
    ) -> AuthResult<pb::AuthUserRevokeRoleResponse> {
        Err(errors::USER_NOT_FOUND.status())
    }

    async fn role_add(
        &self,
        request: Request<pb::AuthRoleAddRequest>,
    ) -> AuthResult<pb::AuthRoleAddResponse> {
        Err(refuse_creation(&request.get_ref().name, errors::ROLE_EMPTY))
    }

    async fn role_get(
        &self,
        _request: Request<pb::AuthRoleGetRequest>,
    ) -> AuthResult<pb::AuthRoleGetResponse> {
        Err(errors::ROLE_NOT_FOUND.status())
    }

    async fn role_list(
        &self,
        _request: Request<pb::AuthRoleListRequest>,
    ) -> AuthResult<pb::AuthRoleListResponse> {
        Ok(Response::new(pb::AuthRoleListResponse { header: self.header(), roles: Vec::new() }))
    }

    async fn role_delete(
        &self,
        _request: Request<pb::AuthRoleDeleteRequest>,
    ) -> AuthResult<pb::AuthRoleDeleteResponse> {
        Err(errors::ROLE_NOT_FOUND.status())
    }

    async fn role_grant_permission(
        &self,
        _request: Request<pb::AuthRoleGrantPermissionRequest>,
    ) -> AuthResult<pb::AuthRoleGrantPermissionResponse> {
        Err(errors::ROLE_NOT_FOUND.status())
    }

    async fn role_revoke_permission(
        &self,
        _request: Request<pb::AuthRoleRevokePermissionRequest>,
    ) -> AuthResult<pb::AuthRoleRevokePermissionResponse> {
        Err(errors::ROLE_NOT_FOUND.status())
    }
}
