//! etcd 3.4's flag set and a command-line parser with the semantics of Go's `flag` package.
//!
//! No crate parses exactly like Go's `flag` (single- and double-dash long flags, `-flag value` for
//! every non-boolean, booleans only as `-flag` or `-flag=value`, parsing stops at the first
//! non-flag), and operators' scripts depend on those rules, so the parser is hand-written here.
//! Every flag value is checked when it is set, as Go's `flag.Value.Set` does, so errors carry Go's
//! wording and come in the order the flags were given.

use std::collections::BTreeMap;

use super::ConfigError;
use super::url::Url;

/// What values a flag takes; decides the check at set time and how a YAML value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Any text.
    Text,
    /// Go `uint`/`uint64`: decimal, or `0x`/`0o`/`0b`/leading-`0` prefixed, `_` between digits.
    Unsigned,
    /// Go `int`/`int64`.
    Signed,
    /// Go `strconv.ParseBool`; given alone on the command line it means `true`.
    Bool,
    /// Go `time.ParseDuration` (`300ms`, `1h30m`).
    Duration,
    /// A comma-separated URL list, each checked by [`Url::parse`].
    Urls,
    /// A comma-separated list of words (etcd's `UniqueStrings`).
    Words,
    /// One of a fixed set of words (etcd's `SelectiveStringValue`).
    OneOf(&'static [&'static str]),
}

/// What Concord does with a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Read into [`super::ServerConfig`].
    Used,
    /// Accepted, value checked, then ignored: it tunes something Concord does not have (gRPC, the
    /// v3 backend, auth tokens) and ignoring it cannot make a deployment unsafe.
    Ignored,
}

/// One etcd flag.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FlagSpec {
    pub name: &'static str,
    pub kind: Kind,
    /// The default as etcd's `--help` prints it.
    pub default_text: &'static str,
    pub role: Role,
    pub section: &'static str,
    pub usage: &'static str,
}

const MEMBER: &str = "Member";
const CLUSTERING: &str = "Clustering";
const SECURITY: &str = "Security";
const AUTH: &str = "Auth";
const MONITORING: &str = "Profiling and Monitoring";
const LOGGING: &str = "Logging";
const PROXY: &str = "v2 Proxy";
const EXPERIMENTAL: &str = "Experimental feature";
const UNSAFE: &str = "Unsafe feature";
const DEPRECATED: &str = "TO BE DEPRECATED";
const GENERAL: &str = "General";

const fn flag(
    name: &'static str,
    kind: Kind,
    default_text: &'static str,
    role: Role,
    section: &'static str,
    usage: &'static str,
) -> FlagSpec {
    FlagSpec { name, kind, default_text, role, section, usage }
}

use Kind::{Bool, Duration, OneOf, Signed, Text, Unsigned, Urls, Words};
use Role::{Ignored, Used};

/// Every flag etcd 3.4.23 defines (its `--help` list plus the hidden ones it still accepts), in
/// `--help` order. A flag not in this table is refused as Go refuses it.
pub(crate) const FLAGS: &[FlagSpec] = &[
    flag("name", Text, "default", Used, MEMBER, "Human-readable name for this member."),
    flag("data-dir", Text, "${name}.etcd", Used, MEMBER, "Path to the data directory."),
    flag("wal-dir", Text, "", Used, MEMBER, "Path to the dedicated wal directory."),
    flag(
        "snapshot-count",
        Unsigned,
        "100000",
        Used,
        MEMBER,
        "Number of committed transactions to trigger a snapshot to disk.",
    ),
    flag(
        "heartbeat-interval",
        Unsigned,
        "100",
        Used,
        MEMBER,
        "Time (in milliseconds) of a heartbeat interval.",
    ),
    flag(
        "election-timeout",
        Unsigned,
        "1000",
        Used,
        MEMBER,
        "Time (in milliseconds) for an election to timeout. See tuning documentation for details.",
    ),
    flag(
        "initial-election-tick-advance",
        Bool,
        "true",
        Ignored,
        MEMBER,
        "Whether to fast-forward initial election ticks on boot for faster election.",
    ),
    flag(
        "listen-peer-urls",
        Urls,
        "http://localhost:2380",
        Used,
        MEMBER,
        "List of URLs to listen on for peer traffic.",
    ),
    flag(
        "listen-client-urls",
        Urls,
        "http://localhost:2379",
        Used,
        MEMBER,
        "List of URLs to listen on for client traffic.",
    ),
    flag(
        "max-snapshots",
        Unsigned,
        "5",
        Used,
        MEMBER,
        "Maximum number of snapshot files to retain (0 is unlimited).",
    ),
    flag("max-wals", Unsigned, "5", Used, MEMBER, "Maximum number of wal files to retain (0 is unlimited)."),
    flag(
        "max-client-connections",
        Unsigned,
        "65536",
        Used,
        MEMBER,
        "Maximum number of open client connections per listener; further connections are closed at once (concord only).",
    ),
    flag(
        "max-request-header-bytes",
        Unsigned,
        "1048576",
        Used,
        MEMBER,
        "Maximum size in bytes of a client request's line and headers; larger ones get 431 and the connection is closed (concord only).",
    ),
    flag(
        "client-read-timeout",
        Duration,
        "30s",
        Used,
        MEMBER,
        "Time a client connection has to send a complete request head (or may sit idle between requests), and then its body (concord only).",
    ),
    flag(
        "max-connection-requests-per-second",
        Unsigned,
        "10000",
        Used,
        MEMBER,
        "Maximum requests one client connection may start per second; more are answered 429 (0 is unlimited) (concord only).",
    ),
    flag(
        "max-peer-connections",
        Unsigned,
        "256",
        Used,
        CLUSTERING,
        "Maximum number of inbound peer connections served at once; further ones are refused (concord only).",
    ),
    flag(
        "max-peer-frame-bytes",
        Unsigned,
        "8388608",
        Used,
        CLUSTERING,
        "Maximum size in bytes of one frame on the peer port; a larger one closes the connection (concord only).",
    ),
    flag(
        "max-watchers",
        Unsigned,
        "100000",
        Used,
        MEMBER,
        "Maximum number of watchers one member serves; further watches are refused (concord only).",
    ),
    flag(
        "v2-watch-history",
        Unsigned,
        "1000",
        Used,
        MEMBER,
        "Number of v2 events kept for waitIndex; etcd keeps 1000 (concord only).",
    ),
    flag(
        "v2-watch-history-bytes",
        Unsigned,
        "268435456",
        Used,
        MEMBER,
        "Maximum bytes of v2 events kept for waitIndex; the oldest are dropped first (concord only).",
    ),
    flag(
        "linearizable-reads",
        Bool,
        "false",
        Used,
        MEMBER,
        "Serve every v2 GET through ReadIndex, as quorum=true does (concord only).",
    ),
    flag(
        "quota-backend-bytes",
        Signed,
        "0",
        Used,
        MEMBER,
        "Raise alarms when backend size exceeds the given quota.",
    ),
    flag(
        "backend-batch-interval",
        Duration,
        "",
        Ignored,
        MEMBER,
        "Maximum time before committing the backend transaction.",
    ),
    flag(
        "backend-batch-limit",
        Signed,
        "0",
        Ignored,
        MEMBER,
        "Maximum operations before committing the backend transaction.",
    ),
    flag(
        "max-txn-ops",
        Unsigned,
        "128",
        Used,
        MEMBER,
        "Maximum number of operations permitted in a transaction.",
    ),
    flag(
        "max-request-bytes",
        Unsigned,
        "1572864",
        Used,
        MEMBER,
        "Maximum client request size in bytes the server will accept.",
    ),
    flag(
        "max-concurrent-streams",
        Unsigned,
        "math.MaxUint32",
        Ignored,
        MEMBER,
        "Maximum concurrent streams that each client can open at a time.",
    ),
    flag(
        "grpc-keepalive-min-time",
        Duration,
        "5s",
        Ignored,
        MEMBER,
        "Minimum duration a gRPC client should wait between pings.",
    ),
    flag(
        "grpc-keepalive-interval",
        Duration,
        "2h",
        Ignored,
        MEMBER,
        "Frequency of server-to-client gRPC pings.",
    ),
    flag(
        "grpc-keepalive-timeout",
        Duration,
        "20s",
        Ignored,
        MEMBER,
        "Wait before closing a non-responsive gRPC connection.",
    ),
    flag(
        "initial-advertise-peer-urls",
        Urls,
        "http://localhost:2380",
        Used,
        CLUSTERING,
        "List of this member's peer URLs to advertise to the rest of the cluster.",
    ),
    flag(
        "initial-cluster",
        Text,
        "default=http://localhost:2380",
        Used,
        CLUSTERING,
        "Initial cluster configuration for bootstrapping.",
    ),
    flag(
        "initial-cluster-state",
        OneOf(&["new", "existing"]),
        "new",
        Used,
        CLUSTERING,
        "Initial cluster state ('new' or 'existing').",
    ),
    flag(
        "initial-cluster-token",
        Text,
        "etcd-cluster",
        Used,
        CLUSTERING,
        "Initial cluster token for the cluster during bootstrap; it salts member and cluster IDs.",
    ),
    flag(
        "advertise-client-urls",
        Urls,
        "http://localhost:2379",
        Used,
        CLUSTERING,
        "List of this member's client URLs to advertise to the public.",
    ),
    flag("discovery", Text, "", Used, CLUSTERING, "Discovery URL used to bootstrap the cluster."),
    flag(
        "discovery-fallback",
        OneOf(&["exit", "proxy"]),
        "proxy",
        Used,
        CLUSTERING,
        "Expected behavior ('exit' or 'proxy') when discovery services fails.",
    ),
    flag(
        "discovery-proxy",
        Text,
        "",
        Used,
        CLUSTERING,
        "HTTP proxy to use for traffic to discovery service.",
    ),
    flag("discovery-srv", Text, "", Used, CLUSTERING, "DNS srv domain used to bootstrap the cluster."),
    flag(
        "discovery-srv-name",
        Text,
        "",
        Used,
        CLUSTERING,
        "Suffix to the dns srv name queried when bootstrapping.",
    ),
    flag(
        "strict-reconfig-check",
        Bool,
        "true",
        Used,
        CLUSTERING,
        "Reject reconfiguration requests that would cause quorum loss.",
    ),
    flag("pre-vote", Bool, "false", Used, CLUSTERING, "Enable to run an additional Raft election phase."),
    flag(
        "auto-compaction-retention",
        Text,
        "0",
        Used,
        CLUSTERING,
        "Auto compaction retention length (v3 only).",
    ),
    flag("auto-compaction-mode", Text, "periodic", Used, CLUSTERING, "Auto compaction mode (v3 only)."),
    flag(
        "enable-v2",
        Bool,
        "false",
        Used,
        CLUSTERING,
        "Accept etcd V2 client requests (concord always serves v2).",
    ),
    flag("cert-file", Text, "", Used, SECURITY, "Path to the client server TLS cert file."),
    flag("key-file", Text, "", Used, SECURITY, "Path to the client server TLS key file."),
    flag("client-cert-auth", Bool, "false", Used, SECURITY, "Enable client cert authentication."),
    flag("client-crl-file", Text, "", Used, SECURITY, "Path to the client certificate revocation list file."),
    flag(
        "client-cert-allowed-hostname",
        Text,
        "",
        Used,
        SECURITY,
        "Allowed TLS hostname for client cert authentication.",
    ),
    flag("trusted-ca-file", Text, "", Used, SECURITY, "Path to the client server TLS trusted CA cert file."),
    flag("auto-tls", Bool, "false", Used, SECURITY, "Client TLS using generated certificates."),
    flag("peer-cert-file", Text, "", Used, SECURITY, "Path to the peer server TLS cert file."),
    flag("peer-key-file", Text, "", Used, SECURITY, "Path to the peer server TLS key file."),
    flag("peer-client-cert-auth", Bool, "false", Used, SECURITY, "Enable peer client cert authentication."),
    flag("peer-trusted-ca-file", Text, "", Used, SECURITY, "Path to the peer server TLS trusted CA file."),
    flag(
        "peer-cert-allowed-cn",
        Text,
        "",
        Used,
        SECURITY,
        "Required CN for client certs connecting to the peer endpoint.",
    ),
    flag(
        "peer-cert-allowed-hostname",
        Text,
        "",
        Used,
        SECURITY,
        "Allowed TLS hostname for inter peer authentication.",
    ),
    flag("peer-auto-tls", Bool, "false", Used, SECURITY, "Peer TLS using self-generated certificates."),
    flag("peer-crl-file", Text, "", Used, SECURITY, "Path to the peer certificate revocation list file."),
    flag("cipher-suites", Text, "", Used, SECURITY, "Comma-separated list of supported TLS cipher suites."),
    flag(
        "cors",
        Words,
        "*",
        Used,
        SECURITY,
        "Comma-separated whitelist of origins for CORS, or cross-origin resource sharing, (empty or * means allow all).",
    ),
    flag("host-whitelist", Words, "*", Ignored, SECURITY, "Acceptable hostnames from HTTP client requests."),
    flag(
        "auth-token",
        Text,
        "simple",
        Ignored,
        AUTH,
        "Specify a v3 authentication token type and its options.",
    ),
    flag(
        "bcrypt-cost",
        Unsigned,
        "10",
        Ignored,
        AUTH,
        "Cost of the bcrypt algorithm for hashing auth passwords.",
    ),
    flag("auth-token-ttl", Unsigned, "300", Ignored, AUTH, "Time (in seconds) of the auth-token-ttl."),
    flag(
        "enable-pprof",
        Bool,
        "false",
        Ignored,
        MONITORING,
        "Enable runtime profiling data via HTTP server.",
    ),
    flag("metrics", Text, "basic", Ignored, MONITORING, "Set level of detail for exported metrics."),
    flag(
        "listen-metrics-urls",
        Urls,
        "",
        Used,
        MONITORING,
        "List of URLs to listen on for the metrics and health endpoints.",
    ),
    flag(
        "logger",
        Text,
        "zap",
        Used,
        LOGGING,
        "'zap' for structured JSON logs (concord's default), or 'capnslog' (accepted; logs stay JSON).",
    ),
    flag(
        "log-outputs",
        Words,
        "default",
        Used,
        LOGGING,
        "'default', 'stderr', 'stdout', or file paths, comma separated.",
    ),
    flag(
        "log-level",
        Text,
        "info",
        Used,
        LOGGING,
        "Configures log level. Only supports debug, info, warn, error, panic, or fatal.",
    ),
    flag("proxy", OneOf(&["off", "readonly", "on"]), "off", Used, PROXY, "Proxy mode setting."),
    flag("proxy-failure-wait", Unsigned, "5000", Used, PROXY, "Time (in ms) an endpoint is held failed."),
    flag("proxy-refresh-interval", Unsigned, "30000", Used, PROXY, "Time (in ms) of the endpoints refresh."),
    flag("proxy-dial-timeout", Unsigned, "1000", Used, PROXY, "Time (in ms) for a dial to timeout."),
    flag("proxy-write-timeout", Unsigned, "5000", Used, PROXY, "Time (in ms) for a write to timeout."),
    flag("proxy-read-timeout", Unsigned, "0", Used, PROXY, "Time (in ms) for a read to timeout."),
    flag(
        "experimental-initial-corrupt-check",
        Bool,
        "false",
        Ignored,
        EXPERIMENTAL,
        "Check data corruption at start.",
    ),
    flag(
        "experimental-corrupt-check-time",
        Duration,
        "0s",
        Ignored,
        EXPERIMENTAL,
        "Time between corruption checks.",
    ),
    flag(
        "experimental-enable-v2v3",
        Text,
        "",
        Ignored,
        EXPERIMENTAL,
        "Serve v2 requests through the v3 backend.",
    ),
    flag(
        "experimental-backend-bbolt-freelist-type",
        Text,
        "array",
        Ignored,
        EXPERIMENTAL,
        "Freelist type of the bbolt backend.",
    ),
    flag("experimental-enable-lease-checkpoint", Bool, "false", Ignored, EXPERIMENTAL, "Persist lease TTLs."),
    flag(
        "experimental-enable-lease-checkpoint-persist",
        Bool,
        "false",
        Ignored,
        EXPERIMENTAL,
        "Persist lease checkpoints.",
    ),
    flag(
        "experimental-compaction-batch-limit",
        Signed,
        "1000",
        Ignored,
        EXPERIMENTAL,
        "Revisions per compaction batch.",
    ),
    flag(
        "experimental-peer-skip-client-san-verification",
        Bool,
        "false",
        Used,
        EXPERIMENTAL,
        "Skip SAN verification of peer client certificates.",
    ),
    flag(
        "experimental-watch-progress-notify-interval",
        Duration,
        "10m",
        Used,
        EXPERIMENTAL,
        "Duration of periodical watch progress notification.",
    ),
    flag(
        "experimental-warning-apply-duration",
        Duration,
        "100ms",
        Ignored,
        EXPERIMENTAL,
        "Warn when applying a request takes longer than this.",
    ),
    flag("enable-grpc-gateway", Bool, "true", Ignored, EXPERIMENTAL, "Enable the gRPC gateway (v3 only)."),
    flag(
        "force-new-cluster",
        Bool,
        "false",
        Used,
        UNSAFE,
        "Force to create a new one-member cluster from this member's data.",
    ),
    flag(
        "unsafe-no-fsync",
        Bool,
        "false",
        Used,
        UNSAFE,
        "Disables fsync, unsafe, will cause data loss on a machine crash.",
    ),
    flag("debug", Bool, "false", Used, DEPRECATED, "Enable debug-level logging (same as --log-level=debug)."),
    flag(
        "log-package-levels",
        Text,
        "",
        Ignored,
        DEPRECATED,
        "Specify a particular log level for each package.",
    ),
    flag(
        "config-file",
        Text,
        "",
        Used,
        GENERAL,
        "Path to the server configuration file; when given, other flags and ETCD_* variables are ignored.",
    ),
    flag("version", Bool, "false", Used, GENERAL, "Print the version and exit."),
];

pub(crate) fn find(name: &str) -> Option<&'static FlagSpec> {
    FLAGS.iter().find(|spec| spec.name == name)
}

/// The `ETCD_*` variable of a flag: `--initial-cluster-token` is `ETCD_INITIAL_CLUSTER_TOKEN`.
pub(crate) fn env_name(flag_name: &str) -> String {
    format!("ETCD_{}", flag_name.to_ascii_uppercase().replace('-', "_"))
}

/// Flags set so far, by name, each with the text it was set to (last one wins).
pub(crate) type Settings = BTreeMap<&'static str, String>;

/// What the command line asks for.
#[derive(Debug)]
pub(crate) enum CommandLine {
    Help,
    Flags(Settings),
}

/// Parses the command line (without the program name) exactly as Go's `flag.FlagSet.Parse` and
/// etcd's follow-up check: flag errors are usage errors (exit 2), a leftover positional argument is
/// "'x' is not a valid flag" (exit 1).
pub(crate) fn parse_command_line(args: &[String]) -> Result<CommandLine, ConfigError> {
    let mut settings = Settings::new();
    let mut position = 0;
    while position < args.len() {
        let arg = &args[position];
        let bytes = arg.as_bytes();
        if bytes.len() < 2 || bytes[0] != b'-' {
            // Go stops at the first non-flag ("-" alone is one); etcd refuses any leftover.
            return Err(ConfigError::Invalid(format!("'{arg}' is not a valid flag")));
        }
        let dashes = if bytes[1] == b'-' { 2 } else { 1 };
        if dashes == 2 && bytes.len() == 2 {
            // "--" ends the flags; anything after it is a positional argument.
            return match args.get(position + 1) {
                Some(next) => Err(ConfigError::Invalid(format!("'{next}' is not a valid flag"))),
                None => Ok(CommandLine::Flags(settings)),
            };
        }
        let body = &arg[dashes..];
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(ConfigError::Usage(format!("bad flag syntax: {arg}")));
        }
        let (name, inline_value) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (body, None),
        };
        let Some(spec) = find(name) else {
            if name == "help" || name == "h" {
                return Ok(CommandLine::Help);
            }
            return Err(ConfigError::Usage(format!("flag provided but not defined: -{name}")));
        };
        position += 1;
        let value = match (spec.kind, inline_value) {
            (Kind::Bool, Some(value)) => {
                if parse_bool(value).is_none() {
                    return Err(ConfigError::Usage(format!(
                        "invalid boolean value {} for -{name}: parse error",
                        go_quote(value)
                    )));
                }
                value.to_string()
            }
            (Kind::Bool, None) => "true".to_string(),
            (_, Some(value)) => value.to_string(),
            (_, None) => match args.get(position) {
                // Go takes the next argument whatever it looks like, even "-x".
                Some(next) => {
                    position += 1;
                    next.clone()
                }
                None => return Err(ConfigError::Usage(format!("flag needs an argument: -{name}"))),
            },
        };
        if let Err(reason) = check_value(spec.kind, &value) {
            return Err(ConfigError::Usage(format!(
                "invalid value {} for flag -{name}: {reason}",
                go_quote(&value)
            )));
        }
        settings.insert(spec.name, value);
    }
    Ok(CommandLine::Flags(settings))
}

/// Fills in flags from `ETCD_*` variables (etcd's `SetFlagsFromEnv`), visiting flags in name order
/// as Go does. The command line wins: a variable shadowed by a flag is reported, not used. Empty
/// variables count as unset. Notices go to `notices` for the caller to log.
///
/// Difference from etcd 3.4.23, on purpose: that release refuses to start when a variable and its
/// flag are both set ("conflicting environment variable ... is shadowed"); etcd's documentation and
/// the issue ask for "the command line wins", which is what happens here, with a notice.
pub(crate) fn apply_environment(
    settings: &mut Settings,
    env: &BTreeMap<String, String>,
    notices: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let from_command_line: Vec<&'static str> = settings.keys().copied().collect();
    let mut known_variables = Vec::new();
    let mut names: Vec<&'static FlagSpec> = FLAGS.iter().collect();
    names.sort_by_key(|spec| spec.name);
    for spec in names {
        let variable = env_name(spec.name);
        known_variables.push(variable.clone());
        let Some(value) = env.get(&variable) else { continue };
        if value.is_empty() {
            notices.push(format!("unrecognized environment variable {variable}="));
            continue;
        }
        if spec.name == "version" || spec.name == "config-file" {
            // --version is a command, not a setting; ETCD_CONFIG_FILE was read before this.
            if spec.name == "version" {
                notices.push(format!("cannot set special environment variable {variable}={value}; ignored"));
            }
            continue;
        }
        if from_command_line.contains(&spec.name) {
            notices.push(format!(
                "recognized environment variable {variable}, but unused: shadowed by corresponding flag"
            ));
            continue;
        }
        if let Err(reason) = check_value(spec.kind, value) {
            return Err(ConfigError::Invalid(format!(
                "invalid value {} for {variable}: {reason}",
                go_quote(value)
            )));
        }
        notices.push(format!("recognized and used environment variable {variable}={value}"));
        settings.insert(spec.name, value.clone());
    }
    for (variable, value) in env {
        if variable.starts_with("ETCD_") && !known_variables.contains(variable) {
            notices.push(format!("unrecognized environment variable {variable}={value}"));
        }
    }
    Ok(())
}

/// The check Go's `flag.Value.Set` makes for each kind, with Go's error reason.
pub(crate) fn check_value(kind: Kind, value: &str) -> Result<(), String> {
    match kind {
        Kind::Text | Kind::Words => Ok(()),
        Kind::Unsigned => parse_unsigned(value).map(|_| ()),
        Kind::Signed => parse_signed(value).map(|_| ()),
        Kind::Bool => parse_bool(value).map(|_| ()).ok_or_else(|| "parse error".to_string()),
        Kind::Duration => parse_duration_nanos(value).map(|_| ()).ok_or_else(|| "parse error".to_string()),
        Kind::Urls => {
            if value.is_empty() {
                // etcd's URL flags accept "" as "no URLs".
                Ok(())
            } else {
                Url::parse_list(value).map(|_| ())
            }
        }
        Kind::OneOf(choices) => {
            if choices.contains(&value) {
                Ok(())
            } else {
                Err("invalid value".to_string())
            }
        }
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseUint(text, 0, 64)` with Go's error reasons.
pub(crate) fn parse_unsigned(text: &str) -> Result<u64, String> {
    let parse_error = || "parse error".to_string();
    let (radix, digits) = if let Some(rest) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        (16, rest)
    } else if let Some(rest) = text.strip_prefix("0o").or_else(|| text.strip_prefix("0O")) {
        (8, rest)
    } else if let Some(rest) = text.strip_prefix("0b").or_else(|| text.strip_prefix("0B")) {
        (2, rest)
    } else if text.len() > 1 && text.starts_with('0') {
        (8, &text[1..])
    } else {
        (10, text)
    };
    // Underscores may only separate digits (Go's underscoreOK).
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return Err(parse_error());
    }
    let mut value: u64 = 0;
    let mut overflow = false;
    for character in digits.chars().filter(|character| *character != '_') {
        let digit = character.to_digit(radix).ok_or_else(parse_error)?;
        match value.checked_mul(u64::from(radix)).and_then(|shifted| shifted.checked_add(u64::from(digit))) {
            Some(next) => value = next,
            None => overflow = true,
        }
    }
    if overflow { Err("value out of range".to_string()) } else { Ok(value) }
}

/// Go's `strconv.ParseInt(text, 0, 64)`.
pub(crate) fn parse_signed(text: &str) -> Result<i64, String> {
    let (negative, magnitude_text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = parse_unsigned(magnitude_text)?;
    let limit = if negative { i64::MIN.unsigned_abs() } else { i64::MAX as u64 };
    if magnitude > limit {
        return Err("value out of range".to_string());
    }
    // `magnitude <= limit` makes both conversions exact.
    Ok(if negative { 0i64.wrapping_sub_unsigned(magnitude) } else { magnitude as i64 })
}

/// Go's `time.ParseDuration`, in nanoseconds; `None` for anything Go refuses.
pub(crate) fn parse_duration_nanos(text: &str) -> Option<i128> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest.find(|character: char| !(character.is_ascii_digit() || character == '.'))?;
        let number_text = &rest[..number_end];
        if number_text.is_empty() || number_text == "." {
            return None;
        }
        let number: f64 = number_text.parse().ok()?;
        rest = &rest[number_end..];
        let unit_end =
            rest.find(|character: char| character.is_ascii_digit() || character == '.').unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += number * nanos_per_unit;
        rest = &rest[unit_end..];
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let nanos = total as i128;
    Some(if negative { -nanos } else { nanos })
}

/// Go's `%q` for the plain text flags carry: double quotes, with `"` and `\` escaped.
pub(crate) fn go_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            other if other.is_control() => quoted.push_str(&format!("\\x{:02x}", other as u32)),
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

/// A Go duration (`1h30m`, `5m`, `90s`, `250ms`) in milliseconds; `None` when malformed or without
/// a unit. Fractions are not accepted.
pub fn parse_go_duration_ms(text: &str) -> Option<u64> {
    let mut total_ms: u64 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    for _ in 0..8 {
        if rest.is_empty() {
            return Some(total_ms);
        }
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit_ms: u64 = match &rest[..unit_len] {
            "h" => 3_600_000,
            "m" => 60_000,
            "s" => 1_000,
            "ms" => 1,
            _ => return None,
        };
        total_ms = total_ms.checked_add(number.checked_mul(unit_ms)?)?;
        rest = &rest[unit_len..];
    }
    rest.is_empty().then_some(total_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_names_are_unique_and_env_names_follow_etcd() {
        let mut names: Vec<&str> = FLAGS.iter().map(|spec| spec.name).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "a flag is listed twice");
        assert_eq!(env_name("initial-cluster-token"), "ETCD_INITIAL_CLUSTER_TOKEN");
    }

    #[test]
    fn numbers_parse_as_go_strconv_does() {
        assert_eq!(parse_unsigned("100"), Ok(100));
        assert_eq!(parse_unsigned("0x10"), Ok(16));
        assert_eq!(parse_unsigned("0o17"), Ok(15));
        assert_eq!(parse_unsigned("017"), Ok(15));
        assert_eq!(parse_unsigned("1_000"), Ok(1000));
        assert_eq!(parse_unsigned("0"), Ok(0));
        for bad in ["", "-1", "abc", "1.5", "_1", "1__0", "08", " 1"] {
            assert_eq!(parse_unsigned(bad), Err("parse error".to_string()), "{bad:?}");
        }
        assert_eq!(parse_unsigned("18446744073709551616"), Err("value out of range".to_string()));
        assert_eq!(parse_signed("-5"), Ok(-5));
        assert_eq!(parse_signed("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_signed("9223372036854775808"), Err("value out of range".to_string()));
    }

    #[test]
    fn durations_parse_as_go_time_does() {
        assert_eq!(parse_duration_nanos("0"), Some(0));
        assert_eq!(parse_duration_nanos("100ms"), Some(100_000_000));
        assert_eq!(parse_duration_nanos("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration_nanos("1.5s"), Some(1_500_000_000));
        for bad in ["", "10", "x", "5d", "ms"] {
            assert_eq!(parse_duration_nanos(bad), None, "{bad:?}");
        }
    }
}
