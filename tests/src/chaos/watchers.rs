//! The chaos watchers: one thread per watched key, long-polling `GET ?wait=true&waitIndex=N` through
//! the members in turn and resuming from the index after the last event it saw whenever a request
//! times out, a member dies or a connection breaks. Every event is recorded in the history as a watch
//! operation (`since` = its wait index), so the checker can prove that none was missed or repeated.
//!
//! A 401 (`EventIndexCleared`: the wait index fell out of the member's 1000-event history) is recorded
//! too and the watcher resyncs from the member's current index + 1; the events in between are then
//! not owed (the workload's write rate keeps this rare; the report counts resyncs).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sim::history::{Operation, OperationKind, OperationResult, WatchAction};

use super::history::{History, Outcome, Recorded, key_path};

/// The most long polls one watcher makes (bounds its loop).
const MAX_POLLS: u64 = 10_000_000;
/// How long one long poll waits before the watcher reconnects.
const POLL_TIMEOUT: Duration = Duration::from_secs(3);

/// One watcher's shared state: where it is, and how often it reconnected or resynced.
#[derive(Default)]
pub struct WatcherProgress {
    /// The next index it waits for.
    pub next_index: AtomicU64,
    pub reconnections: AtomicU64,
    pub resyncs: AtomicU64,
}

/// Watches key `key` from `start_index` until `stop`, as process `process`.
pub fn run_watcher(
    client_urls: &[String],
    key: u32,
    process: u32,
    history: &History,
    progress: &WatcherProgress,
    stop: &Arc<AtomicBool>,
) {
    let mut member = 0;
    for _ in 0..MAX_POLLS {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let wait_index = progress.next_index.load(Ordering::SeqCst);
        let path = format!("/v2/keys{}?wait=true&waitIndex={wait_index}", key_path(key));
        let invoked_at = history.now_ns();
        let response = crate::request_with_timeout(&client_urls[member], "GET", &path, None, POLL_TIMEOUT);
        let returned_at = history.now_ns();
        let Some(result) = response.ok().and_then(|response| parse_watch_answer(&response, wait_index))
        else {
            progress.reconnections.fetch_add(1, Ordering::SeqCst);
            member = (member + 1) % client_urls.len();
            continue;
        };
        let next_index = match result {
            OperationResult::WatchEvent { index, .. } => index + 1,
            OperationResult::WatchCleared { index } => {
                progress.resyncs.fetch_add(1, Ordering::SeqCst);
                index + 1
            }
            ref other => unreachable!("parse_watch_answer gave {other:?}"),
        };
        assert!(next_index > wait_index, "a watcher only moves forward");
        progress.next_index.store(next_index, Ordering::SeqCst);
        let kind = OperationKind::Watch { wait_index: Some(wait_index) };
        let operation =
            Operation { client: process, node: member as u64, key, kind, invoked_at, returned_at, result };
        history.record(Recorded {
            operation,
            outcome: Outcome::Ok,
            previous_index: None,
            error: String::new(),
        });
    }
}

/// An event or a 401 from a watch answer; None for anything else (the watcher reconnects).
fn parse_watch_answer(response: &ctl::http::Response, wait_index: u64) -> Option<OperationResult> {
    let body: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    if body["errorCode"].as_u64() == Some(401) {
        let index = response.header("x-etcd-index").and_then(|index| index.parse().ok())?;
        return Some(OperationResult::WatchCleared { index });
    }
    if response.status != 200 {
        return None;
    }
    let node = &body["node"];
    let index = node["modifiedIndex"].as_u64()?;
    let action = match body["action"].as_str()? {
        "set" => WatchAction::Set,
        "create" => WatchAction::Create,
        "compareAndSwap" => WatchAction::CompareAndSwap,
        "delete" => WatchAction::Delete,
        _ => WatchAction::Other,
    };
    let value = node["value"].as_str().map(sim::history::value_from_string);
    Some(OperationResult::WatchEvent { index, action, value, since: Some(wait_index) })
}
