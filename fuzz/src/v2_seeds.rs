//! The seed corpora of the `members_body`, `auth_bodies`, `config_load` and `store_v2` targets:
//! real request bodies, command lines, variables and config files as etcd's documentation shows
//! them, and store sessions that reach every write and error; written here, never fetched.

use crate::seeds::{Seed, filler};

fn seed(name: &str, bytes: Vec<u8>) -> Seed {
    (name.to_string(), bytes)
}

/// `bytes` after its length as one byte (truncated to 255).
fn u8_long(out: &mut Vec<u8>, bytes: &[u8]) {
    let length = bytes.len().min(255);
    out.push(length as u8);
    out.extend_from_slice(&bytes[..length]);
}

/// `bytes` after its length as a little-endian u16 (truncated to 65535).
fn u16_long(out: &mut Vec<u8>, bytes: &[u8]) {
    let length = bytes.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(length as u16).to_le_bytes());
    out.extend_from_slice(&bytes[..length]);
}

/// One `members_body` input: content-type selector, id text, body.
fn member_input(content_type: u8, id: &str, body: &str) -> Vec<u8> {
    let mut out = vec![content_type];
    u8_long(&mut out, id.as_bytes());
    out.extend_from_slice(body.as_bytes());
    out
}

pub fn members_body_seeds() -> Vec<Seed> {
    vec![
        seed("add", member_input(0, "8e9e05c52164694d", r#"{"peerURLs":["http://10.0.0.10:2380"]}"#)),
        seed(
            "update-two",
            member_input(1, "a8266ecf031671f3", r#"{"peerURLs":["https://b:2380","http://a:2380"]}"#),
        ),
        seed("bad-url", member_input(0, "1", r#"{"peerURLs":["http://10.0.0.10:2380/path","ftp://x"]}"#)),
        seed("not-json", member_input(2, "zz", r#"{"peerURLs":[]}"#)),
        seed("own-type", {
            let mut out = vec![4];
            u8_long(&mut out, b"Application/Json ; q=1");
            out.extend(member_input(0, "+1", r#"{"peerURLs":["unix://socket:1"],"name":"x"}"#).drain(1..));
            out
        }),
    ]
}

/// One `auth_bodies` request: selector, name, body.
fn auth_request(selector: u8, name: &str, body: &str) -> Vec<u8> {
    let mut out = vec![selector];
    u8_long(&mut out, name.as_bytes());
    u16_long(&mut out, body.as_bytes());
    out
}

pub fn auth_bodies_seeds() -> Vec<Seed> {
    // Selector: bits 0-1 users/roles/enable, bit 2 DELETE, bits 3-4 the caller.
    let session = [
        auth_request(0, "root", r#"{"user":"root","password":"secret"}"#),
        auth_request(1, "reader", r#"{"role":"reader","permissions":{"kv":{"read":["/pub/*"],"write":[]}}}"#),
        auth_request(0, "alice", r#"{"user":"alice","password":"pw","roles":["reader"]}"#),
        auth_request(2, "", ""),
        auth_request(1 | 0x18, "reader", r#"{"role":"reader","grant":{"kv":{"write":["/pub/x"]}}}"#),
        auth_request(0x18, "alice", r#"{"user":"alice","revoke":["reader"]}"#),
        auth_request(0x08, "bob", r#"{"user":"bob","password":"x"}"#),
        auth_request(4 | 0x18, "alice", ""),
        auth_request(5 | 0x18, "reader", ""),
        auth_request(6 | 0x18, "", "Basic cm9vdDpzZWNyZXQ="),
        auth_request(4, "root", ""),
    ]
    .concat();
    vec![
        seed("session", session),
        seed("mismatch", auth_request(0, "carol", r#"{"user":"dave","password":"p"}"#)),
        seed("bad-json", auth_request(1, "r", r#"{"role":"r","permissions":{"kv":{"read":"/x"}}}"#)),
        seed("root-role", auth_request(1, "root", r#"{"role":"root","revoke":{"kv":{"read":["/*"]}}}"#)),
    ]
}

/// One `config_load` input: mode, NUL-separated arguments, NUL-separated variables, file text.
fn config_input(mode: u8, args: &[&str], env: &[&str], file: &str) -> Vec<u8> {
    let mut out = vec![mode];
    u16_long(&mut out, args.join("\0").as_bytes());
    u16_long(&mut out, env.join("\0").as_bytes());
    out.extend_from_slice(file.as_bytes());
    out
}

const CONFIG_FILE: &str = "name: infra1
data-dir: /var/lib/etcd/infra1
heartbeat-interval: 100
election-timeout: 1000
snapshot-count: 10000
listen-peer-urls: http://10.0.1.10:2380
listen-client-urls: http://10.0.1.10:2379,http://127.0.0.1:2379
initial-advertise-peer-urls: http://10.0.1.10:2380
advertise-client-urls: http://10.0.1.10:2379
initial-cluster: infra0=http://10.0.1.10:2380,infra1=http://10.0.1.11:2380
initial-cluster-token: etcd-cluster-1
initial-cluster-state: new
log-outputs: [stderr]
client-transport-security:
  client-cert-auth: false
  auto-tls: false
";

pub fn config_load_seeds() -> Vec<Seed> {
    let flags = [
        "--name",
        "infra0",
        "--initial-advertise-peer-urls=http://10.0.1.10:2380",
        "--listen-peer-urls",
        "http://10.0.1.10:2380",
        "--initial-cluster",
        "infra0=http://10.0.1.10:2380,infra1=http://10.0.1.11:2380",
        "--heartbeat-interval=50",
        "--election-timeout",
        "500",
        "--cors=*,http://b",
        "--pre-vote",
        "-debug=false",
    ];
    let env = ["ETCD_NAME=fromenv", "ETCD_SNAPSHOT_COUNT=5000", "ETCD_UNKNOWN=1", "PATH=/bin"];
    vec![
        seed("flags", config_input(0, &flags, &[], "")),
        seed("env", config_input(0, &["--data-dir=/tmp/x"], &env, "")),
        seed("file", config_input(1, &[], &[], CONFIG_FILE)),
        seed("file-from-env", config_input(2, &[], &["ETCD_NAME=ignored"], CONFIG_FILE)),
        seed("bad-flag", config_input(0, &["--election-timeout=x", "--nope"], &[], "")),
        seed("bad-file", config_input(1, &[], &[], "name: [1, 2\ninitial-cluster: a=h\nttp://x:1\n")),
        seed("help", config_input(0, &["-h"], &[], "")),
    ]
}

/// One `store_v2` step: operation, key, value, flags.
fn step(operation: u8, key: u8, value: u8, flags: u8) -> [u8; 4] {
    [operation, key, value, flags]
}

pub fn store_v2_seeds() -> Vec<Seed> {
    // Model mode (1). Keys: depth (bits 0-1) and segments a-d (2 bits each); 0xFF is the root.
    // Operations: 0 set, 1 create, 2 in-order create, 3 update, 4 CAS, 5 delete, 6 CAD.
    let model_session: Vec<u8> = [
        step(0, 0b0000_0001, 1, 0),           // set /a/a = v1
        step(0, 0b0000_0100, 2, 0),           // set /b = v2
        step(1, 0b0000_0100, 3, 0),           // create /b: exists
        step(1, 0b0000_1001, 0, 1),           // mkdir /c/a
        step(2, 0b0000_1000, 1, 0),           // in-order under /c
        step(3, 0b0000_0100, 3, 0),           // update /b
        step(4, 0b0000_0100, 1, 0b0000_0100), // CAS /b with prevIndex
        step(4, 0b0000_0100, 1, 0),           // CAS /b, prevValue
        step(0, 0b0001_0110, 1, 0),           // set /b/b/a: /b is a file
        step(5, 0b0000_1000, 0, 0),           // delete /c: a directory
        step(5, 0b0000_1000, 0, 1),           // delete /c dir: not empty
        step(5, 0b0000_1000, 0, 2),           // delete /c recursive
        step(6, 0b0000_0100, 4, 0),           // CAD /b
        step(3, 0xFF, 0, 0),                  // update the root
        step(6, 0xFF, 0, 0),                  // CAD the root
        step(0, 0b0000_0001, 1, 0x40),        // set /a/a/ (trailing slash)
    ]
    .concat();
    let mut model = vec![1];
    model.extend_from_slice(&model_session);
    let mut free = vec![0];
    free.extend_from_slice(&filler(17, 400));
    let mut restore = vec![6];
    let snapshot = sample_store_snapshot();
    let body = &snapshot[..snapshot.len() - 4];
    u16_long(&mut restore, body);
    restore.extend_from_slice(&filler(23, 200));
    vec![
        seed("model-session", model),
        seed("model-random", [vec![1], filler(5, 600)].concat()),
        seed("free-random", free),
        seed("restore-then-free", restore),
    ]
}

/// A small store's snapshot (with TTLs and a history), as a restore seed.
fn sample_store_snapshot() -> Vec<u8> {
    let mut store = store::Store::new();
    let now = 1_700_000_000_000_000_000;
    let commands = [
        store::Command::Set {
            key: "/a/b".into(),
            value: "1".into(),
            dir: false,
            ttl: None,
            refresh: false,
            now,
        },
        store::Command::Set {
            key: "/t".into(),
            value: "2".into(),
            dir: false,
            ttl: Some(30),
            refresh: false,
            now,
        },
        store::Command::Create {
            key: "/q".into(),
            value: "3".into(),
            dir: false,
            ttl: None,
            in_order: true,
            now,
        },
        store::Command::Delete { key: "/a".into(), dir: true, recursive: true, now },
    ];
    for command in &commands {
        store.apply(command).expect("a sample write applies");
    }
    store.snapshot()
}
