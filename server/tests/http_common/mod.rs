//! Shared by the `http_*` tests: start `serve` on 127.0.0.1:0 over the fake backend, and talk to it with
//! hyper's own client (parsed answers) or a raw socket (exact bytes).

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use server::http::fake::FakeBackend;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub async fn start() -> (SocketAddr, FakeBackend) {
    let backend = FakeBackend::new();
    let address = start_with(backend.clone()).await;
    (address, backend)
}

pub async fn start_with(backend: FakeBackend) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(server::http::serve(listener, backend));
    address
}

/// As `start`, with explicit serve options (`--cors`).
pub async fn start_with_options(options: server::http::ServeOptions) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    let backend = FakeBackend::new();
    tokio::spawn(server::http::serve_with_options(listener, backend, options, std::future::pending()));
    address
}

/// A parsed answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// Opens a connection and returns hyper's request sender for it.
pub async fn connect(address: SocketAddr) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(address).await.expect("connect");
    let (sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    sender
}

pub fn request(method: &str, target: &str, content_type: Option<&str>, body: &str) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(target).header("Host", "127.0.0.1");
    if let Some(content_type) = content_type {
        builder = builder.header("Content-Type", content_type);
    }
    builder.body(Full::new(Bytes::from(body.to_string()))).expect("valid request")
}

pub async fn read_answer(response: hyper::Response<Incoming>) -> Answer {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), value.to_str().unwrap_or("").to_string()))
        .collect();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    Answer { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// One request on a fresh connection.
pub async fn send(
    address: SocketAddr,
    method: &str,
    target: &str,
    content_type: Option<&str>,
    body: &str,
) -> Answer {
    let mut sender = connect(address).await;
    let response = sender.send_request(request(method, target, content_type, body)).await.expect("response");
    read_answer(response).await
}

pub async fn get(address: SocketAddr, target: &str) -> Answer {
    send(address, "GET", target, None, "").await
}

/// A form-encoded write, as `curl -X<method> -d <form>` sends it.
pub async fn form(address: SocketAddr, method: &str, target: &str, form: &str) -> Answer {
    send(address, method, target, Some("application/x-www-form-urlencoded"), form).await
}

/// Sends raw bytes and returns everything the server writes until it closes the connection.
pub async fn raw(address: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}
