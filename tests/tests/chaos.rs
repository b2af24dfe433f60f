//! Chaos on real processes, bounded for CI: three `concord` members behind fault-injecting peer
//! proxies, 90 s of kills, pauses, partitions, cut and slow links and leader transfers while clients
//! write, compare-and-swap and read through every member and watchers follow two keys; then a heal,
//! final quorum reads, and the checks (linearizability, plain reads, watches, lost writes).
//! `CHAOS_SEED`, `CHAOS_FAULT_SECONDS`, `CHAOS_HISTORY_DIR` and `CHAOS_VERBOSE` tune it.

use std::time::Duration;

use e2e::chaos::{ChaosConfig, run};

const BASE_PORT: u16 = 41_000;

#[test]
fn a_three_member_cluster_under_a_nemesis_stays_linearizable_and_loses_no_acknowledged_write() {
    let fault_seconds =
        std::env::var("CHAOS_FAULT_SECONDS").ok().and_then(|text| text.parse().ok()).unwrap_or(90);
    let config = ChaosConfig::bounded(Duration::from_secs(fault_seconds), BASE_PORT);
    let keep_history = config.history_dir.is_some();
    let report = run(&config);
    eprintln!("{report}");
    assert!(
        report.passed(),
        "chaos found anomalies (history kept at {}):\n{report}",
        report.history_file.display()
    );
    assert!(report.faults.values().sum::<u64>() >= fault_seconds / 15, "the nemesis injected faults");
    assert!(report.outcomes.get("ok").copied().unwrap_or(0) > 100, "clients made progress");
    if !keep_history {
        let _ = std::fs::remove_file(&report.history_file);
    }
}
