//! The thesis's disaster recovery, end to end with real processes: a running 3-member cluster with v2
//! and v3 writes is backed up from its leader while it runs (`concordctl backup`), destroyed (kill -9,
//! data dirs deleted), started again from the backup with `--force-new-cluster`, its member's peer
//! URLs set with `member update`, and grown back to three members one at a time (`member add`, then a
//! start with `--initial-cluster-state existing`). Every acknowledged key is then on every member with
//! its value and v2 modifiedIndex / v3 mod_revision.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::{
    Cluster, MemberSpec, Process, TempDir, add_member, etcdctl_available, etcdctl_v3, free_port, json,
    member_args, members, put, request, self_stats, wait_published,
};

const BASE_PORT: u16 = 27_000;
const IP: &str = "127.0.0.1";
const BUDGET: Duration = Duration::from_secs(60);
const V2_KEYS: usize = 20;
const V3_KEYS: usize = 10;

fn new_spec(name: &str) -> MemberSpec {
    MemberSpec {
        name: name.to_string(),
        ip: IP.to_string(),
        client_port: free_port(IP, BASE_PORT),
        peer_port: free_port(IP, BASE_PORT),
    }
}

/// An acknowledged write: key, value, and the index (v2) or revision (v3) it was given.
type Acknowledged = Vec<(String, String, u64)>;

fn write_v2(url: &str) -> Acknowledged {
    (0..V2_KEYS)
        .map(|number| {
            let (key, value) = (format!("/backup/v2-{number}"), format!("value {number}"));
            let response = put(url, &key, &value).expect("v2 write");
            assert!(
                response.status == 200 || response.status == 201,
                "v2 write refused: {}",
                response.status
            );
            let index = json(&response)["node"]["modifiedIndex"].as_u64().expect("modifiedIndex");
            (key, value, index)
        })
        .collect()
}

fn write_v3(url: &str) -> Acknowledged {
    (0..V3_KEYS)
        .map(|number| {
            let (key, value) = (format!("v3-{number}"), format!("value {number}"));
            let (code, stdout, stderr) = etcdctl_v3(url, &["put", &key, &value, "-w", "json"]);
            assert_eq!(code, 0, "v3 put: {stderr}");
            let revision = parse(&stdout)["header"]["revision"].as_u64().expect("revision");
            (key, value, revision)
        })
        .collect()
}

fn parse(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

/// The v2 key as `url` has it locally: (value, modifiedIndex).
fn read_v2(url: &str, key: &str) -> Option<(String, u64)> {
    let response = request(url, "GET", &format!("/v2/keys{key}"), None).ok()?;
    let body = json(&response);
    Some((body["node"]["value"].as_str()?.to_string(), body["node"]["modifiedIndex"].as_u64()?))
}

/// The v3 key as `url` has it locally (serializable read): (value, mod_revision).
fn read_v3(url: &str, key: &str) -> Option<(String, u64)> {
    use std::io::Read;
    let (code, stdout, _) = etcdctl_v3(url, &["get", key, "-w", "json", "--consistency=s"]);
    if code != 0 {
        return None;
    }
    let body = parse(&stdout);
    let kv = &body["kvs"][0];
    let encoded = kv["value"].as_str()?;
    let mut value = String::new();
    base64_decode(encoded).as_slice().read_to_string(&mut value).ok()?;
    Some((value, kv["mod_revision"].as_u64()?))
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits: u32 = 0;
    let mut count = 0;
    let mut bytes = Vec::new();
    for symbol in text.bytes().filter(|symbol| *symbol != b'=') {
        let digit = ALPHABET.iter().position(|known| *known == symbol).expect("base64") as u32;
        bits = (bits << 6) | digit;
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
        }
    }
    bytes
}

/// Waits until `url` serves every acknowledged write as it was acknowledged.
fn assert_everything_served(process: &Process, v2: &Acknowledged, v3: &Acknowledged) {
    let url = process.spec.client_url();
    for (reader, acknowledged, api) in
        [(read_v2 as fn(&str, &str) -> _, v2, "v2"), (read_v3 as fn(&str, &str) -> _, v3, "v3")]
    {
        for (key, value, index) in acknowledged {
            let deadline = Instant::now() + BUDGET;
            let expected = Some((value.clone(), *index));
            loop {
                let served = reader(&url, key);
                if served == expected {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} serves {api} {key} as {served:?}, acknowledged as {expected:?}\n{}",
                    process.spec.name,
                    process.log()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn wait_leads(process: &Process) -> String {
    let url = process.spec.client_url();
    let deadline = Instant::now() + BUDGET;
    loop {
        if let Some(stats) = self_stats(&url)
            && !stats.leader.is_empty()
            && stats.leader == stats.id
        {
            return stats.id;
        }
        assert!(Instant::now() < deadline, "the restored member never led:\n{}", process.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn concordctl(args: &[&str]) -> i32 {
    let mut raw = vec!["concordctl".to_string()];
    raw.extend(args.iter().map(|arg| arg.to_string()));
    ctl::run_v2(raw)
}

/// Restores the backup in `backup_dir` as a new member `r1` with `--force-new-cluster`.
fn restore(backup_dir: &Path) -> Process {
    let spec = new_spec("r1");
    let initial_cluster = format!("r1={}", spec.peer_url());
    let mut args = member_args(&spec, backup_dir, &initial_cluster, "new");
    args.push("--force-new-cluster".to_string());
    Process::start(spec, args, backup_dir.to_path_buf())
}

/// `member add` through the running members, then starts `name` with `--initial-cluster-state existing`.
fn add_back(dir: &Path, running: &[Process], name: &str) -> Process {
    let spec = new_spec(name);
    let urls: Vec<String> = running.iter().map(|process| process.spec.client_url()).collect();
    add_member(&urls, &spec.peer_url(), BUDGET);
    let initial_cluster: Vec<String> = running
        .iter()
        .map(|process| &process.spec)
        .chain(std::iter::once(&spec))
        .map(|spec| format!("{}={}", spec.name, spec.peer_url()))
        .collect();
    let data_dir = dir.join(name);
    let args = member_args(&spec, &data_dir, &initial_cluster.join(","), "existing");
    let peer_url = spec.peer_url();
    let process = Process::start(spec, args, data_dir);
    assert!(wait_published(&urls[0], &peer_url, BUDGET), "{name} never published itself:\n{}", process.log());
    process
}

#[test]
fn a_running_cluster_backed_up_destroyed_and_restored_serves_every_acknowledged_key() {
    if !etcdctl_available() {
        return;
    }
    let mut cluster = Cluster::start(3, IP, BASE_PORT);
    let leader = cluster.wait_for_leader(BUDGET);
    let leader_url = cluster.members[leader].spec.client_url();
    let v2 = write_v2(&leader_url);
    let v3 = write_v3(&leader_url);

    let restored_dir = TempDir::new("restored");
    let backup_dir = restored_dir.0.join("r1");
    let data_dir = cluster.members[leader].data_dir.display().to_string();
    let code =
        concordctl(&["backup", "--data-dir", &data_dir, "--backup-dir", &backup_dir.display().to_string()]);
    assert_eq!(code, 0, "backup of the running leader");

    for member in &mut cluster.members {
        member.kill9();
        std::fs::remove_dir_all(&member.data_dir).expect("the data dir is destroyed");
    }

    let first = restore(&backup_dir);
    let id = wait_leads(&first);
    let url = first.spec.client_url();
    let listed = members(&url).expect("members");
    assert_eq!(listed.len(), 1, "only the restored member: {listed:?}");
    assert_eq!(listed[0].0, id);
    assert_eq!(concordctl(&["--endpoints", &url, "member", "update", &id, &first.spec.peer_url()]), 0);
    let updated = members(&url).expect("members");
    assert_eq!(updated[0].2, vec![first.spec.peer_url()], "member update set the peer URLs");
    assert_everything_served(&first, &v2, &v3);

    let mut running = vec![first];
    for name in ["r2", "r3"] {
        let added = add_back(&restored_dir.0, &running, name);
        running.push(added);
    }
    assert_eq!(members(&url).expect("members").len(), 3);
    for process in &running {
        assert_everything_served(process, &v2, &v3);
    }
    let after =
        put(&running[2].spec.client_url(), "/after-restore", "ok").expect("the grown cluster takes writes");
    assert!(after.status == 200 || after.status == 201);
}

/// The flags of a one-member cluster `spec` whose WAL lives in `wal_dir`, apart from `data_dir`.
fn args_with_wal_dir(spec: &MemberSpec, data_dir: &Path, wal_dir: &Path) -> Vec<String> {
    let mut args = member_args(spec, data_dir, &format!("{}={}", spec.name, spec.peer_url()), "new");
    args.push(format!("--wal-dir={}", wal_dir.display()));
    args
}

fn wait_serving(process: &Process) {
    let deadline = Instant::now() + BUDGET;
    while self_stats(&process.spec.client_url()).is_none_or(|stats| stats.leader.is_empty()) {
        assert!(Instant::now() < deadline, "{} never served:\n{}", process.spec.name, process.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_member_with_a_separate_wal_dir_is_backed_up_into_a_separate_wal_dir_and_restored_from_it() {
    let dir = TempDir::new("backup-wal-dir");
    let source_spec = new_spec("w1");
    let (source_data, source_wal) = (dir.0.join("w1"), dir.0.join("w1-wal"));
    let mut source = Process::start(
        source_spec.clone(),
        args_with_wal_dir(&source_spec, &source_data, &source_wal),
        source_data.clone(),
    );
    wait_serving(&source);
    let v2 = write_v2(&source_spec.client_url());
    assert!(!source_data.join("member").join("wal").exists(), "the WAL is only in --wal-dir");

    // Backed up while running, from the data dir and its separate WAL dir.
    let (backup_data, backup_wal) = (dir.0.join("r1"), dir.0.join("r1-wal"));
    let text = |path: &Path| path.display().to_string();
    let code = concordctl(&[
        "backup",
        "--data-dir",
        &text(&source_data),
        "--wal-dir",
        &text(&source_wal),
        "--backup-dir",
        &text(&backup_data),
        "--backup-wal-dir",
        &text(&backup_wal),
    ]);
    assert_eq!(code, 0, "backup with separate WAL dirs");
    assert!(backup_wal.read_dir().is_ok_and(|mut files| files.next().is_some()), "the copy's WAL is there");
    assert!(!backup_data.join("member").join("wal").exists(), "and only there");
    source.kill9();

    // Restored with the backup's WAL dir as its --wal-dir.
    let spec = new_spec("r1");
    let mut args = args_with_wal_dir(&spec, &backup_data, &backup_wal);
    args.push("--force-new-cluster".to_string());
    let restored = Process::start(spec.clone(), args, backup_data.clone());
    let id = wait_leads(&restored);
    let listed = members(&spec.client_url()).expect("members");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].0, id);
    // The member added under the copy's new ID carries its advertised peer URLs.
    assert_eq!(listed[0].2, vec![spec.peer_url()], "the restored member's record has its peer URLs");
    for (key, value, index) in &v2 {
        let deadline = Instant::now() + BUDGET;
        while read_v2(&spec.client_url(), key) != Some((value.clone(), *index)) {
            assert!(Instant::now() < deadline, "{key} is not served as acknowledged:\n{}", restored.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let after = put(&spec.client_url(), "/after-restore", "ok").expect("the restored member takes writes");
    assert!(after.status == 200 || after.status == 201, "{}", after.status);
}
