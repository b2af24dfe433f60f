//! What the node hears from the transport besides peer messages ([`TransportEvent`]).

use raft::types::NodeId;

use super::wire::RefusalReason;

/// What the node hears about peers besides their messages. Sent on a bounded channel without
/// waiting: when the channel is full the event is dropped and counted
/// ([`super::TransportStats::dropped_events`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportEvent {
    /// A stream to the peer is established.
    PeerActive(NodeId),
    /// The peer cannot be reached (or its stream broke); messages queued for it are being discarded
    /// until it is back. Emitted once per outage (at the first failed attempt after being active, or
    /// since start): the node should tell Raft (`report_unreachable`) so it stops pipelining to
    /// that peer and probes instead.
    PeerUnreachable(NodeId),
    /// The peer refused our stream. `RemovedMember` means this member was removed from the cluster.
    PeerRefused { peer: NodeId, reason: RefusalReason },
    /// An `InstallSnapshot` to the peer was written out whole (`success`), or was lost: the stream
    /// broke during the transfer or the peer was unreachable. The node passes it to Raft's
    /// `report_snapshot` so a leader does not wait forever for a snapshot that never left.
    SnapshotSent { peer: NodeId, success: bool },
}
