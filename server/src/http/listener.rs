//! The client listener: accepts connections, holds at most `max_client_connections` of them open at
//! once (closing further ones at once and counting them), and hands each to the HTTP service. With
//! the v3 API (`serve_with_grpc`) it multiplexes as etcd does: a connection that opens with the
//! HTTP/2 preface (cleartext, prior knowledge, as etcdctl connects) is served as HTTP/2, where
//! requests whose content type starts with `application/grpc` go to the gRPC routes and all others
//! to the v2 service; every other connection is HTTP/1.1, served exactly as without gRPC.
//!
//! With TLS (`ServeOptions::tls`, an `https` listen URL) each connection first completes its TLS
//! handshake on its own task, bounded by [`TLS_HANDSHAKE_TIMEOUT`], so a slow or silent client never
//! holds the accept loop; a failed handshake closes the connection without an HTTP answer. The
//! protocol is then the one agreed by ALPN: `h2` is HTTP/2 (gRPC and v2 split as above), anything
//! else HTTP/1.1 (as Go serves a TLS client without ALPN).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tonic::service::Routes;
use tower::ServiceExt;

use super::backend::Backend;
use super::request_rate::RequestRate;
use super::service::{MAX_REQUEST_BODY_BYTES, Shared, respond, serve_connection, too_many_requests};
use crate::grpc::{GrpcOptions, V3Backend};
use crate::tls::{MaybeTlsStream, TlsServer};

/// Open client connections per listener unless `--max-client-connections` says otherwise.
pub const DEFAULT_MAX_CLIENT_CONNECTIONS: usize = 65_536;
/// Pause after a failed accept (out of descriptors and the like) instead of spinning.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);
/// What an HTTP/2 client with prior knowledge sends first (RFC 9113, section 3.4).
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Pause between looks at a connection that has sent part of the HTTP/2 preface so far.
const PREFACE_PEEK_PAUSE: Duration = Duration::from_millis(5);
/// Concurrent HTTP/2 streams (requests, watch and keep-alive streams) per connection at most.
const MAX_HTTP2_STREAMS: u32 = 1024;
/// etcd's `--grpc-keepalive-interval` and `--grpc-keepalive-timeout` defaults: a quiet HTTP/2
/// connection is pinged after two hours and closed when the ping is not answered in 20 s.
const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2 * 60 * 60);
const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Time a client has to complete its TLS handshake (Go's HTTP client waits 10 s for one).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Server settings that come from etcd's flags.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// `--cors`: allowed origins. Empty or containing `*` allows every origin (etcd's default is `*`).
    pub cors: Vec<String>,
    /// `--max-client-connections`: connections open at once at most; further ones are closed at once.
    pub max_client_connections: usize,
    /// TLS for an `https` listen URL (`--cert-file` and friends); `None` serves in clear.
    pub tls: Option<TlsServer>,
    /// `--max-request-bytes`: the largest v2 request body; a larger one is answered 413.
    pub max_request_bytes: usize,
    /// `--max-request-header-bytes`: the largest request head (HTTP/1.1) or header list (HTTP/2).
    pub max_request_header_bytes: usize,
    /// `--client-read-timeout`: time to send a request head (or sit idle between requests), and
    /// then its body.
    pub read_timeout: Duration,
    /// `--max-connection-requests-per-second`: requests one connection may start per second (0: no
    /// bound); more are answered 429 (gRPC: `ResourceExhausted`).
    pub max_connection_requests_per_second: u64,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            cors: vec!["*".to_string()],
            max_client_connections: DEFAULT_MAX_CLIENT_CONNECTIONS,
            tls: None,
            max_request_bytes: MAX_REQUEST_BODY_BYTES,
            max_request_header_bytes: crate::config::DEFAULT_MAX_REQUEST_HEADER_BYTES as usize,
            read_timeout: Duration::from_millis(crate::config::DEFAULT_CLIENT_READ_TIMEOUT_MS),
            max_connection_requests_per_second: crate::config::DEFAULT_MAX_CONNECTION_REQUESTS_PER_SECOND,
        }
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
    accept_loop(listener, backend, options, None, shutdown).await
}

/// As `serve_with_options`, with etcd's v3 gRPC API on the same listener (see the module comment).
pub async fn serve_with_grpc(
    listener: TcpListener,
    backend: impl V3Backend,
    options: ServeOptions,
    grpc_options: GrpcOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let routes = crate::grpc::routes(backend.clone(), grpc_options);
    accept_loop(listener, backend, options, Some(routes), shutdown).await
}

/// Accepts connections until `shutdown`, each served on its own task; with `grpc` routes,
/// connections are multiplexed.
async fn accept_loop(
    listener: TcpListener,
    backend: impl Backend,
    options: ServeOptions,
    grpc: Option<Routes>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let limit = options.max_client_connections;
    let tls = options.tls.clone();
    let shared = Arc::new(Shared::new(backend, options, grpc.clone()));
    let listener_open = Arc::new(AtomicU64::new(0));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
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
        let grpc = grpc.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            // The handshake runs here, on the connection's task, and holds its slot.
            let stream = match &tls {
                None => Some(MaybeTlsStream::from(stream)),
                Some(tls) => tls.accept(stream, remote, TLS_HANDSHAKE_TIMEOUT).await,
            };
            if let Some(stream) = stream {
                match grpc {
                    None => serve_connection(shared, stream).await,
                    Some(routes) => serve_multiplexed(shared, routes, stream).await,
                }
            }
            drop(slot);
        });
    }
}

/// Accept errors are rare and must not depend on a logging setup the caller may not have.
fn tracing_free_log(message: &str) {
    eprintln!("{message}");
}

/// What a connection speaks, judged from its first bytes.
#[derive(Debug, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
    /// Closed, failed, or silent past the header read timeout: nothing to serve.
    Gone,
}

/// A TLS connection speaks what ALPN agreed (`h2`, else HTTP/1.1). A clear one is judged by its
/// first bytes, looked at without consuming them: the full HTTP/2 preface is HTTP/2, anything that
/// departs from it is HTTP/1.1. Bounded by the header read timeout, like an HTTP/1.1 request head.
async fn detect_protocol(stream: &MaybeTlsStream, read_timeout: Duration) -> Protocol {
    let stream = match stream {
        MaybeTlsStream::Tls(_) if stream.alpn_protocol() == Some(b"h2".as_slice()) => return Protocol::Http2,
        MaybeTlsStream::Tls(_) => return Protocol::Http1,
        MaybeTlsStream::Plain(stream) => stream,
    };
    let deadline = tokio::time::Instant::now() + read_timeout;
    let mut buffer = [0u8; HTTP2_PREFACE.len()];
    loop {
        let peeked = match tokio::time::timeout_at(deadline, stream.peek(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Protocol::Gone,
            Ok(Ok(peeked)) => peeked,
        };
        if buffer[..peeked] != HTTP2_PREFACE[..peeked] {
            return Protocol::Http1;
        }
        if peeked == HTTP2_PREFACE.len() {
            return Protocol::Http2;
        }
        // Part of the preface so far: `peek` would return the same bytes at once, so wait a little.
        if tokio::time::timeout_at(deadline, tokio::time::sleep(PREFACE_PEEK_PAUSE)).await.is_err() {
            return Protocol::Gone;
        }
    }
}

/// Serves one connection of a listener with gRPC: HTTP/1.1 exactly as without gRPC, HTTP/2 split by
/// content type between the gRPC routes and the v2 service.
async fn serve_multiplexed<B: Backend>(shared: Arc<Shared<B>>, routes: Routes, stream: MaybeTlsStream) {
    match detect_protocol(&stream, shared.options().read_timeout).await {
        Protocol::Http1 => serve_connection(shared, stream).await,
        Protocol::Http2 => serve_http2(shared, routes, stream).await,
        Protocol::Gone => {}
    }
}

/// Whether an HTTP/2 request is a gRPC call (etcd's test: the content type).
fn is_grpc(request: &Request<Incoming>) -> bool {
    request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

async fn serve_http2<B: Backend>(shared: Arc<Shared<B>>, routes: Routes, stream: MaybeTlsStream) {
    let _ = stream.tcp().set_nodelay(true);
    let max_header_list_bytes = u32::try_from(shared.options().max_request_header_bytes).unwrap_or(u32::MAX);
    let rate = Arc::new(RequestRate::new(shared.options().max_connection_requests_per_second));
    let service = service_fn(move |request: Request<Incoming>| {
        let shared = Arc::clone(&shared);
        let routes = routes.clone();
        let admitted = rate.admit();
        async move {
            if is_grpc(&request) {
                if !admitted {
                    return Ok(too_many_grpc_requests());
                }
                return routes.oneshot(request).await;
            }
            let response = if admitted { respond(&shared, request).await } else { too_many_requests() };
            Ok::<Response<tonic::body::Body>, std::convert::Infallible>(response.map(tonic::body::Body::new))
        }
    });
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_HTTP2_STREAMS)
        .max_header_list_size(max_header_list_bytes)
        .keep_alive_interval(HTTP2_KEEPALIVE_INTERVAL)
        .keep_alive_timeout(HTTP2_KEEPALIVE_TIMEOUT);
    // Client resets and protocol errors end the connection; nothing to report upward.
    let stream = super::h2_authority::AuthorityRepair::new(stream);
    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
}

/// The gRPC answer to a call over its connection's request rate.
fn too_many_grpc_requests() -> Response<tonic::body::Body> {
    tonic::Status::resource_exhausted(
        "concord: too many requests on this connection (--max-connection-requests-per-second)",
    )
    .into_http()
}
