//! The `/v3/` JSON gateway over the same listener: curl's requests as etcd 3.4's gateway answers them
//! (base64 keys and values, 64-bit integers as strings, the protos' field names, defaults left out,
//! gRPC errors as `{"error","message","code"}`), served by the very gRPC services.

mod grpc_common;

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An HTTP/1.1 POST with a JSON body, as curl sends it; returns the status and the body.
async fn post(address: SocketAddr, path: &str, body: &str) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let text = String::from_utf8(answer).expect("utf-8");
    let status = text[9..12].parse().expect("a status");
    let (_, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    (status, serde_json::from_str(body.trim()).unwrap_or_else(|_| panic!("JSON body: {body:?}")))
}

#[tokio::test]
async fn put_then_range_through_the_gateway_look_like_etcds() {
    let served = grpc_common::start().await;
    let (status, put) = post(served.address, "/v3/kv/put", r#"{"key":"Zm9v","value":"YmFy"}"#).await;
    assert_eq!(status, 200, "{put}");
    let header = &put["header"];
    assert_eq!(header["cluster_id"], grpc_common::CLUSTER_ID.to_string());
    assert_eq!(header["member_id"], grpc_common::MEMBER_ID.to_string());
    assert_eq!(header["revision"], "2");
    assert!(put.get("prev_kv").is_none(), "defaults are left out: {put}");

    let (status, range) = post(served.address, "/v3/kv/range", r#"{"key":"Zm9v"}"#).await;
    assert_eq!(status, 200);
    let kv = &range["kvs"][0];
    assert_eq!((kv["key"].as_str(), kv["value"].as_str()), (Some("Zm9v"), Some("YmFy")));
    assert_eq!((kv["create_revision"].as_str(), kv["version"].as_str()), (Some("2"), Some("1")));
    assert_eq!(range["count"], "1");

    let (_, missing) = post(served.address, "/v3/kv/range", r#"{"key":"bm9wZQ=="}"#).await;
    assert!(missing.get("kvs").is_none() && missing.get("count").is_none(), "{missing}");
}

#[tokio::test]
async fn lease_grant_and_status_use_the_protos_own_field_names() {
    let served = grpc_common::start().await;
    let (status, grant) = post(served.address, "/v3/lease/grant", r#"{"TTL":30}"#).await;
    assert_eq!(status, 200, "{grant}");
    assert_eq!(grant["TTL"], "30");
    assert!(grant["ID"].as_str().is_some_and(|id| id.parse::<i64>().is_ok_and(|id| id > 0)), "{grant}");
    let (_, status_reply) = post(served.address, "/v3/maintenance/status", "{}").await;
    assert!(status_reply["dbSize"].as_str().is_some(), "{status_reply}");
    assert!(status_reply["raftIndex"].as_str().is_some(), "{status_reply}");
}

#[tokio::test]
async fn errors_come_back_as_grpc_gateway_error_bodies() {
    let served = grpc_common::start().await;
    let (status, body) = post(served.address, "/v3/kv/range", "not json").await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(3)), "{body}");
    assert_eq!(body["error"], body["message"]);
    let (status, body) = post(served.address, "/v3/kv/put", r#"{"value":"eA=="}"#).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(3)), "{body}");
    assert_eq!(body["message"], "etcdserver: key is not provided");
    let (status, _) = post(served.address, "/v3/kv/nothing", "{}").await;
    assert_eq!(status, 404);
}

/// Sends a POST whose answer streams; returns the connection after the head was read, and the head.
async fn open_stream(address: SocketAddr, path: &str, body: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    // A head is a few hundred bytes: read it byte by byte up to its blank line.
    while !head.ends_with(b"\r\n\r\n") {
        assert!(head.len() < 4096, "an HTTP head ends within 4 KiB");
        let byte = stream.read_u8().await.expect("the head");
        head.push(byte);
    }
    (stream, String::from_utf8(head).expect("utf-8"))
}

/// Reads chunked lines until `count` whole JSON lines arrived (at most 5 s).
async fn read_lines(stream: &mut TcpStream, count: usize) -> Vec<serde_json::Value> {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let whole = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
        let lines: Vec<serde_json::Value> = whole
            .lines()
            .filter(|line| line.starts_with('{'))
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        if lines.len() >= count {
            return lines;
        }
        let mut buffer = [0u8; 4096];
        let Ok(read) = tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await else {
            panic!("{count} lines did not arrive in 5 s: {text:?}");
        };
        let read = read.expect("read");
        assert!(read > 0, "the stream ended early: {text}");
        text.push_str(std::str::from_utf8(&buffer[..read]).expect("utf-8"));
    }
}

/// Reads until the chunked body's last chunk (at most 5 s): the call ended. Returns what came.
async fn read_to_last_chunk(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !received.ends_with(b"0\r\n\r\n") {
        let mut buffer = [0u8; 4096];
        let Ok(read) = tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await else {
            panic!("the stream did not end in 5 s: {:?}", String::from_utf8_lossy(&received));
        };
        let read = read.expect("read");
        assert!(read > 0, "the connection closed before the last chunk");
        received.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8(received).expect("utf-8")
}

#[tokio::test]
async fn a_watch_through_the_gateway_streams_each_event_as_a_result_line() {
    let served = grpc_common::start().await;
    let (mut watch, head) =
        open_stream(served.address, "/v3/watch", r#"{"create_request":{"key":"Zm9v"}}"#).await;
    assert!(head.starts_with("HTTP/1.1 200") && head.contains("chunked"), "{head}");
    let created = read_lines(&mut watch, 1).await;
    assert_eq!(created[0]["result"]["created"], true, "{created:?}");
    let (status, _) = post(served.address, "/v3/kv/put", r#"{"key":"Zm9v","value":"YmFy"}"#).await;
    assert_eq!(status, 200);
    let (status, _) = post(served.address, "/v3/kv/deleterange", r#"{"key":"Zm9v"}"#).await;
    assert_eq!(status, 200);
    let lines = read_lines(&mut watch, 2).await;
    let put = &lines[0]["result"]["events"][0];
    assert_eq!((put["kv"]["key"].as_str(), put["kv"]["value"].as_str()), (Some("Zm9v"), Some("YmFy")));
    assert!(put.get("type").is_none(), "PUT is the default and left out: {put}");
    let delete = &lines[1]["result"]["events"][0];
    assert_eq!((delete["type"].as_str(), delete["kv"]["mod_revision"].as_str()), (Some("DELETE"), Some("3")));
}

#[tokio::test]
async fn keepalive_and_snapshot_stream_through_the_gateway() {
    let served = grpc_common::start().await;
    let (_, grant) = post(served.address, "/v3/lease/grant", r#"{"TTL":30}"#).await;
    let id = grant["ID"].as_str().expect("an ID").to_string();
    let (mut keepalive, _) =
        open_stream(served.address, "/v3/lease/keepalive", &format!(r#"{{"ID":"{id}"}}"#)).await;
    // etcd's keep-alive call answers the body's requests and ends.
    let whole_body = read_to_last_chunk(&mut keepalive).await;
    let answer: Vec<serde_json::Value> = whole_body
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(answer.len(), 1, "{whole_body}");
    assert_eq!(
        (answer[0]["result"]["ID"].as_str(), answer[0]["result"]["TTL"].as_str()),
        (Some(id.as_str()), Some("30"))
    );
    let (mut snapshot, _) = open_stream(served.address, "/v3/maintenance/snapshot", "{}").await;
    let chunk = read_lines(&mut snapshot, 1).await;
    assert!(chunk[0]["result"]["blob"].as_str().is_some_and(|blob| !blob.is_empty()), "{chunk:?}");
    let (refused, head) = open_stream(served.address, "/v3/watch", "nonsense").await;
    drop(refused);
    assert!(head.starts_with("HTTP/1.1 500"), "{head}");
}

#[tokio::test]
async fn users_are_added_and_authenticated_through_the_gateway() {
    let served = grpc_common::start().await;
    let address = served.address;
    let (status, added) = post(address, "/v3/auth/user/add", r#"{"name":"root","password":"pw"}"#).await;
    assert_eq!(status, 200, "{added}");
    let (status, _) = post(address, "/v3/auth/user/grant", r#"{"user":"root","role":"root"}"#).await;
    assert_eq!(status, 200);
    let (_, users) = post(address, "/v3/auth/user/list", "{}").await;
    assert_eq!(users["users"], serde_json::json!(["root"]));
    let (status, _) = post(address, "/v3/auth/enable", "{}").await;
    assert_eq!(status, 200);
    let (status, refused) =
        post(address, "/v3/auth/authenticate", r#"{"name":"root","password":"no"}"#).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["message"], "etcdserver: authentication failed, invalid user ID or password");
    let (status, authenticated) =
        post(address, "/v3/auth/authenticate", r#"{"name":"root","password":"pw"}"#).await;
    assert_eq!(status, 200, "{authenticated}");
    assert!(authenticated["token"].as_str().is_some_and(|token| token.contains('.')), "{authenticated}");
}
