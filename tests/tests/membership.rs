//! Runtime reconfiguration with real `concord` processes: growing a cluster one member at a time while
//! a client writes, removing the leader, replacing a failed member, `--force-new-cluster` recovery, the
//! exit of a removed member, and one grow step driven by the real `etcdctl member add`.
//!
//! Waits are generous and bounded; nothing asserts on timing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{
    Cluster, MemberSpec, Process, add_member, free_port, get_value, member_args, members, put, self_stats,
    wait_published,
};

const BASE_PORT: u16 = 33_000;
const IP: &str = "127.0.0.1";
const BUDGET: Duration = Duration::from_secs(60);

fn new_spec(name: &str) -> MemberSpec {
    MemberSpec {
        name: name.to_string(),
        ip: IP.to_string(),
        client_port: free_port(IP, BASE_PORT),
        peer_port: free_port(IP, BASE_PORT),
    }
}

/// `name=peer-url` for every running member plus `extra`.
fn initial_cluster(cluster: &Cluster, extra: &MemberSpec) -> String {
    cluster
        .members
        .iter()
        .map(|member| &member.spec)
        .chain(std::iter::once(extra))
        .map(|spec| format!("{}={}", spec.name, spec.peer_url()))
        .collect::<Vec<_>>()
        .join(",")
}

/// `member add` through the cluster, then starts the new process with `--initial-cluster-state
/// existing` and waits until it has published itself. Returns its index in `cluster.members`.
fn grow(cluster: &mut Cluster, name: &str) -> usize {
    let spec = new_spec(name);
    let urls = running_urls(cluster);
    add_member(&urls, &spec.peer_url(), BUDGET);
    let data_dir = cluster.dir.0.join(name);
    let args = member_args(&spec, &data_dir, &initial_cluster(cluster, &spec), "existing");
    let peer_url = spec.peer_url();
    cluster.members.push(Process::start(spec, args, data_dir));
    let joined = cluster.members.last().unwrap();
    assert!(wait_published(&urls[0], &peer_url, BUDGET), "{name} never published itself:\n{}", joined.log());
    cluster.members.len() - 1
}

fn running_urls(cluster: &mut Cluster) -> Vec<String> {
    cluster
        .members
        .iter_mut()
        .filter_map(|member| member.is_running().then(|| member.spec.client_url()))
        .collect()
}

fn member_id_of(url: &str) -> String {
    self_stats(url).expect("self stats").id
}

/// Waits until some running member of `urls` answers a write.
fn write_somewhere(urls: &[String], key: &str, value: &str) {
    let deadline = Instant::now() + BUDGET;
    loop {
        for url in urls {
            if put(url, key, value).is_ok_and(|response| response.status < 300) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "write {key} never succeeded");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A client that keeps writing `/load/<n>` through whichever member answers, recording what was
/// acknowledged.
struct Writer {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<u64>>>,
    urls: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(urls: Vec<String>) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let urls = Arc::new(Mutex::new(urls));
        let thread = {
            let (stop, acknowledged, urls) = (stop.clone(), acknowledged.clone(), urls.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let targets = urls.lock().unwrap().clone();
                    let url = &targets[n as usize % targets.len()];
                    if put(url, &format!("/load/{n}"), &n.to_string()).is_ok_and(|r| r.status < 300) {
                        acknowledged.lock().unwrap().push(n);
                    }
                    n += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        Writer { stop, acknowledged, urls, thread: Some(thread) }
    }

    fn finish(mut self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("writer thread");
        }
        self.acknowledged.lock().unwrap().clone()
    }
}

fn assert_all_readable(url: &str, acknowledged: &[u64]) {
    for n in acknowledged {
        assert_eq!(
            get_value(url, &format!("/load/{n}"), true),
            Some(n.to_string()),
            "acknowledged /load/{n} lost"
        );
    }
}

#[test]
fn grow_one_to_five_while_writing_then_remove_the_leader() {
    let mut cluster = Cluster::start(1, IP, BASE_PORT);
    cluster.wait_for_leader(BUDGET);
    let writer = Writer::start(cluster.client_urls());
    for number in 2..=5 {
        grow(&mut cluster, &format!("m{number}"));
        *writer.urls.lock().unwrap() = cluster.client_urls();
        cluster.wait_for_leader(BUDGET);
    }
    let urls = cluster.client_urls();
    let listed = members(&urls[0]).expect("members");
    assert_eq!(listed.len(), 5, "{listed:?}");
    assert!(listed.iter().all(|member| !member.1.is_empty() && !member.3.is_empty()), "{listed:?}");

    // Remove the leader: it steps down and exits with etcd's message, the other four elect and write.
    let leader = cluster.wait_for_leader(BUDGET);
    let leader_id = member_id_of(&urls[leader]);
    let others: Vec<String> =
        urls.iter().enumerate().filter(|(i, _)| *i != leader).map(|(_, u)| u.clone()).collect();
    *writer.urls.lock().unwrap() = others.clone();
    let deadline = Instant::now() + BUDGET;
    loop {
        let response = e2e::request(&others[0], "DELETE", &format!("/v2/members/{leader_id}"), None);
        match response {
            Ok(response) if response.status == 204 || response.status == 410 => break,
            other => assert!(Instant::now() < deadline, "removing the leader never succeeded: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let status = cluster.members[leader].wait_exit(BUDGET).expect("the removed leader exits");
    assert!(!status.success());
    assert!(
        cluster.members[leader].log().contains("this member has been permanently removed from the cluster"),
        "{}",
        cluster.members[leader].log()
    );
    write_somewhere(&others, "/after-leader-removal", "ok");
    let acknowledged = writer.finish();
    assert!(!acknowledged.is_empty());
    assert_eq!(members(&others[0]).expect("members").len(), 4);
    assert_all_readable(&others[0], &acknowledged);
}

#[test]
fn a_failed_member_is_replaced_and_the_removed_one_exits_when_restarted() {
    let mut cluster = Cluster::start(3, IP, BASE_PORT);
    let leader = cluster.wait_for_leader(BUDGET);
    let urls = cluster.client_urls();
    for i in 0..20 {
        write_somewhere(&urls, &format!("/load/{i}"), &i.to_string());
    }
    let failed = (0..3).find(|i| *i != leader).unwrap();
    let failed_id = member_id_of(&urls[failed]);
    cluster.members[failed].kill9();
    let alive: Vec<String> =
        urls.iter().enumerate().filter(|(i, _)| *i != failed).map(|(_, u)| u.clone()).collect();
    // Strict reconfiguration allows removing a member that is down, once the member taking the request
    // sees its remaining peer as active (like etcd, it answers 500 until then; an operator retries).
    let deadline = std::time::Instant::now() + BUDGET;
    let response = loop {
        let response =
            e2e::request(&alive[0], "DELETE", &format!("/v2/members/{failed_id}"), None).expect("DELETE");
        if response.status != 500 || std::time::Instant::now() > deadline {
            break response;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(response.status, 204, "{}", String::from_utf8_lossy(&response.body));
    let again = e2e::request(&alive[0], "DELETE", &format!("/v2/members/{failed_id}"), None).expect("DELETE");
    assert_eq!(again.status, 410);
    let unknown = e2e::request(&alive[0], "DELETE", "/v2/members/abcdef", None).expect("DELETE");
    assert_eq!(unknown.status, 404);

    // The replacement: a new name, port and data dir.
    let mut replaced = cluster.members.remove(failed);
    let replacement = grow(&mut cluster, "m4");
    let replacement_url = cluster.members[replacement].spec.client_url();
    write_somewhere(std::slice::from_ref(&replacement_url), "/through-replacement", "ok");
    let acknowledged: Vec<u64> = (0..20).collect();
    assert_all_readable(&replacement_url, &acknowledged);
    assert_eq!(members(&replacement_url).expect("members").len(), 3);

    // The removed member comes back from its data dir: peers refuse it and it exits with the message.
    replaced.restart();
    let status = replaced.wait_exit(BUDGET).expect("the removed member exits");
    assert!(!status.success());
    assert!(
        replaced.log().contains("this member has been permanently removed from the cluster"),
        "{}",
        replaced.log()
    );
}

#[test]
fn force_new_cluster_recovers_one_member_with_all_data() {
    let mut cluster = Cluster::start(3, IP, BASE_PORT);
    cluster.wait_for_leader(BUDGET);
    let urls = cluster.client_urls();
    for i in 0..30 {
        write_somewhere(&urls, &format!("/load/{i}"), &i.to_string());
    }
    // Let every member apply everything, then lose the cluster.
    for url in &urls {
        let deadline = Instant::now() + BUDGET;
        while get_value(url, "/load/29", false).is_none() {
            assert!(Instant::now() < deadline, "{url} never caught up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for member in &mut cluster.members {
        member.stop();
    }
    let survivor = &mut cluster.members[0];
    survivor.args.push("--force-new-cluster".to_string());
    survivor.restart();
    let url = survivor.spec.client_url();
    let deadline = Instant::now() + BUDGET;
    while self_stats(&url).is_none_or(|stats| stats.leader.is_empty()) {
        assert!(Instant::now() < deadline, "forced member never led: {}", survivor.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let acknowledged: Vec<u64> = (0..30).collect();
    assert_all_readable(&url, &acknowledged);
    assert_eq!(members(&url).expect("members").len(), 1);
    write_somewhere(&[url], "/after-recovery", "ok");
}

#[test]
fn etcdctl_member_add_output_starts_the_new_member_unchanged() {
    if !e2e::etcdctl_available() {
        return;
    }
    let mut cluster = Cluster::start(1, IP, BASE_PORT);
    cluster.wait_for_leader(BUDGET);
    let urls = cluster.client_urls();
    let spec = new_spec("m2");
    let (code, stdout, stderr) = e2e::etcdctl(&urls[0], &["member", "add", "m2", &spec.peer_url()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let env: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(key, _)| key.starts_with("ETCD_"))
        .map(|(key, value)| (key.to_string(), value.trim_matches('"').to_string()))
        .collect();
    let keys: Vec<&str> = env.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(keys, ["ETCD_NAME", "ETCD_INITIAL_CLUSTER", "ETCD_INITIAL_CLUSTER_STATE"], "{stdout}");
    let data_dir = cluster.dir.0.join("m2");
    // As the blog seed does: the printed block as environment, the addresses as flags.
    let args = vec![
        format!("--data-dir={}", data_dir.display()),
        format!("--listen-client-urls={}", spec.client_url()),
        format!("--advertise-client-urls={}", spec.client_url()),
        format!("--listen-peer-urls={}", spec.peer_url()),
        format!("--initial-advertise-peer-urls={}", spec.peer_url()),
    ];
    let peer_url = spec.peer_url();
    let new_url = spec.client_url();
    cluster.members.push(Process::start_with_env(spec, args, env, data_dir));
    let joined = cluster.members.last().unwrap();
    assert!(wait_published(&urls[0], &peer_url, BUDGET), "m2 never published itself:\n{}", joined.log());
    write_somewhere(std::slice::from_ref(&new_url), "/via-new", "ok");
    assert_eq!(get_value(&urls[0], "/via-new", true).as_deref(), Some("ok"));
    let (code, stdout, stderr) = e2e::etcdctl(&urls[0], &["cluster-health"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("cluster is healthy"), "{stdout}");
}

#[test]
fn joining_fails_with_one_line_errors_when_no_peer_answers_or_the_member_was_not_added() {
    let dir = e2e::TempDir::new("join-errors");
    // Nobody listens on the other member's peer URL.
    let nobody = new_spec("m1");
    let joiner = new_spec("m2");
    let cluster = format!("m1={},m2={}", nobody.peer_url(), joiner.peer_url());
    let data_dir = dir.0.join("m2");
    let mut process = Process::start(
        joiner.clone(),
        member_args(&joiner, &data_dir, &cluster, "existing"),
        data_dir.clone(),
    );
    let status = process.wait_exit(BUDGET).expect("exits");
    assert!(!status.success());
    assert!(process.log().contains("cannot fetch cluster info from peer urls"), "{}", process.log());
    assert!(!data_dir.join("member").join("wal").exists(), "no WAL is created before joining");

    // A running cluster that never added this member.
    let mut running = Cluster::start(1, IP, BASE_PORT);
    running.wait_for_leader(BUDGET);
    let stranger = new_spec("m2");
    let cluster = initial_cluster(&running, &stranger);
    let data_dir = dir.0.join("stranger");
    let mut process =
        Process::start(stranger.clone(), member_args(&stranger, &data_dir, &cluster, "existing"), data_dir);
    let status = process.wait_exit(BUDGET).expect("exits");
    assert!(!status.success());
    assert!(process.log().contains("error validating peerURLs"), "{}", process.log());
}
