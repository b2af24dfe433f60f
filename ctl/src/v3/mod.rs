//! The v3 side of `concordctl` (`ETCDCTL_API=3` or unset): an etcdctl 3.4 clone speaking gRPC through
//! the `api` crate's generated clients.
//!
//! Job: parse etcdctl v3's commands and flags, make the calls, and print exactly what etcdctl prints,
//! with its exit codes. Boundaries: no server logic; the HTTP v2 side lives in the crate's other
//! modules. One file per concern: grammar (`cli`), environment (`environment`), flags resolved
//! (`context`), connecting (`connection`), the client-side
//! concurrency recipes (`concurrency`, used by `lock` and `elect`), failures (`errors`), argument parsing (`arguments`), one file
//! per command family (`auth` holds `user`, `role` and `auth`), and the output formats (`print`).

pub mod arguments;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod concurrency;
pub mod connection;
pub mod context;
pub mod elect;
pub mod endpoint;
pub mod environment;
pub mod errors;
pub mod kv;
pub mod lease;
pub mod lock;
pub mod maintenance;
pub mod print;
pub mod snapshot;
pub mod txn;
pub mod watch;

use clap::{CommandFactory, Parser};

use cli::{AlarmCommand, Cli, Command, EndpointCommand, LeaseCommand, MemberCommand, SnapshotCommand};
use context::Context;
use errors::{Failure, exit};

/// Runs one v3 invocation; returns the process exit code.
pub fn run(raw_args: Vec<String>) -> i32 {
    let cli = match Cli::try_parse_from(&raw_args) {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    let Some(command) = cli.command else {
        print::write_stdout(format!("{}\n", Cli::command().render_help()).as_bytes());
        return exit::SUCCESS;
    };
    let context = Context { flags: cli.global, raw_args };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return Failure::new(exit::ERROR, &error.to_string()).report().0,
    };
    match runtime.block_on(execute(&context, &command)) {
        Ok(()) => exit::SUCCESS,
        Err(failure) => failure.report().0,
    }
}

/// What etcdctl (cobra) does with a command line it cannot parse: help goes to stdout (exit 0),
/// anything else is `Error: <what>` and exit 1.
fn usage_error(error: &clap::Error) -> i32 {
    use clap::error::{ContextKind, ErrorKind};
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            print::write_stdout(error.render().to_string().as_bytes());
            exit::SUCCESS
        }
        ErrorKind::InvalidSubcommand => {
            let name =
                error.get(ContextKind::InvalidSubcommand).map(|value| value.to_string()).unwrap_or_default();
            let message = format!("unknown command {name:?} for \"concordctl\"");
            print::write_stderr_line(&format!("Error: {message}\nRun 'concordctl --help' for usage."));
            Failure::new(exit::ERROR, &message).report().0
        }
        ErrorKind::UnknownArgument => {
            let name = error.get(ContextKind::InvalidArg).map(|value| value.to_string()).unwrap_or_default();
            let flag = name.split('=').next().unwrap_or_default().to_string();
            Failure::new(exit::ERROR, &format!("unknown flag: {flag}")).report().0
        }
        _ => {
            let rendered = error.render().to_string();
            let first_line = rendered.lines().next().unwrap_or_default();
            let message = first_line.strip_prefix("error: ").unwrap_or(first_line);
            Failure::new(exit::ERROR, message).report().0
        }
    }
}

async fn execute(context: &Context, command: &Command) -> Result<(), Failure> {
    match command {
        Command::Get(args) => kv::get(context, args).await,
        Command::Put(args) => kv::put(context, args).await,
        Command::Del(args) => kv::delete(context, args).await,
        Command::Compaction(args) => kv::compaction(context, args).await,
        Command::Txn(args) => txn::txn(context, args).await,
        Command::Watch(args) => watch::watch(context, args).await,
        Command::Lease(LeaseCommand::Grant(args)) => lease::grant(context, &args.args).await,
        Command::Lease(LeaseCommand::Revoke(args)) => lease::revoke(context, &args.args).await,
        Command::Lease(LeaseCommand::Timetolive(args)) => lease::time_to_live(context, args).await,
        Command::Lease(LeaseCommand::List(_)) => lease::list(context).await,
        Command::Lease(LeaseCommand::KeepAlive(args)) => lease::keep_alive(context, args).await,
        Command::Member(MemberCommand::Add(args)) => cluster::add(context, args).await,
        Command::Member(MemberCommand::Remove(args)) => cluster::remove(context, &args.args).await,
        Command::Member(MemberCommand::Update(args)) => cluster::update(context, args).await,
        Command::Member(MemberCommand::List(_)) => cluster::list(context).await,
        Command::Member(MemberCommand::Promote(args)) => cluster::promote(context, &args.args).await,
        Command::Endpoint(group) => {
            let cluster = group.cluster;
            match &group.command {
                EndpointCommand::Health(_) => endpoint::health(context, cluster).await,
                EndpointCommand::Status(_) => endpoint::status(context, cluster).await,
                EndpointCommand::Hashkv(args) => endpoint::hash_kv(context, cluster, args.rev).await,
            }
        }
        Command::MoveLeader(args) => maintenance::move_leader(context, &args.args).await,
        Command::Alarm(AlarmCommand::List(args)) => maintenance::alarm(context, &args.args, false).await,
        Command::Alarm(AlarmCommand::Disarm(args)) => maintenance::alarm(context, &args.args, true).await,
        Command::Defrag(args) => maintenance::defrag(context, args).await,
        Command::Lock(args) => lock::lock(context, args).await,
        Command::Elect(args) => elect::elect(context, args).await,
        Command::Snapshot(SnapshotCommand::Save(args)) => snapshot::save(context, &args.args).await,
        Command::Snapshot(SnapshotCommand::Status(args)) => snapshot::status(context, &args.args),
        Command::Snapshot(SnapshotCommand::Restore(args)) => snapshot::restore(args),
        Command::User(command) => auth::user(context, command).await,
        Command::Role(command) => auth::role(context, command).await,
        Command::Auth(command) => auth::auth(context, command).await,
        Command::Version(_) => {
            let version = env!("CARGO_PKG_VERSION");
            print::write_stdout(format!("concordctl version: {version}\nAPI version: 3.4\n").as_bytes());
            Ok(())
        }
    }
}
