//! etcd-compatible configuration of the `concord` server: flags, `ETCD_*` variables, the YAML
//! `--config-file`, their validation, and the member and cluster IDs derived from them.
//!
//! Job: turn what an etcd 3.4 operator already has (a command line, an environment, a config file)
//! into one checked [`ServerConfig`], refusing at start what etcd refuses, in etcd's words.
//! Boundaries: pure. Nothing here opens a socket, spawns a thread or reads a clock; the only IO is
//! [`load`] reading the config file (and [`load_from_process`] reading the process's arguments and
//! environment), and every parse step below them takes explicit inputs so tests can drive it.
//!
//! Precedence, as in etcd: with `--config-file` (or `ETCD_CONFIG_FILE`) the file is the whole
//! configuration and other flags and variables are ignored (flags are still checked for syntax);
//! without it, command-line flags win over `ETCD_*` variables, which win over defaults.
//!
//! Bootstrap checks that only make sense when a member has no data yet (its name in
//! `--initial-cluster`, advertised URLs agreeing with it, duplicate URLs) are not run by [`load`]:
//! etcd ignores the `--initial-*` flags once a member has data, so the server calls
//! [`ServerConfig::initial_membership`] only when its data dir holds no WAL.
//!
//! Deliberate differences from etcd 3.4.23 (each covered by a test):
//! - a flag and its `ETCD_*` variable both set: the flag wins with a notice (3.4.23 refuses to
//!   start; etcd's documentation and the process issue say the command line wins);
//! - `--logger` defaults to `zap` (JSON lines), etcd 3.5's default, not 3.4's `capnslog`;
//! - unix-socket URLs are refused at start; URLs with user info, a query or a fragment are refused;
//! - DNS SRV discovery (`--discovery-srv`) combines the `_etcd-server-ssl` and `_etcd-server` records
//!   as etcd documents it; etcd 3.4.23 drops the plain `_etcd-server` records and fails when no
//!   `-ssl` record exists (a bug fixed in later etcd releases);
//! - with `--discovery`, the member and cluster IDs are salted with the discovery URL (etcd's rule),
//!   so `initial_cluster_token` holds that URL and `initial_cluster` this member alone until the
//!   discovery service answers;
//! - TLS (`tls.rs`): a certificate without its key, and TLS cipher suites Go knows but Concord's TLS
//!   library lacks (CBC, RC4, 3DES, RSA key exchange), are refused at start; etcd 3.4 reports the
//!   first only once the member is up, and takes the second;
//! - the advertise check compares URLs as text; etcd also resolves host names;
//! - `--initial-cluster` syntax is checked at every start, not only at bootstrap;
//! - `--cors` takes any origin text; etcd 3.4 insists on `host:port` URLs (refusing
//!   `http://a.com`), which a browser's `Origin` header for a default port never matches;
//! - an unknown `--log-level` is an error, where etcd panics; an unknown config-file key gets a
//!   notice, where etcd is silent; a number or boolean is accepted for a text option in YAML.

mod bootstrap_modes;
mod file;
mod flags;
mod help;
mod ids;
mod limits;
mod tls;
mod url;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use bootstrap_modes::{DiscoveryFallback, DiscoveryFlags, ProxyFlags, ProxyMode};
pub use help::{ETCD_COMPATIBLE_VERSION, help_text, usage_text, version_text};
pub use ids::{
    InitialMember, Member, Membership, added_member_id, cluster_id, format_id, member_id,
    member_id_with_time, parse_id, parse_initial_cluster,
};
pub use limits::{
    DEFAULT_CLIENT_READ_TIMEOUT_MS, DEFAULT_MAX_CONNECTION_REQUESTS_PER_SECOND,
    DEFAULT_MAX_REQUEST_HEADER_BYTES, NetworkLimits,
};
pub use tls::{SUPPORTED_CIPHER_SUITES, TlsInfo};
pub use url::{Scheme, Url};

use flags::{CommandLine, Role, Settings};

/// Why the process must not start. The message is one line in etcd's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A command-line syntax error, as Go's flag package reports it: print the message and
    /// [`usage_text`] to stderr and exit with status 2.
    Usage(String),
    /// Anything else that stops the start: print the message and exit with status 1.
    Invalid(String),
}

impl ConfigError {
    /// The exit status etcd uses for this kind of error.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Usage(_) => 2,
            ConfigError::Invalid(_) => 1,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ConfigError::Usage(message) | ConfigError::Invalid(message) => message,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.message())
    }
}

impl std::error::Error for ConfigError {}

/// What the command line asks the process to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loaded {
    Run(Box<ServerConfig>),
    /// `--version`: print [`version_text`] and exit 0.
    PrintVersion,
    /// `-h`/`--help`: print [`help_text`] and exit 0.
    PrintHelp,
}

/// `--initial-cluster-state`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClusterState {
    /// Bootstrap a new cluster from `--initial-cluster`.
    #[default]
    New,
    /// Join a running cluster that already lists this member.
    Existing,
}

/// `--logger`. Concord always logs JSON lines (etcd's zap format); `capnslog` is accepted so that
/// etcd 3.4 command lines keep working.
///
/// Default: `zap`. etcd 3.4.23's own default is `capnslog` (with a deprecation warning); Concord
/// defaults to the structured logger etcd 3.5 made the default, as the process issue asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Logger {
    #[default]
    Zap,
    Capnslog,
}

/// `--log-level`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
    Panic,
    Fatal,
}

/// Where the configuration came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    /// Command-line flags and `ETCD_*` variables.
    CommandLine,
    /// A YAML file given by `--config-file` or `ETCD_CONFIG_FILE`.
    File(PathBuf),
}

/// The checked configuration of one `concord` server. Field names follow etcd's flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// `--name` (default `default`).
    pub name: String,
    /// `--data-dir` (default `${name}.etcd`).
    pub data_dir: PathBuf,
    /// `--wal-dir`: a dedicated WAL directory, or `None` for `<data_dir>/member/wal`.
    pub wal_dir: Option<PathBuf>,
    /// `--listen-client-urls` (default `http://localhost:2379`), sorted, unique.
    pub listen_client_urls: Vec<Url>,
    /// `--advertise-client-urls` (default `http://localhost:2379`), sorted, unique.
    pub advertise_client_urls: Vec<Url>,
    /// `--listen-peer-urls` (default `http://localhost:2380`), sorted, unique.
    pub listen_peer_urls: Vec<Url>,
    /// `--initial-advertise-peer-urls` (default `http://localhost:2380`), sorted, unique.
    pub initial_advertise_peer_urls: Vec<Url>,
    /// `--initial-cluster`, one entry per name in order of first appearance; a name given several
    /// times has several peer URLs (etcd's rule). Default `default=http://localhost:2380`, with
    /// etcd's substitution: when it was left at that default and `--name` is not `default`, the
    /// entry takes this member's name (`etcd --name foo` alone starts a cluster of `foo`).
    pub initial_cluster: Vec<InitialMember>,
    /// `--initial-cluster-state` (default `new`).
    pub initial_cluster_state: ClusterState,
    /// `--initial-cluster-token` (default `etcd-cluster`): salts member and cluster IDs.
    pub initial_cluster_token: String,
    /// `--heartbeat-interval` in milliseconds (default 100).
    pub heartbeat_interval_ms: u64,
    /// `--election-timeout` in milliseconds (default 1000); at least 5 heartbeats, at most 50 s.
    pub election_timeout_ms: u64,
    /// `--snapshot-count`: applied entries between snapshots (default 100000, etcd 3.4's; 0 also
    /// means the default, as in etcd).
    pub snapshot_count: u64,
    /// `--max-snapshots`: snapshot files kept, 0 = unlimited (default 5).
    pub max_snapshots: u64,
    /// `--max-wals`: WAL files kept, 0 = unlimited (default 5).
    pub max_wals: u64,
    /// `--max-txn-ops`: operations in one v3 txn at most (default 128).
    pub max_txn_ops: u64,
    /// `--quota-backend-bytes` resolved as etcd does: 0 is the default 2 GiB, a negative value turns
    /// the quota off (`None`). Over it the v3 keyspace raises the NOSPACE alarm.
    pub quota_backend_bytes: Option<u64>,
    /// `--auto-compaction-mode` with `--auto-compaction-retention` (default off).
    pub auto_compaction: AutoCompactionFlags,
    /// `--experimental-watch-progress-notify-interval`: how often `progress_notify` watches hear of
    /// the current revision; `None` (unset, or not above zero, as etcd ignores it then) is etcd's 10 min.
    pub watch_progress_notify_interval_ms: Option<u64>,
    /// `--max-client-connections` (concord only): open client connections per listener at most.
    pub max_client_connections: usize,
    /// The listeners' other bounds against bad input (concord-only flags, see [`NetworkLimits`]).
    pub network_limits: NetworkLimits,
    /// `--max-watchers` (concord only): watchers one member serves at most.
    pub max_watchers: usize,
    /// `--v2-watch-history` and `--v2-watch-history-bytes` (concord only): the v2 events kept for
    /// `waitIndex` (etcd keeps a fixed 1000).
    pub v2_watch_history: store::HistoryLimits,
    /// `--linearizable-reads` (concord only): every v2 GET goes through ReadIndex.
    pub linearizable_reads: bool,
    /// `--strict-reconfig-check` (default true in etcd 3.4).
    pub strict_reconfig_check: bool,
    /// `--force-new-cluster`: restart from this member's data as a one-member cluster.
    pub force_new_cluster: bool,
    /// `--pre-vote` (default false, as etcd 3.4).
    pub pre_vote: bool,
    /// `--cors`: allowed origins, sorted, unique; `*` (the default) or empty allows all.
    pub cors: Vec<String>,
    /// `--logger`.
    pub logger: Logger,
    /// `--log-outputs`: `default`, `stderr`, `stdout` or file paths (default `default` = stderr).
    pub log_outputs: Vec<String>,
    /// `--log-level` (default info; `--debug` makes it debug).
    pub log_level: LogLevel,
    /// `--enable-v2` as given (default false, as etcd 3.4). Concord serves the v2 API either way;
    /// the value is kept only so the start-up log can show it.
    pub enable_v2: bool,
    /// `--max-request-bytes`: the largest client request body (default 1.5 MiB).
    pub max_request_bytes: u64,
    /// `--listen-metrics-urls`: extra listeners for `/metrics` and `/health` (default none).
    pub listen_metrics_urls: Vec<Url>,
    /// `--unsafe-no-fsync`: skip fsync (benchmarks only; a machine crash loses data).
    pub unsafe_no_fsync: bool,
    /// TLS for clients: `--cert-file`, `--key-file`, `--trusted-ca-file`, `--client-cert-auth`,
    /// `--auto-tls`, `--client-crl-file`, `--client-cert-allowed-hostname`.
    pub client_tls: TlsInfo,
    /// TLS between peers: the `--peer-*` forms of the same flags, and `--peer-cert-allowed-cn`.
    pub peer_tls: TlsInfo,
    /// `--cipher-suites`: Go's names of the TLS 1.2 suites offered, in order (empty: the library's).
    pub cipher_suites: Vec<String>,
    /// `--experimental-peer-skip-client-san-verification`: a peer's client certificate need not
    /// name the address it connects from.
    pub peer_skip_client_san_verification: bool,
    /// `--discovery`, `--discovery-fallback`, `--discovery-proxy`.
    pub discovery: DiscoveryFlags,
    /// `--proxy` and the `--proxy-*` timings.
    pub proxy: ProxyFlags,
    /// Where this configuration came from.
    pub source: ConfigSource,
    /// Things etcd would log at start (variables used or ignored, flags accepted but ignored,
    /// defaults taken); the process logs them once its logger is up.
    pub notices: Vec<String>,
}

impl Default for ServerConfig {
    /// The configuration of `concord` with no flags, no variables and no file.
    fn default() -> ServerConfig {
        match build(Settings::new(), ConfigSource::CommandLine, Vec::new()) {
            Ok(config) => config,
            // The defaults are constants checked by the tests; failing here is a programming error.
            Err(error) => unreachable!("etcd's defaults must be valid: {error}"),
        }
    }
}

/// Reads the configuration from `args` (without the program name) and `env`, reading the config
/// file from disk when one is named.
pub fn load(args: &[String], env: &BTreeMap<String, String>) -> Result<Loaded, ConfigError> {
    load_with_reader(args, env, &|path| std::fs::read_to_string(path).map_err(|error| error.to_string()))
}

/// [`load`] for this process: `std::env::args` and `std::env::vars` (variables whose name or value
/// is not UTF-8 are skipped; no etcd variable is).
pub fn load_from_process() -> Result<Loaded, ConfigError> {
    let args: Vec<String> =
        std::env::args_os().skip(1).map(|arg| arg.to_string_lossy().into_owned()).collect();
    let env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect();
    load(&args, &env)
}

/// [`load`] with the file read supplied by the caller (tests pass an in-memory map).
pub fn load_with_reader(
    args: &[String],
    env: &BTreeMap<String, String>,
    read_file: &dyn Fn(&Path) -> Result<String, String>,
) -> Result<Loaded, ConfigError> {
    let mut settings = match flags::parse_command_line(args)? {
        CommandLine::Help => return Ok(Loaded::PrintHelp),
        CommandLine::Flags(settings) => settings,
    };
    if settings.get("version").and_then(|value| flags::parse_bool(value)) == Some(true) {
        return Ok(Loaded::PrintVersion);
    }
    let config_file = settings
        .get("config-file")
        .filter(|path| !path.is_empty())
        .or_else(|| env.get("ETCD_CONFIG_FILE").filter(|path| !path.is_empty()))
        .cloned();
    let mut notices = Vec::new();
    match config_file {
        Some(path_text) => {
            let path = PathBuf::from(&path_text);
            let text = read_file(&path)
                .map_err(|reason| ConfigError::Invalid(format!("open {path_text}: {reason}")))?;
            notices.push(format!(
                "loaded server configuration from {path_text:?}; other configuration command line flags and \
                 environment variables will be ignored if provided"
            ));
            let file_settings = file::settings_from_yaml(&text, &mut notices)
                .map_err(|reason| ConfigError::Invalid(format!("config file {path_text}: {reason}")))?;
            build(file_settings, ConfigSource::File(path), notices)
                .map(|config| Loaded::Run(Box::new(config)))
        }
        None => {
            flags::apply_environment(&mut settings, env, &mut notices)?;
            build(settings, ConfigSource::CommandLine, notices).map(|config| Loaded::Run(Box::new(config)))
        }
    }
}

/// The longest election timeout etcd accepts, in milliseconds.
const MAX_ELECTION_TIMEOUT_MS: u64 = 50_000;

const DEFAULT_NAME: &str = "default";
/// etcd 3.4's `--snapshot-count` default (etcd 2 used 10000).
const DEFAULT_SNAPSHOT_COUNT: u64 = 100_000;
const DEFAULT_CLIENT_URL: &str = "http://localhost:2379";
const DEFAULT_PEER_URL: &str = "http://localhost:2380";

/// Turns checked flag texts into a [`ServerConfig`] and runs etcd's start-up validation
/// (`embed.Config.Validate` plus etcdmain's checks), in etcd's order.
fn build(
    settings: Settings,
    source: ConfigSource,
    mut notices: Vec<String>,
) -> Result<ServerConfig, ConfigError> {
    check_flag_roles(&settings, &mut notices)?;
    let reader = Reader { settings: &settings };
    let name = reader.text("name").unwrap_or(DEFAULT_NAME).to_string();
    let data_dir = match reader.text("data-dir").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let dir = format!("{name}.etcd");
            notices.push(format!("'data-dir' was empty; using default {dir}"));
            PathBuf::from(dir)
        }
    };
    let urls = ListenAndAdvertise::read(&reader)?;
    let initial_cluster_state = match reader.text("initial-cluster-state").unwrap_or("new") {
        "new" => ClusterState::New,
        "existing" => ClusterState::Existing,
        other => return Err(invalid(format!("unexpected clusterState {}", flags::go_quote(other)))),
    };
    let heartbeat_interval_ms = reader.unsigned("heartbeat-interval", 100)?;
    let election_timeout_ms = reader.unsigned("election-timeout", 1000)?;
    // embed.Config.Validate, in its order.
    urls.validate(&settings, &source)?;
    validate_timing(heartbeat_interval_ms, election_timeout_ms)?;
    // embed.StartEtcd: the listeners, peers first.
    let tls = tls::TlsFlags::read(&reader, &urls.listen_peer_urls, &urls.listen_client_urls, &mut notices)?;
    let (logger, log_outputs, log_level) = read_logging(&reader)?;
    let snapshot_count = read_snapshot_count(&reader, &mut notices)?;
    let max_client_connections =
        reader.size("max-client-connections", crate::http::DEFAULT_MAX_CLIENT_CONNECTIONS as u64)?;
    let max_request_bytes = reader.unsigned("max-request-bytes", 1_572_864)?;
    let network_limits = limits::read_network_limits(&reader, max_client_connections, max_request_bytes)?;
    let discovery = bootstrap_modes::read_discovery(&settings)?;
    let proxy = bootstrap_modes::read_proxy(&settings)?;
    let mut initial_cluster = read_initial_cluster(&reader, &name, &urls.initial_advertise_peer_urls)?;
    let mut initial_cluster_token =
        reader.text("initial-cluster-token").unwrap_or("etcd-cluster").to_string();
    if discovery.is_enabled() {
        // etcd's PeerURLsMapAndToken: this member alone, IDs salted with the discovery URL.
        initial_cluster =
            parse_initial_cluster(&initial_cluster_from_name(&name, &urls.initial_advertise_peer_urls))
                .map_err(|reason| invalid(format!("error setting up initial cluster: {reason}")))?;
        initial_cluster_token = discovery.url.clone();
    } else if discovery.is_srv_enabled() {
        // Until the SRV records are read (only when the data dir is empty), this member alone.
        initial_cluster =
            parse_initial_cluster(&initial_cluster_from_name(&name, &urls.initial_advertise_peer_urls))
                .map_err(|reason| invalid(format!("error setting up initial cluster: {reason}")))?;
    } else if !discovery.srv_service_name.is_empty() && !settings.contains_key("initial-cluster") {
        // etcdmain clears the default initial cluster when any discovery flag is set.
        initial_cluster = Vec::new();
    }
    Ok(ServerConfig {
        name,
        data_dir,
        wal_dir: reader.text("wal-dir").filter(|dir| !dir.is_empty()).map(PathBuf::from),
        listen_client_urls: urls.listen_client_urls,
        advertise_client_urls: urls.advertise_client_urls,
        listen_peer_urls: urls.listen_peer_urls,
        initial_advertise_peer_urls: urls.initial_advertise_peer_urls,
        initial_cluster,
        initial_cluster_state,
        initial_cluster_token,
        heartbeat_interval_ms,
        election_timeout_ms,
        snapshot_count,
        max_snapshots: reader.unsigned("max-snapshots", 5)?,
        max_wals: reader.unsigned("max-wals", 5)?,
        max_client_connections,
        network_limits,
        max_txn_ops: reader.unsigned("max-txn-ops", 128)?,
        quota_backend_bytes: read_quota_backend_bytes(&reader, &mut notices)?,
        auto_compaction: read_auto_compaction(&reader)?,
        watch_progress_notify_interval_ms: reader
            .positive_duration_ms("experimental-watch-progress-notify-interval"),
        max_watchers: reader.size("max-watchers", crate::node::DEFAULT_MAX_WATCHERS as u64)?,
        v2_watch_history: read_v2_watch_history(&reader)?,
        linearizable_reads: reader.boolean("linearizable-reads", false)?,
        strict_reconfig_check: reader.boolean("strict-reconfig-check", true)?,
        force_new_cluster: reader.boolean("force-new-cluster", false)?,
        pre_vote: reader.boolean("pre-vote", false)?,
        cors: reader.words("cors", "*"),
        logger,
        log_outputs,
        log_level,
        enable_v2: reader.boolean("enable-v2", false)?,
        max_request_bytes,
        listen_metrics_urls: urls.listen_metrics_urls,
        unsafe_no_fsync: reader.boolean("unsafe-no-fsync", false)?,
        client_tls: tls.client,
        peer_tls: tls.peer,
        cipher_suites: tls.cipher_suites,
        peer_skip_client_san_verification: tls.peer_skip_client_san_verification,
        discovery,
        proxy,
        source,
        notices,
    })
}

fn invalid(message: String) -> ConfigError {
    ConfigError::Invalid(message)
}

/// Flags concord ignores get a notice.
fn check_flag_roles(settings: &Settings, notices: &mut Vec<String>) -> Result<(), ConfigError> {
    for name in settings.keys() {
        let Some(spec) = flags::find(name) else { continue };
        match spec.role {
            Role::Used => {}
            Role::Ignored => {
                notices.push(format!("--{name} is accepted for compatibility and ignored by concord"))
            }
        }
    }
    Ok(())
}

/// Typed reads of the checked flag texts, with etcd's error wording.
struct Reader<'a> {
    settings: &'a Settings,
}

impl Reader<'_> {
    fn text(&self, name: &str) -> Option<&str> {
        self.settings.get(name).map(String::as_str)
    }

    fn unsigned(&self, name: &str, default: u64) -> Result<u64, ConfigError> {
        match self.text(name) {
            None => Ok(default),
            Some(value) => flags::parse_unsigned(value).map_err(|reason| {
                invalid(format!("invalid value {} for {name}: {reason}", flags::go_quote(value)))
            }),
        }
    }

    /// An unsigned count that must fit this machine's `usize`.
    fn size(&self, name: &str, default: u64) -> Result<usize, ConfigError> {
        let value = self.unsigned(name, default)?;
        usize::try_from(value)
            .map_err(|_| invalid(format!("invalid value \"{value}\" for {name}: out of range")))
    }

    /// A duration flag (its text already checked as a Go duration) in whole milliseconds, when set
    /// above zero.
    fn positive_duration_ms(&self, name: &str) -> Option<u64> {
        let nanos = flags::parse_duration_nanos(self.text(name)?)?;
        u64::try_from(nanos / 1_000_000).ok().filter(|milliseconds| *milliseconds > 0)
    }

    fn boolean(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.text(name) {
            None => Ok(default),
            Some(value) => flags::parse_bool(value).ok_or_else(|| {
                invalid(format!("invalid value {} for {name}: parse error", flags::go_quote(value)))
            }),
        }
    }

    fn urls(&self, name: &str, default: &str) -> Result<Vec<Url>, ConfigError> {
        let value = self.text(name).unwrap_or(default);
        if value.is_empty() {
            return Ok(Vec::new());
        }
        Url::parse_list(value)
            .map_err(|reason| invalid(format!("unexpected error setting up {name}: {reason}")))
    }

    /// A comma-separated list, trimmed, in the order given (empty when unset).
    fn words_in_order(&self, name: &str) -> Vec<String> {
        self.text(name)
            .unwrap_or_default()
            .split(',')
            .map(|word| word.trim().to_string())
            .filter(|word| !word.is_empty())
            .collect()
    }

    /// A comma-separated list, trimmed, sorted and without duplicates.
    fn words(&self, name: &str, default: &str) -> Vec<String> {
        let mut list: Vec<String> = self
            .text(name)
            .unwrap_or(default)
            .split(',')
            .map(|word| word.trim().to_string())
            .filter(|word| !word.is_empty())
            .collect();
        list.sort();
        list.dedup();
        list
    }
}

/// The listen and advertise URL flags, read together because etcd validates them together.
struct ListenAndAdvertise {
    listen_peer_urls: Vec<Url>,
    listen_client_urls: Vec<Url>,
    listen_metrics_urls: Vec<Url>,
    initial_advertise_peer_urls: Vec<Url>,
    advertise_client_urls: Vec<Url>,
}

impl ListenAndAdvertise {
    fn read(reader: &Reader) -> Result<ListenAndAdvertise, ConfigError> {
        Ok(ListenAndAdvertise {
            listen_peer_urls: reader.urls("listen-peer-urls", DEFAULT_PEER_URL)?,
            listen_client_urls: reader.urls("listen-client-urls", DEFAULT_CLIENT_URL)?,
            listen_metrics_urls: reader.urls("listen-metrics-urls", "")?,
            initial_advertise_peer_urls: reader.urls("initial-advertise-peer-urls", DEFAULT_PEER_URL)?,
            advertise_client_urls: reader.urls("advertise-client-urls", DEFAULT_CLIENT_URL)?,
        })
    }

    /// Listen URLs must name an IP; advertised URLs must have a host; and (etcdmain, command line only)
    /// a member listening on a specific address must say where clients can reach it.
    fn validate(&self, settings: &Settings, source: &ConfigSource) -> Result<(), ConfigError> {
        for list in [&self.listen_peer_urls, &self.listen_client_urls, &self.listen_metrics_urls] {
            if let Some(url) = list.iter().find(|url| !url.is_bindable()) {
                return Err(invalid(format!("expected IP in URL for binding ({url})")));
            }
        }
        for (flag, list) in [
            ("initial-advertise-peer-urls", &self.initial_advertise_peer_urls),
            ("advertise-client-urls", &self.advertise_client_urls),
        ] {
            if let Some(url) = list.iter().find(|url| url.host().is_empty()) {
                return Err(invalid(format!(
                    r#"--{flag} "{}" must be "host:port" (unexpected empty host ({url}))"#,
                    url::join(list)
                )));
            }
        }
        // etcdmain clears the default advertise URLs when only the listen URLs were given, unless the
        // process may become a proxy. Not checked for config files, where etcd keeps the default.
        if *source == ConfigSource::CommandLine
            && !bootstrap_modes::may_be_proxy(settings)
            && settings.contains_key("listen-client-urls")
            && !settings.contains_key("advertise-client-urls")
        {
            return Err(invalid(
                "--advertise-client-urls is required when --listen-client-urls is set explicitly".to_string(),
            ));
        }
        Ok(())
    }
}

fn validate_timing(heartbeat_interval_ms: u64, election_timeout_ms: u64) -> Result<(), ConfigError> {
    if heartbeat_interval_ms == 0 {
        return Err(invalid(format!("--heartbeat-interval must be >0 (set to {heartbeat_interval_ms}ms)")));
    }
    if election_timeout_ms == 0 {
        return Err(invalid(format!("--election-timeout must be >0 (set to {election_timeout_ms}ms)")));
    }
    if heartbeat_interval_ms.saturating_mul(5) > election_timeout_ms {
        return Err(invalid(format!(
            "--election-timeout[{election_timeout_ms}ms] should be at least as 5 times as \
             --heartbeat-interval[{heartbeat_interval_ms}ms]"
        )));
    }
    if election_timeout_ms > MAX_ELECTION_TIMEOUT_MS {
        return Err(invalid(format!(
            "--election-timeout[{election_timeout_ms}ms] is too long, and should be set less than \
             {MAX_ELECTION_TIMEOUT_MS}ms"
        )));
    }
    Ok(())
}

fn read_logging(reader: &Reader) -> Result<(Logger, Vec<String>, LogLevel), ConfigError> {
    let logger = match reader.text("logger").unwrap_or("zap") {
        "zap" => Logger::Zap,
        "capnslog" => Logger::Capnslog,
        other => return Err(invalid(format!("unknown logger option {}", flags::go_quote(other)))),
    };
    let mut log_outputs = reader.words("log-outputs", "default");
    if log_outputs.is_empty() {
        log_outputs.push("default".to_string());
    }
    if reader.boolean("debug", false)? {
        return Ok((logger, log_outputs, LogLevel::Debug));
    }
    let log_level = match reader.text("log-level").unwrap_or("info") {
        "debug" => LogLevel::Debug,
        "info" => LogLevel::Info,
        "warn" => LogLevel::Warn,
        "error" => LogLevel::Error,
        "panic" => LogLevel::Panic,
        "fatal" => LogLevel::Fatal,
        other => return Err(invalid(format!("unknown level {}", flags::go_quote(other)))),
    };
    Ok((logger, log_outputs, log_level))
}

/// etcd's auto-compaction flags, checked: periodic retention in milliseconds (a Go duration, or a
/// bare number of hours), or a number of revisions to keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AutoCompactionFlags {
    #[default]
    Off,
    Periodic {
        retention_ms: u64,
    },
    Revision {
        retention_revisions: u64,
    },
}

fn read_auto_compaction(reader: &Reader) -> Result<AutoCompactionFlags, ConfigError> {
    let retention = reader.text("auto-compaction-retention").unwrap_or("0").trim();
    let mode = reader.text("auto-compaction-mode").unwrap_or("periodic");
    let bad_retention =
        || invalid(format!("invalid auto-compaction-retention {}", flags::go_quote(retention)));
    match mode {
        "periodic" => {
            let retention_ms = match retention.parse::<u64>() {
                Ok(hours) => hours.saturating_mul(3_600_000),
                Err(_) => flags::parse_go_duration_ms(retention).ok_or_else(bad_retention)?,
            };
            Ok(if retention_ms == 0 {
                AutoCompactionFlags::Off
            } else {
                AutoCompactionFlags::Periodic { retention_ms }
            })
        }
        "revision" => {
            let retention_revisions = retention.parse::<u64>().map_err(|_| bad_retention())?;
            Ok(if retention_revisions == 0 {
                AutoCompactionFlags::Off
            } else {
                AutoCompactionFlags::Revision { retention_revisions }
            })
        }
        other => Err(invalid(format!("unknown auto-compaction-mode {}", flags::go_quote(other)))),
    }
}

/// etcdserver: a snapshot count of 0 means the default, not "never".
fn read_v2_watch_history(reader: &Reader) -> Result<store::HistoryLimits, ConfigError> {
    let limits = store::HistoryLimits {
        max_events: reader.size("v2-watch-history", store::HISTORY_CAPACITY as u64)?,
        max_bytes: reader.size("v2-watch-history-bytes", store::DEFAULT_HISTORY_BYTES as u64)?,
    };
    limits.validate().map_err(invalid)?;
    Ok(limits)
}

fn read_snapshot_count(reader: &Reader, notices: &mut Vec<String>) -> Result<u64, ConfigError> {
    let snapshot_count = reader.unsigned("snapshot-count", DEFAULT_SNAPSHOT_COUNT)?;
    if snapshot_count == 0 {
        notices.push(format!("set snapshot count to default {DEFAULT_SNAPSHOT_COUNT}"));
        return Ok(DEFAULT_SNAPSHOT_COUNT);
    }
    Ok(snapshot_count)
}

/// etcd's backend quota: 0 means the default (2 GiB), a negative value disables it, and a value above
/// etcd's maximum (8 GiB) is used with a warning.
fn read_quota_backend_bytes(reader: &Reader, notices: &mut Vec<String>) -> Result<Option<u64>, ConfigError> {
    let text = reader.text("quota-backend-bytes").unwrap_or("0");
    let quota = flags::parse_signed(text).map_err(|reason| {
        invalid(format!("invalid value {} for quota-backend-bytes: {reason}", flags::go_quote(text)))
    })?;
    let default = crate::node::DEFAULT_QUOTA_BACKEND_BYTES;
    let maximum = crate::node::MAX_QUOTA_BACKEND_BYTES;
    match u64::try_from(quota) {
        Err(_) => {
            notices.push("disabled backend quota".to_string());
            Ok(None)
        }
        Ok(0) => Ok(Some(default)),
        Ok(quota) => {
            if quota > maximum {
                notices.push(format!("backend quota {quota} exceeds maximum value {maximum}"));
            }
            Ok(Some(quota))
        }
    }
}

/// etcdmain: an initial cluster left at its default follows --name.
fn read_initial_cluster(
    reader: &Reader,
    name: &str,
    initial_advertise_peer_urls: &[Url],
) -> Result<Vec<InitialMember>, ConfigError> {
    let mut initial_cluster_text =
        reader.text("initial-cluster").unwrap_or("default=http://localhost:2380").to_string();
    if name != DEFAULT_NAME
        && initial_cluster_text == initial_cluster_from_name(DEFAULT_NAME, initial_advertise_peer_urls)
    {
        initial_cluster_text = initial_cluster_from_name(name, initial_advertise_peer_urls);
    }
    parse_initial_cluster(&initial_cluster_text)
        .map_err(|reason| invalid(format!("error setting up initial cluster: {reason}")))
}

/// etcd's `InitialClusterFromName`: `name=url` for each advertised peer URL.
fn initial_cluster_from_name(name: &str, advertise_peer_urls: &[Url]) -> String {
    let name = if name.is_empty() { DEFAULT_NAME } else { name };
    advertise_peer_urls.iter().map(|url| format!("{name}={url}")).collect::<Vec<_>>().join(",")
}

impl ServerConfig {
    /// The WAL directory: `--wal-dir`, else `<data-dir>/member/wal` as in etcd.
    pub fn effective_wal_dir(&self) -> PathBuf {
        self.wal_dir.clone().unwrap_or_else(|| self.data_dir.join("member").join("wal"))
    }

    /// The snapshot directory, `<data-dir>/member/snap` as in etcd.
    pub fn snap_dir(&self) -> PathBuf {
        self.data_dir.join("member").join("snap")
    }

    /// Whether `origin` may make cross-origin requests (`--cors`).
    pub fn cors_allows(&self, origin: &str) -> bool {
        self.cors.is_empty() || self.cors.iter().any(|allowed| allowed == "*" || allowed == origin)
    }

    /// The election timeout in heartbeat ticks, as the Raft core counts time (at least 5).
    pub fn election_ticks(&self) -> u64 {
        self.election_timeout_ms / self.heartbeat_interval_ms.max(1)
    }
}
