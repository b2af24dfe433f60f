//! Keeping the transport's peer table equal to the membership, telling joiners the membership, and
//! forwarding peer messages and transport events into the node thread.

use std::collections::BTreeMap;
use std::sync::mpsc as std_mpsc;

use raft::{Message, NodeId};
use tokio::sync::mpsc;

use super::inbox::Input;
use super::node_loop::NodeLoop;
use crate::config::format_id;
use crate::transport::TransportEvent;
use crate::transport::wire::{MemberInfo, MembershipAnswer, RefusalReason};

impl NodeLoop {
    /// Keeps the transport's peer table equal to the membership. Remotes (strangers the transport
    /// answers, see `transport`) are left alone: only IDs the membership records as removed, or
    /// members that left it, are handed to `remove_peer`, so a member of a newer configuration we do
    /// not know yet is never marked removed; when its addition applies here, `add_peer` makes it a
    /// peer.
    pub(super) fn sync_peers(&mut self) {
        let me = self.node.id();
        let wanted: BTreeMap<NodeId, Vec<String>> = self
            .node
            .members()
            .values()
            .filter(|member| member.id != me)
            .map(|member| (member.id, member.peer_urls.clone()))
            .collect();
        let removed = self.node.removed_members();
        if removed.len() != self.known_removed.len() {
            for id in removed.difference(&self.known_removed) {
                if *id != me {
                    self.transport.remove_peer(*id);
                }
            }
            self.known_removed = removed.clone();
            self.publish_membership_view();
        }
        if wanted == self.known_peers {
            return;
        }
        for (id, urls) in &wanted {
            match self.known_peers.get(id) {
                None => {
                    let _ =
                        self.transport.add_peer(*id, urls).or_else(|_| self.transport.update_peer(*id, urls));
                }
                Some(old) if old != urls => {
                    let _ = self.transport.update_peer(*id, urls);
                }
                Some(_) => {}
            }
        }
        for id in self.known_peers.keys() {
            if !wanted.contains_key(id) {
                self.transport.remove_peer(*id);
            }
        }
        self.known_peers = wanted;
        self.publish_membership_view();
    }

    /// What this member answers to a joining member's membership query. Names and client URLs are
    /// refreshed on the next membership change; joiners need only IDs and peer URLs.
    pub(super) fn publish_membership_view(&self) {
        let status = self.node.status();
        self.transport.set_membership_view(MembershipAnswer {
            cluster_id: status.cluster_id,
            members: status
                .members
                .iter()
                .map(|member| MemberInfo {
                    id: member.id,
                    name: member.name.clone(),
                    peer_urls: member.peer_urls.clone(),
                    client_urls: member.client_urls.clone(),
                    is_learner: member.is_learner,
                })
                .collect(),
            removed: self.node.removed_members().iter().copied().collect(),
        });
    }
}

/// Peer messages from the transport into the node thread, until either side closes.
pub(super) fn forward_peer_messages(
    inbox: std_mpsc::SyncSender<Input>,
    mut inbound: mpsc::Receiver<Message>,
) {
    tokio::spawn(async move {
        while let Some(message) = inbound.recv().await {
            if inbox.send(Input::Message(message)).is_err() {
                return;
            }
        }
    });
}

/// Transport events into the node thread: unreachable peers, finished snapshots, and a peer's word
/// that the cluster removed us.
pub(super) fn forward_transport_events(
    inbox: std_mpsc::SyncSender<Input>,
    mut events: mpsc::Receiver<TransportEvent>,
) {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let Some(input) = transport_event_input(event) else { continue };
            if inbox.send(input).is_err() {
                return;
            }
        }
    });
}

fn transport_event_input(event: TransportEvent) -> Option<Input> {
    match event {
        TransportEvent::PeerActive(peer) => {
            tracing::info!(peer = %format_id(peer), "peer became active");
            None
        }
        TransportEvent::PeerUnreachable(peer) => {
            tracing::warn!(peer = %format_id(peer), "peer became unreachable");
            Some(Input::Unreachable(peer))
        }
        TransportEvent::PeerRefused { peer, reason } => {
            tracing::warn!(peer = %format_id(peer), reason = ?reason, "peer refused our stream");
            // The cluster removed us (and may never tell us through Raft: the leader stops replicating
            // to a removed member), so this member stops for good.
            (reason == RefusalReason::RemovedMember).then_some(Input::RemovedByPeer(peer))
        }
        TransportEvent::SnapshotSent { peer, success } => Some(Input::SnapshotSent { peer, success }),
    }
}
