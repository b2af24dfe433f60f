//! `ETCDCTL_API` picks the side, as in etcdctl 3.4: unset, empty or `3` is v3 (gRPC), `2` is v2
//! (HTTP), anything else is refused. Checked against real etcdctl where both can run.

mod common;

use common::v3::{Tool, V3Server, run_v3};
use common::{Outcome, tools_available};

const BASE_PORT: u16 = 27000;

fn both(args: &[&str], environment: &[(&str, &str)]) -> (Outcome, Outcome) {
    (run_v3(Tool::Etcdctl, args, b"", environment), run_v3(Tool::Concordctl, args, b"", environment))
}

#[test]
fn an_unknown_api_version_is_refused_like_etcdctl() {
    if !tools_available() {
        return;
    }
    let (etcd, concord) = both(&["get", "a"], &[("ETCDCTL_API", "4")]);
    assert_eq!(concord, etcd);
    assert_eq!((concord.stderr.as_str(), concord.code), ("unsupported API version 4\n", 1));
}

#[test]
fn version_three_is_the_default_and_two_is_the_http_client() {
    if !tools_available() {
        return;
    }
    let unset = run_v3(Tool::Concordctl, &["version"], b"", &[]);
    assert_eq!(
        unset.stdout,
        format!("concordctl version: {}\nAPI version: 3.4\n", env!("CARGO_PKG_VERSION"))
    );
    let empty = run_v3(Tool::Concordctl, &["version"], b"", &[("ETCDCTL_API", "")]);
    assert_eq!(empty, unset);
    let three = run_v3(Tool::Concordctl, &["version"], b"", &[("ETCDCTL_API", "3")]);
    assert_eq!(three, unset);
    let two = run_v3(Tool::Concordctl, &["--version"], b"", &[("ETCDCTL_API", "2")]);
    assert_eq!(two.stdout, format!("concordctl version: {}\nAPI version: 2\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn each_side_sees_its_own_keyspace_on_etcd() {
    if !tools_available() {
        return;
    }
    let server = V3Server::start(BASE_PORT);
    let client_url = server.server.client_url();
    let v2 = [("ETCDCTL_API", "2")];
    for tool in [Tool::Etcdctl, Tool::Concordctl] {
        let set = run_v3(tool, &["--endpoints", &client_url, "set", "/message", "hello v2"], b"", &v2);
        assert_eq!((set.stdout.as_str(), set.code), ("hello v2\n", 0), "{tool:?}: {set}");
    }
    let put =
        run_v3(Tool::Concordctl, &["--endpoints", &server.endpoint, "put", "/message", "hello v3"], b"", &[]);
    assert_eq!((put.stdout.as_str(), put.code), ("OK\n", 0), "{put}");
    let (etcd, concord) = both(&["--endpoints", &client_url, "get", "/message"], &v2);
    assert_eq!((concord.stdout.as_str(), concord.code), ("hello v2\n", 0), "{concord}");
    assert_eq!(concord, etcd);
    let (etcd, concord) = both(&["--endpoints", &server.endpoint, "get", "/message"], &[]);
    assert_eq!((concord.stdout.as_str(), concord.code), ("/message\nhello v3\n", 0), "{concord}");
    assert_eq!(concord, etcd);
    let (etcd, concord) =
        both(&["--endpoints", &server.endpoint, "get", "/message"], &[("ETCDCTL_API", "3")]);
    assert_eq!(concord, etcd);
}
