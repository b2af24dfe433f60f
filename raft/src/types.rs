//! The data the Raft core exchanges with the world: log entries, hard state, configurations, snapshots
//! and messages. Everything here is plain data with serde derives; the wire and disk encodings live in
//! the server's codec module, never here.

use std::collections::BTreeSet;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A member's identity. Zero is never a valid member ID (it means "none" in etcd's wire formats).
pub type NodeId = u64;
/// A Raft term. Terms only grow.
pub type Term = u64;
/// A position in the Raft log. The first real entry has index 1; index 0 is the empty prefix.
pub type Index = u64;

/// What an entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryPayload {
    /// The empty entry a new leader appends at once to commit entries of earlier terms (Raft §5.4.2).
    Empty,
    /// An opaque command for the state machine (the store).
    Normal(Bytes),
    /// A membership change, interpreted by the core itself.
    ConfChange(ConfChange),
}

/// One slot of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub term: Term,
    pub index: Index,
    pub payload: EntryPayload,
}

impl Entry {
    /// Approximate size in bytes, used to bound messages, in-flight windows and the uncommitted tail.
    pub fn size_bytes(&self) -> usize {
        self.payload.size_bytes()
    }
}

impl EntryPayload {
    /// Approximate size in bytes of an entry carrying this payload (header included).
    pub fn size_bytes(&self) -> usize {
        const HEADER_BYTES: usize = 24;
        HEADER_BYTES
            + match self {
                EntryPayload::Empty => 0,
                EntryPayload::Normal(data) => data.len(),
                EntryPayload::ConfChange(change) => 16 * change.changes.len() + change.context.len(),
            }
    }
}

/// The state that must be durable before the node answers anyone: the current term, the vote cast in
/// it, and the commit index (persisted as a hint so a restart re-applies no further than it knows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    pub term: Term,
    /// The candidate voted for in `term`, if any.
    pub vote: Option<NodeId>,
    pub commit: Index,
}

/// What one membership change does to one member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfChangeKind {
    AddVoter,
    AddLearner,
    RemoveNode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfChangeSingle {
    pub kind: ConfChangeKind,
    pub node_id: NodeId,
}

/// How a change that needs a joint configuration leaves it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfChangeTransition {
    /// Simple changes (one voter) apply directly; others enter a joint configuration that the leader
    /// leaves automatically once the joint entry commits.
    #[default]
    Auto,
    /// Always enter a joint configuration and leave it automatically.
    JointImplicit,
    /// Always enter a joint configuration; the operator leaves it with an empty change.
    JointExplicit,
}

/// A membership change as proposed by the application. An empty `changes` list leaves a joint
/// configuration. `context` is opaque to the core (the server puts member names and URLs there).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfChange {
    pub transition: ConfChangeTransition,
    pub changes: Vec<ConfChangeSingle>,
    pub context: Bytes,
}

/// A cluster configuration. When `voters_outgoing` is non-empty the configuration is joint: elections
/// and commitment need a majority of `voters` and a majority of `voters_outgoing`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfState {
    pub voters: BTreeSet<NodeId>,
    pub learners: BTreeSet<NodeId>,
    /// The old voters while in a joint configuration; empty otherwise.
    pub voters_outgoing: BTreeSet<NodeId>,
    /// Voters of the old configuration that become learners when the joint configuration is left.
    pub learners_next: BTreeSet<NodeId>,
    /// Whether the leader leaves the joint configuration by itself once it commits.
    pub auto_leave: bool,
}

impl ConfState {
    /// A plain (non-joint) configuration of the given voters.
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> ConfState {
        ConfState { voters: voters.into_iter().collect(), ..ConfState::default() }
    }

    pub fn is_joint(&self) -> bool {
        !self.voters_outgoing.is_empty()
    }

    /// Whether `id` is any kind of member (voter or learner, old or new), without allocating.
    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.contains(&id)
            || self.learners.contains(&id)
            || self.voters_outgoing.contains(&id)
            || self.learners_next.contains(&id)
    }

    /// Whether `id` votes in this configuration (in either half of a joint one).
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.voters_outgoing.contains(&id)
    }

    /// Every member the configuration knows, voters and learners, old and new.
    pub fn all_members(&self) -> BTreeSet<NodeId> {
        let mut all = self.voters.clone();
        all.extend(&self.learners);
        all.extend(&self.voters_outgoing);
        all.extend(&self.learners_next);
        all
    }
}

/// Where a snapshot stands in the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The last log index the snapshot covers.
    pub index: Index,
    /// The term of the entry at `index`.
    pub term: Term,
    /// The configuration as of `index`.
    pub conf_state: ConfState,
}

/// A point-in-time image of the state machine, opaque to the core.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub meta: SnapshotMeta,
    pub data: Bytes,
}

/// A rejected append carries a hint so the leader can skip whole terms at once (fast nextIndex repair).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectHint {
    /// The follower's best guess of where its log may still match the leader's: the largest index
    /// <= min(rejected index, its last index) whose term is <= the append's prev_log_term.
    pub hint_index: Index,
    /// The term of the follower's entry at `hint_index` (0 for the empty prefix).
    pub hint_term: Term,
}

/// A message between two members. `term` is the sender's current term (0 for local-only messages).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub from: NodeId,
    pub to: NodeId,
    pub term: Term,
    pub body: MessageBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageBody {
    /// Ask for a vote (or, with `pre_vote`, ask whether a vote would be granted in `term`).
    /// `leader_transfer` marks an election started by `TimeoutNow`: voters grant it even while they
    /// still hear from the current leader (leader stickiness would otherwise refuse it).
    RequestVote {
        pre_vote: bool,
        last_log_index: Index,
        last_log_term: Term,
        leader_transfer: bool,
    },
    RequestVoteResponse {
        pre_vote: bool,
        granted: bool,
    },
    /// Replicate `entries` after (`prev_log_index`, `prev_log_term`).
    AppendEntries {
        prev_log_index: Index,
        prev_log_term: Term,
        entries: Vec<Entry>,
        leader_commit: Index,
    },
    /// `Ok` acknowledges everything up to `match_index` (the last index carried by the append);
    /// `Err` carries the repair hint for the rejected `rejected_index` (the append's prev_log_index).
    AppendEntriesResponse {
        result: Result<Index, (Index, RejectHint)>,
    },
    /// Leader liveness and commit propagation; `commit` is min(leader commit, follower match).
    /// `read_context` ties the heartbeat round to pending ReadIndex requests (0 for none).
    Heartbeat {
        commit: Index,
        read_context: u64,
    },
    HeartbeatResponse {
        read_context: u64,
    },
    /// A whole snapshot; the transport may split it into bounded chunks on the wire.
    /// The follower answers with an `AppendEntriesResponse` acknowledging the snapshot's index.
    InstallSnapshot {
        snapshot: Snapshot,
    },
    /// Leader transfer: the receiver starts an election at once, skipping pre-vote.
    TimeoutNow,
    /// A follower forwarding client proposals to the leader.
    Propose {
        entries: Vec<EntryPayload>,
    },
    /// A follower forwarding a ReadIndex request to the leader.
    ReadIndex {
        context: u64,
    },
    /// The leader's answer: reads for `context` may be served once `index` is applied.
    ReadIndexResponse {
        context: u64,
        index: Index,
    },
}

/// The role a member plays now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

/// State that is useful to know but never persisted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftState {
    pub leader: Option<NodeId>,
    pub role: Role,
}

/// A confirmed linearizable read point: reads registered with `context` see every write committed
/// before the request once the state machine has applied `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadState {
    pub context: u64,
    pub index: Index,
}
