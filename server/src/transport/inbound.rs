//! Serving one accepted connection: the handshake, then the peer's frames, reassembled into
//! messages and handed to the node without ever stalling the socket.
//!
//! One inbound stream per peer: a redial (the peer restarted, or saw its old stream break first)
//! replaces the previous stream, which may be half-open. Every message must come from the member
//! that introduced itself and be addressed to us, or the stream is closed. A full inbound channel
//! drops the message (counted; Raft resends) rather than stop reading, except a snapshot, which may
//! wait a bounded time because resending it costs the whole transfer again.

use std::net::SocketAddr;
use std::sync::Arc;

use raft::types::{Message, MessageBody, NodeId};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::handshake;
use super::membership_query::answer_membership_query;
use super::peer::Peer;
use super::shared::Shared;
use super::stats::{DropReason, bump};
use super::stream_io::{configure_socket, read_frame_sized};
use super::wire::{Frame, SnapshotAssembler, WireError};
use crate::tls::MaybeTlsStream;

/// Bytes buffered per inbound stream's reader.
const READ_BUFFER_BYTES: usize = 64 << 10;

/// Serves one inbound connection until it ends or breaks the protocol. `over_limit`: we already
/// serve our bound of connections, so the handshake is refused. `secure`: an `https` listener, so
/// the connection starts with a TLS handshake (bounded by the handshake timeout).
pub(super) async fn serve_inbound(
    shared: &Arc<Shared>,
    tcp: TcpStream,
    remote: SocketAddr,
    over_limit: bool,
    secure: bool,
) {
    if let Err(error) = configure_socket(&tcp, shared.limits.dead_peer_timeout) {
        debug!(%remote, %error, "cannot set peer socket options");
    }
    let Some(mut stream) = secure_stream(shared, tcp, remote, secure).await else {
        bump(&shared.counters.refused_connections, 1);
        return;
    };
    let Some((version, hello)) = handshake::receive_hello(shared, &mut stream, remote).await else {
        return;
    };
    if hello.is_membership_query() {
        answer_membership_query(shared, stream, remote).await;
        return;
    }
    let peer = match handshake::admit(shared, version, &hello, over_limit) {
        Ok(peer) => peer,
        Err(refusal) => return handshake::refuse(shared, stream, remote, &hello, refusal).await,
    };
    let sender_hex = format!("{:016x}", hello.from);
    let (stream_id, closer) = claim_inbound_stream(shared, &peer, remote, &sender_hex);
    let end = match handshake::accept(&mut stream).await {
        Ok(()) => {
            debug!(%remote, sender = %sender_hex, "accepted peer stream");
            receive_messages(shared, hello.from, stream, &closer).await
        }
        Err(error) => {
            debug!(%remote, sender = %sender_hex, %error, "peer stream closed during the handshake");
            Ok(())
        }
    };
    peer.release_inbound_stream(stream_id);
    match end {
        Ok(()) => debug!(%remote, sender = %sender_hex, "peer stream ended"),
        Err(error) => {
            bump(&shared.counters.broken_connections, 1);
            warn!(%remote, sender = %sender_hex, %error, "closing peer stream");
        }
    }
}

/// The stream to serve: the socket itself, or (on an `https` listener) the socket inside TLS once
/// the handshake succeeded; `None` when it failed (logged by the TLS server) or the transport stops.
async fn secure_stream(
    shared: &Shared,
    tcp: TcpStream,
    remote: SocketAddr,
    secure: bool,
) -> Option<MaybeTlsStream> {
    if !secure {
        return Some(MaybeTlsStream::from(tcp));
    }
    let server = shared.tls.as_ref().and_then(|tls| tls.server.as_ref());
    assert!(server.is_some(), "an https listener is bound only with a TLS server");
    tokio::select! {
        accepted = server?.accept(tcp, remote, shared.limits.handshake_timeout) => accepted,
        _ = shared.cancel.cancelled() => None,
    }
}

/// Makes this stream the peer's one inbound stream, closing the one it replaces; returns its number
/// and its closer.
fn claim_inbound_stream(
    shared: &Shared,
    peer: &Peer,
    remote: SocketAddr,
    sender_hex: &str,
) -> (u64, CancellationToken) {
    let closer = peer.cancel.child_token();
    let stream_id = shared.stream_ids.next();
    if let Some(previous) = peer.claim_inbound_stream(stream_id, closer.clone()) {
        // Normal after the peer restarted or saw its side break first; if it repeats constantly,
        // two processes are running with the same member ID.
        info!(%remote, sender = %sender_hex, "peer opened a new stream, closing its previous one");
        previous.cancel();
    }
    (stream_id, closer)
}

/// Reads frames from `sender`'s accepted stream and delivers its messages, until the stream ends
/// (`Ok`), is closed by `closer` or the node stops taking messages (`Ok`), or breaks (`Err`).
async fn receive_messages(
    shared: &Shared,
    sender: NodeId,
    stream: MaybeTlsStream,
    closer: &CancellationToken,
) -> Result<(), WireError> {
    let mut assembler = SnapshotAssembler::new(shared.limits.max_snapshot_bytes);
    let mut reader = tokio::io::BufReader::with_capacity(READ_BUFFER_BYTES, stream);
    let mut scratch = Vec::new();
    loop {
        let frame: Frame = tokio::select! {
            frame = read_frame_sized(&mut reader, shared.limits.max_frame_bytes, &mut scratch) => match frame? {
                Some((frame, size_bytes)) => {
                    bump(&shared.counters.received_bytes, size_bytes as u64);
                    frame
                }
                None => return Ok(()),
            },
            _ = closer.cancelled() => return Ok(()),
        };
        let Some(message) = reassemble(&mut assembler, frame)? else { continue };
        check_addressing(shared, sender, &message)?;
        bump(&shared.counters.received_messages, 1);
        if deliver(shared, sender, message).await == Delivery::NodeStopped {
            return Ok(());
        }
    }
}

/// The message a frame completes: a plain message at once, a snapshot with its last chunk.
fn reassemble(assembler: &mut SnapshotAssembler, frame: Frame) -> Result<Option<Message>, WireError> {
    match frame {
        Frame::Message(message) => Ok(Some(message)),
        Frame::SnapshotBegin { from, to, term, meta, total_bytes } => {
            assembler.begin(from, to, term, meta, total_bytes)
        }
        Frame::SnapshotChunk { offset, data } => assembler.chunk(offset, &data),
    }
}

/// A stream carries only messages from the member that introduced itself, to us.
fn check_addressing(shared: &Shared, sender: NodeId, message: &Message) -> Result<(), WireError> {
    if message.from != sender || message.to != shared.member_id {
        return Err(WireError::Protocol(format!(
            "message from {:016x} to {:016x} on the stream from {sender:016x}",
            message.from, message.to
        )));
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Delivery {
    /// Handed to the node, or dropped (and counted) because it is behind.
    Done,
    /// The node no longer takes messages (it is stopping); the message was dropped.
    NodeStopped,
}

/// Hands a received message to the node: at once or dropped, a snapshot within a bounded wait.
async fn deliver(shared: &Shared, sender: NodeId, message: Message) -> Delivery {
    let counters = &shared.counters;
    if matches!(message.body, MessageBody::InstallSnapshot { .. }) {
        return match shared.inbound.send_timeout(message, shared.limits.snapshot_delivery_timeout).await {
            Ok(()) => Delivery::Done,
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                counters.count_dropped(DropReason::InboundFull, 1);
                warn!(sender = %format_args!("{sender:016x}"), "node did not take a received snapshot in time, dropped");
                Delivery::Done
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => {
                counters.count_dropped(DropReason::Stopped, 1);
                Delivery::NodeStopped
            }
        };
    }
    match shared.inbound.try_send(message) {
        Ok(()) => Delivery::Done,
        Err(mpsc::error::TrySendError::Full(_)) => {
            // The node is behind; Raft resends, so dropping beats stalling the socket.
            counters.count_dropped(DropReason::InboundFull, 1);
            Delivery::Done
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            counters.count_dropped(DropReason::Stopped, 1);
            Delivery::NodeStopped
        }
    }
}
