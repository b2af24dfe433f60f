//! Target `auth_bodies`: arbitrary bytes as `/v2/auth` writes (users, roles, enable/disable), their
//! JSON bodies parsed by the service's own parser (`server::http::fuzzing::parse_auth_write`) and the
//! commands applied to the replicated auth state (`store::auth::Auth`) by various callers.
//!
//! Input: requests back to back, each a selector byte (bits 0-1: users, roles, enable, users again;
//! bit 2: DELETE rather than PUT; bits 3-4: the caller: trusted, guest, the named user, `root`), a
//! u8-long name and a u16-long body (also tried as an `Authorization` header).
//!
//! Checks: nothing panics; a refused body answers 400 with a message; every command round trips
//! through the codec (it is what the Raft log carries); a refused command changes no user, role or
//! switch and says why; an accepted one did what it says; auth is only ever on with a `root` user,
//! and the `root` role always allows everything; the final state round trips through the codec.

use store::auth::{Auth, AuthCommand, AuthReply, Caller, Permissions};

use crate::byte_source::ByteSource;
use crate::round_trip::check_round_trip;

/// Requests one input may make.
const MAX_REQUESTS: usize = 32;

pub fn check(data: &[u8]) {
    let mut source = ByteSource::new(data);
    let mut auth = Auth::default();
    for _ in 0..MAX_REQUESTS {
        if source.is_empty() {
            break;
        }
        let selector = source.u8();
        let name_length = usize::from(source.u8());
        let name = String::from_utf8_lossy(source.take(name_length)).into_owned();
        let body_length = usize::from(source.u16());
        let body = source.take(body_length);
        check_credentials_header(body);
        let caller = match (selector >> 3) & 3 {
            0 => Caller::Trusted,
            1 => Caller::Guest,
            2 => Caller::User(name.clone()),
            _ => Caller::User("root".to_string()),
        };
        if let Some(command) = parse(selector, &name, body) {
            check_round_trip(&command, None);
            apply(&mut auth, &caller, &command);
        }
    }
    check_round_trip(&auth, None);
}

/// The command the service would propose, or `None` where it answers without one.
fn parse(selector: u8, name: &str, body: &[u8]) -> Option<AuthCommand> {
    let method = if selector & 4 == 0 { "PUT" } else { "DELETE" };
    let rest = match selector & 3 {
        2 => return Some(if method == "PUT" { AuthCommand::Enable } else { AuthCommand::Disable }),
        1 => format!("/roles/{name}"),
        _ => format!("/users/{name}"),
    };
    match server::http::fuzzing::parse_auth_write(&rest, method, body) {
        Ok((mut command, password)) => {
            if let (Some(password), AuthCommand::PutUser { password_hash, .. }) = (password, &mut command) {
                // Stands in for bcrypt, which is far too slow to fuzz through.
                *password_hash = Some(format!("hash-of:{password}"));
            }
            Some(command)
        }
        Err(reply) => {
            assert_eq!(reply.status, 400, "a refused auth body is a bad request");
            assert!(!reply.body.is_empty(), "a refusal says why");
            None
        }
    }
}

/// What a command may change: the switch, the users and the roles.
type Visible = (bool, Vec<(String, Vec<String>)>, Vec<(String, Option<Permissions>)>);

fn visible(auth: &Auth) -> Visible {
    let users = auth
        .users()
        .keys()
        .map(|name| (name.clone(), auth.user_roles(name).unwrap_or_default().into_iter().collect()))
        .collect();
    let roles = auth.role_names().into_iter().map(|name| (name.clone(), auth.role(&name))).collect();
    (auth.enabled(), users, roles)
}

fn apply(auth: &mut Auth, caller: &Caller, command: &AuthCommand) {
    let before = visible(auth);
    let (result, _touched_keys) = auth.apply(caller, command);
    match result {
        Err(error) => {
            assert!(error.status >= 400 && !error.message.is_empty(), "a refusal says why: {error:?}");
            assert_eq!(visible(auth), before, "a refused {command:?} changes nothing");
        }
        Ok(reply) => check_applied(auth, command, &reply),
    }
    check_invariants(auth, caller);
}

fn check_applied(auth: &Auth, command: &AuthCommand, reply: &AuthReply) {
    match command {
        AuthCommand::Enable => assert!(auth.enabled(), "enabled"),
        AuthCommand::Disable => assert!(!auth.enabled(), "disabled"),
        AuthCommand::PutUser { name, .. } => {
            assert!(auth.user(name).is_some(), "user {name:?} exists after a put");
            assert!(matches!(reply, AuthReply::User { name: replied, .. } if replied == name));
        }
        AuthCommand::DeleteUser { name } => assert!(auth.user(name).is_none(), "user {name:?} deleted"),
        AuthCommand::PutRole { name, .. } => {
            assert!(auth.role(name).is_some(), "role {name:?} exists after a put");
            assert!(matches!(reply, AuthReply::Role { name: replied, .. } if replied == name));
        }
        AuthCommand::DeleteRole { name } => assert!(auth.role(name).is_none(), "role {name:?} deleted"),
    }
}

fn check_invariants(auth: &Auth, caller: &Caller) {
    assert!(!auth.enabled() || auth.user("root").is_some(), "auth is on only with a root user");
    assert_eq!(auth.role("root"), Some(Permissions::everything()), "the root role allows everything");
    assert!(auth.role_names().is_sorted(), "role names sorted");
    assert!(auth.is_root(&Caller::Trusted), "a trusted caller is root");
    if auth.is_root(caller) {
        assert!(auth.allows(caller, "/any/key", true, true), "root may do anything");
    }
    let _ = auth.allows(caller, "/foo", false, false);
}

/// Go's `Request.BasicAuth` on arbitrary text: a user and password or nothing, never a panic.
fn check_credentials_header(bytes: &[u8]) {
    let header = String::from_utf8_lossy(bytes);
    if let Some((user, _password)) = server::http::auth::basic_credentials(&header) {
        assert!(!user.contains(':'), "the user ends at the first colon");
    }
}
