//! Bounds of the client listener: at most `--max-client-connections` connections are open at once;
//! a connection beyond it is closed at once and counted in `/metrics`, and a place freed by a client
//! that leaves is taken by the next one.

mod http_common;

use std::net::SocketAddr;
use std::time::Duration;

use http_common::{get, start_with_options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens a connection and proves the server serves it (a whole `/version` exchange).
async fn open_served(address: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut buffer = [0u8; 512];
    let read =
        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await.expect("answered");
    let read = read.expect("read");
    assert!(buffer[..read].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buffer[..read]));
    stream
}

/// True when the server closes `stream` without answering.
async fn closed_unanswered(mut stream: TcpStream) -> bool {
    let _ = stream.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut buffer = [0u8; 64];
    let read =
        tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await.expect("closed in time");
    matches!(read, Ok(0) | Err(_))
}

fn metric(text: &str, name: &str) -> u64 {
    let line = text.lines().find(|line| line.starts_with(&format!("{name} "))).expect("metric present");
    line.rsplit(' ').next().unwrap().parse().expect("a number")
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_at_once_and_counted() {
    let options =
        server::http::ServeOptions { max_client_connections: 2, ..server::http::ServeOptions::default() };
    let address = start_with_options(options).await;
    let refused_before = refused_connections(address).await;
    let first = open_served(address).await;
    let second = open_served(address).await;

    let third = TcpStream::connect(address).await.expect("the kernel accepts; the server closes");
    assert!(closed_unanswered(third).await, "a third connection must be closed while two are open");
    // `/metrics` itself needs a place: free one first, then read the counter through it.
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(refused_connections(address).await > refused_before, "the closed connection is counted");
    let _third = open_served(address).await;
    drop(second);
}

/// `concord_client_connections_refused_total`, read through a connection of its own (closed after).
async fn refused_connections(address: SocketAddr) -> u64 {
    let count = metric(&get(address, "/metrics").await.body, "concord_client_connections_refused_total");
    tokio::time::sleep(Duration::from_millis(100)).await;
    count
}
