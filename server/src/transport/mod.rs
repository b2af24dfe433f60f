//! The peer transport: Raft messages between members over TCP, on the peer URLs.
//!
//! Job: deliver `raft::Message`s best-effort. Each member dials one long-lived stream to each peer
//! (a writer task per peer owns that peer's bounded queue, batches queued frames into few writes,
//! and reconnects with exponential backoff and jitter); it accepts the peers' streams on its listen
//! URLs and hands what arrives to the node through a bounded channel. Raft tolerates loss, so every
//! bound drops instead of blocking, and counts the drop by [`DropReason`] (read with
//! [`Transport::stats`]): `send` never waits, and a slow node never stalls a socket reader. A
//! handshake refuses members of other clusters and removed members with a logged reason. Snapshots
//! travel in bounded chunks (see `wire`). `https` peer URLs are served and dialed inside TLS
//! ([`crate::tls`]); the framing above it is the same either way.
//!
//! Remotes: a member that lagged behind membership changes does not know the members added since,
//! yet one of them may be the leader that must catch it up, or a candidate that needs its vote. So
//! a dialer of the same cluster that is neither a peer nor removed is taken on as a *remote* (etcd's
//! `AddRemote`): its stream is accepted and a writer dials back on the peer URLs its handshake
//! announced, so the member can answer it. A remote is not a member: it does not show in
//! [`Transport::peer_status`]; `add_peer` turns it into a peer once the membership catches up, and
//! `remove_peer` cuts it off for good like any removed member. Remotes are bounded
//! ([`TransportLimits::max_remote_peers`]); past the bound, and for a dialer that announced no
//! usable URL, the stream is refused as an unknown sender.
//!
//! Boundaries: this is the IO shell. It does not interpret messages beyond checking that their
//! sender and receiver match the connection; it reports peers becoming active or unreachable through
//! [`TransportEvent`]s and [`Transport::peer_status`], and the node decides what Raft makes of that.
//!
//! Where things live, one job per file:
//! - `handle.rs`: the [`Transport`] handle (start, send, peers, status, stats, shutdown);
//!   `config.rs`: [`TransportConfig`] and [`TransportLimits`]; `error.rs`: [`TransportError`];
//!   `events.rs`: [`TransportEvent`]; `stats.rs`: the counters, drops by [`DropReason`].
//! - `shared.rs`: the state every task shares; `membership.rs`: peers, remotes and removed members;
//!   `peer.rs`: one peer and its [`PeerStatus`]; `queue.rs`: a peer's bounded outbound queue.
//! - Outbound: `outbound.rs`: a peer's writer task (dial, stream, backoff via `backoff.rs`, discard on
//!   failure); `outbound_stream.rs`: writing the queue onto an established stream.
//! - Inbound: `listener.rs`: binding and accepting; `inbound.rs`: serving one accepted stream (after
//!   its TLS handshake on an `https` listener).
//! - Both ways: `handshake.rs`: introductions, admission and refusal; `membership_query.rs`: a
//!   joining member asking for the membership; `stream_io.rs`: socket options and frame reads;
//!   [`wire`] (`wire.rs`): the bytes of the protocol; `snapshot_transfer.rs`: snapshots cut into chunks.

mod backoff;
mod config;
mod error;
mod events;
mod handle;
mod handshake;
mod inbound;
mod listener;
mod membership;
mod membership_query;
mod outbound;
mod outbound_stream;
mod peer;
mod queue;
mod shared;
mod snapshot_transfer;
mod stats;
mod stream_io;
pub mod wire;

pub use self::config::{TransportConfig, TransportLimits};
pub use self::error::TransportError;
pub use self::events::TransportEvent;
pub use self::handle::Transport;
pub use self::membership_query::{query_membership, query_membership_with_tls};
pub use self::peer::PeerStatus;
pub use self::stats::{DropReason, DroppedMessages, TransportStats};
/// Peer URLs are parsed by the crate's one URL module; these paths stay for the transport's callers.
pub use crate::url::{PeerAddr, UrlError, parse_peer_url};
