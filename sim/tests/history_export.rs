//! `sim run --history FILE` and `sim swarm --histories DIR` write the client history as JSON lines in
//! the chaos harness's format: every line parses, each process alternates an invoke with its
//! completion, and completions come no earlier than their invocations.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A directory of this test's own, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("sim-history-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("scratch dir");
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sim(args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_sim")).args(args).output().expect("run sim");
    assert!(output.status.success(), "sim {args:?} failed: {}", String::from_utf8_lossy(&output.stdout));
}

/// Checks one exported file and returns how many operations it holds.
fn check_history_file(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).expect("history file");
    let mut pending: BTreeMap<u64, Value> = BTreeMap::new();
    let mut completed = 0;
    let mut last_time = 0;
    for line in text.lines() {
        let line: Value = serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"));
        let process = line["process"].as_u64().expect("process");
        let invoke_ns = line["invoke_ns"].as_u64().expect("invoke_ns");
        assert!(line["f"].is_string() && line["member"].is_string(), "{line}");
        match line["type"].as_str().expect("type") {
            "invoke" => {
                assert!(invoke_ns >= last_time, "lines are in time order: {line}");
                last_time = invoke_ns;
                assert!(
                    pending.insert(process, line).is_none(),
                    "process {process} had two pending operations"
                );
            }
            "ok" | "fail" | "info" => {
                let invoke =
                    pending.remove(&process).unwrap_or_else(|| panic!("completion without invoke: {line}"));
                assert_eq!(invoke["f"], line["f"]);
                assert_eq!(invoke["invoke_ns"], line["invoke_ns"]);
                if let Some(complete_ns) = line["complete_ns"].as_u64() {
                    assert!(complete_ns >= invoke_ns);
                    assert!(complete_ns >= last_time, "lines are in time order: {line}");
                    last_time = complete_ns;
                }
                completed += 1;
            }
            other => panic!("unknown type {other}"),
        }
    }
    assert!(pending.is_empty(), "every invoke has its completion: {pending:?}");
    completed
}

#[test]
fn a_run_exports_its_history_as_invoke_and_completion_pairs() {
    let scratch = Scratch::new("run");
    let path = scratch.0.join("history.jsonl");
    sim(&["run", "--seed", "7", "--nodes", "3", "--history", path.to_str().unwrap()]);
    let operations = check_history_file(&path);
    assert!(operations > 10, "a run's clients make many operations, found {operations}");
}

#[test]
fn a_swarm_exports_one_history_per_seed() {
    let scratch = Scratch::new("swarm");
    let directory = scratch.0.join("histories");
    sim(&[
        "swarm",
        "--seeds",
        "2",
        "--from",
        "3",
        "--nodes",
        "3",
        "--histories",
        directory.to_str().unwrap(),
    ]);
    for seed in [3, 4] {
        let operations = check_history_file(&directory.join(format!("seed-{seed}.jsonl")));
        assert!(operations > 10, "seed {seed}: {operations} operations");
    }
}
