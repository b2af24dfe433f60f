//! `concord migrate` end to end on data dirs REAL etcd 3.4 wrote: etcd runs on loopback with v2
//! enabled, takes v2 writes (sets, a directory, TTLs, an in-order key, a hidden key, a delete, a
//! compare-and-swap) and v3 writes (overwrites, a delete, a key on a lease), and is stopped; its data
//! dir is migrated; concord started on the result must answer v2 GETs (values, indexes, TTL dirs)
//! and v3 gets (revisions) exactly as etcd did. With and without a `.snap` file, one member and
//! three. Skipped with a note where etcd is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{
    MemberSpec, Process, TempDir, concord_binary, etcd_available, etcdctl_available, etcdctl_v3, free_port,
};

const BASE_PORT: u16 = 39_000;
const IP: &str = "127.0.0.1";

fn member_spec(name: &str) -> MemberSpec {
    MemberSpec {
        name: name.to_string(),
        ip: IP.to_string(),
        client_port: free_port(IP, BASE_PORT),
        peer_port: free_port(IP, BASE_PORT),
    }
}

fn tools_present() -> bool {
    etcd_available() && etcdctl_available()
}

/// Starts real etcd members `specs` (one cluster) in `dir`, v2 enabled, a snapshot every
/// `snapshot_count` entries.
fn start_etcd(dir: &Path, specs: &[MemberSpec], snapshot_count: u64) -> Vec<Process> {
    start_etcd_with(dir, specs, snapshot_count, &[])
}

/// As `start_etcd`, with `extra` flags.
fn start_etcd_with(dir: &Path, specs: &[MemberSpec], snapshot_count: u64, extra: &[&str]) -> Vec<Process> {
    let initial_cluster: Vec<String> =
        specs.iter().map(|spec| format!("{}={}", spec.name, spec.peer_url())).collect();
    specs
        .iter()
        .map(|spec| {
            let data_dir = dir.join(format!("etcd-{}", spec.name));
            let mut args = e2e::member_args(spec, &data_dir, &initial_cluster.join(","), "new");
            args.push("--enable-v2=true".to_string());
            args.push(format!("--snapshot-count={snapshot_count}"));
            args.push(format!("--initial-cluster-token=migrate-{}", specs[0].peer_port));
            args.extend(extra.iter().map(|flag| flag.to_string()));
            Process::start_program("etcd".into(), spec.clone(), args, Vec::new(), data_dir)
        })
        .collect()
}

/// Starts concord members on the migrated data dirs, with the flags the etcd members had.
fn start_concord(dir: &Path, specs: &[MemberSpec]) -> Vec<Process> {
    let initial_cluster: Vec<String> =
        specs.iter().map(|spec| format!("{}={}", spec.name, spec.peer_url())).collect();
    specs
        .iter()
        .map(|spec| {
            let data_dir = dir.join(format!("concord-{}", spec.name));
            let args = e2e::member_args(spec, &data_dir, &initial_cluster.join(","), "new");
            Process::start(spec.clone(), args, data_dir)
        })
        .collect()
}

/// Waits until a v2 read of `/` succeeds on every member.
fn wait_serving(processes: &[Process], budget: Duration) {
    let deadline = Instant::now() + budget;
    for process in processes {
        let url = process.spec.client_url();
        while e2e::request(&url, "GET", "/v2/keys/?quorum=true", None).map(|response| response.status)
            != Ok(200)
        {
            assert!(Instant::now() < deadline, "{} never served:\n{}", process.spec.name, process.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn v2_write(url: &str, method: &'static str, key: &str, form: &str) -> serde_json::Value {
    let response = e2e::request(url, method, &format!("/v2/keys{key}"), Some(form)).expect("v2 write");
    assert!(
        response.status < 300,
        "{method} {key}: {} {}",
        response.status,
        String::from_utf8_lossy(&response.body)
    );
    e2e::json(&response)
}

fn etcdctl_ok(endpoint: &str, args: &[&str]) -> String {
    let (code, stdout, stderr) = etcdctl_v3(endpoint, args);
    assert_eq!(code, 0, "etcdctl {args:?}: {stdout} {stderr}");
    stdout
}

/// A history of v2 and v3 writes through `url`; `rounds` more sets push etcd past its snapshot count.
fn write_history(url: &str, rounds: usize) {
    v2_write(url, "PUT", "/plain", "value=one");
    v2_write(url, "PUT", "/plain", "value=two");
    v2_write(url, "PUT", "/dir/nested/key", "value=deep");
    v2_write(url, "PUT", "/ttldir", "dir=true&ttl=600");
    v2_write(url, "PUT", "/ttldir/child", "value=c");
    v2_write(url, "PUT", "/ttlkey", "value=t&ttl=900");
    v2_write(url, "POST", "/queue", "value=first");
    v2_write(url, "POST", "/queue", "value=second");
    v2_write(url, "PUT", "/_hidden", "value=h");
    v2_write(url, "PUT", "/gone", "value=g");
    v2_write(url, "DELETE", "/gone", "");
    v2_write(url, "PUT", "/plain", "value=three&prevValue=two");
    for round in 0..rounds {
        v2_write(url, "PUT", &format!("/many/{round:03}"), &format!("value={round}"));
    }
    etcdctl_ok(url, &["put", "alpha", "1"]);
    etcdctl_ok(url, &["put", "alpha", "2"]);
    etcdctl_ok(url, &["put", "beta", "b"]);
    etcdctl_ok(url, &["del", "beta"]);
    let granted = etcdctl_ok(url, &["lease", "grant", "900"]);
    let lease = granted.split_whitespace().nth(1).expect("lease ID").to_string();
    etcdctl_ok(url, &["put", "leased", "l", &format!("--lease={lease}")]);
    v2_write(url, "PUT", "/last", "value=after-v3");
}

/// `value` without the `ttl` fields (the remaining seconds move with the clock; `expiration` stays).
fn without_ttls(mut value: serde_json::Value) -> serde_json::Value {
    match &mut value {
        serde_json::Value::Object(fields) => {
            fields.remove("ttl");
            for field in fields.values_mut() {
                *field = without_ttls(field.take());
            }
        }
        serde_json::Value::Array(items) => {
            for item in items.iter_mut() {
                *item = without_ttls(item.take());
            }
        }
        _ => {}
    }
    value
}

/// What a member serves: the v2 tree, the hidden key, the v3 keys and revision.
#[derive(Debug, PartialEq)]
struct Served {
    v2_tree: serde_json::Value,
    hidden: serde_json::Value,
    ttl_seconds: i64,
    v3_kvs: serde_json::Value,
    v3_revision: i64,
}

fn served(url: &str) -> Served {
    let get = |path: &str| {
        let response = e2e::request(url, "GET", path, None).expect("GET");
        assert_eq!(response.status, 200, "GET {path}: {}", String::from_utf8_lossy(&response.body));
        e2e::json(&response)
    };
    let tree = get("/v2/keys/?recursive=true&sorted=true");
    let hidden = get("/v2/keys/_hidden");
    let ttl_seconds = get("/v2/keys/ttlkey")["node"]["ttl"].as_i64().expect("a TTL");
    let v3: serde_json::Value =
        serde_json::from_str(&etcdctl_ok(url, &["get", "", "--prefix", "-w", "json"])).expect("json");
    Served {
        v2_tree: without_ttls(tree["node"].clone()),
        hidden: hidden["node"].clone(),
        ttl_seconds,
        v3_kvs: v3["kvs"].clone(),
        v3_revision: v3["header"]["revision"].as_i64().expect("revision"),
    }
}

/// Runs `concord migrate`; returns its stdout.
fn migrate(from: &Path, to: &Path) -> String {
    let output = Command::new(concord_binary())
        .args(["migrate", "--from", &from.display().to_string(), "--data-dir", &to.display().to_string()])
        .output()
        .expect("run concord migrate");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "migrate failed: {stdout} {}", String::from_utf8_lossy(&output.stderr));
    stdout
}

fn snap_files(data_dir: &Path) -> Vec<PathBuf> {
    let snap_dir = data_dir.join("member").join("snap");
    let listed =
        std::fs::read_dir(snap_dir).map(|entries| entries.flatten().map(|entry| entry.path()).collect());
    listed
        .unwrap_or_else(|_| Vec::new())
        .into_iter()
        .filter(|path| path.extension().is_some_and(|e| e == "snap"))
        .collect()
}

/// Writes through a one-member etcd, stops it, migrates, and compares what concord serves.
fn single_member_round_trip(snapshot_count: u64, rounds: usize, expect_snapshot: bool) {
    let dir = TempDir::new("migrate");
    let spec = member_spec("m1");
    let mut etcd = start_etcd(&dir.0, std::slice::from_ref(&spec), snapshot_count);
    wait_serving(&etcd, Duration::from_secs(30));
    let url = spec.client_url();
    write_history(&url, rounds);
    let before = served(&url);
    assert_eq!(before.v3_revision, 6, "five v3 writes after revision 1 (a lease grant takes none)");
    etcd[0].stop();
    let etcd_dir = dir.0.join("etcd-m1");
    assert_eq!(
        !snap_files(&etcd_dir).is_empty(),
        expect_snapshot,
        "etcd's snapshot files: {:?}",
        snap_files(&etcd_dir)
    );
    let summary = migrate(&etcd_dir, &dir.0.join("concord-m1"));
    assert!(summary.contains("migrated member"), "{summary}");
    let concord = start_concord(&dir.0, std::slice::from_ref(&spec));
    wait_serving(&concord, Duration::from_secs(30));
    let after = served(&url);
    assert_eq!(after.v2_tree, before.v2_tree, "v2 keys, values, indexes and expirations");
    assert_eq!(after.hidden, before.hidden, "the hidden key");
    assert!(
        (before.ttl_seconds - after.ttl_seconds).abs() <= 30,
        "{} vs {}",
        before.ttl_seconds,
        after.ttl_seconds
    );
    assert_eq!(
        (after.v3_kvs, after.v3_revision),
        (before.v3_kvs, before.v3_revision),
        "v3 keys and revisions"
    );
}

#[test]
fn a_member_without_a_snapshot_file_migrates_with_every_index_and_revision() {
    if !tools_present() {
        return;
    }
    single_member_round_trip(10_000, 3, false);
}

#[test]
fn a_member_with_snapshot_files_migrates_from_the_newest_and_its_wal_tail() {
    if !tools_present() {
        return;
    }
    single_member_round_trip(10, 25, true);
}

#[test]
fn concord_refuses_an_etcd_data_dir_and_names_migrate() {
    if !tools_present() {
        return;
    }
    let dir = TempDir::new("migrate-refusal");
    let spec = member_spec("m1");
    let mut etcd = start_etcd(&dir.0, std::slice::from_ref(&spec), 10_000);
    wait_serving(&etcd, Duration::from_secs(30));
    etcd[0].stop();
    let etcd_dir = dir.0.join("etcd-m1");
    let args = e2e::member_args(&spec, &etcd_dir, &format!("m1={}", spec.peer_url()), "new");
    let output = Command::new(concord_binary()).args(&args).output().expect("run concord");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "concord must refuse an etcd data dir");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("etcd data dir") && stderr.contains("concord migrate --from"), "{stderr}");
}

/// Waits until every member reports the same Raft index and has applied all of it (etcd's `endpoint
/// status`: `raftIndex`, `raftAppliedIndex`), so each stops having applied the same log.
fn wait_same_raft_index(specs: &[MemberSpec], budget: Duration) {
    let deadline = Instant::now() + budget;
    loop {
        let indexes: Vec<Option<(i64, i64)>> = specs
            .iter()
            .map(|spec| {
                let (code, stdout, _) = etcdctl_v3(&spec.client_url(), &["endpoint", "status", "-w", "json"]);
                let json: serde_json::Value = serde_json::from_str(&stdout).ok()?;
                let status = &json[0]["Status"];
                let index = status["raftIndex"].as_i64()?;
                let applied = status["raftAppliedIndex"].as_i64()?;
                (code == 0).then_some((index, applied))
            })
            .collect();
        let agreed = indexes.iter().all(|index| index.is_some() && *index == indexes[0]);
        if agreed && indexes[0].is_some_and(|(index, applied)| index == applied) {
            return;
        }
        assert!(Instant::now() < deadline, "members never agreed on the raft index: {indexes:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_three_member_cluster_migrates_member_by_member_and_serves_the_same_keys() {
    if !tools_present() {
        return;
    }
    let dir = TempDir::new("migrate-cluster");
    let specs: Vec<MemberSpec> = ["m1", "m2", "m3"].iter().map(|name| member_spec(name)).collect();
    let mut etcd = start_etcd(&dir.0, &specs, 20);
    wait_serving(&etcd, Duration::from_secs(60));
    write_history(&specs[0].client_url(), 25);
    // Every member applies the whole log first: a plain v2 read of a follower is local and may lag.
    wait_same_raft_index(&specs, Duration::from_secs(30));
    let before = served(&specs[1].client_url());
    // Followers first, so the leader's commit index is the last word each of them heard.
    for process in etcd.iter_mut().rev() {
        process.stop();
    }
    let mut applied = Vec::new();
    for spec in &specs {
        let summary = migrate(
            &dir.0.join(format!("etcd-{}", spec.name)),
            &dir.0.join(format!("concord-{}", spec.name)),
        );
        applied.push(
            summary.lines().next().unwrap_or_default().split(": ").nth(1).unwrap_or_default().to_string(),
        );
    }
    let concord = start_concord(&dir.0, &specs);
    wait_serving(&concord, Duration::from_secs(60));
    for spec in &specs {
        let after = served(&spec.client_url());
        assert_eq!(after.v2_tree, before.v2_tree, "{}: v2 keys (members applied {applied:?})", spec.name);
        assert_eq!(
            (&after.v3_kvs, after.v3_revision),
            (&before.v3_kvs, before.v3_revision),
            "{}: v3",
            spec.name
        );
    }
    let listed = e2e::members(&specs[2].client_url()).expect("members");
    let mut peers: Vec<String> = listed.iter().flat_map(|member| member.2.clone()).collect();
    peers.sort();
    let mut expected: Vec<String> = specs.iter().map(MemberSpec::peer_url).collect();
    expected.sort();
    assert_eq!(peers, expected, "the same members with the same peer URLs");
    let written = v2_write(&specs[0].client_url(), "PUT", "/after", "value=migration");
    let on_other = e2e::get_value(&specs[2].client_url(), "/after", true);
    assert_eq!(on_other.as_deref(), Some("migration"), "the migrated cluster replicates: {written}");
}

/// What `etcdctl` (v2) answers for the auth checks: anonymous and alice reading `/private/x`, alice
/// writing it, root reading `/pub`.
fn auth_answers(url: &str) -> Vec<(i32, String)> {
    let run = |args: &[&str]| {
        let (code, stdout, _) = e2e::etcdctl(url, args);
        (code, stdout)
    };
    vec![
        run(&["get", "/private/x"]),
        run(&["--username", "alice:alicepw", "get", "/private/x"]),
        run(&["--username", "alice:alicepw", "set", "/private/x", "no"]),
        run(&["--username", "root:rootpw", "get", "/pub"]),
    ]
}

#[test]
fn v2_auth_users_roles_and_the_enabled_flag_carry_over() {
    if !tools_present() {
        return;
    }
    let dir = TempDir::new("migrate-auth");
    let spec = member_spec("m1");
    let mut etcd = start_etcd(&dir.0, std::slice::from_ref(&spec), 5);
    wait_serving(&etcd, Duration::from_secs(30));
    let url = spec.client_url();
    let setup: [&[&str]; 8] = [
        &["user", "add", "root:rootpw"],
        &["role", "add", "reader"],
        &["role", "grant", "reader", "-path", "/private/*", "-read"],
        &["user", "add", "alice:alicepw"],
        &["user", "grant", "alice", "-roles", "reader"],
        &["auth", "enable"],
        &["--username", "root:rootpw", "role", "revoke", "guest", "-path", "/*", "-readwrite"],
        &["--username", "root:rootpw", "set", "/private/x", "secret"],
    ];
    for args in setup {
        let (code, stdout, stderr) = e2e::etcdctl(&url, args);
        assert_eq!(code, 0, "etcdctl {args:?}: {stdout} {stderr}");
    }
    assert_eq!(e2e::etcdctl(&url, &["--username", "root:rootpw", "set", "/pub", "y"]).0, 0);
    let before = auth_answers(&url);
    assert_eq!(before.iter().map(|answer| answer.0).collect::<Vec<_>>(), vec![4, 0, 4, 0], "{before:?}");
    etcd[0].stop();
    migrate(&dir.0.join("etcd-m1"), &dir.0.join("concord-m1"));
    let concord = start_concord(&dir.0, std::slice::from_ref(&spec));
    let deadline = Instant::now() + Duration::from_secs(30);
    while e2e::etcdctl(&url, &["--username", "root:rootpw", "get", "/pub"]).0 != 0 {
        assert!(Instant::now() < deadline, "concord never served:\n{}", concord[0].log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(auth_answers(&url), before, "the same users, roles, permissions and enabled flag");
}

#[test]
fn a_member_killed_right_after_writing_migrates_what_its_wal_holds() {
    if !tools_present() {
        return;
    }
    let dir = TempDir::new("migrate-killed");
    let spec = member_spec("m1");
    // The backend file is committed only every hour (or 100,000 writes): after a SIGKILL the v3 writes
    // are in the WAL alone, and the migration must replay them above the file's consistent index.
    let lazy_backend = ["--backend-batch-interval=1h", "--backend-batch-limit=100000"];
    let mut etcd = start_etcd_with(&dir.0, std::slice::from_ref(&spec), 10_000, &lazy_backend);
    wait_serving(&etcd, Duration::from_secs(30));
    let url = spec.client_url();
    write_history(&url, 2);
    let mut revision = 0;
    for round in 0..5 {
        let put = etcdctl_ok(&url, &["put", &format!("burst/{round}"), "v", "-w", "json"]);
        let json: serde_json::Value = serde_json::from_str(&put).expect("json");
        revision = json["header"]["revision"].as_i64().expect("revision");
    }
    let last_v2 = v2_write(&url, "PUT", "/burst", "value=v2");
    etcdctl_ok(&url, &["put", "burst/last", "v"]);
    etcd[0].kill9();
    let etcd_dir = dir.0.join("etcd-m1");
    let inspected = Command::new(concord_binary())
        .args(["inspect", "snapshot", &etcd_dir.join("member/snap/db").display().to_string()])
        .output()
        .expect("inspect");
    let backend = String::from_utf8_lossy(&inspected.stdout);
    assert!(backend.contains("v3: 0 keys, revision 1"), "the backend file lags the WAL: {backend}");
    migrate(&etcd_dir, &dir.0.join("concord-m1"));
    let concord = start_concord(&dir.0, std::slice::from_ref(&spec));
    wait_serving(&concord, Duration::from_secs(30));
    let after = served(&url);
    let last = after
        .v3_kvs
        .as_array()
        .and_then(|kvs| kvs.iter().find(|kv| kv["key"] == "YnVyc3QvbGFzdA=="))
        .cloned();
    assert_eq!(
        last.map(|kv| kv["mod_revision"].as_i64()),
        Some(Some(revision + 1)),
        "burst/last, the final put"
    );
    assert_eq!(after.v3_revision, revision + 1);
    let burst = e2e::request(&url, "GET", "/v2/keys/burst", None).expect("GET");
    assert_eq!(e2e::json(&burst)["node"]["modifiedIndex"], last_v2["node"]["modifiedIndex"]);
}
