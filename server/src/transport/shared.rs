//! The state every task of one transport shares ([`Shared`]): identity, limits, the membership, the
//! channels to the node, the counters, and the cancellation that stops them all.

use std::sync::RwLock;

use raft::types::{Message, NodeId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use super::config::TransportLimits;
use super::events::TransportEvent;
use super::listener::InboundConnections;
use super::membership::Membership;
use super::peer::{Peer, StreamIds};
use super::stats::{Counters, DropReason, bump};
use super::wire::MembershipAnswer;

pub(super) struct Shared {
    pub member_id: NodeId,
    pub cluster_id: u64,
    pub limits: TransportLimits,
    pub membership: RwLock<Membership>,
    /// Messages from peers, to the node.
    pub inbound: mpsc::Sender<Message>,
    pub events: Option<mpsc::Sender<TransportEvent>>,
    /// Cancelled when the transport stops; parents every peer's token.
    pub cancel: CancellationToken,
    pub tasks: TaskTracker,
    pub inbound_connections: InboundConnections,
    pub stream_ids: StreamIds,
    pub counters: Counters,
    /// What this member answers to a membership query (`None`: not known yet, the query is closed).
    pub membership_view: RwLock<Option<MembershipAnswer>>,
    /// This member's peer URLs, announced in every handshake it dials.
    pub announced_peer_urls: Vec<String>,
    /// TLS for `https` listeners and `https` peer URLs.
    pub tls: Option<crate::tls::PeerTls>,
}

impl Shared {
    /// Tells the node about a peer, without waiting: a full or closed channel drops (and counts) it.
    pub fn emit(&self, event: TransportEvent) {
        if let Some(events) = &self.events
            && let Err(error) = events.try_send(event)
        {
            bump(&self.counters.dropped_events, 1);
            debug!(event = ?error.into_inner(), "event channel full or closed, dropping transport event");
        }
    }

    /// Counts `count` messages for `peer` dropped for `reason`, in the totals and in the peer's status.
    pub fn drop_for_peer(&self, peer: &Peer, reason: DropReason, count: usize) {
        self.counters.count_dropped(reason, count);
        peer.note_dropped(count);
    }
}
