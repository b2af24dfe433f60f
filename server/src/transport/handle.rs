//! The running transport as its owner sees it ([`Transport`]): start it, send through it, change its
//! peers, read its status and counters, stop it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use raft::types::{Message, NodeId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info};

use super::config::TransportConfig;
use super::error::TransportError;
use super::events::TransportEvent;
use super::handshake::announceable_peer_urls;
use super::listener::{accept_loop, bind_listeners};
use super::membership::Membership;
use super::peer::PeerStatus;
use super::queue::Pushed;
use super::shared::Shared;
use super::stats::{DropReason, TransportStats};
use super::wire::MembershipAnswer;
use crate::url::{PeerAddr, parse_peer_url};

/// The running transport. Dropping it cancels every task; `shutdown` also waits for them.
pub struct Transport {
    shared: Arc<Shared>,
    local_addrs: Vec<SocketAddr>,
}

impl Transport {
    /// Binds the listen URLs and starts the listener and one writer per peer. Messages from peers go
    /// to `inbound`; peer events, if wanted, to `events`. Cancelling `cancel` stops everything.
    pub async fn start(
        config: TransportConfig,
        inbound: mpsc::Sender<Message>,
        events: Option<mpsc::Sender<TransportEvent>>,
        cancel: CancellationToken,
    ) -> Result<Transport, TransportError> {
        if config.member_id == 0 {
            return Err(TransportError::InvalidMemberId(0));
        }
        config.limits.validate()?;
        if config.listen_peer_urls.is_empty() {
            return Err(TransportError::NoListenUrl);
        }
        let peers = parse_peers(&config)?;
        let tls_server = config.tls.as_ref().and_then(|tls| tls.server.as_ref());
        let listeners = bind_listeners(&config.listen_peer_urls, tls_server.is_some()).await?;
        let local_addrs: Vec<SocketAddr> =
            listeners.iter().filter_map(|listener| listener.tcp.local_addr().ok()).collect();
        let advertised = match config.peers.get(&config.member_id) {
            Some(urls) => urls.clone(),
            None => listeners
                .iter()
                .filter_map(|listener| {
                    let scheme = if listener.secure { "https" } else { "http" };
                    Some(format!("{scheme}://{}", listener.tcp.local_addr().ok()?))
                })
                .collect(),
        };
        let shared = Arc::new(Shared {
            member_id: config.member_id,
            cluster_id: config.cluster_id,
            limits: config.limits,
            membership: RwLock::new(Membership::default()),
            inbound,
            events,
            // A child: the caller's cancellation stops us, but dropping us does not cancel the caller.
            cancel: cancel.child_token(),
            tasks: TaskTracker::new(),
            inbound_connections: Default::default(),
            stream_ids: Default::default(),
            counters: Default::default(),
            membership_view: RwLock::new(None),
            announced_peer_urls: announceable_peer_urls(&advertised),
            tls: config.tls,
        });
        info!(
            member_id = %format_args!("{:016x}", shared.member_id),
            cluster_id = %format_args!("{:016x}", shared.cluster_id),
            listen = ?local_addrs,
            peers = peers.len(),
            "peer transport started"
        );
        for listener in listeners {
            shared.tasks.spawn(accept_loop(shared.clone(), listener));
        }
        for (id, urls) in peers {
            shared.add_peer(id, urls)?;
        }
        Ok(Transport { shared, local_addrs })
    }

    /// The addresses actually bound, in the order of `listen_peer_urls`.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    pub fn member_id(&self) -> NodeId {
        self.shared.member_id
    }

    /// Queues `message` for its destination and returns at once. A full queue or an unknown or
    /// removed destination drops the message (counted by reason; an undeliverable destination is
    /// logged once).
    pub fn send(&self, message: Message) {
        let shared = &self.shared;
        let peer = match shared.destination_for_sending(message.to) {
            Ok(peer) => peer,
            Err(reason) => return shared.counters.count_dropped(reason, 1),
        };
        let pushed = peer.queue.lock().expect("queue lock").push(message);
        match pushed {
            Pushed::Queued { was_empty: true } => peer.wakeup.notify_one(),
            Pushed::Queued { was_empty: false } => {}
            // The newer snapshot supersedes the older one, which was never sent.
            Pushed::ReplacedSnapshot => shared.drop_for_peer(&peer, DropReason::SnapshotSuperseded, 1),
            Pushed::Full => {
                shared.drop_for_peer(&peer, DropReason::QueueFull, 1);
                debug!(peer = %format_args!("{:016x}", peer.id), "send queue full, dropping message");
            }
        }
    }

    /// Adds a member (e.g. after a committed AddNode). A removed member cannot come back. A remote
    /// becomes a peer, keeping its streams and queue, and is dialed on `urls` from now on.
    pub fn add_peer(&self, id: NodeId, urls: &[String]) -> Result<(), TransportError> {
        if id == 0 || id == self.shared.member_id {
            return Err(TransportError::InvalidMemberId(id));
        }
        self.shared.add_peer(id, parse_urls(urls)?)
    }

    /// Replaces a member's peer URLs; the next connection attempt uses them.
    pub fn update_peer(&self, id: NodeId, urls: &[String]) -> Result<(), TransportError> {
        let urls = parse_urls(urls)?;
        let membership = self.shared.membership.read().expect("membership lock");
        let peer = membership.peers.get(&id).ok_or(TransportError::UnknownPeer(id))?;
        peer.set_urls(urls);
        Ok(())
    }

    /// Sets what this member answers to a membership query from a joining member (the node's view of
    /// the cluster; the shell refreshes it whenever the membership changes).
    pub fn set_membership_view(&self, view: MembershipAnswer) {
        *self.shared.membership_view.write().expect("membership view lock") = Some(view);
    }

    /// Removes a member (or a remote): closes its streams, discards its queue, and refuses it from
    /// now on.
    pub fn remove_peer(&self, id: NodeId) {
        self.shared.remove_peer(id);
    }

    /// The remotes this member currently answers (see the module comment), in ID order.
    pub fn remote_peers(&self) -> Vec<NodeId> {
        self.shared.membership.read().expect("membership lock").remotes.keys().copied().collect()
    }

    /// The reachability of every current peer.
    pub fn peer_status(&self) -> BTreeMap<NodeId, PeerStatus> {
        let membership = self.shared.membership.read().expect("membership lock");
        membership.peers.iter().map(|(&id, peer)| (id, peer.status())).collect()
    }

    /// Totals since start: messages and bytes sent and received, messages dropped by reason
    /// ([`TransportStats::dropped`]), refused and broken connections.
    pub fn stats(&self) -> TransportStats {
        self.shared.counters.read()
    }

    /// Stops listening, closes every stream and waits for all tasks to end.
    pub async fn shutdown(self) {
        self.shared.cancel.cancel();
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
        info!(member_id = %format_args!("{:016x}", self.shared.member_id), "peer transport stopped");
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

/// The configured peers other than this member, with their URLs parsed.
fn parse_peers(config: &TransportConfig) -> Result<BTreeMap<NodeId, Vec<PeerAddr>>, TransportError> {
    let mut peers = BTreeMap::new();
    for (&id, urls) in &config.peers {
        if id == 0 {
            return Err(TransportError::InvalidMemberId(id));
        }
        if id != config.member_id {
            peers.insert(id, parse_urls(urls)?);
        }
    }
    Ok(peers)
}

fn parse_urls(urls: &[String]) -> Result<Vec<PeerAddr>, TransportError> {
    urls.iter().map(|url| parse_peer_url(url).map_err(TransportError::from)).collect()
}
