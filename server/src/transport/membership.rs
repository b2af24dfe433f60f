//! Whom the transport talks to: peers (the membership), remotes (dialers outside it that we answer,
//! see the module comment of [`super`]) and removed members (refused for good), and how one
//! becomes another.
//!
//! Invariants, asserted after every change: peers, remotes and removed members are disjoint; neither
//! this member nor ID zero is a peer or remote; each entry's `Peer::id` is its key; remotes stay
//! within [`super::TransportLimits::max_remote_peers`], and the set of destinations logged as
//! unknown within [`MAX_LOGGED_UNKNOWN`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use raft::types::NodeId;
use tracing::{debug, info, warn};

use super::error::TransportError;
use super::outbound::run_writer;
use super::peer::Peer;
use super::shared::Shared;
use super::stats::{DropReason, bump};
use super::wire::Hello;
use crate::url::PeerAddr;

/// Bound on `Membership::logged_unknown`, so a stream of bogus destinations cannot grow it.
pub(super) const MAX_LOGGED_UNKNOWN: usize = 1024;

#[derive(Default)]
pub(super) struct Membership {
    pub peers: BTreeMap<NodeId, Arc<Peer>>,
    /// Dialers outside the membership that we answer. Disjoint from `peers` and `removed`.
    pub remotes: BTreeMap<NodeId, Arc<Peer>>,
    pub removed: BTreeSet<NodeId>,
    /// Destinations already logged as unknown, so a misdirected stream of messages logs once each.
    logged_unknown: BTreeSet<NodeId>,
}

impl Membership {
    /// The peer or remote that messages to `id` go to.
    pub fn destination(&self, id: NodeId) -> Option<&Arc<Peer>> {
        self.peers.get(&id).or_else(|| self.remotes.get(&id))
    }

    /// Whether a message to `id` should be logged as undeliverable: only the first time per
    /// destination, and only while the log of such destinations is within its bound.
    fn first_undeliverable(&mut self, id: NodeId) -> bool {
        self.logged_unknown.len() < MAX_LOGGED_UNKNOWN && self.logged_unknown.insert(id)
    }

    fn check_invariants(&self, member_id: NodeId, max_remote_peers: usize) {
        assert!(
            self.remotes.len() <= max_remote_peers,
            "{} remotes, bound {max_remote_peers}",
            self.remotes.len()
        );
        assert!(self.logged_unknown.len() <= MAX_LOGGED_UNKNOWN);
        for (id, peer) in self.peers.iter().chain(&self.remotes) {
            assert_eq!(peer.id, *id, "a peer filed under another ID");
            assert!(*id != 0 && *id != member_id, "member {id:016x} cannot be its own peer");
            assert!(!self.removed.contains(id), "removed member {id:016x} is still a peer or remote");
        }
        assert!(
            self.peers.keys().all(|id| !self.remotes.contains_key(id)),
            "a member is both a peer and a remote"
        );
    }
}

impl Shared {
    /// The peer or remote to queue a message to `to` for, or why there is none (logged once per
    /// destination).
    pub fn destination_for_sending(&self, to: NodeId) -> Result<Arc<Peer>, DropReason> {
        if let Some(peer) = self.membership.read().expect("membership lock").destination(to) {
            return Ok(peer.clone());
        }
        let mut membership = self.membership.write().expect("membership lock");
        // Looked up again: the membership may have changed between the two locks.
        if let Some(peer) = membership.destination(to) {
            return Ok(peer.clone());
        }
        let reason = if membership.removed.contains(&to) {
            DropReason::RemovedMember
        } else {
            DropReason::UnknownPeer
        };
        if membership.first_undeliverable(to) {
            warn!(peer = %format_args!("{to:016x}"), reason = reason.name(), "dropping messages to a member that is not a peer");
        }
        Err(reason)
    }

    /// Adds a member with its URLs and starts its writer; a remote becomes a peer, keeping its
    /// streams and queue. A removed member cannot come back.
    pub fn add_peer(self: &Arc<Self>, id: NodeId, urls: Vec<PeerAddr>) -> Result<(), TransportError> {
        if id == 0 || id == self.member_id {
            return Err(TransportError::InvalidMemberId(id));
        }
        let mut membership = self.membership.write().expect("membership lock");
        if membership.removed.contains(&id) {
            return Err(TransportError::PeerRemoved(id));
        }
        if membership.peers.contains_key(&id) {
            return Err(TransportError::PeerExists(id));
        }
        if let Some(remote) = membership.remotes.remove(&id) {
            // The membership caught up with a member we were answering as a remote: the same writer
            // and streams carry on, now on the URLs the membership records.
            remote.set_urls(urls);
            membership.peers.insert(id, remote);
            membership.check_invariants(self.member_id, self.limits.max_remote_peers);
            info!(peer = %format_args!("{id:016x}"), "remote became a member, now a peer");
            return Ok(());
        }
        let peer = Arc::new(Peer::new(id, urls, self.limits.queue_bounds(), &self.cancel));
        membership.peers.insert(id, peer.clone());
        membership.logged_unknown.remove(&id);
        membership.check_invariants(self.member_id, self.limits.max_remote_peers);
        drop(membership);
        debug!(peer = %format_args!("{id:016x}"), "peer added");
        self.tasks.spawn(run_writer(self.clone(), peer));
        Ok(())
    }

    /// Takes on a dialer outside the membership as a remote, or says why not. Called by the
    /// handshake with the membership lock held, once it checked the sender is neither a peer nor
    /// removed.
    pub fn add_remote(
        self: &Arc<Self>,
        membership: &mut Membership,
        hello: &Hello,
    ) -> Result<Arc<Peer>, String> {
        assert!(!membership.peers.contains_key(&hello.from) && !membership.removed.contains(&hello.from));
        let addrs = hello.announced_peer_addrs().map_err(|reason| format!("cannot be answered: {reason}"))?;
        if let Some(remote) = membership.remotes.get(&hello.from) {
            // The dialer knows its own URLs best (it may have moved since it first dialed).
            remote.set_urls(addrs);
            return Ok(remote.clone());
        }
        if membership.remotes.len() >= self.limits.max_remote_peers {
            return Err(format!("already answering {} remotes, the bound", membership.remotes.len()));
        }
        let remote = Arc::new(Peer::new(hello.from, addrs, self.limits.queue_bounds(), &self.cancel));
        membership.remotes.insert(hello.from, remote.clone());
        membership.logged_unknown.remove(&hello.from);
        membership.check_invariants(self.member_id, self.limits.max_remote_peers);
        bump(&self.counters.remotes_added, 1);
        info!(
            remote = %format_args!("{:016x}", hello.from),
            urls = ?hello.peer_urls,
            "answering a member outside our membership as a remote (this member may lag behind membership changes)"
        );
        self.tasks.spawn(run_writer(self.clone(), remote.clone()));
        Ok(remote)
    }

    /// Removes a member (or a remote) for good: closes its streams, discards its queue (counted as
    /// dropped for a removed member), and refuses it from now on.
    pub fn remove_peer(&self, id: NodeId) {
        let mut membership = self.membership.write().expect("membership lock");
        membership.removed.insert(id);
        let removed = membership.peers.remove(&id).or_else(|| membership.remotes.remove(&id));
        membership.check_invariants(self.member_id, self.limits.max_remote_peers);
        drop(membership);
        if let Some(peer) = removed {
            peer.cancel.cancel();
            let discarded = peer.queue.lock().expect("queue lock").clear();
            self.drop_for_peer(&peer, DropReason::RemovedMember, discarded.messages);
            info!(peer = %format_args!("{id:016x}"), "peer removed");
        }
    }
}
