//! What every v3 command works with: the global flags (resolved against the `ETCDCTL_*` environment
//! only once the command has checked its own arguments, which is etcdctl's order), the connection
//! settings and the printer they make, and the raw arguments (`watch` looks for `--` in them).

use std::sync::Arc;
use std::time::Duration;

use super::cli::GlobalFlags;
use super::connection::Settings;
use super::environment::{self, CommandFlags};
use super::errors::{Failure, exit};
use super::print::{Format, Printer};
use crate::client::parse_go_duration;
use crate::tls::{self, TlsFiles};

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

impl Context {
    /// Only the printer, for a command that never connects (`snapshot status`): like etcdctl, it reads
    /// no TLS file and asks for no password.
    pub fn printer(&self) -> Result<Printer, Failure> {
        let mut flags = self.flags.clone();
        environment::apply(&mut flags, CommandFlags::default(), &environment::process_variables())?;
        printer(&flags)
    }
}

fn printer(flags: &GlobalFlags) -> Result<Printer, Failure> {
    let format = Format::parse(flags.write_out.as_deref().unwrap_or("simple"))?;
    Ok(Printer::new(format, flags.hex.unwrap_or(false)))
}

fn resolve(flags: &GlobalFlags) -> Result<Global, Failure> {
    // etcdctl picks its printer before anything else, so a bad `-w` fails before any prompt.
    let printer = printer(flags)?;
    let endpoints_text = flags.endpoints.clone().unwrap_or_else(|| DEFAULT_ENDPOINTS.to_string());
    let endpoints: Vec<String> = endpoints_text
        .split(',')
        .map(|endpoint| endpoint.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect();
    let settings = Settings {
        endpoints,
        tls: transport_security(flags)?,
        credentials: credentials(flags)?,
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
    Ok(Global { settings, printer })
}

/// etcdctl's `newClientCfg`: a TLS configuration when any TLS file is named or `--insecure-transport=false`
/// asks for one (`--insecure-skip-tls-verify` only loosens a configuration that exists). Bad files fail
/// the command (exit 128) before it connects.
fn transport_security(flags: &GlobalFlags) -> Result<Option<Arc<rustls::ClientConfig>>, Failure> {
    let files = TlsFiles {
        ca_file: flags.cacert.clone().unwrap_or_default(),
        cert_file: flags.cert.clone().unwrap_or_default(),
        key_file: flags.key.clone().unwrap_or_default(),
        skip_verify: flags.insecure_skip_tls_verify.unwrap_or(false),
    };
    let named = !files.ca_file.is_empty() || !files.cert_file.is_empty() || !files.key_file.is_empty();
    if !named && flags.insecure_transport.unwrap_or(true) {
        return Ok(None);
    }
    tls::client_config(&files, &[b"h2"]).map(Some).map_err(|error| Failure::new(exit::BAD_ARGS, &error))
}

/// etcdctl's `authCfgFromCmd`: `--user NAME[:PASSWORD]`, or `--user NAME --password PASSWORD`; a
/// password left out is asked for (`Password: `, read without echo as etcdctl does).
fn credentials(flags: &GlobalFlags) -> Result<Option<(String, String)>, Failure> {
    let user = flags.user.clone().unwrap_or_default();
    if user.is_empty() {
        return Ok(None);
    }
    let password = flags.password.clone().unwrap_or_default();
    if !password.is_empty() {
        return Ok(Some((user, password)));
    }
    match crate::password::split_credentials(&user) {
        (name, Some(given)) => Ok(Some((name.to_string(), given.to_string()))),
        (name, None) => {
            let asked =
                crate::password::ask("Password: ").map_err(|error| Failure::new(exit::ERROR, &error))?;
            Ok(Some((name.to_string(), asked)))
        }
    }
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
