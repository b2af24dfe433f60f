//! Forwarding one client request through the proxy: readonly refusal, trying the usable endpoints
//! in turn (a failed one is marked and the next tried), and streaming the chosen endpoint's answer
//! back unbuffered so long-poll watches pass through.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::endpoints::Endpoints;
use crate::config::{ProxyFlags, ProxyMode};

/// What the proxy answers with: a streamed upstream body or a small local one.
pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Headers that belong to one connection and are not forwarded (RFC 9110 section 7.6.1).
const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

/// The proxy's settings shared by every request.
pub struct Forwarder {
    pub endpoints: Arc<Endpoints>,
    /// Dials `https` endpoints.
    pub client_tls: crate::tls::TlsDialer,
    pub flags: ProxyFlags,
    pub max_request_bytes: usize,
}

impl Forwarder {
    /// Answers one client request.
    pub async fn handle(&self, request: Request<Incoming>) -> Response<ProxyBody> {
        if self.flags.mode == ProxyMode::Readonly && request.method() != hyper::Method::GET {
            // etcd's readonly proxy: 501 with an empty body.
            return local(StatusCode::NOT_IMPLEMENTED, Bytes::new());
        }
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, self.max_request_bytes).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return local(StatusCode::PAYLOAD_TOO_LARGE, Bytes::new()),
        };
        let usable = self.endpoints.usable(Instant::now());
        if usable.is_empty() {
            return error(StatusCode::SERVICE_UNAVAILABLE, "proxy: zero endpoints currently available");
        }
        for endpoint in &usable {
            match self.try_endpoint(endpoint, &parts, body.clone()).await {
                Ok(response) => return response,
                Err(reason) => {
                    tracing::warn!(%endpoint, "proxy: endpoint failed, trying the next one: {reason}");
                    self.endpoints.mark_failed(endpoint, Instant::now());
                }
            }
        }
        error(
            StatusCode::BAD_GATEWAY,
            &format!("proxy: unable to get response from {} endpoint(s)", usable.len()),
        )
    }

    /// Sends the request to one endpoint; its answer's body is streamed, not read here.
    async fn try_endpoint(
        &self,
        endpoint: &str,
        parts: &http::request::Parts,
        body: Bytes,
    ) -> Result<Response<ProxyBody>, String> {
        let (authority, secure) = match endpoint.strip_prefix("https://") {
            Some(rest) => (rest, true),
            None => {
                (endpoint.strip_prefix("http://").ok_or("only http and https endpoints are proxied")?, false)
            }
        };
        let authority = authority.trim_end_matches('/');
        let stream = self.dial(authority, secure).await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| error.to_string())?;
        tokio::spawn(connection);
        let outgoing = outgoing_request(parts, authority, body)?;
        let sending = sender.send_request(outgoing);
        let response = match self.flags.read_timeout_ms {
            0 => sending.await.map_err(|error| error.to_string())?,
            read_timeout_ms => tokio::time::timeout(Duration::from_millis(read_timeout_ms), sending)
                .await
                .map_err(|_| "timed out waiting for the answer".to_string())?
                .map_err(|error| error.to_string())?,
        };
        let (mut answer_parts, answer_body) = response.into_parts();
        strip_hop_by_hop(&mut answer_parts.headers);
        Ok(Response::from_parts(answer_parts, answer_body.boxed()))
    }
}

impl Forwarder {
    /// A connection to `authority` within `--proxy-dial-timeout`, with the TLS handshake for `https`.
    async fn dial(&self, authority: &str, secure: bool) -> Result<crate::tls::MaybeTlsStream, String> {
        let dial = async {
            let stream = tokio::net::TcpStream::connect(authority)
                .await
                .map_err(|error| format!("dial tcp {authority}: {error}"))?;
            if !secure {
                return Ok(crate::tls::MaybeTlsStream::from(stream));
            }
            let host = crate::config::Url::parse(&format!("https://{authority}"))?.host().to_string();
            self.client_tls.connect(&host, stream).await
        };
        tokio::time::timeout(Duration::from_millis(self.flags.dial_timeout_ms.max(1)), dial)
            .await
            .map_err(|_| format!("dial tcp {authority}: i/o timeout"))?
    }
}

/// The client's request re-addressed to `authority`, without hop-by-hop headers.
fn outgoing_request(
    parts: &http::request::Parts,
    authority: &str,
    body: Bytes,
) -> Result<Request<Full<Bytes>>, String> {
    let path_and_query = parts.uri.path_and_query().map_or("/", |value| value.as_str());
    let mut builder = Request::builder().method(parts.method.clone()).uri(path_and_query);
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != http::header::HOST {
            builder = builder.header(name, value);
        }
    }
    builder.header(http::header::HOST, authority).body(Full::new(body)).map_err(|error| error.to_string())
}

fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

fn local(status: StatusCode, body: Bytes) -> Response<ProxyBody> {
    let mut response = Response::new(Full::new(body).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response
}

/// etcd's `httptypes.HTTPError` body: `{"message":"..."}`.
fn error(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut response = local(status, Bytes::from(body));
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}
