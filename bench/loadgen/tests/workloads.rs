//! concord-bench against a real single Concord node: every workload, over v2 and v3, runs a small count
//! to completion without errors, and its `--json` report parses and counts what was asked.

use std::process::Command;
use std::time::Duration;

use e2e::Cluster;
use serde_json::Value;

const IP: &str = "127.0.0.1";
const BASE_PORT: u16 = 47_000;

/// Runs concord-bench with `arguments` plus `--json --quiet` against `endpoint`; its parsed report.
fn bench(endpoint: &str, arguments: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_concord-bench"))
        .args(arguments)
        .args(["--endpoints", endpoint, "--json", "--quiet"])
        .output()
        .expect("concord-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "concord-bench {arguments:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("not JSON ({error}): {stdout}"))
}

/// The report counts exactly `count` successful operations and has sane percentiles.
fn assert_counted(report: &Value, count: u64) {
    assert_eq!(report["operations"], count, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    let latency = &report["latency_ms"];
    assert_eq!(latency["count"], count, "{report}");
    let p50 = latency["p50"].as_f64().expect("p50");
    let p99 = latency["p99"].as_f64().expect("p99");
    let max = latency["max"].as_f64().expect("max");
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{report}");
    assert!(report["throughput_per_second"].as_f64().expect("throughput") > 0.0, "{report}");
}

fn single_node() -> (Cluster, String) {
    let mut cluster = Cluster::start(1, IP, BASE_PORT);
    cluster.wait_for_leader(Duration::from_secs(30));
    let endpoint = cluster.client_urls()[0].clone();
    (cluster, endpoint)
}

#[test]
fn every_request_workload_completes_its_count_over_v2_and_v3() {
    let (_cluster, endpoint) = single_node();
    let common = ["--count", "200", "--clients", "4", "--connections", "2", "--key-count", "50"];
    for protocol in ["v2", "v3"] {
        for workload in ["put", "get", "quorum-get", "mixed"] {
            let arguments: Vec<&str> =
                [workload, "--protocol", protocol].iter().chain(common.iter()).copied().collect();
            let report = bench(&endpoint, &arguments);
            assert_eq!(report["workload"], workload);
            assert_eq!(report["protocol"], protocol);
            assert_counted(&report, 200);
            if workload != "put" {
                assert_eq!(report["prefill"]["operations"], 50, "{report}");
            }
        }
    }
    let mut arguments = vec!["txn", "--protocol", "v3", "--random-keys"];
    arguments.extend(common);
    assert_counted(&bench(&endpoint, &arguments), 200);
}

#[test]
fn a_duration_bound_run_stops_on_time_and_reports_the_server_memory() {
    let (cluster, endpoint) = single_node();
    let pid = cluster.members[0].process_id().expect("running").to_string();
    let report =
        bench(&endpoint, &["put", "--duration-seconds", "1", "--clients", "2", "--server-pid", &pid]);
    let elapsed = report["elapsed_seconds"].as_f64().expect("elapsed");
    assert!((0.9..5.0).contains(&elapsed), "{report}");
    assert!(report["operations"].as_u64().expect("operations") > 0, "{report}");
    assert!(report["server_rss_bytes"]["after"].as_u64().expect("rss") > 0, "{report}");
}

#[test]
fn every_watcher_receives_every_write_to_its_key_over_v2_and_v3() {
    let (cluster, endpoint) = single_node();
    let pid = cluster.members[0].process_id().expect("running").to_string();
    for protocol in ["v2", "v3"] {
        // 30 watchers on 10 keys, 40 writes: each key written 4 times, each write seen by 3 watchers.
        let report = bench(
            &endpoint,
            &[
                "watch",
                "--protocol",
                protocol,
                "--watchers",
                "30",
                "--key-count",
                "10",
                "--count",
                "40",
                "--clients",
                "1",
                "--watch-streams",
                "4",
                "--server-pid",
                &pid,
            ],
        );
        assert_counted(&report, 40);
        let watch = &report["watch"];
        assert_eq!(watch["expected_events"], 120, "{report}");
        assert_eq!(watch["delivered_events"], 120, "{report}");
        assert_eq!(watch["delivery_latency_ms"]["count"], 120, "{report}");
        assert_eq!(watch["cleared_polls"], 0, "{report}");
        assert!(watch["server_bytes_per_watcher"].is_number(), "{report}");
    }
}

#[test]
fn bad_options_are_refused_before_connecting() {
    let output = Command::new(env!("CARGO_BIN_EXE_concord-bench"))
        .args(["txn", "--protocol", "v2", "--endpoints", "http://127.0.0.1:1"])
        .output()
        .expect("concord-bench runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("txn needs --protocol v3"));
}
