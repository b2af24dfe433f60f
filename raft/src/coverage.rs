//! Coverage of the protocol's rules and branches: one counter per rule (`Rule`), bumped by the core
//! each time it takes that branch, so a test or a simulator swarm can say what it exercised (and
//! what it never did). A plain array of integers owned by each `Raft`: deterministic, no globals,
//! a few nanoseconds per hit. Counters start at zero with each `Raft` (a restart starts over).

use std::fmt;

/// Declares the rules: each variant with its kebab-case name, in the order tables list them.
macro_rules! rules {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal,)*) => {
        /// A rule or branch of the protocol that the core counts each time it takes it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Rule {
            /// Every rule, in declaration order (the order of `Coverage::iter`).
            pub const ALL: [Rule; [$(Rule::$variant),*].len()] = [$(Rule::$variant),*];
            /// How many rules there are.
            pub const COUNT: usize = Rule::ALL.len();

            /// The rule's kebab-case name (`append-rejected-log-mismatch`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Rule::$variant => $name,)*
                }
            }
        }
    };
}

rules! {
    // Elections.
    /// A follower's or candidate's election timer expired and it started an election.
    ElectionTimeout = "election-timeout",
    /// The election timer of a member that may not campaign (learner, joining, removed) expired.
    ElectionTimeoutNotVoter = "election-timeout-not-voter",
    /// A member outside its latest configuration campaigned because its removal is still
    /// uncommitted and it votes in the last committed one (thesis 4.2.2).
    CampaignWhileRemovalPending = "campaign-while-removal-pending",
    /// A pre-vote round started (the term does not change).
    PreVoteStarted = "pre-vote-started",
    /// A real election started: the term rose and the member voted for itself.
    ElectionStarted = "election-started",
    /// A pre-candidate won a quorum of pre-votes and became a candidate.
    PreVoteWon = "pre-vote-won",
    /// A pre-candidate was refused by a quorum and went back to following.
    PreVoteLost = "pre-vote-lost",
    /// A candidate won a quorum of votes and became leader.
    ElectionWon = "election-won",
    /// An election won in a joint configuration (a majority of both halves).
    ElectionWonJoint = "election-won-joint",
    /// A single-voter configuration elected its voter at once.
    ElectionWonAlone = "election-won-alone",
    /// A candidate was refused by a quorum and went back to following.
    ElectionLost = "election-lost",
    /// A leader handed over: the target got `TimeoutNow` and campaigned at once.
    TimeoutNowCampaign = "timeout-now-campaign",

    // Votes.
    /// A vote granted.
    VoteGranted = "vote-granted",
    /// A pre-vote granted.
    PreVoteGranted = "pre-vote-granted",
    /// A vote refused: this member already voted for another candidate in the term, or follows a
    /// leader in it.
    VoteRefusedVotedOrLed = "vote-refused-voted-or-led",
    /// A pre-vote refused for the same reasons, in the member's own term.
    PreVoteRefusedVotedOrLed = "pre-vote-refused-voted-or-led",
    /// A vote refused: the candidate's log is not as up to date as ours (§5.4.1).
    VoteRefusedLogBehind = "vote-refused-log-behind",
    /// A pre-vote refused: the pre-candidate's log is not as up to date as ours.
    PreVoteRefusedLogBehind = "pre-vote-refused-log-behind",
    /// A vote request of a higher term ignored: we heard from a live leader within the election
    /// timeout (leader stickiness, check-quorum's lease).
    VoteIgnoredInLease = "vote-ignored-in-lease",
    /// A pre-vote request ignored in the lease of a live leader (a rejoining member cannot disrupt).
    PreVoteIgnoredInLease = "pre-vote-ignored-in-lease",
    /// A vote request of a leader transfer passed a lease that would have stopped it.
    LeaseBypassedByTransfer = "lease-bypassed-by-transfer",
    /// A pre-vote request of an older term refused with our term.
    PreVoteRefusedStaleTerm = "pre-vote-refused-stale-term",

    // Terms.
    /// A higher term in a message moved this member to it as a follower.
    TermAdopted = "term-adopted",
    /// A leader met a higher term and stepped down.
    LeaderDeposedByHigherTerm = "leader-deposed-by-higher-term",
    /// A candidate or pre-candidate heard from a leader of its term and followed it.
    CandidateFoundLeader = "candidate-found-leader",
    /// A message of an older term that is not answered was ignored.
    StaleMessageIgnored = "stale-message-ignored",

    // Leader duties.
    /// The leader heard from no quorum for an election timeout and stepped down (check-quorum).
    LeaderSteppedDownCheckQuorum = "leader-stepped-down-check-quorum",
    /// A leader transfer started.
    TransferStarted = "transfer-started",
    /// A leader transfer's target was caught up: `TimeoutNow` sent.
    TransferTimeoutNowSent = "transfer-timeout-now-sent",
    /// A leader transfer gave up after an election timeout.
    TransferAbortedTimeout = "transfer-aborted-timeout",
    /// A leader transfer stopped because its target stopped being a voter.
    TransferAbortedTargetRemoved = "transfer-aborted-target-removed",
    /// A follower's full window of appends was freed by a heartbeat answer (appends may be lost).
    InflightFreedByHeartbeat = "inflight-freed-by-heartbeat",
    /// A snapshot got neither an answer nor a report for a while: probing again.
    SnapshotRetriedAfterSilence = "snapshot-retried-after-silence",

    // Replication, follower side.
    /// An append's new entries were written to the log.
    AppendAccepted = "append-accepted",
    /// An append from a leader of an older term answered with our term (it learns it was deposed).
    AppendRejectedStaleTerm = "append-rejected-stale-term",
    /// An append refused: our log holds no entry at its previous index.
    AppendRejectedLogShort = "append-rejected-log-short",
    /// An append refused: our entry at its previous index has another term (log matching).
    AppendRejectedLogMismatch = "append-rejected-log-mismatch",
    /// An append starting below our commit index: answered with the commit index.
    AppendBelowCommit = "append-below-commit",
    /// An append whose entries conflict with uncommitted ones: our suffix was truncated.
    AppendTruncatedConflict = "append-truncated-conflict",
    /// A duplicate or stale append: nothing new, nothing truncated.
    AppendDuplicate = "append-duplicate",
    /// An append contradicting a committed entry, refused (impossible from a correct leader).
    AppendContradictsCommit = "append-contradicts-commit",
    /// A truncation removed configuration changes: the configuration was recomputed.
    ConfRevertedByTruncation = "conf-reverted-by-truncation",
    /// A follower's commit index advanced with an append.
    FollowerCommitByAppend = "follower-commit-by-append",
    /// A follower's commit index advanced with a heartbeat.
    FollowerCommitByHeartbeat = "follower-commit-by-heartbeat",

    // Snapshots, follower side.
    /// A snapshot from the leader replaced the log.
    SnapshotInstalled = "snapshot-installed",
    /// A snapshot installed whose configuration is joint.
    SnapshotInstalledJoint = "snapshot-installed-joint",
    /// A snapshot at or below our commit index: nothing to do.
    SnapshotStale = "snapshot-stale",
    /// A snapshot ending at an entry we hold: only the commit index moved.
    SnapshotFastForward = "snapshot-fast-forward",

    // Replication, leader side.
    /// An append refusal moved a follower's next index back.
    AppendRefusalBackedOff = "append-refusal-backed-off",
    /// ... skipping a whole term of entries the follower cannot have (fast log repair).
    AppendRefusalSkippedTerm = "append-refusal-skipped-term",
    /// An append refusal older than what we know of the follower, ignored.
    AppendRefusalStale = "append-refusal-stale",
    /// A probed follower acknowledged: streaming resumes.
    ProbeToReplicate = "probe-to-replicate",
    /// A follower caught up after a snapshot: streaming resumes.
    SnapshotToReplicate = "snapshot-to-replicate",
    /// A snapshot sent to a follower whose next entries are compacted.
    SnapshotSent = "snapshot-sent",
    /// The transport reported a snapshot delivered.
    SnapshotReportedDelivered = "snapshot-reported-delivered",
    /// The transport reported a snapshot failed.
    SnapshotReportedFailed = "snapshot-reported-failed",
    /// The transport reported a follower unreachable while streaming: probing instead.
    UnreachableToProbe = "unreachable-to-probe",
    /// A paused follower was told the commit index with an empty append.
    PausedFollowerToldCommit = "paused-follower-told-commit",
    /// The leader's commit index advanced by counting replicas.
    LeaderCommitAdvanced = "leader-commit-advanced",
    /// A quorum held entries of an older term only: the commit index waited for an entry of the
    /// leader's own term (Figure 8).
    CommitWaitedForOwnTerm = "commit-waited-for-own-term",
    /// A configuration change let the commit index advance (the quorum changed).
    CommitByQuorumChange = "commit-by-quorum-change",

    // Proposals.
    /// A proposal forwarded to the leader.
    ProposalForwarded = "proposal-forwarded",
    /// A forwarded proposal dropped (not the leader any more, or refused).
    ForwardedProposalDropped = "forwarded-proposal-dropped",
    /// A proposal refused during a leader transfer.
    ProposalRefusedTransfer = "proposal-refused-transfer",
    /// A proposal refused: the uncommitted tail is full.
    ProposalRefusedTailFull = "proposal-refused-tail-full",
    /// A proposal refused by a leader outside its own configuration.
    ProposalRefusedRemoved = "proposal-refused-removed",
    /// A configuration change refused: another one is still uncommitted.
    ConfChangeRefusedPending = "conf-change-refused-pending",

    // Configuration.
    /// A configuration change took effect (on append).
    ConfChangeApplied = "conf-change-applied",
    /// A configuration change entered a joint configuration.
    JointEntered = "joint-entered",
    /// A configuration change left a joint configuration.
    JointLeft = "joint-left",
    /// The leader appended the change leaving a joint configuration by itself (auto leave).
    JointLeaveAppended = "joint-leave-appended",
    /// An invalid configuration change reached the log: a no-op on every member.
    ConfChangeInvalidNoOp = "conf-change-invalid-no-op",
    /// A leader's own removal committed: it stepped down.
    RemovedLeaderSteppedDown = "removed-leader-stepped-down",

    // ReadIndex.
    /// A ReadIndex request forwarded to the leader.
    ReadIndexForwarded = "read-index-forwarded",
    /// A ReadIndex request held until an entry of the leader's own term commits (§6.4).
    ReadIndexHeldForOwnTerm = "read-index-held-for-own-term",
    /// Held ReadIndex requests released once an entry of the leader's term committed.
    ReadIndexReleasedAfterCommit = "read-index-released-after-commit",
    /// A ReadIndex answered at once by a leader that is a quorum alone.
    ReadIndexAnsweredAlone = "read-index-answered-alone",
    /// A ReadIndex round of heartbeats started.
    ReadIndexRoundStarted = "read-index-round-started",
    /// A quorum confirmed a ReadIndex round: its reads were answered.
    ReadIndexConfirmed = "read-index-confirmed",
    /// A ReadIndex request dropped (not the leader, or the queue full).
    ReadIndexDropped = "read-index-dropped",
    /// ReadIndex requests pending when the role changed were dropped.
    ReadsDroppedOnRoleChange = "reads-dropped-on-role-change",

    // Persistence and input hygiene.
    /// A persisted point whose entry a later truncation replaced was ignored.
    PersistedPointStale = "persisted-point-stale",
    /// A message dropped at the outbox bound.
    OutboxFull = "outbox-full",
    /// A malformed message dropped.
    MalformedMessage = "malformed-message",
    /// A response or forward from a non-member dropped.
    NonMemberMessage = "non-member-message",
}

impl fmt::Display for Rule {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// How many times each rule was taken.
#[derive(Clone, PartialEq, Eq)]
pub struct Coverage {
    counts: [u64; Rule::COUNT],
}

impl Default for Coverage {
    fn default() -> Coverage {
        Coverage { counts: [0; Rule::COUNT] }
    }
}

impl Coverage {
    /// The core took `rule` once more.
    #[inline]
    pub(crate) fn hit(&mut self, rule: Rule) {
        let count = &mut self.counts[rule as usize];
        *count = count.saturating_add(1);
    }

    /// How many times `rule` was taken.
    pub fn count(&self, rule: Rule) -> u64 {
        self.counts[rule as usize]
    }

    /// Adds another instance's counts (e.g. a member's earlier incarnations, or other seeds).
    pub fn add(&mut self, other: &Coverage) {
        for (count, more) in self.counts.iter_mut().zip(other.counts) {
            *count = count.saturating_add(more);
        }
    }

    /// Every rule with its count, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (Rule, u64)> + '_ {
        Rule::ALL.iter().map(|&rule| (rule, self.count(rule)))
    }
}

impl fmt::Debug for Coverage {
    /// Only the rules taken, by name.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_map().entries(self.iter().filter(|(_, count)| *count > 0)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_listed_once_in_order_with_distinct_names() {
        for (position, rule) in Rule::ALL.iter().enumerate() {
            assert_eq!(*rule as usize, position, "ALL is in declaration order");
        }
        let mut names: Vec<&str> = Rule::ALL.iter().map(|rule| rule.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Rule::COUNT, "rule names are distinct");
    }

    #[test]
    fn counts_grow_per_hit_and_add_up_across_instances() {
        let mut first = Coverage::default();
        first.hit(Rule::VoteGranted);
        first.hit(Rule::VoteGranted);
        let mut second = Coverage::default();
        second.hit(Rule::SnapshotInstalled);
        second.add(&first);
        assert_eq!(second.count(Rule::VoteGranted), 2);
        assert_eq!(second.count(Rule::SnapshotInstalled), 1);
        assert_eq!(second.count(Rule::ElectionWon), 0);
        assert_eq!(format!("{second:?}"), r#"{VoteGranted: 2, SnapshotInstalled: 1}"#);
    }
}
