//! The chaos workload's clients: each a thread that writes, compare-and-swaps (on prevValue or
//! prevIndex) and reads (quorum and plain) random keys through every member in turn, with a timeout,
//! recording each operation in the history. A client whose operation ended unknown (`info`) continues
//! as a new process, as in Jepsen: its old operation may still be pending.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sim::history::{NEVER, Operation, OperationKind, OperationResult};

use super::history::{History, Outcome, Recorded, key_path};
use super::random::Random;

/// What every client shares.
pub struct Workload {
    pub client_urls: Vec<String>,
    pub key_count: u32,
    pub request_timeout: Duration,
    /// Pause between two operations of one client (keeps the write rate under the watch history).
    pub think_time: Duration,
    pub history: Arc<History>,
    pub stop: Arc<AtomicBool>,
}

/// The process ids of client `client` are client, client + PROCESS_STRIDE, ...
pub const PROCESS_STRIDE: u32 = 1000;
/// The most operations one client makes (bounds its loop).
const MAX_OPERATIONS_PER_CLIENT: u64 = 10_000_000;

/// One client's state.
struct Client {
    process: u32,
    next_value: u64,
    /// The last (value, modifiedIndex) this client saw per key, for compare-and-swap.
    seen: Vec<Option<(u64, u64)>>,
    random: Random,
}

/// Runs client number `client` until the workload stops.
pub fn run_client(workload: &Workload, client: u32, seed: u64) {
    assert!(client < PROCESS_STRIDE);
    let mut state = Client {
        process: client,
        next_value: u64::from(client) * 1_000_000_000 + 1,
        seen: vec![None; workload.key_count as usize],
        random: Random::new(seed ^ u64::from(client).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
    };
    for operation_number in 0..MAX_OPERATIONS_PER_CLIENT {
        if workload.stop.load(Ordering::SeqCst) {
            break;
        }
        let member = (operation_number as usize + client as usize) % workload.client_urls.len();
        let key = state.random.below(u64::from(workload.key_count)) as u32;
        let recorded = one_operation(workload, &mut state, member, key);
        if recorded.outcome == Outcome::Info {
            state.process += PROCESS_STRIDE;
        }
        workload.history.record(recorded);
        std::thread::sleep(workload.think_time);
    }
}

/// Picks, runs and records one operation.
fn one_operation(workload: &Workload, client: &mut Client, member: usize, key: u32) -> Recorded {
    let roll = client.random.below(100);
    let seen = client.seen[key as usize];
    let value = client.next_value;
    let (kind, form, query, previous_index) = match (roll, seen) {
        (0..40, _) | (40..60, None) => {
            client.next_value += 1;
            (OperationKind::Set { value }, Some(format!("value={value}")), String::new(), None)
        }
        (40..50, Some((previous, _))) => {
            client.next_value += 1;
            let query = format!("?prevValue={previous}");
            (OperationKind::CompareAndSwap { previous, value }, Some(format!("value={value}")), query, None)
        }
        (50..60, Some((previous, index))) => {
            client.next_value += 1;
            let query = format!("?prevIndex={index}");
            let kind = OperationKind::CompareAndSwap { previous, value };
            (kind, Some(format!("value={value}")), query, Some(index))
        }
        (60..85, _) => (OperationKind::Get { quorum: true }, None, "?quorum=true".to_string(), None),
        _ => (OperationKind::Get { quorum: false }, None, String::new(), None),
    };
    let method = if form.is_some() { "PUT" } else { "GET" };
    let path = format!("/v2/keys{}{query}", key_path(key));
    let invoked_at = workload.history.now_ns();
    let response = crate::request_with_timeout(
        &workload.client_urls[member],
        method,
        &path,
        form.as_deref(),
        workload.request_timeout,
    );
    let returned_at = workload.history.now_ns();
    let (outcome, result, error) = interpret(&kind, response);
    if let OperationResult::Value { value, index } = result {
        client.seen[key as usize] = Some((value, index));
    }
    if let (OperationResult::Written { index }, Some(value)) = (&result, written_value(&kind)) {
        client.seen[key as usize] = Some((value, *index));
    }
    let returned_at = if outcome == Outcome::Info { NEVER } else { returned_at };
    let operation =
        Operation { client: client.process, node: member as u64, key, kind, invoked_at, returned_at, result };
    Recorded { operation, outcome, previous_index, error }
}

fn written_value(kind: &OperationKind) -> Option<u64> {
    match kind {
        OperationKind::Set { value } | OperationKind::CompareAndSwap { value, .. } => Some(*value),
        _ => None,
    }
}

/// What a response (or its absence) means for operation `kind`: (outcome, result, error text).
fn interpret(
    kind: &OperationKind,
    response: Result<ctl::http::Response, String>,
) -> (Outcome, OperationResult, String) {
    let is_write = kind.is_write();
    let unknown = |error: String| {
        if is_write {
            (Outcome::Info, OperationResult::Ambiguous, error)
        } else {
            (Outcome::Fail, OperationResult::Failed, error)
        }
    };
    let response = match response {
        Ok(response) => response,
        Err(error) => return unknown(error),
    };
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or(serde_json::Value::Null);
    let store_index = response.header("x-etcd-index").and_then(|index| index.parse().ok());
    let node = &body["node"];
    match (response.status, body["errorCode"].as_u64()) {
        (200 | 201, _) if is_write => match node["modifiedIndex"].as_u64() {
            Some(index) => (Outcome::Ok, OperationResult::Written { index }, String::new()),
            None => unknown(format!("write answered without modifiedIndex: {body}")),
        },
        (200, _) => match (node["value"].as_str(), node["modifiedIndex"].as_u64()) {
            (Some(value), Some(index)) => {
                let value = sim::history::value_from_string(value);
                (Outcome::Ok, OperationResult::Value { value, index }, String::new())
            }
            _ => unknown(format!("read answered without value: {body}")),
        },
        (_, Some(100)) => {
            let index = body["index"].as_u64().or(store_index).unwrap_or(0);
            let outcome = if is_write { Outcome::Fail } else { Outcome::Ok };
            let error = if is_write { "key not found".to_string() } else { String::new() };
            (outcome, OperationResult::NotFound { index }, error)
        }
        (_, Some(101)) if is_write => {
            (Outcome::Fail, OperationResult::CompareFailed, "compare failed".to_string())
        }
        (status, _) => unknown(format!("{status}: {}", String::from_utf8_lossy(&response.body))),
    }
}
