//! Taking client requests: proposing writes and membership changes, starting ReadIndex reads, and
//! keeping every request until it is answered or its deadline passes. At most `MAX_PENDING_REQUESTS` wait.

use bytes::Bytes;
use raft::{ConfChange, ConfChangeKind, NodeId, ProposeError};

use super::entry::{ConfContext, ConfTag, Operation, Proposal};
use super::{Answer, ClientRequest, MAX_PENDING_REQUESTS, Member, Node, Reply, RequestError};
use crate::codec;

/// What a pending request waits for.
#[derive(Clone, Debug)]
pub(super) enum Waiting {
    /// The proposal with this sequence number to be applied.
    Apply,
    /// A ReadIndex confirmation, then the apply of the read index.
    Read { key: String, recursive: bool, sorted: bool, caller: store::auth::Caller },
    /// The same for a linearizable v3 range on behalf of `user` (its token's), whose read permission
    /// is checked when the read is served.
    V3Range { range: mvcc::RangeRequest, user: Option<String> },
}

#[derive(Clone, Debug)]
pub(super) struct Pending {
    pub(super) request_id: u64,
    pub(super) deadline_tick: u64,
    pub(super) waiting: Waiting,
}

/// At most this many members added as learners at a time (etcd 3.4's `maxLearners`).
const MAX_LEARNERS: usize = 1;

pub(super) fn propose_error(error: ProposeError) -> RequestError {
    match error {
        ProposeError::NoLeader => RequestError::NoLeader,
        ProposeError::Removed => RequestError::Removed,
        other => RequestError::Refused(other.to_string()),
    }
}

impl Node {
    /// A client request. Its answer comes out of a later `process()` with the same `request_id`.
    pub fn submit(&mut self, request_id: u64, request: ClientRequest, now: i64) {
        self.now = self.now.max(now);
        if self.failure.is_some() || self.removed_self {
            self.answer(request_id, Err(RequestError::Removed));
            return;
        }
        match request {
            ClientRequest::Write(command) => self.submit_proposal(request_id, Operation::Store(command)),
            ClientRequest::Get { key, recursive, sorted, quorum } => {
                self.submit_read(request_id, key, recursive, sorted, quorum, store::auth::Caller::Trusted)
            }
            ClientRequest::Watch { key, recursive, stream, wait_index } => {
                self.submit_watch(request_id, &key, recursive, stream, wait_index)
            }
            ClientRequest::CancelWatch { watch_request_id } => self.cancel_watch(watch_request_id),
            ClientRequest::AddMember { member } => self.submit_member_add(request_id, member),
            ClientRequest::RemoveMember { id } => self.submit_member_remove(request_id, id),
            ClientRequest::UpdateMember { id, peer_urls } => {
                self.submit_member_update(request_id, id, peer_urls)
            }
            ClientRequest::Publish { name, client_urls } => {
                self.submit_publish(request_id, name, client_urls)
            }
            ClientRequest::PromoteMember { id } => self.submit_member_promote(request_id, id),
            ClientRequest::MoveLeader { target } => self.submit_move_leader(request_id, target),
            ClientRequest::V3(request) => self.submit_v3(request_id, request),
            ClientRequest::V3Watch(create) => self.submit_v3_watch(request_id, create),
            ClientRequest::V3CancelWatch { watch_request_id } => self.cancel_v3_watch(watch_request_id),
            ClientRequest::AsCaller { caller, request } => {
                self.submit_as_caller(request_id, caller, *request)
            }
            ClientRequest::Auth { caller, command } => {
                self.submit_proposal(request_id, Operation::Auth { caller, command })
            }
            ClientRequest::AuthState => {
                self.answer(request_id, Ok(Reply::AuthState(Box::new(self.auth.clone()))))
            }
        }
    }

    /// Whether another request may wait; answers a refusal for `request_id` when not.
    pub(super) fn admit(&mut self, request_id: u64) -> bool {
        assert!(self.pending.len() <= MAX_PENDING_REQUESTS, "pending requests beyond their bound");
        if self.pending.len() == MAX_PENDING_REQUESTS {
            self.answer(request_id, Err(RequestError::Refused("too many pending requests".into())));
            return false;
        }
        true
    }

    /// Keeps `request_id` until the proposal or read context `key` is applied or confirmed.
    pub(super) fn wait_for(&mut self, key: u64, request_id: u64, waiting: Waiting) {
        let deadline_tick = self.ticks + self.config.request_timeout_ticks;
        let previous = self.pending.insert(key, Pending { request_id, deadline_tick, waiting });
        assert!(previous.is_none(), "sequence {key} waited on twice");
        assert!(self.pending.len() <= MAX_PENDING_REQUESTS);
    }

    fn submit_member_remove(&mut self, request_id: u64, id: NodeId) {
        if self.removed.contains(&id) {
            self.answer(request_id, Err(RequestError::MemberRemoved(id)));
        } else if !self.members.contains_key(&id) {
            self.answer(request_id, Err(RequestError::MemberNotFound(id)));
        } else if let Some(waiting) = self.started_learner_awaiting_promotion(id) {
            // The operator counts a member added as a voter as a voter (etcd adds it as one), but it
            // votes only once the leader promotes it. A voter's removal that overtook that promotion
            // would leave fewer live voters than the operator counted: with {m1 down, m3, m4} and m5
            // waiting, removing m3 gave {m1, m4}, which can never elect again (issue 7). So the removal
            // waits (500, retried) until the started learner, which the leader promotes within a tick
            // or so, is a voter.
            let why = format!(
                "member {waiting:x} was added as a voter and awaits its promotion; retry the removal once it \
                 is promoted"
            );
            self.answer(request_id, Err(RequestError::Refused(why)));
        } else {
            let change = ConfChange {
                changes: vec![raft::ConfChangeSingle { kind: ConfChangeKind::RemoveNode, node_id: id }],
                ..ConfChange::default()
            };
            self.submit_conf_change(request_id, change, None);
        }
    }

    fn submit_member_update(&mut self, request_id: u64, id: NodeId, peer_urls: Vec<String>) {
        if self.removed.contains(&id) {
            self.answer(request_id, Err(RequestError::MemberRemoved(id)));
        } else if !self.members.contains_key(&id) {
            self.answer(request_id, Err(RequestError::MemberNotFound(id)));
        } else if self.peer_url_taken(&peer_urls, Some(id)) {
            self.answer(request_id, Err(RequestError::PeerUrlExists));
        } else {
            self.submit_proposal(request_id, Operation::UpdateMember { id, peer_urls });
        }
    }

    /// A learner added with the learner flag becomes a voter once it has caught up (etcd's rule: its log
    /// holds 90% of the leader's committed log). Only the leader knows how far a learner got, so other
    /// members refuse (the client retries at the leader, as etcdctl does with every endpoint).
    fn submit_member_promote(&mut self, request_id: u64, id: NodeId) {
        let Some(member) = self.members.get(&id) else {
            return self.answer(request_id, Err(RequestError::MemberNotFound(id)));
        };
        let commit = self.raft.commit_index();
        let caught_up =
            self.raft.progress(id).is_some_and(|progress| progress.match_index >= commit - commit / 10);
        if !member.is_learner || self.raft.role() != raft::Role::Leader || !caught_up {
            return self.answer(request_id, Err(RequestError::CannotPromote));
        }
        let change = ConfChange {
            changes: vec![raft::ConfChangeSingle { kind: ConfChangeKind::AddVoter, node_id: id }],
            ..ConfChange::default()
        };
        self.submit_conf_change(request_id, change, None);
    }

    /// Asks Raft to hand leadership to `target`; answered when `target` leads or at the deadline.
    fn submit_move_leader(&mut self, request_id: u64, target: NodeId) {
        if self.leader_move.is_some() {
            let why = "another leader move is in progress".to_string();
            return self.answer(request_id, Err(RequestError::Refused(why)));
        }
        if self.raft.leader() == Some(target) {
            return self.answer(request_id, Ok(Reply::LeaderMoved));
        }
        match self.raft.transfer_leader(target) {
            Ok(()) => {
                let deadline_tick = self.ticks + self.config.request_timeout_ticks;
                self.leader_move = Some((request_id, target, deadline_tick));
            }
            // etcd's words for a target that is not a voting member.
            Err(ProposeError::InvalidTransferTarget(_)) => {
                let why = "etcdserver: bad leader transferee".to_string();
                self.answer(request_id, Err(RequestError::Refused(why)))
            }
            Err(error) => self.answer(request_id, Err(propose_error(error))),
        }
    }

    /// Answers the waiting `MoveLeader` once its target leads, or with a timeout at its deadline.
    pub(super) fn check_leader_move(&mut self) {
        let Some((request_id, target, deadline_tick)) = self.leader_move else { return };
        if self.raft.leader() == Some(target) {
            self.leader_move = None;
            self.answer(request_id, Ok(Reply::LeaderMoved));
        } else if self.ticks >= deadline_tick {
            self.leader_move = None;
            self.answer(request_id, Err(RequestError::Timeout));
        }
    }

    /// A member added as a voter publishes itself ("started", in etcd's words) only once it votes. It
    /// joins as a learner and the leader promotes it when it has caught up; until then operators and
    /// the strict reconfiguration check must not count it as a running voter (killing two of five right
    /// after the fifth reports healthy must leave a quorum, as with etcd, which adds voters directly).
    /// The shell retries.
    fn submit_publish(&mut self, request_id: u64, name: String, client_urls: Vec<String>) {
        let id = self.config.id;
        let explicit_learner =
            self.members.get(&id).is_some_and(|member| member.is_learner && !member.promote_when_caught_up);
        if !self.raft.conf_state().is_voter(id) && !explicit_learner {
            let why = "not a voter yet: a member publishes itself once the leader promoted it";
            self.answer(request_id, Err(RequestError::Refused(why.to_string())));
            return;
        }
        self.submit_proposal(request_id, Operation::Publish { id, name, client_urls });
    }

    pub(super) fn submit_proposal(&mut self, request_id: u64, operation: Operation) {
        if !self.admit(request_id) {
            return;
        }
        match self.propose(operation) {
            Ok(seq) => self.wait_for(seq, request_id, Waiting::Apply),
            Err(error) => self.answer(request_id, Err(propose_error(error))),
        }
    }

    pub(super) fn submit_member_add(&mut self, request_id: u64, member: Member) {
        if self.removed.contains(&member.id) {
            self.answer(request_id, Err(RequestError::MemberRemoved(member.id)));
            return;
        }
        if self.members.contains_key(&member.id) || self.peer_url_taken(&member.peer_urls, None) {
            self.answer(request_id, Err(RequestError::PeerUrlExists));
            return;
        }
        if member.is_learner && self.requested_learner_count() >= MAX_LEARNERS {
            let why = "etcdserver: too many learner members in cluster".to_string();
            return self.answer(request_id, Err(RequestError::Refused(why)));
        }
        let mut member = member;
        member.promote_when_caught_up = !member.is_learner;
        member.is_learner = true;
        let change = ConfChange {
            changes: vec![raft::ConfChangeSingle { kind: ConfChangeKind::AddLearner, node_id: member.id }],
            ..ConfChange::default()
        };
        self.submit_conf_change(request_id, change, Some(member));
    }

    /// Members added as learners by request (not voters still catching up before their promotion).
    fn requested_learner_count(&self) -> usize {
        self.members.values().filter(|member| member.is_learner && !member.promote_when_caught_up).count()
    }

    /// Conf changes carry the request identity beside the member record, so that the member that took
    /// the request can answer it when the change is applied.
    pub(super) fn submit_conf_change(
        &mut self,
        request_id: u64,
        mut change: ConfChange,
        member: Option<Member>,
    ) {
        if !self.admit(request_id) {
            return;
        }
        let seq = self.next_sequence();
        let tag = ConfTag { origin: self.config.id, incarnation: self.config.incarnation, seq };
        change.context = Bytes::from(codec::encode(&ConfContext { tag, member }));
        match self.raft.propose_conf_change(change) {
            Ok(()) => self.wait_for(seq, request_id, Waiting::Apply),
            Err(error) => self.answer(request_id, Err(propose_error(error))),
        }
    }

    /// A member other than `removing` that was added as a voter, has started (published its client
    /// URLs, so it has the log up to its publish) and still waits as a learner for the leader to
    /// promote it, if `removing` is a voter. Members added but never started do not hold removals
    /// up: they may never come.
    pub(super) fn started_learner_awaiting_promotion(&self, removing: NodeId) -> Option<NodeId> {
        if self.members.get(&removing).is_none_or(|member| member.is_learner) {
            return None;
        }
        self.members
            .values()
            .find(|member| {
                member.id != removing
                    && member.is_learner
                    && member.promote_when_caught_up
                    && !member.client_urls.is_empty()
            })
            .map(|member| member.id)
    }

    pub(super) fn peer_url_taken(&self, peer_urls: &[String], except: Option<NodeId>) -> bool {
        self.members
            .values()
            .filter(|member| Some(member.id) != except)
            .any(|member| member.peer_urls.iter().any(|url| peer_urls.contains(url)))
    }

    pub(super) fn propose(&mut self, operation: Operation) -> Result<u64, ProposeError> {
        let seq = self.next_sequence();
        let proposal =
            Proposal { origin: self.config.id, incarnation: self.config.incarnation, seq, operation };
        self.raft.propose(Bytes::from(codec::encode(&proposal)))?;
        Ok(seq)
    }

    pub(super) fn next_sequence(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// A ReadIndex context unique across restarts of this member: a stale confirmation from before a
    /// restart must never be taken for a new read's (it could carry an older index).
    pub(super) fn next_context(&mut self) -> u64 {
        let seq = self.next_sequence();
        (self.config.incarnation << 32) ^ seq
    }

    pub(super) fn answer(&mut self, request_id: u64, result: Result<Reply, RequestError>) {
        self.answers.push(Answer {
            request_id,
            result,
            raft_index: self.raft.commit_index(),
            raft_term: self.raft.term(),
        });
    }

    pub(super) fn expire_requests(&mut self) {
        let ticks = self.ticks;
        let expired: Vec<u64> =
            self.pending.iter().filter(|(_, p)| p.deadline_tick <= ticks).map(|(seq, _)| *seq).collect();
        for seq in expired {
            if let Some(pending) = self.pending.remove(&seq) {
                self.answer(pending.request_id, Err(RequestError::Timeout));
            }
        }
        let (expired, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.reads_to_serve).into_iter().partition(|(_, p)| p.deadline_tick <= ticks);
        self.reads_to_serve = kept;
        for (_, pending) in expired {
            self.answer(pending.request_id, Err(RequestError::Timeout));
        }
        self.forget_abandoned_read_rounds();
    }
}
