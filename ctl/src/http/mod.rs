//! One HTTP/1.1 exchange with one endpoint, over TCP or TLS, for the synchronous v2 side: hyper does
//! HTTP, rustls (through `tls.rs`) does TLS, and each exchange runs on its own small single-threaded
//! tokio runtime, so callers stay blocking.
//!
//! What stays in concordctl's hands (`exchange.rs`): connecting address by address, so a failure names
//! the address as Go does (`dial tcp 127.0.0.1:2379: connect: connection refused`); the separate
//! connect, response-header and total deadlines of etcdctl's `--timeout` and `--total-timeout`; and
//! long-poll watches whose header may take hours. Every request says `Connection: close`, so nothing
//! is pooled.
//!
//! Bounds: response headers are capped at `MAX_HEADER_BYTES`, bodies at `MAX_BODY_BYTES`; anything larger
//! is a protocol error, never an allocation without limit.

mod endpoint;
mod error;
mod escape;
mod exchange;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;

pub use endpoint::Endpoint;
pub use error::HttpError;
pub use escape::{encode_form, escape_path, escape_query};

use crate::tls::{self, TlsFiles};

/// Response headers larger than this are refused (etcd's are a few hundred bytes).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Response bodies larger than this are refused: a recursive listing of a very large store is the only
/// legitimate large body, and 256 MiB is far above etcd's own request limits.
pub const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// Connect budget for requests without a header timeout (watches): etcdctl's dial timeout with its default
/// `--total-timeout`.
pub const WATCH_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One request. The path already contains the percent-encoded path and query.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: &'static str,
    pub path_and_query: String,
    /// `(content type, body)`.
    pub body: Option<(&'static str, Vec<u8>)>,
    /// The `Authorization` header (`Basic ...`), when the command runs on behalf of a user.
    pub authorization: Option<String>,
}

impl Request {
    pub fn new(method: &'static str, path_and_query: String) -> Request {
        Request { method, path_and_query, body: None, authorization: None }
    }

    pub fn get(path_and_query: String) -> Request {
        Request::new("GET", path_and_query)
    }

    /// A request carrying a body of `content_type`.
    pub fn with_body(
        method: &'static str,
        path_and_query: String,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Request {
        Request { body: Some((content_type, body)), ..Request::new(method, path_and_query) }
    }
}

#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// Timing rules for one request.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    /// Budget for connecting and for the response header to arrive (etcdctl's `--timeout`). `None` for
    /// watches: a long poll may legitimately wait hours for its header, as in etcd's Go client.
    pub header_timeout: Option<Duration>,
    /// Absolute end of the whole command (etcdctl's `--total-timeout`); `None` for watches.
    pub total: Option<Instant>,
}

/// How endpoints are reached: the TLS configuration for `https://` endpoints (etcdctl's transport).
#[derive(Clone, Debug, Default)]
pub struct Transport {
    /// Built from the TLS flags when any was given; `None` means the system's roots, no client
    /// certificate (built when an `https://` endpoint is first used).
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Transport {
    /// Plain settings: `https://` endpoints are checked against the system's roots.
    pub fn plain() -> Transport {
        Transport::default()
    }

    /// The transport the TLS flags describe; the error is etcdctl's text for bad files.
    pub fn new(files: &TlsFiles) -> Result<Transport, String> {
        if !files.any_given() {
            return Ok(Transport::plain());
        }
        Ok(Transport { tls: Some(tls::client_config(files, &[])?) })
    }

    fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, HttpError> {
        match &self.tls {
            Some(config) => Ok(config.clone()),
            None => tls::client_config(&TlsFiles::default(), &[]).map_err(HttpError::Tls),
        }
    }
}

/// A response whose header has arrived and whose body can be consumed piece by piece (watch streams).
/// It owns the runtime its connection runs on; dropping it closes the connection.
pub struct OpenResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    body: Incoming,
    runtime: tokio::runtime::Runtime,
    /// The end of the body's budget (none for watches).
    deadline: Option<Instant>,
    /// `local->remote`, as Go names a connection in read errors.
    address: String,
}

/// Sends `request` to `endpoint` and reads the response header.
pub fn open(
    transport: &Transport,
    endpoint: &Endpoint,
    request: &Request,
    deadlines: Deadlines,
) -> Result<OpenResponse, HttpError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| HttpError::Protocol(format!("cannot start the client runtime: {error}")))?;
    let opened = runtime.block_on(exchange::open(transport, endpoint, request, deadlines))?;
    let headers = opened
        .head
        .headers
        .iter()
        .map(|(name, value)| {
            (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned())
        })
        .collect();
    Ok(OpenResponse {
        status: opened.head.status.as_u16(),
        headers,
        body: opened.body,
        runtime,
        deadline: deadlines.total,
        address: opened.address,
    })
}

/// Sends a request and reads the full response.
pub fn send(
    transport: &Transport,
    endpoint: &Endpoint,
    request: &Request,
    deadlines: Deadlines,
) -> Result<Response, HttpError> {
    let mut open = open(transport, endpoint, request, deadlines)?;
    let body = open.read_body()?;
    Ok(Response { status: open.status, headers: open.headers, body })
}

impl OpenResponse {
    /// Reads the rest of the body (bounded by `MAX_BODY_BYTES`).
    pub fn read_body(&mut self) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        while let Some(piece) = self.next_piece()? {
            if body.len() + piece.len() > MAX_BODY_BYTES {
                return Err(HttpError::Protocol("response body exceeds the limit".to_string()));
            }
            body.extend_from_slice(&piece);
        }
        Ok(body)
    }

    /// Reads the next piece of body as it arrives (a chunk, or what one read brought); `None` at the end.
    pub fn next_piece(&mut self) -> Result<Option<Bytes>, HttpError> {
        let OpenResponse { body, runtime, deadline, address, .. } = self;
        let deadline = deadline.map(tokio::time::Instant::from_std);
        runtime.block_on(async {
            // Trailers (normally none) are skipped; each turn either returns or consumes a frame, and a
            // body has finitely many.
            loop {
                let frame = match deadline {
                    Some(deadline) => match tokio::time::timeout_at(deadline, body.frame()).await {
                        Ok(frame) => frame,
                        Err(_) => {
                            return Err(HttpError::Io {
                                address: address.clone(),
                                cause: std::io::Error::from(std::io::ErrorKind::TimedOut),
                            });
                        }
                    },
                    None => body.frame().await,
                };
                match frame {
                    None => return Ok(None),
                    Some(Err(error)) => return Err(HttpError::from_hyper(address, error)),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            return Ok(Some(data));
                        }
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_server_dripping_its_header_cannot_stretch_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = Endpoint::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n");
            // One header byte every 50 ms: each read succeeds, the header never ends.
            for _ in 0..40 {
                std::thread::sleep(Duration::from_millis(50));
                if stream.write_all(b"X").is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let deadlines = Deadlines { header_timeout: Some(Duration::from_millis(300)), total: None };
        let error =
            send(&Transport::plain(), &endpoint, &Request::get("/".to_string()), deadlines).unwrap_err();
        assert!(matches!(error, HttpError::HeaderTimeout { .. }), "{error}");
        assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
        server.join().unwrap();
    }

    #[test]
    fn a_chunked_body_arrives_whole_and_a_closed_connection_reads_as_eof() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = Endpoint::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Etcd-Index: 7\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            );
            // Read the request before closing: closing with unread bytes would reset the connection.
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                request.push(byte[0]);
            }
            drop(stream);
        });
        let deadlines = Deadlines { header_timeout: Some(Duration::from_secs(2)), total: None };
        let response =
            send(&Transport::plain(), &endpoint, &Request::get("/".to_string()), deadlines).unwrap();
        assert_eq!((response.status, response.body.as_slice()), (200, &b"abcde"[..]));
        assert_eq!(response.header("X-Etcd-Index"), Some("7"));
        let error =
            send(&Transport::plain(), &endpoint, &Request::get("/".to_string()), deadlines).unwrap_err();
        assert_eq!(error.to_string(), "EOF");
        server.join().unwrap();
    }
}
