//! Writes a run's client history as JSON lines, in the format the chaos harness on real processes
//! writes (DESIGN.md, "History format (JSON lines)"), so any checker can read either: for each
//! operation an `invoke` line and a completion line (`ok`, `fail` or `info`), ordered by time.
//!
//! The simulator's differences, all within that format: times are virtual nanoseconds since the run
//! started (there is no wall clock); `member` is `m` and the member's ID; v3 operations have their own
//! `f` names and carry `revision`, `lease` and `ttl` where they apply; the operations the checker
//! adds itself (expiries, lease ends) are not client operations and are left out. A simulated client
//! may have a watch pending beside its other operation, and goes on after an unknown outcome, so
//! `process` is not the client's number: each client's operations are spread over processes that
//! have one operation pending at a time, and a process whose operation ended `info` is not reused
//! (as in Jepsen).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use crate::history::{
    NEVER, Operation, OperationKind, OperationResult, V3_KEY_BASE, V3_LEASE_KEY, V3Compare,
};

/// The lines of one history, in time order (an operation's invoke line before its completion).
pub fn history_lines(history: &[Operation]) -> Vec<String> {
    let mut operations: Vec<&Operation> =
        history.iter().filter(|operation| is_client_operation(operation)).collect();
    operations.sort_by_key(|operation| operation.invoked_at);
    let processes = assign_processes(&operations);
    let mut lines: Vec<(u64, usize, String)> = Vec::with_capacity(operations.len() * 2);
    for (position, (operation, process)) in operations.iter().zip(processes).enumerate() {
        assert!(
            operation.returned_at == NEVER || operation.returned_at >= operation.invoked_at,
            "an operation returns after its invocation"
        );
        lines.push((operation.invoked_at, 2 * position, line(operation, process, None)));
        let completed_at = completion_time(operation);
        lines.push((completed_at, 2 * position + 1, line(operation, process, Some(outcome(operation)))));
    }
    // Stable on (time, recording order): equal times keep an invoke before its own completion.
    lines.sort_by_key(|(time, order, _)| (*time, *order));
    lines.into_iter().map(|(_, _, line)| line).collect()
}

/// When an operation's completion line is written: its return, or at once for an unknown outcome.
fn completion_time(operation: &Operation) -> u64 {
    if operation.returned_at == NEVER { operation.invoked_at } else { operation.returned_at }
}

/// The process of each operation (`operations` in invocation order): the first of its client's
/// processes whose last operation completed strictly before this invocation and did not end
/// unknown, else a new one. Numbers are given in order of first use, so they replay exactly.
fn assign_processes(operations: &[&Operation]) -> Vec<u64> {
    // Per client: (process, completion time of its last operation); one that ended unknown is dropped.
    let mut free_after: BTreeMap<u32, Vec<(u64, u64)>> = BTreeMap::new();
    let mut next_process = 0u64;
    let mut processes = Vec::with_capacity(operations.len());
    for operation in operations {
        let lanes = free_after.entry(operation.client).or_default();
        let reusable = lanes.iter().position(|(_, completed_at)| *completed_at < operation.invoked_at);
        let process = match reusable {
            Some(lane) => lanes.remove(lane).0,
            None => {
                next_process += 1;
                next_process
            }
        };
        if outcome(operation) != Outcome::Info {
            lanes.push((process, completion_time(operation)));
        }
        debug_assert!(lanes.len() <= operations.len(), "a client has at most one lane per operation");
        processes.push(process);
    }
    processes
}

/// Writes `history` to `path` as JSON lines (the file is replaced).
pub fn write_history(path: &Path, history: &[Operation]) -> std::io::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for line in history_lines(history) {
        writeln!(file, "{line}")?;
    }
    file.flush()
}

/// How an operation ended, in the format's (Jepsen's) terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    Fail,
    Info,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        }
    }
}

/// Operations the clients issued (the checker's own additions are not).
fn is_client_operation(operation: &Operation) -> bool {
    !matches!(operation.kind, OperationKind::Expire { .. } | OperationKind::V3LeaseEnd { .. })
}

fn outcome(operation: &Operation) -> Outcome {
    match &operation.result {
        OperationResult::Ambiguous | OperationResult::WatchClosed | OperationResult::WatchTimedOut => {
            Outcome::Info
        }
        OperationResult::NotFound { .. } if operation.kind.is_write() => Outcome::Fail,
        OperationResult::Failed
        | OperationResult::AlreadyExists
        | OperationResult::CompareFailed
        | OperationResult::V3CompareFailed { .. }
        | OperationResult::V3LeaseNotFound
        | OperationResult::V3Compacted => Outcome::Fail,
        _ => Outcome::Ok,
    }
}

/// One line; `outcome` None is the invoke line.
fn line(operation: &Operation, process: u64, outcome: Option<Outcome>) -> String {
    let mut object = json!({
        "process": process,
        "type": outcome.map_or("invoke", Outcome::name),
        "key": key_text(operation.key),
        "member": format!("m{}", operation.node),
        "invoke_ns": operation.invoked_at,
        "complete_ns": outcome.filter(|_| operation.returned_at != NEVER).map(|_| operation.returned_at),
        "error": outcome.filter(|outcome| *outcome != Outcome::Ok).map(|_| format!("{:?}", operation.result)),
    });
    let fields = object.as_object_mut().expect("an object");
    for (name, value) in kind_fields(&operation.kind) {
        fields.insert(name.to_string(), value);
    }
    if outcome.is_some() {
        for (name, value) in result_fields(&operation.result) {
            // A read's value is what it saw; a write's stays the value it wrote.
            if !(name == "value" && fields.get("value").is_some_and(|written| !written.is_null())) {
                fields.insert(name.to_string(), value);
            }
        }
    }
    object.to_string()
}

/// The key as the client named it: the v2 path, the v3 key, or none (compactions and leases).
fn key_text(key: u32) -> Option<String> {
    if key == V3_LEASE_KEY {
        None
    } else if key >= V3_KEY_BASE {
        Some(format!("k{}", key - V3_KEY_BASE))
    } else {
        Some(format!("/k{key}"))
    }
}

fn text(value: u64) -> Value {
    Value::String(value.to_string())
}

/// `f` and the request's own fields.
fn kind_fields(kind: &OperationKind) -> Vec<(&'static str, Value)> {
    match kind {
        OperationKind::Set { value } => vec![("f", "write".into()), ("value", text(*value))],
        OperationKind::Create { value } => vec![("f", "create".into()), ("value", text(*value))],
        OperationKind::CompareAndSwap { previous, value } => {
            vec![("f", "cas".into()), ("value", text(*value)), ("prev_value", text(*previous))]
        }
        OperationKind::Delete => vec![("f", "delete".into())],
        OperationKind::Get { quorum } => vec![("f", "read".into()), ("quorum", (*quorum).into())],
        OperationKind::SetTtl { value, ttl_seconds } => {
            vec![("f", "write".into()), ("value", text(*value)), ("ttl", (*ttl_seconds).into())]
        }
        OperationKind::Watch { wait_index } => {
            vec![("f", "watch".into()), ("wait_index", (*wait_index).into())]
        }
        OperationKind::V3Put { value, lease } => {
            vec![("f", "v3_put".into()), ("value", text(*value)), ("lease", (*lease).into())]
        }
        OperationKind::V3Delete => vec![("f", "v3_delete".into())],
        OperationKind::V3Range => vec![("f", "v3_range".into())],
        OperationKind::V3CompareAndPut { compare, value } => {
            let mut fields = vec![("f", "v3_cas".into()), ("value", text(*value))];
            match compare {
                V3Compare::ModRevision { revision, of_value } => {
                    fields.push(("prev_revision", (*revision).into()));
                    fields.push(("prev_value", text(*of_value)));
                }
                V3Compare::Value { value } => fields.push(("prev_value", text(*value))),
            }
            fields
        }
        OperationKind::V3RangeAt { revision } => {
            vec![("f", "v3_range_at".into()), ("at_revision", (*revision).into())]
        }
        OperationKind::V3Compact { revision } => {
            vec![("f", "v3_compact".into()), ("at_revision", (*revision).into())]
        }
        OperationKind::V3LeaseGrant { ttl_seconds } => {
            vec![("f", "v3_lease_grant".into()), ("ttl", (*ttl_seconds).into())]
        }
        OperationKind::V3LeaseKeepAlive { lease } => {
            vec![("f", "v3_lease_keep_alive".into()), ("lease", (*lease).into())]
        }
        OperationKind::V3LeaseRevoke { lease } => {
            vec![("f", "v3_lease_revoke".into()), ("lease", (*lease).into())]
        }
        OperationKind::Expire { .. } | OperationKind::V3LeaseEnd { .. } => {
            unreachable!("the checker's own operations are filtered out")
        }
    }
}

/// What a completion saw: `value`, `index` (v2) or `revision` (v3), and lease answers.
fn result_fields(result: &OperationResult) -> Vec<(&'static str, Value)> {
    match result {
        OperationResult::Written { index }
        | OperationResult::NotFound { index }
        | OperationResult::WatchCleared { index } => {
            vec![("index", (*index).into())]
        }
        OperationResult::Value { value, index } => vec![("value", text(*value)), ("index", (*index).into())],
        OperationResult::WatchEvent { index, value, .. } => {
            vec![("value", value.map_or(Value::Null, text)), ("index", (*index).into())]
        }
        OperationResult::V3Written { revision }
        | OperationResult::V3NothingDeleted { revision }
        | OperationResult::V3CompareFailed { revision }
        | OperationResult::V3Missing { revision }
        | OperationResult::V3Done { revision } => vec![("revision", (*revision).into())],
        OperationResult::V3Value { value, mod_revision, revision, .. } => {
            vec![("value", text(*value)), ("index", (*mod_revision).into()), ("revision", (*revision).into())]
        }
        OperationResult::V3LeaseGranted { lease, ttl_seconds } => {
            vec![("lease", (*lease).into()), ("ttl", (*ttl_seconds).into())]
        }
        OperationResult::V3LeaseKept { ttl_seconds, .. } => vec![("ttl", (*ttl_seconds).into())],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation(
        client: u32,
        kind: OperationKind,
        invoked_at: u64,
        returned_at: u64,
        result: OperationResult,
    ) -> Operation {
        Operation { client, node: 2, key: 3, kind, invoked_at, returned_at, result }
    }

    #[test]
    fn each_operation_becomes_an_invoke_and_a_completion_in_time_order() {
        let history = vec![
            operation(1, OperationKind::Set { value: 7 }, 10, 50, OperationResult::Written { index: 4 }),
            operation(
                2,
                OperationKind::Get { quorum: true },
                20,
                30,
                OperationResult::Value { value: 7, index: 4 },
            ),
            operation(
                3,
                OperationKind::CompareAndSwap { previous: 1, value: 8 },
                25,
                NEVER,
                OperationResult::Ambiguous,
            ),
            operation(0, OperationKind::Expire { value: 7 }, 0, 100, OperationResult::Written { index: 9 }),
        ];
        let lines: Vec<Value> =
            history_lines(&history).iter().map(|line| serde_json::from_str(line).expect("JSON")).collect();
        let types: Vec<(&str, u64)> = lines
            .iter()
            .map(|line| (line["type"].as_str().unwrap(), line["process"].as_u64().unwrap()))
            .collect();
        assert_eq!(types, [("invoke", 1), ("invoke", 2), ("invoke", 3), ("info", 3), ("ok", 2), ("ok", 1)]);
        assert_eq!(lines[0]["f"], "write");
        assert_eq!(lines[0]["key"], "/k3");
        assert_eq!(lines[0]["member"], "m2");
        assert_eq!(lines[4]["value"], "7");
        assert_eq!(lines[4]["index"], 4);
        assert_eq!(lines[5]["complete_ns"], 50);
        assert!(lines[3]["complete_ns"].is_null(), "an unknown outcome has no completion time");
    }

    #[test]
    fn a_client_s_overlapping_or_unknown_operations_get_processes_of_their_own() {
        let history = vec![
            operation(5, OperationKind::Watch { wait_index: None }, 0, 100, OperationResult::WatchTimedOut),
            operation(5, OperationKind::Set { value: 1 }, 10, 20, OperationResult::Written { index: 2 }),
            operation(5, OperationKind::Set { value: 2 }, 30, NEVER, OperationResult::Ambiguous),
            operation(
                5,
                OperationKind::Get { quorum: false },
                40,
                50,
                OperationResult::Value { value: 2, index: 3 },
            ),
        ];
        let processes: Vec<u64> = history_lines(&history)
            .iter()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|line| line["type"] == "invoke")
            .map(|line| line["process"].as_u64().unwrap())
            .collect();
        // The watch holds process 1; the writes share 2; after the unknown write the read needs a 3rd.
        assert_eq!(processes, [1, 2, 2, 3]);
    }
}
