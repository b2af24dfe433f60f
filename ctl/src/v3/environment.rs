//! The `ETCDCTL_*` environment, read the way etcdctl's `pkg/flags` reads it: every global flag not given
//! on the command line takes `ETCDCTL_<FLAG>` (`ETCDCTL_ENDPOINTS`, `ETCDCTL_WRITE_OUT`, ...); a
//! variable for a flag that was also given is fatal; any other `ETCDCTL_` variable gets a warning.
//! `ETCDCTL_API` is not part of it (it chose this side and etcdctl unsets it).

use std::time::{SystemTime, UNIX_EPOCH};

use super::cli::{GlobalFlags, parse_go_bool};
use super::errors::{Failure, exit};
use super::print::write_stderr_line;

/// Global flags etcdctl has but concordctl does not implement (auth, DNS discovery): recognized in
/// the environment, refused when set.
const UNSUPPORTED_FLAGS: &[&str] = &["discovery-srv", "discovery-srv-name"];

/// Global flags concordctl ignores (it does no DNS discovery).
const IGNORED_FLAGS: &[&str] = &["insecure-discovery"];

/// The TLS and auth flags.
const TLS_FLAGS: &[&str] =
    &["cacert", "cert", "key", "insecure-skip-tls-verify", "insecure-transport", "user", "password"];

/// The flags a command reads from the environment besides the global ones.
#[derive(Debug, Default)]
pub struct CommandFlags<'a> {
    /// `endpoint --cluster` (a flag of the `endpoint` group, inherited by its subcommands).
    pub cluster: Option<&'a mut Option<bool>>,
    /// `watch` also reads `ETCDCTL_WATCH_KEY` and `ETCDCTL_WATCH_RANGE_END` itself.
    pub watch: bool,
}

/// The process's `ETCDCTL_*`-relevant variables, in the process's order, without `ETCDCTL_API`.
pub fn process_variables() -> Vec<(String, String)> {
    std::env::vars_os()
        .map(|(name, value)| (name.to_string_lossy().into_owned(), value.to_string_lossy().into_owned()))
        .filter(|(name, _)| name != "ETCDCTL_API")
        .collect()
}

/// `ETCDCTL_` plus the flag name in capitals, dashes as underscores.
pub fn variable_name(flag: &str) -> String {
    format!("ETCDCTL_{}", flag.to_uppercase().replace('-', "_"))
}

/// Fills the flags not given from `variables`, and reports conflicts and unknown variables.
pub fn apply(
    cli: &mut GlobalFlags,
    flags: CommandFlags,
    variables: &[(String, String)],
) -> Result<(), Failure> {
    let CommandFlags { mut cluster, watch } = flags;
    let mut known: Vec<&str> =
        vec!["endpoints", "debug", "write-out", "hex", "dial-timeout", "command-timeout", "keepalive-time"];
    known.extend(["keepalive-timeout"].iter().chain(TLS_FLAGS).chain(UNSUPPORTED_FLAGS).chain(IGNORED_FLAGS));
    if cluster.is_some() {
        known.push("cluster");
    }
    if watch {
        known.extend(["watch-key", "watch-range-end"]);
    }
    let mut used = Vec::new();
    let mut given_on_command_line = Vec::new();
    for flag in &known {
        let name = variable_name(flag);
        if is_given(cli, cluster.as_deref(), flag) {
            given_on_command_line.push(name);
            continue;
        }
        let Some((_, value)) = variables.iter().find(|(variable, _)| *variable == name) else { continue };
        if value.is_empty() {
            continue;
        }
        set_flag(cli, cluster.as_deref_mut(), flag, value)?;
        used.push(name);
    }
    verify(variables, &used, &given_on_command_line)
}

/// etcdctl's `verifyEnv`: a variable shadowed by a flag is fatal, an unknown one gets a warning.
fn verify(variables: &[(String, String)], used: &[String], given: &[String]) -> Result<(), Failure> {
    for (name, value) in variables {
        if used.contains(name) {
            continue;
        }
        if given.contains(name) {
            write_stderr_line(&format!(
                "{} C | pkg/flags: conflicting environment variable \"{name}\" is shadowed by corresponding \
                 command-line flag (either unset environment variable or disable flag)",
                log_timestamp()
            ));
            return Err(Failure::quiet(exit::ERROR));
        }
        if name.starts_with("ETCDCTL_") {
            write_stderr_line(&format!(
                "{} W | pkg/flags: unrecognized environment variable {name}={value}",
                log_timestamp()
            ));
        }
    }
    Ok(())
}

fn is_given(cli: &GlobalFlags, cluster: Option<&Option<bool>>, flag: &str) -> bool {
    match flag {
        "endpoints" => cli.endpoints.is_some(),
        "debug" => cli.debug.is_some(),
        "write-out" => cli.write_out.is_some(),
        "hex" => cli.hex.is_some(),
        "dial-timeout" => cli.dial_timeout.is_some(),
        "command-timeout" => cli.command_timeout.is_some(),
        "keepalive-time" => cli.keepalive_time.is_some(),
        "keepalive-timeout" => cli.keepalive_timeout.is_some(),
        "user" => cli.user.is_some(),
        "password" => cli.password.is_some(),
        "cacert" => cli.cacert.is_some(),
        "cert" => cli.cert.is_some(),
        "key" => cli.key.is_some(),
        "insecure-skip-tls-verify" => cli.insecure_skip_tls_verify.is_some(),
        "insecure-transport" => cli.insecure_transport.is_some(),
        "cluster" => cluster.is_some_and(Option::is_some),
        _ => false,
    }
}

/// Sets one flag from its variable. Like pflag, a boolean that does not parse is ignored.
fn set_flag(
    cli: &mut GlobalFlags,
    cluster: Option<&mut Option<bool>>,
    flag: &str,
    value: &str,
) -> Result<(), Failure> {
    let text = Some(value.to_string());
    match flag {
        "endpoints" => cli.endpoints = text,
        "write-out" => cli.write_out = text,
        "dial-timeout" => cli.dial_timeout = text,
        "command-timeout" => cli.command_timeout = text,
        "keepalive-time" => cli.keepalive_time = text,
        "keepalive-timeout" => cli.keepalive_timeout = text,
        "user" => cli.user = text,
        "password" => cli.password = text,
        "cacert" => cli.cacert = text,
        "cert" => cli.cert = text,
        "key" => cli.key = text,
        "insecure-skip-tls-verify" => {
            cli.insecure_skip_tls_verify = parse_go_bool(value).ok().or(cli.insecure_skip_tls_verify)
        }
        "insecure-transport" => cli.insecure_transport = parse_go_bool(value).ok().or(cli.insecure_transport),
        "hex" => cli.hex = parse_go_bool(value).ok().or(cli.hex),
        "debug" => cli.debug = parse_go_bool(value).ok().or(cli.debug),
        "cluster" => {
            if let (Some(slot), Ok(parsed)) = (cluster, parse_go_bool(value)) {
                *slot = Some(parsed);
            }
        }
        unsupported if UNSUPPORTED_FLAGS.contains(&unsupported) => {
            return Err(Failure::new(
                exit::BAD_ARGS,
                &format!("{} is not supported by concordctl yet (DNS discovery)", variable_name(flag)),
            ));
        }
        _ => {}
    }
    Ok(())
}

/// The time as capnslog prints it in etcdctl's warnings (`2006-01-02 15:04:05.000000`), in UTC.
pub fn log_timestamp() -> String {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_date(seconds / 86_400);
    let second_of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:06}",
        second_of_day / 3600,
        (second_of_day / 60) % 60,
        second_of_day % 60,
        since_epoch.subsec_micros()
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01.
fn civil_date(days_since_epoch: u64) -> (u64, u64, u64) {
    let shifted = days_since_epoch + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v3::cli::Cli;
    use clap::Parser;

    fn variables(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
    }

    #[test]
    fn days_since_the_epoch_become_calendar_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(20_790), (2026, 12, 3));
    }

    #[test]
    fn flags_not_given_come_from_the_environment() {
        let mut cli = Cli::parse_from(["concordctl", "get", "a"]).global;
        let environment = variables(&[("ETCDCTL_ENDPOINTS", "10.0.0.1:2379"), ("ETCDCTL_HEX", "true")]);
        apply(&mut cli, CommandFlags::default(), &environment).unwrap();
        assert_eq!((cli.endpoints.as_deref(), cli.hex), (Some("10.0.0.1:2379"), Some(true)));
    }

    #[test]
    fn a_variable_shadowed_by_its_flag_is_fatal() {
        let mut cli = Cli::parse_from(["concordctl", "--endpoints", "127.0.0.1:1", "get", "a"]).global;
        let environment = variables(&[("ETCDCTL_ENDPOINTS", "10.0.0.1:2379")]);
        let failure = apply(&mut cli, CommandFlags::default(), &environment).unwrap_err();
        assert_eq!(failure, Failure::quiet(exit::ERROR));
        assert_eq!(cli.endpoints.as_deref(), Some("127.0.0.1:1"));
    }

    #[test]
    fn dates_count_from_the_epoch() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(19_723), (2024, 1, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
    }
}
