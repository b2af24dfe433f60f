//! What every v3 command works with: the global flags (resolved against the `ETCDCTL_*` environment
//! only once the command has checked its own arguments, which is etcdctl's order), the connection
//! settings and the printer they make, and the raw arguments (`watch` looks for `--` in them).

use std::time::Duration;

use super::cli::GlobalFlags;
use super::connection::Settings;
use super::environment::{self, CommandFlags};
use super::errors::{Failure, exit};
use super::print::{Format, Printer};
use crate::client::parse_go_duration;

/// etcdctl v3's default endpoint.
pub const DEFAULT_ENDPOINTS: &str = "127.0.0.1:2379";

/// One invocation's inputs.
#[derive(Debug, Clone)]
pub struct Context {
    pub flags: GlobalFlags,
    pub raw_args: Vec<String>,
}

/// The resolved global flags.
#[derive(Debug, Clone)]
pub struct Global {
    pub settings: Settings,
    pub printer: Printer,
}

impl Context {
    /// The global flags with the environment applied.
    pub fn global(&self) -> Result<Global, Failure> {
        self.global_with(CommandFlags::default())
    }

    /// `global`, for a command that also reads flags of its own from the environment.
    pub fn global_with(&self, command_flags: CommandFlags) -> Result<Global, Failure> {
        let mut flags = self.flags.clone();
        environment::apply(&mut flags, command_flags, &environment::process_variables())?;
        resolve(&flags)
    }
}

fn resolve(flags: &GlobalFlags) -> Result<Global, Failure> {
    let endpoints_text = flags.endpoints.clone().unwrap_or_else(|| DEFAULT_ENDPOINTS.to_string());
    let endpoints: Vec<String> = endpoints_text
        .split(',')
        .map(|endpoint| endpoint.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect();
    let settings = Settings {
        endpoints,
        dial_timeout: duration_flag("dial-timeout", flags.dial_timeout.as_deref(), Duration::from_secs(2))?,
        command_timeout: duration_flag(
            "command-timeout",
            flags.command_timeout.as_deref(),
            Duration::from_secs(5),
        )?,
        keepalive_time: duration_flag(
            "keepalive-time",
            flags.keepalive_time.as_deref(),
            Duration::from_secs(2),
        )?,
        keepalive_timeout: duration_flag(
            "keepalive-timeout",
            flags.keepalive_timeout.as_deref(),
            Duration::from_secs(6),
        )?,
    };
    let format = Format::parse(flags.write_out.as_deref().unwrap_or("simple"))?;
    Ok(Global { settings, printer: Printer::new(format, flags.hex.unwrap_or(false)) })
}

fn duration_flag(name: &str, text: Option<&str>, default: Duration) -> Result<Duration, Failure> {
    let Some(text) = text else { return Ok(default) };
    parse_go_duration(text).map_err(|error| {
        Failure::new(exit::ERROR, &format!("invalid argument {text:?} for \"--{name}\" flag: {error}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_etcdctls() {
        let global = resolve(&GlobalFlags::default()).unwrap();
        assert_eq!(global.settings.endpoints, ["127.0.0.1:2379"]);
        assert_eq!(global.settings.command_timeout, Duration::from_secs(5));
        assert_eq!(global.printer, Printer::new(Format::Simple, false));
    }

    #[test]
    fn bad_flags_fail_before_any_request() {
        let flags = GlobalFlags { write_out: Some("yaml".into()), ..GlobalFlags::default() };
        assert_eq!(resolve(&flags).unwrap_err().code, exit::BAD_FEATURE);
        let flags = GlobalFlags { dial_timeout: Some("soon".into()), ..GlobalFlags::default() };
        assert_eq!(resolve(&flags).unwrap_err().code, exit::ERROR);
    }
}
