//! Command-line grammar: etcdctl v2's commands, flags and aliases, expressed with clap.
//!
//! Positional arguments are collected as plain lists so that a missing key produces etcdctl's own
//! `Error:  key required` (exit 1) rather than a clap usage error.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "concordctl",
    about = "A simple command-line client for Concord (and etcd), compatible with etcdctl v2",
    disable_version_flag = true,
    args_conflicts_with_subcommands = false
)]
pub struct Cli {
    /// output cURL commands which can be used to reproduce the request
    #[arg(long, global = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub debug: bool,

    /// don't synchronize cluster information before sending request
    #[arg(long, global = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub no_sync: bool,

    /// output response in the given format (simple, `extended` or `json`)
    #[arg(long, short = 'o', global = true, value_enum, default_value = "simple")]
    pub output: OutputFormat,

    /// DEPRECATED - "--endpoints" should be used instead
    #[arg(long, short = 'C', global = true, value_name = "value")]
    pub peers: Option<String>,

    /// DEPRECATED - "--endpoints" should be used instead
    #[arg(long, global = true, value_name = "value")]
    pub endpoint: Option<String>,

    /// a comma-delimited list of machine addresses in the cluster
    /// (default: "http://127.0.0.1:2379,http://127.0.0.1:4001"; env ETCDCTL_ENDPOINTS)
    #[arg(long, global = true, value_name = "value")]
    pub endpoints: Option<String>,

    /// identify HTTPS client using this SSL certificate file (env ETCDCTL_CERT_FILE)
    #[arg(long, global = true, default_value = "", value_name = "value")]
    pub cert_file: String,

    /// identify HTTPS client using this SSL key file (env ETCDCTL_KEY_FILE)
    #[arg(long, global = true, default_value = "", value_name = "value")]
    pub key_file: String,

    /// verify certificates of HTTPS-enabled servers using this CA bundle (env ETCDCTL_CA_FILE)
    #[arg(long, global = true, default_value = "", value_name = "value")]
    pub ca_file: String,

    /// provide username[:password] and prompt if password is not supplied (env ETCDCTL_USERNAME)
    #[arg(long, short = 'u', global = true, default_value = "", value_name = "value")]
    pub username: String,

    /// connection timeout per request
    #[arg(long, global = true, default_value = "2s", value_name = "value")]
    pub timeout: String,

    /// timeout for the command execution (except watch)
    #[arg(long, global = true, default_value = "5s", value_name = "value")]
    pub total_timeout: String,

    /// print the version
    #[arg(long, short = 'v')]
    pub version: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Simple,
    Extended,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// check the health of the etcd cluster
    ClusterHealth(ClusterHealthArgs),
    /// make a new key with a given value
    Mk(MkArgs),
    /// make a new directory
    Mkdir(TtlKeyArgs),
    /// remove a key or a directory
    Rm(RmArgs),
    /// removes the key if it is an empty directory or a key-value pair
    Rmdir(KeyArgs),
    /// retrieve the value of a key
    Get(GetArgs),
    /// retrieve a directory
    Ls(LsArgs),
    /// set the value of a key
    Set(SetArgs),
    /// create a new directory or update an existing directory TTL
    Setdir(TtlKeyArgs),
    /// update an existing key with a given value
    Update(TtlKeyValueArgs),
    /// update an existing directory
    Updatedir(TtlKeyArgs),
    /// watch a key for changes
    Watch(WatchArgs),
    /// watch a key for changes and exec an executable: `exec-watch KEY -- COMMAND [ARGS...]`
    /// (or etcdctl 3.4's order `exec-watch COMMAND [ARGS...] KEY`)
    ExecWatch(ExecWatchArgs),
    /// member add, remove and list subcommands
    #[command(subcommand)]
    Member(MemberCommand),
    /// endpoint status and health (etcdctl v3 style, built from the v2 HTTP API)
    #[command(subcommand)]
    Endpoint(EndpointCommand),
    /// user add, grant and revoke subcommands
    #[command(subcommand)]
    User(UserCommand),
    /// role add, grant and revoke subcommands
    #[command(subcommand)]
    Role(RoleCommand),
    /// overall auth controls
    #[command(subcommand)]
    Auth(AuthCommand),
    /// backup an etcd directory
    Backup(crate::backup::BackupArgs),
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// add a new user for the etcd cluster: <user>[:<password>]
    Add(FreeArgs),
    /// get details for a user: <user>
    Get(FreeArgs),
    /// list all current users
    List(FreeArgs),
    /// remove a user for the etcd cluster: <user>
    Remove(FreeArgs),
    /// grant roles to an etcd user: <user> --roles <role>
    Grant(UserRolesArgs),
    /// revoke roles for an etcd user: <user> --roles <role>
    Revoke(UserRolesArgs),
    /// change password for a user: <user>
    Passwd(FreeArgs),
}

#[derive(Args, Debug)]
pub struct UserRolesArgs {
    /// List of roles to grant or revoke (repeat the flag for several; a comma is part of the name)
    #[arg(long, action = clap::ArgAction::Append, value_name = "value")]
    pub roles: Vec<String>,
    #[arg(value_name = "user")]
    pub args: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// add a new role for the etcd cluster: <role>
    Add(FreeArgs),
    /// get details for a role: <role>
    Get(FreeArgs),
    /// list all roles
    List(FreeArgs),
    /// remove a role from the etcd cluster: <role>
    Remove(FreeArgs),
    /// grant path matches to an etcd role: <role> --path <path> --read|--write|--readwrite
    Grant(RolePathArgs),
    /// revoke path matches for an etcd role: <role> --path <path> --read|--write|--readwrite
    Revoke(RolePathArgs),
}

#[derive(Args, Debug)]
pub struct RolePathArgs {
    /// Path granted (or revoked) for the role to access
    #[arg(long, default_value = "", value_name = "value")]
    pub path: String,
    /// Grant (revoke) read-only access
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub read: bool,
    /// Grant (revoke) write-only access
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub write: bool,
    /// Grant (revoke) read-write access
    #[arg(long, visible_alias = "rw", action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub readwrite: bool,
    #[arg(value_name = "role")]
    pub args: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum AuthCommand {
    /// enable auth access controls
    Enable(FreeArgs),
    /// disable auth access controls
    Disable(FreeArgs),
}

#[derive(Args, Debug)]
pub struct KeyArgs {
    #[arg(value_name = "key")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TtlKeyArgs {
    /// key time-to-live in seconds
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_name = "value")]
    pub ttl: i64,
    #[arg(value_name = "key")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TtlKeyValueArgs {
    /// key time-to-live in seconds
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_name = "value")]
    pub ttl: i64,
    #[arg(value_name = "key> <value")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SetArgs {
    /// key time-to-live in seconds
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_name = "value")]
    pub ttl: i64,
    /// previous value
    #[arg(long, default_value = "", value_name = "value")]
    pub swap_with_value: String,
    /// previous index
    #[arg(long, default_value_t = 0, value_name = "value")]
    pub swap_with_index: u64,
    #[arg(value_name = "key> <value")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct MkArgs {
    /// create in-order key under directory <key>
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub in_order: bool,
    /// key time-to-live in seconds
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_name = "value")]
    pub ttl: i64,
    #[arg(value_name = "key> <value")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// removes the key if it is an empty directory or a key-value pair
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub dir: bool,
    /// removes the key and all child keys(if it is a directory)
    #[arg(long, short = 'r', action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub recursive: bool,
    /// previous value
    #[arg(long, default_value = "", value_name = "value")]
    pub with_value: String,
    /// previous index
    #[arg(long, default_value_t = 0, value_name = "value")]
    pub with_index: u64,
    #[arg(value_name = "key")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct GetArgs {
    /// returns result in sorted order
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub sort: bool,
    /// require quorum for get request
    #[arg(long, short = 'q', action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub quorum: bool,
    #[arg(value_name = "key")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// returns result in sorted order
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub sort: bool,
    /// returns all key names recursively for the given path
    #[arg(long, short = 'r', action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub recursive: bool,
    /// append slash (/) to directories
    #[arg(short = 'p', action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub p: bool,
    /// require quorum for get request
    #[arg(long, short = 'q', action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub quorum: bool,
    #[arg(value_name = "key")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// forever watch a key until CTRL+C
    #[arg(long, short = 'f', action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub forever: bool,
    /// watch after the given index
    #[arg(long, default_value_t = 0, value_name = "value")]
    pub after_index: u64,
    /// returns all values for key and child keys
    #[arg(long, short = 'r', action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub recursive: bool,
    #[arg(value_name = "key")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExecWatchArgs {
    /// watch after the given index
    #[arg(long, default_value_t = 0, value_name = "value")]
    pub after_index: u64,
    /// watch all values for key and child keys
    #[arg(long, short = 'r', action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub recursive: bool,
    /// `KEY -- COMMAND [ARGS...]`, or `COMMAND [ARGS...] KEY`
    #[arg(value_name = "key> -- <command> [args...]", trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ClusterHealthArgs {
    /// Extra arguments are ignored, as etcdctl ignores them.
    #[arg(hide = true)]
    pub ignored: Vec<String>,
    /// forever check the health every 10 second until CTRL+C
    #[arg(long, short = 'f', action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub forever: bool,
}

#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    /// enumerate existing cluster members
    List(FreeArgs),
    /// add a new member to the etcd cluster: <name> <peerURL>
    Add(FreeArgs),
    /// remove an existing member from the etcd cluster: <memberID>
    Remove(FreeArgs),
    /// update an existing member in the etcd cluster: <memberID> <peerURLs>
    Update(FreeArgs),
}

#[derive(Args, Debug)]
pub struct FreeArgs {
    pub args: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum EndpointCommand {
    /// prints out the status of endpoints specified in `--endpoints`
    Status(EndpointArgs),
    /// checks the healthiness of endpoints specified in `--endpoints`
    Health(EndpointArgs),
}

#[derive(Args, Debug)]
pub struct EndpointArgs {
    /// set the output format (simple, json, table)
    #[arg(long, short = 'w', value_enum, default_value = "simple")]
    pub write_out: WriteOut,
    /// get the status (health) of every member's client URLs, not only `--endpoints`
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub cluster: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WriteOut {
    Simple,
    Json,
    Table,
}

/// Go's `strconv.ParseBool`, which etcdctl's boolean flags use (`--sort=true`, `--quorum=0`, `-r=T`).
pub fn parse_go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid boolean value {text:?}")),
    }
}

/// Long flag names that Go's flag package also accepts with a single dash (`-ttl 3`, as in the seeds).
const SINGLE_DASH_LONG_FLAGS: &[&str] = &[
    "ttl",
    "swap-with-value",
    "swap-with-index",
    "sort",
    "quorum",
    "in-order",
    "dir",
    "recursive",
    "with-value",
    "with-index",
    "forever",
    "after-index",
    "endpoints",
    "endpoint",
    "peers",
    "output",
    "timeout",
    "total-timeout",
    "no-sync",
    "debug",
    "version",
    "help",
    "write-out",
    "cluster",
    "cert-file",
    "key-file",
    "ca-file",
    "username",
    "roles",
    "path",
    "read",
    "write",
    "readwrite",
    "rw",
];

/// Rewrites Go-style single-dash long flags (`-ttl 3`, `-ttl=3`) to `--ttl`, up to a bare `--`.
pub fn normalize_args(args: Vec<String>) -> Vec<String> {
    let mut seen_terminator = false;
    args.into_iter()
        .map(|arg| {
            if seen_terminator {
                return arg;
            }
            if arg == "--" {
                seen_terminator = true;
                return arg;
            }
            if let Some(rest) = arg.strip_prefix('-')
                && !rest.starts_with('-')
                && rest.len() > 1
            {
                let name = rest.split('=').next().unwrap_or("");
                if SINGLE_DASH_LONG_FLAGS.contains(&name) {
                    return format!("-{arg}");
                }
            }
            arg
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    #[test]
    fn single_dash_long_flags_are_accepted_like_go() {
        let normalized = normalize_args(strings(&["concordctl", "set", "/color", "green", "-ttl", "3"]));
        assert_eq!(normalized, strings(&["concordctl", "set", "/color", "green", "--ttl", "3"]));
        // Short flags, values and everything after `--` are left alone.
        let normalized = normalize_args(strings(&["c", "-o", "json", "ls", "-p", "--", "-ttl"]));
        assert_eq!(normalized, strings(&["c", "-o", "json", "ls", "-p", "--", "-ttl"]));
    }

    #[test]
    fn grammar_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
