//! v3 auth in the node: who a v3 request is on behalf of (a simple token's user), auth requests
//! (changes through the log, checked for the root role when applied; lookups from this member's copy),
//! Authenticate (the shell checks the password, the token is assigned through the log), and v3 writes
//! proposed while auth is on, re-checked when applied against the auth revision they were checked at.

use mvcc::{AuthCommand, AuthError, Command};

use super::entry::Operation;
use super::v3_auth_checks::{check_command, check_range, check_read};
use super::{AuthReply, AuthRequest, Node, Reply, RequestError, V3Reply, V3Request};

/// The auth bugs the simulator can plant (`PlantedBug::Auth*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AuthBug {
    UncheckedAtApply,
    CheckBeforeReadIndex,
}

/// etcd's error as the node's refusal (the gRPC layer finds etcd's code by the text).
pub(super) fn auth_error(error: AuthError) -> RequestError {
    RequestError::Refused(error.message().to_string())
}

fn auth_reply(reply: AuthReply) -> Reply {
    Reply::V3(V3Reply::Auth(reply))
}

impl Node {
    /// The user a token stands for (its TTL starts again), or etcd's "invalid auth token".
    pub(super) fn resolve_v3_token(&mut self, token: &str) -> Result<String, RequestError> {
        let now = self.now;
        self.v3_tokens.resolve(token, now).ok_or(auth_error(AuthError::InvalidAuthToken))
    }

    /// A watch needs read permission on its range while auth is on.
    pub(super) fn check_v3_watch(&mut self, create: &super::WatchCreate) -> Result<(), RequestError> {
        let user = match &create.token {
            Some(token) => Some(self.resolve_v3_token(token)?),
            None => None,
        };
        if !self.v3_auth.is_enabled() {
            return Ok(());
        }
        let read = mvcc::PermissionType::Read;
        self.v3_auth
            .check_permitted(user.as_deref(), &create.key, &create.range_end, read)
            .map_err(auth_error)
    }

    /// Whether `user` may read `range` now (anyone while auth is off).
    pub(super) fn check_v3_range(
        &self,
        user: Option<&str>,
        range: &mvcc::RangeRequest,
    ) -> Result<(), RequestError> {
        check_range(&self.v3_auth, user, range).map_err(auth_error)
    }

    /// A request's user (from its token) and the request itself, checked for admin calls (ranges are
    /// checked when served).
    pub(super) fn v3_caller(
        &mut self,
        request: V3Request,
    ) -> Result<(Option<String>, V3Request), RequestError> {
        let (user, request) = match request {
            V3Request::Authorized { token, request } => (Some(self.resolve_v3_token(&token)?), *request),
            request => (None, request),
        };
        assert!(!matches!(request, V3Request::Authorized { .. }), "a token inside a token");
        check_read(&self.v3_auth, user.as_deref(), &request).map_err(auth_error)?;
        Ok((user, request))
    }

    /// How a v3 write goes into the log: bare while auth is off and no token was given, else with its
    /// user and the auth revision it was checked at (refused now if the check fails already).
    pub(super) fn v3_write_operation(
        &self,
        user: Option<String>,
        command: Command,
    ) -> Result<Operation, RequestError> {
        if !self.v3_auth.is_enabled() && user.is_none() {
            return Ok(Operation::V3(command));
        }
        let lease_keys = |id| self.v3_lease_keys(id);
        check_command(&self.v3_auth, user.as_deref(), &command, &lease_keys).map_err(auth_error)?;
        Ok(Operation::V3As { user, auth_revision: self.v3_auth.revision(), command })
    }

    /// A committed v3 write proposed bare: checked while auth was off, without a user (or the leader's
    /// own compaction). If auth was enabled before it is applied, it is checked again as a request
    /// without a user, as etcd checks a header with no user and auth revision 0 ("user name is empty"
    /// for keys; compaction and lease grants stay open).
    pub(super) fn apply_v3_bare(&mut self, command: &Command) -> Result<Reply, RequestError> {
        self.apply_v3_as(None, 0, command)
    }

    /// A committed v3 write made on behalf of a user: refused if auth changed since it was checked
    /// (etcd's old-revision error; clients check again and retry) or if the user may not make it.
    pub(super) fn apply_v3_as(
        &mut self,
        user: Option<&str>,
        auth_revision: u64,
        command: &Command,
    ) -> Result<Reply, RequestError> {
        if self.v3_auth.is_enabled() && !self.auth_planted(AuthBug::UncheckedAtApply) {
            if user.is_some() && auth_revision < self.v3_auth.revision() {
                return Err(auth_error(AuthError::AuthOldRevision));
            }
            let lease_keys = |id| self.v3_lease_keys(id);
            check_command(&self.v3_auth, user, command, &lease_keys).map_err(auth_error)?;
        }
        self.apply_v3(command)
    }

    /// The simulator plants auth bugs to prove its auth checker finds them.
    #[cfg(feature = "planted-bugs")]
    pub(super) fn auth_planted(&self, bug: AuthBug) -> bool {
        let planted = match bug {
            AuthBug::UncheckedAtApply => super::PlantedBug::AuthUncheckedAtApply,
            AuthBug::CheckBeforeReadIndex => super::PlantedBug::AuthCheckBeforeReadIndex,
        };
        self.config.planted_bug == Some(planted)
    }

    #[cfg(not(feature = "planted-bugs"))]
    pub(super) fn auth_planted(&self, _bug: AuthBug) -> bool {
        false
    }

    fn v3_lease_keys(&self, id: i64) -> Vec<Vec<u8>> {
        self.mvcc.lease_time_to_live(id, true, self.now_ms()).map(|lease| lease.keys).unwrap_or_default()
    }

    /// An Auth service request on behalf of `user`.
    pub(super) fn submit_v3_auth(&mut self, request_id: u64, user: Option<String>, request: AuthRequest) {
        let result = match request {
            AuthRequest::Change(command) => {
                return self.submit_proposal(request_id, Operation::V3Auth { user, command });
            }
            AuthRequest::Authenticate { name, checked_hash, token_prefix } => {
                let operation = Operation::V3Authenticate { name, checked_hash, token_prefix };
                return self.submit_proposal(request_id, operation);
            }
            lookup => self.v3_auth_lookup(user.as_deref(), lookup),
        };
        self.answer(request_id, result.map(auth_reply).map_err(auth_error));
    }

    /// Lookups, with etcd's rules: listings need the root role, a user may see itself and its roles.
    fn v3_auth_lookup(&self, user: Option<&str>, request: AuthRequest) -> Result<AuthReply, AuthError> {
        let auth = &self.v3_auth;
        match request {
            AuthRequest::UserGet { name } => {
                if user != Some(name.as_str()) {
                    auth.check_admin(user)?;
                }
                auth.user_get(&name).map(AuthReply::Roles)
            }
            AuthRequest::RoleGet { name } => {
                let holds_role =
                    user.and_then(|user| auth.user_get(user).ok()).is_some_and(|r| r.contains(&name));
                if !holds_role {
                    auth.check_admin(user)?;
                }
                auth.role_get(&name).map(AuthReply::Permissions)
            }
            AuthRequest::UserList => auth.check_admin(user).map(|()| AuthReply::Users(auth.user_list())),
            AuthRequest::RoleList => auth.check_admin(user).map(|()| AuthReply::Roles(auth.role_list())),
            AuthRequest::PasswordHash { name } => self.password_hash(&name).map(AuthReply::PasswordHash),
            AuthRequest::CheckAdmin => auth.check_admin(user).map(|()| AuthReply::Permitted),
            AuthRequest::Change(_) | AuthRequest::Authenticate { .. } => unreachable!("changes are proposed"),
        }
    }

    fn password_hash(&self, name: &str) -> Result<String, AuthError> {
        if !self.v3_auth.is_enabled() {
            return Err(AuthError::AuthNotEnabled);
        }
        let user = self.v3_auth.user(name).ok_or(AuthError::AuthFailed)?;
        user.password_hash.clone().ok_or(AuthError::AuthFailed)
    }

    /// A committed auth change: the caller needs the root role while auth is on. Deleting a user or
    /// changing its password ends its tokens; disabling auth ends every token.
    pub(super) fn apply_v3_auth(
        &mut self,
        user: Option<&str>,
        command: &AuthCommand,
    ) -> Result<Reply, RequestError> {
        self.v3_auth.check_admin(user).map_err(auth_error)?;
        self.v3_auth.apply(command).map_err(auth_error)?;
        match command {
            AuthCommand::UserDelete { name } | AuthCommand::UserChangePassword { name, .. } => {
                self.v3_tokens.invalidate_user(name)
            }
            AuthCommand::Disable => self.v3_tokens.clear(),
            _ => {}
        }
        Ok(auth_reply(AuthReply::Changed))
    }

    /// A committed Authenticate: every member records the token (prefix, dot, this entry's index)
    /// unless auth went off or the password changed since the proposer checked it.
    pub(super) fn apply_v3_authenticate(
        &mut self,
        name: &str,
        checked_hash: &str,
        token_prefix: &str,
    ) -> Result<Reply, RequestError> {
        if !self.v3_auth.is_enabled() {
            return Err(auth_error(AuthError::AuthNotEnabled));
        }
        let current_hash = self.v3_auth.user(name).and_then(|user| user.password_hash.as_deref());
        if current_hash != Some(checked_hash) {
            return Err(auth_error(AuthError::AuthFailed));
        }
        let token = format!("{token_prefix}.{}", self.last_applied_index);
        let now = self.now;
        self.v3_tokens.assign(token.clone(), name, now);
        Ok(auth_reply(AuthReply::Token(token)))
    }

    /// The auth state of an installed snapshot; tokens of users it no longer has (or all, when auth is
    /// off in it) end.
    pub(super) fn install_v3_auth(&mut self, auth: mvcc::AuthStore) {
        if !auth.is_enabled() {
            self.v3_tokens.clear();
        }
        for name in self.v3_auth.user_list() {
            if auth.user(&name) != self.v3_auth.user(&name) {
                self.v3_tokens.invalidate_user(&name);
            }
        }
        self.v3_auth = auth;
    }
}
