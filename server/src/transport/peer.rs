//! One peer (or remote) as the transport keeps it: where to dial it, its queue, the inbound stream it
//! has open to us, and its reachability ([`PeerStatus`]).
//!
//! A `Peer` is shared between the handle (`send` pushes onto its queue), its writer task (which
//! drains the queue) and the task serving its inbound stream; each field has its own small lock,
//! never held across an await.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use raft::types::NodeId;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::queue::{PeerQueue, QueueBounds};
use crate::url::PeerAddr;

/// A peer's reachability as the outgoing stream sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    pub active: bool,
    /// When `active` last changed (or the peer was added).
    pub since: Instant,
    /// Messages written to the peer's stream.
    pub sent_messages: u64,
    /// Messages for this peer dropped for any reason (see [`super::DropReason`]) while it was a
    /// peer or remote.
    pub dropped_messages: u64,
    /// Why the last connection attempt or stream failed, if it did.
    pub last_error: Option<String>,
}

pub(super) struct Peer {
    pub id: NodeId,
    urls: Mutex<Vec<PeerAddr>>,
    /// Set by `set_urls` when the URLs change, so the writer redials the new ones at once.
    urls_changed: AtomicBool,
    pub queue: Mutex<PeerQueue>,
    /// Wakes the writer when the queue goes from empty to non-empty (permits are stored).
    pub wakeup: Notify,
    /// Cancelled when the peer is removed or the transport stops; parents the peer's tasks.
    pub cancel: CancellationToken,
    /// The inbound stream from this peer being served (its number and closer), closed when the peer
    /// dials a new one.
    inbound_stream: Mutex<Option<(u64, CancellationToken)>>,
    status: Mutex<PeerStatus>,
}

impl Peer {
    pub fn new(id: NodeId, urls: Vec<PeerAddr>, bounds: QueueBounds, parent: &CancellationToken) -> Peer {
        Peer {
            id,
            urls: Mutex::new(urls),
            urls_changed: AtomicBool::new(false),
            queue: Mutex::new(PeerQueue::new(bounds)),
            wakeup: Notify::new(),
            cancel: parent.child_token(),
            inbound_stream: Mutex::new(None),
            status: Mutex::new(PeerStatus {
                active: false,
                since: Instant::now(),
                sent_messages: 0,
                dropped_messages: 0,
                last_error: None,
            }),
        }
    }

    /// Replaces the URLs the writer dials; a change redials at once.
    pub fn set_urls(&self, urls: Vec<PeerAddr>) {
        let mut current = self.urls.lock().expect("urls lock");
        if *current != urls {
            info!(peer = %format_args!("{:016x}", self.id), urls = ?urls, "peer URLs updated, redialling");
            *current = urls;
            self.urls_changed.store(true, Ordering::Release);
            self.wakeup.notify_one();
        }
    }

    /// The URLs to dial now; clears the "changed" mark, as the caller is about to dial them.
    pub fn take_urls_to_dial(&self) -> Vec<PeerAddr> {
        let urls = self.urls.lock().expect("urls lock");
        self.urls_changed.store(false, Ordering::Release);
        urls.clone()
    }

    /// Whether the URLs changed since the writer last dialed.
    pub fn urls_changed(&self) -> bool {
        self.urls_changed.load(Ordering::Acquire)
    }

    pub fn note_sent(&self, count: u64) {
        if count > 0 {
            self.status.lock().expect("status lock").sent_messages += count;
        }
    }

    pub fn note_dropped(&self, count: usize) {
        if count > 0 {
            self.status.lock().expect("status lock").dropped_messages += count as u64;
        }
    }

    /// Marks the peer active or not; returns whether that is a change.
    pub fn set_active(&self, active: bool, error: Option<String>) -> bool {
        let mut status = self.status.lock().expect("status lock");
        if error.is_some() || active {
            status.last_error = error;
        }
        if status.active == active {
            return false;
        }
        status.active = active;
        status.since = Instant::now();
        true
    }

    pub fn status(&self) -> PeerStatus {
        self.status.lock().expect("status lock").clone()
    }

    /// Records `stream_id` as the peer's one inbound stream; returns the closer of the stream it
    /// replaces, if that one is still open.
    pub fn claim_inbound_stream(
        &self,
        stream_id: u64,
        closer: CancellationToken,
    ) -> Option<CancellationToken> {
        let previous = self.inbound_stream.lock().expect("inbound lock").replace((stream_id, closer));
        previous.map(|(_, closer)| closer).filter(|closer| !closer.is_cancelled())
    }

    /// Forgets `stream_id` as the peer's inbound stream, unless a newer stream already replaced it.
    pub fn release_inbound_stream(&self, stream_id: u64) {
        let mut current = self.inbound_stream.lock().expect("inbound lock");
        if current.as_ref().is_some_and(|(id, _)| *id == stream_id) {
            *current = None;
        }
    }
}

/// Hands out the numbers of inbound streams, so a finished stream can tell whether a newer one
/// replaced it.
#[derive(Default)]
pub(super) struct StreamIds(AtomicU64);

impl StreamIds {
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}
