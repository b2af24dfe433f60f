//! `concord`: an etcd-v2-compatible member. Takes etcd's flags, `ETCD_*` variables and YAML config file.
//! Two subcommands come before the flags: `concord migrate` (an etcd data dir into a Concord one) and
//! `concord inspect` (snapshot files and WALs, for operators).

use std::process::ExitCode;

use server::config::{self, Loaded};

fn main() -> ExitCode {
    // etcd takes no positional arguments, so a first argument naming a subcommand cannot be a flag.
    let args: Vec<String> =
        std::env::args_os().skip(1).map(|arg| arg.to_string_lossy().into_owned()).collect();
    match args.first().map(String::as_str) {
        Some("migrate") => return subcommand(server::migrate::command::run(&args[1..])),
        Some("inspect") => {
            let (output, error) = server::inspect::run(&args[1..]);
            print!("{output}");
            return subcommand(error.map_or(Ok(String::new()), Err));
        }
        _ => {}
    }
    let loaded = match config::load_from_process() {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("{}", error.message());
            if matches!(error, config::ConfigError::Usage(_)) {
                // Go's flag package prints the usage after a flag error.
                eprint!("{}", config::usage_text());
            }
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(1));
        }
    };
    let config = match loaded {
        Loaded::PrintVersion => {
            print!("{}", config::version_text());
            return ExitCode::SUCCESS;
        }
        Loaded::PrintHelp => {
            print!("{}", config::help_text());
            return ExitCode::SUCCESS;
        }
        Loaded::Run(config) => config,
    };
    if server::migrate::detect::looks_like_etcd(&config.data_dir) {
        eprintln!("concord: {}", server::migrate::detect::refusal(&config.data_dir));
        return ExitCode::FAILURE;
    }
    server::logging::init(&config);
    for notice in &config.notices {
        tracing::info!("{notice}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("concord: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server::run::run(*config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("concord: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a subcommand's output (stdout) or error (stderr).
fn subcommand(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("concord: {error}");
            ExitCode::FAILURE
        }
    }
}
