//! The v2 keys API over one HTTP/1.1 keep-alive connection (hyper's client connection, plain http only):
//! put, get and quorum get, and the long-poll watch. A failed connection is dropped and dialled again on
//! the next request.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long dialling a member may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a request got back.
pub struct Answer {
    pub status: StatusCode,
    /// The `X-Etcd-Index` header (the store's index when the answer was made), if any.
    pub etcd_index: Option<u64>,
    pub body: Bytes,
}

/// One HTTP/1.1 connection to one member.
pub struct Connection {
    authority: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    /// A connection to `endpoint` (`http://host:port`), dialled on first use.
    pub fn new(endpoint: &str) -> Result<Connection, String> {
        let uri: hyper::Uri = endpoint.parse().map_err(|error| format!("endpoint {endpoint}: {error}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("endpoint {endpoint}: only http:// is supported"));
        }
        let authority = uri.authority().ok_or_else(|| format!("endpoint {endpoint}: no host"))?.to_string();
        Ok(Connection { authority, sender: None })
    }

    async fn dial(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.authority))
            .await
            .map_err(|_| format!("connect {}: timed out", self.authority))?
            .map_err(|error| format!("connect {}: {error}", self.authority))?;
        stream.set_nodelay(true).map_err(|error| format!("nodelay: {error}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| format!("handshake {}: {error}", self.authority))?;
        tokio::spawn(async move {
            // The connection task ends when the sender is dropped or the peer closes.
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Dials the connection unless it is open.
    pub async fn connect(&mut self) -> Result<(), String> {
        if self.sender.is_none() {
            self.sender = Some(self.dial().await?);
        }
        Ok(())
    }

    /// Sends one request and reads its whole answer.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        form: Option<String>,
    ) -> Result<Answer, String> {
        self.connect().await?;
        let sender = self.sender.as_mut().expect("dialled above");
        let mut builder = Request::builder().method(method).uri(path).header("host", &self.authority);
        if form.is_some() {
            builder = builder.header("content-type", "application/x-www-form-urlencoded");
        }
        let body = Full::new(Bytes::from(form.unwrap_or_default()));
        let request = builder.body(body).map_err(|error| format!("request {path}: {error}"))?;
        let outcome = async {
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let status = response.status();
            let etcd_index = response
                .headers()
                .get("x-etcd-index")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse().ok());
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<Answer, hyper::Error>(Answer { status, etcd_index, body })
        }
        .await;
        outcome.map_err(|error| {
            self.sender = None;
            format!("{path}: {error}")
        })
    }

    /// `PUT /v2/keys/<key>` with `value=<value>`.
    pub async fn put(&mut self, key: &str, value: &str) -> Result<Answer, String> {
        expect_success(
            self.request(Method::PUT, &format!("/v2/keys/{key}"), Some(format!("value={value}"))).await,
        )
    }

    /// `GET /v2/keys/<key>` (with `?quorum=true` when asked).
    pub async fn get(&mut self, key: &str, quorum: bool) -> Result<Answer, String> {
        let query = if quorum { "?quorum=true" } else { "" };
        expect_success(self.request(Method::GET, &format!("/v2/keys/{key}{query}"), None).await)
    }

    /// The long poll: `GET /v2/keys/<key>?wait=true&waitIndex=<index>`, answered by the first event on
    /// the key at or after `index` (or 401 `event index cleared` when that is out of the history).
    pub async fn wait(&mut self, key: &str, index: u64) -> Result<Answer, String> {
        self.request(Method::GET, &format!("/v2/keys/{key}?wait=true&waitIndex={index}"), None).await
    }
}

/// A 2xx answer, or its status and body as the error.
fn expect_success(answer: Result<Answer, String>) -> Result<Answer, String> {
    let answer = answer?;
    if answer.status.is_success() {
        Ok(answer)
    } else {
        Err(format!("{}: {}", answer.status, String::from_utf8_lossy(&answer.body).trim()))
    }
}

/// The event a watch answer carries: the node's modified index and value.
pub fn watch_event(body: &[u8]) -> Result<(u64, Vec<u8>), String> {
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|error| format!("watch answer is not JSON: {error}"))?;
    let node = &json["node"];
    let index = node["modifiedIndex"].as_u64().ok_or("watch answer without node.modifiedIndex")?;
    let value = node["value"].as_str().unwrap_or_default().as_bytes().to_vec();
    Ok((index, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_answer_gives_the_index_and_value_of_its_node() {
        let body = br#"{"action":"set","node":{"key":"/bench/1","value":"abc","modifiedIndex":42,"createdIndex":42}}"#;
        assert_eq!(watch_event(body).unwrap(), (42, b"abc".to_vec()));
        assert!(watch_event(b"{}").is_err());
        assert!(watch_event(b"not json").is_err());
    }

    #[test]
    fn only_plain_http_endpoints_are_accepted() {
        assert!(Connection::new("http://127.0.0.1:2379").is_ok());
        assert!(Connection::new("https://127.0.0.1:2379").is_err());
        assert!(Connection::new("127.0.0.1:2379").is_err());
    }
}
