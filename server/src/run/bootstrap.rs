//! Deciding what this process runs before anything opens: a member (its initial cluster from
//! `--initial-cluster` or, with an empty data dir, from `--discovery`) or a v2 proxy (`--proxy`, or a
//! discovery token already full with `--discovery-fallback proxy`), as etcd 3.4's etcdmain decides.

use super::RunError;
use crate::config::{DiscoveryFallback, ProxyMode, ServerConfig, parse_initial_cluster};
use crate::discovery::{Discovery, DiscoveryError};
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

/// The cluster's peer URLs for a proxy: from the discovery token when there is one, else from
/// `--initial-cluster`.
async fn proxy_peer_urls(config: &ServerConfig) -> Result<Vec<String>, RunError> {
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
