//! `/v2/keys` over real HTTP against the fake backend. Expected bytes were taken from etcd 3.4.23
//! (`etcd --enable-v2=true`, curl -sv) unless a comment says otherwise; only the indexes differ, since
//! a fresh etcd has used a few indexes for its own bookkeeping and the fake starts from zero.

mod http_common;

use http_common::{form, get, raw, send, start};
use server::http::ServerError;

#[tokio::test]
async fn set_creates_with_201_then_replaces_with_200_and_prev_node() {
    let (address, _backend) = start().await;
    let created = form(address, "PUT", "/v2/keys/message", "value=Hello+world").await;
    assert_eq!(created.status, 201);
    assert_eq!(
        created.body,
        "{\"action\":\"set\",\"node\":{\"key\":\"/message\",\"value\":\"Hello world\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
    assert_eq!(created.header("content-type"), Some("application/json"));
    assert_eq!(created.header("x-etcd-cluster-id"), Some("cdf818194e3a8c32"));
    assert_eq!(created.header("x-etcd-index"), Some("1"));
    assert_eq!(created.header("x-raft-index"), Some("3"));
    assert_eq!(created.header("x-raft-term"), Some("2"));
    assert_eq!(created.header("access-control-allow-origin"), Some("*"));
    assert_eq!(created.header("access-control-allow-methods"), Some("POST, GET, OPTIONS, PUT, DELETE"));
    assert_eq!(created.header("access-control-allow-headers"), Some("accept, content-type, authorization"));

    let replaced = form(address, "PUT", "/v2/keys/message", "value=again").await;
    assert_eq!(replaced.status, 200);
    assert_eq!(
        replaced.body,
        "{\"action\":\"set\",\"node\":{\"key\":\"/message\",\"value\":\"again\",\"modifiedIndex\":2,\"createdIndex\":2},\
         \"prevNode\":{\"key\":\"/message\",\"value\":\"Hello world\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );

    let read = get(address, "/v2/keys/message").await;
    assert_eq!(read.status, 200);
    assert_eq!(
        read.body,
        "{\"action\":\"get\",\"node\":{\"key\":\"/message\",\"value\":\"again\",\"modifiedIndex\":2,\"createdIndex\":2}}\n"
    );
    assert_eq!(read.header("x-etcd-index"), Some("2"));
}

#[tokio::test]
async fn missing_key_is_404_with_error_json_and_no_raft_headers() {
    let (address, _backend) = start().await;
    form(address, "PUT", "/v2/keys/a", "value=1").await;
    let missing = get(address, "/v2/keys/nonexist/a/b").await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body,
        "{\"errorCode\":100,\"message\":\"Key not found\",\"cause\":\"/nonexist\",\"index\":1}\n"
    );
    assert_eq!(missing.header("x-etcd-index"), Some("1"));
    assert_eq!(missing.header("x-etcd-cluster-id"), Some("cdf818194e3a8c32"));
    assert_eq!(missing.header("x-raft-index"), None);
    assert_eq!(missing.header("x-raft-term"), None);
    assert_eq!(missing.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn parameter_errors_answer_400_with_index_zero() {
    let (address, _backend) = start().await;
    form(address, "PUT", "/v2/keys/a", "value=1").await;
    let bad_ttl = form(address, "PUT", "/v2/keys/a?ttl=abc", "").await;
    assert_eq!(bad_ttl.status, 400);
    assert_eq!(
        bad_ttl.body,
        "{\"errorCode\":202,\"message\":\"The given TTL in POST form is not a number\",\"cause\":\"invalid value for \\\"ttl\\\"\",\"index\":0}\n"
    );
    assert_eq!(bad_ttl.header("x-etcd-index"), Some("0"));
    let bad_bool = get(address, "/v2/keys/a?recursive=maybe").await;
    assert_eq!(
        bad_bool.body,
        "{\"errorCode\":209,\"message\":\"Invalid field\",\"cause\":\"invalid value for \\\"recursive\\\"\",\"index\":0}\n"
    );
    let bad_prev_exist = form(address, "PUT", "/v2/keys/a", "prevExist=maybe").await;
    assert_eq!(
        bad_prev_exist.body,
        "{\"errorCode\":209,\"message\":\"Invalid field\",\"cause\":\"invalid value for prevExist\",\"index\":0}\n"
    );
    let bad_escape = form(address, "PUT", "/v2/keys/a?value=%zz", "").await;
    assert_eq!(bad_escape.status, 400);
    assert_eq!(
        bad_escape.body,
        "{\"errorCode\":210,\"message\":\"Invalid POST form\",\"cause\":\"invalid URL escape \\\"%zz\\\"\",\"index\":0}\n"
    );
    let semicolon = form(address, "PUT", "/v2/keys/a?value=1;b=2", "").await;
    assert_eq!(
        semicolon.body,
        "{\"errorCode\":210,\"message\":\"Invalid POST form\",\"cause\":\"invalid semicolon separator in query\",\"index\":0}\n"
    );
    // Nothing above changed the data.
    assert!(get(address, "/v2/keys/a").await.body.contains("\"value\":\"1\""));
}

#[tokio::test]
async fn body_wins_over_query_first_duplicate_wins_and_json_bodies_are_ignored() {
    let (address, _backend) = start().await;
    let body_wins = form(address, "PUT", "/v2/keys/q?value=fromquery", "value=frombody").await;
    assert!(body_wins.body.contains("\"value\":\"frombody\""), "{}", body_wins.body);
    let first_wins = form(address, "PUT", "/v2/keys/q?value=x&value=y", "").await;
    assert!(first_wins.body.contains("\"value\":\"x\""), "{}", first_wins.body);
    let json = send(address, "PUT", "/v2/keys/j", Some("application/json"), "{\"value\":\"x\"}").await;
    assert_eq!(json.status, 201);
    assert!(json.body.contains("\"key\":\"/j\",\"value\":\"\""), "{}", json.body);
    // DELETE bodies are not parsed (Go reads forms only for POST/PUT/PATCH): a plain delete.
    let delete = form(address, "DELETE", "/v2/keys/q", "prevValue=zzz").await;
    assert_eq!(delete.status, 200);
    assert!(delete.body.starts_with("{\"action\":\"delete\""), "{}", delete.body);
}

#[tokio::test]
async fn in_order_post_compare_and_swap_and_no_value_on_success() {
    let (address, _backend) = start().await;
    let posted = form(address, "POST", "/v2/keys/queue", "value=first").await;
    assert_eq!(posted.status, 201);
    assert_eq!(
        posted.body,
        "{\"action\":\"create\",\"node\":{\"key\":\"/queue/00000000000000000001\",\"value\":\"first\",\"modifiedIndex\":1,\"createdIndex\":1}}\n"
    );
    form(address, "PUT", "/v2/keys/foo", "value=one").await;
    let failed = form(address, "PUT", "/v2/keys/foo?prevValue=two", "value=three").await;
    assert_eq!(failed.status, 412);
    assert_eq!(
        failed.body,
        "{\"errorCode\":101,\"message\":\"Compare failed\",\"cause\":\"[two != one]\",\"index\":2}\n"
    );
    let swapped = form(address, "PUT", "/v2/keys/foo?prevValue=one", "value=three").await;
    assert_eq!(swapped.status, 200);
    assert!(swapped.body.starts_with("{\"action\":\"compareAndSwap\""));
    let trimmed = form(address, "PUT", "/v2/keys/foo?noValueOnSuccess=true", "value=q").await;
    assert_eq!(trimmed.body, "{\"action\":\"set\"}\n");
}

#[tokio::test]
async fn root_listing_and_quorum_read_through_raft() {
    let (address, _backend) = start().await;
    let root = get(address, "/v2/keys/").await;
    assert_eq!(root.body, "{\"action\":\"get\",\"node\":{\"dir\":true}}\n");
    let also_root = get(address, "/v2/keys").await;
    assert_eq!(also_root.body, root.body);
    let plain = get(address, "/v2/keys/").await;
    let quorum = get(address, "/v2/keys/?quorum=true").await;
    let plain_index: u64 = plain.header("x-raft-index").unwrap().parse().unwrap();
    let quorum_index: u64 = quorum.header("x-raft-index").unwrap().parse().unwrap();
    assert!(
        quorum_index > plain_index,
        "a quorum read goes through the log ({plain_index} -> {quorum_index})"
    );
}

#[tokio::test]
async fn head_has_get_headers_and_length_but_no_body() {
    let (address, _backend) = start().await;
    form(address, "PUT", "/v2/keys/a", "value=1").await;
    let answer = raw(address, "HEAD /v2/keys/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    // `{"action":"get","node":{"key":"/a","value":"1","modifiedIndex":1,"createdIndex":1}}\n` = 84 bytes.
    assert!(answer.contains("\r\nContent-Length: 84\r\n"), "{answer}");
    assert!(answer.contains("\r\nX-Etcd-Index: 1\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n"), "no body after the headers: {answer}");
}

#[tokio::test]
async fn options_405_404_redirect_and_bad_paths() {
    let (address, _backend) = start().await;
    let options = send(address, "OPTIONS", "/v2/keys/a", None, "").await;
    assert_eq!(options.status, 200);
    assert_eq!(options.body, "");
    assert_eq!(options.header("content-type"), None);
    assert_eq!(options.header("access-control-allow-origin"), Some("*"));

    let patch = send(address, "PATCH", "/v2/keys/a", None, "").await;
    assert_eq!(patch.status, 405);
    assert_eq!(patch.body, "Method Not Allowed\n");
    assert_eq!(patch.header("allow"), Some("HEAD,GET,PUT,POST,DELETE"));
    assert_eq!(patch.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(patch.header("x-etcd-cluster-id"), None, "etcd checks the method before anything else");
    assert_eq!(patch.header("access-control-allow-origin"), Some("*"));

    let version_post = send(address, "POST", "/version", None, "").await;
    assert_eq!((version_post.status, version_post.header("allow")), (405, Some("GET")));

    let unknown = get(address, "/v2/nothing").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body, "404 page not found\n");

    let double = get(address, "/v2/keys//dbl/slash?x=1").await;
    assert_eq!(double.status, 301);
    assert_eq!(double.header("location"), Some("/v2/keys/dbl/slash?x=1"));
    assert_eq!(double.body, "<a href=\"/v2/keys/dbl/slash?x=1\">Moved Permanently</a>.\n\n");

    let bad_escape = raw(address, "GET /v2/keys/a%zz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(bad_escape.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{bad_escape}");
    assert!(bad_escape.ends_with("400 Bad Request"), "{bad_escape}");

    let spaced = form(address, "PUT", "/v2/keys/sp%20ace/", "value=1").await;
    assert!(spaced.body.contains("\"key\":\"/sp ace\""), "{}", spaced.body);
}

#[tokio::test]
async fn bodies_over_one_and_a_half_mebibytes_get_413_and_change_nothing() {
    let (address, _backend) = start().await;
    let huge = format!("value={}", "a".repeat(server::http::MAX_REQUEST_BODY_BYTES));
    let answer = form(address, "PUT", "/v2/keys/big", &huge).await;
    assert_eq!(answer.status, 413);
    assert_eq!(get(address, "/v2/keys/big").await.status, 404);
    // Just under the limit is fine.
    let fits = format!("value={}", "a".repeat(server::http::MAX_REQUEST_BODY_BYTES - 6));
    assert_eq!(form(address, "PUT", "/v2/keys/big", &fits).await.status, 201);
}

#[tokio::test]
async fn node_failures_map_to_etcd_300_and_301_errors() {
    let (address, backend) = start().await;
    backend.set_failure(Some(ServerError::Timeout));
    let timeout = form(address, "PUT", "/v2/keys/a", "value=1").await;
    assert_eq!(timeout.status, 500);
    assert_eq!(
        timeout.body,
        "{\"errorCode\":300,\"message\":\"Raft Internal Error\",\"cause\":\"etcdserver: request timed out\",\"index\":0}\n"
    );
    assert_eq!(timeout.header("x-etcd-index"), Some("0"));
    backend.set_failure(Some(ServerError::NoLeader));
    let no_leader = get(address, "/v2/keys/a?quorum=true").await;
    assert_eq!(no_leader.status, 500);
    assert!(no_leader.body.starts_with("{\"errorCode\":301,\"message\":\"During Leader Election\""));
    backend.set_failure(None);
    assert_eq!(form(address, "PUT", "/v2/keys/a", "value=1").await.status, 201);
}

#[tokio::test]
async fn keep_alive_connection_serves_many_requests() {
    let (address, _backend) = start().await;
    let mut sender = http_common::connect(address).await;
    for round in 0..50 {
        let request = http_common::request(
            "PUT",
            "/v2/keys/counter",
            Some("application/x-www-form-urlencoded"),
            &format!("value={round}"),
        );
        let answer = http_common::read_answer(sender.send_request(request).await.expect("response")).await;
        assert_eq!(answer.header("x-etcd-index"), Some((round + 1).to_string().as_str()));
    }
}

#[tokio::test]
async fn cors_list_echoes_allowed_origins_and_omits_headers_for_others() {
    // etcd 3.4 with --cors=<list>: the allowed request Origin is echoed; other origins get no CORS headers.
    let options = server::http::ServeOptions {
        cors: vec!["http://good.example".to_string()],
        ..server::http::ServeOptions::default()
    };
    let address = http_common::start_with_options(options).await;
    let answer_for = |origin: &'static str| async move {
        let mut sender = http_common::connect(address).await;
        let mut request = http_common::request("GET", "/v2/keys/", None, "");
        request.headers_mut().insert("origin", origin.parse().unwrap());
        http_common::read_answer(sender.send_request(request).await.expect("response")).await
    };
    let allowed = answer_for("http://good.example").await;
    assert_eq!(allowed.header("access-control-allow-origin"), Some("http://good.example"));
    assert_eq!(allowed.header("access-control-allow-methods"), Some("POST, GET, OPTIONS, PUT, DELETE"));
    let other = answer_for("http://evil.example").await;
    assert_eq!(other.status, 200);
    assert_eq!(other.header("access-control-allow-origin"), None);
    assert_eq!(other.header("access-control-allow-methods"), None);
}
