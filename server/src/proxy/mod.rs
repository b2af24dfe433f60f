//! `--proxy on|readonly` (and `--discovery-fallback proxy`): etcd's stateless v2 HTTP proxy. No Raft
//! node runs; the client URLs forward every request to the cluster's client URLs.
//!
//! Start-up, as etcd 3.4's `startProxy`: the cluster's peer URLs come from `<data-dir>/proxy/cluster`
//! when a previous run saved them, else from discovery or `--initial-cluster`; they are saved there.
//! The client URLs are learned from the peers' membership (Concord's peer membership query, the
//! counterpart of etcd's peer `/members`) and refreshed every `--proxy-refresh-interval`.
//!
//! TLS, as etcd's proxy: members' `https` client URLs are dialed with the client TLS flags (the peer
//! ones when no client certificate is given), their `https` peer URLs with the `--peer-*` flags.
//! Limits: the proxy's own listen URLs are plain HTTP (https ones are refused at start);
//! `--proxy-write-timeout` bounds the connection setup to a member, `--proxy-dial-timeout` the
//! dial and `--proxy-read-timeout` (0: none, so watches can wait) the wait for an answer's headers.
//!
//! Where each job lives: `endpoints.rs` (the table of client URLs and failure marks),
//! `forward.rs` (one request: readonly refusal, failover, streaming).

pub mod endpoints;
pub mod forward;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::{ProxyMode, ServerConfig};
use endpoints::Endpoints;
use forward::Forwarder;

/// The largest saved cluster file read back.
const MAX_CLUSTER_FILE_BYTES: u64 = 1024 * 1024;

/// Why the proxy could not start.
#[derive(Debug)]
pub struct ProxyError(pub String);

impl std::fmt::Display for ProxyError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// `<data-dir>/proxy/cluster`.
fn cluster_file(data_dir: &Path) -> PathBuf {
    data_dir.join("proxy").join("cluster")
}

/// The peer URLs saved by an earlier run, if any.
pub fn read_saved_peer_urls(data_dir: &Path) -> Option<Vec<String>> {
    let path = cluster_file(data_dir);
    let size = std::fs::metadata(&path).ok()?.len();
    if size > MAX_CLUSTER_FILE_BYTES {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let urls: Vec<String> =
        value.get("PeerURLs")?.as_array()?.iter().filter_map(|url| url.as_str().map(String::from)).collect();
    (!urls.is_empty()).then_some(urls)
}

fn save_peer_urls(data_dir: &Path, peer_urls: &[String]) -> Result<(), ProxyError> {
    let path = cluster_file(data_dir);
    let failed = |error: std::io::Error| ProxyError(format!("cannot write {}: {error}", path.display()));
    std::fs::create_dir_all(path.parent().expect("the cluster file has a directory")).map_err(failed)?;
    let text = serde_json::json!({ "PeerURLs": peer_urls }).to_string();
    std::fs::write(&path, text).map_err(failed)
}

/// Runs the proxy until `stop` resolves. `peer_urls` are the cluster's peer URLs from discovery or
/// `--initial-cluster`; saved ones from an earlier run win.
pub async fn run(
    config: &ServerConfig,
    mode: ProxyMode,
    peer_urls: Vec<String>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ProxyError> {
    assert!(mode != ProxyMode::Off, "the proxy runs only in a proxy mode");
    if let Some(url) =
        config.listen_client_urls.iter().find(|url| url.scheme() != crate::config::Scheme::Http)
    {
        return Err(ProxyError(format!("the proxy serves http client URLs only, not {url}")));
    }
    let dialers = crate::tls::proxy_dialers(config).map_err(|error| ProxyError(error.to_string()))?;
    let peer_urls = read_saved_peer_urls(&config.data_dir).unwrap_or(peer_urls);
    save_peer_urls(&config.data_dir, &peer_urls)?;
    let failure_wait = Duration::from_millis(config.proxy.failure_wait_ms);
    let endpoints = Arc::new(Endpoints::new(peer_urls, failure_wait, Some(dialers.peer)));
    if !endpoints.refresh().await {
        tracing::warn!("proxy: no endpoints learned yet; retrying every refresh interval");
    }
    let cancel = CancellationToken::new();
    spawn_refresh(endpoints.clone(), &config.data_dir, config.proxy.refresh_interval_ms, cancel.clone());
    let mut flags = config.proxy;
    flags.mode = mode;
    let forwarder = Arc::new(Forwarder {
        endpoints,
        client_tls: dialers.client,
        flags,
        max_request_bytes: usize::try_from(config.max_request_bytes).unwrap_or(usize::MAX),
    });
    let connections = Arc::new(Semaphore::new(config.max_client_connections.max(1)));
    for url in &config.listen_client_urls {
        let listener = tokio::net::TcpListener::bind(url.authority())
            .await
            .map_err(|error| ProxyError(format!("listen tcp {}: bind: {error}", url.authority())))?;
        tracing::info!(address = %url, mode = ?mode, "proxy serving client requests");
        tokio::spawn(accept_loop(listener, forwarder.clone(), connections.clone(), cancel.clone()));
    }
    stop.await;
    cancel.cancel();
    Ok(())
}

/// Refreshes the endpoints every interval, saving the peer URLs learned.
fn spawn_refresh(endpoints: Arc<Endpoints>, data_dir: &Path, interval_ms: u64, cancel: CancellationToken) {
    let data_dir = data_dir.to_path_buf();
    let interval = Duration::from_millis(interval_ms.max(100));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            if endpoints.refresh().await {
                let _ = save_peer_urls(&data_dir, &endpoints.peer_urls());
            }
        }
    });
}

/// Accepts client connections (at most the `--max-client-connections` open at once) and serves
/// each over HTTP/1.1 with the forwarder.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    forwarder: Arc<Forwarder>,
    connections: Arc<Semaphore>,
    cancel: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _remote)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else { continue };
        let forwarder = forwarder.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let forwarder = forwarder.clone();
                async move { Ok::<_, std::convert::Infallible>(forwarder.handle(request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}
