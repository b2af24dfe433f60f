//! Concord's v3 gRPC API compared with real etcd 3.4, RPC by RPC: the same scripted sequence (every KV,
//! Watch, Lease, Cluster, Maintenance and Auth RPC with its options and errors) runs against a fresh
//! one-member concord and a fresh one-member etcd, and each answer is compared field by field after
//! masking what legitimately differs (cluster and member IDs, server-chosen lease and member IDs,
//! addresses, db sizes and the backend hash, versions, raft indexes). Revisions, raft terms and HashKV
//! hashes are compared exactly.
//!
//! etcd's answers are recorded in `tests/recorded/v3_rpc_etcd_3.4.txt` (rewritten when `RECORD_ETCD=1`)
//! and Concord is always compared against that file too, so the comparison runs where etcd is absent.
//! `-- --nocapture` prints both transcripts and the known differences (`KNOWN_DIFFERENCES`).

mod v3_rpc;

use std::path::{Path, PathBuf};
use std::time::Duration;

use e2e::{MemberSpec, Process, TempDir, concord_binary, etcd_available, free_port};

use v3_rpc::session::Session;

const BASE_PORT: u16 = 35_000;
const IP: &str = "127.0.0.1";
/// Longest the whole script may take against one server, start-up included.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

fn recorded_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("recorded").join("v3_rpc_etcd_3.4.txt")
}

/// Starts `program` as a fresh one-member cluster, runs the script against it, returns the transcript.
fn transcript_of(program: PathBuf) -> Vec<String> {
    let dir = TempDir::new("v3-rpc");
    let spec = MemberSpec {
        name: "default".to_string(),
        ip: IP.to_string(),
        client_port: free_port(IP, BASE_PORT),
        peer_port: free_port(IP, BASE_PORT),
    };
    let data_dir = dir.0.join("default.etcd");
    let args = e2e::member_args(&spec, &data_dir, &format!("default={}", spec.peer_url()), "new");
    let process = Process::start_program(program, spec.clone(), args, Vec::new(), data_dir);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let lines = runtime.block_on(async {
        let script = async {
            let mut session = Session::connect(&spec.client_url()).await;
            v3_rpc::run(&mut session, &spec.client_url(), &spec.peer_url()).await;
            session.lines
        };
        tokio::time::timeout(SCRIPT_TIMEOUT, script).await
    });
    let lines = lines.unwrap_or_else(|_| panic!("script timed out; server log:\n{}", process.log()));
    drop(process);
    lines
}

/// Steps (by a part of their label) whose difference is known, not yet fixed, and outside this
/// comparison's reach: reported on every run but not failed on. Remove an entry once Concord answers
/// like etcd.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

/// The known difference `line` belongs to, if any.
fn known_difference(line: &str) -> Option<&'static str> {
    let label = line.split(" => ").next().unwrap_or_default();
    KNOWN_DIFFERENCES.iter().find(|(part, _)| label.contains(part)).map(|(_, why)| *why)
}

/// The lines where `actual` differs from `expected`, for the failure message; known differences are
/// printed and left out.
fn differences(actual: &[String], expected: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for index in 0..actual.len().max(expected.len()) {
        let left = actual.get(index).map_or("(missing)", String::as_str);
        let right = expected.get(index).map_or("(missing)", String::as_str);
        if left == right {
            continue;
        }
        let difference = format!("line {}:\n  concord: {left}\n  etcd:    {right}", index + 1);
        match known_difference(right) {
            Some(why) => eprintln!("KNOWN DIFFERENCE ({why}): {difference}"),
            None => found.push(difference),
        }
    }
    found
}

fn assert_same(concord: &[String], etcd: &[String], what: &str) {
    let found = differences(concord, etcd);
    assert!(found.is_empty(), "{} differences from {what}:\n{}", found.len(), found.join("\n"));
}

#[test]
fn every_v3_rpc_answers_like_etcd_3_4() {
    let concord = transcript_of(concord_binary());
    if etcd_available() {
        let etcd = transcript_of(PathBuf::from("etcd"));
        if std::env::var("RECORD_ETCD").is_ok_and(|value| value == "1") {
            std::fs::create_dir_all(recorded_path().parent().expect("dir")).expect("create tests/recorded");
            std::fs::write(recorded_path(), etcd.join("\n") + "\n").expect("write the recording");
        }
        assert_same(&concord, &etcd, "real etcd");
    }
    let recorded = std::fs::read_to_string(recorded_path()).expect("the recording (RECORD_ETCD=1 writes it)");
    let recorded: Vec<String> = recorded.lines().map(str::to_string).collect();
    assert_same(&concord, &recorded, "the recording of etcd 3.4");
}
