//! The Raft node: roles, the step function per role, and the Ready batch through which every effect
//! leaves. Pure and deterministic: the only inputs are `tick`, `step`, the proposal calls and the
//! caller's acknowledgements (`on_persisted`, `compact`, `report_*`).

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::confchange;
use crate::config::{Config, PlantedBug};
use crate::coverage::{Coverage, Rule};
use crate::log::RaftLog;
use crate::progress::{Progress, ProgressState, ProgressView};
use crate::quorum::{self, VoteResult};
use crate::read_only::ReadOnly;
use crate::restore::{self, RestoreState, StartError, Validated};
use crate::types::*;

/// Bound of each outgoing message queue between two `ready()` calls. A caller that stops draining
/// Ready loses messages beyond it, exactly like a lossy network (Raft tolerates that).
pub const MAX_PENDING_MESSAGES: usize = 64 * 1024;
/// Indexes at or beyond this are treated as garbage (no log grows that long; keeps arithmetic safe).
const MAX_PLAUSIBLE_INDEX: Index = Index::MAX / 4;
/// Bound of ReadIndex requests held until the leader has committed an entry of its term.
pub const MAX_READS_WAITING_FOR_COMMIT: usize = 4096;

/// Why a proposal (or a read, or a transfer) was refused. Nothing refused is ever silently lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposeError {
    /// No leader is known: retry later.
    NoLeader,
    /// The call only makes sense on the leader.
    NotLeader,
    /// A leader transfer is under way; proposals are paused until it ends.
    TransferInProgress,
    /// The leader's uncommitted tail is at its bound.
    UncommittedTailFull,
    /// A configuration change is still uncommitted; one at a time.
    ConfChangePending,
    InvalidConfChange(String),
    /// Too many reads are waiting for confirmation.
    ReadQueueFull,
    /// Leader transfer target is not a voter of the current configuration.
    InvalidTransferTarget(NodeId),
    /// This node is no longer a member of the configuration.
    Removed,
}

impl fmt::Display for ProposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProposeError::NoLeader => f.write_str("no leader is known"),
            ProposeError::NotLeader => f.write_str("this node is not the leader"),
            ProposeError::TransferInProgress => f.write_str("leader transfer in progress"),
            ProposeError::UncommittedTailFull => f.write_str("too many uncommitted entries"),
            ProposeError::ConfChangePending => f.write_str("a configuration change is already pending"),
            ProposeError::InvalidConfChange(why) => write!(f, "invalid configuration change: {why}"),
            ProposeError::ReadQueueFull => f.write_str("too many pending read requests"),
            ProposeError::InvalidTransferTarget(id) => {
                write!(f, "cannot transfer leadership to {id:x}: not a voter")
            }
            ProposeError::Removed => f.write_str("this member has been removed from the cluster"),
        }
    }
}

impl std::error::Error for ProposeError {}

/// Everything the node produced since the last `ready()`; see the crate docs for the contract.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// Some when the leader or the role changed.
    pub soft_state: Option<SoftState>,
    /// Some when it changed: persist it.
    pub hard_state: Option<HardState>,
    /// Received from the leader: persist it, restore the state machine from it.
    pub snapshot: Option<Snapshot>,
    /// Persist; if `entries[0].index` <= the last persisted index, truncate the stored log from there.
    pub entries: Vec<Entry>,
    /// May be sent at once.
    pub messages: Vec<Message>,
    /// Send only after this Ready's hard state, snapshot and entries are durable.
    pub messages_after_persist: Vec<Message>,
    /// Apply in order before calling ready() again; only entries <= the locally persisted index.
    pub committed_entries: Vec<Entry>,
    pub read_states: Vec<ReadState>,
}

impl Ready {
    /// The (index, term) to pass to `on_persisted` once this Ready's entries and snapshot are durable.
    pub fn persisted_point(&self) -> Option<(Index, Term)> {
        if let Some(last) = self.entries.last() {
            return Some((last.index, last.term));
        }
        self.snapshot.as_ref().map(|snapshot| (snapshot.meta.index, snapshot.meta.term))
    }
}

/// What the core dropped instead of carrying out, counted so that nothing is lost silently. Every
/// counter only grows during one `Raft`'s life (a restart starts from zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RaftStats {
    /// Outgoing messages dropped because an outbox held `MAX_PENDING_MESSAGES` (the caller did not
    /// drain Ready in time): the same effect as a lossy network.
    pub dropped_messages: u64,
    /// Proposals forwarded to this node that it dropped: it is not the leader (the sender's view is
    /// stale), or as leader it refused them (transfer under way, uncommitted tail full, ...).
    pub dropped_proposals: u64,
    /// ReadIndex requests dropped: forwarded to a non-leader, refused by a full read queue, or still
    /// pending when this node stopped being leader. The client times out and retries.
    pub dropped_reads: u64,
    /// Messages ignored because no correct peer sends them: addressed to another node, from node 0 or
    /// ourselves, without a term, with gaps or terms from the future, contradicting committed entries,
    /// or acknowledging entries we never had.
    pub malformed_messages: u64,
    /// Responses and forwards ignored because their sender is not in our configuration.
    pub non_member_messages: u64,
}

pub struct Raft {
    config: Config,
    term: Term,
    vote: Option<NodeId>,
    role: Role,
    leader: Option<NodeId>,
    log: RaftLog,

    /// The configuration in force: `base_conf` (as of `base_conf_index`, a snapshot point) plus every
    /// configuration-change entry in the log after it (changes take effect when appended).
    conf: ConfState,
    base_conf: ConfState,
    base_conf_index: Index,
    /// Index of the newest configuration-change entry in the log (0 when none after the base).
    latest_conf_index: Index,

    /// Leader only: every member's replication progress (including our own).
    progress: BTreeMap<NodeId, Progress>,
    /// Candidate / pre-candidate only: answers received in this election.
    votes: BTreeMap<NodeId, bool>,

    messages: Vec<Message>,
    messages_after_persist: Vec<Message>,
    read_states: Vec<ReadState>,

    /// Ticks since we last heard from a leader (followers), or since the last quorum check (leader).
    election_elapsed_ticks: u32,
    heartbeat_elapsed_ticks: u32,
    randomized_election_timeout_ticks: u32,
    rng: ChaCha8Rng,

    transferee: Option<NodeId>,
    uncommitted_bytes: usize,
    read_only: ReadOnly,
    reads_waiting_for_commit: Vec<(u64, NodeId)>,

    /// The newest snapshot we have (made locally or received), kept to send to lagging followers.
    snapshot: Option<Snapshot>,
    /// A snapshot received from the leader that the caller has not been given yet.
    pending_snapshot: Option<Snapshot>,

    /// Leader: new entries to send / a commit advance to announce at the next `ready()`. Deferring
    /// the broadcast batches many proposals into one append per follower.
    append_pending: bool,
    commit_pending: bool,

    previous_soft_state: SoftState,
    previous_hard_state: HardState,
    stats: RaftStats,
    /// How often each rule and branch was taken (tests and the simulator read it).
    coverage: Coverage,
}

impl Raft {
    pub fn new(config: Config, restore: RestoreState) -> Result<Raft, StartError> {
        config.validate().map_err(StartError::InvalidConfig)?;
        let Validated { hard_state, snapshot, entries, base_conf, offset, offset_term, committed, applied } =
            restore::validate(restore)?;
        let log = RaftLog::new(offset, offset_term, entries, committed, applied);
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let randomized_election_timeout_ticks =
            random_election_timeout_ticks(&mut rng, config.election_ticks);
        let previous_hard_state = HardState { commit: committed, ..hard_state };
        let mut raft = Raft {
            term: hard_state.term,
            vote: hard_state.vote,
            role: Role::Follower,
            leader: None,
            log,
            conf: base_conf.clone(),
            base_conf,
            base_conf_index: offset,
            latest_conf_index: 0,
            progress: BTreeMap::new(),
            votes: BTreeMap::new(),
            messages: Vec::new(),
            messages_after_persist: Vec::new(),
            read_states: Vec::new(),
            election_elapsed_ticks: 0,
            heartbeat_elapsed_ticks: 0,
            randomized_election_timeout_ticks,
            rng,
            transferee: None,
            uncommitted_bytes: 0,
            read_only: ReadOnly::default(),
            reads_waiting_for_commit: Vec::new(),
            snapshot,
            pending_snapshot: None,
            append_pending: false,
            commit_pending: false,
            previous_soft_state: SoftState { leader: None, role: Role::Follower },
            previous_hard_state,
            stats: RaftStats::default(),
            coverage: Coverage::default(),
            config,
        };
        let fresh = raft.snapshot.is_none()
            && raft.log.last_index() == 0
            && hard_state == HardState::default()
            && !raft.base_conf.voters.is_empty();
        if fresh {
            raft.bootstrap();
        }
        raft.recompute_conf();
        Ok(raft)
    }

    /// A brand-new member of a brand-new cluster writes the initial membership into its log, like
    /// etcd: one change per member at term 1, committed by construction (every initial member writes
    /// the same entries). The log then describes the whole membership history, so a member that joins
    /// later and replays the log from index 1 (starting from an empty configuration) learns the right
    /// configuration instead of guessing it. The first election is then in term 2, as in etcd.
    fn bootstrap(&mut self) {
        let initial = std::mem::take(&mut self.base_conf);
        let changes = initial
            .voters
            .iter()
            .map(|&node_id| ConfChangeSingle { kind: ConfChangeKind::AddVoter, node_id })
            .chain(
                initial
                    .learners
                    .iter()
                    .map(|&node_id| ConfChangeSingle { kind: ConfChangeKind::AddLearner, node_id }),
            );
        for (index, single) in (1..).zip(changes) {
            let change = ConfChange { changes: vec![single], ..ConfChange::default() };
            self.log.push(Entry { term: 1, index, payload: EntryPayload::ConfChange(change) });
        }
        self.set_term_and_vote(1, None);
        let last = self.log.last_index();
        self.log.commit_to(last);
        // Everything is new: it all goes out in the first Ready to be persisted.
        debug_assert!(self.log.persisted() == 0 && self.log.has_unstable());
    }

    // ----------------------------------------------------------------------------------------------
    // Accessors.

    pub fn id(&self) -> NodeId {
        self.config.id
    }
    pub fn term(&self) -> Term {
        self.term
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    pub fn vote(&self) -> Option<NodeId> {
        self.vote
    }
    pub fn commit_index(&self) -> Index {
        self.log.committed()
    }
    pub fn last_index(&self) -> Index {
        self.log.last_index()
    }
    pub fn last_term(&self) -> Term {
        self.log.last_term()
    }
    pub fn first_index(&self) -> Index {
        self.log.first_index()
    }
    /// The highest index handed to the application (committed entries or snapshot).
    pub fn applied_index(&self) -> Index {
        self.log.applied()
    }
    /// The highest index the caller reported durable.
    pub fn persisted_index(&self) -> Index {
        self.log.persisted()
    }
    pub fn hard_state(&self) -> HardState {
        HardState { term: self.term, vote: self.vote, commit: self.log.committed() }
    }
    pub fn soft_state(&self) -> SoftState {
        SoftState { leader: self.leader, role: self.role }
    }
    pub fn conf_state(&self) -> &ConfState {
        &self.conf
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// The newest snapshot this node holds, if any.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }
    /// The term of the entry at `index`, when it is in the log or is the compaction point.
    pub fn term_at(&self, index: Index) -> Option<Term> {
        self.log.term(index)
    }
    /// Entries [from, to_inclusive], or None when part of the range is compacted or beyond the end.
    pub fn log_entries(&self, from: Index, to_inclusive: Index) -> Option<Vec<Entry>> {
        if from < self.log.first_index() || to_inclusive > self.log.last_index() {
            return None;
        }
        Some(self.log.slice(from, to_inclusive).to_vec())
    }
    /// Leader only: a member's replication progress.
    pub fn progress(&self, id: NodeId) -> Option<ProgressView> {
        if self.role != Role::Leader {
            return None;
        }
        self.progress.get(&id).map(Progress::view)
    }
    /// Whether a configuration change is appended but not committed yet.
    pub fn pending_conf_change(&self) -> bool {
        self.latest_conf_index > self.log.committed()
    }
    /// What the core dropped so far (messages, forwarded proposals and reads, malformed input).
    pub fn stats(&self) -> RaftStats {
        self.stats
    }
    /// How often each rule and branch of the protocol was taken since this node started.
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }
    /// The leader transfer under way, if any.
    pub fn transferee(&self) -> Option<NodeId> {
        self.transferee
    }
    /// The configuration as of `index` (for the application's snapshot metadata), when the log still
    /// holds everything needed to compute it (index >= the last snapshot point, <= last index).
    pub fn conf_state_at(&self, index: Index) -> Option<ConfState> {
        if index < self.base_conf_index || index > self.log.last_index() {
            return None;
        }
        let mut conf = self.base_conf.clone();
        if index > self.base_conf_index {
            for entry in self.log.slice(self.base_conf_index + 1, index) {
                if let EntryPayload::ConfChange(change) = &entry.payload
                    && let Ok(next) = confchange::apply(&conf, change)
                {
                    conf = next;
                }
            }
        }
        Some(conf)
    }

    /// Whether this node may campaign: it is a voter of its latest configuration, or of the last
    /// committed one while a change removing it is still uncommitted. The thesis (4.2.2, Figure 4.6):
    /// a server outside its own latest configuration may still be needed for elections until that
    /// configuration commits; e.g. a leader that appended its own removal and lost leadership before
    /// committing it may hold the only up-to-date log a quorum of the old configuration would vote for.
    fn promotable(&self) -> bool {
        let id = self.id();
        if self.conf.is_voter(id) {
            return true;
        }
        self.pending_conf_change()
            && self.conf_state_at(self.log.committed()).is_some_and(|committed| committed.is_voter(id))
    }

    // ----------------------------------------------------------------------------------------------
    // Time.

    pub fn tick(&mut self) {
        match self.role {
            Role::Leader => self.tick_leader(),
            _ => self.tick_election(),
        }
    }

    fn tick_election(&mut self) {
        self.election_elapsed_ticks = self.election_elapsed_ticks.saturating_add(1);
        if self.election_elapsed_ticks < self.randomized_election_timeout_ticks {
            return;
        }
        if self.promotable() {
            self.coverage.hit(Rule::ElectionTimeout);
            self.election_elapsed_ticks = 0;
            self.start_election(false);
        } else if self.election_elapsed_ticks == self.randomized_election_timeout_ticks {
            self.coverage.hit(Rule::ElectionTimeoutNotVoter);
        }
    }

    fn tick_leader(&mut self) {
        self.heartbeat_elapsed_ticks += 1;
        self.election_elapsed_ticks += 1;
        if self.election_elapsed_ticks >= self.config.election_ticks {
            self.election_elapsed_ticks = 0;
            if self.config.check_quorum && !self.quorum_recently_active() {
                // Partitioned from a quorum for an election timeout: stop accepting writes that can
                // never commit, and let the majority side elect.
                self.coverage.hit(Rule::LeaderSteppedDownCheckQuorum);
                let term = self.term;
                self.become_follower(term, None);
                return;
            }
            if self.transferee.is_some() {
                // The target did not take over within an election timeout: give up, accept proposals.
                self.coverage.hit(Rule::TransferAbortedTimeout);
                self.transferee = None;
            }
        }
        let snapshot_retry_ticks = 2 * self.config.election_ticks;
        let mut retry_snapshot = false;
        for progress in self.progress.values_mut() {
            if progress.state == ProgressState::Snapshot {
                progress.snapshot_ticks += 1;
                if progress.snapshot_ticks >= snapshot_retry_ticks {
                    // Neither an answer nor a report: assume the snapshot was lost and probe again.
                    progress.become_probe();
                    retry_snapshot = true;
                }
            }
        }
        if retry_snapshot {
            self.coverage.hit(Rule::SnapshotRetriedAfterSilence);
            self.append_pending = true;
        }
        if self.heartbeat_elapsed_ticks >= self.config.heartbeat_ticks {
            self.heartbeat_elapsed_ticks = 0;
            let round = self.read_only.latest_round();
            self.broadcast_heartbeat(round);
        }
    }

    fn quorum_recently_active(&mut self) -> bool {
        let id = self.id();
        let result = quorum::joint_vote(&self.conf, |member| {
            if member == id {
                return Some(true);
            }
            Some(self.progress.get(&member).is_some_and(|progress| progress.recent_active))
        });
        for (&member, progress) in self.progress.iter_mut() {
            if member != id {
                progress.recent_active = false;
            }
        }
        result == VoteResult::Won
    }

    // ----------------------------------------------------------------------------------------------
    // Role changes.

    fn reset(&mut self, term: Term) {
        if term != self.term {
            self.set_term_and_vote(term, None);
        }
        self.leader = None;
        self.election_elapsed_ticks = 0;
        self.heartbeat_elapsed_ticks = 0;
        self.randomized_election_timeout_ticks =
            random_election_timeout_ticks(&mut self.rng, self.config.election_ticks);
        self.transferee = None;
        self.votes.clear();
        self.progress.clear();
        let pending_reads = self.read_only.len() + self.reads_waiting_for_commit.len();
        if pending_reads > 0 {
            self.coverage.hit(Rule::ReadsDroppedOnRoleChange);
        }
        self.stats.dropped_reads += pending_reads as u64;
        self.read_only.clear();
        self.reads_waiting_for_commit.clear();
        self.uncommitted_bytes = 0;
        self.append_pending = false;
        self.commit_pending = false;
    }

    /// The one place term and vote change. One vote per term: the term never decreases, a new term
    /// starts without a vote, and within a term the vote may only be cast when unset or repeated.
    fn set_term_and_vote(&mut self, term: Term, vote: Option<NodeId>) {
        assert!(term >= self.term, "term must never decrease ({} -> {term})", self.term);
        if term > self.term {
            assert!(vote.is_none(), "a new term {term} starts without a vote");
        } else {
            let unset_or_same = self.vote.is_none() || self.vote == vote;
            assert!(
                unset_or_same || self.config.bug(PlantedBug::DoubleVote),
                "second vote in term {term}: {:?} after {:?}",
                vote,
                self.vote
            );
        }
        self.term = term;
        self.vote = vote;
    }

    fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        self.reset(term);
        self.role = Role::Follower;
        self.leader = leader;
    }

    fn become_pre_candidate(&mut self) {
        assert_ne!(self.role, Role::Leader, "a leader never pre-campaigns");
        // Neither the term nor the vote change. The known leader IS forgotten: otherwise, with
        // check-quorum, this node would keep refusing others' pre-votes (leader stickiness) while
        // itself being unable to win, and the cluster could stall (etcd-io/etcd#8334).
        self.votes.clear();
        self.leader = None;
        self.role = Role::PreCandidate;
        self.coverage.hit(Rule::PreVoteStarted);
        self.election_elapsed_ticks = 0;
        self.randomized_election_timeout_ticks =
            random_election_timeout_ticks(&mut self.rng, self.config.election_ticks);
    }

    fn become_candidate(&mut self) {
        assert_ne!(self.role, Role::Leader, "a leader never campaigns");
        let term = self.term + 1;
        self.reset(term);
        self.set_term_and_vote(term, Some(self.id()));
        self.role = Role::Candidate;
        self.coverage.hit(Rule::ElectionStarted);
    }

    fn become_leader(&mut self) {
        assert_ne!(self.role, Role::Follower, "only a candidate becomes leader");
        self.coverage.hit(Rule::ElectionWon);
        if self.conf.is_joint() {
            self.coverage.hit(Rule::ElectionWonJoint);
        }
        let term = self.term;
        self.reset(term);
        self.role = Role::Leader;
        self.leader = Some(self.id());
        self.sync_progress();
        let id = self.id();
        let persisted = self.log.persisted();
        if let Some(own) = self.progress.get_mut(&id) {
            own.maybe_update(persisted);
            own.become_replicate();
        }
        // Raft §5.4.2 / thesis §6.4: an entry of our own term lets us commit the log we inherited.
        self.append_payloads(vec![EntryPayload::Empty]);
    }

    /// Brings the progress map in line with the configuration (leader only).
    fn sync_progress(&mut self) {
        // A new member starts probing at our last entry (not after it), so the first probe carries an
        // entry and goes out with the next broadcast instead of waiting for a heartbeat.
        let next = self.log.last_index().max(1);
        let (max_inflight_messages, max_inflight_bytes) =
            (self.config.max_inflight_messages, self.config.max_inflight_bytes);
        let members = self.conf.all_members();
        self.progress.retain(|member, _| members.contains(member));
        for member in members {
            let is_learner = !self.conf.is_voter(member);
            self.progress
                .entry(member)
                .and_modify(|progress| progress.is_learner = is_learner)
                .or_insert_with(|| {
                    Progress::new(next, max_inflight_messages, max_inflight_bytes, is_learner)
                });
        }
    }

    // ----------------------------------------------------------------------------------------------
    // Elections.

    /// Start an election now (pre-vote first when configured). Ignored by leaders and non-voters.
    pub fn campaign(&mut self) {
        self.start_election(false);
    }

    fn start_election(&mut self, leader_transfer: bool) {
        if self.role == Role::Leader || !self.promotable() {
            return;
        }
        if !self.conf.is_voter(self.id()) {
            self.coverage.hit(Rule::CampaignWhileRemovalPending);
        }
        if self.config.pre_vote && !leader_transfer {
            self.become_pre_candidate();
            self.campaign_round(true, false);
        } else {
            self.become_candidate();
            self.campaign_round(false, leader_transfer);
        }
    }

    fn campaign_round(&mut self, pre_vote: bool, leader_transfer: bool) {
        let id = self.id();
        self.votes.insert(id, true);
        if self.tally() == VoteResult::Won {
            // A single-voter configuration wins at once.
            if pre_vote {
                self.become_candidate();
                self.campaign_round(false, leader_transfer);
            } else {
                self.coverage.hit(Rule::ElectionWonAlone);
                self.become_leader();
            }
            return;
        }
        let vote_term = if pre_vote { self.term + 1 } else { self.term };
        let (last_log_index, last_log_term) = (self.log.last_index(), self.log.last_term());
        let voters: Vec<NodeId> = self
            .conf
            .voters
            .union(&self.conf.voters_outgoing)
            .copied()
            .filter(|&voter| voter != id)
            .collect();
        for voter in voters {
            self.send_with_term(
                voter,
                vote_term,
                MessageBody::RequestVote { pre_vote, last_log_index, last_log_term, leader_transfer },
            );
        }
    }

    fn tally(&self) -> VoteResult {
        quorum::joint_vote(&self.conf, |voter| self.votes.get(&voter).copied())
    }

    fn handle_vote_request(&mut self, message: &Message, pre_vote: bool, last_index: Index, last_term: Term) {
        let from = message.from;
        let double_vote = !pre_vote && self.config.bug(PlantedBug::DoubleVote);
        let can_vote = self.vote == Some(from)
            || (self.vote.is_none() && self.leader.is_none())
            || (pre_vote && message.term > self.term)
            || double_vote;
        let up_to_date = self.log.is_up_to_date(last_index, last_term);
        self.count_vote_decision(pre_vote, can_vote, up_to_date);
        if can_vote && up_to_date {
            // A granted pre-vote answers in the term it was asked for, so the pre-candidate counts it.
            self.send_with_term(
                from,
                message.term,
                MessageBody::RequestVoteResponse { pre_vote, granted: true },
            );
            if !pre_vote {
                self.election_elapsed_ticks = 0;
                let term = self.term;
                self.set_term_and_vote(term, Some(from));
            }
        } else {
            let term = self.term;
            self.send_with_term(from, term, MessageBody::RequestVoteResponse { pre_vote, granted: false });
        }
    }

    /// Counts how a vote request was decided: granted, or refused and why.
    fn count_vote_decision(&mut self, pre_vote: bool, can_vote: bool, up_to_date: bool) {
        let rule = match (pre_vote, can_vote, up_to_date) {
            (false, true, true) => Rule::VoteGranted,
            (true, true, true) => Rule::PreVoteGranted,
            (false, false, _) => Rule::VoteRefusedVotedOrLed,
            (true, false, _) => Rule::PreVoteRefusedVotedOrLed,
            (false, true, false) => Rule::VoteRefusedLogBehind,
            (true, true, false) => Rule::PreVoteRefusedLogBehind,
        };
        self.coverage.hit(rule);
    }

    // ----------------------------------------------------------------------------------------------
    // Step.

    /// Feed one message received from a peer. Never panics on any content: messages for other nodes,
    /// from unknown senders, with stale terms or impossible indexes are dropped (or answered so the
    /// sender learns our term).
    pub fn step(&mut self, message: Message) {
        if !self.accepts(&message) {
            return;
        }
        if message.term == 0 {
            // Only forwarded requests are term-less.
            if !matches!(message.body, MessageBody::Propose { .. } | MessageBody::ReadIndex { .. }) {
                self.count_malformed();
                return;
            }
        } else if message.term > self.term {
            if !self.on_higher_term(&message) {
                return;
            }
        } else if message.term < self.term {
            self.answer_stale_term(&message);
            return;
        }

        if let MessageBody::RequestVote { pre_vote, last_log_index, last_log_term, .. } = message.body {
            self.handle_vote_request(&message, pre_vote, last_log_index, last_log_term);
            return;
        }
        match self.role {
            Role::Follower => self.step_follower(message),
            Role::PreCandidate | Role::Candidate => self.step_candidate(message),
            Role::Leader => self.step_leader(message),
        }
    }

    /// Whether `message` is addressed to us by someone we listen to; the others are counted.
    fn accepts(&mut self, message: &Message) -> bool {
        let id = self.id();
        if message.to != id || message.from == 0 || message.from == id {
            self.count_malformed();
            return false;
        }
        let from_leader = matches!(
            message.body,
            MessageBody::AppendEntries { .. }
                | MessageBody::Heartbeat { .. }
                | MessageBody::InstallSnapshot { .. }
                | MessageBody::TimeoutNow
                | MessageBody::ReadIndexResponse { .. }
        );
        // Requests are processed without consulting our configuration (Raft thesis §4.2.1): a leader
        // or a candidate may be a member of a newer configuration we have not seen yet (we may have
        // been partitioned while it was added, or be joining). Refusing its vote requests can leave a
        // newer configuration unable to elect anyone. Responses and forwards from non-members are
        // dropped so they never enter our counts; removed members are kept out before `step` (the
        // node drops their messages and the transport refuses them).
        let vote_request = matches!(message.body, MessageBody::RequestVote { .. });
        if !from_leader && !vote_request && !self.conf.contains(message.from) {
            self.stats.non_member_messages += 1;
            self.coverage.hit(Rule::NonMemberMessage);
            return false;
        }
        true
    }

    /// A message from a newer term: usually we move to that term as a follower (of the sender, when
    /// it is a leader). Returns false when the message is to be ignored (leader stickiness).
    fn on_higher_term(&mut self, message: &Message) -> bool {
        if let MessageBody::RequestVote { leader_transfer, pre_vote, .. } = message.body {
            let in_lease = self.config.check_quorum
                && self.leader.is_some()
                && self.election_elapsed_ticks < self.config.election_ticks;
            if in_lease && leader_transfer {
                self.coverage.hit(Rule::LeaseBypassedByTransfer);
            }
            if in_lease && !leader_transfer {
                // Leader stickiness: we heard from a live leader within the minimum election
                // timeout, so this candidate is disruptive (e.g. a rejoining partitioned node).
                let rule = if pre_vote { Rule::PreVoteIgnoredInLease } else { Rule::VoteIgnoredInLease };
                self.coverage.hit(rule);
                return false;
            }
        }
        // Pre-votes are asked in a future term without moving to it; a granted pre-vote answers in
        // that future term.
        let keeps_term = matches!(
            message.body,
            MessageBody::RequestVote { pre_vote: true, .. }
                | MessageBody::RequestVoteResponse { pre_vote: true, granted: true }
        );
        let is_response = matches!(
            message.body,
            MessageBody::RequestVoteResponse { .. }
                | MessageBody::AppendEntriesResponse { .. }
                | MessageBody::HeartbeatResponse { .. }
        );
        if keeps_term || (is_response && self.config.bug(PlantedBug::NoStepDownOnHigherTerm)) {
            return true;
        }
        let leader = matches!(
            message.body,
            MessageBody::AppendEntries { .. }
                | MessageBody::Heartbeat { .. }
                | MessageBody::InstallSnapshot { .. }
        )
        .then_some(message.from);
        self.coverage.hit(Rule::TermAdopted);
        if self.role == Role::Leader {
            self.coverage.hit(Rule::LeaderDeposedByHigherTerm);
        }
        self.become_follower(message.term, leader);
        true
    }

    /// A message from an older term is not acted on; a stale leader or pre-candidate is told our term.
    fn answer_stale_term(&mut self, message: &Message) {
        match message.body {
            MessageBody::AppendEntries { .. } | MessageBody::Heartbeat { .. } => {
                // A stale leader (e.g. healed from a partition) learns our term from the answer
                // (Raft §5.1); with pre-vote/check-quorum nothing else would tell it. Ok(0)
                // acknowledges nothing.
                self.coverage.hit(Rule::AppendRejectedStaleTerm);
                self.send(message.from, MessageBody::AppendEntriesResponse { result: Ok(0) });
            }
            MessageBody::RequestVote { pre_vote: true, .. } => {
                self.coverage.hit(Rule::PreVoteRefusedStaleTerm);
                let term = self.term;
                self.send_with_term(
                    message.from,
                    term,
                    MessageBody::RequestVoteResponse { pre_vote: true, granted: false },
                );
            }
            _ => self.coverage.hit(Rule::StaleMessageIgnored),
        }
    }

    fn step_follower(&mut self, message: Message) {
        let from = message.from;
        match message.body {
            MessageBody::AppendEntries { prev_log_index, prev_log_term, entries, leader_commit } => {
                self.election_elapsed_ticks = 0;
                self.leader = Some(from);
                self.handle_append(from, message.term, prev_log_index, prev_log_term, entries, leader_commit);
            }
            MessageBody::Heartbeat { commit, read_context } => {
                if !self.config.bug(PlantedBug::TimerIgnoresHeartbeats) {
                    self.election_elapsed_ticks = 0;
                }
                self.leader = Some(from);
                self.handle_heartbeat(from, commit, read_context);
            }
            MessageBody::InstallSnapshot { snapshot } => {
                self.election_elapsed_ticks = 0;
                self.leader = Some(from);
                self.handle_snapshot(from, message.term, snapshot);
            }
            MessageBody::TimeoutNow => {
                // The leader hands over: campaign at once, skipping pre-vote and stickiness.
                self.coverage.hit(Rule::TimeoutNowCampaign);
                self.start_election(true);
            }
            MessageBody::ReadIndexResponse { context, index } => {
                self.read_states.push(ReadState { context, index });
            }
            MessageBody::Propose { entries } => self.drop_forwarded_proposals(entries.len()),
            MessageBody::ReadIndex { .. } => self.drop_read(),
            // Responses to a role we no longer play are stale.
            _ => {}
        }
    }

    /// Proposals forwarded to a non-leader (the sender's view is stale) or refused by the leader are
    /// dropped: the forwarding follower already told its client "accepted for forwarding", and the
    /// client times out and retries.
    fn drop_forwarded_proposals(&mut self, count: usize) {
        self.stats.dropped_proposals += count as u64;
        self.coverage.hit(Rule::ForwardedProposalDropped);
    }

    /// A ReadIndex request this node cannot serve is dropped: the client times out and retries.
    fn drop_read(&mut self) {
        self.stats.dropped_reads += 1;
        self.coverage.hit(Rule::ReadIndexDropped);
    }

    /// A message no correct peer sends is dropped.
    fn count_malformed(&mut self) {
        self.stats.malformed_messages += 1;
        self.coverage.hit(Rule::MalformedMessage);
    }

    fn step_candidate(&mut self, message: Message) {
        let from = message.from;
        match message.body {
            MessageBody::AppendEntries { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::InstallSnapshot { .. } => {
                // A leader exists in our term (equal term: it won): follow it.
                self.coverage.hit(Rule::CandidateFoundLeader);
                let term = message.term;
                self.become_follower(term, Some(from));
                self.step_follower(message);
            }
            MessageBody::RequestVoteResponse { pre_vote, granted } => {
                let expected = if pre_vote { Role::PreCandidate } else { Role::Candidate };
                if self.role != expected || !self.conf.is_voter(from) {
                    return;
                }
                self.votes.insert(from, granted);
                match self.tally() {
                    VoteResult::Won => {
                        if pre_vote {
                            self.coverage.hit(Rule::PreVoteWon);
                            self.become_candidate();
                            self.campaign_round(false, false);
                        } else {
                            self.become_leader();
                        }
                    }
                    VoteResult::Lost => {
                        let rule = if pre_vote { Rule::PreVoteLost } else { Rule::ElectionLost };
                        self.coverage.hit(rule);
                        let term = self.term;
                        self.become_follower(term, None);
                    }
                    VoteResult::Pending => {}
                }
            }
            MessageBody::Propose { entries } => self.drop_forwarded_proposals(entries.len()),
            MessageBody::ReadIndex { .. } => self.drop_read(),
            _ => {}
        }
    }

    fn step_leader(&mut self, message: Message) {
        let from = message.from;
        match message.body {
            MessageBody::AppendEntriesResponse { result } => self.handle_append_response(from, result),
            MessageBody::HeartbeatResponse { read_context } => {
                self.handle_heartbeat_response(from, read_context)
            }
            MessageBody::Propose { entries } => self.accept_forwarded_proposals(entries),
            MessageBody::ReadIndex { context } => self.serve_read_or_drop(from, context),
            _ => {}
        }
    }

    /// Leader: proposals a follower forwarded; those refused are dropped and counted.
    fn accept_forwarded_proposals(&mut self, entries: Vec<EntryPayload>) {
        for payload in entries {
            if self.propose_payload(payload).is_err() {
                self.drop_forwarded_proposals(1);
            }
        }
    }

    /// Leader: a ReadIndex request (forwarded, or held until an entry of our term committed); a
    /// refused one is dropped and counted.
    fn serve_read_or_drop(&mut self, from: NodeId, context: u64) {
        if self.leader_read_index(from, context).is_err() {
            self.drop_read();
        }
    }

    // ----------------------------------------------------------------------------------------------
    // Follower side of replication.

    fn handle_append(
        &mut self,
        from: NodeId,
        message_term: Term,
        prev_log_index: Index,
        prev_log_term: Term,
        entries: Vec<Entry>,
        leader_commit: Index,
    ) {
        let committed = self.log.committed();
        if prev_log_index < committed {
            // Everything up to our commit index already matches any leader's log; say so, and let the
            // leader continue from there (this also covers appends older than an installed snapshot).
            self.coverage.hit(Rule::AppendBelowCommit);
            self.send(from, MessageBody::AppendEntriesResponse { result: Ok(committed) });
            return;
        }
        if prev_log_index > self.log.last_index() {
            // Our log is too short to hold the previous entry: ask the leader to back up.
            self.coverage.hit(Rule::AppendRejectedLogShort);
            self.reject_append(from, prev_log_index, prev_log_term);
            return;
        }
        if !append_is_well_formed(prev_log_index, prev_log_term, message_term, &entries) {
            self.count_malformed();
            return;
        }
        if !self.log.match_term(prev_log_index, prev_log_term) {
            self.coverage.hit(Rule::AppendRejectedLogMismatch);
            self.reject_append(from, prev_log_index, prev_log_term);
            return;
        }
        let last_new = prev_log_index + entries.len() as Index;
        if !self.store_appended(prev_log_index, &entries) {
            return;
        }
        self.log.commit_to(leader_commit.min(last_new));
        if self.log.committed() > committed {
            self.coverage.hit(Rule::FollowerCommitByAppend);
        }
        // Acknowledge only what this message carried: a longer suffix we hold may not match.
        self.send(from, MessageBody::AppendEntriesResponse { result: Ok(last_new) });
    }

    /// Writes an append's entries that follow `prev_log_index` (which matched) and are not in the log
    /// yet, truncating a conflicting uncommitted suffix first. Returns false (and writes nothing)
    /// when they contradict a committed entry.
    fn store_appended(&mut self, prev_log_index: Index, entries: &[Entry]) -> bool {
        let last_new = prev_log_index + entries.len() as Index;
        match self.log.find_conflict(entries) {
            Some(conflict) if conflict <= self.log.committed() => {
                // Contradicts a committed entry: impossible from a correct leader. Refuse rather than
                // corrupt the log.
                self.coverage.hit(Rule::AppendContradictsCommit);
                self.count_malformed();
                return false;
            }
            Some(conflict) => {
                self.coverage.hit(Rule::AppendAccepted);
                if conflict <= self.log.last_index() {
                    self.coverage.hit(Rule::AppendTruncatedConflict);
                }
                let start = (conflict - prev_log_index - 1) as usize;
                self.append_from_leader(&entries[start..]);
            }
            None => {
                // Duplicate or stale append: everything is already here. Never truncate (a later,
                // longer append may already have extended the log past this one).
                if !entries.is_empty() {
                    self.coverage.hit(Rule::AppendDuplicate);
                }
                if self.config.bug(PlantedBug::TruncateOnStaleAppend) {
                    self.planted_truncate_after(last_new);
                }
            }
        }
        true
    }

    /// Refuses an append whose previous entry we do not hold, with a hint where the leader may retry:
    /// the largest index <= min(prev_log_index, our last index) whose term is <= prev_log_term.
    fn reject_append(&mut self, to: NodeId, prev_log_index: Index, prev_log_term: Term) {
        let probe_from = prev_log_index.min(self.log.last_index());
        let (hint_index, hint_term) = self.log.find_conflict_by_term(probe_from, prev_log_term);
        let hint = RejectHint { hint_index, hint_term };
        self.send(to, MessageBody::AppendEntriesResponse { result: Err((prev_log_index, hint)) });
    }

    /// Planted bug `TruncateOnStaleAppend`: drops the suffix after a stale append's last entry.
    fn planted_truncate_after(&mut self, last_new: Index) {
        if self.log.last_index() > last_new && last_new >= self.log.committed() {
            self.log.truncate_from(last_new + 1);
            if self.latest_conf_index > last_new {
                self.recompute_conf();
            }
        }
    }

    /// Appends entries from the leader (truncating a conflicting suffix first) and brings the
    /// configuration in line: truncated configuration changes revert, appended ones take effect.
    fn append_from_leader(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else { return };
        let truncates_conf = first.index <= self.log.last_index() && self.latest_conf_index >= first.index;
        self.log.append(entries);
        if truncates_conf {
            self.coverage.hit(Rule::ConfRevertedByTruncation);
            self.recompute_conf();
        } else {
            for entry in entries {
                if let EntryPayload::ConfChange(change) = &entry.payload {
                    self.apply_conf_entry(entry.index, change);
                }
            }
        }
    }

    fn handle_heartbeat(&mut self, from: NodeId, commit: Index, read_context: u64) {
        // The leader sends min(its commit, our match), so this never exceeds what we hold; clamp anyway.
        let commit = commit.min(self.log.last_index());
        if commit > self.log.committed() {
            self.coverage.hit(Rule::FollowerCommitByHeartbeat);
        }
        self.log.commit_to(commit);
        self.send(from, MessageBody::HeartbeatResponse { read_context });
    }

    fn handle_snapshot(&mut self, from: NodeId, message_term: Term, snapshot: Snapshot) {
        let (index, term) = (snapshot.meta.index, snapshot.meta.term);
        if term == 0
            || term > message_term
            || index >= MAX_PLAUSIBLE_INDEX
            || snapshot.meta.conf_state.voters.is_empty()
        {
            self.count_malformed();
            return;
        }
        let committed = self.log.committed();
        if index <= committed {
            // Stale: we already have everything it covers.
            self.coverage.hit(Rule::SnapshotStale);
            self.send(from, MessageBody::AppendEntriesResponse { result: Ok(committed) });
            return;
        }
        if self.log.match_term(index, term) {
            // We hold the entry the snapshot ends at: the log up to it is the leader's; just commit.
            self.coverage.hit(Rule::SnapshotFastForward);
            self.log.commit_to(index);
            self.send(from, MessageBody::AppendEntriesResponse { result: Ok(index) });
            return;
        }
        self.coverage.hit(Rule::SnapshotInstalled);
        if snapshot.meta.conf_state.is_joint() {
            self.coverage.hit(Rule::SnapshotInstalledJoint);
        }
        self.log.restore(index, term);
        self.base_conf = snapshot.meta.conf_state.clone();
        self.base_conf_index = index;
        self.conf = self.base_conf.clone();
        self.latest_conf_index = 0;
        self.snapshot = Some(snapshot.clone());
        self.pending_snapshot = Some(snapshot);
        self.send(from, MessageBody::AppendEntriesResponse { result: Ok(index) });
    }

    // ----------------------------------------------------------------------------------------------
    // Leader side of replication.

    fn handle_append_response(&mut self, from: NodeId, result: Result<Index, (Index, RejectHint)>) {
        let last_index = self.log.last_index();
        let Some(progress) = self.progress.get_mut(&from) else { return };
        progress.recent_active = true;
        match result {
            Err((rejected, hint)) => self.handle_append_refusal(from, rejected, hint),
            Ok(index) => {
                if index > last_index {
                    // Acknowledges entries we never had.
                    self.count_malformed();
                    return;
                }
                let was_paused = progress.is_paused();
                if !progress.maybe_update(index) {
                    return;
                }
                let rule = match progress.state {
                    ProgressState::Probe => {
                        progress.become_replicate();
                        Some(Rule::ProbeToReplicate)
                    }
                    ProgressState::Snapshot if progress.match_index() + 1 >= self.log.first_index() => {
                        progress.become_probe();
                        progress.become_replicate();
                        Some(Rule::SnapshotToReplicate)
                    }
                    ProgressState::Snapshot => None,
                    ProgressState::Replicate => {
                        progress.inflights.free_up_to(index);
                        None
                    }
                };
                let match_index = progress.match_index();
                if let Some(rule) = rule {
                    self.coverage.hit(rule);
                }
                if !self.maybe_commit() && was_paused {
                    // It was paused and may have missed commit news: tell it even with no entries.
                    self.coverage.hit(Rule::PausedFollowerToldCommit);
                    self.send_append(from, true);
                }
                if self.role != Role::Leader {
                    return; // the commit removed us
                }
                // Fill the window again (more entries may be waiting).
                while self.send_append(from, false) {}
                if self.transferee == Some(from) && match_index == self.log.last_index() {
                    self.coverage.hit(Rule::TransferTimeoutNowSent);
                    self.send(from, MessageBody::TimeoutNow);
                }
            }
        }
    }

    /// Leader: a follower refused an append at `rejected`: back its next index off (skipping whole
    /// terms it cannot have, by its hint) and probe again, unless the refusal is stale.
    fn handle_append_refusal(&mut self, from: NodeId, rejected: Index, hint: RejectHint) {
        let mut next_probe = hint.hint_index;
        if hint.hint_term > 0 {
            // Skip every entry of ours whose term the follower cannot have (fast repair).
            next_probe = self.log.find_conflict_by_term(hint.hint_index, hint.hint_term).0;
        }
        let skipped_term = next_probe < hint.hint_index;
        let Some(progress) = self.progress.get_mut(&from) else { return };
        if !progress.maybe_decrease_to(rejected, next_probe) {
            self.coverage.hit(Rule::AppendRefusalStale);
            return;
        }
        if progress.state == ProgressState::Replicate {
            progress.become_probe();
        }
        self.coverage.hit(Rule::AppendRefusalBackedOff);
        if skipped_term {
            self.coverage.hit(Rule::AppendRefusalSkippedTerm);
        }
        self.send_append(from, true);
    }

    fn handle_heartbeat_response(&mut self, from: NodeId, read_context: u64) {
        let last_index = self.log.last_index();
        let Some(progress) = self.progress.get_mut(&from) else { return };
        progress.recent_active = true;
        progress.probe_sent = false;
        if progress.state == ProgressState::Replicate && progress.inflights.full() {
            // Appends may have been lost: let one more through so a quiet cluster never stalls.
            progress.inflights.free_first_one();
            self.coverage.hit(Rule::InflightFreedByHeartbeat);
        }
        if progress.match_index() < last_index {
            self.send_append(from, true);
        }
        if read_context == 0 {
            return;
        }
        let confirmed = match self.read_only.acknowledge(read_context, from) {
            Some(acknowledged_by) => {
                quorum::joint_vote(&self.conf, |voter| acknowledged_by.contains(&voter).then_some(true))
            }
            None => return,
        };
        if confirmed == VoteResult::Won {
            self.coverage.hit(Rule::ReadIndexConfirmed);
            for read in self.read_only.release_through(read_context) {
                self.answer_read(read.from, read.context, read.index);
            }
        }
    }

    /// Sends the next append to `to` if flow control allows; returns whether a message left.
    fn send_append(&mut self, to: NodeId, send_if_empty: bool) -> bool {
        if to == self.id() {
            return false;
        }
        let last_index = self.log.last_index();
        let Some(progress) = self.progress.get_mut(&to) else { return false };
        if progress.is_paused() {
            return false;
        }
        progress.cap_next_index(last_index + 1);
        let prev_log_index = progress.next_index() - 1;
        let Some(prev_log_term) = self.log.term(prev_log_index) else {
            return self.send_snapshot(to);
        };
        let (entries, bytes) = self.log.entries_bounded(prev_log_index + 1, self.config.max_message_bytes);
        if entries.is_empty() && !send_if_empty {
            return false;
        }
        let entries = entries.to_vec();
        let count = entries.len();
        progress.sent_entries(prev_log_index + count as Index, count, bytes);
        let leader_commit = self.log.committed();
        self.send(to, MessageBody::AppendEntries { prev_log_index, prev_log_term, entries, leader_commit });
        count > 0
    }

    fn send_snapshot(&mut self, to: NodeId) -> bool {
        let Some(snapshot) = self.snapshot.clone() else {
            // Compacted without a snapshot cannot happen through the API; nothing to send.
            return false;
        };
        let Some(progress) = self.progress.get_mut(&to) else { return false };
        progress.become_snapshot(snapshot.meta.index);
        self.coverage.hit(Rule::SnapshotSent);
        self.send(to, MessageBody::InstallSnapshot { snapshot });
        true
    }

    fn broadcast_append(&mut self, send_if_empty: bool) {
        let peers: Vec<NodeId> = self.progress.keys().copied().collect();
        for peer in peers {
            // The first append also carries the commit index; then fill the window.
            if self.send_append(peer, send_if_empty) {
                while self.send_append(peer, false) {}
            }
        }
    }

    fn broadcast_heartbeat(&mut self, read_context: u64) {
        let id = self.id();
        let committed = self.log.committed();
        let targets: Vec<(NodeId, Index)> = self
            .progress
            .iter()
            .filter(|&(&peer, _)| peer != id)
            .map(|(&peer, progress)| (peer, progress.match_index().min(committed)))
            .collect();
        for (peer, commit) in targets {
            self.send(peer, MessageBody::Heartbeat { commit, read_context });
        }
    }

    /// Advances the commit index to what a quorum holds, counting only entries of the current term
    /// (Raft Figure 8). Returns whether it moved.
    fn maybe_commit(&mut self) -> bool {
        let quorum_index = quorum::joint_committed(&self.conf, |voter| {
            self.progress.get(&voter).map_or(0, |progress| progress.match_index())
        })
        .min(self.log.last_index());
        let old_commit = self.log.committed();
        if quorum_index <= old_commit {
            return false;
        }
        let of_current_term = self.log.term(quorum_index) == Some(self.term);
        if !of_current_term && !self.config.bug(PlantedBug::CommitOldTerm) {
            self.coverage.hit(Rule::CommitWaitedForOwnTerm);
            return false;
        }
        self.coverage.hit(Rule::LeaderCommitAdvanced);
        self.log.commit_to(quorum_index);
        self.on_commit_advanced(old_commit);
        true
    }

    fn on_commit_advanced(&mut self, old_commit: Index) {
        let committed = self.log.committed();
        let released_bytes: usize =
            self.log.slice(old_commit + 1, committed).iter().map(Entry::size_bytes).sum();
        self.uncommitted_bytes = self.uncommitted_bytes.saturating_sub(released_bytes);
        self.commit_pending = true;

        if self.log.term(committed) == Some(self.term) && !self.reads_waiting_for_commit.is_empty() {
            self.coverage.hit(Rule::ReadIndexReleasedAfterCommit);
            for (context, from) in std::mem::take(&mut self.reads_waiting_for_commit) {
                self.serve_read_or_drop(from, context);
            }
        }
        if self.pending_conf_change() {
            return;
        }
        if self.conf.is_joint() && self.conf.auto_leave {
            // The joint entry committed: leave C(old,new) for C(new) (thesis §4.3).
            if self.append_conf_change(ConfChange::default()).is_ok() {
                self.coverage.hit(Rule::JointLeaveAppended);
            }
            return;
        }
        if !self.conf.is_voter(self.id()) {
            // Our own removal committed: step down, the remaining voters elect a new leader.
            self.coverage.hit(Rule::RemovedLeaderSteppedDown);
            let term = self.term;
            self.become_follower(term, None);
        }
    }

    // ----------------------------------------------------------------------------------------------
    // Proposals.

    /// Propose a command. On a follower it is forwarded to the leader (no answer: watch the log).
    pub fn propose(&mut self, data: Bytes) -> Result<(), ProposeError> {
        self.propose_payload(EntryPayload::Normal(data))
    }

    /// Propose a membership change. At most one may be pending; an empty change leaves a joint config.
    pub fn propose_conf_change(&mut self, change: ConfChange) -> Result<(), ProposeError> {
        self.propose_payload(EntryPayload::ConfChange(change))
    }

    fn propose_payload(&mut self, payload: EntryPayload) -> Result<(), ProposeError> {
        if self.role != Role::Leader {
            let Some(leader) = self.leader else { return Err(ProposeError::NoLeader) };
            self.coverage.hit(Rule::ProposalForwarded);
            self.send_with_term(leader, 0, MessageBody::Propose { entries: vec![payload] });
            return Ok(());
        }
        if self.transferee.is_some() {
            self.coverage.hit(Rule::ProposalRefusedTransfer);
            return Err(ProposeError::TransferInProgress);
        }
        if !self.conf.contains(self.id()) {
            self.coverage.hit(Rule::ProposalRefusedRemoved);
            return Err(ProposeError::Removed);
        }
        match payload {
            EntryPayload::ConfChange(change) => self.append_conf_change(change),
            payload => {
                if !self.reserve_uncommitted(payload.size_bytes()) {
                    self.coverage.hit(Rule::ProposalRefusedTailFull);
                    return Err(ProposeError::UncommittedTailFull);
                }
                self.append_payloads(vec![payload]);
                Ok(())
            }
        }
    }

    fn append_conf_change(&mut self, change: ConfChange) -> Result<(), ProposeError> {
        if self.pending_conf_change() {
            self.coverage.hit(Rule::ConfChangeRefusedPending);
            return Err(ProposeError::ConfChangePending);
        }
        if change.changes.is_empty() && !self.conf.is_joint() {
            return Err(ProposeError::InvalidConfChange(
                "not in a joint configuration: nothing to leave".into(),
            ));
        }
        confchange::apply(&self.conf, &change).map_err(ProposeError::InvalidConfChange)?;
        let payload = EntryPayload::ConfChange(change);
        if !self.reserve_uncommitted(payload.size_bytes()) {
            self.coverage.hit(Rule::ProposalRefusedTailFull);
            return Err(ProposeError::UncommittedTailFull);
        }
        self.append_payloads(vec![payload]);
        Ok(())
    }

    fn reserve_uncommitted(&mut self, size_bytes: usize) -> bool {
        // A single entry larger than the bound is still accepted when nothing is outstanding, so an
        // oversized proposal cannot wedge the leader.
        if self.uncommitted_bytes > 0
            && self.uncommitted_bytes + size_bytes > self.config.max_uncommitted_bytes
        {
            return false;
        }
        self.uncommitted_bytes += size_bytes;
        true
    }

    /// Leader: appends new entries of the current term to its own log.
    fn append_payloads(&mut self, payloads: Vec<EntryPayload>) {
        debug_assert_eq!(self.role, Role::Leader);
        for payload in payloads {
            let index = self.log.last_index() + 1;
            let conf_change = match &payload {
                EntryPayload::ConfChange(change) => Some(change.clone()),
                _ => None,
            };
            self.log.push(Entry { term: self.term, index, payload });
            if let Some(change) = conf_change {
                self.apply_conf_entry(index, &change);
            }
        }
        self.append_pending = true;
    }

    // ----------------------------------------------------------------------------------------------
    // Configuration.

    /// A configuration-change entry was appended at `index`: it takes effect now (thesis §4.1).
    fn apply_conf_entry(&mut self, index: Index, change: &ConfChange) {
        self.latest_conf_index = index;
        // An invalid change is a no-op on every node alike (all apply the same entries in order).
        match confchange::apply(&self.conf, change) {
            Ok(next) => {
                self.coverage.hit(Rule::ConfChangeApplied);
                match (self.conf.is_joint(), next.is_joint()) {
                    (false, true) => self.coverage.hit(Rule::JointEntered),
                    (true, false) => self.coverage.hit(Rule::JointLeft),
                    _ => {}
                }
                self.conf = next;
            }
            Err(_) => self.coverage.hit(Rule::ConfChangeInvalidNoOp),
        }
        self.on_conf_changed();
    }

    /// Rebuilds the configuration from the base plus the log (after a truncation removed changes).
    fn recompute_conf(&mut self) {
        self.conf = self.base_conf.clone();
        self.latest_conf_index = 0;
        let (from, to) = (self.base_conf_index + 1, self.log.last_index());
        if from <= to {
            for entry in self.log.slice(from, to) {
                if let EntryPayload::ConfChange(change) = &entry.payload {
                    self.latest_conf_index = entry.index;
                    if let Ok(next) = confchange::apply(&self.conf, change) {
                        self.conf = next;
                    }
                }
            }
        }
        self.on_conf_changed();
    }

    fn on_conf_changed(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        self.sync_progress();
        if let Some(target) = self.transferee
            && !self.conf.voters.contains(&target)
        {
            // The transfer target was removed or demoted: abort, accept proposals again.
            self.coverage.hit(Rule::TransferAbortedTargetRemoved);
            self.transferee = None;
        }
        // The quorum changed: entries may now be committed (e.g. a voter was removed).
        if self.maybe_commit() {
            self.coverage.hit(Rule::CommitByQuorumChange);
            self.commit_pending = true;
        }
    }

    // ----------------------------------------------------------------------------------------------
    // Leader transfer, reads, reports.

    /// Hand leadership to `to` (a voter). Proposals are refused until it takes over or the transfer
    /// aborts after an election timeout.
    pub fn transfer_leader(&mut self, to: NodeId) -> Result<(), ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader);
        }
        if to == self.id() {
            self.transferee = None;
            return Ok(());
        }
        if !self.conf.voters.contains(&to) {
            return Err(ProposeError::InvalidTransferTarget(to));
        }
        if self.transferee == Some(to) {
            return Ok(());
        }
        self.transferee = Some(to);
        self.coverage.hit(Rule::TransferStarted);
        self.election_elapsed_ticks = 0;
        let caught_up =
            self.progress.get(&to).is_some_and(|progress| progress.match_index() == self.log.last_index());
        if caught_up {
            self.coverage.hit(Rule::TransferTimeoutNowSent);
            self.send(to, MessageBody::TimeoutNow);
        } else {
            self.send_append(to, true);
        }
        Ok(())
    }

    /// Ask for a linearizable read point; the answer arrives as a `ReadState` with `context`.
    pub fn read_index(&mut self, context: u64) -> Result<(), ProposeError> {
        if self.role != Role::Leader {
            let Some(leader) = self.leader else { return Err(ProposeError::NoLeader) };
            self.coverage.hit(Rule::ReadIndexForwarded);
            self.send_with_term(leader, 0, MessageBody::ReadIndex { context });
            return Ok(());
        }
        let id = self.id();
        self.leader_read_index(id, context)
    }

    fn leader_read_index(&mut self, from: NodeId, context: u64) -> Result<(), ProposeError> {
        let committed = self.log.committed();
        if self.log.term(committed) != Some(self.term) {
            // Until an entry of our term commits, our commit index may lag the true one (§6.4).
            if self.reads_waiting_for_commit.len() >= MAX_READS_WAITING_FOR_COMMIT {
                return Err(ProposeError::ReadQueueFull);
            }
            self.coverage.hit(Rule::ReadIndexHeldForOwnTerm);
            self.reads_waiting_for_commit.push((context, from));
            return Ok(());
        }
        let id = self.id();
        let alone = quorum::joint_vote(&self.conf, |voter| (voter == id).then_some(true)) == VoteResult::Won;
        if alone {
            self.coverage.hit(Rule::ReadIndexAnsweredAlone);
            self.answer_read(from, context, committed);
            return Ok(());
        }
        if self.read_only.is_full() {
            return Err(ProposeError::ReadQueueFull);
        }
        self.coverage.hit(Rule::ReadIndexRoundStarted);
        let round = self.read_only.add(context, from, committed, id);
        self.broadcast_heartbeat(round);
        Ok(())
    }

    fn answer_read(&mut self, from: NodeId, context: u64, index: Index) {
        if from == self.id() {
            self.read_states.push(ReadState { context, index });
        } else {
            self.send(from, MessageBody::ReadIndexResponse { context, index });
        }
    }

    /// The transport could not reach `to`: stop streaming to it optimistically.
    pub fn report_unreachable(&mut self, to: NodeId) {
        if self.role != Role::Leader {
            return;
        }
        if let Some(progress) = self.progress.get_mut(&to)
            && progress.state == ProgressState::Replicate
        {
            progress.become_probe();
            self.coverage.hit(Rule::UnreachableToProbe);
        }
    }

    /// The transport finished (or failed) sending a snapshot to `to`.
    pub fn report_snapshot(&mut self, to: NodeId, success: bool) {
        if self.role != Role::Leader {
            return;
        }
        if let Some(progress) = self.progress.get_mut(&to)
            && progress.state == ProgressState::Snapshot
        {
            if !success {
                progress.pending_snapshot = 0;
            }
            progress.become_probe();
            self.append_pending = true;
            let rule = if success { Rule::SnapshotReportedDelivered } else { Rule::SnapshotReportedFailed };
            self.coverage.hit(rule);
        }
    }

    // ----------------------------------------------------------------------------------------------
    // Persistence and compaction acknowledgements.

    /// Entries up to (index, term) and the hard state of every Ready taken so far are durable.
    /// Ignored when the log at `index` no longer has `term` (a later truncation).
    pub fn on_persisted(&mut self, index: Index, term: Term) {
        if !self.log.persisted_to(index, term) {
            if index > self.log.persisted() && self.log.term(index) != Some(term) {
                self.coverage.hit(Rule::PersistedPointStale);
            }
            return;
        }
        if self.role == Role::Leader {
            let id = self.id();
            let persisted = self.log.persisted();
            if let Some(own) = self.progress.get_mut(&id) {
                own.maybe_update(persisted);
            }
            self.maybe_commit();
        }
    }

    /// The application made a snapshot at `snapshot.meta.index` (<= applied): keep it for followers
    /// that need compacted entries, and drop log entries up to `compact_to` (<= snapshot index).
    /// The core fills `meta.term` and `meta.conf_state` from its own log. Calls that make no sense
    /// (beyond applied, older than the current snapshot) are ignored.
    pub fn compact(&mut self, mut snapshot: Snapshot, compact_to: Index) {
        let index = snapshot.meta.index;
        if index > self.log.applied() || index > self.log.persisted() || index < self.base_conf_index {
            return;
        }
        if self.snapshot.as_ref().is_some_and(|current| current.meta.index >= index) {
            if compact_to <= index {
                let _ = self.log.compact(compact_to.min(self.base_conf_index));
            }
            return;
        }
        let (Some(term), Some(conf)) = (self.log.term(index), self.conf_state_at(index)) else { return };
        snapshot.meta.term = term;
        snapshot.meta.conf_state = conf.clone();
        self.base_conf = conf;
        self.base_conf_index = index;
        self.snapshot = Some(snapshot);
        let _ = self.log.compact(compact_to.min(index));
    }

    // ----------------------------------------------------------------------------------------------
    // Ready.

    pub fn has_ready(&self) -> bool {
        self.soft_state() != self.previous_soft_state
            || self.hard_state() != self.previous_hard_state
            || self.pending_snapshot.is_some()
            || self.log.has_unstable()
            || !self.messages.is_empty()
            || !self.messages_after_persist.is_empty()
            || self.log.has_applicable()
            || !self.read_states.is_empty()
            || (self.role == Role::Leader && (self.append_pending || self.commit_pending))
    }

    /// Drains everything produced since the last call.
    pub fn ready(&mut self) -> Ready {
        if self.role == Role::Leader && (self.append_pending || self.commit_pending) {
            let send_if_empty = self.commit_pending;
            self.append_pending = false;
            self.commit_pending = false;
            self.broadcast_append(send_if_empty);
        }
        let soft = self.soft_state();
        let soft_state = (soft != self.previous_soft_state).then_some(soft);
        self.previous_soft_state = soft;
        let hard = self.hard_state();
        let hard_state = (hard != self.previous_hard_state).then_some(hard);
        self.previous_hard_state = hard;

        let snapshot = self.pending_snapshot.take();
        if let Some(snapshot) = &snapshot {
            self.log.snapshot_handed_out(snapshot.meta.index);
        }
        let entries = self.log.unstable_entries().to_vec();
        self.log.mark_unstable_handed_out();
        let committed_entries = self.log.take_applicable(self.config.max_uncommitted_bytes);
        Ready {
            soft_state,
            hard_state,
            snapshot,
            entries,
            messages: std::mem::take(&mut self.messages),
            messages_after_persist: std::mem::take(&mut self.messages_after_persist),
            committed_entries,
            read_states: std::mem::take(&mut self.read_states),
        }
    }

    // ----------------------------------------------------------------------------------------------
    // Sending.

    fn send(&mut self, to: NodeId, body: MessageBody) {
        let term = self.term;
        self.send_with_term(to, term, body);
    }

    fn send_with_term(&mut self, to: NodeId, term: Term, body: MessageBody) {
        // Anything that reveals our vote or our log must wait until they are durable.
        let after_persist = matches!(
            body,
            MessageBody::RequestVote { pre_vote: false, .. }
                | MessageBody::RequestVoteResponse { .. }
                | MessageBody::AppendEntriesResponse { result: Ok(_) }
        );
        let queue = if after_persist { &mut self.messages_after_persist } else { &mut self.messages };
        if queue.len() >= MAX_PENDING_MESSAGES {
            self.stats.dropped_messages += 1;
            self.coverage.hit(Rule::OutboxFull);
            return;
        }
        queue.push(Message { from: self.config.id, to, term, body });
    }
}

impl fmt::Debug for Raft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Raft")
            .field("id", &self.config.id)
            .field("term", &self.term)
            .field("vote", &self.vote)
            .field("role", &self.role)
            .field("leader", &self.leader)
            .field("first_index", &self.log.first_index())
            .field("last_index", &self.log.last_index())
            .field("committed", &self.log.committed())
            .field("applied", &self.log.applied())
            .field("persisted", &self.log.persisted())
            .field("conf", &self.conf)
            .finish_non_exhaustive()
    }
}

/// Whether the entries continue (prev_log_index, prev_log_term) without gaps, with terms that never
/// decrease and never exceed the term of the message carrying them.
fn append_is_well_formed(
    prev_log_index: Index,
    prev_log_term: Term,
    message_term: Term,
    entries: &[Entry],
) -> bool {
    let mut previous_term = prev_log_term;
    for (expected_index, entry) in (prev_log_index + 1..).zip(entries) {
        if entry.index != expected_index || entry.term < previous_term || entry.term > message_term {
            return false;
        }
        previous_term = entry.term;
    }
    true
}

/// A random election timeout in [election_ticks, 2 * election_ticks).
fn random_election_timeout_ticks(rng: &mut ChaCha8Rng, election_ticks: u32) -> u32 {
    election_ticks + (rng.next_u64() % u64::from(election_ticks)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follower_in_term_5() -> Raft {
        let restore = RestoreState {
            hard_state: HardState { term: 5, vote: None, commit: 0 },
            initial_conf: ConfState::with_voters([1, 2, 3]),
            ..RestoreState::default()
        };
        Raft::new(Config::new(1, 1), restore).unwrap()
    }

    #[test]
    fn a_vote_may_be_cast_once_and_repeated_within_a_term() {
        let mut node = follower_in_term_5();
        node.set_term_and_vote(5, Some(2));
        node.set_term_and_vote(5, Some(2));
        node.set_term_and_vote(6, None);
        node.set_term_and_vote(6, Some(3));
        assert_eq!((node.term(), node.vote()), (6, Some(3)));
    }

    #[test]
    #[should_panic(expected = "second vote in term 5")]
    fn a_second_vote_in_the_same_term_trips_the_assertion() {
        let mut node = follower_in_term_5();
        node.set_term_and_vote(5, Some(2));
        node.set_term_and_vote(5, Some(3));
    }

    #[test]
    #[should_panic(expected = "term must never decrease")]
    fn a_decreasing_term_trips_the_assertion() {
        let mut node = follower_in_term_5();
        node.set_term_and_vote(4, None);
    }

    #[test]
    #[should_panic(expected = "starts without a vote")]
    fn a_new_term_carrying_a_vote_trips_the_assertion() {
        let mut node = follower_in_term_5();
        node.set_term_and_vote(6, Some(2));
    }
}
