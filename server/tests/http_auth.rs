//! etcd 3.4's v2 auth over HTTP (the fake backend applies auth as the node does): the thesis lab's
//! flow, etcd's JSON shapes, statuses and headers (compared with etcd 3.4.23), and permission checks on
//! keys, watches and members that never reveal whether a key exists.

mod http_common;

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use http_common::{Answer, connect, read_answer, start};
use std::net::SocketAddr;

const INSUFFICIENT: &str = "{\"errorCode\":110,\"message\":\"The request requires user authentication\",\"cause\":\"Insufficient credentials\",\"index\":0}\n";

/// One request, with Basic credentials `user:password` when given.
async fn call(
    address: SocketAddr,
    credentials: Option<&str>,
    method: &str,
    target: &str,
    body: &str,
) -> Answer {
    let mut builder = hyper::Request::builder().method(method).uri(target).header("Host", "127.0.0.1");
    if let Some(credentials) = credentials {
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
        builder = builder.header("Authorization", format!("Basic {encoded}"));
    }
    if method == "PUT" && target.starts_with("/v2/keys") {
        builder = builder.header("Content-Type", "application/x-www-form-urlencoded");
    }
    let request = builder.body(Full::new(Bytes::from(body.to_string()))).expect("valid request");
    let mut sender = connect(address).await;
    read_answer(sender.send_request(request).await.expect("response")).await
}

async fn root(address: SocketAddr, method: &str, target: &str, body: &str) -> Answer {
    call(address, Some("root:rootpw"), method, target, body).await
}

fn assert_answer(answer: &Answer, status: u16, body: &str) {
    assert_eq!((answer.status, answer.body.as_str()), (status, body), "{answer:?}");
}

async fn add_user(address: SocketAddr, name: &str, password: &str) {
    let body = format!("{{\"user\":\"{name}\",\"password\":\"{password}\"}}");
    let answer = root(address, "PUT", &format!("/v2/auth/users/{name}"), &body).await;
    // etcd gives the root user the root role at creation; other new users show `null` roles.
    let roles = if name == "root" { "[\"root\"]" } else { "null" };
    assert_answer(&answer, 201, &format!("{{\"user\":\"{name}\",\"roles\":{roles}}}"));
}

async fn grant_role(address: SocketAddr, user: &str, role: &str) {
    let body = format!("{{\"user\":\"{user}\",\"grant\":[\"{role}\"]}}");
    assert_eq!(root(address, "PUT", &format!("/v2/auth/users/{user}"), &body).await.status, 200);
}

#[tokio::test]
async fn the_thesis_lab_runs_as_on_etcd() {
    let (address, _backend) = start().await;
    assert_answer(&call(address, None, "GET", "/v2/auth/enable", "").await, 200, "{\"enabled\":false}");
    let refused = call(address, None, "PUT", "/v2/auth/enable", "").await;
    assert_answer(&refused, 409, "{\"message\":\"auth: No root user available, please create one\"}");
    assert_eq!(refused.header("X-Etcd-Cluster-Id"), Some("cdf818194e3a8c32"));
    assert_answer(&call(address, None, "GET", "/v2/auth/users", "").await, 200, "{\"users\":null}");

    add_user(address, "root", "rootpw").await;
    for user in ["Client1", "Client2", "Manager1", "Admin1", "Special"] {
        add_user(address, user, "pw").await;
    }
    let etcd_read =
        "{\"role\":\"etcd_read\",\"permissions\":{\"kv\":{\"read\":[\"/ETCD_information/*\"],\"write\":[]}}}";
    assert_answer(&root(address, "PUT", "/v2/auth/roles/etcd_read", etcd_read).await, 201, etcd_read);
    let public_rw = "{\"role\":\"public_rw\",\"permissions\":{\"kv\":{\"read\":[\"/Public_information/*\"],\"write\":[\"/Public_information/*\"]}}}";
    assert_answer(&root(address, "PUT", "/v2/auth/roles/public_rw", public_rw).await, 201, public_rw);
    grant_role(address, "Client1", "etcd_read").await;
    grant_role(address, "Manager1", "etcd_read").await;
    grant_role(address, "Manager1", "public_rw").await;
    grant_role(address, "Admin1", "root").await;
    root(address, "PUT", "/v2/keys/ETCD_information/version", "value=3.4").await;

    assert_eq!(call(address, None, "PUT", "/v2/auth/enable", "").await.status, 200);
    let denied = call(address, None, "GET", "/v2/auth/users", "").await;
    assert_answer(&denied, 401, "{\"message\":\"Insufficient credentials\"}");
    assert_eq!(denied.header("X-Etcd-Cluster-Id"), None, "etcd sends no cluster id with an auth 401");
    assert_eq!(root(address, "GET", "/v2/auth/users", "").await.status, 200);
    assert_eq!(call(address, Some("Admin1:pw"), "GET", "/v2/auth/users", "").await.status, 200);

    // The guest role (read-write on /*) serves requests without credentials until it is revoked.
    assert_eq!(call(address, None, "GET", "/v2/keys/ETCD_information/version", "").await.status, 200);
    let revoke = "{\"role\":\"guest\",\"revoke\":{\"kv\":{\"read\":[\"/*\"],\"write\":[\"/*\"]}}}";
    let revoked = root(address, "PUT", "/v2/auth/roles/guest", revoke).await;
    assert_answer(&revoked, 200, "{\"role\":\"guest\",\"permissions\":{\"kv\":{\"read\":[],\"write\":[]}}}");
    let anonymous = call(address, None, "GET", "/v2/keys/ETCD_information/version", "").await;
    assert_answer(&anonymous, 401, INSUFFICIENT);
    assert_eq!(anonymous.header("X-Etcd-Index"), Some("0"));
    assert_eq!(anonymous.header("X-Etcd-Cluster-Id"), Some("cdf818194e3a8c32"));

    let client1 = Some("Client1:pw");
    assert_eq!(call(address, client1, "GET", "/v2/keys/ETCD_information/version", "").await.status, 200);
    assert_answer(
        &call(address, client1, "PUT", "/v2/keys/ETCD_information/version", "value=x").await,
        401,
        INSUFFICIENT,
    );
    assert_answer(
        &call(address, client1, "GET", "/v2/keys/Public_information/a", "").await,
        401,
        INSUFFICIENT,
    );
    let manager = call(address, Some("Manager1:pw"), "PUT", "/v2/keys/Public_information/a", "value=1").await;
    assert_eq!(manager.status, 201, "{manager:?}");
    assert_answer(
        &call(address, Some("Client1:wrong"), "GET", "/v2/keys/ETCD_information/version", "").await,
        401,
        INSUFFICIENT,
    );
    assert_answer(
        &call(address, Some("Special:pw"), "GET", "/v2/keys/ETCD_information/version", "").await,
        401,
        INSUFFICIENT,
    );
}

#[tokio::test]
async fn denials_never_reveal_whether_a_key_exists_and_recursion_needs_the_prefix() {
    let (address, _backend) = start().await;
    add_user(address, "root", "rootpw").await;
    add_user(address, "dave", "d").await;
    let reader = "{\"role\":\"reader\",\"permissions\":{\"kv\":{\"read\":[\"/foo/*\"],\"write\":[]}}}";
    root(address, "PUT", "/v2/auth/roles/reader", reader).await;
    grant_role(address, "dave", "reader").await;
    root(address, "PUT", "/v2/keys/secret", "value=s").await;
    root(address, "PUT", "/v2/keys/foo/a", "value=1").await;
    assert_eq!(call(address, None, "PUT", "/v2/auth/enable", "").await.status, 200);
    assert_eq!(root(address, "DELETE", "/v2/auth/roles/guest", "").await.status, 200);

    let dave = Some("dave:d");
    for key in ["/v2/keys/secret", "/v2/keys/missing", "/v2/keys/foo", "/v2/keys/foo?recursive=true"] {
        assert_answer(&call(address, dave, "GET", key, "").await, 401, INSUFFICIENT);
    }
    assert_eq!(call(address, dave, "GET", "/v2/keys/foo/a", "").await.status, 200);
    assert_eq!(
        call(address, dave, "GET", "/v2/keys/foo/missing", "").await.status,
        404,
        "readable: may say missing"
    );
    assert_answer(&call(address, dave, "GET", "/v2/keys/secret?wait=true", "").await, 401, INSUFFICIENT);
    assert_answer(&call(address, dave, "DELETE", "/v2/keys/foo/a", "").await, 401, INSUFFICIENT);
    let member =
        call(address, dave, "POST", "/v2/members", "{\"peerURLs\":[\"http://127.0.0.1:29999\"]}").await;
    assert_answer(&member, 401, "{\"message\":\"Insufficient credentials\"}");
    assert_eq!(call(address, None, "GET", "/v2/members", "").await.status, 200, "members stay readable");

    // Revoking the role takes effect for the very next request.
    let revoke = "{\"user\":\"dave\",\"revoke\":[\"reader\"]}";
    assert_answer(
        &root(address, "PUT", "/v2/auth/users/dave", revoke).await,
        200,
        "{\"user\":\"dave\",\"roles\":[]}",
    );
    assert_answer(&call(address, dave, "GET", "/v2/keys/foo/a", "").await, 401, INSUFFICIENT);
}

#[tokio::test]
async fn auth_endpoints_answer_etcds_shapes_errors_and_indexes() {
    let (address, _backend) = start().await;
    let roles = call(address, None, "GET", "/v2/auth/roles", "").await;
    assert_answer(
        &roles,
        200,
        "{\"roles\":[{\"role\":\"root\",\"permissions\":{\"kv\":{\"read\":[\"/*\"],\"write\":[\"/*\"]}}}]}",
    );
    assert_answer(
        &call(address, None, "GET", "/v2/auth/roles/guest", "").await,
        404,
        "{\"message\":\"auth: Role guest does not exist.\"}",
    );
    let not_allowed = call(address, None, "POST", "/v2/auth/enable", "").await;
    assert_eq!((not_allowed.status, not_allowed.header("Allow")), (405, Some("GET,PUT,DELETE")));
    assert_eq!(call(address, None, "POST", "/v2/auth/users", "").await.header("Allow"), Some("GET"));
    assert_eq!(call(address, None, "GET", "/v2/auth/nothing", "").await.body, "404 page not found\n");
    assert_answer(
        &call(address, None, "DELETE", "/v2/auth/enable", "").await,
        409,
        "{\"message\":\"auth: already disabled\"}",
    );
    assert_answer(
        &call(address, None, "PUT", "/v2/auth/users/bob", "{bad").await,
        400,
        "{\"message\":\"Invalid JSON in request body.\"}",
    );
    let mismatch =
        call(address, None, "PUT", "/v2/auth/users/bob", "{\"user\":\"bobby\",\"password\":\"x\"}").await;
    assert_answer(&mismatch, 400, "{\"message\":\"User JSON name does not match the name in the URL\"}");
    let empty = call(address, None, "PUT", "/v2/auth/users/bob", "{\"user\":\"bob\"}").await;
    assert_answer(&empty, 400, "{\"message\":\"auth: Cannot create user bob with an empty password\"}");

    // etcd keeps auth in its v2 store: the first write also creates /2, /2/users, /2/roles, /2/enabled.
    add_user(address, "alice", "pw").await;
    assert_eq!(call(address, None, "GET", "/v2/keys/", "").await.header("X-Etcd-Index"), Some("5"));
    assert_answer(&call(address, None, "GET", "/v2/auth/users/alice", "").await, 200, "{\"user\":\"alice\"}");
    grant_role(address, "alice", "r1").await;
    assert_answer(
        &call(address, None, "GET", "/v2/auth/users/alice", "").await,
        404,
        "{\"message\":\"auth: Role r1 does not exist.\"}",
    );
    assert_answer(
        &call(address, None, "GET", "/v2/auth/users", "").await,
        200,
        "{\"users\":[{\"user\":\"alice\"}]}",
    );
    assert_answer(
        &call(address, None, "DELETE", "/v2/auth/users/nobody", "").await,
        404,
        "{\"message\":\"auth: User nobody does not exist\"}",
    );
    add_user(address, "root", "rootpw").await;
    assert_eq!(call(address, None, "PUT", "/v2/auth/enable", "").await.status, 200);
    assert_eq!(
        root(address, "GET", "/v2/keys/", "").await.header("X-Etcd-Index"),
        Some("9"),
        "guest role and flag"
    );
    let root_user = root(address, "GET", "/v2/auth/users/root", "").await;
    assert_answer(
        &root_user,
        200,
        "{\"user\":\"root\",\"roles\":[{\"role\":\"root\",\"permissions\":{\"kv\":{\"read\":[\"/*\"],\"write\":[\"/*\"]}}}]}",
    );
    assert_answer(
        &root(address, "DELETE", "/v2/auth/users/root", "").await,
        403,
        "{\"message\":\"auth: Cannot delete root user while auth is enabled.\"}",
    );
    let again = call(address, Some("alice:pw"), "PUT", "/v2/auth/enable", "").await;
    assert_answer(&again, 401, "{\"message\":\"Insufficient credentials\"}");
    let disabled = root(address, "DELETE", "/v2/auth/enable", "").await;
    assert_eq!((disabled.status, disabled.body.as_str()), (200, ""));
}
