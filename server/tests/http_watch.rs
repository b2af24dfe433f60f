//! Watches over real HTTP: long polls flush their headers at once and end after one event; streams emit
//! one JSON line per event; a client that leaves cancels its watcher. Behaviour compared with etcd 3.4.23.

mod http_common;

use http_body_util::BodyExt;
use http_common::{connect, form, get, request, start};
use std::time::Duration;

/// Waits (boundedly) for a condition that depends on another task making progress.
async fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn long_poll_sends_headers_at_once_then_one_event_and_ends() {
    let (address, backend) = start().await;
    form(address, "PUT", "/v2/keys/other", "value=0").await;
    let mut watcher = connect(address).await;
    // The response head arrives before any event exists: headers are flushed at once.
    let response =
        watcher.send_request(request("GET", "/v2/keys/foo?wait=true", None, "")).await.expect("head");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-etcd-index"], "1", "the index when the watch started");
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    assert!(response.headers().contains_key("x-raft-index"));
    assert_eq!(backend.watcher_count(), 1);

    form(address, "PUT", "/v2/keys/foo", "value=bar").await;
    let body = response.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&body),
        "{\"action\":\"set\",\"node\":{\"key\":\"/foo\",\"value\":\"bar\",\"modifiedIndex\":2,\"createdIndex\":2}}\n"
    );
    assert_eq!(backend.watcher_count(), 0, "a long poll is one-shot");
}

#[tokio::test]
async fn wait_index_in_history_answers_at_once_with_the_current_index() {
    let (address, _backend) = start().await;
    form(address, "PUT", "/v2/keys/color", "value=red").await;
    form(address, "PUT", "/v2/keys/color", "value=green").await;
    form(address, "PUT", "/v2/keys/unrelated", "value=x").await;
    let answer = get(address, "/v2/keys/color?wait=true&waitIndex=1").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-etcd-index"), Some("3"));
    assert_eq!(
        answer.body,
        "{\"action\":\"set\",\"node\":{\"key\":\"/color\",\"value\":\"red\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
    let second = get(address, "/v2/keys/color?wait=true&waitIndex=2").await;
    assert!(second.body.contains("\"value\":\"green\""), "{}", second.body);
}

#[tokio::test]
async fn recursive_stream_emits_each_event_as_a_line_until_the_client_leaves() {
    let (address, backend) = start().await;
    let mut watcher = connect(address).await;
    let response = watcher
        .send_request(request("GET", "/v2/keys/dir?wait=true&recursive=true&stream=true", None, ""))
        .await
        .expect("head");
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    for (round, key) in ["a", "b", "c"].iter().enumerate() {
        form(address, "PUT", &format!("/v2/keys/dir/{key}"), &format!("value={round}")).await;
        let frame = body.frame().await.expect("a frame").expect("no error");
        let line = String::from_utf8_lossy(frame.data_ref().expect("data")).into_owned();
        assert!(line.ends_with("}\n"), "{line}");
        assert!(line.contains(&format!("\"key\":\"/dir/{key}\"")), "{line}");
    }
    assert_eq!(backend.watcher_count(), 1, "a stream watch stays registered");
    drop(body);
    drop(watcher);
    assert!(eventually(|| backend.watcher_count() == 0).await, "leaving cancels the stream watch");
}

#[tokio::test]
async fn a_client_that_disconnects_from_a_long_poll_cancels_its_watcher() {
    let (address, backend) = start().await;
    let mut watcher = connect(address).await;
    let response =
        watcher.send_request(request("GET", "/v2/keys/idle?wait=true", None, "")).await.expect("head");
    assert_eq!(backend.watcher_count(), 1);
    drop(response);
    drop(watcher);
    assert!(eventually(|| backend.watcher_count() == 0).await, "the watcher is cancelled");
    // The server still works for others.
    assert_eq!(form(address, "PUT", "/v2/keys/idle", "value=1").await.status, 201);
}

#[tokio::test]
async fn wait_index_older_than_the_history_is_error_401_with_http_400() {
    let (address, _backend) = start().await;
    for round in 0..1005 {
        form(address, "PUT", "/v2/keys/k", &format!("value={round}")).await;
    }
    let answer = get(address, "/v2/keys/k?wait=true&waitIndex=5").await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body,
        "{\"errorCode\":401,\"message\":\"The event in requested index is outdated and cleared\",\
         \"cause\":\"the requested history has been cleared [6/5]\",\"index\":1005}\n"
    );
}

#[tokio::test]
async fn wait_on_a_write_method_is_refused() {
    let (address, _backend) = start().await;
    let answer = form(address, "PUT", "/v2/keys/k?wait=true", "value=1").await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body,
        "{\"errorCode\":209,\"message\":\"Invalid field\",\"cause\":\"\\\"wait\\\" can only be used with GET requests\",\"index\":0}\n"
    );
}

#[tokio::test]
async fn stream_from_history_sends_exactly_one_event_then_stays_silent() {
    // Observed on etcd 3.4.23: stream=true with a waitIndex already in the history answers that one
    // event and then keeps the connection open without sending anything more.
    let (address, _backend) = start().await;
    form(address, "PUT", "/v2/keys/h", "value=old").await;
    let mut watcher = connect(address).await;
    let response = watcher
        .send_request(request("GET", "/v2/keys/h?wait=true&stream=true&waitIndex=1", None, ""))
        .await
        .expect("head");
    assert_eq!(response.headers()["x-etcd-index"], "1");
    let mut body = response.into_body();
    let frame = body.frame().await.expect("a frame").expect("no error");
    let line = String::from_utf8_lossy(frame.data_ref().expect("data")).into_owned();
    assert!(line.contains("\"value\":\"old\""), "{line}");
    form(address, "PUT", "/v2/keys/h", "value=new").await;
    let next = tokio::time::timeout(Duration::from_millis(300), body.frame()).await;
    assert!(next.is_err(), "nothing more arrives on a stream answered from the history");
}

#[tokio::test]
async fn head_of_a_missing_key_has_the_error_headers_and_no_body() {
    let (address, _backend) = start().await;
    let answer =
        http_common::raw(address, "HEAD /v2/keys/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
    assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
    // `{"errorCode":100,"message":"Key not found","cause":"/nope","index":0}\n` = 70 bytes (etcd, at
    // index 14, answered the same HEAD with 71).
    assert!(answer.contains("\r\nContent-Length: 70\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n"), "{answer}");
}
