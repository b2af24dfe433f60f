//! Cluster walkthroughs: member list / cluster-health / endpoint status on one node, the assignment's
//! three-node cluster started from YAML files with `endpoint status` before and after killing the leader,
//! and a cluster grown to five members one `member add` at a time that survives two failures.
//! Read-only commands run with both `concordctl` and the real `etcdctl` against the same cluster and must
//! print the same thing; `endpoint status` is compared with `ETCDCTL_API=3 etcdctl` (on etcd; etcdctl v3
//! speaks gRPC, which Concord does not serve, so there concordctl's status is checked on its own).
//! Every walkthrough runs against real etcd and against Concord, as two tests.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{
    MemberSpec, Outcome, Server, ServerKind, Tool, free_port_pair, outcome_of, run, tools_available,
};

const BASE_PORT: u16 = 24000;

/// `ETCDCTL_API=3 etcdctl --endpoints E <args>`: the reference for `endpoint status` and `endpoint health`.
fn run_v3(endpoints: &str, args: &[&str]) -> Outcome {
    let output = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg("--endpoints")
        .arg(endpoints)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run etcdctl v3");
    outcome_of(output)
}

/// One parsed row of `endpoint status -w simple`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StatusRow {
    endpoint: String,
    id: String,
    version: String,
    db_size: String,
    is_leader: bool,
    is_learner: bool,
    term: u64,
    index: u64,
    applied: u64,
}

fn parse_status(simple: &str) -> Vec<StatusRow> {
    simple
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(", ").collect();
            assert_eq!(fields.len(), 10, "status line {line:?}");
            StatusRow {
                endpoint: fields[0].to_string(),
                id: fields[1].to_string(),
                version: fields[2].to_string(),
                db_size: fields[3].to_string(),
                is_leader: fields[4] == "true",
                is_learner: fields[5] == "true",
                term: fields[6].parse().expect("term"),
                index: fields[7].parse().expect("index"),
                applied: fields[8].parse().expect("applied"),
            }
        })
        .collect()
}

/// Runs a read-only command with both clients and requires the same outcome. A cluster may change between
/// the two calls (a leader change moves `isLeader`), so a mismatch is retried a few times before failing.
fn same_output(endpoints: &str, args: &[&str]) -> Outcome {
    let mut attempts = 0;
    loop {
        let etcd = run(Tool::Etcdctl, endpoints, args);
        let concord = run(Tool::Concordctl, endpoints, args);
        if concord == etcd {
            return concord;
        }
        attempts += 1;
        assert!(attempts < 3, "{args:?} differs\n etcdctl: {etcd}\n concordctl: {concord}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Polls until exactly one of `urls` reports itself leader and all agree on the term (at most 15 s).
fn wait_for_one_leader(urls: &[String]) -> Vec<StatusRow> {
    let started = Instant::now();
    loop {
        let rows: Vec<StatusRow> = urls
            .iter()
            .filter_map(|url| {
                let outcome = run(Tool::Concordctl, url, &["endpoint", "status"]);
                if outcome.code == 0 { parse_status(&outcome.stdout).pop() } else { None }
            })
            .collect();
        let leaders = rows.iter().filter(|row| row.is_leader).count();
        let terms_agree = rows.windows(2).all(|pair| pair[0].term == pair[1].term);
        if rows.len() == urls.len() && leaders == 1 && terms_agree {
            return rows;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "no single leader among {urls:?}: {rows:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Our `endpoint status` next to etcdctl v3's (only possible against real etcd).
fn compare_status_with_etcdctl_v3(url: &str, ours: &Outcome) {
    let theirs = run_v3(url, &["endpoint", "status"]);
    assert_eq!((ours.code, theirs.code), (0, 0), "{ours}\n{theirs}");
    let (ours_rows, theirs_rows) = (parse_status(&ours.stdout), parse_status(&theirs.stdout));
    let comparable = |row: &StatusRow| {
        (row.endpoint.clone(), row.id.clone(), row.version.clone(), row.is_leader, row.term)
    };
    assert_eq!(
        ours_rows.iter().map(comparable).collect::<Vec<_>>(),
        theirs_rows.iter().map(comparable).collect::<Vec<_>>()
    );
    let table = run(Tool::Concordctl, url, &["endpoint", "status", "--write-out", "table"]);
    let reference = run_v3(url, &["endpoint", "status", "--write-out", "table"]);
    let header = |text: &str| text.lines().take(3).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(header(&table.stdout), header(&reference.stdout));
}

#[test]
fn single_node_member_list_cluster_health_and_endpoint_status_on_etcd() {
    single_node_member_list_cluster_health_and_endpoint_status(ServerKind::Etcd);
}

#[test]
fn single_node_member_list_cluster_health_and_endpoint_status_on_concord() {
    single_node_member_list_cluster_health_and_endpoint_status(ServerKind::Concord);
}

fn single_node_member_list_cluster_health_and_endpoint_status(kind: ServerKind) {
    if !tools_available() {
        return;
    }
    let server = Server::single(kind, BASE_PORT, "solo");
    let url = server.client_url();
    for args in [&["member", "list"][..], &["cluster-health"], &["member", "list", "extra"]] {
        let etcd = run(Tool::Etcdctl, &url, args);
        let concord = run(Tool::Concordctl, &url, args);
        assert_eq!(concord, etcd, "{args:?}");
    }
    let health = run(Tool::Concordctl, &url, &["cluster-health"]);
    assert!(
        health.stdout.ends_with(&format!("is healthy: got healthy result from {url}\ncluster is healthy\n"))
    );
    let members = run(Tool::Concordctl, &url, &["member", "list"]);
    assert!(members.stdout.ends_with(&format!(
        ": name=solo peerURLs={} clientURLs={url} isLeader=true\n",
        server.spec.peer_url()
    )));

    // endpoint status: the v3 layout, same values as etcdctl v3 (the raft index may move between calls).
    let ours = run(Tool::Concordctl, &url, &["endpoint", "status"]);
    let ours_rows = parse_status(&ours.stdout);
    assert!(ours_rows[0].index > 0 && ours_rows[0].index == ours_rows[0].applied);
    assert!(ours_rows[0].is_leader && ours_rows[0].term > 0);
    if kind == ServerKind::Etcd {
        compare_status_with_etcdctl_v3(&url, &ours);
    }

    let json = run(Tool::Concordctl, &url, &["endpoint", "status", "-w", "json"]);
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).expect("status JSON");
    assert_eq!(parsed[0]["Endpoint"], url.as_str());
    assert_eq!(parsed[0]["Status"]["raftTerm"], ours_rows[0].term);

    let table = run(Tool::Concordctl, &url, &["endpoint", "status", "--write-out", "table"]);
    assert_eq!(table.stdout.lines().count(), 5, "{table}");
    assert!(table.stdout.contains(" ENDPOINT ") && table.stdout.contains(" RAFT APPLIED INDEX "), "{table}");
    let health = run(Tool::Concordctl, &url, &["endpoint", "health"]);
    assert_eq!(health.code, 0);
    assert!(
        health.stderr.starts_with(&format!("{url} is healthy: successfully committed proposal: took = "))
    );

    // A dead endpoint: the status of the live one is still printed, the command fails.
    let (dead, _) = free_port_pair(BASE_PORT);
    let both = format!("{url},http://127.0.0.1:{dead}");
    let outcome = run(Tool::Concordctl, &both, &["endpoint", "status"]);
    assert_eq!(outcome.code, 1);
    assert_eq!(outcome.stdout.lines().count(), 1);
    assert!(
        outcome
            .stderr
            .starts_with(&format!("Failed to get the status of endpoint http://127.0.0.1:{dead} ("))
    );
    let outcome = run(Tool::Concordctl, &both, &["endpoint", "health"]);
    assert_eq!(outcome.code, 1);
    assert!(outcome.stderr.ends_with("Error: unhealthy cluster\n"), "{outcome}");
}

/// Starts a member from a YAML configuration file shaped like the assignment's `etcdN.conf.yml`.
fn start_from_yaml(
    kind: ServerKind,
    spec: &MemberSpec,
    initial_cluster: &str,
    state: &str,
    dir: &std::path::Path,
) -> Server {
    let config = format!(
        "name: {name}\n\
         data-dir: {data}\n\
         initial-advertise-peer-urls: {peer}\n\
         listen-peer-urls: {peer}\n\
         listen-client-urls: {client}\n\
         advertise-client-urls: {client}\n\
         initial-cluster-token: {token}\n\
         initial-cluster: {initial_cluster}\n\
         initial-cluster-state: {state}\n\
         heartbeat-interval: 50\n\
         election-timeout: 500\n\
         enable-v2: true\n",
        name = spec.name,
        data = dir.join(format!("{}.data", spec.name)).display(),
        peer = spec.peer_url(),
        client = spec.client_url(),
        token = common::cluster_token(initial_cluster),
    );
    let path = dir.join(format!("{}.conf.yml", spec.name));
    std::fs::write(&path, config).expect("write the YAML config");
    Server::start_with_args(kind, spec, &["--config-file".to_string(), path.display().to_string()])
}

#[test]
fn assignment_three_node_cluster_elects_a_new_leader_when_the_leader_dies_on_etcd() {
    assignment_three_node_cluster_elects_a_new_leader_when_the_leader_dies(ServerKind::Etcd);
}

#[test]
fn assignment_three_node_cluster_elects_a_new_leader_when_the_leader_dies_on_concord() {
    assignment_three_node_cluster_elects_a_new_leader_when_the_leader_dies(ServerKind::Concord);
}

fn assignment_three_node_cluster_elects_a_new_leader_when_the_leader_dies(kind: ServerKind) {
    if !tools_available() {
        return;
    }
    // Declared before the servers so it is dropped after them (servers stop, then their data goes).
    let scratch = common::ScratchDir::new(&format!("yaml-{kind:?}"));
    let dir = scratch.0.clone();
    let specs: Vec<MemberSpec> = (1..=3)
        .map(|number| {
            let (client_port, peer_port) = free_port_pair(BASE_PORT);
            MemberSpec { name: format!("etcd-{number}"), client_port, peer_port }
        })
        .collect();
    let initial_cluster =
        specs.iter().map(|spec| format!("{}={}", spec.name, spec.peer_url())).collect::<Vec<_>>().join(",");
    let mut servers: Vec<Server> =
        specs.iter().map(|spec| start_from_yaml(kind, spec, &initial_cluster, "new", &dir)).collect();
    for server in &servers {
        server.wait_healthy();
    }
    let urls: Vec<String> = servers.iter().map(Server::client_url).collect();
    let all = urls.join(",");

    let before = wait_for_one_leader(&urls);
    assert!(before.iter().all(|row| !row.is_learner && row.version == before[0].version));
    // Our table and etcdctl v3's agree on who leads and on the term (only possible against real etcd).
    if kind == ServerKind::Etcd {
        let reference = parse_status(&run_v3(&all, &["endpoint", "status"]).stdout);
        for row in &before {
            let theirs =
                reference.iter().find(|theirs| theirs.endpoint == row.endpoint).expect("same endpoints");
            assert_eq!(
                (theirs.id.as_str(), theirs.is_leader, theirs.term),
                (row.id.as_str(), row.is_leader, row.term)
            );
        }
    }
    // The two clients list the same members and report the same health.
    for args in [&["member", "list"][..], &["cluster-health"]] {
        same_output(&all, args);
    }

    // Kill the leader (Ctrl-C in the seed; a crash here).
    let leader_position = before.iter().position(|row| row.is_leader).expect("a leader");
    servers[leader_position].kill();
    let survivors: Vec<String> = urls
        .iter()
        .enumerate()
        .filter(|(position, _)| *position != leader_position)
        .map(|(_, url)| url.clone())
        .collect();
    let after = wait_for_one_leader(&survivors);
    assert!(after[0].term > before[0].term, "the term goes up: {before:?} -> {after:?}");
    assert!(after[0].index > before[0].index, "the new leader's empty entry moves the index on");
    assert!(after.iter().all(|row| row.endpoint != before[leader_position].endpoint));

    // cluster-health names the dead member the same way in both clients; writes still work.
    let concord = same_output(&all, &["cluster-health"]);
    assert!(
        concord.stdout.contains(&format!("is unreachable: [{}] are all unreachable", urls[leader_position]))
    );
    assert!(concord.stdout.ends_with("cluster is degraded\n") && concord.code == 5, "{concord}");
    let write = run(Tool::Concordctl, &all, &["set", "/after-failover", "ok"]);
    assert_eq!(write.stdout, "ok\n", "{write}");
}

/// Runs `member add` until the cluster accepts it (etcd refuses reconfiguration until its members have
/// been connected for a few seconds), and returns concordctl's output.
fn member_add(endpoints: &str, name: &str, peer_url: &str) -> Outcome {
    let started = Instant::now();
    loop {
        let outcome = run(Tool::Concordctl, endpoints, &["member", "add", name, peer_url]);
        if outcome.code == 0 {
            return outcome;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "member add {name} kept failing: {outcome}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn initial_cluster_line(output: &str) -> String {
    let line =
        output.lines().find(|line| line.starts_with("ETCD_INITIAL_CLUSTER=")).expect("ETCD_INITIAL_CLUSTER");
    line.trim_start_matches("ETCD_INITIAL_CLUSTER=").trim_matches('"').to_string()
}

#[test]
fn cluster_grows_to_five_with_member_add_and_survives_two_failures_on_etcd() {
    cluster_grows_to_five_with_member_add_and_survives_two_failures(ServerKind::Etcd);
}

#[test]
fn cluster_grows_to_five_with_member_add_and_survives_two_failures_on_concord() {
    cluster_grows_to_five_with_member_add_and_survives_two_failures(ServerKind::Concord);
}

fn cluster_grows_to_five_with_member_add_and_survives_two_failures(kind: ServerKind) {
    if !tools_available() {
        return;
    }
    let mut servers = vec![Server::single(kind, BASE_PORT, "node1")];
    for number in 2..=5 {
        let (client_port, peer_port) = free_port_pair(BASE_PORT);
        let spec = MemberSpec { name: format!("node{number}"), client_port, peer_port };
        let endpoints = servers.iter().map(Server::client_url).collect::<Vec<_>>().join(",");
        let added = member_add(&endpoints, &spec.name, &spec.peer_url());
        assert!(added.stdout.starts_with(&format!("Added member named {} with ID ", spec.name)), "{added}");
        assert!(added.stdout.contains(&format!("\n\nETCD_NAME=\"{}\"\n", spec.name)));
        assert!(added.stdout.ends_with("ETCD_INITIAL_CLUSTER_STATE=\"existing\"\n"));
        let initial_cluster = initial_cluster_line(&added.stdout);
        assert_eq!(initial_cluster.split(',').count(), number, "{added}");
        assert!(initial_cluster.contains(&format!("{}={}", spec.name, spec.peer_url())));
        let server = Server::start(kind, &spec, &initial_cluster, "existing");
        server.wait_healthy();
        servers.push(server);
    }
    let all = servers.iter().map(Server::client_url).collect::<Vec<_>>().join(",");
    let concord_list = same_output(&all, &["member", "list"]);
    assert_eq!(concord_list.stdout.lines().count(), 5);
    assert_eq!(concord_list.stdout.matches("isLeader=true").count(), 1);

    // Two of five fail: three still form a majority, so writes and quorum reads go on.
    servers[0].kill();
    servers[1].kill();
    let started = Instant::now();
    loop {
        let write = run(Tool::Concordctl, &all, &["set", "/survived", "yes"]);
        if write.code == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "writes did not resume: {write}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let read = run(Tool::Concordctl, &servers[4].client_url(), &["get", "--quorum", "/survived"]);
    assert_eq!(read.stdout, "yes\n");
    let health = same_output(&all, &["cluster-health"]);
    assert!(health.stdout.ends_with("cluster is degraded\n") && health.code == 5, "{health}");

    // Remove a dead member, then update another's peer URL.
    let dead_id = concord_list
        .stdout
        .lines()
        .find(|line| line.contains("name=node1 "))
        .and_then(|line| line.split(':').next())
        .expect("node1's ID")
        .to_string();
    let removed = run(Tool::Concordctl, &all, &["member", "remove", &dead_id]);
    assert_eq!(removed.stdout, format!("Removed member {dead_id} from cluster\n"), "{removed}");
    let missing = run(Tool::Concordctl, &all, &["member", "remove", &dead_id]);
    let etcd_missing = run(Tool::Etcdctl, &all, &["member", "remove", &dead_id]);
    assert_eq!(missing, etcd_missing);
    assert_eq!(missing.stderr, format!("Couldn't find a member in the cluster with an ID of {dead_id}.\n"));
    let node2_id = concord_list
        .stdout
        .lines()
        .find(|line| line.contains("name=node2 "))
        .and_then(|line| line.split(':').next())
        .expect("node2's ID")
        .to_string();
    let (_, new_peer_port) = free_port_pair(BASE_PORT);
    let new_peer = format!("http://127.0.0.1:{new_peer_port}");
    let updated = run(Tool::Concordctl, &all, &["member", "update", &node2_id, &new_peer]);
    assert_eq!(updated.stdout, format!("Updated member with ID {node2_id} in cluster\n"), "{updated}");
    let listed = run(Tool::Concordctl, &all, &["member", "list"]);
    assert!(listed.stdout.contains(&format!("name=node2 peerURLs={new_peer} ")), "{listed}");
}
