//! The text of a scenario transcript: one line per message, entry, node or follower, always the same
//! for the same state, and never a blank line (a blank line ends an expected block).

use std::collections::BTreeSet;

use raft::testing::Node;
use raft::*;

/// `1->2 term=2 Append prev=3@1 commit=3 entries=[4@2 empty]`.
pub fn message(message: &Message) -> String {
    format!("{}->{} term={} {}", message.from, message.to, message.term, body(&message.body))
}

/// The first word of `body`: what `type=` filters match.
pub fn kind(body: &MessageBody) -> &'static str {
    match body {
        MessageBody::RequestVote { pre_vote: true, .. } => "PreVote",
        MessageBody::RequestVote { .. } => "Vote",
        MessageBody::RequestVoteResponse { pre_vote: true, .. } => "PreVoteResponse",
        MessageBody::RequestVoteResponse { .. } => "VoteResponse",
        MessageBody::AppendEntries { .. } => "Append",
        MessageBody::AppendEntriesResponse { .. } => "AppendResponse",
        MessageBody::Heartbeat { .. } => "Heartbeat",
        MessageBody::HeartbeatResponse { .. } => "HeartbeatResponse",
        MessageBody::InstallSnapshot { .. } => "Snapshot",
        MessageBody::TimeoutNow => "TimeoutNow",
        MessageBody::Propose { .. } => "Propose",
        MessageBody::ReadIndex { .. } => "ReadIndex",
        MessageBody::ReadIndexResponse { .. } => "ReadIndexResponse",
    }
}

fn body(body: &MessageBody) -> String {
    let kind = kind(body);
    let details = match body {
        MessageBody::RequestVote { last_log_index, last_log_term, leader_transfer, .. } => {
            let transfer = if *leader_transfer { " transfer" } else { "" };
            format!("last={last_log_index}@{last_log_term}{transfer}")
        }
        MessageBody::RequestVoteResponse { granted, .. } => {
            (if *granted { "granted" } else { "rejected" }).to_string()
        }
        MessageBody::AppendEntries { prev_log_index, prev_log_term, entries, leader_commit } => {
            format!(
                "prev={prev_log_index}@{prev_log_term} commit={leader_commit} entries=[{}]",
                entry_list(entries)
            )
        }
        MessageBody::AppendEntriesResponse { result: Ok(index) } => format!("ok={index}"),
        MessageBody::AppendEntriesResponse { result: Err((rejected, hint)) } => {
            format!("reject={rejected} hint={}@{}", hint.hint_index, hint.hint_term)
        }
        MessageBody::Heartbeat { commit, read_context } => format!("commit={commit}{}", read(*read_context)),
        MessageBody::HeartbeatResponse { read_context } => read(*read_context).trim_start().to_string(),
        MessageBody::InstallSnapshot { snapshot } => {
            let meta = &snapshot.meta;
            format!("{}@{} {}", meta.index, meta.term, conf_state(&meta.conf_state))
        }
        MessageBody::TimeoutNow => String::new(),
        MessageBody::Propose { entries } => {
            let payloads: Vec<String> = entries.iter().map(payload).collect();
            format!("[{}]", payloads.join(", "))
        }
        MessageBody::ReadIndex { context } => format!("context={context}"),
        MessageBody::ReadIndexResponse { context, index } => format!("context={context} index={index}"),
    };
    if details.is_empty() { kind.to_string() } else { format!("{kind} {details}") }
}

fn read(read_context: u64) -> String {
    if read_context == 0 { String::new() } else { format!(" read={read_context}") }
}

/// `4@2 empty, 5@2 "x"`.
pub fn entry_list(entries: &[Entry]) -> String {
    entries.iter().map(entry).collect::<Vec<String>>().join(", ")
}

/// `5@2 "x"`.
pub fn entry(entry: &Entry) -> String {
    format!("{}@{} {}", entry.index, entry.term, payload(&entry.payload))
}

fn payload(payload: &EntryPayload) -> String {
    match payload {
        EntryPayload::Empty => "empty".to_string(),
        EntryPayload::Normal(data) => format!("{:?}", String::from_utf8_lossy(data)),
        EntryPayload::ConfChange(change) => conf_change(change),
    }
}

/// `conf(add-voter 4, remove 3)`, `conf(leave)`, with the transition when it is not `auto`.
fn conf_change(change: &ConfChange) -> String {
    if change.changes.is_empty() {
        return "conf(leave)".to_string();
    }
    let singles: Vec<String> = change
        .changes
        .iter()
        .map(|single| {
            let kind = match single.kind {
                ConfChangeKind::AddVoter => "add-voter",
                ConfChangeKind::AddLearner => "add-learner",
                ConfChangeKind::RemoveNode => "remove",
            };
            format!("{kind} {}", single.node_id)
        })
        .collect();
    let transition = match change.transition {
        ConfChangeTransition::Auto => "",
        ConfChangeTransition::JointImplicit => " joint-implicit",
        ConfChangeTransition::JointExplicit => " joint-explicit",
    };
    format!("conf({}){transition}", singles.join(", "))
}

fn ids(set: &BTreeSet<NodeId>) -> String {
    let ids: Vec<String> = set.iter().map(NodeId::to_string).collect();
    format!("({})", ids.join(" "))
}

/// `voters=(1 2 4) outgoing=(1 2 3) learners=(5)`; the halves that are empty are left out.
pub fn conf_state(conf: &ConfState) -> String {
    let mut text = format!("voters={}", ids(&conf.voters));
    if conf.is_joint() {
        text.push_str(&format!(" outgoing={}", ids(&conf.voters_outgoing)));
        if !conf.auto_leave {
            text.push_str(" leave=explicit");
        }
    }
    if !conf.learners.is_empty() {
        text.push_str(&format!(" learners={}", ids(&conf.learners)));
    }
    if !conf.learners_next.is_empty() {
        text.push_str(&format!(" learners-next={}", ids(&conf.learners_next)));
    }
    text
}

fn optional_id(id: Option<NodeId>) -> String {
    id.map_or("-".to_string(), |id| id.to_string())
}

/// `1: Leader term=2 vote=1 leader=1 last=4 commit=4 applied=4 voters=(1 2 3)`, or `3: down`.
pub fn node_status(id: NodeId, node: &Node) -> String {
    if !node.up {
        return format!("{id}: down");
    }
    let raft = &node.raft;
    let first = if raft.first_index() > 1 { format!(" first={}", raft.first_index()) } else { String::new() };
    format!(
        "{id}: {:?} term={} vote={} leader={}{first} last={} commit={} applied={} {}",
        raft.role(),
        raft.term(),
        optional_id(raft.vote()),
        optional_id(raft.leader()),
        raft.last_index(),
        raft.commit_index(),
        node.applied_index,
        conf_state(raft.conf_state())
    )
}

/// `2: Replicate match=5 next=6`, with ` learner` for non-voters.
pub fn progress(id: NodeId, view: &ProgressView) -> String {
    let learner = if view.is_learner { " learner" } else { "" };
    format!("{id}: {:?} match={} next={}{learner}", view.state, view.match_index, view.next_index)
}
