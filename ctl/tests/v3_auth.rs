//! v3 `user`, `role` and `auth` with `--user`, run three ways (etcdctl on etcd, concordctl on etcd,
//! etcdctl on Concord); the normalised transcripts must be identical.

mod common;

use common::tools_available;
use common::v3::{V3Step, compare_sessions, step};

const BASE_PORT: u16 = 28400;

const ROOT: &str = "--user=root:rootpw";

/// Authenticating costs a bcrypt check on the server, which a loaded two-core machine can stretch past
/// etcdctl's default 2 s dial timeout; both clients get more time.
const PATIENT: &[(&str, &str)] = &[("ETCDCTL_DIAL_TIMEOUT", "10s"), ("ETCDCTL_COMMAND_TIMEOUT", "10s")];

fn session() -> Vec<V3Step<'static>> {
    let steps = vec![
        step(&["user", "add", "root:rootpw"]).prints("User root created\n"),
        step(&["user", "add", "alice"]).stdin("alicepw\nalicepw\n"),
        step(&["user", "add", "bob"]).stdin("one\ntwo\n"),
        step(&["user", "add", "carol", "--interactive=false"]).stdin("carolpw more\n"),
        step(&["user", "add", "dave", "--new-user-password", "davepw"]),
        step(&["user", "add", ":nameless"]),
        step(&["user", "add"]),
        step(&["user", "list"]),
        step(&["-w", "json", "user", "list"]),
        step(&["-w", "fields", "user", "list"]),
        step(&["role", "add", "reader"]),
        step(&["role", "add", "reader"]),
        step(&["role", "grant-permission", "reader", "read", "/pub/", "--prefix"]),
        step(&["role", "grant-permission", "reader", "readwrite", "a", "b"]),
        step(&["role", "grant-permission", "reader", "write", "k"]),
        step(&["role", "grant-permission", "reader", "write", "", "--from-key"]),
        step(&["role", "grant-permission", "reader", "admin", "k"]),
        step(&["role", "grant-permission", "reader", "read", "a", "b", "--prefix"]),
        step(&["role", "get", "reader"]),
        step(&["-w", "fields", "role", "get", "reader"]),
        step(&["-w", "fields", "role", "list"]),
        step(&["-w", "table", "role", "list"]),
        step(&["user", "grant-role", "alice", "reader"]),
        step(&["user", "grant-role", "alice", "nosuchrole"]),
        step(&["user", "get", "alice"]),
        step(&["user", "get", "alice", "--detail"]),
        step(&["user", "get", "nobody"]),
        step(&["auth", "enable"]).prints("Authentication Enabled\n"),
        step(&["get", "a"]),
        step(&["--user", "root:wrong", "get", "a"]),
        step(&[ROOT, "put", "/pub/x", "1"]),
        step(&["--user=alice:alicepw", "get", "/pub/x"]),
        step(&["--user=alice:alicepw", "put", "/pub/x", "2"]),
        step(&["--user=dave:davepw", "get", "/pub/x"]),
        // Admin calls: membership changes, defragment and hashes need the root role; alarms and
        // move-leader are open in etcd 3.4.
        step(&["--user=alice:alicepw", "member", "add", "x", "--peer-urls=http://127.0.0.1:9999"]),
        step(&["member", "add", "x", "--peer-urls=http://127.0.0.1:9999"]),
        step(&["--user=alice:alicepw", "member", "remove", "1234"]),
        step(&["--user=alice:alicepw", "member", "update", "1234", "--peer-urls=http://127.0.0.1:9998"]),
        step(&["--user=alice:alicepw", "member", "promote", "1234"]),
        step(&["--user=alice:alicepw", "defrag"]),
        step(&["defrag"]),
        step(&["--user=alice:alicepw", "endpoint", "hashkv"]),
        step(&["--user=alice:alicepw", "alarm", "disarm"]),
        step(&["--user=alice:alicepw", "alarm", "list"]),
        step(&[ROOT, "defrag"]),
        step(&["--user", "root", "--password", "rootpw", "role", "list"]),
        step(&["--user", "root", "user", "list"]).stdin("rootpw\n"),
        step(&[ROOT, "role", "revoke-permission", "reader", "/pub/", "--prefix"]),
        step(&[ROOT, "role", "revoke-permission", "reader", "k"]),
        step(&[ROOT, "role", "revoke-permission", "reader", "a", "b"]),
        step(&[ROOT, "role", "revoke-permission", "reader", "zzz"]),
        step(&[ROOT, "user", "revoke-role", "alice", "reader"]),
        step(&[ROOT, "user", "passwd", "alice", "--interactive=false"]).stdin("newpw\n"),
        step(&["--user=alice:newpw", "user", "get", "alice"]),
        step(&[ROOT, "user", "delete", "dave"]),
        step(&[ROOT, "role", "delete", "reader"]),
        step(&[ROOT, "auth", "disable"]).prints("Authentication Disabled\n"),
        step(&["auth", "disable", "extra"]),
    ];
    steps.into_iter().map(|step| step.environment(PATIENT)).collect()
}

#[test]
fn users_roles_and_auth_match_etcdctl_on_etcd_and_on_concord() {
    if !tools_available() {
        return;
    }
    let steps = session();
    let concordctl = compare_sessions(BASE_PORT, &steps);
    let alice = steps.iter().position(|step| step.args == ["user", "get", "alice"]).expect("a user get step");
    assert_eq!(concordctl[alice].stdout, "User: alice\nRoles: reader\n");
}
