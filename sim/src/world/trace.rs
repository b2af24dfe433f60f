//! The trace of a run: the FNV-1a hash every event is folded into, and the text of trace lines.

use raft::MessageBody;

use super::events::Event;
use crate::history::{OperationResult, V3WatchUpdate};

/// FNV-1a over the events in order: two runs with the same hash ran the same events.
pub(super) struct TraceHash(pub(super) u64);

impl TraceHash {
    /// The FNV-1a offset basis.
    pub(super) fn new() -> TraceHash {
        TraceHash(0xcbf2_9ce4_8422_2325)
    }

    pub(super) fn word(&mut self, word: u64) {
        for byte in word.to_le_bytes() {
            self.0 ^= byte as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

pub(super) fn message_kind(body: &MessageBody) -> u64 {
    match body {
        MessageBody::RequestVote { pre_vote, .. } => 1 + *pre_vote as u64,
        MessageBody::RequestVoteResponse { pre_vote, granted } => 3 + *pre_vote as u64 * 2 + *granted as u64,
        MessageBody::AppendEntries { entries, prev_log_index, .. } => {
            7 + (entries.len() as u64) * 31 + prev_log_index * 1009
        }
        MessageBody::AppendEntriesResponse { result } => match result {
            Ok(index) => 8 + index * 1009,
            Err((index, _)) => 9 + index * 1009,
        },
        MessageBody::Heartbeat { commit, .. } => 10 + commit * 1009,
        MessageBody::HeartbeatResponse { .. } => 11,
        MessageBody::InstallSnapshot { snapshot } => 12 + snapshot.meta.index * 1009,
        MessageBody::TimeoutNow => 13,
        MessageBody::Propose { entries } => 14 + entries.len() as u64 * 31,
        MessageBody::ReadIndex { .. } => 15,
        MessageBody::ReadIndexResponse { index, .. } => 16 + index * 1009,
    }
}

pub(super) fn result_code(result: &OperationResult) -> u64 {
    match result {
        OperationResult::Written { index } => 1 + index * 16,
        OperationResult::Value { value, index } => 2 + index * 16 + value * 65536,
        OperationResult::NotFound { index } => 3 + index * 16,
        OperationResult::AlreadyExists => 4,
        OperationResult::CompareFailed => 5,
        OperationResult::Ambiguous => 6,
        OperationResult::Failed => 7,
        OperationResult::WatchEvent { index, action, value, since } => {
            let words = [*index, *action as u64, value.unwrap_or(0), since.unwrap_or(0)];
            words.iter().fold(8, |code, word| code.wrapping_mul(1_000_003).wrapping_add(*word))
        }
        OperationResult::WatchClosed => 9,
        OperationResult::WatchCleared { index } => 10 + index * 16,
        OperationResult::WatchTimedOut => 11,
        OperationResult::V3Written { revision } => 12 + revision * 16,
        OperationResult::V3NothingDeleted { revision } => 13 + revision * 16,
        OperationResult::V3CompareFailed { revision } => 14 + revision * 16,
        OperationResult::V3Value { value, mod_revision, create_revision, version, revision } => {
            let words = [*value, *mod_revision, *create_revision, *version, *revision];
            words.iter().fold(15, |code, word| code.wrapping_mul(1_000_003).wrapping_add(*word))
        }
        OperationResult::V3Missing { revision } => 16 + revision * 16,
        OperationResult::V3Compacted => 17,
        OperationResult::V3Done { revision } => 18 + revision * 32,
        OperationResult::V3LeaseGranted { lease, ttl_seconds } => {
            19 + (*lease as u64).wrapping_mul(32) + *ttl_seconds as u64 * 1009
        }
        OperationResult::V3LeaseKept { ttl_seconds, by_leader } => {
            20 + *ttl_seconds as u64 * 64 + u64::from(*by_leader) * 32
        }
        OperationResult::V3LeaseNotFound => 21,
        OperationResult::V3Watch(update) => {
            let words: Vec<u64> = match update {
                V3WatchUpdate::Created { revision } => vec![1, *revision],
                V3WatchUpdate::Events { revision, events } => [2, *revision]
                    .into_iter()
                    .chain(events.iter().flat_map(|event| {
                        [event.revision, event.key as u64, event.value.unwrap_or(u64::MAX - 1)]
                    }))
                    .collect(),
                V3WatchUpdate::Compacted { compact_revision } => vec![3, *compact_revision],
                V3WatchUpdate::Canceled => vec![4],
            };
            words.iter().fold(22, |code, word| code.wrapping_mul(1_000_003).wrapping_add(*word))
        }
    }
}

pub(super) fn describe(event: &Event) -> String {
    match event {
        Event::Deliver { message } => {
            let body = match &message.body {
                MessageBody::AppendEntries { prev_log_index, prev_log_term, entries, leader_commit } => {
                    format!(
                        "AppendEntries prev ({prev_log_index}, {prev_log_term}) {} entries commit {leader_commit}",
                        entries.len()
                    )
                }
                MessageBody::InstallSnapshot { snapshot } => {
                    format!("InstallSnapshot index {} term {}", snapshot.meta.index, snapshot.meta.term)
                }
                other => format!("{other:?}"),
            };
            format!("deliver {} -> {} term {}: {body}", message.from, message.to, message.term)
        }
        other => format!("{other:?}"),
    }
}
