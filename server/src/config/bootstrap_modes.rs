//! The discovery and v2 proxy flags (`--discovery*` including DNS SRV, `--proxy*`) read into their typed settings, with
//! etcd 3.4's start-up check that only one bootstrap source is given.

use super::flags::{self, Settings};
use super::{ConfigError, invalid};

/// `--discovery-fallback`: what a member does when the discovery token is already full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DiscoveryFallback {
    /// Stop with etcd's "cluster is full" error.
    Exit,
    /// Start as a v2 proxy to the cluster the token formed (etcd 3.4's default).
    #[default]
    Proxy,
}

/// `--discovery`, `--discovery-fallback`, `--discovery-proxy`, `--discovery-srv`, `--discovery-srv-name`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoveryFlags {
    /// The discovery URL (`http://host:port/v2/keys/<dir>/<token>`), empty when not bootstrapping by
    /// discovery.
    pub url: String,
    pub fallback: DiscoveryFallback,
    /// An HTTP proxy (`http://host:port`) for reaching the discovery service; empty for none.
    pub http_proxy: String,
    /// `--discovery-srv`: the DNS domain whose `_etcd-server-ssl._tcp` and `_etcd-server._tcp` SRV
    /// records list the initial cluster; empty when not bootstrapping by DNS.
    pub srv_domain: String,
    /// `--discovery-srv-name`: a suffix to the SRV service names (`_etcd-server-<name>._tcp`).
    pub srv_service_name: String,
}

impl DiscoveryFlags {
    /// Whether a member with an empty data dir bootstraps from a discovery token.
    pub fn is_enabled(&self) -> bool {
        !self.url.is_empty()
    }

    /// Whether a member with an empty data dir bootstraps from DNS SRV records.
    pub fn is_srv_enabled(&self) -> bool {
        !self.srv_domain.is_empty()
    }
}

/// `--proxy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProxyMode {
    #[default]
    Off,
    /// Forward `GET` only; anything else is answered 501.
    Readonly,
    /// Forward everything.
    On,
}

/// `--proxy` and its timings, all in milliseconds as etcd gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyFlags {
    pub mode: ProxyMode,
    /// How long an endpoint that failed is skipped (default 5000).
    pub failure_wait_ms: u64,
    /// How often the endpoints are refreshed from the membership (default 30000).
    pub refresh_interval_ms: u64,
    /// Connecting to an endpoint at most (default 1000).
    pub dial_timeout_ms: u64,
    /// Sending a request to an endpoint at most (default 5000).
    pub write_timeout_ms: u64,
    /// Waiting for an endpoint's answer at most; 0 (the default) waits forever (long-poll watches).
    pub read_timeout_ms: u64,
}

impl Default for ProxyFlags {
    fn default() -> ProxyFlags {
        ProxyFlags {
            mode: ProxyMode::Off,
            failure_wait_ms: 5000,
            refresh_interval_ms: 30_000,
            dial_timeout_ms: 1000,
            write_timeout_ms: 5000,
            read_timeout_ms: 0,
        }
    }
}

/// etcdmain's `mayBeProxy`: a proxy mode, or discovery that may fall back to a proxy.
pub(super) fn may_be_proxy(settings: &Settings) -> bool {
    let proxy_on = settings.get("proxy").is_some_and(|mode| mode != "off");
    let discovery = settings.get("discovery").is_some_and(|url| !url.is_empty());
    let fallback_exit = settings.get("discovery-fallback").is_some_and(|fallback| fallback == "exit");
    proxy_on || (discovery && !fallback_exit)
}

/// Reads the discovery flags and runs etcd's check that `--initial-cluster`, `--discovery` and
/// `--discovery-srv` are not combined.
pub(super) fn read_discovery(settings: &Settings) -> Result<DiscoveryFlags, ConfigError> {
    let text = |name: &str| settings.get(name).cloned().unwrap_or_default();
    let discovery = DiscoveryFlags {
        url: text("discovery"),
        fallback: match text("discovery-fallback").as_str() {
            "exit" => DiscoveryFallback::Exit,
            _ => DiscoveryFallback::Proxy,
        },
        http_proxy: text("discovery-proxy"),
        srv_domain: text("discovery-srv"),
        srv_service_name: text("discovery-srv-name"),
    };
    let initial_cluster_given = settings.get("initial-cluster").is_some_and(|value| !value.is_empty());
    let sources = [initial_cluster_given, discovery.is_enabled(), discovery.is_srv_enabled()];
    if sources.iter().filter(|given| **given).count() > 1 {
        return Err(invalid(
            "multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" \
             or \"discovery-srv\""
                .to_string(),
        ));
    }
    Ok(discovery)
}

/// Reads `--proxy` and its timings.
pub(super) fn read_proxy(settings: &Settings) -> Result<ProxyFlags, ConfigError> {
    let defaults = ProxyFlags::default();
    let unsigned = |name: &str, default: u64| match settings.get(name) {
        None => Ok(default),
        Some(value) => flags::parse_unsigned(value).map_err(|reason| {
            invalid(format!("invalid value {} for {name}: {reason}", flags::go_quote(value)))
        }),
    };
    Ok(ProxyFlags {
        mode: match settings.get("proxy").map(String::as_str) {
            Some("on") => ProxyMode::On,
            Some("readonly") => ProxyMode::Readonly,
            _ => ProxyMode::Off,
        },
        failure_wait_ms: unsigned("proxy-failure-wait", defaults.failure_wait_ms)?,
        refresh_interval_ms: unsigned("proxy-refresh-interval", defaults.refresh_interval_ms)?,
        dial_timeout_ms: unsigned("proxy-dial-timeout", defaults.dial_timeout_ms)?,
        write_timeout_ms: unsigned("proxy-write-timeout", defaults.write_timeout_ms)?,
        read_timeout_ms: unsigned("proxy-read-timeout", defaults.read_timeout_ms)?,
    })
}
