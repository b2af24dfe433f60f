//! The real `etcdctl` (etcd 3.4's, API v3) against Concord's client port serving the fake backend:
//! the commands of the recorded etcd session (/work/shared/reference/etcd-v3-behaviour.md) in the
//! same order, with the same output (IDs, times and sizes aside). Without `etcdctl` on PATH each
//! scenario prints `SKIP:` and passes.

mod grpc_common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grpc_common::{CLUSTER_ID, MEMBER_ID, Served, start};
use server::grpc::V3Backend;

/// Longest a single etcdctl command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait for a background `watch` to print what it should.
const WATCH_OUTPUT_TIMEOUT: Duration = Duration::from_secs(10);

fn etcdctl_available() -> bool {
    let found = Command::new("etcdctl").arg("version").output().is_ok_and(|output| output.status.success());
    if !found {
        eprintln!("SKIP: `etcdctl` is not on PATH; install Debian's etcd-client to run these scenarios");
    }
    found
}

/// What one etcdctl run printed.
#[derive(Debug)]
struct Run {
    stdout: String,
    stderr: String,
    code: i32,
}

impl Run {
    /// The last line etcdctl prints on failure (`Error: ...`).
    fn error_line(&self) -> &str {
        self.stderr.lines().rfind(|line| line.starts_with("Error: ")).unwrap_or("")
    }
}

fn base_command(address: SocketAddr) -> Command {
    let mut command = Command::new("etcdctl");
    command.env("ETCDCTL_API", "3").arg(format!("--endpoints={address}")).arg("--dial-timeout=3s");
    command
}

/// Runs etcdctl to completion (off the async threads), feeding `stdin` when given.
async fn etcdctl(address: SocketAddr, arguments: &[&str], stdin: Option<&str>) -> Run {
    let arguments: Vec<String> = arguments.iter().map(|argument| argument.to_string()).collect();
    let stdin = stdin.map(str::to_string);
    let run = tokio::task::spawn_blocking(move || {
        let mut command = base_command(address);
        command.args(&arguments).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn etcdctl");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("feed stdin");
        }
        drop(input);
        let output = child.wait_with_output().expect("etcdctl output");
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code().unwrap_or(-1),
        }
    });
    tokio::time::timeout(COMMAND_TIMEOUT, run).await.expect("etcdctl finished in time").expect("etcdctl ran")
}

/// Runs etcdctl and asserts it succeeded with exactly `expected` on stdout.
#[track_caller]
fn assert_output(run: &Run, expected: &str) {
    assert_eq!((run.code, run.stdout.as_str()), (0, expected), "stderr: {}", run.stderr);
}

/// A long-running etcdctl (a `watch`), its stdout collected by a thread, killed when dropped.
struct Background {
    child: Child,
    stdout: Arc<Mutex<String>>,
}

impl Background {
    fn start(address: SocketAddr, arguments: &[&str]) -> Background {
        let mut child = base_command(address)
            .args(arguments)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn etcdctl");
        let mut pipe = child.stdout.take().expect("stdout");
        let stdout = Arc::new(Mutex::new(String::new()));
        let collected = Arc::clone(&stdout);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read) = pipe.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                collected.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        });
        Background { child, stdout }
    }

    /// Waits until the output is `expected` (failing if it grows past it or time runs out).
    async fn wait_for(&self, expected: &str) {
        let deadline = Instant::now() + WATCH_OUTPUT_TIMEOUT;
        loop {
            let printed = self.stdout.lock().unwrap().clone();
            if printed == expected {
                return;
            }
            assert!(expected.starts_with(&printed), "printed {printed:?}, expected {expected:?}");
            assert!(Instant::now() < deadline, "printed only {printed:?}, expected {expected:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the backend has `count` v3 watches registered (a background watch is ready).
async fn wait_for_watches(served: &Served, count: usize) {
    let deadline = Instant::now() + WATCH_OUTPUT_TIMEOUT;
    while served.backend.watch_count() < count {
        assert!(Instant::now() < deadline, "the watch never registered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn header_json(revision: i64) -> String {
    format!(
        "\"header\":{{\"cluster_id\":{CLUSTER_ID},\"member_id\":{MEMBER_ID},\"revision\":{revision},\"raft_term\":2}}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_put_get_and_delete_print_what_etcd_prints() {
    if !etcdctl_available() {
        return;
    }
    let served = start().await;
    let at = served.address;
    assert_output(&etcdctl(at, &["put", "srn", "pes1ug21cs001"], None).await, "OK\n");
    assert_output(&etcdctl(at, &["get", "srn"], None).await, "srn\npes1ug21cs001\n");
    let json = format!(
        "{{{},\"kvs\":[{{\"key\":\"c3Ju\",\"create_revision\":2,\"mod_revision\":2,\"version\":1,\"value\":\"cGVzMXVnMjFjczAwMQ==\"}}],\"count\":1}}\n",
        header_json(2)
    );
    assert_output(&etcdctl(at, &["get", "srn", "-w", "json"], None).await, &json);
    assert_output(&etcdctl(at, &["put", "srn", "v2", "--prev-kv"], None).await, "OK\nsrn\npes1ug21cs001\n");
    for (key, value) in [("a", "1"), ("b", "2"), ("c", "3")] {
        assert_output(&etcdctl(at, &["put", key, value], None).await, "OK\n");
    }
    assert_output(&etcdctl(at, &["get", "a", "c"], None).await, "a\n1\nb\n2\n");
    assert_output(
        &etcdctl(at, &["get", "", "--prefix", "--keys-only"], None).await,
        "a\n\nb\n\nc\n\nsrn\n\n",
    );
    assert_output(&etcdctl(at, &["get", "b", "--from-key", "--print-value-only"], None).await, "2\n3\nv2\n");
    let limited = format!(
        "{{{},\"kvs\":[{{\"key\":\"YQ==\",\"create_revision\":4,\"mod_revision\":4,\"version\":1,\"value\":\"MQ==\"}},{{\"key\":\"Yg==\",\"create_revision\":5,\"mod_revision\":5,\"version\":1,\"value\":\"Mg==\"}}],\"more\":true,\"count\":4}}\n",
        header_json(6)
    );
    assert_output(&etcdctl(at, &["get", "", "--prefix", "--limit=2", "-w", "json"], None).await, &limited);
    let sorted = ["get", "", "--prefix", "--sort-by=MODIFY", "--order=DESCEND", "--print-value-only"];
    assert_output(&etcdctl(at, &sorted, None).await, "3\n2\n1\nv2\n");
    assert_output(&etcdctl(at, &["get", "a", "--rev=2"], None).await, "");
    assert_output(&etcdctl(at, &["get", "missing"], None).await, "");
    assert_output(&etcdctl(at, &["del", "a"], None).await, "1\n");
    assert_output(&etcdctl(at, &["del", "missing"], None).await, "0\n");
    assert_output(
        &etcdctl(at, &["del", "", "--prefix", "--prev-kv"], None).await,
        "3\nb\n2\nc\n3\nsrn\nv2\n",
    );
    let refused = etcdctl(at, &["put", "", "x"], None).await;
    assert_eq!((refused.code, refused.error_line()), (1, "Error: etcdserver: key is not provided"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_events_as_they_happen_and_replays_from_a_revision() {
    if !etcdctl_available() {
        return;
    }
    let served = start().await;
    let at = served.address;
    let watch = Background::start(at, &["watch", "srn", "--prev-kv"]);
    wait_for_watches(&served, 1).await;
    assert_output(&etcdctl(at, &["put", "srn", "one"], None).await, "OK\n");
    assert_output(&etcdctl(at, &["put", "srn", "two"], None).await, "OK\n");
    assert_output(&etcdctl(at, &["del", "srn"], None).await, "1\n");
    watch.wait_for("PUT\nsrn\none\nPUT\nsrn\none\nsrn\ntwo\nDELETE\nsrn\ntwo\nsrn\n\n").await;
    drop(watch);
    let json_watch = Background::start(at, &["watch", "srn", "-w", "json"]);
    wait_for_watches(&served, 1).await;
    assert_output(&etcdctl(at, &["put", "srn", "three"], None).await, "OK\n");
    let expected = format!(
        "{{\"Header\":{{\"cluster_id\":{CLUSTER_ID},\"member_id\":{MEMBER_ID},\"revision\":5,\"raft_term\":2}},\"Events\":[{{\"kv\":{{\"key\":\"c3Ju\",\"create_revision\":5,\"mod_revision\":5,\"version\":1,\"value\":\"dGhyZWU=\"}}}}],\"CompactRevision\":0,\"Canceled\":false,\"Created\":false}}\n"
    );
    json_watch.wait_for(&expected).await;
    drop(json_watch);
    let replay = Background::start(at, &["watch", "srn", "--rev=1"]);
    replay.wait_for("PUT\nsrn\none\nPUT\nsrn\ntwo\nDELETE\nsrn\n\nPUT\nsrn\nthree\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_txns_run_the_branch_their_compares_choose() {
    if !etcdctl_available() {
        return;
    }
    let served = start().await;
    let at = served.address;
    assert_output(&etcdctl(at, &["put", "srn", "three"], None).await, "OK\n");
    let success = "value(\"srn\") = \"three\"\n\nput srn four\n\nput other x\n\n";
    assert_output(&etcdctl(at, &["txn"], Some(success)).await, "SUCCESS\n\nOK\n");
    let failure = "value(\"srn\") = \"nope\"\n\nput srn five\n\nget srn\n\n";
    let expected = format!(
        "{{{},\"responses\":[{{\"Response\":{{\"ResponseRange\":{{\"header\":{{\"revision\":3}},\"kvs\":[{{\"key\":\"c3Ju\",\"create_revision\":2,\"mod_revision\":3,\"version\":2,\"value\":\"Zm91cg==\"}}],\"count\":1}}}}}}]}}\n",
        header_json(3)
    );
    assert_output(&etcdctl(at, &["txn", "-w", "json"], Some(failure)).await, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_refuses_old_reads_and_cancels_watches_from_before_it() {
    if !etcdctl_available() {
        return;
    }
    let served = start().await;
    let at = served.address;
    for value in ["1", "2", "3", "4"] {
        assert_output(&etcdctl(at, &["put", "srn", value], None).await, "OK\n");
    }
    assert_output(&etcdctl(at, &["compaction", "4"], None).await, "compacted revision 4\n");
    let old = etcdctl(at, &["get", "srn", "--rev=2"], None).await;
    assert_eq!(
        (old.code, old.error_line()),
        (1, "Error: etcdserver: mvcc: required revision has been compacted")
    );
    let again = etcdctl(at, &["compaction", "2"], None).await;
    assert_eq!(again.error_line(), "Error: etcdserver: mvcc: required revision has been compacted");
    let watch = etcdctl(at, &["watch", "srn", "--rev=2"], None).await;
    let canceled = "watch was canceled (etcdserver: mvcc: required revision has been compacted)\n";
    assert_eq!(watch.stderr, format!("{canceled}Error: watch is canceled by the server\n"), "{watch:?}");
    assert_eq!((watch.code, watch.error_line()), (5, "Error: watch is canceled by the server"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_granted_attached_renewed_listed_and_revoked() {
    if !etcdctl_available() {
        return;
    }
    let served = start().await;
    let at = served.address;
    let first = etcdctl(at, &["lease", "grant", "60"], None).await;
    let id = first.stdout.split(' ').nth(1).expect("the lease ID").to_string();
    assert_output(&first, &format!("lease {id} granted with TTL(60s)\n"));
    let second = etcdctl(at, &["lease", "grant", "60"], None).await;
    let other = second.stdout.split(' ').nth(1).expect("the lease ID").to_string();
    assert_output(&etcdctl(at, &["put", &format!("--lease={other}"), "leased", "x"], None).await, "OK\n");
    served.backend.advance_clock(1_000);
    let expected = format!("lease {other} granted with TTL(60s), remaining(59s), attached keys([leased])\n");
    assert_output(&etcdctl(at, &["lease", "timetolive", &other, "--keys"], None).await, &expected);
    let renewed = format!("lease {other} keepalived with TTL(60)\n");
    assert_output(&etcdctl(at, &["lease", "keep-alive", "--once", &other], None).await, &renewed);
    let mut ids = [id.clone(), other.clone()];
    ids.sort_by_key(|hex| u64::from_str_radix(hex, 16).unwrap());
    let listed = etcdctl(at, &["lease", "list"], None).await;
    assert_eq!(listed.stdout.lines().next(), Some("found 2 leases"));
    let mut listed_ids: Vec<&str> = listed.stdout.lines().skip(1).collect();
    listed_ids.sort_by_key(|hex| u64::from_str_radix(hex, 16).unwrap());
    assert_eq!(listed_ids, ids);
    assert_output(
        &etcdctl(at, &["lease", "revoke", &other], None).await,
        &format!("lease {other} revoked\n"),
    );
    let again = etcdctl(at, &["lease", "revoke", &other], None).await;
    assert_eq!(
        (again.code, again.error_line()),
        (1, "Error: failed to revoke lease (etcdserver: requested lease not found)")
    );
    let unknown = etcdctl(at, &["put", "--lease=1234", "k", "v"], None).await;
    assert_eq!((unknown.code, unknown.error_line()), (1, "Error: etcdserver: requested lease not found"));
    assert_output(&etcdctl(at, &["get", "leased"], None).await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_and_maintenance_commands_print_what_etcd_prints() {
    if !etcdctl_available() {
        return;
    }
    let served = start().await;
    let at = served.address;
    let id = format!("{MEMBER_ID:x}");
    let member = format!("{id}, started, default, http://localhost:2380, http://localhost:2379, false\n");
    assert_output(&etcdctl(at, &["member", "list"], None).await, &member);
    let json = format!(
        "{{\"header\":{{\"cluster_id\":{CLUSTER_ID},\"member_id\":{MEMBER_ID},\"raft_term\":2}},\"members\":[{{\"ID\":{MEMBER_ID},\"name\":\"default\",\"peerURLs\":[\"http://localhost:2380\"],\"clientURLs\":[\"http://localhost:2379\"]}}]}}\n"
    );
    assert_output(&etcdctl(at, &["member", "list", "-w", "json"], None).await, &json);
    let index = served.backend.v3_status().raft_index;
    let status = format!("{at}, {id}, 3.4.23, 20 kB, true, false, 2, {index}, {index}, \n");
    assert_output(&etcdctl(at, &["endpoint", "status"], None).await, &status);
    let table = etcdctl(at, &["endpoint", "status", "-w", "table"], None).await;
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", table.stdout);
    let columns = [
        "ENDPOINT",
        "ID",
        "VERSION",
        "DB SIZE",
        "IS LEADER",
        "IS LEARNER",
        "RAFT TERM",
        "RAFT INDEX",
        "RAFT APPLIED INDEX",
        "ERRORS",
    ];
    let cells = |line: &str| {
        line.split('|').map(str::trim).filter(|cell| !cell.is_empty()).map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(cells(lines[1]), columns);
    let expected_row = [
        at.to_string(),
        id.clone(),
        "3.4.23".into(),
        "20 kB".into(),
        "true".into(),
        "false".into(),
        "2".into(),
        index.to_string(),
        index.to_string(),
    ];
    assert_eq!(cells(lines[3]), expected_row);
    let health = etcdctl(at, &["endpoint", "health"], None).await;
    assert_eq!(health.code, 0, "{health:?}");
    let healthy = format!("{at} is healthy: successfully committed proposal: took = ");
    assert!(health.stdout.starts_with(&healthy) || health.stderr.starts_with(&healthy), "{health:?}");
    let hash = served.backend.v3(server::node::V3Request::HashKv { revision: 0 }).await.unwrap();
    let server::node::V3Reply::HashKv(hash) = hash.reply else { panic!("a hash") };
    let hashkv = etcdctl(at, &["endpoint", "hashkv", "-w", "table"], None).await;
    let lines: Vec<&str> = hashkv.stdout.lines().collect();
    assert_eq!(
        (cells(lines[1]), cells(lines[3])),
        (vec!["ENDPOINT".to_string(), "HASH".into()], vec![at.to_string(), hash.hash.to_string()])
    );
    assert_output(&etcdctl(at, &["alarm", "list"], None).await, "");
    assert_output(
        &etcdctl(at, &["defrag"], None).await,
        &format!("Finished defragmenting etcd member[{at}]\n"),
    );
    let moved = etcdctl(at, &["move-leader", "1234"], None).await;
    assert_eq!((moved.code, moved.error_line()), (1, "Error: etcdserver: bad leader transferee"));
    let auth = etcdctl(at, &["auth", "enable"], None).await;
    assert_eq!((auth.code, auth.error_line()), (1, "Error: etcdserver: root user does not exist"));
}
