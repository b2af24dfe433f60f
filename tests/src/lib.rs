//! End-to-end test harness: real `concord` processes on loopback with temporary data dirs, driven over
//! HTTP (through `ctl`'s small HTTP client) and by the real `etcdctl`.
//!
//! Boundaries: this crate only starts processes and speaks the public HTTP API; it knows nothing of
//! Concord's internals. Every process is killed and every data dir removed by `Drop`, even on panic.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use ctl::http::{self, Deadlines, Endpoint, Request, Response};

pub mod chaos;

/// The `concord` binary built by the same `cargo test` invocation (the workspace's target dir), built
/// on demand when only this crate's tests were asked for.
pub fn concord_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/e2e-xxxx (tests) or target/<profile>/chaos_soak (binaries) ->
    // target/<profile>/concord
    let exe_dir = exe.parent().expect("executable dir");
    let profile_dir =
        if exe_dir.ends_with("deps") { exe_dir.parent().expect("target profile dir") } else { exe_dir }
            .to_path_buf();
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
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A free TCP port on `ip`, from a range per test binary (`base`) so parallel test binaries never
/// collide.
pub fn free_port(ip: &str, base: u16) -> u16 {
    loop {
        let port = base + NEXT_PORT.fetch_add(1, Ordering::SeqCst);
        assert!(port < base + 900, "ran out of test ports above {base}");
        if TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
}

/// One member's identity and addresses.
#[derive(Clone, Debug)]
pub struct MemberSpec {
    pub name: String,
    pub ip: String,
    pub client_port: u16,
    pub peer_port: u16,
}

impl MemberSpec {
    pub fn client_url(&self) -> String {
        format!("http://{}:{}", self.ip, self.client_port)
    }
    pub fn peer_url(&self) -> String {
        format!("http://{}:{}", self.ip, self.peer_port)
    }
}

/// A running (or stopped) member process.
pub struct Process {
    /// The executable: `concord` unless started with `start_program` (e.g. the real `etcd`).
    pub program: PathBuf,
    pub spec: MemberSpec,
    pub args: Vec<String>,
    pub data_dir: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    /// Extra environment variables (`ETCD_*`), set on every (re)start.
    pub env: Vec<(String, String)>,
}

impl Process {
    pub fn start(spec: MemberSpec, args: Vec<String>, data_dir: PathBuf) -> Process {
        Process::start_with_env(spec, args, Vec::new(), data_dir)
    }

    /// As `start`, with extra environment variables (e.g. the `ETCD_*` block `etcdctl member add` prints).
    pub fn start_with_env(
        spec: MemberSpec,
        args: Vec<String>,
        env: Vec<(String, String)>,
        data_dir: PathBuf,
    ) -> Process {
        Process::start_program(concord_binary(), spec, args, env, data_dir)
    }

    /// As `start_with_env`, running `program` (e.g. the real `etcd`, to compare behaviours).
    pub fn start_program(
        program: PathBuf,
        spec: MemberSpec,
        args: Vec<String>,
        env: Vec<(String, String)>,
        data_dir: PathBuf,
    ) -> Process {
        let log = data_dir.with_extension("log");
        let mut process = Process { program, spec, args, data_dir, child: None, log, env };
        process.restart();
        process
    }

    /// Waits for the process to exit by itself; `None` if it still runs after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Starts the process again with the same arguments and data dir.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "member {} is already running", self.spec.name);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log file");
        let child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(key, value)| (key.as_str(), value.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start concord");
        self.child = Some(child);
    }

    /// SIGKILL: a crash.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait for the exit (at most 10 s, then SIGKILL).
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        // SAFETY: sending a signal to our own child process id.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// The running process's id (None when stopped).
    pub fn process_id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The process's output so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU16 = AtomicU16::new(0);
        let path = std::env::temp_dir().join(format!(
            "concord-e2e-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A cluster of concord processes started with etcd's flags.
pub struct Cluster {
    pub members: Vec<Process>,
    pub dir: TempDir,
}

impl Cluster {
    /// Starts `size` members on `ip` with ports from `base`.
    pub fn start(size: usize, ip: &str, base: u16) -> Cluster {
        let dir = TempDir::new("cluster");
        let specs: Vec<MemberSpec> = (1..=size)
            .map(|number| MemberSpec {
                name: format!("m{number}"),
                ip: ip.to_string(),
                client_port: free_port(ip, base),
                peer_port: free_port(ip, base),
            })
            .collect();
        let initial_cluster: Vec<String> =
            specs.iter().map(|spec| format!("{}={}", spec.name, spec.peer_url())).collect();
        let token = format!("e2e-{}-{}", std::process::id(), specs[0].peer_port);
        let members = specs
            .into_iter()
            .map(|spec| {
                let data_dir = dir.0.join(&spec.name);
                let args = vec![
                    format!("--name={}", spec.name),
                    format!("--data-dir={}", data_dir.display()),
                    format!("--listen-client-urls={}", spec.client_url()),
                    format!("--advertise-client-urls={}", spec.client_url()),
                    format!("--listen-peer-urls={}", spec.peer_url()),
                    format!("--initial-advertise-peer-urls={}", spec.peer_url()),
                    format!("--initial-cluster={}", initial_cluster.join(",")),
                    format!("--initial-cluster-token={token}"),
                    "--initial-cluster-state=new".to_string(),
                ];
                Process::start(spec, args, data_dir)
            })
            .collect();
        Cluster { members, dir }
    }

    pub fn client_urls(&self) -> Vec<String> {
        self.members.iter().map(|member| member.spec.client_url()).collect()
    }

    /// Waits until every running member reports the same leader; returns that leader's index in
    /// `members`.
    /// Whether the leader has published itself (its name and client URLs are in `/v2/members`), as
    /// etcdctl needs: it syncs its endpoints from the published client URLs and fails with "no
    /// published client endpoints" before any member has, a few milliseconds after the first leader.
    fn leader_published(&self, leader: usize) -> bool {
        let spec = &self.members[leader].spec;
        let Ok(list) = members(&spec.client_url()) else { return false };
        let peer_url = spec.peer_url();
        // Client URLs, not the name: members of a new cluster have their names from --initial-cluster.
        list.iter().any(|entry| entry.2.contains(&peer_url) && !entry.3.is_empty())
    }

    pub fn wait_for_leader(&mut self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let mut leaders = Vec::new();
            for member in self.members.iter_mut().filter(|member| member.child.is_some()) {
                leaders.push(self_stats(&member.spec.client_url()).map(|stats| stats.leader));
            }
            if let Some(Some(leader)) = leaders.first().cloned()
                && !leader.is_empty()
                && leaders.iter().all(|seen| seen.as_deref() == Some(leader.as_str()))
                && let Some(index) = self.members.iter().position(|member| {
                    self_stats(&member.spec.client_url()).is_some_and(|stats| stats.id == leader)
                })
                && self.leader_published(index)
            {
                return index;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> =
                    self.members.iter().map(|m| format!("== {}\n{}", m.spec.name, m.log())).collect();
                panic!("no agreed leader within {timeout:?}: {leaders:?}\n{}", logs.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// What `/v2/stats/self` says about a member.
#[derive(Clone, Debug)]
pub struct SelfStats {
    pub id: String,
    pub leader: String,
    pub state: String,
}

pub fn self_stats(url: &str) -> Option<SelfStats> {
    let response = request(url, "GET", "/v2/stats/self", None).ok()?;
    if response.status != 200 {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    Some(SelfStats {
        id: json["id"].as_str()?.to_string(),
        leader: json["leaderInfo"]["leader"].as_str().unwrap_or("").to_string(),
        state: json["state"].as_str().unwrap_or("").to_string(),
    })
}

/// One HTTP request with a 5 s budget. `form` is sent as an urlencoded body.
pub fn request(url: &str, method: &'static str, path: &str, form: Option<&str>) -> Result<Response, String> {
    request_with_timeout(url, method, path, form, Duration::from_secs(5))
}

pub fn request_with_timeout(
    url: &str,
    method: &'static str,
    path: &str,
    form: Option<&str>,
    timeout: Duration,
) -> Result<Response, String> {
    let endpoint = Endpoint::parse(url)?;
    let request = Request {
        body: form.map(|form| ("application/x-www-form-urlencoded", form.as_bytes().to_vec())),
        ..Request::new(method, path.to_string())
    };
    let deadlines = Deadlines { header_timeout: Some(timeout), total: Some(Instant::now() + timeout) };
    http::send(&http::Transport::plain(), &endpoint, &request, deadlines).map_err(|error| error.to_string())
}

/// PUT `value` at `key` (a `/v2/keys` path without the prefix).
pub fn put(url: &str, key: &str, value: &str) -> Result<Response, String> {
    request(url, "PUT", &format!("/v2/keys{key}"), Some(&format!("value={}", http::escape_query(value))))
}

/// The JSON body of a response.
pub fn json(response: &Response) -> serde_json::Value {
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {}", String::from_utf8_lossy(&response.body)))
}

/// The value of `key` as this member reads it (None on 404).
pub fn get_value(url: &str, key: &str, quorum: bool) -> Option<String> {
    try_get_value(url, key, quorum).expect("GET")
}

/// As `get_value`, but a member that cannot be reached (starting, stopped) is an `Err`.
pub fn try_get_value(url: &str, key: &str, quorum: bool) -> Result<Option<String>, String> {
    let path = format!("/v2/keys{key}{}", if quorum { "?quorum=true" } else { "" });
    let response = request(url, "GET", &path, None)?;
    if response.status == 404 {
        return Ok(None);
    }
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    Ok(json(&response)["node"]["value"].as_str().map(str::to_string))
}

/// Whether the real `etcdctl` is installed (CI installs it; a developer machine may not have it).
pub fn etcdctl_available() -> bool {
    let present =
        Command::new("etcdctl").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !present {
        assert!(std::env::var("CI").is_err(), "CI must have etcdctl (apt-get install etcd-client)");
        eprintln!("SKIPPED: etcdctl not installed (apt-get install -y etcd-client)");
    }
    present
}

/// Runs the real `etcdctl` (v2 API) against `endpoints`; returns (exit code, stdout, stderr).
pub fn etcdctl(endpoints: &str, args: &[&str]) -> (i32, String, String) {
    let output = Command::new("etcdctl")
        .env("ETCDCTL_API", "2")
        .arg(format!("--endpoints={endpoints}"))
        .args(args)
        .output()
        .expect("run etcdctl");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Whether the real `etcd` server is installed (CI installs it), to run a scenario against it too.
pub fn etcd_available() -> bool {
    let present =
        Command::new("etcd").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !present {
        eprintln!("SKIPPED comparison: etcd not installed (apt-get install -y etcd-server)");
    }
    present
}

/// Runs the real `etcdctl` with the v3 API against `endpoints` (comma-separated), every call bounded by
/// etcdctl's own dial and command timeouts; returns (exit code, stdout, stderr).
pub fn etcdctl_v3(endpoints: &str, args: &[&str]) -> (i32, String, String) {
    let output = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoints}"))
        .args(["--dial-timeout=2s", "--command-timeout=5s"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run etcdctl");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The flags of a member `spec` with `data_dir`, in a cluster `initial_cluster` (`name=url,...`).
pub fn member_args(spec: &MemberSpec, data_dir: &Path, initial_cluster: &str, state: &str) -> Vec<String> {
    vec![
        format!("--name={}", spec.name),
        format!("--data-dir={}", data_dir.display()),
        format!("--listen-client-urls={}", spec.client_url()),
        format!("--advertise-client-urls={}", spec.client_url()),
        format!("--listen-peer-urls={}", spec.peer_url()),
        format!("--initial-advertise-peer-urls={}", spec.peer_url()),
        format!("--initial-cluster={initial_cluster}"),
        format!("--initial-cluster-state={state}"),
    ]
}

/// One `/v2/members` entry: (hex ID, name, peer URLs, client URLs).
pub type MemberEntry = (String, String, Vec<String>, Vec<String>);

/// `/v2/members` as this member answers it.
pub fn members(url: &str) -> Result<Vec<MemberEntry>, String> {
    let response = request(url, "GET", "/v2/members", None)?;
    if response.status != 200 {
        return Err(format!("GET /v2/members: {}", response.status));
    }
    let strings = |value: &serde_json::Value| -> Vec<String> {
        value.as_array().map_or_else(Vec::new, |urls| {
            urls.iter().filter_map(|url| url.as_str().map(str::to_string)).collect()
        })
    };
    Ok(json(&response)["members"].as_array().map_or_else(Vec::new, |list| {
        list.iter()
            .map(|member| {
                (
                    member["id"].as_str().unwrap_or("").to_string(),
                    member["name"].as_str().unwrap_or("").to_string(),
                    strings(&member["peerURLs"]),
                    strings(&member["clientURLs"]),
                )
            })
            .collect()
    }))
}

/// `POST /v2/members` through any of `urls`, retried until it is accepted (201) or `budget` runs
/// out: `--strict-reconfig-check` refuses an addition until every voter has been connected a while.
/// Returns the new member's hex ID.
pub fn add_member(urls: &[String], peer_url: &str, budget: Duration) -> String {
    let deadline = Instant::now() + budget;
    let body = format!("{{\"peerURLs\":[\"{peer_url}\"]}}");
    let mut last = String::new();
    while Instant::now() < deadline {
        for url in urls {
            let endpoint = match Endpoint::parse(url) {
                Ok(endpoint) => endpoint,
                Err(error) => panic!("bad url {url}: {error}"),
            };
            let post = Request::with_body(
                "POST",
                "/v2/members".to_string(),
                "application/json",
                body.as_bytes().to_vec(),
            );
            let timeout = Duration::from_secs(10);
            let deadlines =
                Deadlines { header_timeout: Some(timeout), total: Some(Instant::now() + timeout) };
            match http::send(&http::Transport::plain(), &endpoint, &post, deadlines) {
                Ok(response) if response.status == 201 => {
                    return json(&response)["id"].as_str().expect("new member id").to_string();
                }
                Ok(response) => {
                    last = format!("{}: {}", response.status, String::from_utf8_lossy(&response.body));
                    // 409: an earlier attempt that timed out did add it.
                    if response.status == 409
                        && let Ok(list) = members(url)
                        && let Some(found) = list.iter().find(|member| member.2.iter().any(|p| p == peer_url))
                    {
                        return found.0.clone();
                    }
                }
                Err(error) => last = error.to_string(),
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("member add {peer_url} never accepted: {last}");
}

/// Waits until `url` lists a member with `peer_url` that has published its name and client URLs;
/// false if it did not within `budget`.
pub fn wait_published(url: &str, peer_url: &str, budget: Duration) -> bool {
    let deadline = Instant::now() + budget;
    loop {
        if let Ok(list) = members(url)
            && list.iter().any(|member| {
                // Name and client URLs: members of a new cluster have their names from
                // --initial-cluster before they publish, joiners get both at once.
                member.2.iter().any(|p| p == peer_url) && !member.1.is_empty() && !member.3.is_empty()
            })
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
