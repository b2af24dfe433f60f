//! The etcd assignment (seed `etcd-assignment.txt`) over the v3 API: the real `etcdctl` (API v3) drives
//! real `concord` processes through the single-node walkthrough and the three-member cluster started from
//! YAML config files, and, where `etcd` is installed, the same script runs against real etcd 3.4 and the
//! normalised transcripts are compared.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use e2e::{
    MemberSpec, Process, TempDir, concord_binary, etcd_available, etcdctl_available, etcdctl_v3, free_port,
};

const BASE_PORT: u16 = 34_000;
const IP: &str = "127.0.0.1";

/// Which server the script runs against.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Server {
    Concord,
    Etcd,
}

impl Server {
    fn program(self) -> PathBuf {
        match self {
            Server::Concord => concord_binary(),
            Server::Etcd => PathBuf::from("etcd"),
        }
    }
}

fn member_spec(name: &str) -> MemberSpec {
    MemberSpec {
        name: name.to_string(),
        ip: IP.to_string(),
        client_port: free_port(IP, BASE_PORT),
        peer_port: free_port(IP, BASE_PORT),
    }
}

/// Retries `etcdctl <args>` until it exits 0, for at most `budget`; returns its stdout.
fn etcdctl_until_ok(endpoints: &str, args: &[&str], budget: Duration) -> String {
    let deadline = Instant::now() + budget;
    loop {
        let (code, stdout, stderr) = etcdctl_v3(endpoints, args);
        if code == 0 {
            return stdout;
        }
        assert!(Instant::now() < deadline, "etcdctl {args:?} never succeeded: {stderr}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `etcdctl <args>`, asserts it exits with `expected_code`, and appends the command and its output
/// (stdout, then the `Error:` lines of stderr: etcd's client also logs retries there) to `transcript`.
fn step(transcript: &mut Vec<String>, endpoints: &str, args: &[&str], expected_code: i32) -> String {
    let (code, stdout, stderr) = etcdctl_v3(endpoints, args);
    assert_eq!(code, expected_code, "etcdctl {args:?}: stdout {stdout:?} stderr {stderr:?}");
    transcript.push(format!("$ etcdctl {}", args.join(" ")));
    transcript.extend(stdout.lines().map(str::to_string));
    transcript.extend(stderr.lines().filter(|line| line.starts_with("Error:")).map(str::to_string));
    transcript.push(format!("(exit {code})"));
    stdout
}

/// `etcdctl watch <key>` in the background, its stdout lines sent to a channel by a reader thread.
struct Watcher {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Watcher {
    fn start(endpoints: &str, args: &[&str]) -> Watcher {
        let mut child = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={endpoints}"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start etcdctl watch");
        let stdout = child.stdout.take().expect("watch stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Watcher { child, lines }
    }

    /// The lines printed until `count` lines arrived or `budget` ran out.
    fn collect(&self, count: usize, budget: Duration) -> Vec<String> {
        let deadline = Instant::now() + budget;
        let mut lines = Vec::new();
        while lines.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(_) => break,
            }
        }
        lines
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `get -w json` with the header's and the key's numbers replaced by their names, after checking they
/// are there and plausible.
fn normalise_json(stdout: &str) -> String {
    let mut json: serde_json::Value = serde_json::from_str(stdout.trim()).expect("get -w json is JSON");
    for field in ["cluster_id", "member_id", "revision", "raft_term"] {
        let value = &mut json["header"][field];
        assert!(value.as_u64().is_some_and(|number| number > 0), "header.{field} missing in {stdout}");
        *value = serde_json::Value::String(format!("<{field}>"));
    }
    for kv in json["kvs"].as_array_mut().expect("kvs") {
        for field in ["create_revision", "mod_revision"] {
            assert!(kv[field].as_u64().is_some_and(|number| number > 0), "{field} missing in {stdout}");
            kv[field] = serde_json::Value::String(format!("<{field}>"));
        }
    }
    json.to_string()
}

/// The single-node walkthrough against one server; returns its normalised transcript.
fn single_node_script(server: Server) -> Vec<String> {
    let dir = TempDir::new("v3-single");
    let spec = member_spec("default");
    let data_dir = dir.0.join("default.etcd");
    let args = e2e::member_args(&spec, &data_dir, &format!("default={}", spec.peer_url()), "new");
    let process = Process::start_program(server.program(), spec.clone(), args, Vec::new(), data_dir);
    let endpoint = spec.client_url();
    etcdctl_until_ok(&endpoint, &["endpoint", "health"], Duration::from_secs(20));
    let mut transcript = Vec::new();
    assert_eq!(step(&mut transcript, &endpoint, &["put", "srn", "pes1ug21cs001"], 0), "OK\n");
    assert_eq!(step(&mut transcript, &endpoint, &["get", "srn"], 0), "srn\npes1ug21cs001\n");
    let json = step(&mut transcript, &endpoint, &["get", "srn", "-w", "json"], 0);
    let normalised = normalise_json(&json);
    transcript.pop();
    transcript.pop();
    transcript.push(normalised);
    transcript.push("(exit 0)".to_string());
    watch_put_and_delete(&mut transcript, &endpoint, &json);
    assert_eq!(step(&mut transcript, &endpoint, &["get", "srn"], 0), "");
    step(&mut transcript, &endpoint, &["put", "", "x"], 1);
    let error = transcript.iter().rev().nth(1).cloned().unwrap_or_default();
    assert_eq!(error, "Error: etcdserver: key is not provided", "{}", process.log());
    transcript
}

/// `watch srn` in the background while `put srn <new value>` and `del srn` run: the watcher prints both
/// events. It watches from the revision after `get_json`'s, so no event can slip past a watch still
/// being set up.
fn watch_put_and_delete(transcript: &mut Vec<String>, endpoint: &str, get_json: &str) {
    let header: serde_json::Value = serde_json::from_str(get_json.trim()).expect("JSON");
    let next_revision = header["header"]["revision"].as_u64().expect("revision") + 1;
    let watcher = Watcher::start(endpoint, &["watch", "srn", &format!("--rev={next_revision}")]);
    assert_eq!(step(transcript, endpoint, &["put", "srn", "pes1ug21cs001_name"], 0), "OK\n");
    assert_eq!(step(transcript, endpoint, &["del", "srn"], 0), "1\n");
    let events = watcher.collect(5, Duration::from_secs(10));
    transcript.push("$ etcdctl watch srn (background)".to_string());
    transcript.extend(events.iter().cloned());
    assert_eq!(events, ["PUT", "srn", "pes1ug21cs001_name", "DELETE", "srn"], "watch output");
}

#[test]
fn single_node_walkthrough_matches_etcd() {
    if !etcdctl_available() {
        return;
    }
    let concord = single_node_script(Server::Concord);
    eprintln!("concord transcript:\n{}", concord.join("\n"));
    if !etcd_available() {
        return;
    }
    let etcd = single_node_script(Server::Etcd);
    eprintln!("etcd transcript:\n{}", etcd.join("\n"));
    assert_eq!(concord, etcd, "concord and etcd transcripts differ");
}

/// One row of `endpoint status --write-out=table`.
#[derive(Clone, Debug)]
struct StatusRow {
    endpoint: String,
    id: String,
    version: String,
    is_leader: bool,
    is_learner: bool,
    raft_term: u64,
    raft_index: u64,
    errors: String,
}

/// The rows of an `endpoint status --write-out=table` (the header row and the rules left out).
fn parse_status_table(table: &str) -> Vec<StatusRow> {
    table
        .lines()
        .filter(|line| line.starts_with('|'))
        .map(|line| line.split('|').map(str::trim).collect::<Vec<&str>>())
        .filter(|cells| cells.get(1) != Some(&"ENDPOINT"))
        .map(|cells| {
            assert_eq!(cells.len(), 12, "ten columns in {cells:?}");
            StatusRow {
                endpoint: cells[1].to_string(),
                id: cells[2].to_string(),
                version: cells[3].to_string(),
                is_leader: cells[5] == "true",
                is_learner: cells[6] == "true",
                raft_term: cells[7].parse().expect("RAFT TERM"),
                raft_index: cells[8].parse().expect("RAFT INDEX"),
                errors: cells[10].to_string(),
            }
        })
        .collect()
}

/// The table's header line, and each row with what differs between runs (endpoint, ID, size, term,
/// indexes) replaced by what the assignment looks at: is this the leader, is the term the common one.
fn normalise_status(table: &str, rows: &[StatusRow]) -> Vec<String> {
    let header = table.lines().find(|line| line.contains("ENDPOINT")).unwrap_or_default();
    let header: Vec<&str> = header.split('|').map(str::trim).filter(|cell| !cell.is_empty()).collect();
    let mut lines = vec![header.join(" | ")];
    let mut normalised: Vec<String> = rows
        .iter()
        .map(|row| {
            format!(
                "<endpoint> | <id> | {} | <size> | {} | {} | <term> | <index> | <index> | {}",
                row.version, row.is_leader, row.is_learner, row.errors
            )
        })
        .collect();
    normalised.sort();
    lines.extend(normalised);
    lines
}

/// Polls `endpoint status` on `endpoints` until every one answers, exactly one is the leader and all
/// share its term above `above_term`; returns the table and its rows.
fn wait_for_one_leader(endpoints: &[String], above_term: u64, budget: Duration) -> (String, Vec<StatusRow>) {
    // The assignment's form, with the scheme: etcdctl then sends `http://host:port` as the HTTP/2
    // :authority (see `endpoint_status_with_a_scheme_in_the_endpoint`).
    let joined = endpoints.join(",");
    let deadline = Instant::now() + budget;
    loop {
        let (code, stdout, stderr) = etcdctl_v3(&joined, &["endpoint", "status", "--write-out=table"]);
        let rows = parse_status_table(&stdout);
        let leaders = rows.iter().filter(|row| row.is_leader).count();
        if code == 0
            && rows.len() == endpoints.len()
            && leaders == 1
            && rows.iter().all(|row| row.raft_term == rows[0].raft_term && row.raft_term > above_term)
        {
            return (stdout, rows);
        }
        assert!(Instant::now() < deadline, "no single leader above term {above_term}: {stdout}{stderr}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A member's config file in the assignment's format (`etcd1.conf.yml`).
fn config_file(spec: &MemberSpec, data_dir: &std::path::Path, initial_cluster: &str, token: &str) -> String {
    format!(
        "name: {name}\n\
         data-dir: {data_dir}\n\
         initial-advertise-peer-urls: {peer}\n\
         listen-peer-urls: {peer}\n\
         listen-client-urls: {client}\n\
         advertise-client-urls: {client}\n\
         initial-cluster-token: {token}\n\
         initial-cluster: {initial_cluster}\n\
         initial-cluster-state: new\n",
        name = spec.name,
        data_dir = data_dir.display(),
        peer = spec.peer_url(),
        client = spec.client_url(),
    )
}

/// Three members `etcd-1..3`, each started with `--config-file` on its own YAML file in `dir`.
fn start_three_from_config_files(server: Server, dir: &TempDir) -> Vec<Process> {
    let specs: Vec<MemberSpec> = (1..=3).map(|number| member_spec(&format!("etcd-{number}"))).collect();
    let initial_cluster: Vec<String> =
        specs.iter().map(|spec| format!("{}={}", spec.name, spec.peer_url())).collect();
    let token = format!("etcd-cluster-{}-{}", std::process::id(), specs[0].peer_port);
    specs
        .into_iter()
        .enumerate()
        .map(|(index, spec)| {
            let data_dir = dir.0.join(format!("etcd{}", index + 1));
            let path = dir.0.join(format!("etcd{}.conf.yml", index + 1));
            let text = config_file(&spec, &data_dir, &initial_cluster.join(","), &token);
            std::fs::write(&path, text).expect("write config file");
            let args = vec!["--config-file".to_string(), path.display().to_string()];
            Process::start_program(server.program(), spec, args, Vec::new(), data_dir)
        })
        .collect()
}

/// The cluster part of the assignment against one server; returns its normalised transcript.
fn three_member_script(server: Server) -> Vec<String> {
    let dir = TempDir::new("v3-cluster");
    let mut members = start_three_from_config_files(server, &dir);
    let endpoints: Vec<String> = members.iter().map(|member| member.spec.client_url()).collect();
    let mut transcript =
        vec!["$ etcdctl --endpoints=<all three> endpoint status --write-out=table".to_string()];
    let (table, before) = wait_for_one_leader(&endpoints, 0, Duration::from_secs(30));
    eprintln!("{server:?} before:\n{table}");
    transcript.extend(normalise_status(&table, &before));
    let leader_row = before.iter().find(|row| row.is_leader).expect("a leader");
    let leader = endpoints.iter().position(|url| leader_row.endpoint == *url);
    let leader = leader.expect("the leader is one of the endpoints");
    members[leader].kill9();
    let survivors: Vec<String> = endpoints
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != leader)
        .map(|(_, url)| url.clone())
        .collect();
    transcript
        .push("$ kill -9 <leader>; etcdctl --endpoints=<survivors> endpoint status -w table".to_string());
    let (table, after) = wait_for_one_leader(&survivors, leader_row.raft_term, Duration::from_secs(20));
    eprintln!("{server:?} after:\n{table}");
    transcript.extend(normalise_status(&table, &after));
    assert!(after.iter().all(|row| row.id != leader_row.id), "the killed leader is gone");
    assert!(after.iter().all(|row| row.raft_index >= leader_row.raft_index), "no entry lost");
    let survivor = &survivors[0];
    assert_eq!(step(&mut transcript, survivor, &["put", "srn", "after-election"], 0), "OK\n");
    assert_eq!(step(&mut transcript, &survivors[1], &["get", "srn"], 0), "srn\nafter-election\n");
    drop(members);
    transcript
}

#[test]
fn three_members_from_config_files_reelect_after_the_leader_is_killed_like_etcd() {
    if !etcdctl_available() {
        return;
    }
    let concord = three_member_script(Server::Concord);
    eprintln!("concord transcript:\n{}", concord.join("\n"));
    if !etcd_available() {
        return;
    }
    let etcd = three_member_script(Server::Etcd);
    eprintln!("etcd transcript:\n{}", etcd.join("\n"));
    assert_eq!(concord, etcd, "concord and etcd transcripts differ");
}

/// The assignment's exact command, `etcdctl --endpoints=http://host:port endpoint status`: etcdctl 3.4
/// dials that endpoint with `http://host:port` as the HTTP/2 :authority, which etcd accepts.
#[test]
fn endpoint_status_with_a_scheme_in_the_endpoint() {
    if !etcdctl_available() {
        return;
    }
    let dir = TempDir::new("v3-scheme");
    let spec = member_spec("default");
    let data_dir = dir.0.join("default.etcd");
    let args = e2e::member_args(&spec, &data_dir, &format!("default={}", spec.peer_url()), "new");
    let _process = Process::start(spec.clone(), args, data_dir);
    etcdctl_until_ok(&spec.client_url(), &["endpoint", "health"], Duration::from_secs(20));
    let table =
        etcdctl_until_ok(&spec.client_url(), &["endpoint", "status", "-w", "table"], Duration::from_secs(5));
    let rows = parse_status_table(&table);
    assert_eq!(rows.len(), 1, "{table}");
    assert_eq!(rows[0].endpoint, spec.client_url());
}
