//! `concord`: an etcd-v2-compatible member. Takes etcd's flags, `ETCD_*` variables and YAML config file.

use std::process::ExitCode;

use server::config::{self, Loaded};

fn main() -> ExitCode {
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
