//! The steps of one exchange, in order: resolve, connect address by address within the connect budget,
//! TLS when the endpoint is `https://`, hyper's HTTP/1.1 handshake, then the request and its response
//! header within the header deadline. Each step's failure becomes the `HttpError` Go would report.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant as TokioInstant;

use super::{Deadlines, Endpoint, HttpError, MAX_HEADER_BYTES, Request, Transport, WATCH_CONNECT_TIMEOUT};

/// Addresses one host name may resolve to that are tried, at most.
const MAX_ADDRESSES: usize = 16;

/// A response header and its body, still streaming.
pub struct Opened {
    pub head: hyper::http::response::Parts,
    pub body: Incoming,
    /// `local->remote`.
    pub address: String,
}

/// A byte stream to a server, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Runs the exchange up to the response header.
pub async fn open(
    transport: &Transport,
    endpoint: &Endpoint,
    request: &Request,
    deadlines: Deadlines,
) -> Result<Opened, HttpError> {
    let started = Instant::now();
    let capped = |deadline: Instant| match deadlines.total {
        Some(total) if total < deadline => total,
        _ => deadline,
    };
    let connect_deadline = capped(started + deadlines.header_timeout.unwrap_or(WATCH_CONNECT_TIMEOUT));
    let header_deadline = deadlines.header_timeout.map(|timeout| capped(started + timeout));
    let (tcp, remote) = connect(endpoint, TokioInstant::from_std(connect_deadline)).await?;
    // Go names both ends in read errors: `read tcp 127.0.0.1:41658->127.0.0.1:2379: read: ...`.
    let address = match tcp.local_addr() {
        Ok(local) => format!("{local}->{remote}"),
        Err(_) => remote,
    };
    let timed_out = || HttpError::HeaderTimeout { endpoint: endpoint.url.clone() };
    // The TLS handshake counts against the header deadline, or the connect budget for a watch.
    let handshake_deadline = TokioInstant::from_std(header_deadline.unwrap_or(connect_deadline));
    let stream: Box<dyn Stream> = if endpoint.secure {
        let secured = tokio::time::timeout_at(handshake_deadline, secure(transport, endpoint, tcp, &address));
        Box::new(secured.await.map_err(|_| timed_out())??)
    } else {
        Box::new(tcp)
    };
    let exchange = async {
        let mut sender = handshake(stream, &address).await?;
        let response = sender
            .send_request(http_request(endpoint, request)?)
            .await
            .map_err(|error| HttpError::from_hyper(&address, error))?;
        Ok::<_, HttpError>(response)
    };
    let response = match header_deadline {
        Some(deadline) => tokio::time::timeout_at(TokioInstant::from_std(deadline), exchange)
            .await
            .map_err(|_| timed_out())??,
        None => exchange.await?,
    };
    let (head, body) = response.into_parts();
    Ok(Opened { head, body, address })
}

/// Connects to the first address of the endpoint's host that accepts, before `deadline`.
async fn connect(endpoint: &Endpoint, deadline: TokioInstant) -> Result<(TcpStream, String), HttpError> {
    let resolve_error = |cause: String| HttpError::Resolve { authority: endpoint.authority.clone(), cause };
    let addresses: Vec<std::net::SocketAddr> =
        match tokio::time::timeout_at(deadline, tokio::net::lookup_host(endpoint.authority.as_str())).await {
            Ok(Ok(addresses)) => addresses.take(MAX_ADDRESSES).collect(),
            Ok(Err(error)) => return Err(resolve_error(super::error::resolve_text(&error))),
            Err(_) => return Err(resolve_error("i/o timeout".to_string())),
        };
    let mut last_error = None;
    for address in &addresses {
        match tokio::time::timeout_at(deadline, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, address.to_string()));
            }
            Ok(Err(cause)) => last_error = Some(HttpError::Dial { address: address.to_string(), cause }),
            Err(_) => {
                let cause = std::io::Error::from(std::io::ErrorKind::TimedOut);
                return Err(HttpError::Dial { address: address.to_string(), cause });
            }
        }
    }
    Err(last_error.unwrap_or_else(|| resolve_error("no such host".to_string())))
}

/// The TLS handshake with the endpoint's host.
async fn secure(
    transport: &Transport,
    endpoint: &Endpoint,
    tcp: TcpStream,
    address: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, HttpError> {
    let config = transport.tls_config()?;
    let name = crate::tls::server_name(&endpoint.host).map_err(HttpError::Tls)?;
    let connector = tokio_rustls::TlsConnector::from(config);
    connector.connect(name, tcp).await.map_err(|error| HttpError::from_io(address, error))
}

/// hyper's HTTP/1.1 handshake; the connection is driven by a task on the exchange's runtime.
async fn handshake(
    stream: Box<dyn Stream>,
    address: &str,
) -> Result<http1::SendRequest<Full<Bytes>>, HttpError> {
    let (sender, connection) = http1::Builder::new()
        .max_buf_size(MAX_HEADER_BYTES)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|error| HttpError::from_hyper(address, error))?;
    tokio::spawn(async move {
        // Its failure reaches the caller through the request or the body.
        let _ = connection.await;
    });
    Ok(sender)
}

/// The request as hyper sends it, with the headers etcdctl's transport sends.
fn http_request(endpoint: &Endpoint, request: &Request) -> Result<hyper::Request<Full<Bytes>>, HttpError> {
    let mut builder = hyper::Request::builder()
        .method(request.method)
        .uri(format!("{}{}", endpoint.path_prefix, request.path_and_query))
        .header("Host", endpoint.authority.as_str())
        .header("User-Agent", "concordctl")
        .header("Accept", "*/*")
        .header("Connection", "close");
    if let Some(authorization) = &request.authorization {
        builder = builder.header("Authorization", authorization.as_str());
    }
    let body = match &request.body {
        Some((content_type, body)) => {
            builder = builder.header("Content-Type", *content_type);
            Bytes::from(body.clone())
        }
        None => Bytes::new(),
    };
    if request.body.is_some() || (request.method != "GET" && request.method != "HEAD") {
        builder = builder.header("Content-Length", body.len());
    }
    builder.body(Full::new(body)).map_err(|error| HttpError::Protocol(format!("bad request: {error}")))
}
