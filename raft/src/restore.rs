//! What a node starts from (a brand-new cluster's membership, or what was persisted before a restart)
//! and the checks that refuse persisted state that contradicts itself.

use std::fmt;

use crate::types::*;

/// What a node restarts (or bootstraps) from.
#[derive(Clone, Debug, Default)]
pub struct RestoreState {
    pub hard_state: HardState,
    /// The newest snapshot, if any (data kept to send to followers that need it).
    pub snapshot: Option<Snapshot>,
    /// Log entries after the snapshot (or from index 1), contiguous.
    pub entries: Vec<Entry>,
    /// The configuration when there is no snapshot (bootstrap: the initial cluster's voters).
    pub initial_conf: ConfState,
    /// The index the state machine has already applied (snapshot index after a restore), so committed
    /// entries are re-emitted from applied+1.
    pub applied: Index,
}

impl RestoreState {
    /// A brand-new member of a brand-new cluster whose voters are `voters`.
    pub fn new_cluster(voters: impl IntoIterator<Item = NodeId>) -> RestoreState {
        RestoreState { initial_conf: ConfState::with_voters(voters), ..RestoreState::default() }
    }
}

/// Why a node refuses to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartError {
    InvalidConfig(String),
    /// The persisted log is not a valid Raft log (gaps, decreasing terms, terms beyond the hard state).
    InvalidLog(String),
    /// The hard state contradicts the log or the configuration.
    InvalidHardState(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::InvalidConfig(why) => write!(f, "invalid raft configuration: {why}"),
            StartError::InvalidLog(why) => write!(f, "invalid persisted raft log: {why}"),
            StartError::InvalidHardState(why) => write!(f, "invalid persisted raft hard state: {why}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A restore that passed every check, with the compaction point and cursors it implies.
pub(crate) struct Validated {
    pub hard_state: HardState,
    pub snapshot: Option<Snapshot>,
    pub entries: Vec<Entry>,
    /// The configuration as of `offset`: the snapshot's, or the initial one.
    pub base_conf: ConfState,
    /// The compaction point (the snapshot's index and term, or 0 and 0).
    pub offset: Index,
    pub offset_term: Term,
    pub committed: Index,
    pub applied: Index,
}

/// Checks that the persisted state is a valid Raft log and a hard state that agrees with it.
pub(crate) fn validate(restore: RestoreState) -> Result<Validated, StartError> {
    let RestoreState { hard_state, snapshot, entries, initial_conf, applied } = restore;
    let (offset, offset_term, base_conf) = match &snapshot {
        Some(snapshot) => snapshot_point(&snapshot.meta)?,
        None => (0, 0, initial_conf),
    };
    let last_term = validate_entries(offset, offset_term, &entries)?;
    if last_term > hard_state.term {
        return Err(StartError::InvalidHardState(format!(
            "hard state term {} is behind the log's last term {last_term}",
            hard_state.term
        )));
    }
    let last_index = offset + entries.len() as Index;
    let (committed, applied) = validate_cursors(&hard_state, offset, last_index, applied)?;
    // A vote may go to a node our log never named: a candidate of a newer configuration we had not
    // seen yet (requests are answered without consulting the configuration). Only the null ID is
    // impossible.
    if hard_state.vote == Some(0) {
        return Err(StartError::InvalidHardState(format!("vote for node 0 in term {}", hard_state.term)));
    }
    Ok(Validated { hard_state, snapshot, entries, base_conf, offset, offset_term, committed, applied })
}

fn snapshot_point(meta: &SnapshotMeta) -> Result<(Index, Term, ConfState), StartError> {
    if meta.index > 0 && meta.term == 0 {
        return Err(StartError::InvalidLog(format!("snapshot at index {} has term 0", meta.index)));
    }
    Ok((meta.index, meta.term, meta.conf_state.clone()))
}

/// Entries must continue the compaction point contiguously with terms that never decrease; returns
/// the last term.
fn validate_entries(offset: Index, offset_term: Term, entries: &[Entry]) -> Result<Term, StartError> {
    let mut previous_term = offset_term;
    for (expected, entry) in (offset + 1..).zip(entries) {
        if entry.index != expected {
            return Err(StartError::InvalidLog(format!(
                "entries are not contiguous: expected index {expected}, found {}",
                entry.index
            )));
        }
        if entry.term < previous_term {
            return Err(StartError::InvalidLog(format!(
                "term decreases at index {}: {} after {previous_term}",
                entry.index, entry.term
            )));
        }
        previous_term = entry.term;
    }
    Ok(previous_term)
}

/// applied <= committed <= last index; both at least the compaction point. Returns them.
fn validate_cursors(
    hard_state: &HardState,
    offset: Index,
    last_index: Index,
    applied: Index,
) -> Result<(Index, Index), StartError> {
    if hard_state.commit > last_index {
        return Err(StartError::InvalidHardState(format!(
            "commit index {} is beyond the last log index {last_index}",
            hard_state.commit
        )));
    }
    let committed = hard_state.commit.max(offset);
    if applied > committed {
        return Err(StartError::InvalidHardState(format!(
            "applied index {applied} is beyond the commit index {committed}"
        )));
    }
    Ok((committed, applied.max(offset)))
}
