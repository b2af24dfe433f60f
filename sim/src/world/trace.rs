//! The trace of a run: the FNV-1a hash every event is folded into, and the text of trace lines.

use raft::MessageBody;

use super::events::Event;
use crate::history::OperationResult;

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
        OperationResult::V3Value { value, mod_revision, version } => {
            let words = [*value, *mod_revision, *version];
            words.iter().fold(15, |code, word| code.wrapping_mul(1_000_003).wrapping_add(*word))
        }
        OperationResult::V3Missing { revision } => 16 + revision * 16,
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
