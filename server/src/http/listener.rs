//! The client listener: accepts connections, holds at most `max_client_connections` of them open at
//! once (closing further ones at once and counting them), and hands each to the HTTP service.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;

use super::backend::Backend;
use super::service::{Shared, serve_connection};

/// Open client connections per listener unless `--max-client-connections` says otherwise.
pub const DEFAULT_MAX_CLIENT_CONNECTIONS: usize = 10_000;
/// Pause after a failed accept (out of descriptors and the like) instead of spinning.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Server settings that come from etcd's flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeOptions {
    /// `--cors`: allowed origins. Empty or containing `*` allows every origin (etcd's default is `*`).
    pub cors: Vec<String>,
    /// `--max-client-connections`: connections open at once at most; further ones are closed at once.
    pub max_client_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions { cors: vec!["*".to_string()], max_client_connections: DEFAULT_MAX_CLIENT_CONNECTIONS }
    }
}

impl ServeOptions {
    /// The `Access-Control-Allow-Origin` etcd 3.4 sends: `*` when every origin is allowed, the request's
    /// own `Origin` when it is in the list, nothing otherwise.
    pub fn allowed_origin(&self, request_origin: Option<&str>) -> Option<String> {
        if self.cors.is_empty() || self.cors.iter().any(|allowed| allowed == "*") {
            return Some("*".to_string());
        }
        request_origin.filter(|origin| self.cors.iter().any(|allowed| allowed == origin)).map(str::to_string)
    }
}

/// Connection counts of every listener of this process, for `/metrics`.
static OPEN_CONNECTIONS: AtomicU64 = AtomicU64::new(0);
static REFUSED_CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// Client connections open now, and connections closed at once because a listener was full, since
/// the process started.
pub fn connection_counts() -> (u64, u64) {
    (OPEN_CONNECTIONS.load(Ordering::Relaxed), REFUSED_CONNECTIONS.load(Ordering::Relaxed))
}

/// Counts one open connection for as long as it lives.
struct ConnectionSlot {
    listener_open: Arc<AtomicU64>,
}

impl ConnectionSlot {
    /// A slot, or `None` when `limit` connections of this listener are open.
    fn take(listener_open: &Arc<AtomicU64>, limit: usize) -> Option<ConnectionSlot> {
        let taken = listener_open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
            (open < limit as u64).then_some(open + 1)
        });
        if taken.is_err() {
            REFUSED_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        OPEN_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        Some(ConnectionSlot { listener_open: Arc::clone(listener_open) })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let before = self.listener_open.fetch_sub(1, Ordering::AcqRel);
        assert!(before > 0, "a connection slot released twice");
        OPEN_CONNECTIONS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves etcd's client API on `listener` until the process ends.
pub async fn serve(listener: TcpListener, backend: impl Backend) -> std::io::Result<()> {
    serve_with_shutdown(listener, backend, std::future::pending()).await
}

/// As `serve`, but stops accepting connections once `shutdown` completes (connections already open
/// finish their current exchange on their own tasks).
pub async fn serve_with_shutdown(
    listener: TcpListener,
    backend: impl Backend,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with_options(listener, backend, ServeOptions::default(), shutdown).await
}

/// As `serve_with_shutdown`, with etcd's flag-driven settings (`--cors`).
pub async fn serve_with_options(
    listener: TcpListener,
    backend: impl Backend,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let limit = options.max_client_connections;
    let shared = Arc::new(Shared::new(backend, options));
    let listener_open = Arc::new(AtomicU64::new(0));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                // Out of descriptors and the like: back off instead of spinning; the listener lives on.
                tracing_free_log(&format!("http: accept failed: {error}"));
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let Some(slot) = ConnectionSlot::take(&listener_open, limit) else {
            // Closing at once tells the client to go elsewhere; a queue would only hide the overload.
            drop(stream);
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            serve_connection(shared, stream).await;
            drop(slot);
        });
    }
}

/// Accept errors are rare and must not depend on a logging setup the caller may not have.
fn tracing_free_log(message: &str) {
    eprintln!("{message}");
}
