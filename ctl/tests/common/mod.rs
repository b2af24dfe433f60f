//! Test harness: real server processes on loopback and both clients (`ETCDCTL_API=2 concordctl` and
//! the real `ETCDCTL_API=2 etcdctl`) run as child processes. The v3 sessions' harness is in `v3.rs`.
//!
//! Every session runs against both server kinds (`ServerKind`): real `etcd` (3.4, `--enable-v2=true`)
//! and Concord's own server (`target/<profile>/concord`, built on demand; it takes etcd's flags).
//! Transcripts are only ever compared between the two CLIENTS against the SAME kind of server, because
//! the store index differs between kinds (a fresh etcd has spent indexes 1-3 on its membership writes).
//! Expected texts write indexes as etcd's numbers inside `{ix:N}`; `Indexes::fill` shifts them for the
//! server at hand.
//!
//! Ports: every test file passes its own base port and each server start takes the next free pair, so
//! parallel tests never collide. Every server is killed (and its data dir removed) by `Drop`, even when a
//! test panics.

#![allow(dead_code)]

pub mod v3;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use ctl::http::{self, Deadlines, Endpoint, Request, Transport};

/// Which server a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    Etcd,
    Concord,
}

impl ServerKind {
    pub const ALL: [ServerKind; 2] = [ServerKind::Etcd, ServerKind::Concord];

    pub fn binary(self) -> PathBuf {
        match self {
            ServerKind::Etcd => PathBuf::from("etcd"),
            ServerKind::Concord => concord_binary(),
        }
    }
}

static CONCORD_BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Concord's server binary: `CONCORD_CTL_TEST_SERVER` when set, else `concord` next to this test
/// executable's profile dir (target/<profile>/deps/test-xxxx -> target/<profile>/concord), built with cargo
/// when it is missing (once per test process).
pub fn concord_binary() -> PathBuf {
    CONCORD_BINARY
        .get_or_init(|| {
            if let Ok(path) = std::env::var("CONCORD_CTL_TEST_SERVER") {
                return PathBuf::from(path);
            }
            let exe = std::env::current_exe().expect("test executable path");
            let profile_dir =
                exe.parent().and_then(std::path::Path::parent).expect("target profile dir").to_path_buf();
            let binary = profile_dir.join("concord");
            if !binary.exists() {
                let release = profile_dir.file_name().is_some_and(|name| name == "release");
                let mut build = Command::new(env!("CARGO"));
                build.args(["build", "-p", "server", "--bin", "concord"]);
                if release {
                    build.arg("--release");
                }
                let status = build.status().expect("cargo build concord");
                assert!(status.success(), "building concord failed");
            }
            binary
        })
        .clone()
}

/// Store index of a fresh single-member etcd 3.4 before any user write (its membership writes took 1-3).
const ETCD_FRESH_INDEX: i64 = 3;

/// Translates etcd's absolute store indexes (as written in expectations) to the server at hand.
#[derive(Clone, Copy, Debug)]
pub struct Indexes {
    /// What to add to an etcd index to get the same write's index on this server.
    pub offset: i64,
}

impl Indexes {
    pub const ETCD: Indexes = Indexes { offset: 0 };

    /// etcd's index `etcd_index` on this server.
    pub fn at(self, etcd_index: i64) -> i64 {
        etcd_index + self.offset
    }

    /// Replaces every `{ix:N}` in `text` with `at(N)`.
    pub fn fill(self, text: &str) -> String {
        let marker = "{ix:";
        let mut filled = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(position) = rest.find(marker) {
            filled.push_str(&rest[..position]);
            rest = &rest[position + marker.len()..];
            let end = rest.find('}').expect("unterminated {ix:N}");
            let number: i64 = rest[..end].parse().expect("{ix:N} holds a number");
            filled.push_str(&self.at(number).to_string());
            rest = &rest[end + 1..];
        }
        filled.push_str(rest);
        filled
    }
}

fn have(binary: &str) -> bool {
    Command::new(binary).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// Whether the real tools are present. CI installs them (`.ci/run`); there a missing tool is a failure.
/// On a developer machine without them the end-to-end tests say so and pass vacuously.
pub fn tools_available() -> bool {
    let present = have("etcd") && have("etcdctl");
    if !present {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have etcd and etcdctl (apt-get install etcd-server etcd-client)"
        );
        eprintln!("SKIPPED: etcd/etcdctl not installed (apt-get install -y etcd-server etcd-client)");
    }
    present
}

static NEXT_PORT_OFFSET: AtomicU16 = AtomicU16::new(0);

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Two free loopback ports (client, peer) at or after `base`.
pub fn free_port_pair(base: u16) -> (u16, u16) {
    loop {
        let offset = NEXT_PORT_OFFSET.fetch_add(2, Ordering::SeqCst);
        assert!(offset < 400, "ran out of test ports above {base}");
        let (client, peer) = (base + offset, base + offset + 1);
        if port_is_free(client) && port_is_free(peer) {
            return (client, peer);
        }
    }
}

/// One member's addresses and name.
#[derive(Clone, Debug)]
pub struct MemberSpec {
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
}

impl MemberSpec {
    pub fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }
    pub fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }
}

/// A temporary directory removed on drop, even when the test panics.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new(label: &str) -> ScratchDir {
        let path = std::env::temp_dir().join(format!("concordctl-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create scratch dir");
        ScratchDir(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `--initial-cluster-token` for a cluster: the same for every member (derived from the first peer
/// URL's port), different between clusters, so test clusters never merge by accident.
pub fn cluster_token(initial_cluster: &str) -> String {
    let first = initial_cluster.split(',').next().unwrap_or("");
    format!("concordctl-test-{}", first.rsplit(':').next().unwrap_or("0"))
}

/// A running server process; killed and cleaned up on drop.
pub struct Server {
    pub kind: ServerKind,
    pub spec: MemberSpec,
    child: Option<Child>,
    data_dir: PathBuf,
}

impl Server {
    /// The member's data directory (removed when the server is dropped): sessions keep files there.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// Starts one member. `initial_cluster` is etcd's `name=peerURL,...`; `state` is `new` or `existing`.
    pub fn start(kind: ServerKind, spec: &MemberSpec, initial_cluster: &str, state: &str) -> Server {
        let data_dir = Self::scratch_dir(spec);
        let args: Vec<String> = vec![
            "--name".into(),
            spec.name.clone(),
            "--data-dir".into(),
            data_dir.join("data").display().to_string(),
            "--listen-client-urls".into(),
            spec.client_url(),
            "--advertise-client-urls".into(),
            spec.client_url(),
            "--listen-peer-urls".into(),
            spec.peer_url(),
            "--initial-advertise-peer-urls".into(),
            spec.peer_url(),
            "--initial-cluster".into(),
            initial_cluster.to_string(),
            "--initial-cluster-state".into(),
            state.to_string(),
            "--initial-cluster-token".into(),
            cluster_token(initial_cluster),
            "--heartbeat-interval".into(),
            "50".into(),
            "--election-timeout".into(),
            "500".into(),
            "--enable-v2=true".into(),
        ];
        Server::start_with_args(kind, spec, &args)
    }

    pub fn scratch_dir(spec: &MemberSpec) -> PathBuf {
        std::env::temp_dir().join(format!(
            "concordctl-test-{}-{}-{}",
            std::process::id(),
            spec.name,
            spec.client_port
        ))
    }

    /// Starts the server binary with exactly `args` (e.g. `--config-file F`); its stderr goes to a log
    /// shown when it fails to become healthy.
    pub fn start_with_args(kind: ServerKind, spec: &MemberSpec, args: &[String]) -> Server {
        let data_dir = Self::scratch_dir(spec);
        let _ = std::fs::remove_dir_all(&data_dir);
        std::fs::create_dir_all(&data_dir).expect("create data dir");
        let log = std::fs::File::create(data_dir.with_extension("log")).expect("create server log");
        let child = Command::new(kind.binary())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the server binary");
        Server { kind, spec: spec.clone(), child: Some(child), data_dir }
    }

    /// A fresh single-member cluster, ready to serve.
    pub fn single(kind: ServerKind, base_port: u16, name: &str) -> Server {
        let (client_port, peer_port) = free_port_pair(base_port);
        let spec = MemberSpec { name: name.to_string(), client_port, peer_port };
        let server = Server::start(kind, &spec, &format!("{}={}", spec.name, spec.peer_url()), "new");
        server.wait_healthy();
        server.wait_for_startup_writes();
        server
    }

    /// The store index now, from `X-Etcd-Index`.
    pub fn store_index(&self) -> Option<i64> {
        let response = http_get(&self.client_url(), "/v2/keys/")?;
        response.header("x-etcd-index").and_then(|value| value.trim().parse().ok())
    }

    /// A fresh member makes its own writes after it turns healthy: Concord writes the cluster version
    /// (store index 3) a moment after it publishes itself (index 2), and a user write racing it would get
    /// index 3 in one run and 4 in the next. Waits (at most 3 s) until the store index reaches a fresh
    /// etcd's; a server that stays lower is still handled by `fresh_indexes`.
    fn wait_for_startup_writes(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(3) {
            if self.store_index().is_some_and(|index| index >= ETCD_FRESH_INDEX) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How this server's store indexes relate to etcd's. Only meaningful on a fresh server, before any
    /// write: its current `X-Etcd-Index` is compared with a fresh etcd's.
    pub fn fresh_indexes(&self) -> Indexes {
        let index = self.store_index().expect("a fresh server answers GET /v2/keys/ with X-Etcd-Index");
        Indexes { offset: index - ETCD_FRESH_INDEX }
    }

    pub fn client_url(&self) -> String {
        self.spec.client_url()
    }

    /// Blocks until `/health` says true (at most 20 s, then panics with the server log).
    pub fn wait_healthy(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            // Ready = healthy and its client URL published in the member list (etcdctl's sync needs it).
            if health(&self.client_url()) && publishes_client_url(&self.client_url()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.data_dir.with_extension("log")).unwrap_or_default();
        panic!("server {} did not become healthy; log tail:\n{}", self.spec.name, tail(&log, 30));
    }

    /// SIGKILLs the process (a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.data_dir);
        let _ = std::fs::remove_file(self.data_dir.with_extension("log"));
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// GET `url` + `path` with a short timeout.
pub fn http_get(url: &str, path: &str) -> Option<http::Response> {
    let endpoint = Endpoint::parse(url).ok()?;
    let deadlines = Deadlines {
        header_timeout: Some(Duration::from_secs(1)),
        total: Some(Instant::now() + Duration::from_secs(2)),
    };
    http::send(&Transport::plain(), &endpoint, &Request::get(path.to_string()), deadlines).ok()
}

pub fn health(url: &str) -> bool {
    http_get(url, "/health")
        .is_some_and(|response| response.status == 200 && response.body.windows(4).any(|w| w == b"true"))
}

/// Whether `/v2/members` (asked of `url`) lists `url` as some member's client URL.
pub fn publishes_client_url(url: &str) -> bool {
    let Some(response) = http_get(url, "/v2/members") else { return false };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&response.body) else { return false };
    let members = value.get("members").and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
    members.iter().any(|member| {
        member
            .get("clientURLs")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|urls| urls.iter().any(|candidate| candidate.as_str() == Some(url)))
    })
}

/// Number of watchers the server reports in `/v2/stats/store` (None when it does not say).
pub fn watcher_count(url: &str) -> Option<u64> {
    let response = http_get(url, "/v2/stats/store")?;
    let value: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    value.get("watchers").and_then(serde_json::Value::as_u64)
}

/// Waits until the server has at least `count` watchers (or, for a server without the statistic, a
/// moment), so a writer does not race the watcher it means to wake.
pub fn wait_for_watchers(url: &str, count: u64) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        match watcher_count(url) {
            Some(current) if current >= count => return,
            Some(_) => std::thread::sleep(Duration::from_millis(20)),
            None => {
                std::thread::sleep(Duration::from_millis(500));
                return;
            }
        }
    }
    panic!("watcher did not register within 10 s");
}

/// Which command-line client to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Concordctl,
    Etcdctl,
}

impl Tool {
    pub fn command(self) -> Command {
        let mut command = match self {
            Tool::Concordctl => {
                // These sessions exercise the v2 side; v3 is concordctl's default, as in etcdctl 3.4.
                let mut command = Command::new(env!("CARGO_BIN_EXE_concordctl"));
                command.env("ETCDCTL_API", "2");
                command
            }
            Tool::Etcdctl => {
                let mut command = Command::new("etcdctl");
                command.env("ETCDCTL_API", "2");
                command
            }
        };
        for variable in [
            "ETCDCTL_ENDPOINTS",
            "ETCDCTL_ENDPOINT",
            "ETCDCTL_PEERS",
            "ETCDCTL_USERNAME",
            "ETCDCTL_CA_FILE",
            "ETCDCTL_CERT_FILE",
            "ETCDCTL_KEY_FILE",
        ] {
            command.env_remove(variable);
        }
        command
    }
}

/// What one command printed and returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

pub fn outcome_of(output: Output) -> Outcome {
    Outcome {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        code: output.status.code().unwrap_or(-1),
    }
}

/// A client call that has not finished after this long is killed and reported as exit -1 (a hung watch
/// must fail the test, not hang it).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `tool --endpoints <endpoints> <args>` with an empty stdin (at most `RUN_TIMEOUT`).
pub fn run(tool: Tool, endpoints: &str, args: &[&str]) -> Outcome {
    let child = tool
        .command()
        .arg("--endpoints")
        .arg(endpoints)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the client");
    // Both pipes are drained on threads, so a chatty child never blocks on a full pipe.
    v3::collect(child, RUN_TIMEOUT)
}

/// Runs `tool <args>` (no `--endpoints` added) with `input` on its stdin (at most `RUN_TIMEOUT`).
pub fn run_with_input(tool: Tool, args: &[&str], input: &str) -> Outcome {
    run_with_environment(tool, args, input, &[])
}

/// `run_with_input` with extra environment variables (they override the tool's `ETCDCTL_API=2`).
pub fn run_with_environment(
    tool: Tool,
    args: &[&str],
    input: &str,
    environment: &[(String, String)],
) -> Outcome {
    let mut child = tool
        .command()
        .envs(environment.iter().map(|(name, value)| (name.as_str(), value.as_str())))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the client");
    let mut stdin = child.stdin.take().expect("stdin pipe");
    let input = input.as_bytes().to_vec();
    // Written on a thread and closed after, so a client that reads nothing never blocks the test.
    let writer = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut stdin, &input);
    });
    let outcome = v3::collect(child, RUN_TIMEOUT);
    let _ = writer.join();
    outcome
}

/// One scripted step: the arguments, plus what the transcript must show (checked for both clients).
pub struct Step<'a> {
    pub args: &'a [&'a str],
    pub expect: Expect<'a>,
}

pub enum Expect<'a> {
    /// Exact stdout, empty stderr, exit 0.
    Stdout(&'a str),
    /// Exact stderr, empty stdout, this exit code.
    Stderr(&'a str, i32),
    /// Only compared between the two clients.
    SameAsEtcdctl,
}

pub fn step<'a>(args: &'a [&'a str], expect: Expect<'a>) -> Step<'a> {
    Step { args, expect }
}

/// Replaces the parts of a transcript that legitimately differ between two runs: expiry timestamps, and
/// remaining TTLs (a slow machine can cross a second boundary in one run and not the other).
pub fn normalize(text: &str) -> String {
    let text = normalize_expirations(text);
    let mut normalized = String::with_capacity(text.len());
    let mut rest = text.as_str();
    let marker = "\"ttl\":";
    while let Some(position) = rest.find(marker) {
        normalized.push_str(&rest[..position + marker.len()]);
        rest = &rest[position + marker.len()..];
        let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        normalized.push_str("<ttl>");
        rest = &rest[end..];
    }
    normalized.push_str(rest);
    normalized
}

fn normalize_expirations(text: &str) -> String {
    let mut normalized = String::with_capacity(text.len());
    let mut rest = text;
    let marker = "\"expiration\":\"";
    while let Some(position) = rest.find(marker) {
        normalized.push_str(&rest[..position + marker.len()]);
        rest = &rest[position + marker.len()..];
        let end = rest.find('"').unwrap_or(rest.len());
        normalized.push_str("<time>");
        rest = &rest[end..];
    }
    normalized.push_str(rest);
    normalized
}

/// Runs `scenario` once per server kind, the kinds in parallel (a panic in either fails the test).
pub fn on_each_kind(scenario: impl Fn(ServerKind) + Sync) {
    std::thread::scope(|scope| {
        let scenario = &scenario;
        let runs: Vec<_> = ServerKind::ALL.iter().map(|&kind| scope.spawn(move || scenario(kind))).collect();
        for run in runs {
            run.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        }
    })
}

/// Runs the same scripted session with each tool against its own fresh single-node server, on each server
/// kind (the two kinds in parallel), checks every step's expectation (`{ix:N}` in arguments and expected
/// texts is etcd's index N, shifted for the server), and checks the two clients' transcripts are identical
/// (after `normalize`) on the same kind. Returns the concordctl transcript of each kind.
pub fn session_both(base_port: u16, steps: &[Step]) -> Vec<(ServerKind, Vec<Outcome>)> {
    std::thread::scope(|scope| {
        let runs: Vec<_> = ServerKind::ALL
            .iter()
            .map(|&kind| scope.spawn(move || (kind, session_on(kind, base_port, steps))))
            .collect();
        let transcripts: Vec<(ServerKind, Vec<Outcome>)> = runs
            .into_iter()
            .map(|run| run.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect();
        report_server_differences(steps, &transcripts);
        transcripts
    })
}

/// Prints (does not assert) where the same client printed something different on etcd and on Concord: a
/// server behaviour difference to look at (`cargo test -p ctl -- --nocapture` shows them).
fn report_server_differences(steps: &[Step], transcripts: &[(ServerKind, Vec<Outcome>)]) {
    let [(_, etcd), (_, concord)] = transcripts else { return };
    for ((step, etcd), concord) in steps.iter().zip(etcd).zip(concord) {
        if etcd != concord {
            eprintln!("SERVER DIFFERENCE on {:?}\n on etcd: {etcd}\n on concord: {concord}", step.args);
        }
    }
}

/// `session_both` on one server kind.
pub fn session_on(kind: ServerKind, base_port: u16, steps: &[Step]) -> Vec<Outcome> {
    let mut transcripts = Vec::new();
    for tool in [Tool::Etcdctl, Tool::Concordctl] {
        let server = Server::single(kind, base_port, "solo");
        let indexes = server.fresh_indexes();
        let url = server.client_url();
        let mut transcript = Vec::new();
        for step in steps {
            // A pseudo-step that only lets time pass (for TTL expiry).
            if let Some(millis) = step.args.first().and_then(|first| first.strip_prefix("exec-sleep-")) {
                std::thread::sleep(Duration::from_millis(millis.parse().expect("sleep milliseconds")));
                transcript.push(Outcome { stdout: String::new(), stderr: String::new(), code: 0 });
                continue;
            }
            let args: Vec<String> = step.args.iter().map(|arg| indexes.fill(arg)).collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let outcome = run(tool, &url, &args);
            let outcome = Outcome {
                stdout: normalize(&outcome.stdout).replace(&url, "<url>"),
                stderr: normalize(&outcome.stderr).replace(&url, "<url>"),
                code: outcome.code,
            };
            match step.expect {
                Expect::Stdout(expected) => assert_eq!(
                    (outcome.stdout.as_str(), outcome.stderr.as_str(), outcome.code),
                    (indexes.fill(expected).as_str(), "", 0),
                    "{tool:?} on {kind:?}: {args:?}"
                ),
                Expect::Stderr(expected, code) => assert_eq!(
                    (outcome.stdout.as_str(), outcome.stderr.as_str(), outcome.code),
                    ("", indexes.fill(expected).as_str(), code),
                    "{tool:?} on {kind:?}: {args:?}"
                ),
                Expect::SameAsEtcdctl => {}
            }
            transcript.push(outcome);
        }
        transcripts.push(transcript);
    }
    let concord = transcripts.pop().expect("concordctl transcript");
    let etcd = transcripts.pop().expect("etcdctl transcript");
    for ((step, etcd), concord) in steps.iter().zip(&etcd).zip(&concord) {
        assert_eq!(
            concord, etcd,
            "on {kind:?}, concordctl and etcdctl differ on {:?}\n etcdctl: {etcd}\n concordctl: {concord}",
            step.args
        );
    }
    concord
}
