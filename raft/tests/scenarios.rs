//! Runs every scenario transcript in `tests/scenarios/*.txt` (format: `scenario_runner/mod.rs`).
//! A new rule is a new file. `REWRITE=1 cargo test -p raft --test scenarios` rewrites the expected
//! output of every file from what the code prints now; `SCENARIO=name` runs only files whose name
//! contains `name`.

mod scenario_runner;

use std::path::{Path, PathBuf};

fn scenario_files() -> Vec<PathBuf> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let filter = std::env::var("SCENARIO").unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&directory)
        .expect("tests/scenarios exists")
        .map(|entry| entry.expect("readable directory").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "txt"))
        .filter(|path| path.file_name().is_some_and(|name| name.to_string_lossy().contains(&filter)))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_prints_what_its_transcript_expects() {
    let rewrite = std::env::var("REWRITE").is_ok_and(|value| value == "1");
    let files = scenario_files();
    assert!(!files.is_empty(), "no scenario files found");
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().expect("a file").to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).expect("readable scenario");
        assert!(text.starts_with('#'), "{name}: a scenario starts with a comment saying what rule it shows");
        match scenario_runner::run(&name, &text) {
            Err(error) => failures.push(error),
            Ok(outcome) if rewrite => std::fs::write(path, outcome.rewritten).expect("writable scenario"),
            Ok(outcome) => failures.extend(outcome.mismatches),
        }
    }
    assert!(failures.is_empty(), "{} scenario failures:\n\n{}", failures.len(), failures.join("\n\n"));
}

const TWO_NODE_ELECTION: &str = "# A tiny scenario for the runner's own tests.
cluster voters=1,2 pre-vote=false
----

campaign 1
----

stabilize
----
1->2 term=2 Vote last=2@1
2->1 term=2 VoteResponse granted
1->2 term=2 Append prev=1@1 commit=2 entries=[2@1 conf(add-voter 2), 3@2 empty]
2->1 term=2 AppendResponse ok=2
1->2 term=2 Append prev=2@1 commit=2 entries=[3@2 empty]
2->1 term=2 AppendResponse ok=3
1->2 term=2 Append prev=3@2 commit=3 entries=[]
2->1 term=2 AppendResponse ok=3

status 1
----
1: Leader term=2 vote=1 leader=1 last=3 commit=3 applied=3 voters=(1 2)
";

#[test]
fn a_matching_transcript_passes_and_rewrites_to_itself() {
    let outcome = scenario_runner::run("inline", TWO_NODE_ELECTION).unwrap();
    assert_eq!(outcome.mismatches, Vec::<String>::new());
    assert_eq!(outcome.rewritten, TWO_NODE_ELECTION);
}

#[test]
fn a_wrong_expectation_fails_and_rewriting_corrects_it() {
    let wrong = TWO_NODE_ELECTION.replace("1: Leader term=2", "1: Follower term=2");
    let outcome = scenario_runner::run("inline", &wrong).unwrap();
    assert_eq!(outcome.mismatches.len(), 1, "{:?}", outcome.mismatches);
    assert!(outcome.mismatches[0].starts_with("inline:19: `status 1`"), "{}", outcome.mismatches[0]);
    assert_eq!(outcome.rewritten, TWO_NODE_ELECTION);
    let missing_line = TWO_NODE_ELECTION.replace("2->1 term=2 VoteResponse granted\n", "");
    assert_eq!(scenario_runner::run("inline", &missing_line).unwrap().mismatches.len(), 1);
}

#[test]
fn an_unknown_command_or_a_missing_separator_stops_the_run() {
    let unknown = scenario_runner::run("inline", "# x\ncluster voters=1\n----\n\nfly 1\n----\n");
    assert!(unknown.unwrap_err().contains("inline:5: `fly 1`: unknown command"));
    let unterminated = scenario_runner::run("inline", "# x\ncluster voters=1\n");
    assert!(unterminated.unwrap_err().contains("without `----`"));
}
