//! `user`, `role` and `auth`: etcd's v3 auth as etcdctl 3.4 drives it. Each command checks its
//! arguments first (etcdctl's texts, exit 128), then connects (with `--user`'s token when given) and
//! calls the Auth service; a refused call is `Error: <etcd's message>`, exit 1. `auth enable` creates
//! the root role and grants it to root when etcd asks for it, as etcdctl does.

use api::authpb::permission::Type as PermissionType;
use api::authpb::{Permission, UserAddOptions};
use api::etcdserverpb::auth_client::AuthClient;
use api::etcdserverpb::{
    AuthDisableRequest, AuthEnableRequest, AuthRoleAddRequest, AuthRoleDeleteRequest, AuthRoleGetRequest,
    AuthRoleGrantPermissionRequest, AuthRoleListRequest, AuthRoleRevokePermissionRequest, AuthUserAddRequest,
    AuthUserChangePasswordRequest, AuthUserDeleteRequest, AuthUserGetRequest, AuthUserGrantRoleRequest,
    AuthUserListRequest, AuthUserRevokeRoleRequest,
};
use prost::Message;

use super::cli::{AuthCommand, FreeArgs, PermissionArgs, RoleCommand, UserAddArgs, UserCommand};
use super::connection::{Conn, call, dial};
use super::context::{Context, Global};
use super::errors::{Failure, RpcError, exit};
use super::print::Shown;
use super::print::auth::{AuthAnswer, AuthShown, prefix_range_end};

/// `auth enable` tries this many times to create what etcd says is missing before giving up.
const MAX_ENABLE_ATTEMPTS: usize = 3;

fn bad_args(text: &str) -> Failure {
    Failure::new(exit::BAD_ARGS, text)
}

fn failed(error: RpcError) -> Failure {
    error.failure(exit::ERROR)
}

/// The command's client on a new connection.
async fn client(global: &Global) -> Result<AuthClient<Conn>, Failure> {
    let settings = &global.settings;
    let connection = dial(settings, settings.connect_deadline()).await.map_err(failed)?;
    Ok(AuthClient::new(connection))
}

fn show(
    global: &Global,
    answer: AuthAnswer,
    header: Option<api::etcdserverpb::ResponseHeader>,
    encoded: Vec<u8>,
) -> Result<(), Failure> {
    global.printer.print(&Shown::Auth(&AuthShown { answer, header, encoded }))
}

pub async fn user(context: &Context, command: &UserCommand) -> Result<(), Failure> {
    match command {
        UserCommand::Add(args) => user_add(context, args).await,
        UserCommand::Delete(args) => {
            let [name] = args.args.as_slice() else {
                return Err(bad_args("user delete command requires user name as its argument"));
            };
            let global = context.global()?;
            let request = AuthUserDeleteRequest { name: name.clone() };
            let response =
                answer(&global, |mut client| async move { client.user_delete(request).await }).await?;
            show(
                &global,
                AuthAnswer::UserDelete { user: name.clone() },
                response.header,
                response.encode_to_vec(),
            )
        }
        UserCommand::Get(args) => {
            let [name] = args.args.as_slice() else {
                return Err(bad_args("user get command requires user name as its argument"));
            };
            user_get(context, name, args.detail).await
        }
        UserCommand::List(args) => {
            no_arguments(args, "user list command requires no arguments")?;
            let global = context.global()?;
            let response =
                answer(&global, |mut client| async move { client.user_list(AuthUserListRequest {}).await })
                    .await?;
            let encoded = response.encode_to_vec();
            show(&global, AuthAnswer::UserList { users: response.users }, response.header, encoded)
        }
        UserCommand::Passwd(args) => {
            let [name] = args.args.as_slice() else {
                return Err(bad_args("user passwd command requires user name as its argument"));
            };
            let password = if args.interactive { ask_new_password(name)? } else { first_word_of_stdin() };
            let global = context.global()?;
            let request = AuthUserChangePasswordRequest { name: name.clone(), password };
            let response =
                answer(&global, |mut client| async move { client.user_change_password(request).await })
                    .await?;
            show(&global, AuthAnswer::UserPassword, response.header, response.encode_to_vec())
        }
        UserCommand::GrantRole(args) => user_role(context, args, true).await,
        UserCommand::RevokeRole(args) => user_role(context, args, false).await,
    }
}

/// Calls the Auth service on a new connection; a refusal fails the command (exit 1).
async fn answer<T, F>(global: &Global, request: impl FnOnce(AuthClient<Conn>) -> F) -> Result<T, Failure>
where
    F: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let client = client(global).await?;
    call(global.settings.connect_deadline(), request(client)).await.map_err(failed)
}

fn no_arguments(args: &FreeArgs, text: &str) -> Result<(), Failure> {
    if args.args.is_empty() { Ok(()) } else { Err(bad_args(text)) }
}

/// `user add NAME[:PASSWORD]`, `--new-user-password`, `--no-password`, `--interactive=false`.
async fn user_add(context: &Context, args: &UserAddArgs) -> Result<(), Failure> {
    let [argument] = args.args.as_slice() else {
        return Err(bad_args("user add command requires user name as its argument"));
    };
    let (name, password) = if args.no_password {
        (argument.clone(), String::new())
    } else if !args.new_user_password.is_empty() {
        (argument.clone(), args.new_user_password.clone())
    } else {
        match argument.split_once(':') {
            Some(("", _)) => return Err(bad_args("empty user name is not allowed")),
            Some((name, password)) => (name.to_string(), password.to_string()),
            None if args.interactive => (argument.clone(), ask_new_password(argument)?),
            None => (argument.clone(), first_word_of_stdin()),
        }
    };
    let global = context.global()?;
    let options = Some(UserAddOptions { no_password: args.no_password });
    let request = AuthUserAddRequest { name: name.clone(), password, options };
    let response = answer(&global, |mut client| async move { client.user_add(request).await }).await?;
    show(&global, AuthAnswer::UserAdd { user: name }, response.header, response.encode_to_vec())
}

/// etcdctl's `readPasswordInteractive`: asked twice, and it must not be empty.
fn ask_new_password(name: &str) -> Result<String, Failure> {
    let ask = |prompt: String| {
        crate::password::ask(&prompt).map_err(|error| bad_args(&format!("failed to ask password: {error}")))
    };
    let first = ask(format!("Password of {name}: "))?;
    if first.is_empty() {
        return Err(bad_args("empty password"));
    }
    let second = ask(format!("Type password of {name} again for confirmation: "))?;
    if first != second {
        return Err(bad_args("given passwords are different"));
    }
    Ok(first)
}

/// Go's `fmt.Scanf("%s")` on stdin: the first word of the first line (empty when there is none).
fn first_word_of_stdin() -> String {
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    line.split_whitespace().next().unwrap_or_default().to_string()
}

/// `user get NAME [--detail]`: with `--detail`, the name and then each role as `role get` shows it.
async fn user_get(context: &Context, name: &str, detail: bool) -> Result<(), Failure> {
    let global = context.global()?;
    let request = AuthUserGetRequest { name: name.to_string() };
    let response = answer(&global, |mut client| async move { client.user_get(request).await }).await?;
    if !detail {
        let encoded = response.encode_to_vec();
        let answer = AuthAnswer::UserGet { user: name.to_string(), roles: response.roles };
        return show(&global, answer, response.header, encoded);
    }
    super::print::write_stdout(format!("User: {name}\n").as_bytes());
    for role in &response.roles {
        super::print::write_stdout(b"\n");
        role_get(&global, role).await?;
    }
    Ok(())
}

async fn user_role(context: &Context, args: &FreeArgs, grant: bool) -> Result<(), Failure> {
    let [user, role] = args.args.as_slice() else {
        return Err(bad_args(if grant {
            "user grant command requires user name and role name as its argument"
        } else {
            "user revoke-role requires user name and role name as its argument"
        }));
    };
    let global = context.global()?;
    let (header, encoded) = if grant {
        let request = AuthUserGrantRoleRequest { user: user.clone(), role: role.clone() };
        let response =
            answer(&global, |mut client| async move { client.user_grant_role(request).await }).await?;
        (response.header, response.encode_to_vec())
    } else {
        let request = AuthUserRevokeRoleRequest { name: user.clone(), role: role.clone() };
        let response =
            answer(&global, |mut client| async move { client.user_revoke_role(request).await }).await?;
        (response.header, response.encode_to_vec())
    };
    let (user, role) = (user.clone(), role.clone());
    let shown = if grant {
        AuthAnswer::UserGrantRole { user, role }
    } else {
        AuthAnswer::UserRevokeRole { user, role }
    };
    show(&global, shown, header, encoded)
}

pub async fn role(context: &Context, command: &RoleCommand) -> Result<(), Failure> {
    let name_only = |args: &FreeArgs, text: &str| -> Result<String, Failure> {
        match args.args.as_slice() {
            [name] => Ok(name.clone()),
            _ => Err(bad_args(text)),
        }
    };
    match command {
        RoleCommand::Add(args) => {
            let name = name_only(args, "role add command requires role name as its argument")?;
            let global = context.global()?;
            let request = AuthRoleAddRequest { name: name.clone() };
            let response =
                answer(&global, |mut client| async move { client.role_add(request).await }).await?;
            show(&global, AuthAnswer::RoleAdd { role: name }, response.header, response.encode_to_vec())
        }
        RoleCommand::Delete(args) => {
            let name = name_only(args, "role delete command requires role name as its argument")?;
            let global = context.global()?;
            let request = AuthRoleDeleteRequest { role: name.clone() };
            let response =
                answer(&global, |mut client| async move { client.role_delete(request).await }).await?;
            show(&global, AuthAnswer::RoleDelete { role: name }, response.header, response.encode_to_vec())
        }
        RoleCommand::Get(args) => {
            let name = name_only(args, "role get command requires role name as its argument")?;
            role_get(&context.global()?, &name).await
        }
        RoleCommand::List(args) => {
            no_arguments(args, "role list command requires no arguments")?;
            let global = context.global()?;
            let response =
                answer(&global, |mut client| async move { client.role_list(AuthRoleListRequest {}).await })
                    .await?;
            let encoded = response.encode_to_vec();
            show(&global, AuthAnswer::RoleList { roles: response.roles }, response.header, encoded)
        }
        RoleCommand::GrantPermission(args) => grant_permission(context, args).await,
        RoleCommand::RevokePermission(args) => revoke_permission(context, args).await,
    }
}

async fn role_get(global: &Global, name: &str) -> Result<(), Failure> {
    let request = AuthRoleGetRequest { role: name.to_string() };
    let response = answer(global, |mut client| async move { client.role_get(request).await }).await?;
    let encoded = response.encode_to_vec();
    let answer = AuthAnswer::RoleGet { role: name.to_string(), permissions: response.perm };
    show(global, answer, response.header, encoded)
}

/// etcdctl's `permRange`: the key and range end `--prefix` and `--from-key` mean (an empty key is
/// `\0`, and with either flag the whole key space).
fn permission_range(args: &[String], prefix: bool, from_key: bool) -> Result<(String, String), Failure> {
    let exclusive = || bad_args("--from-key and --prefix flags are mutually exclusive");
    let key = args[0].clone();
    if key.is_empty() {
        if prefix && from_key {
            return Err(exclusive());
        }
        let end = if prefix || from_key { "\0".to_string() } else { String::new() };
        return Ok(("\0".to_string(), end));
    }
    let end = match (args.get(1), prefix, from_key) {
        (None, true, true) => return Err(exclusive()),
        (None, true, false) => String::from_utf8_lossy(&prefix_range_end(key.as_bytes())).into_owned(),
        (None, false, true) => "\0".to_string(),
        (None, false, false) => String::new(),
        (Some(_), true, _) => return Err(bad_args("unexpected endkey argument with --prefix flag")),
        (Some(_), false, true) => return Err(bad_args("unexpected endkey argument with --from-key flag")),
        (Some(end), false, false) => end.clone(),
    };
    Ok((key, end))
}

async fn grant_permission(context: &Context, args: &PermissionArgs) -> Result<(), Failure> {
    if args.args.len() < 3 {
        return Err(bad_args(
            "role grant command requires role name, permission type, and key [endkey] as its argument",
        ));
    }
    let Some(kind) = PermissionType::from_str_name(&args.args[1].to_uppercase()) else {
        return Err(bad_args(&format!("invalid permission type: {}", args.args[1])));
    };
    let (key, range_end) = permission_range(&args.args[2..], args.prefix, args.from_key)?;
    let global = context.global()?;
    let permission =
        Permission { perm_type: kind as i32, key: key.into_bytes(), range_end: range_end.into_bytes() };
    let request = AuthRoleGrantPermissionRequest { name: args.args[0].clone(), perm: Some(permission) };
    let response =
        answer(&global, |mut client| async move { client.role_grant_permission(request).await }).await?;
    let shown = AuthAnswer::RoleGrant { role: args.args[0].clone() };
    show(&global, shown, response.header, response.encode_to_vec())
}

async fn revoke_permission(context: &Context, args: &PermissionArgs) -> Result<(), Failure> {
    if args.args.len() < 2 {
        return Err(bad_args(
            "role revoke-permission command requires role name and key [endkey] as its argument",
        ));
    }
    let (key, range_end) = permission_range(&args.args[1..], args.prefix, args.from_key)?;
    let global = context.global()?;
    let request = AuthRoleRevokePermissionRequest {
        role: args.args[0].clone(),
        key: key.into_bytes(),
        range_end: range_end.clone().into_bytes(),
    };
    let response =
        answer(&global, |mut client| async move { client.role_revoke_permission(request).await }).await?;
    let shown = AuthAnswer::RoleRevoke { role: args.args[0].clone(), key: args.args[1].clone(), range_end };
    show(&global, shown, response.header, response.encode_to_vec())
}

pub async fn auth(context: &Context, command: &AuthCommand) -> Result<(), Failure> {
    match command {
        AuthCommand::Enable(args) => {
            no_arguments(args, "auth enable command does not accept any arguments")?;
            let global = context.global()?;
            enable(&global).await?;
            super::print::write_stdout(b"Authentication Enabled\n");
        }
        AuthCommand::Disable(args) => {
            no_arguments(args, "auth disable command does not accept any arguments")?;
            let global = context.global()?;
            let mut client = client(&global).await?;
            let deadline = global.settings.command_deadline();
            call(deadline, client.auth_disable(AuthDisableRequest {})).await.map_err(failed)?;
            super::print::write_stdout(b"Authentication Disabled\n");
        }
    }
    Ok(())
}

/// Enables auth; when etcd says root lacks the root role, adds the role, grants it, and tries again.
async fn enable(global: &Global) -> Result<(), Failure> {
    let mut client = client(global).await?;
    let deadline = global.settings.command_deadline();
    for _ in 0..MAX_ENABLE_ATTEMPTS {
        match call(deadline, client.auth_enable(AuthEnableRequest {})).await {
            Ok(_) => return Ok(()),
            Err(RpcError::Status(status)) if api::errors::ROOT_ROLE_NOT_EXIST.matches(&status) => {
                let role = AuthRoleAddRequest { name: "root".to_string() };
                call(deadline, client.role_add(role)).await.map_err(failed)?;
                let grant = AuthUserGrantRoleRequest { user: "root".to_string(), role: "root".to_string() };
                call(deadline, client.user_grant_role(grant)).await.map_err(failed)?;
            }
            Err(error) => return Err(failed(error)),
        }
    }
    Err(failed(RpcError::Status(api::errors::ROOT_ROLE_NOT_EXIST.status())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    #[test]
    fn permission_ranges_follow_etcdctl() {
        let range = |args: &[&str], prefix, from_key| permission_range(&strings(args), prefix, from_key);
        assert_eq!(range(&["k"], false, false).unwrap(), ("k".to_string(), String::new()));
        assert_eq!(range(&["/pub/"], true, false).unwrap(), ("/pub/".to_string(), "/pub0".to_string()));
        assert_eq!(range(&["k"], false, true).unwrap(), ("k".to_string(), "\0".to_string()));
        assert_eq!(range(&["a", "b"], false, false).unwrap(), ("a".to_string(), "b".to_string()));
        assert_eq!(range(&[""], true, false).unwrap(), ("\0".to_string(), "\0".to_string()));
        assert_eq!(range(&["a", "b"], true, false).unwrap_err().code, exit::BAD_ARGS);
        assert_eq!(range(&["a"], true, true).unwrap_err().code, exit::BAD_ARGS);
    }
}
