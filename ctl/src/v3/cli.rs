//! Command-line grammar of the v3 side: etcdctl 3.4's commands and flags, expressed with clap.
//!
//! Global flags are `Option`s so that the `ETCDCTL_*` environment can fill the ones not given (see
//! `environment.rs`). Boolean flags take Go's forms (`--prefix`, `--prefix=true`, `--hex=0`), as
//! pflag does. Positional arguments are plain lists, so that a missing one gets etcdctl's own message
//! and exit code rather than a usage error.

use clap::{Args, Parser, Subcommand};

pub use crate::cli::parse_go_bool;

#[derive(Parser, Debug)]
#[command(
    name = "concordctl",
    about = "A simple command line client for Concord (and etcd), compatible with etcdctl v3",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalFlags,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The flags every command takes (etcdctl's persistent root flags).
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalFlags {
    /// gRPC endpoints (default 127.0.0.1:2379)
    #[arg(long, global = true, value_name = "endpoints")]
    pub endpoints: Option<String>,

    /// dial timeout for client connections (default 2s)
    #[arg(long, global = true, value_name = "duration")]
    pub dial_timeout: Option<String>,

    /// timeout for short running command (excluding dial timeout) (default 5s)
    #[arg(long, global = true, value_name = "duration")]
    pub command_timeout: Option<String>,

    /// keepalive time for client connections (default 2s)
    #[arg(long, global = true, value_name = "duration")]
    pub keepalive_time: Option<String>,

    /// keepalive timeout for client connections (default 6s)
    #[arg(long, global = true, value_name = "duration")]
    pub keepalive_timeout: Option<String>,

    /// set the output format (fields, json, protobuf, simple, table)
    #[arg(long, short = 'w', global = true, value_name = "format")]
    pub write_out: Option<String>,

    /// print byte strings as hex encoded strings
    #[arg(long, global = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub hex: Option<bool>,

    /// verify certificates of TLS-enabled secure servers using this CA bundle
    #[arg(long, global = true, value_name = "file")]
    pub cacert: Option<String>,

    /// identify secure client using this TLS certificate file
    #[arg(long, global = true, value_name = "file")]
    pub cert: Option<String>,

    /// identify secure client using this TLS key file
    #[arg(long, global = true, value_name = "file")]
    pub key: Option<String>,

    /// skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)
    #[arg(long, global = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub insecure_skip_tls_verify: Option<bool>,

    /// disable transport security for client connections (default true)
    #[arg(long, global = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub insecure_transport: Option<bool>,

    /// username[:password] for authentication (prompt if password is not supplied)
    #[arg(long, global = true, value_name = "user")]
    pub user: Option<String>,

    /// password for authentication (if this option is used, --user option shouldn't include password)
    #[arg(long, global = true, value_name = "password")]
    pub password: Option<String>,

    /// enable client-side debug logging (accepted; concordctl has no extra logging)
    #[arg(long, global = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub debug: Option<bool>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Gets the key or a range of keys: get [options] <key> [range_end]
    Get(GetArgs),
    /// Puts the given key into the store: put [options] <key> <value> (<value> can also come from stdin)
    Put(PutArgs),
    /// Removes the specified key or range of keys [key, range_end): del [options] <key> [range_end]
    Del(DelArgs),
    /// Txn processes all the requests in one transaction (read from stdin)
    Txn(TxnArgs),
    /// Compacts the event history in etcd: compaction [options] <revision>
    Compaction(CompactionArgs),
    /// Alarm related commands
    #[command(subcommand)]
    Alarm(AlarmCommand),
    /// Defragments the storage of the etcd members with given endpoints
    Defrag(DefragArgs),
    /// Endpoint related commands
    Endpoint(EndpointGroup),
    /// Transfers leadership to another etcd cluster member: move-leader <transferee-member-id>
    MoveLeader(FreeArgs),
    /// Watches events stream on keys or prefixes: watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]
    Watch(WatchArgs),
    /// Prints the version of concordctl
    Version(FreeArgs),
    /// Lease related commands
    #[command(subcommand)]
    Lease(LeaseCommand),
    /// Membership related commands
    #[command(subcommand)]
    Member(MemberCommand),
    /// Acquires a named lock: lock <lockname> [exec-command arg1 arg2 ...]
    Lock(LockArgs),
    /// Observes and participates in leader election: elect <election-name> [proposal]
    Elect(ElectArgs),
    /// Manages etcd node snapshots
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// User related commands
    #[command(subcommand)]
    User(UserCommand),
    /// Role related commands
    #[command(subcommand)]
    Role(RoleCommand),
    /// Enable or disable authentication: auth <enable or disable>
    #[command(subcommand)]
    Auth(AuthCommand),
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Adds a new user: add <user name or user:password> [options]
    Add(UserAddArgs),
    /// Deletes a user: delete <user name>
    Delete(FreeArgs),
    /// Gets detailed information of a user: get <user name> [options]
    Get(UserGetArgs),
    /// Lists all users
    List(FreeArgs),
    /// Changes password of user: passwd <user name> [options]
    Passwd(UserPasswdArgs),
    /// Grants a role to a user: grant-role <user name> <role name>
    GrantRole(FreeArgs),
    /// Revokes a role from a user: revoke-role <user name> <role name>
    RevokeRole(FreeArgs),
}

#[derive(Args, Debug)]
pub struct UserAddArgs {
    /// Read password from stdin instead of interactive terminal
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true", value_parser = parse_go_bool)]
    pub interactive: bool,
    /// Supply password from the command line flag
    #[arg(long, default_value = "")]
    pub new_user_password: String,
    /// Create a user without password (CN based auth only)
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub no_password: bool,
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UserGetArgs {
    /// Show permissions of roles granted to the user
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub detail: bool,
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UserPasswdArgs {
    /// If true, read password from stdin instead of interactive terminal
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true", value_parser = parse_go_bool)]
    pub interactive: bool,
    pub args: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Adds a new role: add <role name>
    Add(FreeArgs),
    /// Deletes a role: delete <role name>
    Delete(FreeArgs),
    /// Gets detailed information of a role: get <role name>
    Get(FreeArgs),
    /// Lists all roles
    List(FreeArgs),
    /// Grants a key to a role: grant-permission [options] <role name> <permission type> <key> [endkey]
    GrantPermission(PermissionArgs),
    /// Revokes a key from a role: revoke-permission <role name> <key> [endkey]
    RevokePermission(PermissionArgs),
}

#[derive(Args, Debug)]
pub struct PermissionArgs {
    /// grant (revoke) a prefix permission
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub prefix: bool,
    /// grant (revoke) a permission of keys that are greater than or equal to the given key using byte compare
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub from_key: bool,
    pub args: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum AuthCommand {
    /// Enables authentication
    Enable(FreeArgs),
    /// Disables authentication
    Disable(FreeArgs),
}

#[derive(Args, Debug)]
pub struct LockArgs {
    /// timeout for session
    #[arg(long, default_value_t = 10)]
    pub ttl: i64,
    #[arg(value_name = "lockname> [exec-command arg1 arg2 ...")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ElectArgs {
    /// observation mode
    #[arg(long, short = 'l', action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub listen: bool,
    #[arg(value_name = "election-name> [proposal")]
    pub args: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum SnapshotCommand {
    /// Stores an etcd node backend snapshot to a given file: save <filename>
    Save(FreeArgs),
    /// Gets backend snapshot status of a given file: status <filename>
    Status(FreeArgs),
    /// Restores an etcd member snapshot to an etcd directory (not supported by concordctl yet)
    Restore(SnapshotRestoreArgs),
}

/// `snapshot restore`'s flags, accepted so that the refusal reads the same whatever is given.
#[derive(Args, Debug)]
pub struct SnapshotRestoreArgs {
    /// Path to the data directory
    #[arg(long, default_value = "")]
    pub data_dir: String,
    /// Path to the WAL directory (use --data-dir if none given)
    #[arg(long, default_value = "")]
    pub wal_dir: String,
    /// Initial cluster configuration for restore bootstrap
    #[arg(long, default_value = "")]
    pub initial_cluster: String,
    /// Initial cluster token for the etcd cluster during restore bootstrap
    #[arg(long, default_value = "")]
    pub initial_cluster_token: String,
    /// List of this member's peer URLs to advertise to the rest of the cluster
    #[arg(long, default_value = "")]
    pub initial_advertise_peer_urls: String,
    /// Human-readable name for this member
    #[arg(long, default_value = "")]
    pub name: String,
    /// Ignore snapshot integrity hash value (required if copied from data directory)
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub skip_hash_check: bool,
    pub args: Vec<String>,
}

/// Arguments of a command that takes no flags of its own.
#[derive(Args, Debug, Default)]
pub struct FreeArgs {
    pub args: Vec<String>,
}

#[derive(Args, Debug, Default, Clone)]
pub struct GetArgs {
    /// Linearizable(l) or Serializable(s)
    #[arg(long, default_value = "l")]
    pub consistency: String,
    /// Order of results; ASCEND or DESCEND (ASCEND by default)
    #[arg(long, default_value = "")]
    pub order: String,
    /// Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION
    #[arg(long, default_value = "")]
    pub sort_by: String,
    /// Maximum number of results
    #[arg(long, default_value_t = 0)]
    pub limit: i64,
    /// Get keys with matching prefix
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub prefix: bool,
    /// Get keys that are greater than or equal to the given key using byte compare
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub from_key: bool,
    /// Specify the kv revision
    #[arg(long, default_value_t = 0)]
    pub rev: i64,
    /// Get only the keys
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub keys_only: bool,
    /// Only write values when using the "simple" output format
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub print_value_only: bool,
    #[arg(value_name = "key> [range_end")]
    pub args: Vec<String>,
}

#[derive(Args, Debug, Default, Clone)]
pub struct PutArgs {
    /// lease ID (in hexadecimal) to attach to the key
    #[arg(long, default_value = "0")]
    pub lease: String,
    /// return the previous key-value pair before modification
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub prev_kv: bool,
    /// updates the key using its current value
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub ignore_value: bool,
    /// updates the key using its current lease
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub ignore_lease: bool,
    #[arg(value_name = "key> <value")]
    pub args: Vec<String>,
}

#[derive(Args, Debug, Default, Clone)]
pub struct DelArgs {
    /// delete keys with matching prefix
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub prefix: bool,
    /// return deleted key-value pairs
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub prev_kv: bool,
    /// delete keys that are greater than or equal to the given key using byte compare
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub from_key: bool,
    #[arg(value_name = "key> [range_end")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TxnArgs {
    /// Input transaction in interactive mode
    #[arg(long, short = 'i', action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub interactive: bool,
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CompactionArgs {
    /// 'true' to wait for compaction to physically remove all old revisions
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub physical: bool,
    #[arg(value_name = "revision")]
    pub args: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum AlarmCommand {
    /// Disarms all alarms
    Disarm(FreeArgs),
    /// Lists all alarms
    List(FreeArgs),
}

#[derive(Args, Debug)]
pub struct DefragArgs {
    /// use all endpoints from the cluster member list
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub cluster: bool,
    /// defragments a data directory not in use by etcd (not supported by concordctl)
    #[arg(long, default_value = "")]
    pub data_dir: String,
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct EndpointGroup {
    /// use all endpoints from the cluster member list
    #[arg(long, global = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub cluster: Option<bool>,
    #[command(subcommand)]
    pub command: EndpointCommand,
}

#[derive(Subcommand, Debug)]
pub enum EndpointCommand {
    /// Checks the healthiness of endpoints specified in `--endpoints` flag
    Health(FreeArgs),
    /// Prints out the status of endpoints specified in `--endpoints` flag
    Status(FreeArgs),
    /// Prints the KV history hash for each endpoint in --endpoints
    Hashkv(HashKvArgs),
}

#[derive(Args, Debug)]
pub struct HashKvArgs {
    /// maximum revision to hash (default: all revisions)
    #[arg(long, default_value_t = 0)]
    pub rev: i64,
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Interactive mode
    #[arg(long, short = 'i', action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub interactive: bool,
    /// Watch on a prefix if prefix is set
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub prefix: bool,
    /// Revision to start watching
    #[arg(long, default_value_t = 0)]
    pub rev: i64,
    /// get the previous key-value pair before the event happens
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub prev_kv: bool,
    #[arg(value_name = "key> [range_end] [-- <command>...")]
    pub args: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum LeaseCommand {
    /// Creates leases: grant <ttl>
    Grant(FreeArgs),
    /// Revokes leases: revoke <leaseID>
    Revoke(FreeArgs),
    /// Get lease information: timetolive <leaseID> [options]
    Timetolive(TimeToLiveArgs),
    /// List all active leases
    List(FreeArgs),
    /// Keeps leases alive (renew): keep-alive [options] <leaseID>
    KeepAlive(KeepAliveArgs),
}

#[derive(Args, Debug)]
pub struct TimeToLiveArgs {
    /// Get keys attached to this lease
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub keys: bool,
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KeepAliveArgs {
    /// Resets the keep-alive time to its original value and exits immediately
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub once: bool,
    pub args: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    /// Adds a member into the cluster: add <memberName> --peer-urls=<urls> [--learner]
    Add(MemberAddArgs),
    /// Removes a member from the cluster: remove <memberID>
    Remove(FreeArgs),
    /// Updates a member in the cluster: update <memberID> --peer-urls=<urls>
    Update(MemberUpdateArgs),
    /// Lists all members in the cluster
    List(FreeArgs),
    /// Promotes a non-voting member in the cluster: promote <memberID>
    Promote(FreeArgs),
}

#[derive(Args, Debug)]
pub struct MemberAddArgs {
    /// comma separated peer URLs for the new member.
    #[arg(long, default_value = "")]
    pub peer_urls: String,
    /// indicates if the new member is raft learner
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub learner: bool,
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct MemberUpdateArgs {
    /// comma separated peer URLs for the updated member.
    #[arg(long, default_value = "")]
    pub peer_urls: String,
    pub args: Vec<String>,
}

/// The operations a txn line may hold (`put`, `get`, `del`), parsed with the same flags as the commands.
#[derive(Parser, Debug)]
#[command(
    name = "txn-operation",
    no_binary_name = true,
    disable_help_flag = true,
    disable_help_subcommand = true
)]
pub struct TxnOperation {
    #[command(subcommand)]
    pub operation: TxnOperationKind,
}

#[derive(Subcommand, Debug)]
pub enum TxnOperationKind {
    Put(PutArgs),
    Get(GetArgs),
    Del(DelArgs),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn grammar_is_consistent() {
        Cli::command().debug_assert();
        TxnOperation::command().debug_assert();
    }

    #[test]
    fn flags_and_positionals_mix_like_pflag() {
        let cli =
            Cli::try_parse_from(["concordctl", "get", "a", "--prefix", "-w", "json", "--limit=2"]).unwrap();
        assert_eq!(cli.global.write_out.as_deref(), Some("json"));
        let Some(Command::Get(get)) = cli.command else { panic!("a get command") };
        assert_eq!((get.args, get.prefix, get.limit), (vec!["a".to_string()], true, 2));
    }
}
