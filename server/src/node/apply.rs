//! Applying committed entries, in log order and exactly once per request identity: store commands,
//! membership records and conf changes. The member that took a request answers it here.

use raft::{ConfChange, ConfChangeKind, Entry, EntryPayload, NodeId};

use super::entry::{ConfContext, Operation, Proposal};
use super::{Member, Node, Reply, RequestError};
use crate::codec;

impl Node {
    pub(super) fn apply(&mut self, entry: Entry) {
        assert_eq!(entry.index, self.last_applied_index + 1, "entries applied out of order");
        self.last_applied_index = entry.index;
        match entry.payload {
            EntryPayload::Empty => {}
            EntryPayload::Normal(data) => match codec::decode::<Proposal>(&data) {
                Ok(proposal) => self.apply_proposal(proposal),
                // Every member applies the same log, so every member skips this entry alike.
                Err(error) => tracing::error!(index = entry.index, "skipping undecodable entry: {error}"),
            },
            EntryPayload::ConfChange(change) => self.apply_conf_change(&change),
        }
    }

    pub(super) fn apply_proposal(&mut self, proposal: Proposal) {
        // Exactly once: a proposal that reaches the log twice (a forward duplicated by the network) is
        // applied only the first time. Each member proposes in (incarnation, seq) order, so anything not
        // newer than the last applied from that member is a duplicate (or a forward overtaken by a later
        // one, whose client then times out: an unacknowledged write may not happen, never twice).
        let request = (proposal.incarnation, proposal.seq);
        let last = self.applied_requests.entry(proposal.origin).or_insert((0, 0));
        if request <= *last {
            return;
        }
        *last = request;
        let result = match proposal.operation {
            Operation::Store(command) => {
                self.store.apply(&command).map(Reply::Event).map_err(RequestError::Store)
            }
            Operation::V3(command) => self.apply_v3_bare(&command),
            Operation::LeaseRenew { id } => self.apply_lease_renew(id),
            Operation::LeaseExpire { id, checked_index } => self.apply_lease_expire(id, checked_index),
            Operation::UpdateMember { id, peer_urls } => match self.members.get_mut(&id) {
                Some(member) => {
                    member.peer_urls = peer_urls;
                    self.membership_version += 1;
                    self.store.apply_internal(&format!("/0/members/{id:x}/raftAttributes"));
                    Ok(Reply::MemberChanged)
                }
                None => Err(RequestError::MemberNotFound(id)),
            },
            Operation::Publish { id, name, client_urls } => match self.members.get_mut(&id) {
                Some(member) => {
                    member.name = name;
                    member.client_urls = client_urls;
                    self.membership_version += 1;
                    self.store.apply_internal(&format!("/0/members/{id:x}/attributes"));
                    Ok(Reply::MemberChanged)
                }
                None => Err(RequestError::MemberNotFound(id)),
            },
            Operation::Alarm { activate, alarm } => self.apply_alarm(activate, alarm),
            Operation::StoreAs { caller, command } => self.apply_store_as(&caller, &command),
            Operation::Auth { caller, command } => self.apply_auth(&caller, &command),
            Operation::V3As { user, auth_revision, command } => {
                self.apply_v3_as(user.as_deref(), auth_revision, &command)
            }
            Operation::V3Auth { user, command } => self.apply_v3_auth(user.as_deref(), &command),
            Operation::V3Authenticate { name, checked_hash, token_prefix } => {
                self.apply_v3_authenticate(&name, &checked_hash, &token_prefix)
            }
            Operation::ClusterVersion { version } => {
                if self.cluster_version.is_none() {
                    self.store.apply_internal("/0/version");
                    self.cluster_version = Some(version);
                }
                Ok(Reply::MemberChanged)
            }
        };
        self.answer_own(proposal.origin, proposal.incarnation, proposal.seq, result);
    }

    pub(super) fn answer_own(
        &mut self,
        origin: NodeId,
        incarnation: u64,
        seq: u64,
        result: Result<Reply, RequestError>,
    ) {
        if origin != self.config.id || incarnation != self.config.incarnation {
            return;
        }
        if let Some(pending) = self.pending.remove(&seq) {
            self.answer(pending.request_id, result);
        }
    }

    pub(super) fn apply_conf_change(&mut self, change: &ConfChange) {
        self.membership_version += 1;
        let (tag, member) = match codec::decode::<ConfContext>(&change.context) {
            Ok(context) => (Some(context.tag), context.member),
            Err(_) => (None, None),
        };
        for single in &change.changes {
            match single.kind {
                ConfChangeKind::AddVoter | ConfChangeKind::AddLearner => {
                    let is_learner = single.kind == ConfChangeKind::AddLearner;
                    let promotion = single.kind == ConfChangeKind::AddVoter
                        && self.members.get(&single.node_id).is_some_and(|member| member.is_learner);
                    if !promotion {
                        // etcd records each added member's raft attributes under /0 (the initial
                        // members' too, from the bootstrap entries). Promoting a learner that was
                        // added as a voter is no second write: etcd's v2 members API has no learners.
                        self.store.apply_internal(&format!("/0/members/{:x}/raftAttributes", single.node_id));
                    }
                    let entry = self.members.entry(single.node_id).or_insert_with(|| Member {
                        id: single.node_id,
                        ..member.clone().filter(|m| m.id == single.node_id).unwrap_or_default()
                    });
                    entry.id = single.node_id;
                    entry.is_learner = is_learner;
                    if !promotion && let Some(record) = member.as_ref().filter(|m| m.id == single.node_id) {
                        // The entry's record wins over what a joining member was told at start
                        // (the membership query does not carry "promote once caught up"): a member
                        // that joined while this learner waited may lead later and must promote it.
                        entry.promote_when_caught_up = record.promote_when_caught_up;
                    }
                    if !is_learner {
                        entry.promote_when_caught_up = false;
                    }
                }
                ConfChangeKind::RemoveNode => {
                    if self.members.contains_key(&single.node_id) {
                        // etcd deletes /0/members/<id> and records /0/removed_members/<id>.
                        self.store.apply_internal(&format!("/0/members/{:x}", single.node_id));
                        self.store.apply_internal(&format!("/0/removed_members/{:x}", single.node_id));
                    }
                    self.members.remove(&single.node_id);
                    self.removed.insert(single.node_id);
                    if single.node_id == self.config.id {
                        self.removed_self = true;
                    }
                }
            }
        }
        for single in &change.changes {
            let id = single.node_id;
            assert!(
                !(self.members.contains_key(&id) && self.removed.contains(&id)),
                "removed member {id:x} is back"
            );
        }
        if let Some(tag) = tag {
            self.answer_own(tag.origin, tag.incarnation, tag.seq, Ok(Reply::MemberChanged));
        }
    }
}
