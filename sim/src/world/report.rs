//! What a run reports: which check failed (`Check`), the failure (`Failure`) and the run's summary
//! (`RunReport`).

use crate::history::Time;

/// Which check failed: shrinking keeps a candidate only if it fails the same check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    ElectionSafety,
    DoubleVote,
    LogMatching,
    LeaderCompleteness,
    CommittedEntryChanged,
    LeaderCommitRule,
    StateMachineSafety,
    CommitRegressed,
    AppliedRegressed,
    DurableTermLost,
    DurableVoteLost,
    NodeError,
    StartFailed,
    Linearizability,
    PlainGet,
    Liveness,
    Watch,
    /// v3: the per-key model (writes, linearizable ranges, revisions, lease safety).
    V3Linearizability,
    /// v3: the order of header revisions, and what every observer saw at each revision.
    V3Revisions,
    /// v3: a range at an older revision.
    V3PastRange,
    /// v3: a watch stream.
    V3Watch,
}

impl Check {
    pub fn name(self) -> &'static str {
        match self {
            Check::ElectionSafety => "election-safety",
            Check::DoubleVote => "double-vote",
            Check::LogMatching => "log-matching",
            Check::LeaderCompleteness => "leader-completeness",
            Check::CommittedEntryChanged => "committed-entry-changed",
            Check::LeaderCommitRule => "leader-commit-rule",
            Check::StateMachineSafety => "state-machine-safety",
            Check::CommitRegressed => "commit-regressed",
            Check::AppliedRegressed => "applied-regressed",
            Check::DurableTermLost => "durable-term-lost",
            Check::DurableVoteLost => "durable-vote-lost",
            Check::NodeError => "node-error",
            Check::StartFailed => "start-failed",
            Check::Linearizability => "linearizability",
            Check::PlainGet => "plain-get",
            Check::Liveness => "liveness",
            Check::Watch => "watch",
            Check::V3Linearizability => "v3-linearizability",
            Check::V3Revisions => "v3-revisions",
            Check::V3PastRange => "v3-past-range",
            Check::V3Watch => "v3-watch",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub check: Check,
    pub at: Time,
    pub detail: String,
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub seed: u64,
    /// Every operation of the run, as checked (`history_export` writes the clients' ones out).
    pub history: Vec<crate::history::Operation>,
    pub failure: Option<Failure>,
    /// The linearizability search gave up on some key (not a failure, but reported).
    pub unknown_key: Option<u32>,
    pub simulated_ns: Time,
    pub events: u64,
    pub operations: usize,
    pub operations_checked: usize,
    /// Watch answers (events, 401s) checked by `check_watches` (also counted in `operations_checked`).
    pub watch_events: usize,
    /// v3 operations checked by the per-key model (also counted in `operations_checked`).
    pub v3_operations_checked: usize,
    /// v3 watch events checked (also counted in `operations_checked`).
    pub v3_watch_events: usize,
    pub trace_hash: u64,
    /// Notable happenings (crashes, corruption detected, ...), in order.
    pub notes: Vec<String>,
    /// How the cluster settled once the faults stopped.
    pub liveness: LivenessOutcome,
    /// How often the members' Raft cores took each rule, summed over every process of the run.
    pub coverage: raft::Coverage,
}

/// How the cluster settled once the faults stopped (the liveness phase); times are counted from the
/// end of the fault phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LivenessOutcome {
    /// Elections won after the fault phase ended.
    pub elections_after_faults: u32,
    /// When the last of them was won (None: the leader of the fault phase's end stayed).
    pub last_election_after_faults_ns: Option<Time>,
    /// When the quiet period began (no term may rise after it): a grace period after the faults, or
    /// after the last membership change.
    pub quiet_from_after_faults_ns: Time,
    /// How much later than planned the run ended, to leave a quiet period after a late membership
    /// change (0 for most runs).
    pub deadline_extended_ns: Time,
}
