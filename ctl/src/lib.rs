//! `concordctl`: an etcdctl-compatible command-line client for Concord (and for etcd).
//!
//! Job: follow `ETCDCTL_API` as etcdctl 3.4 does. With `3` or unset, the v3 side (`v3/`) speaks gRPC
//! through the `api` crate and copies etcdctl v3. With `2`, the v2 side (the other modules) parses
//! etcdctl v2's commands and flags, talks HTTP/1.1 to the cluster's client endpoints (with etcdctl's
//! sync and failover), and prints exactly what etcdctl v2 prints, with the same exit codes.
//! Boundaries: no server logic lives here; the crate only depends on the wire protocols. On the v2
//! side, `endpoint status|health` follow etcdctl v3's layout but are built from v2 endpoints (see
//! `cluster.rs`), and `backup` copies a local data dir (`backup.rs`). The v2 side also has etcdctl v2's `user`, `role` and `auth` commands and `-u`
//! (`auth.rs`, `auth_commands.rs`, `password.rs`); TLS for both sides is in `tls.rs`.

pub mod auth;
pub mod auth_commands;
pub mod backup;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod commands;
pub mod http;
pub mod keys;
pub mod password;
pub mod tls;
pub mod v3;

use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};

use cli::{Cli, Command, EndpointCommand, MemberCommand};
use client::{Client, SyncOutcome, exit, parse_go_duration};
use commands::{DirWrite, Exit};
use http::{Endpoint, Transport};
use password::OnInterrupt;
use tls::TlsFiles;

/// The default when neither flags nor environment name an endpoint (etcdctl v2's default).
pub const DEFAULT_ENDPOINTS: &str = "http://127.0.0.1:2379,http://127.0.0.1:4001";

/// Picks the endpoint list with etcdctl's precedence: `--endpoints`, `ETCDCTL_ENDPOINTS`, `--endpoint`,
/// `ETCDCTL_ENDPOINT`, `--peers`/`-C`, `ETCDCTL_PEERS`, then the default.
pub fn endpoint_list(cli: &Cli, env: &dyn Fn(&str) -> Option<String>) -> String {
    let non_empty = |value: Option<String>| value.filter(|text| !text.is_empty());
    non_empty(cli.endpoints.clone())
        .or_else(|| non_empty(env("ETCDCTL_ENDPOINTS")))
        .or_else(|| non_empty(cli.endpoint.clone()))
        .or_else(|| non_empty(env("ETCDCTL_ENDPOINT")))
        .or_else(|| non_empty(cli.peers.clone()))
        .or_else(|| non_empty(env("ETCDCTL_PEERS")))
        .unwrap_or_else(|| DEFAULT_ENDPOINTS.to_string())
}

/// Which etcdctl `ETCDCTL_API` selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiVersion {
    V2,
    V3,
    Unsupported(String),
}

/// etcdctl 3.4's rule: unset, empty or `3` is v3; `2` is v2; anything else is refused.
pub fn api_version(variable: Option<&str>) -> ApiVersion {
    match variable.unwrap_or("") {
        "" | "3" => ApiVersion::V3,
        "2" => ApiVersion::V2,
        other => ApiVersion::Unsupported(other.to_string()),
    }
}

/// Runs one invocation on the side `ETCDCTL_API` selects; returns the process exit code.
pub fn run(raw_args: Vec<String>) -> i32 {
    let variable = std::env::var("ETCDCTL_API").ok();
    match api_version(variable.as_deref()) {
        ApiVersion::V3 => v3::run(raw_args),
        ApiVersion::V2 => run_v2(raw_args),
        ApiVersion::Unsupported(version) => {
            eprintln!("unsupported API version {version}");
            exit::BAD_ARGS
        }
    }
}

/// Runs one v2 invocation (`ETCDCTL_API=2`); returns the process exit code.
pub fn run_v2(raw_args: Vec<String>) -> i32 {
    let args = cli::normalize_args(raw_args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::{ContextKind, ErrorKind};
            match error.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    // Help that was asked for (or a bare command group) goes to stdout and succeeds.
                    commands::out(&error.render().to_string());
                    return exit::SUCCESS;
                }
                ErrorKind::InvalidSubcommand => {
                    // etcdctl (urfave/cli) words an unknown command this way and exits 3.
                    let name = error.get(ContextKind::InvalidSubcommand).map(|value| value.to_string());
                    eprintln!("No help topic for '{}'", name.unwrap_or_default());
                    return 3;
                }
                _ => {
                    let _ = error.print();
                    return exit::BAD_ARGS;
                }
            }
        }
    };
    if cli.version {
        commands::out(&format!("concordctl version: {}\nAPI version: 2\n", env!("CARGO_PKG_VERSION")));
        return exit::SUCCESS;
    }
    let Some(command) = &cli.command else {
        commands::out(&format!("{}\n", Cli::command().render_help()));
        return exit::SUCCESS;
    };
    match execute(&cli, command, &args) {
        Ok(()) => exit::SUCCESS,
        Err(Exit(code)) => code,
    }
}

fn duration_flag(name: &str, text: &str) -> Result<Duration, Exit> {
    parse_go_duration(text).map_err(|error| {
        eprintln!("invalid value {text:?} for flag -{name}: {error}");
        Exit(exit::BAD_ARGS)
    })
}

/// The TLS files the flags name, each falling back to its `ETCDCTL_*` variable (etcdctl v2's
/// `getTransport`).
pub fn tls_files(cli: &Cli, env: &dyn Fn(&str) -> Option<String>) -> TlsFiles {
    let pick = |flag: &str, variable: &str| {
        if flag.is_empty() { env(variable).unwrap_or_default() } else { flag.to_string() }
    };
    TlsFiles {
        ca_file: pick(&cli.ca_file, "ETCDCTL_CA_FILE"),
        cert_file: pick(&cli.cert_file, "ETCDCTL_CERT_FILE"),
        key_file: pick(&cli.key_file, "ETCDCTL_KEY_FILE"),
        skip_verify: false,
    }
}

/// The `Authorization` header for `--username` (or `ETCDCTL_USERNAME`), asking for the password when
/// it is not given after a colon.
fn authorization(cli: &Cli, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<String>, Exit> {
    use base64::Engine;
    let text = if cli.username.is_empty() {
        env("ETCDCTL_USERNAME").unwrap_or_default()
    } else {
        cli.username.clone()
    };
    if text.is_empty() {
        return Ok(None);
    }
    let (user, given) = password::split_credentials(&text);
    let secret = match given {
        Some(given) => given.to_string(),
        None => password::ask("Password: ").map_err(|error| {
            eprintln!("{error}");
            Exit(exit::BAD_ARGS)
        })?,
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
    Ok(Some(format!("Basic {encoded}")))
}

/// etcdctl v2's `newClient`: endpoints, then the transport (bad TLS files fail here), then the
/// credentials (the password prompt).
fn build_client(cli: &Cli) -> Result<(Client, Duration), Exit> {
    let header_timeout = duration_flag("timeout", &cli.timeout)?;
    let total_timeout = duration_flag("total-timeout", &cli.total_timeout)?;
    let env = |name: &str| std::env::var(name).ok();
    let list = endpoint_list(cli, &env);
    let mut endpoints = Vec::new();
    for text in list.split(',') {
        match Endpoint::parse(text) {
            Ok(endpoint) => endpoints.push(endpoint),
            Err(error) => {
                eprintln!("{error}");
                return Err(Exit(exit::BAD_ARGS));
            }
        }
    }
    let transport = Transport::new(&tls_files(cli, &env)).map_err(|error| {
        eprintln!("{error}");
        Exit(exit::BAD_ARGS)
    })?;
    let authorization = authorization(cli, &env)?;
    // A zero header timeout means "no per-request limit" in etcdctl; the total timeout still applies.
    let header_timeout = if header_timeout.is_zero() { Duration::from_secs(30) } else { header_timeout };
    let total_deadline = if total_timeout.is_zero() { None } else { Some(Instant::now() + total_timeout) };
    let total_budget = if total_timeout.is_zero() { Duration::from_secs(30) } else { total_timeout };
    let client =
        Client { endpoints, header_timeout, total_deadline, debug: cli.debug, transport, authorization };
    Ok((client, total_budget))
}

/// etcdctl's `mustNewClient`: sync the endpoint list from the cluster unless `--no-sync`.
fn synced(mut client: Client, no_sync: bool) -> Result<Client, Exit> {
    if no_sync {
        return Ok(client);
    }
    if client.debug {
        let urls: Vec<&str> = client.endpoints.iter().map(|endpoint| endpoint.url.as_str()).collect();
        eprintln!("start to sync cluster using endpoints({})", urls.join(","));
    }
    match client.sync() {
        Ok(SyncOutcome::Synced) => {}
        Ok(SyncOutcome::NoEndpoints) => {
            let urls: Vec<&str> = client.endpoints.iter().map(|endpoint| endpoint.url.as_str()).collect();
            eprintln!("etcd cluster has no published client endpoints.");
            eprintln!(
                "Try '--no-sync' if you want to access non-published client endpoints({}).",
                urls.join(",")
            );
            return Err(commands::fail(exit::SERVER_ERROR, "client: no endpoints available"));
        }
        Err(error) if error.is_connection_error() => {
            return Err(commands::fail_client(exit::BAD_CONNECTION, &error));
        }
        // Any other failure (say, a server without a member list) keeps the given endpoints.
        Err(_) => {}
    }
    if client.debug {
        let urls: Vec<&str> = client.endpoints.iter().map(|endpoint| endpoint.url.as_str()).collect();
        eprintln!("got endpoints({}) after sync", urls.join(","));
        eprintln!("Cluster-Endpoints: {}", urls.join(", "));
    }
    Ok(client)
}

fn execute(cli: &Cli, command: &Command, args: &[String]) -> Result<(), Exit> {
    // The auth commands check their arguments before connecting (and before any password prompt).
    let connect = || build_client(cli).and_then(|(client, _)| synced(client, cli.no_sync));
    match command {
        Command::User(user) => return auth_commands::user(user, &connect),
        Command::Role(role) => return auth_commands::role(role, &connect),
        Command::Auth(auth) => return auth_commands::auth(auth, &connect),
        // A backup reads and writes local directories only: no client.
        Command::Backup(args) => return backup::run(args),
        _ => {}
    }
    let (client, total_budget) = build_client(cli)?;
    match command {
        Command::ClusterHealth(health) => {
            if health.forever {
                password::on_interrupt(OnInterrupt::QuietExit);
            }
            cluster::cluster_health(&client, health, total_budget)
        }
        Command::Endpoint(EndpointCommand::Status(endpoint)) => {
            cluster::endpoint_status_command(&client, endpoint, total_budget)
        }
        Command::Endpoint(EndpointCommand::Health(endpoint)) => {
            cluster::endpoint_health_command(&client, endpoint, total_budget)
        }
        _ => execute_synced(synced(client, cli.no_sync)?, cli, command, args),
    }
}

/// The commands that run after etcdctl's cluster sync.
fn execute_synced(client: Client, cli: &Cli, command: &Command, args: &[String]) -> Result<(), Exit> {
    let format = cli.output;
    match command {
        Command::Set(set) => commands::set(&client, set, format),
        Command::Get(get) => commands::get(&client, get, format),
        Command::Mk(mk) => commands::mk(&client, mk, format),
        Command::Mkdir(dir) => commands::dir_write(&client, dir, DirWrite::Make, format),
        Command::Setdir(dir) => commands::dir_write(&client, dir, DirWrite::Set, format),
        Command::Updatedir(dir) => commands::dir_write(&client, dir, DirWrite::Update, format),
        Command::Update(update) => commands::update(&client, update, format),
        Command::Rm(rm) => commands::rm(&client, rm, format),
        Command::Rmdir(rmdir) => commands::rmdir(&client, rmdir, format),
        Command::Ls(ls) => commands::ls(&client, ls, format),
        Command::Watch(watch) => {
            password::on_interrupt(OnInterrupt::QuietExit);
            commands::watch(&client, watch, format)
        }
        Command::ExecWatch(exec_watch) => {
            password::on_interrupt(OnInterrupt::QuietExit);
            let separator_given =
                args.iter().skip_while(|arg| arg.as_str() != "exec-watch").any(|arg| arg == "--");
            commands::exec_watch(&client, exec_watch, separator_given)
        }
        Command::Member(MemberCommand::List(free)) => cluster::member_list(&client, &free.args),
        Command::Member(MemberCommand::Add(free)) => cluster::member_add(&client, &free.args),
        Command::Member(MemberCommand::Remove(free)) => cluster::member_remove(&client, &free.args),
        Command::Member(MemberCommand::Update(free)) => cluster::member_update(&client, &free.args),
        Command::ClusterHealth(_)
        | Command::Endpoint(_)
        | Command::User(_)
        | Command::Role(_)
        | Command::Auth(_)
        | Command::Backup(_) => {
            unreachable!("handled before the sync")
        }
    }
}
