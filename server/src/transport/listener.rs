//! Listening for peers: binding the listen URLs at start, and accepting connections, each served by
//! its own task ([`super::inbound`], which also runs the TLS handshake of an `https` listener) while
//! a bounded count of them is kept.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tracing::warn;

use super::error::TransportError;
use super::inbound::serve_inbound;
use super::shared::Shared;
use crate::url::{Scheme, parse_peer_url};

/// How long the accept loop pauses after a failed accept (usually file descriptors exhausted).
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// A bound listen URL.
pub(super) struct PeerListener {
    pub tcp: TcpListener,
    /// An `https` URL: connections start with a TLS handshake.
    pub secure: bool,
}

/// Resolves and binds every listen URL, in order. A name is resolved up front (etcd does too) so a
/// bad one fails at start, not at first contact; an IPv4 address is preferred when it has both. An
/// `https` URL needs `tls_configured`.
pub(super) async fn bind_listeners(
    listen_peer_urls: &[String],
    tls_configured: bool,
) -> Result<Vec<PeerListener>, TransportError> {
    assert!(!listen_peer_urls.is_empty(), "the caller refuses a configuration without listen URLs");
    let mut listeners = Vec::with_capacity(listen_peer_urls.len());
    for url in listen_peer_urls {
        let addr = parse_peer_url(url)?;
        let secure = addr.scheme == Scheme::Https;
        if secure && !tls_configured {
            return Err(TransportError::TlsNotConfigured(addr.to_string()));
        }
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((addr.host.as_str(), addr.port))
            .await
            .map_err(|error| TransportError::Resolve { url: url.clone(), error })?
            .collect();
        let Some(&socket_addr) = resolved.iter().find(|resolved| resolved.is_ipv4()).or(resolved.first())
        else {
            return Err(TransportError::Resolve {
                url: url.clone(),
                error: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
            });
        };
        let listener = TcpListener::bind(socket_addr)
            .await
            .map_err(|error| TransportError::Bind { addr: socket_addr, error })?;
        listeners.push(PeerListener { tcp: listener, secure });
    }
    Ok(listeners)
}

/// Accepts peer connections until the transport stops, serving each on its own task.
pub(super) async fn accept_loop(shared: Arc<Shared>, listener: PeerListener) {
    let secure = listener.secure;
    loop {
        let accepted = tokio::select! {
            accepted = listener.tcp.accept() => accepted,
            _ = shared.cancel.cancelled() => return,
        };
        match accepted {
            Ok((stream, remote)) => {
                let slot = shared.inbound_connections.enter();
                let over_limit = slot.number_before() >= shared.limits.max_inbound_connections;
                let shared_for_task = shared.clone();
                shared.tasks.spawn(async move {
                    serve_inbound(&shared_for_task, stream, remote, over_limit, secure).await;
                    drop(slot);
                });
            }
            Err(error) => {
                warn!(%error, "accepting a peer connection failed");
                tokio::select! {
                    _ = tokio::time::sleep(ACCEPT_RETRY_DELAY) => {}
                    _ = shared.cancel.cancelled() => return,
                }
            }
        }
    }
}

/// The number of inbound connections being served (refused ones included, until they close).
#[derive(Default)]
pub(super) struct InboundConnections(Arc<AtomicUsize>);

impl InboundConnections {
    /// Counts one more connection for as long as the returned slot lives.
    fn enter(&self) -> ConnectionSlot {
        let before = self.0.fetch_add(1, Ordering::AcqRel);
        ConnectionSlot { count: self.0.clone(), before }
    }
}

/// One counted inbound connection; dropping it uncounts it.
struct ConnectionSlot {
    count: Arc<AtomicUsize>,
    /// Connections already being served when this one arrived.
    before: usize,
}

impl ConnectionSlot {
    fn number_before(&self) -> usize {
        self.before
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let previous = self.count.fetch_sub(1, Ordering::AcqRel);
        assert!(previous > 0, "inbound connection count went below zero");
    }
}
