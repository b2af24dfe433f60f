//! Harness of the v3 sessions: the same steps run by real `etcdctl` (3.4, API v3) and by `concordctl`
//! (ETCDCTL_API unset, so v3), each against its own fresh single-member etcd, and the transcripts
//! compared after normalising what legitimately differs between two servers and two runs: cluster and
//! member IDs, URLs and ports, lease IDs, remaining TTLs, durations, sizes and log timestamps.
//!
//! Steps can use what earlier steps printed: `{lease1}`, `{lease2}`... are the lease IDs granted so far
//! (hex), `{member1}`... the members added, `{self}` the server's own member ID (hex) and
//! `{endpoint}` its client address (`127.0.0.1:port`), `{dir}` its data directory (where a step may
//! leave files such as snapshots; removed with the server). The same placeholders stand in for those values
//! in the normalised transcripts, so expected texts can be written with them.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use regex::Regex;

use super::{Expect, MemberSpec, Outcome, RUN_TIMEOUT, Server, ServerKind, free_port_pair, http_get};

/// A fresh single-member etcd and the facts transcripts are normalised with.
pub struct V3Server {
    pub server: Server,
    /// `127.0.0.1:port`, the form the recorded etcdctl examples use.
    pub endpoint: String,
    pub cluster_id: u64,
    pub member_id: u64,
}

impl V3Server {
    /// Starts etcd on free ports at or above `base_port` and learns its IDs from `etcdctl`.
    pub fn start(base_port: u16) -> V3Server {
        V3Server::start_with(base_port, &[])
    }

    /// `start`, with extra etcd flags (`--quota-backend-bytes=4096`).
    pub fn start_with(base_port: u16, extra_flags: &[&str]) -> V3Server {
        V3Server::start_kind(ServerKind::Etcd, base_port, extra_flags)
    }

    /// A fresh single member of either kind, started with the same flags.
    pub fn start_kind(kind: ServerKind, base_port: u16, extra_flags: &[&str]) -> V3Server {
        let (client_port, peer_port) = free_port_pair(base_port);
        let spec = MemberSpec { name: "solo".to_string(), client_port, peer_port };
        let data_dir = Server::scratch_dir(&spec).join("data");
        let mut args: Vec<String> = vec![
            "--name=solo".to_string(),
            format!("--data-dir={}", data_dir.display()),
            format!("--listen-client-urls={}", spec.client_url()),
            format!("--advertise-client-urls={}", spec.client_url()),
            format!("--listen-peer-urls={}", spec.peer_url()),
            format!("--initial-advertise-peer-urls={}", spec.peer_url()),
            format!("--initial-cluster=solo={}", spec.peer_url()),
            format!("--initial-cluster-token=concordctl-v3-test-{client_port}"),
            "--enable-v2=true".to_string(),
        ];
        args.extend(extra_flags.iter().map(|flag| flag.to_string()));
        let server = Server::start_with_args(kind, &spec, &args);
        server.wait_healthy();
        let endpoint = format!("127.0.0.1:{}", server.spec.client_port);
        let listing =
            run_v3(Tool::Etcdctl, &["--endpoints", &endpoint, "member", "list", "-w", "json"], b"", &[]);
        let value: serde_json::Value = serde_json::from_str(&listing.stdout).expect("member list -w json");
        let header = &value["header"];
        let cluster_id = header["cluster_id"].as_u64().expect("cluster_id");
        let member_id = header["member_id"].as_u64().expect("member_id");
        V3Server { server, endpoint, cluster_id, member_id }
    }

    /// The number of watchers etcd has, from `/metrics`.
    pub fn watcher_count(&self) -> Option<u64> {
        let response = http_get(&self.server.client_url(), "/metrics")?;
        let text = String::from_utf8_lossy(&response.body).into_owned();
        let line = text.lines().find(|line| line.starts_with("etcd_debugging_mvcc_watcher_total "))?;
        line.split_whitespace().nth(1)?.parse::<f64>().ok().map(|count| count as u64)
    }

    /// Waits (at most 10 s) until etcd has at least `count` watchers.
    pub fn wait_for_watchers(&self, count: u64) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if self.watcher_count().is_some_and(|current| current >= count) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the watch did not register within 10 s");
    }
}

/// Which client runs a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Concordctl,
    Etcdctl,
}

/// The client with a clean environment: no `ETCDCTL_*` variables (so API v3, etcdctl's default) other
/// than those a step sets.
pub fn v3_command(tool: Tool, environment: &[(&str, &str)]) -> Command {
    let mut command = match tool {
        Tool::Concordctl => Command::new(env!("CARGO_BIN_EXE_concordctl")),
        Tool::Etcdctl => Command::new("etcdctl"),
    };
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ETCDCTL_") {
            command.env_remove(&name);
        }
    }
    command.envs(environment.iter().copied());
    command
}

/// Runs one command to completion (killed after `RUN_TIMEOUT`), feeding it `stdin`.
pub fn run_v3(tool: Tool, args: &[&str], stdin: &[u8], environment: &[(&str, &str)]) -> Outcome {
    let mut child = v3_command(tool, environment)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the client");
    let mut input = child.stdin.take().expect("stdin pipe");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let outcome = collect(child, RUN_TIMEOUT);
    let _ = writer.join();
    outcome
}

/// Waits for a child (killing it after `limit`) and gathers what it printed.
pub fn collect(mut child: Child, limit: Duration) -> Outcome {
    let mut stdout = child.stdout.take().expect("stdout pipe");
    let mut stderr = child.stderr.take().expect("stderr pipe");
    let stdout_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut bytes);
        bytes
    });
    let stderr_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut bytes);
        bytes
    });
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait for the client") {
            break status.code().unwrap_or(-1);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Outcome {
        stdout: String::from_utf8_lossy(&stdout_reader.join().expect("stdout reader")).into_owned(),
        stderr: String::from_utf8_lossy(&stderr_reader.join().expect("stderr reader")).into_owned(),
        code,
    }
}

/// A client left running (a watch, a keep-alive), stopped with `finish`.
pub struct Background {
    child: Option<Child>,
}

impl Background {
    pub fn start(tool: Tool, args: &[&str]) -> Background {
        let child = v3_command(tool, &[])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the client");
        Background { child: Some(child) }
    }

    /// Sends it SIGINT (as Ctrl-C would).
    pub fn interrupt(&self) {
        let child = self.child.as_ref().expect("running child");
        let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -INT failed");
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|child| child.try_wait().ok().flatten().is_none())
    }

    /// Waits up to `limit` for it to end by itself, then kills it; returns what it printed.
    pub fn finish(mut self, limit: Duration) -> Outcome {
        collect(self.child.take().expect("running child"), limit)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How the two clients' outcomes of a step are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// Identical normalised stdout, stderr and exit code.
    Exact,
    /// The same lines in any order (members are listed by ID, and IDs differ between two servers).
    LinesInAnyOrder,
    /// The same exit code (for output whose order depends on IDs, checked elsewhere on one server).
    ExitCode,
}

/// One step of a session.
pub struct V3Step<'a> {
    pub args: &'a [&'a str],
    pub stdin: &'a str,
    pub environment: &'a [(&'a str, &'a str)],
    pub expect: Expect<'a>,
    pub comparison: Comparison,
    /// Pause after the step (to let a TTL pass).
    pub pause: Duration,
}

/// A step compared between the two clients only.
pub fn step<'a>(args: &'a [&'a str]) -> V3Step<'a> {
    V3Step {
        args,
        stdin: "",
        environment: &[],
        expect: Expect::SameAsEtcdctl,
        comparison: Comparison::Exact,
        pause: Duration::ZERO,
    }
}

impl<'a> V3Step<'a> {
    pub fn stdin(self, stdin: &'a str) -> V3Step<'a> {
        V3Step { stdin, ..self }
    }
    pub fn environment(self, environment: &'a [(&'a str, &'a str)]) -> V3Step<'a> {
        V3Step { environment, ..self }
    }
    /// Exact (normalised) stdout, empty stderr, exit 0, for both clients.
    pub fn prints(self, stdout: &'a str) -> V3Step<'a> {
        V3Step { expect: Expect::Stdout(stdout), ..self }
    }
    /// Exact (normalised) stderr, empty stdout, this exit code, for both clients.
    pub fn fails(self, stderr: &'a str, code: i32) -> V3Step<'a> {
        V3Step { expect: Expect::Stderr(stderr, code), ..self }
    }
    pub fn then_pause(self, pause: Duration) -> V3Step<'a> {
        V3Step { pause, ..self }
    }
    pub fn lines_in_any_order(self) -> V3Step<'a> {
        V3Step { comparison: Comparison::LinesInAnyOrder, ..self }
    }
    pub fn exit_code_only(self) -> V3Step<'a> {
        V3Step { comparison: Comparison::ExitCode, ..self }
    }
}

/// What of an outcome a comparison looks at.
fn compared(outcome: &Outcome, comparison: Comparison) -> Outcome {
    let sorted = |text: &str| {
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort_unstable();
        lines.join("\n")
    };
    match comparison {
        Comparison::Exact => outcome.clone(),
        Comparison::LinesInAnyOrder => {
            Outcome { stdout: sorted(&outcome.stdout), stderr: sorted(&outcome.stderr), code: outcome.code }
        }
        Comparison::ExitCode => Outcome { stdout: String::new(), stderr: String::new(), code: outcome.code },
    }
}

/// An outcome with what legitimately differs between an etcd and a Concord server masked: the raft
/// index (each writes its own start-up entries) and the table padding that follows the width of
/// member IDs.
fn between_servers(outcome: &Outcome) -> Outcome {
    let masks = [
        (r#""(raftIndex|raft_index|raftAppliedIndex)":\d+"#, r#""$1":<index>"#),
        (r#""(RaftIndex|RaftAppliedIndex)" : \d+"#, r#""$1" : <index>"#),
        (r"(true|false), (\d+), \d+, \d+,", "$1, $2, <index>, <index>,"),
        (r"(\| +(true|false) \| +\d+ \| +)\d+( \| +)\d+( \|)", "${1}<index>${3}<index>${4}"),
        (r"-{2,}", "-"),
        (r"(?m)^([|+].*?) {2,}", "$1 "),
    ];
    let mask = |text: &str| {
        let mut masked = text.to_string();
        for (pattern, replacement) in masks {
            let expression = Regex::new(pattern).unwrap();
            // Padding runs repeat on a line: apply until nothing changes (a table line has < 64 cells).
            for _ in 0..64 {
                let next = expression.replace_all(&masked, replacement).into_owned();
                if next == masked {
                    break;
                }
                masked = next;
            }
        }
        masked
    };
    Outcome { stdout: mask(&outcome.stdout), stderr: mask(&outcome.stderr), code: outcome.code }
}

/// Values seen in one run, and how they are written in normalised transcripts.
#[derive(Default)]
pub struct Placeholders {
    /// (value as printed, placeholder), longest values first when applied.
    values: Vec<(String, String)>,
    /// (placeholder, value) for filling arguments, including names for values already known.
    names: Vec<(String, String)>,
    leases: usize,
    members: usize,
}

impl Placeholders {
    pub fn for_server(server: &V3Server) -> Placeholders {
        let mut placeholders = Placeholders::default();
        let client_url = server.server.client_url();
        let peer_url = server.server.spec.peer_url();
        placeholders.add(&client_url, "{client-url}");
        placeholders.add(&peer_url, "{peer-url}");
        placeholders.add(&server.endpoint, "{endpoint}");
        placeholders.add(&server.server.data_dir().display().to_string(), "{dir}");
        placeholders.add(&server.cluster_id.to_string(), "{cluster#}");
        placeholders.add(&format!("{:x}", server.cluster_id), "{cluster}");
        placeholders.add(&server.member_id.to_string(), "{self#}");
        placeholders.add(&format!("{:x}", server.member_id), "{self}");
        placeholders
    }

    fn add(&mut self, value: &str, placeholder: &str) {
        self.names.push((placeholder.to_string(), value.to_string()));
        if !value.is_empty() && !self.values.iter().any(|(known, _)| known == value) {
            self.values.push((value.to_string(), placeholder.to_string()));
            self.values.sort_by_key(|(known, _)| std::cmp::Reverse(known.len()));
        }
    }

    /// Learns the lease and member IDs a step's output introduces (lease grants in the simple, JSON
    /// and fields formats; member additions in the simple format).
    pub fn learn(&mut self, stdout: &str) {
        let simple = Regex::new(r"lease ([0-9a-f]{16}) granted").unwrap();
        let structured = Regex::new(r#"("ID":(\d+),"TTL":\d+,"Error")|("ID" : (\d+)\n"TTL" : )"#).unwrap();
        let mut granted: Vec<i64> =
            simple.captures_iter(stdout).map(|found| i64::from_str_radix(&found[1], 16).unwrap()).collect();
        for found in structured.captures_iter(stdout) {
            let decimal = found.get(2).or_else(|| found.get(4)).unwrap().as_str();
            granted.push(decimal.parse().unwrap());
        }
        for id in granted {
            let hex = format!("{id:016x}");
            if self.values.iter().any(|(known, _)| *known == hex) {
                continue;
            }
            self.leases += 1;
            self.add(&hex, &format!("{{lease{}}}", self.leases));
            self.add(&id.to_string(), &format!("{{lease{}#}}", self.leases));
        }
        let simple = Regex::new(r"Member +([0-9a-f]{1,16}) added").unwrap();
        let structured = Regex::new(r#""member":\{"ID":(\d+)"#).unwrap();
        let mut added: Vec<u64> =
            simple.captures_iter(stdout).map(|found| u64::from_str_radix(&found[1], 16).unwrap()).collect();
        added.extend(structured.captures_iter(stdout).map(|found| found[1].parse::<u64>().unwrap()));
        for id in added {
            self.members += 1;
            self.add(&format!("{id:x}"), &format!("{{member{}}}", self.members));
            self.add(&id.to_string(), &format!("{{member{}#}}", self.members));
        }
    }

    /// Replaces `{name}` placeholders in an argument with this run's values.
    pub fn fill(&self, argument: &str) -> String {
        let mut filled = argument.to_string();
        for (placeholder, value) in &self.names {
            filled = filled.replace(placeholder.as_str(), value);
        }
        filled
    }

    /// The transcript text with this run's values replaced by placeholders, and the volatile parts
    /// (durations, remaining TTLs, sizes, timestamps, etcdctl's retry warnings) by fixed marks.
    pub fn normalize(&self, text: &str) -> String {
        let mut normalized: String = text
            .lines()
            .filter(|line| !line.contains("retrying of unary invoker failed"))
            .map(|line| format!("{line}\n"))
            .collect();
        if !text.ends_with('\n') && normalized.ends_with('\n') {
            normalized.pop();
        }
        for (value, placeholder) in &self.values {
            normalized = normalized.replace(value.as_str(), placeholder);
        }
        let volatile = [
            (r"took = \S+", "took = <took>"),
            (r#""took":"[^"]*""#, r#""took":"<took>""#),
            (r#""Took" : \S+"#, r#""Took" : <took>"#),
            (r"remaining\(-?\d+s\)", "remaining(<ttl>s)"),
            (r#""ttl":-?\d+"#, r#""ttl":<ttl>"#),
            (r#""TTL" : -?\d+"#, r#""TTL" : <ttl>"#),
            (r"\b\d+(\.\d)? (B|kB|MB|GB)\b", "<size>"),
            (r#""(dbSize|dbSizeInUse)":\d+"#, r#""$1":<size>"#),
            (r#""DBSize" : \d+"#, r#""DBSize" : <size>"#),
            (r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} ", "<time> "),
            // zap's JSON log lines (`snapshot save`): timestamps and durations in seconds.
            (r#""ts":("[^"]*"|[0-9.e+]+)"#, r#""ts":<time>"#),
            (r#""took":[0-9.e-]+"#, r#""took":<took>"#),
            // etcd appends its own entries (an alarm, a lease expiry) on its own schedule, so the raft
            // index of two fresh servers can differ by one under load.
            (r#""(raft_index|raftAppliedIndex)":\d+"#, r#""$1":<index>"#),
            (r#""(RaftIndex|RaftAppliedIndex)" : \d+"#, r#""$1" : <index>"#),
            (r"(\| +(true|false) \| +\d+ \| +)\d+( \| +)\d+( \|)", "${1}<index>${3}<index>${4}"),
            (r"(true|false), (true|false), (\d+), \d+, \d+,", "$1, $2, $3, <index>, <index>,"),
            // `%16x` pads IDs that happen to start with a zero digit with a space.
            (r"Member +\{", "Member {"),
            (r"(added to|removed from|updated in|promoted in) cluster +\{", "$1 cluster {"),
        ];
        for (pattern, replacement) in volatile {
            normalized = Regex::new(pattern).unwrap().replace_all(&normalized, replacement).into_owned();
        }
        // The initial cluster lists members by ID, which differs between two servers.
        let initial_cluster = Regex::new(r#"ETCD_INITIAL_CLUSTER="([^"]*)""#).unwrap();
        normalized = initial_cluster
            .replace_all(&normalized, |found: &regex::Captures| {
                let mut entries: Vec<&str> = found[1].split(',').collect();
                entries.sort_unstable();
                format!("ETCD_INITIAL_CLUSTER=\"{}\"", entries.join(","))
            })
            .into_owned();
        normalized
            .replace("etcdctl version: 3.4.23", "<version>")
            .replace(&format!("concordctl version: {}", env!("CARGO_PKG_VERSION")), "<version>")
    }
}

/// Runs `steps` with one client against its own fresh etcd (started with `etcd_flags` besides the
/// usual ones); returns the normalised transcript.
pub fn session_with(tool: Tool, base_port: u16, etcd_flags: &[&str], steps: &[V3Step]) -> Vec<Outcome> {
    session_on_kind(ServerKind::Etcd, tool, base_port, etcd_flags, steps)
}

/// `session_with` against a fresh server of `kind`.
pub fn session_on_kind(
    kind: ServerKind,
    tool: Tool,
    base_port: u16,
    etcd_flags: &[&str],
    steps: &[V3Step],
) -> Vec<Outcome> {
    let server = V3Server::start_kind(kind, base_port, etcd_flags);
    let mut placeholders = Placeholders::for_server(&server);
    let mut transcript = Vec::new();
    for step in steps {
        let args: Vec<String> = step.args.iter().map(|arg| placeholders.fill(arg)).collect();
        let mut full_args: Vec<&str> = Vec::new();
        let names_endpoints = args.iter().any(|arg| arg.starts_with("--endpoints"))
            || step.environment.iter().any(|(name, _)| *name == "ETCDCTL_ENDPOINTS");
        if !names_endpoints {
            full_args.extend(["--endpoints", server.endpoint.as_str()]);
        }
        full_args.extend(args.iter().map(String::as_str));
        let environment: Vec<(&str, String)> =
            step.environment.iter().map(|(name, value)| (*name, placeholders.fill(value))).collect();
        let environment: Vec<(&str, &str)> =
            environment.iter().map(|(name, value)| (*name, value.as_str())).collect();
        let outcome = run_v3(tool, &full_args, step.stdin.as_bytes(), &environment);
        placeholders.learn(&outcome.stdout);
        let outcome = Outcome {
            stdout: placeholders.normalize(&outcome.stdout),
            stderr: placeholders.normalize(&outcome.stderr),
            code: outcome.code,
        };
        match step.expect {
            Expect::Stdout(expected) => assert_eq!(
                (outcome.stdout.as_str(), outcome.stderr.as_str(), outcome.code),
                (expected, "", 0),
                "{tool:?}: {args:?}"
            ),
            Expect::Stderr(expected, code) => assert_eq!(
                (outcome.stdout.as_str(), outcome.stderr.as_str(), outcome.code),
                ("", expected, code),
                "{tool:?}: {args:?}"
            ),
            Expect::SameAsEtcdctl => {}
        }
        transcript.push(outcome);
        std::thread::sleep(step.pause);
    }
    transcript
}

/// Runs the session with both clients (in parallel, each on its own etcd) and asserts every step's
/// normalised outcome is identical; then runs etcdctl's session on a fresh Concord and asserts it
/// matches etcdctl's on etcd (the server comparison). Returns concordctl's transcript.
pub fn compare_sessions(base_port: u16, steps: &[V3Step]) -> Vec<Outcome> {
    compare_sessions_with(base_port, &[], steps)
}

/// `compare_sessions` on servers started with `etcd_flags` besides the usual ones.
pub fn compare_sessions_with(base_port: u16, etcd_flags: &[&str], steps: &[V3Step]) -> Vec<Outcome> {
    let (etcd, concord, on_concord) = std::thread::scope(|scope| {
        let etcd = scope.spawn(|| session_with(Tool::Etcdctl, base_port, etcd_flags, steps));
        let concord = scope.spawn(|| session_with(Tool::Concordctl, base_port, etcd_flags, steps));
        let on_concord =
            scope.spawn(|| session_on_kind(ServerKind::Concord, Tool::Etcdctl, base_port, etcd_flags, steps));
        let join = |handle: std::thread::ScopedJoinHandle<'_, Vec<Outcome>>| {
            handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        };
        (join(etcd), join(concord), join(on_concord))
    });
    for ((step, etcd), on_concord) in steps.iter().zip(&etcd).zip(&on_concord) {
        assert_eq!(
            between_servers(&compared(on_concord, step.comparison)),
            between_servers(&compared(etcd, step.comparison)),
            "etcdctl answered differently by Concord and by etcd on {:?}\n on etcd: {etcd}\n on Concord: {on_concord}",
            step.args
        );
    }
    // Two etcd servers have different member IDs, and a table's padding follows their width.
    for ((step, etcd), concord) in steps.iter().zip(&etcd).zip(&concord) {
        assert_eq!(
            between_servers(&compared(concord, step.comparison)),
            between_servers(&compared(etcd, step.comparison)),
            "concordctl and etcdctl differ on {:?}\n etcdctl: {etcd}\n concordctl: {concord}",
            step.args
        );
    }
    concord
}

/// Runs each read-only command with both clients against the same server and asserts the outputs are
/// identical byte for byte (apart from etcdctl's retry warnings): for formats normalising cannot reach,
/// such as `-w protobuf`.
pub fn compare_on_one_server(server: &V3Server, commands: &[&[&str]]) {
    let no_values = Placeholders::default();
    for command in commands {
        let mut args = vec!["--endpoints", server.endpoint.as_str()];
        args.extend_from_slice(command);
        let etcd = run_v3(Tool::Etcdctl, &args, b"", &[]);
        let concord = run_v3(Tool::Concordctl, &args, b"", &[]);
        let etcd = Outcome { stderr: no_values.normalize(&etcd.stderr), ..etcd };
        let concord = Outcome { stderr: no_values.normalize(&concord.stderr), ..concord };
        assert_eq!(
            concord, etcd,
            "concordctl and etcdctl differ on {command:?}\n etcdctl: {etcd}\n concordctl: {concord}"
        );
    }
}
