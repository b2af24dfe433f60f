//! One client port, two APIs, as etcd serves them: HTTP/1.1 connections get the v2 API exactly as
//! before, HTTP/2 (prior knowledge) connections get gRPC for `application/grpc` requests and the v2
//! API for everything else.

mod grpc_common;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn http1_get(address: SocketAddr, path: &str) -> (u16, String) {
    let stream = TcpStream::connect(address).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let request = Request::get(path).header("host", "localhost").body(Empty::<Bytes>::new()).unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn http2_get(address: SocketAddr, path: &str) -> (u16, String) {
    let stream = TcpStream::connect(address).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let uri = format!("http://{address}{path}");
    let request = Request::get(uri).body(Empty::<Bytes>::new()).unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn v2_over_http1_and_http2_and_v3_over_grpc_share_the_port() {
    let served = grpc_common::start().await;
    let (status, body) = http1_get(served.address, "/version").await;
    assert_eq!((status, body.as_str()), (200, "{\"etcdserver\":\"3.4.23\",\"etcdcluster\":\"3.4.0\"}"));
    let (status, body) = http2_get(served.address, "/v2/keys/missing").await;
    assert_eq!(status, 404);
    assert!(body.contains("\"errorCode\":100"), "{body}");
    let put =
        api::etcdserverpb::PutRequest { key: b"k".to_vec(), value: b"v".to_vec(), ..Default::default() };
    served.kv().put(put).await.unwrap();
    let (status, _) = http1_get(served.address, "/v2/keys/k").await;
    assert_eq!(status, 404, "the v2 and v3 keyspaces are separate, as in etcd");
}

#[tokio::test]
async fn an_http1_exchange_is_byte_for_byte_what_it_was_without_grpc() {
    let served = grpc_common::start().await;
    let plain = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(server::http::serve(listener, served.backend.clone()));
        address
    };
    let request = b"GET /v2/keys/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let with_grpc = raw_exchange(served.address, request).await;
    let without = raw_exchange(plain, request).await;
    let strip_date =
        |text: &str| text.lines().filter(|line| !line.starts_with("Date:")).collect::<Vec<_>>().join("\n");
    assert_eq!(strip_date(&with_grpc), strip_date(&without));
    assert!(with_grpc.starts_with("HTTP/1.1 404 Not Found\r\n"), "{with_grpc}");
}

async fn raw_exchange(address: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_connection_that_sends_the_preface_slowly_is_still_http2() {
    let served = grpc_common::start().await;
    let mut stream = TcpStream::connect(served.address).await.unwrap();
    stream.write_all(b"PRI * HTTP/2").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    stream.write_all(b".0\r\n\r\nSM\r\n\r\n").await.unwrap();
    // An empty SETTINGS frame; the server answers with its own SETTINGS frame (type 4).
    stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    let mut frame_head = [0u8; 9];
    tokio::time::timeout(grpc_common::STREAM_TIMEOUT, stream.read_exact(&mut frame_head))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame_head[3], 4, "a SETTINGS frame");
}
