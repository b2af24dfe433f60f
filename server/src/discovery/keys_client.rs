//! A minimal etcd v2 keys client for the discovery service: get, create-if-absent and one-shot
//! watch over HTTP/1.1, directly or through an HTTP proxy (`--discovery-proxy`; an `https` service
//! is reached through it by a `CONNECT` tunnel, as Go's client does). An `https` service is
//! verified against the system's trusted CAs, as etcd 3.4's discovery client does. Keys are full
//! URL paths (`/v2/keys/discovery/<token>/...`), as etcd's discovery client uses the URL's path as
//! given, so a service that serves tokens at its root (discovery.etcd.io) works too.
//!
//! One connection per request (discovery makes a handful), each bounded by a timeout; answers are
//! read whole, bounded by [`MAX_ANSWER_BYTES`].

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::Deserialize;

/// The largest answer the discovery service may send (a token lists a few members).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// The largest answer to a proxy's `CONNECT` read (its status line and headers).
const MAX_CONNECT_ANSWER_BYTES: usize = 16 * 1024;

/// `host:port` and scheme of an HTTP endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAddress {
    pub host: String,
    pub port: u16,
    /// `https`.
    pub secure: bool,
}

impl HttpAddress {
    /// Splits `http[s]://host[:port][/path]` into the address and the path (`/` when none); `None`
    /// for anything else.
    pub fn parse_with_path(url: &str) -> Option<(HttpAddress, String)> {
        let (rest, secure) = match url.strip_prefix("https://") {
            Some(rest) => (rest, true),
            None => (url.strip_prefix("http://")?, false),
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], rest[slash..].to_string()),
            None => (rest, "/".to_string()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                (host, port.parse::<u16>().ok()?)
            }
            _ => (authority, if secure { 443 } else { 80 }),
        };
        if host.is_empty() {
            return None;
        }
        Some((HttpAddress { host: host.trim_matches(&['[', ']'][..]).to_string(), port, secure }, path))
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One node of a v2 keys answer (only the fields discovery reads).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeysNode {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub dir: bool,
    #[serde(default)]
    pub created_index: u64,
    #[serde(default)]
    pub nodes: Vec<KeysNode>,
}

/// A successful v2 keys answer: the node and the store index (`X-Etcd-Index`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeysAnswer {
    pub node: KeysNode,
    pub etcd_index: u64,
}

/// Why a keys request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeysError {
    /// The service could not be reached or did not answer in time (etcd's `ClusterError`: retried).
    Unreachable(String),
    /// The service answered with an etcd error, shown as etcd's client shows it.
    Etcd { code: u64, message: String, cause: String, index: u64 },
    /// The answer is not an etcd keys answer.
    NotKeysJson,
}

impl std::fmt::Display for KeysError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeysError::Unreachable(reason) => formatter.write_str(reason),
            KeysError::Etcd { code, message, cause, index } => {
                write!(formatter, "{code}: {message} ({cause}) [{index}]")
            }
            KeysError::NotKeysJson => formatter.write_str(
                "client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint.",
            ),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EtcdErrorBody {
    error_code: u64,
    message: String,
    #[serde(default)]
    cause: String,
    #[serde(default)]
    index: u64,
}

#[derive(Deserialize)]
struct NodeBody {
    node: KeysNode,
}

/// A client for one keys endpoint.
#[derive(Clone, Debug)]
pub struct KeysClient {
    pub endpoint: HttpAddress,
    /// `--discovery-proxy`: requests go to this proxy with absolute URIs (or through a tunnel it
    /// opens, for an `https` endpoint).
    pub http_proxy: Option<HttpAddress>,
    pub request_timeout: Duration,
    /// For an `https` endpoint.
    pub tls: Option<crate::tls::TlsDialer>,
}

impl KeysClient {
    /// `GET <key>` (a directory lists its children, sorted by the service).
    pub async fn get(&self, key: &str) -> Result<KeysAnswer, KeysError> {
        self.send("GET", &format!("{key}?recursive=false&sorted=true"), None, self.request_timeout).await
    }

    /// `PUT <key>?prevExist=false`: creates the key, failing with etcd's 105 if it exists.
    pub async fn create(&self, key: &str, value: &str) -> Result<KeysAnswer, KeysError> {
        let body = format!("value={}", form_escape(value));
        self.send("PUT", &format!("{key}?prevExist=false"), Some(body), self.request_timeout).await
    }

    /// Waits for the first change under `key` (recursive) after `after_index`, at most `wait`.
    pub async fn watch(&self, key: &str, after_index: u64, wait: Duration) -> Result<KeysAnswer, KeysError> {
        let query = format!("{key}?wait=true&recursive=true&waitIndex={}", after_index + 1);
        self.send("GET", &query, None, wait).await
    }

    async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<String>,
        timeout: Duration,
    ) -> Result<KeysAnswer, KeysError> {
        let attempt = self.exchange(method, path_and_query, body);
        let (status, etcd_index, bytes) = tokio::time::timeout(timeout, attempt).await.map_err(|_| {
            KeysError::Unreachable(format!("{}: request timed out", self.endpoint.authority()))
        })??;
        if status >= 400 {
            return match serde_json::from_slice::<EtcdErrorBody>(&bytes) {
                Ok(error) => Err(KeysError::Etcd {
                    code: error.error_code,
                    message: error.message,
                    cause: error.cause,
                    index: error.index,
                }),
                Err(_) if status >= 500 => Err(KeysError::Unreachable(format!("unexpected status {status}"))),
                Err(_) => Err(KeysError::NotKeysJson),
            };
        }
        let parsed: NodeBody = serde_json::from_slice(&bytes).map_err(|_| KeysError::NotKeysJson)?;
        Ok(KeysAnswer { node: parsed.node, etcd_index })
    }

    /// One request on a fresh connection: status, `X-Etcd-Index`, body.
    async fn exchange(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<String>,
    ) -> Result<(u16, u64, Bytes), KeysError> {
        let unreachable = |error: String| KeysError::Unreachable(error);
        let stream = self.connect().await.map_err(unreachable)?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| unreachable(error.to_string()))?;
        tokio::spawn(connection);
        let uri = match (&self.http_proxy, &self.tls) {
            (Some(_), None) => format!("http://{}{path_and_query}", self.endpoint.authority()),
            _ => path_and_query.to_string(),
        };
        let mut builder =
            Request::builder().method(method).uri(uri).header("host", self.endpoint.authority());
        if body.is_some() {
            builder = builder.header("content-type", "application/x-www-form-urlencoded");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|error| unreachable(error.to_string()))?;
        let response = sender.send_request(request).await.map_err(|error| unreachable(error.to_string()))?;
        let status = response.status().as_u16();
        let etcd_index = response
            .headers()
            .get("x-etcd-index")
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.parse().ok())
            .unwrap_or(0);
        let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|error| unreachable(error.to_string()))?
            .to_bytes();
        Ok((status, etcd_index, bytes))
    }
}

impl KeysClient {
    /// A connection to the endpoint: direct or to the proxy, then (for `https`) a tunnel through the
    /// proxy and the TLS handshake.
    async fn connect(&self) -> Result<crate::tls::MaybeTlsStream, String> {
        let target = self.http_proxy.as_ref().unwrap_or(&self.endpoint);
        let mut stream = tokio::net::TcpStream::connect(target.authority())
            .await
            .map_err(|error| format!("dial tcp {}: {error}", target.authority()))?;
        let Some(tls) = &self.tls else {
            return Ok(crate::tls::MaybeTlsStream::from(stream));
        };
        if self.http_proxy.is_some() {
            open_tunnel(&mut stream, &self.endpoint.authority()).await?;
        }
        tls.connect(&self.endpoint.host, stream).await
    }
}

/// Asks an HTTP proxy for a `CONNECT` tunnel to `authority` and reads its answer's head.
async fn open_tunnel(stream: &mut tokio::net::TcpStream, authority: &str) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|error| format!("proxyconnect tcp: {error}"))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte, so nothing of the tunnelled stream is read past the head.
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_CONNECT_ANSWER_BYTES {
            return Err("proxyconnect tcp: the proxy's answer is too long".to_string());
        }
        let read = stream.read(&mut byte).await.map_err(|error| format!("proxyconnect tcp: {error}"))?;
        if read == 0 {
            return Err("proxyconnect tcp: the proxy closed the connection".to_string());
        }
        head.push(byte[0]);
    }
    let status_line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_string();
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => Err(format!("proxyconnect tcp: {status_line}")),
    }
}

/// `application/x-www-form-urlencoded` escaping of a value.
fn form_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_urls_split_into_address_and_token_path() {
        let (address, path) =
            HttpAddress::parse_with_path("http://127.0.0.1:2379/v2/keys/discovery/t1").unwrap();
        assert_eq!(address, HttpAddress { host: "127.0.0.1".into(), port: 2379, secure: false });
        assert_eq!(path, "/v2/keys/discovery/t1");
        assert_eq!(HttpAddress::parse_with_path("http://example.com").unwrap().0.port, 80);
        let (secure, _) = HttpAddress::parse_with_path("https://example.com/t").unwrap();
        assert_eq!((secure.port, secure.secure), (443, true));
        assert!(HttpAddress::parse_with_path("ftp://example.com/t").is_none());
        assert!(HttpAddress::parse_with_path("http:///t").is_none());
    }

    #[test]
    fn form_values_escape_separators() {
        assert_eq!(
            form_escape("m1=http://a:1,m1=http://b:2"),
            "m1%3Dhttp%3A%2F%2Fa%3A1%2Cm1%3Dhttp%3A%2F%2Fb%3A2"
        );
    }

    #[test]
    fn etcd_errors_print_as_etcds_client_prints_them() {
        let error = KeysError::Etcd {
            code: 100,
            message: "Key not found".into(),
            cause: "/discovery".into(),
            index: 3,
        };
        assert_eq!(error.to_string(), "100: Key not found (/discovery) [3]");
    }
}
