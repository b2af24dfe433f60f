//! One real `concord` process: the keys API end to end, a watch from a second connection, restart
//! keeps the data, and the real `etcdctl` (v2) works against it.

use std::time::Duration;

use e2e::{Cluster, etcdctl, etcdctl_available, get_value, json, put, request};

const BASE_PORT: u16 = 31_000;

#[test]
fn keys_api_set_get_cas_delete_and_errors() {
    let mut cluster = Cluster::start(1, "127.0.0.1", BASE_PORT);
    cluster.wait_for_leader(Duration::from_secs(20));
    let url = cluster.client_urls()[0].clone();

    let created = put(&url, "/message", "Hello world").unwrap();
    assert_eq!(created.status, 201);
    assert!(created.header("x-etcd-index").is_some() && created.header("x-raft-term").is_some());
    let body = json(&created);
    assert_eq!(body["action"], "set");
    assert_eq!(body["node"]["value"], "Hello world");

    let replaced = put(&url, "/message", "again").unwrap();
    assert_eq!(replaced.status, 200);
    assert_eq!(json(&replaced)["prevNode"]["value"], "Hello world");

    let missing = request(&url, "GET", "/v2/keys/nonexist/a", None).unwrap();
    assert_eq!(missing.status, 404);
    let error = json(&missing);
    assert_eq!(error["errorCode"], 100);
    assert_eq!(error["cause"], "/nonexist");

    let cas_fail = request(&url, "PUT", "/v2/keys/message?prevValue=nope", Some("value=x")).unwrap();
    assert_eq!(cas_fail.status, 412);
    assert_eq!(json(&cas_fail)["errorCode"], 101);
    let cas_ok = request(&url, "PUT", "/v2/keys/message?prevValue=again", Some("value=swapped")).unwrap();
    assert_eq!(json(&cas_ok)["action"], "compareAndSwap");

    let in_order = request(&url, "POST", "/v2/keys/queue", Some("value=job")).unwrap();
    assert_eq!(in_order.status, 201);
    let key = json(&in_order)["node"]["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("/queue/") && key.len() == "/queue/".len() + 20, "{key}");

    let deleted = request(&url, "DELETE", "/v2/keys/message", None).unwrap();
    assert_eq!(json(&deleted)["action"], "delete");
    assert_eq!(get_value(&url, "/message", true), None);
}

#[test]
fn a_watch_on_one_connection_sees_a_write_on_another() {
    let mut cluster = Cluster::start(1, "127.0.0.1", BASE_PORT + 100);
    cluster.wait_for_leader(Duration::from_secs(20));
    let url = cluster.client_urls()[0].clone();
    let watcher_url = url.clone();
    let watcher = std::thread::spawn(move || {
        e2e::request_with_timeout(
            &watcher_url,
            "GET",
            "/v2/keys/watched?wait=true",
            None,
            Duration::from_secs(15),
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    put(&url, "/watched", "fired").unwrap();
    let response = watcher.join().unwrap().expect("watch answered");
    assert_eq!(response.status, 200);
    let event = json(&response);
    assert_eq!(event["action"], "set");
    assert_eq!(event["node"]["value"], "fired");
}

#[test]
fn a_restarted_single_node_keeps_every_acknowledged_write() {
    let mut cluster = Cluster::start(1, "127.0.0.1", BASE_PORT + 200);
    cluster.wait_for_leader(Duration::from_secs(20));
    let url = cluster.client_urls()[0].clone();
    for i in 0..50 {
        assert!(put(&url, &format!("/k{i}"), &format!("v{i}")).unwrap().status < 300);
    }
    cluster.members[0].kill9();
    cluster.members[0].restart();
    cluster.wait_for_leader(Duration::from_secs(20));
    for i in 0..50 {
        assert_eq!(get_value(&url, &format!("/k{i}"), false), Some(format!("v{i}")), "key {i}");
    }
}

#[test]
fn the_real_etcdctl_v2_works_against_concord() {
    if !etcdctl_available() {
        return;
    }
    let mut cluster = Cluster::start(1, "127.0.0.1", BASE_PORT + 300);
    cluster.wait_for_leader(Duration::from_secs(20));
    let endpoint = cluster.client_urls()[0].clone();
    let run = |args: &[&str]| etcdctl(&endpoint, args);

    assert_eq!(run(&["set", "/message", "Hello"]), (0, "Hello\n".into(), String::new()));
    assert_eq!(run(&["get", "/message"]).1, "Hello\n");
    let (code, _, stderr) = run(&["get", "/two"]);
    assert_eq!(code, 4);
    assert!(stderr.starts_with("Error:  100: Key not found (/two) ["), "{stderr}");
    assert_eq!(run(&["mk", "/made", "v"]).0, 0);
    assert_eq!(run(&["mk", "/made", "v"]).0, 4);
    assert_eq!(run(&["mkdir", "/dir"]), (0, String::new(), String::new()));
    assert_eq!(run(&["set", "/dir/a", "1"]).0, 0);
    let (code, listing, _) = run(&["ls", "--recursive", "/"]);
    assert_eq!(code, 0);
    assert!(listing.contains("/dir/a") && listing.contains("/message"), "{listing}");
    assert_eq!(run(&["update", "/message", "World"]).1, "World\n");
    assert_eq!(run(&["rm", "/dir/a"]).1, "PrevNode.Value: 1\n");
    assert_eq!(run(&["rmdir", "/dir"]).0, 0);
    let (code, members, _) = run(&["member", "list"]);
    assert_eq!(code, 0);
    assert!(members.contains("name=m1") && members.contains("isLeader=true"), "{members}");
    let (code, health, _) = run(&["cluster-health"]);
    assert_eq!(code, 0);
    assert!(health.contains("cluster is healthy"), "{health}");

    // watch: a one-shot watch answered by a later set.
    let watch_endpoint = endpoint.clone();
    let watcher = std::thread::spawn(move || etcdctl(&watch_endpoint, &["watch", "/message"]));
    std::thread::sleep(Duration::from_millis(500));
    run(&["set", "/message", "watched"]);
    let (code, out, _) = watcher.join().unwrap();
    assert_eq!((code, out.as_str()), (0, "watched\n"));
}
