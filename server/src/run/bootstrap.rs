//! Deciding what this process runs before anything opens: a member (its initial cluster from
//! `--initial-cluster` or, with an empty data dir, from `--discovery` or `--discovery-srv`) or a v2
//! proxy (`--proxy`, or a discovery token already full with `--discovery-fallback proxy`), as etcd
//! 3.4's etcdmain decides.

use super::RunError;
use crate::config::{DiscoveryFallback, ProxyMode, ServerConfig, parse_initial_cluster};
use crate::discovery::dns::DnsResolver;
use crate::discovery::{Discovery, DiscoveryError, srv};
use crate::node;
use crate::storage::disk::Disk;

/// What to run.
pub(super) enum Start {
    /// A member; its `initial_cluster` is the discovered one when discovery ran.
    Member(Box<ServerConfig>),
    /// A proxy in this mode to the cluster with these peer URLs.
    Proxy(Box<ServerConfig>, ProxyMode, Vec<String>),
}

pub(super) async fn decide(mut config: ServerConfig, disk: &dyn Disk) -> Result<Start, RunError> {
    if config.proxy.mode != ProxyMode::Off {
        let peer_urls = proxy_peer_urls(&config).await?;
        let mode = config.proxy.mode;
        return Ok(Start::Proxy(Box::new(config), mode, peer_urls));
    }
    let stored = node::read_identity(disk, &config.effective_wal_dir()).ok().flatten();
    if config.discovery.is_srv_enabled() && stored.is_none() {
        let initial_cluster = dns_cluster(&config, true).await?;
        config.initial_cluster = parse_initial_cluster(&initial_cluster)
            .map_err(|reason| RunError(format!("error setting up initial cluster: {reason}")))?;
        return Ok(Start::Member(Box::new(config)));
    }
    if !config.discovery.is_enabled() || stored.is_some() {
        return Ok(Start::Member(Box::new(config)));
    }
    match join(&config).await {
        Ok(initial_cluster) => {
            tracing::info!(%initial_cluster, "discovery: the initial cluster is formed");
            config.initial_cluster = parse_initial_cluster(&initial_cluster)
                .map_err(|reason| RunError(format!("discovery: invalid URL ({reason})")))?;
            Ok(Start::Member(Box::new(config)))
        }
        Err(DiscoveryError::FullCluster) if config.discovery.fallback == DiscoveryFallback::Proxy => {
            tracing::info!(discovery_url = %config.discovery.url, "discovery cluster is full, falling back to proxy");
            let peer_urls = proxy_peer_urls(&config).await?;
            Ok(Start::Proxy(Box::new(config), ProxyMode::On, peer_urls))
        }
        Err(error) => Err(discovery_failure(&config, error)),
    }
}

/// Registers this member under the token and waits for the cluster to form.
async fn join(config: &ServerConfig) -> Result<String, DiscoveryError> {
    let membership =
        config.initial_membership().map_err(|error| DiscoveryError::Service(error.message().to_string()))?;
    let local = membership.local().expect("initial_membership found the local member");
    let registration =
        local.peer_urls.iter().map(|url| format!("{}={url}", local.name)).collect::<Vec<_>>().join(",");
    Discovery::new(&config.discovery.url, &config.discovery.http_proxy)?
        .join_cluster(local.id, &registration)
        .await
}

/// etcd's `PeerURLsMapAndToken` for `--discovery-srv`: the initial cluster from the SRV records; a
/// member (`must_include_local`) must find itself there, a proxy need not.
async fn dns_cluster(config: &ServerConfig, must_include_local: bool) -> Result<String, RunError> {
    let discovery = &config.discovery;
    let found = match DnsResolver::from_environment() {
        Ok(resolver) => {
            resolver
                .server_cluster(
                    &discovery.srv_domain,
                    &discovery.srv_service_name,
                    &config.name,
                    &config.initial_advertise_peer_urls,
                )
                .await
        }
        Err(reason) => Err(reason),
    };
    let checked = found.and_then(|cluster| {
        if must_include_local {
            srv::check_local_member(&cluster, &config.name)?;
        }
        Ok(cluster)
    });
    match checked {
        Ok(cluster) => {
            for node in cluster.split(',') {
                tracing::info!(%node, "got bootstrap from DNS for etcd-server");
            }
            Ok(cluster)
        }
        Err(reason) => {
            tracing::warn!(error = %reason, "failed to resolve during SRV discovery");
            Err(RunError(format!("error setting up initial cluster: {reason}")))
        }
    }
}

/// The cluster's peer URLs for a proxy: from the discovery token or the SRV records when given,
/// else from `--initial-cluster`.
async fn proxy_peer_urls(config: &ServerConfig) -> Result<Vec<String>, RunError> {
    if let Some(saved) = crate::proxy::read_saved_peer_urls(&config.data_dir) {
        if config.discovery.is_enabled() {
            tracing::warn!(
                "discovery token ignored since the proxy has already been initialized; valid cluster file found"
            );
        }
        if config.discovery.is_srv_enabled() {
            tracing::warn!(
                "DNS SRV discovery ignored since the proxy has already been initialized; valid cluster file found"
            );
        }
        return Ok(saved);
    }
    if config.discovery.is_srv_enabled() {
        let members = parse_initial_cluster(&dns_cluster(config, false).await?)
            .map_err(|reason| RunError(format!("error setting up initial cluster: {reason}")))?;
        return Ok(members
            .iter()
            .flat_map(|member| member.peer_urls.iter().map(|url| url.to_string()))
            .collect());
    }
    if !config.discovery.is_enabled() {
        return Ok(config
            .initial_cluster
            .iter()
            .flat_map(|member| member.peer_urls.iter().map(|url| url.to_string()))
            .collect());
    }
    let mut discovery = Discovery::new(&config.discovery.url, &config.discovery.http_proxy)
        .map_err(|error| discovery_failure(config, error))?;
    let initial_cluster = discovery.get_cluster().await.map_err(|error| discovery_failure(config, error))?;
    let members = parse_initial_cluster(&initial_cluster)
        .map_err(|reason| RunError(format!("discovery: invalid URL ({reason})")))?;
    Ok(members.iter().flat_map(|member| member.peer_urls.iter().map(|url| url.to_string())).collect())
}

/// Logs etcd 3.4's advice for a failed discovery and returns its error line.
fn discovery_failure(config: &ServerConfig, error: DiscoveryError) -> RunError {
    let url = &config.discovery.url;
    match &error {
        DiscoveryError::DuplicateId => {
            tracing::warn!(name = %config.name, discovery_token = %url, error = %error, "member has been registered with discovery service");
            tracing::warn!(data_dir = %config.data_dir.display(), "but could not find valid cluster configuration");
            tracing::warn!("check data dir if previous bootstrap succeeded");
            tracing::warn!("or use a new discovery token if previous bootstrap failed");
        }
        DiscoveryError::DuplicateName(_) => {
            tracing::warn!(discovery_token = %url, error = %error, "member with duplicated name has already been registered");
            tracing::warn!("cURL the discovery token URL for details");
            tracing::warn!("do not reuse discovery token; generate a new one to bootstrap a cluster");
        }
        _ => {
            tracing::warn!(discovery_token = %url, error = %error, "failed to bootstrap; discovery token was already used");
            tracing::warn!("do not reuse discovery token; generate a new one to bootstrap a cluster");
        }
    }
    RunError(format!("failed to join discovery cluster ({error})"))
}
