//! Maintenance.Snapshot end to end: the real `etcdctl` saves a snapshot of a running `concord`, reads
//! its status and restores it; where `etcd` is installed, real etcd 3.4 started on the restored data
//! dir serves the same keys, values, revisions, leases and compaction point.

use std::time::{Duration, Instant};

use e2e::{MemberSpec, Process, TempDir, etcd_available, etcdctl_available, etcdctl_v3, free_port};

const BASE_PORT: u16 = 36_000;
const IP: &str = "127.0.0.1";

fn member_spec(name: &str) -> MemberSpec {
    MemberSpec {
        name: name.to_string(),
        ip: IP.to_string(),
        client_port: free_port(IP, BASE_PORT),
        peer_port: free_port(IP, BASE_PORT),
    }
}

/// Retries `etcdctl <args>` until it exits 0, for at most `budget`; returns its stdout.
fn etcdctl_until_ok(endpoint: &str, args: &[&str], budget: Duration, process: &Process) -> String {
    let deadline = Instant::now() + budget;
    loop {
        let (code, stdout, stderr) = etcdctl_v3(endpoint, args);
        if code == 0 {
            return stdout;
        }
        assert!(Instant::now() < deadline, "etcdctl {args:?} never succeeded: {stderr}\n{}", process.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `etcdctl <args>` that must succeed; its stdout.
fn etcdctl_ok(endpoint: &str, args: &[&str]) -> String {
    let (code, stdout, stderr) = etcdctl_v3(endpoint, args);
    assert_eq!(code, 0, "etcdctl {args:?}: {stdout} {stderr}");
    stdout
}

/// The keys of `get "" --prefix -w json` with every field, and the header's revision.
fn all_keys(endpoint: &str) -> (Vec<serde_json::Value>, i64) {
    let json: serde_json::Value =
        serde_json::from_str(&etcdctl_ok(endpoint, &["get", "", "--prefix", "-w", "json"])).expect("json");
    let kvs = json["kvs"].as_array().cloned().unwrap_or_default();
    (kvs, json["header"]["revision"].as_i64().expect("header revision"))
}

/// Writes a history worth checking: overwrites, a delete, a key on a lease, a 100 KB value, many keys,
/// and a compaction; returns the lease ID (hex) and the compacted revision.
fn write_history(endpoint: &str) -> (String, i64) {
    etcdctl_ok(endpoint, &["put", "alpha", "1"]);
    etcdctl_ok(endpoint, &["put", "alpha", "2"]);
    etcdctl_ok(endpoint, &["put", "gone", "soon"]);
    etcdctl_ok(endpoint, &["del", "gone"]);
    let granted = etcdctl_ok(endpoint, &["lease", "grant", "600"]);
    let lease = granted.split_whitespace().nth(1).expect("lease ID").to_string();
    etcdctl_ok(endpoint, &["put", "leased", "v", &format!("--lease={lease}")]);
    etcdctl_ok(endpoint, &["put", "large", &"x".repeat(100_000)]);
    for index in 0..40 {
        etcdctl_ok(endpoint, &["put", &format!("many/{index:03}"), &format!("value {index}")]);
    }
    let (_, revision) = all_keys(endpoint);
    let compacted = revision - 20;
    etcdctl_ok(endpoint, &["compact", &compacted.to_string()]);
    etcdctl_ok(endpoint, &["put", "alpha", "3"]);
    (lease, compacted)
}

#[test]
fn a_snapshot_of_concord_restores_into_real_etcd_with_the_same_keyspace() {
    if !etcdctl_available() {
        return;
    }
    let dir = TempDir::new("v3-snapshot");
    let spec = member_spec("concord");
    let data_dir = dir.0.join("concord.etcd");
    let args = e2e::member_args(&spec, &data_dir, &format!("concord={}", spec.peer_url()), "new");
    let concord = Process::start(spec.clone(), args, data_dir);
    let endpoint = spec.client_url();
    etcdctl_until_ok(&endpoint, &["endpoint", "health"], Duration::from_secs(20), &concord);
    let (lease, compacted) = write_history(&endpoint);
    let (expected_kvs, revision) = all_keys(&endpoint);
    assert_eq!(expected_kvs.len(), 43, "alpha, leased, large and 40 more");

    let file = dir.0.join("concord.snapshot.db");
    let file_arg = file.display().to_string();
    let saved = etcdctl_ok(&endpoint, &["snapshot", "save", &file_arg]);
    assert!(saved.contains("Snapshot saved at"), "{saved}");

    let status: serde_json::Value =
        serde_json::from_str(&etcdctl_ok(&endpoint, &["snapshot", "status", &file_arg, "-w", "json"]))
            .unwrap();
    assert_eq!(status["revision"].as_i64(), Some(revision), "{status}");
    let total_size = status["totalSize"].as_i64().expect("total size");
    assert!(total_size > 100_000 && total_size % 4096 == 0, "{status}");
    assert!(status["totalKey"].as_i64().expect("total keys") > 43, "{status}");
    let table = etcdctl_ok(&endpoint, &["snapshot", "status", &file_arg, "-w", "table"]);
    assert!(table.contains("TOTAL KEYS") && table.contains(&format!(" {revision} |")), "{table}");

    let restored = member_spec("restored");
    let restored_dir = dir.0.join("restored.etcd");
    let initial_cluster = format!("restored={}", restored.peer_url());
    let (code, stdout, stderr) = etcdctl_v3(
        &endpoint,
        &[
            "snapshot",
            "restore",
            &file_arg,
            &format!("--data-dir={}", restored_dir.display()),
            "--name=restored",
            &format!("--initial-cluster={initial_cluster}"),
            &format!("--initial-advertise-peer-urls={}", restored.peer_url()),
        ],
    );
    assert_eq!(code, 0, "restore: {stdout} {stderr}");
    if !etcd_available() {
        return;
    }
    let args = e2e::member_args(&restored, &restored_dir, &initial_cluster, "new");
    let etcd = Process::start_program("etcd".into(), restored.clone(), args, Vec::new(), restored_dir);
    let etcd_endpoint = restored.client_url();
    etcdctl_until_ok(&etcd_endpoint, &["endpoint", "health"], Duration::from_secs(20), &etcd);
    let (kvs, etcd_revision) = all_keys(&etcd_endpoint);
    assert_eq!(kvs, expected_kvs, "etcd serves the same keys, values, versions and leases");
    assert_eq!(etcd_revision, revision);
    let leases = etcdctl_ok(&etcd_endpoint, &["lease", "list"]);
    assert!(leases.contains(&lease), "{leases}");
    let (code, _, stderr) =
        etcdctl_v3(&etcd_endpoint, &["get", "alpha", &format!("--rev={}", compacted - 1)]);
    assert!(code != 0 && stderr.contains("required revision has been compacted"), "{stderr}");
    let at_compaction = etcdctl_ok(&etcd_endpoint, &["get", "alpha", &format!("--rev={compacted}")]);
    assert_eq!(at_compaction, "alpha\n2\n", "history from the compacted revision on is kept");
    drop(etcd);
    drop(concord);
}
