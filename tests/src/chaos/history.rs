//! The chaos history: every operation the clients and watchers made, as the simulator's checker reads
//! it (`sim::history::Operation`) plus what the JSON lines export needs (wall-clock times, the
//! function, prevIndex, the error text). Export format: DESIGN.md, "Chaos on real processes".

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use sim::history::{NEVER, Operation, OperationKind, OperationResult};

/// The most operations one run records (a 30-minute soak makes a few hundred thousand).
pub const MAX_OPERATIONS: usize = 5_000_000;

/// The v2 path of key number `key`.
pub fn key_path(key: u32) -> String {
    format!("/chaos/k{key}")
}

/// How an operation ended, in Jepsen's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It took effect (a write) or answered (a read).
    Ok,
    /// It certainly did not take effect.
    Fail,
    /// Unknown: timed out or the connection broke; a write may or may not have taken effect.
    Info,
}

/// One recorded operation.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// What the checker reads; times are nanoseconds since the run's start.
    pub operation: Operation,
    pub outcome: Outcome,
    /// A compare-and-swap on prevIndex (the checker sees the equivalent prevValue: values are unique).
    pub previous_index: Option<u64>,
    /// Why it failed or is unknown (empty when ok).
    pub error: String,
}

/// The history being recorded, shared by every client thread.
pub struct History {
    start_epoch_ns: u64,
    start: std::time::Instant,
    operations: Mutex<Vec<Recorded>>,
}

impl History {
    pub fn new() -> History {
        let start_epoch_ns = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos() as u64;
        History { start_epoch_ns, start: std::time::Instant::now(), operations: Mutex::new(Vec::new()) }
    }

    /// Nanoseconds since the run started (monotonic).
    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    pub fn record(&self, recorded: Recorded) {
        let operation = &recorded.operation;
        assert!(operation.returned_at == NEVER || operation.returned_at >= operation.invoked_at);
        assert_eq!(recorded.outcome == Outcome::Info, operation.result == OperationResult::Ambiguous);
        let mut operations = self.operations.lock().expect("history");
        assert!(operations.len() < MAX_OPERATIONS, "history bound reached");
        operations.push(recorded);
    }

    /// Every operation so far, in recording order.
    pub fn snapshot(&self) -> Vec<Recorded> {
        self.operations.lock().expect("history").clone()
    }

    /// Writes the history as JSON lines: for each operation an `invoke` line and its completion line
    /// (`ok`/`fail`/`info`), ordered by time.
    pub fn export(&self, path: &Path, member_names: &[String]) -> std::io::Result<()> {
        let mut lines: Vec<(u64, String)> = Vec::new();
        for recorded in self.snapshot() {
            let operation = &recorded.operation;
            lines.push((operation.invoked_at, self.line(&recorded, None, member_names)));
            let completed_at =
                if operation.returned_at == NEVER { operation.invoked_at } else { operation.returned_at };
            lines.push((completed_at, self.line(&recorded, Some(recorded.outcome), member_names)));
        }
        lines.sort_by_key(|(time, _)| *time);
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        for (_, line) in lines {
            writeln!(file, "{line}")?;
        }
        file.flush()
    }

    /// One JSON line; `outcome` None is the invoke line.
    fn line(&self, recorded: &Recorded, outcome: Option<Outcome>, member_names: &[String]) -> String {
        let operation = &recorded.operation;
        let (function, value, previous_value, quorum, wait_index) = describe_kind(&operation.kind);
        let (result_value, index) = match outcome {
            Some(Outcome::Ok) | Some(Outcome::Fail) => describe_result(&operation.result),
            _ => (None, None),
        };
        let type_name = match outcome {
            None => "invoke",
            Some(Outcome::Ok) => "ok",
            Some(Outcome::Fail) => "fail",
            Some(Outcome::Info) => "info",
        };
        let complete_ns = match outcome {
            Some(_) if operation.returned_at != NEVER => Some(self.start_epoch_ns + operation.returned_at),
            _ => None,
        };
        serde_json::json!({
            "process": operation.client,
            "type": type_name,
            "f": function,
            "key": key_path(operation.key),
            "value": value.or(result_value).map(|value| value.to_string()),
            "prev_value": previous_value.map(|value| value.to_string()),
            "prev_index": recorded.previous_index,
            "quorum": quorum,
            "wait_index": wait_index,
            "index": index,
            "member": member_names.get(operation.node as usize),
            "invoke_ns": self.start_epoch_ns + operation.invoked_at,
            "complete_ns": complete_ns,
            "error": (outcome.is_some() && !recorded.error.is_empty()).then_some(&recorded.error),
        })
        .to_string()
    }
}

impl Default for History {
    fn default() -> Self {
        History::new()
    }
}

/// (f, written value, prevValue, quorum, waitIndex) of an operation kind.
type KindFields = (&'static str, Option<u64>, Option<u64>, Option<bool>, Option<u64>);

fn describe_kind(kind: &OperationKind) -> KindFields {
    match kind {
        OperationKind::Set { value } => ("write", Some(*value), None, None, None),
        OperationKind::CompareAndSwap { previous, value } => {
            ("cas", Some(*value), Some(*previous), None, None)
        }
        OperationKind::Get { quorum } => ("read", None, None, Some(*quorum), None),
        OperationKind::Watch { wait_index } => ("watch", None, None, None, *wait_index),
        other => panic!("the chaos workload never issues {other:?}"),
    }
}

/// (value seen, index) of a result: a read's value and modifiedIndex, a write's index, an error's
/// store index.
fn describe_result(result: &OperationResult) -> (Option<u64>, Option<u64>) {
    match result {
        OperationResult::Written { index } => (None, Some(*index)),
        OperationResult::Value { value, index } => (Some(*value), Some(*index)),
        OperationResult::NotFound { index } | OperationResult::WatchCleared { index } => (None, Some(*index)),
        OperationResult::WatchEvent { index, value, .. } => (*value, Some(*index)),
        _ => (None, None),
    }
}
