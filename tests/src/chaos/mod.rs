//! Chaos on real processes: a `concord` cluster behind fault-injecting peer proxies, clients and
//! watchers recording a history through every member while the nemesis kills, pauses, partitions and
//! slows members, then a heal, final quorum reads and the checks. `run` is the whole scenario, used by
//! the bounded CI test (`tests/tests/chaos.rs`) and the soak (`src/bin/chaos_soak.rs`).

pub mod checks;
pub mod clients;
pub mod cluster;
pub mod history;
pub mod nemesis;
pub mod proxy;
pub mod random;
pub mod watchers;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sim::history::{Operation, OperationKind, OperationResult};

use self::checks::CheckFindings;
use self::clients::Workload;
use self::cluster::ChaosCluster;
use self::history::{History, Outcome, Recorded, key_path};
use self::nemesis::FaultCounts;
use self::random::Random;
use self::watchers::WatcherProgress;

/// What a run does.
#[derive(Clone, Debug)]
pub struct ChaosConfig {
    pub members: usize,
    pub clients: u32,
    pub keys: u32,
    /// Keys 0..watched_keys each have a watcher.
    pub watched_keys: u32,
    pub fault_duration: Duration,
    /// Healed time at the end during which the clients must make progress.
    pub healed_duration: Duration,
    pub request_timeout: Duration,
    pub think_time: Duration,
    pub seed: u64,
    pub base_port: u16,
    /// Where the history goes (`chaos-<seed>.jsonl`); None: a temp file, kept only on failure.
    pub history_dir: Option<PathBuf>,
    pub verbose: bool,
}

impl ChaosConfig {
    /// The bounded run: `fault_duration` of faults, 3 members, 4 clients on 4 keys, 2 watched.
    pub fn bounded(fault_duration: Duration, base_port: u16) -> ChaosConfig {
        let seed = std::env::var("CHAOS_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos()
                as u64
        });
        ChaosConfig {
            members: 3,
            clients: 4,
            keys: 4,
            watched_keys: 2,
            fault_duration,
            healed_duration: Duration::from_secs(5),
            request_timeout: Duration::from_secs(2),
            think_time: Duration::from_millis(20),
            seed,
            base_port,
            history_dir: std::env::var_os("CHAOS_HISTORY_DIR").map(PathBuf::from),
            verbose: std::env::var_os("CHAOS_VERBOSE").is_some(),
        }
    }
}

/// What a run did and found.
#[derive(Debug)]
pub struct ChaosReport {
    pub seed: u64,
    /// Client operations by outcome (ok, fail, info); watch answers are counted apart.
    pub outcomes: BTreeMap<&'static str, u64>,
    pub watch_events: u64,
    pub watch_reconnections: u64,
    pub watch_resyncs: u64,
    pub faults: FaultCounts,
    pub findings: CheckFindings,
    pub history_file: PathBuf,
}

impl ChaosReport {
    pub fn passed(&self) -> bool {
        self.findings.anomalies.is_empty()
    }
}

impl std::fmt::Display for ChaosReport {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(formatter, "chaos seed {}", self.seed)?;
        writeln!(formatter, "operations: {:?}", self.outcomes)?;
        writeln!(
            formatter,
            "watch events: {} (checked {}), reconnections: {}, resyncs after 401: {}",
            self.watch_events,
            self.findings.watch_events_checked,
            self.watch_reconnections,
            self.watch_resyncs
        )?;
        writeln!(formatter, "faults: {:?} (total {})", self.faults, self.faults.values().sum::<u64>())?;
        writeln!(formatter, "lost writes: {}", self.findings.lost_writes)?;
        writeln!(
            formatter,
            "keys the checker could not decide (search bound): {:?}",
            self.findings.undecided_keys
        )?;
        writeln!(formatter, "anomalies: {}", self.findings.anomalies.len())?;
        for anomaly in self.findings.anomalies.iter().take(20) {
            writeln!(formatter, "  {anomaly}")?;
        }
        writeln!(formatter, "history: {}", self.history_file.display())
    }
}

/// Process id of the final reads in the history.
const FINAL_READER: u32 = 999;
/// Process ids of watchers: WATCHER_BASE + key.
const WATCHER_BASE: u32 = 900;

/// Runs the whole scenario and checks it.
pub fn run(config: &ChaosConfig) -> ChaosReport {
    let mut cluster = ChaosCluster::start(config.members, config.base_port);
    if cluster.wait_for_leader(Duration::from_secs(30)).is_none() {
        panic!("no leader within 30 s\n{}", cluster.logs());
    }
    let history = Arc::new(History::new());
    let urls = cluster.client_urls();
    let stop_clients = Arc::new(AtomicBool::new(false));
    let stop_watchers = Arc::new(AtomicBool::new(false));
    let start_index = store_index(&urls).expect("store index of a fresh cluster");
    let progress: Vec<Arc<WatcherProgress>> = (0..config.watched_keys)
        .map(|_| {
            let progress = WatcherProgress::default();
            progress.next_index.store(start_index + 1, Ordering::SeqCst);
            Arc::new(progress)
        })
        .collect();
    let watcher_threads = spawn_watchers(&urls, &history, &progress, &stop_watchers);
    let workload = Arc::new(Workload {
        client_urls: urls.clone(),
        key_count: config.keys,
        request_timeout: config.request_timeout,
        think_time: config.think_time,
        history: history.clone(),
        stop: stop_clients.clone(),
    });
    let client_threads: Vec<_> = (0..config.clients)
        .map(|client| {
            let (workload, seed) = (workload.clone(), config.seed);
            std::thread::spawn(move || clients::run_client(&workload, client, seed))
        })
        .collect();
    let mut random = Random::new(config.seed);
    let faults = nemesis::run_nemesis(
        &mut cluster,
        Instant::now() + config.fault_duration,
        &mut random,
        config.verbose,
    );
    let mut anomalies = heal_and_observe_progress(&mut cluster, &history, config.healed_duration);
    stop_clients.store(true, Ordering::SeqCst);
    for thread in client_threads {
        thread.join().expect("client thread");
    }
    let final_reads = final_quorum_reads(&urls, config.keys, &history, &mut anomalies);
    wait_for_watchers(&progress, &final_reads, Duration::from_secs(20));
    stop_watchers.store(true, Ordering::SeqCst);
    for thread in watcher_threads {
        thread.join().expect("watcher thread");
    }
    let report = finish(config, &cluster, &history, &final_reads, faults, &progress, anomalies);
    drop(cluster);
    report
}

fn spawn_watchers(
    urls: &[String],
    history: &Arc<History>,
    progress: &[Arc<WatcherProgress>],
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    progress
        .iter()
        .enumerate()
        .map(|(key, progress)| {
            let (urls, history, progress, stop) =
                (urls.to_vec(), history.clone(), progress.clone(), stop.clone());
            let key = key as u32;
            std::thread::spawn(move || {
                watchers::run_watcher(&urls, key, WATCHER_BASE + key, &history, &progress, &stop)
            })
        })
        .collect()
}

/// Heals the cluster, waits for a leader, and checks that clients complete operations while healed.
fn heal_and_observe_progress(cluster: &mut ChaosCluster, history: &History, healed: Duration) -> Vec<String> {
    cluster.heal();
    let mut anomalies = Vec::new();
    if cluster.wait_for_leader(Duration::from_secs(30)).is_none() {
        anomalies.push("no agreed leader within 30 s of healing".to_string());
    }
    let healed_from = history.now_ns();
    std::thread::sleep(healed);
    let progressed = history.snapshot().iter().any(|recorded| {
        recorded.outcome == Outcome::Ok
            && recorded.operation.kind.is_write()
            && recorded.operation.invoked_at >= healed_from
    });
    if !progressed {
        anomalies.push(format!("no write succeeded in the {healed:?} after healing"));
    }
    anomalies
}

/// The store's current index (X-Etcd-Index) from any member.
fn store_index(urls: &[String]) -> Option<u64> {
    urls.iter().find_map(|url| {
        let response =
            crate::request_with_timeout(url, "GET", "/v2/keys/", None, Duration::from_secs(2)).ok()?;
        response.header("x-etcd-index")?.parse().ok()
    })
}

/// Each key's final state by a quorum read (retried through every member for up to 30 s), recorded
/// in the history too; (value, modifiedIndex) of keys that exist.
fn final_quorum_reads(
    urls: &[String],
    keys: u32,
    history: &History,
    anomalies: &mut Vec<String>,
) -> BTreeMap<u32, (u64, u64)> {
    let mut finals = BTreeMap::new();
    for key in 0..keys {
        let deadline = Instant::now() + Duration::from_secs(30);
        let answer = loop {
            let found =
                urls.iter().enumerate().find_map(|(member, url)| final_read(url, member, key, history));
            if found.is_some() || Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        match answer {
            Some(OperationResult::Value { value, index }) => {
                finals.insert(key, (value, index));
            }
            Some(_) => {}
            None => anomalies.push(format!("no final quorum read of k{key} succeeded within 30 s")),
        }
    }
    finals
}

/// One final quorum read of `key` through `url`, recorded when it answers.
fn final_read(url: &str, member: usize, key: u32, history: &History) -> Option<OperationResult> {
    let path = format!("/v2/keys{}?quorum=true", key_path(key));
    let invoked_at = history.now_ns();
    let response = crate::request_with_timeout(url, "GET", &path, None, Duration::from_secs(2)).ok()?;
    let returned_at = history.now_ns();
    let body: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    let result = match (response.status, body["errorCode"].as_u64()) {
        (200, _) => OperationResult::Value {
            value: sim::history::value_from_string(body["node"]["value"].as_str()?),
            index: body["node"]["modifiedIndex"].as_u64()?,
        },
        (_, Some(100)) => OperationResult::NotFound { index: body["index"].as_u64().unwrap_or(0) },
        _ => return None,
    };
    let kind = OperationKind::Get { quorum: true };
    let operation = Operation {
        client: FINAL_READER,
        node: member as u64,
        key,
        kind,
        invoked_at,
        returned_at,
        result: result.clone(),
    };
    history.record(Recorded { operation, outcome: Outcome::Ok, previous_index: None, error: String::new() });
    Some(result)
}

/// Waits until every watcher has passed its key's final index (or `budget` runs out).
fn wait_for_watchers(
    progress: &[Arc<WatcherProgress>],
    finals: &BTreeMap<u32, (u64, u64)>,
    budget: Duration,
) {
    let deadline = Instant::now() + budget;
    while Instant::now() < deadline {
        let caught_up = progress.iter().enumerate().all(|(key, progress)| {
            let final_index = finals.get(&(key as u32)).map_or(0, |&(_, index)| index);
            progress.next_index.load(Ordering::SeqCst) > final_index
        });
        if caught_up {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Exports the history, runs the checks and assembles the report.
fn finish(
    config: &ChaosConfig,
    cluster: &ChaosCluster,
    history: &History,
    final_reads: &BTreeMap<u32, (u64, u64)>,
    faults: FaultCounts,
    progress: &[Arc<WatcherProgress>],
    mut anomalies: Vec<String>,
) -> ChaosReport {
    let directory = config.history_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&directory).expect("history dir");
    let history_file = directory.join(format!("chaos-{}.jsonl", config.seed));
    history.export(&history_file, &cluster.member_names()).expect("write the history");
    let recorded = history.snapshot();
    let watched: Vec<(u32, u32)> = (0..config.watched_keys).map(|key| (key, WATCHER_BASE + key)).collect();
    let mut findings = checks::check_all(&recorded, final_reads, &watched);
    anomalies.append(&mut findings.anomalies);
    findings.anomalies = anomalies;
    let mut outcomes = BTreeMap::new();
    let mut watch_events = 0;
    for recorded in &recorded {
        if matches!(recorded.operation.kind, OperationKind::Watch { .. }) {
            watch_events += 1;
            continue;
        }
        let name = match recorded.outcome {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        };
        *outcomes.entry(name).or_default() += 1;
    }
    let sum = |read: fn(&WatcherProgress) -> u64| progress.iter().map(|progress| read(progress)).sum();
    ChaosReport {
        seed: config.seed,
        outcomes,
        watch_events,
        watch_reconnections: sum(|progress| progress.reconnections.load(Ordering::SeqCst)),
        watch_resyncs: sum(|progress| progress.resyncs.load(Ordering::SeqCst)),
        faults,
        findings,
        history_file,
    }
}
