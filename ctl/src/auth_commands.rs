//! etcdctl v2's `user`, `role` and `auth` commands: their argument checks (made before connecting, as
//! in etcdctl, so a bad command line never prompts for a password), the calls, and their exact output.
//! Every failure is one line on stderr and exit code 1.

use crate::auth::{self, Access, Change};
use crate::cli::{AuthCommand, FreeArgs, RoleCommand, RolePathArgs, UserCommand, UserRolesArgs};
use crate::client::{Client, exit};
use crate::commands::{Exit, out};
use crate::keys::canonical_path;
use crate::password;

/// Makes the command's client (syncing and asking for `--username`'s password as etcdctl does).
pub type Connect<'a> = &'a dyn Fn() -> Result<Client, Exit>;

/// etcdctl's failure of an auth command: the text on stderr, exit 1.
fn fail(text: &str) -> Exit {
    eprintln!("{text}");
    Exit(exit::BAD_ARGS)
}

/// The client, printed as etcdctl's auth commands print it once more under `--debug`.
fn auth_client(connect: Connect) -> Result<Client, Exit> {
    let client = connect()?;
    if client.debug {
        let urls: Vec<&str> = client.endpoints.iter().map(|endpoint| endpoint.url.as_str()).collect();
        eprintln!("Cluster-Endpoints: {}", urls.join(", "));
    }
    Ok(client)
}

fn no_arguments(args: &FreeArgs) -> Result<(), Exit> {
    if args.args.is_empty() { Ok(()) } else { Err(fail("No arguments accepted")) }
}

fn only_name<'a>(args: &'a [String], missing: &str) -> Result<&'a str, Exit> {
    match args {
        [name] => Ok(name),
        _ => Err(fail(missing)),
    }
}

pub fn user(command: &UserCommand, connect: Connect) -> Result<(), Exit> {
    const MISSING: &str = "Please provide a username";
    match command {
        UserCommand::List(args) => {
            no_arguments(args)?;
            let users = auth::list_users(&auth_client(connect)?).map_err(|error| fail(&error))?;
            out(&users.iter().map(|user| format!("{user}\n")).collect::<String>());
        }
        UserCommand::Add(args) => user_add(only_name(&args.args, MISSING)?, connect)?,
        UserCommand::Get(args) => {
            let name = only_name(&args.args, MISSING)?;
            let user = auth::get_user(&auth_client(connect)?, name).map_err(|error| fail(&error))?;
            out(&format!("User: {}\nRoles: {}\n", user.user, user.roles.join(" ")));
        }
        UserCommand::Remove(args) => {
            let name = only_name(&args.args, MISSING)?;
            auth::remove_user(&auth_client(connect)?, name).map_err(|error| fail(&error))?;
            out(&format!("User {name} removed\n"));
        }
        UserCommand::Grant(args) => user_roles(args, Change::Grant, connect)?,
        UserCommand::Revoke(args) => user_roles(args, Change::Revoke, connect)?,
        UserCommand::Passwd(args) => {
            let name = only_name(&args.args, MISSING)?;
            let client = auth_client(connect)?;
            let new_password = password::ask("New password: ")
                .map_err(|error| fail(&format!("Error reading password: {error}")))?;
            auth::change_password(&client, name, &new_password).map_err(|error| fail(&error))?;
            out("Password updated\n");
        }
    }
    Ok(())
}

/// `user add NAME[:PASSWORD]`: asks for the password when it is not given.
fn user_add(argument: &str, connect: Connect) -> Result<(), Exit> {
    let client = auth_client(connect)?;
    let (name, given) = password::split_credentials(argument);
    let new_password = match given {
        Some(given) => given.to_string(),
        None => password::ask("New password: ")
            .map_err(|error| fail(&format!("Error reading password: {error}")))?,
    };
    auth::add_user(&client, name, &new_password).map_err(|error| fail(&error))?;
    out(&format!("User {name} created\n"));
    Ok(())
}

fn user_roles(args: &UserRolesArgs, change: Change, connect: Connect) -> Result<(), Exit> {
    if args.roles.is_empty() {
        return Err(fail("No roles specified; please use `--roles`"));
    }
    let name = only_name(&args.args, "Please provide a username")?;
    let client = auth_client(connect)?;
    auth::change_user_roles(&client, name, change, &args.roles).map_err(|error| fail(&error))?;
    out(&format!("User {name} updated\n"));
    Ok(())
}

pub fn role(command: &RoleCommand, connect: Connect) -> Result<(), Exit> {
    const MISSING: &str = "Please provide a role name";
    match command {
        RoleCommand::List(args) => {
            no_arguments(args)?;
            let roles = auth::list_roles(&auth_client(connect)?).map_err(|error| fail(&error))?;
            out(&roles.iter().map(|role| format!("{role}\n")).collect::<String>());
        }
        RoleCommand::Add(args) => {
            let name = only_name(&args.args, MISSING)?;
            let client = auth_client(connect)?;
            // Any failure to read the role counts as "absent", as in etcdctl.
            if auth::get_role(&client, name).is_ok() {
                return Err(fail(&format!("Role {name} already exists")));
            }
            auth::add_role(&client, name).map_err(|error| fail(&error))?;
            out(&format!("Role {name} created\n"));
        }
        RoleCommand::Get(args) => {
            let name = only_name(&args.args, MISSING)?;
            let role = auth::get_role(&auth_client(connect)?, name).map_err(|error| fail(&error))?;
            let lines = |paths: &Option<Vec<String>>| -> String {
                paths.iter().flatten().map(|path| format!("\t{path}\n")).collect()
            };
            out(&format!(
                "Role: {}\nKV Read:\n{}KV Write:\n{}",
                role.role,
                lines(&role.permissions.read),
                lines(&role.permissions.write)
            ));
        }
        RoleCommand::Remove(args) => {
            let name = only_name(&args.args, MISSING)?;
            auth::remove_role(&auth_client(connect)?, name).map_err(|error| fail(&error))?;
            out(&format!("Role {name} removed\n"));
        }
        RoleCommand::Grant(args) => role_paths(args, Change::Grant, connect)?,
        RoleCommand::Revoke(args) => role_paths(args, Change::Revoke, connect)?,
    }
    Ok(())
}

/// `role grant|revoke NAME --path P --read|--write|--readwrite`.
fn role_paths(args: &RolePathArgs, change: Change, connect: Connect) -> Result<(), Exit> {
    if args.path.is_empty() {
        return Err(fail("No path specified; please use `--path`"));
    }
    let canonical = canonical_path(&args.path);
    if canonical != args.path {
        return Err(fail(&format!("Not canonical path; please use `--path={canonical}`")));
    }
    let access = match (args.read, args.write, args.readwrite) {
        (true, false, false) => Access::Read,
        (false, true, false) => Access::Write,
        (false, false, true) => Access::ReadWrite,
        _ => return Err(fail("Please specify exactly one of --read, --write or --readwrite")),
    };
    let name = only_name(&args.args, "Please provide a role name")?;
    let client = auth_client(connect)?;
    let current = auth::get_role(&client, name).map_err(|error| fail(&error))?;
    let permissions = auth::permissions_for(std::slice::from_ref(&args.path), access);
    let changed = auth::change_role(&client, name, change, &permissions).map_err(|error| fail(&error))?;
    let mut text = String::new();
    if changed == current {
        text.push_str(match change {
            Change::Grant => "Role unchanged; already granted",
            Change::Revoke => "Role unchanged; already revoked",
        });
    }
    text.push_str(&format!("Role {name} updated\n"));
    out(&text);
    Ok(())
}

pub fn auth(command: &AuthCommand, connect: Connect) -> Result<(), Exit> {
    let (args, enabled) = match command {
        AuthCommand::Enable(args) => (args, true),
        AuthCommand::Disable(args) => (args, false),
    };
    no_arguments(args)?;
    auth::set_enabled(&auth_client(connect)?, enabled).map_err(|error| fail(&error))?;
    out(if enabled { "Authentication Enabled\n" } else { "Authentication Disabled\n" });
    Ok(())
}
