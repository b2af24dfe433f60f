//! The checks of a chaos run: linearizability of writes and quorum reads (the simulator's Porcupine
//! checker, per key), the weaker guarantee of plain reads, watch events against every other
//! observation, each watcher's continuity (every event on its key in index order, none missing or
//! repeated), and no lost acknowledged write in the final quorum reads.

use std::collections::{BTreeMap, BTreeSet};

use sim::history::{Operation, OperationKind, OperationResult};
use sim::linearizability::{self, Verdict};

use super::history::Recorded;

/// Search bound per key of the linearizability checker.
pub const STEP_BUDGET_PER_KEY: u64 = 2_000_000;

/// What the checks found.
#[derive(Debug, Default)]
pub struct CheckFindings {
    pub anomalies: Vec<String>,
    /// Keys the checker gave up on (search bound reached).
    pub undecided_keys: Vec<u32>,
    /// Acknowledged writes missing from the final state.
    pub lost_writes: u64,
    pub watch_events_checked: usize,
}

/// Runs every check on `history`; `final_reads` is each key's final quorum read (value, index).
pub fn check_all(
    history: &[Recorded],
    final_reads: &BTreeMap<u32, (u64, u64)>,
    watched: &[(u32, u32)],
) -> CheckFindings {
    let operations: Vec<Operation> = history.iter().map(|recorded| recorded.operation.clone()).collect();
    let mut findings = CheckFindings::default();
    match linearizability::check_history(&operations, STEP_BUDGET_PER_KEY).0 {
        Verdict::Linearizable => {}
        Verdict::Violation { key, detail } => {
            findings.anomalies.push(format!("not linearizable, key k{key}: {detail}"))
        }
        Verdict::Unknown { key } => findings.undecided_keys.push(key),
    }
    if let Err(detail) = linearizability::check_plain_gets(&operations) {
        findings.anomalies.push(format!("plain read: {detail}"));
    }
    match linearizability::check_watches(&operations) {
        Ok(checked) => findings.watch_events_checked = checked,
        Err(detail) => findings.anomalies.push(format!("watch: {detail}")),
    }
    for &(key, process) in watched {
        findings.anomalies.extend(check_watcher_continuity(&operations, key, process));
    }
    findings.lost_writes = count_lost_writes(&operations, final_reads, &mut findings.anomalies);
    findings
}

/// One watcher's answers, in the order it got them: each waited from the index after the previous
/// event (or after a 401's store index), indexes strictly increase, and every acknowledged write of
/// the key in the covered range is among the events.
fn check_watcher_continuity(operations: &[Operation], key: u32, process: u32) -> Vec<String> {
    let mut anomalies = Vec::new();
    let mut seen = BTreeSet::new();
    let mut covered: Vec<(u64, u64)> = Vec::new(); // [from, through] ranges the watcher owes
    let mut expected_since: Option<u64> = None;
    for watch in operations.iter().filter(|operation| operation.client == process && operation.key == key) {
        let OperationKind::Watch { wait_index: Some(since) } = watch.kind else { continue };
        if expected_since.is_some_and(|expected| expected != since) {
            anomalies.push(format!("watcher of k{key} resumed at {since}, expected {expected_since:?}"));
        }
        match watch.result {
            OperationResult::WatchEvent { index, .. } => {
                if index < since || !seen.insert(index) {
                    anomalies.push(format!("watcher of k{key} got index {index} twice or out of order"));
                }
                match covered.last_mut() {
                    Some(range) if range.1 + 1 == since => range.1 = index,
                    _ => covered.push((since, index)),
                }
                expected_since = Some(index + 1);
            }
            OperationResult::WatchCleared { index } => expected_since = Some(index + 1),
            _ => {}
        }
    }
    for write in operations.iter().filter(|operation| operation.key == key && operation.kind.is_write()) {
        if let OperationResult::Written { index } = write.result
            && covered.iter().any(|&(from, through)| (from..=through).contains(&index))
            && !seen.contains(&index)
        {
            anomalies.push(format!("watcher of k{key} missed the acknowledged write {}", write.describe()));
        }
    }
    anomalies
}

/// Acknowledged writes newer than each key's final state (lost), reported as anomalies too.
fn count_lost_writes(
    operations: &[Operation],
    final_reads: &BTreeMap<u32, (u64, u64)>,
    anomalies: &mut Vec<String>,
) -> u64 {
    let mut lost = 0;
    for write in operations.iter().filter(|operation| operation.kind.is_write()) {
        let OperationResult::Written { index } = write.result else { continue };
        let final_index = final_reads.get(&write.key).map_or(0, |&(_, index)| index);
        if index > final_index {
            lost += 1;
            anomalies.push(format!(
                "lost write (final index of k{} is {final_index}): {}",
                write.key,
                write.describe()
            ));
        }
    }
    lost
}

#[cfg(test)]
mod tests {
    use sim::history::{NEVER, WatchAction};

    use super::*;
    use crate::chaos::history::Outcome;

    fn recorded(client: u32, kind: OperationKind, times: (u64, u64), result: OperationResult) -> Recorded {
        let outcome = if result == OperationResult::Ambiguous { Outcome::Info } else { Outcome::Ok };
        let (invoked_at, returned_at) = times;
        let operation = Operation { client, node: 0, key: 0, kind, invoked_at, returned_at, result };
        Recorded { operation, outcome, previous_index: None, error: String::new() }
    }

    fn write(value: u64, times: (u64, u64), index: u64) -> Recorded {
        recorded(1, OperationKind::Set { value }, times, OperationResult::Written { index })
    }

    fn event(since: u64, index: u64, value: u64, times: (u64, u64)) -> Recorded {
        let result = OperationResult::WatchEvent {
            index,
            action: WatchAction::Set,
            value: Some(value),
            since: Some(since),
        };
        recorded(900, OperationKind::Watch { wait_index: Some(since) }, times, result)
    }

    #[test]
    fn a_clean_history_with_an_ambiguous_write_passes() {
        let history = vec![
            write(1, (0, 10), 5),
            recorded(2, OperationKind::Set { value: 2 }, (20, NEVER), OperationResult::Ambiguous),
            write(3, (30, 40), 7),
            event(1, 5, 1, (0, 11)),
            event(6, 7, 3, (12, 41)),
        ];
        let findings = check_all(&history, &BTreeMap::from([(0, (3, 7))]), &[(0, 900)]);
        assert!(findings.anomalies.is_empty(), "{:?}", findings.anomalies);
        assert_eq!(findings.lost_writes, 0);
    }

    #[test]
    fn an_acknowledged_write_above_the_final_read_is_lost() {
        let history = vec![write(1, (0, 10), 5), write(3, (30, 40), 7)];
        let findings = check_all(&history, &BTreeMap::from([(0, (1, 5))]), &[]);
        assert_eq!(findings.lost_writes, 1);
        assert!(!findings.anomalies.is_empty());
    }

    #[test]
    fn a_watcher_that_skips_an_acknowledged_write_or_repeats_an_event_is_caught() {
        let skipping = vec![write(1, (0, 10), 5), write(3, (30, 40), 7), event(1, 7, 3, (0, 41))];
        let findings = check_all(&skipping, &BTreeMap::from([(0, (3, 7))]), &[(0, 900)]);
        assert!(!findings.anomalies.is_empty(), "a skipped event goes unnoticed");
        let repeating = vec![write(1, (0, 10), 5), event(1, 5, 1, (0, 11)), event(1, 5, 1, (12, 13))];
        let findings = check_all(&repeating, &BTreeMap::from([(0, (1, 5))]), &[(0, 900)]);
        assert!(
            findings.anomalies.iter().any(|anomaly| anomaly.contains("resumed at 1")),
            "{:?}",
            findings.anomalies
        );
    }
}
