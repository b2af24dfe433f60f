//! Process logging: JSON lines like etcd 3.4's zap logger by default (`--logger=zap`), plain text lines
//! for `--logger=capnslog`, at `--log-level`, to stderr or stdout (`--log-outputs`).

use tracing::level_filters::LevelFilter;

use crate::config::{LogLevel, Logger, ServerConfig};

/// Installs the global subscriber once; later calls do nothing.
pub fn init(config: &ServerConfig) {
    let level = match config.log_level {
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error | LogLevel::Panic | LogLevel::Fatal => LevelFilter::ERROR,
    };
    let to_stdout = config.log_outputs.iter().any(|output| output == "stdout");
    let builder = tracing_subscriber::fmt().with_max_level(level).with_target(false);
    let result = match (config.logger, to_stdout) {
        (Logger::Zap, false) => builder.json().flatten_event(true).with_writer(std::io::stderr).try_init(),
        (Logger::Zap, true) => builder.json().flatten_event(true).with_writer(std::io::stdout).try_init(),
        (Logger::Capnslog, false) => builder.with_writer(std::io::stderr).try_init(),
        (Logger::Capnslog, true) => builder.with_writer(std::io::stdout).try_init(),
    };
    // A subscriber already installed (tests) is fine.
    let _ = result;
}
