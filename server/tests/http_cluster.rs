//! Cluster endpoints over real HTTP: `/v2/members`, `/v2/stats/*`, `/v2/machines`, `/health`,
//! `/version`, `/metrics`. Shapes, status codes and messages compared with etcd 3.4.23.

mod http_common;

use http_common::{get, send, start};
use server::http::ServerError;

const JSON: Option<&str> = Some("application/json");

#[tokio::test]
async fn members_list_leader_and_add_remove_update() {
    let (address, _backend) = start().await;
    let list = get(address, "/v2/members").await;
    assert_eq!(list.status, 200);
    assert_eq!(
        list.body,
        "{\"members\":[{\"id\":\"8e9e05c52164694d\",\"name\":\"default\",\"peerURLs\":[\"http://localhost:2380\"],\
         \"clientURLs\":[\"http://localhost:2379\"]}]}\n"
    );
    assert_eq!(list.header("x-etcd-cluster-id"), Some("cdf818194e3a8c32"));
    assert_eq!(list.header("content-type"), Some("application/json"));

    let leader = get(address, "/v2/members/leader").await;
    assert_eq!(leader.status, 200);
    assert!(leader.body.starts_with("{\"id\":\"8e9e05c52164694d\",\"name\":\"default\""), "{}", leader.body);
    assert!(leader.body.ends_with("}\n"));

    let form_body =
        send(address, "POST", "/v2/members", Some("application/x-www-form-urlencoded"), "x=1").await;
    assert_eq!(form_body.status, 415);
    assert_eq!(
        form_body.body,
        "{\"message\":\"Bad Content-Type application/x-www-form-urlencoded, accept application/json\"}"
    );

    let added =
        send(address, "POST", "/v2/members", JSON, "{\"peerURLs\":[\"http://127.0.0.1:23802\"]}").await;
    assert_eq!(added.status, 201);
    assert_eq!(
        added.body,
        "{\"id\":\"1001\",\"name\":\"\",\"peerURLs\":[\"http://127.0.0.1:23802\"],\"clientURLs\":[]}\n"
    );

    let again =
        send(address, "POST", "/v2/members", JSON, "{\"peerURLs\":[\"http://127.0.0.1:23802\"]}").await;
    assert_eq!((again.status, again.body.as_str()), (409, "{\"message\":\"membership: peerURL exists\"}"));

    let bad_url = send(address, "POST", "/v2/members", JSON, "{\"peerURLs\":[\"ftp://x:1\"]}").await;
    assert_eq!(bad_url.status, 400);
    assert_eq!(bad_url.body, "{\"message\":\"URL scheme must be http, https, unix, or unixs: ftp://x:1\"}");
    let garbage = send(address, "POST", "/v2/members", JSON, "not json").await;
    assert_eq!(garbage.status, 400);

    let updated =
        send(address, "PUT", "/v2/members/1001", JSON, "{\"peerURLs\":[\"http://127.0.0.1:23803\"]}").await;
    assert_eq!((updated.status, updated.body.as_str()), (204, ""));
    let removed = send(address, "DELETE", "/v2/members/1001", None, "").await;
    assert_eq!((removed.status, removed.body.as_str()), (204, ""));
    let gone = send(address, "DELETE", "/v2/members/1001", None, "").await;
    assert_eq!(
        (gone.status, gone.body.as_str()),
        (410, "{\"message\":\"Member permanently removed: 1001\"}")
    );
    let bad_id = send(address, "DELETE", "/v2/members/zzzz", None, "").await;
    assert_eq!((bad_id.status, bad_id.body.as_str()), (404, "{\"message\":\"No such member: zzzz\"}"));
    let unknown = send(address, "DELETE", "/v2/members/abc", None, "").await;
    assert_eq!((unknown.status, unknown.body.as_str()), (404, "{\"message\":\"No such member: abc\"}"));

    // PUT/DELETE without an id: 405 without Allow (etcd's getID); other methods: 405 with Allow.
    let no_id = send(address, "PUT", "/v2/members", JSON, "{}").await;
    assert_eq!((no_id.status, no_id.header("allow")), (405, None));
    assert_eq!(no_id.header("x-etcd-cluster-id"), Some("cdf818194e3a8c32"));
    let patch = send(address, "PATCH", "/v2/members", None, "").await;
    assert_eq!((patch.status, patch.header("allow")), (405, Some("GET,POST,DELETE,PUT")));
}

#[tokio::test]
async fn stats_machines_version_and_metrics() {
    let (address, backend) = start().await;
    http_common::form(address, "PUT", "/v2/keys/a", "value=1").await;
    let own = get(address, "/v2/stats/self").await;
    assert_eq!(own.status, 200);
    assert!(own.body.starts_with(
        "{\"name\":\"default\",\"id\":\"8e9e05c52164694d\",\"state\":\"StateLeader\",\"startTime\":\""
    ));
    assert!(
        own.body.contains("\"leaderInfo\":{\"leader\":\"8e9e05c52164694d\",\"uptime\":\""),
        "{}",
        own.body
    );
    assert!(
        own.body.ends_with("\"recvAppendRequestCnt\":0,\"sendAppendRequestCnt\":0}"),
        "no newline: {}",
        own.body
    );

    let leader = get(address, "/v2/stats/leader").await;
    assert_eq!(leader.body, "{\"leader\":\"8e9e05c52164694d\",\"followers\":{}}");
    let store = get(address, "/v2/stats/store").await;
    assert!(store.body.starts_with("{\"getsSuccess\":"), "{}", store.body);
    assert!(store.body.contains("\"setsSuccess\":1,"), "{}", store.body);
    assert_eq!(store.header("content-type"), Some("application/json"));

    backend.set_leader(0x1234);
    let follower = get(address, "/v2/stats/leader").await;
    assert_eq!((follower.status, follower.body.as_str()), (403, "{\"message\":\"not current leader\"}"));
    let post = send(address, "POST", "/v2/stats/self", None, "").await;
    assert_eq!((post.status, post.header("allow")), (405, Some("GET")));

    let machines = get(address, "/v2/machines").await;
    assert_eq!(machines.body, "http://localhost:2379");
    assert_eq!(machines.header("content-type"), Some("text/plain; charset=utf-8"));

    let version = get(address, "/version").await;
    assert_eq!(version.body, "{\"etcdserver\":\"3.4.23\",\"etcdcluster\":\"3.4.0\"}");
    assert_eq!(version.header("content-type"), Some("application/json"));

    let metrics = get(address, "/metrics").await;
    assert_eq!(metrics.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    for line in [
        "# TYPE etcd_server_has_leader gauge",
        "etcd_server_has_leader 1",
        "etcd_server_is_leader 0",
        "# TYPE etcd_server_leader_changes_seen_total counter",
        "# TYPE etcd_server_proposals_committed_total gauge",
        "etcd_server_proposals_pending 0",
        "etcd_server_proposals_failed_total 0",
        "# TYPE etcd_disk_wal_fsync_duration_seconds histogram",
        "etcd_disk_backend_commit_duration_seconds_count 0",
    ] {
        assert!(metrics.body.lines().any(|candidate| candidate == line), "missing {line:?}");
    }
}

#[tokio::test]
async fn health_needs_a_leader_and_a_quorum_read() {
    let (address, backend) = start().await;
    let healthy = get(address, "/health").await;
    assert_eq!((healthy.status, healthy.body.as_str()), (200, "{\"health\":\"true\"}"));
    assert_eq!(healthy.header("content-type"), Some("text/plain; charset=utf-8"));

    backend.set_failure(Some(ServerError::Timeout));
    let no_quorum = get(address, "/health").await;
    assert_eq!((no_quorum.status, no_quorum.body.as_str()), (503, "{\"health\":\"false\"}\n"));

    backend.set_failure(None);
    backend.set_leader(0);
    assert_eq!(get(address, "/health").await.status, 503);
    let leaderless = get(address, "/v2/members/leader").await;
    assert_eq!((leaderless.status, leaderless.body.as_str()), (503, "{\"message\":\"During election\"}"));
}
