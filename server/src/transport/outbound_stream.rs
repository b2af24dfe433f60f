//! Writing a peer's queue onto an established stream, in rounds, until the stream breaks, the peer's
//! URLs change, or the peer is cancelled.
//!
//! Each round takes everything queued in one lock, encodes the messages into a buffer written out
//! every `write_batch_bytes` (few syscalls for a long queue), then adds one chunk of the snapshot in
//! flight, so heartbeats and appends queued meanwhile go out between chunks and a follower does not
//! time the leader out during a long transfer. Every message a round takes is either sent (written
//! to the socket) or dropped and counted: too large for a frame, or lost with a broken stream. The
//! peer never writes after the handshake, so the idle writer watches the read side to notice a
//! closed stream.

use std::time::Duration;

use raft::types::Message;
use tokio::io::{AsyncReadExt, ReadHalf, WriteHalf};
use tracing::{debug, warn};

use super::events::TransportEvent;
use super::peer::Peer;
use super::shared::Shared;
use super::stats::{DropReason, bump};
use super::stream_io::write_within;
use super::wire::{self, FrameRef, OutgoingSnapshot};
use crate::tls::MaybeTlsStream;

type OwnedReadHalf = ReadHalf<MaybeTlsStream>;
type OwnedWriteHalf = WriteHalf<MaybeTlsStream>;

/// Why a stream to a peer ended.
pub(super) enum StreamEnd {
    /// The peer was removed or the transport stops.
    Cancelled,
    Broken(String),
    /// The peer's URLs changed: redial at once, keeping the queue.
    UrlsChanged,
}

/// Room kept in the write buffer beyond `write_batch_bytes`, for the frame that crosses it.
const WRITE_BUFFER_SLACK_BYTES: usize = 1024;

/// Writes the peer's queue to `stream` until it ends (see [`StreamEnd`]). `snapshot` is the
/// snapshot in flight, owned by the writer task so it survives (and can be reported lost) when the
/// stream breaks.
pub(super) async fn stream_to_peer(
    shared: &Shared,
    peer: &Peer,
    stream: MaybeTlsStream,
    snapshot: &mut Option<OutgoingSnapshot>,
) -> StreamEnd {
    let (mut read_half, mut write_half) = tokio::io::split(stream);
    let mut out: Vec<u8> = Vec::with_capacity(shared.limits.write_batch_bytes + WRITE_BUFFER_SLACK_BYTES);
    let mut batch: Vec<Message> = Vec::new();
    loop {
        if peer.urls_changed() {
            return StreamEnd::UrlsChanged;
        }
        take_queued(shared, peer, &mut batch, snapshot);
        if batch.is_empty() && snapshot.is_none() {
            match wait_for_work(peer, &mut read_half).await {
                Some(end) => return end,
                None => continue,
            }
        }
        let mut round = Round::new(shared, peer, &mut write_half, &mut out);
        if let Err(reason) = round.write(&mut batch, snapshot).await {
            return StreamEnd::Broken(reason);
        }
        if peer.cancel.is_cancelled() {
            return StreamEnd::Cancelled;
        }
    }
}

/// Moves everything queued for the peer into `batch`; a newly queued snapshot replaces the one in
/// flight, which is dropped (superseded).
fn take_queued(
    shared: &Shared,
    peer: &Peer,
    batch: &mut Vec<Message>,
    snapshot: &mut Option<OutgoingSnapshot>,
) {
    debug_assert!(batch.is_empty(), "the previous round left messages behind");
    let newer = peer.queue.lock().expect("queue lock").take_all(batch);
    let Some(newer) = newer else { return };
    if snapshot.is_some() {
        debug!(peer = %format_args!("{:016x}", peer.id), "newer snapshot replaces the one being sent");
        shared.drop_for_peer(peer, DropReason::SnapshotSuperseded, 1);
    }
    *snapshot = OutgoingSnapshot::from_message(newer, shared.limits.snapshot_chunk_bytes);
    assert!(snapshot.is_some(), "the queue's snapshot slot holds a snapshot");
}

/// Idle: waits for work (`None`), cancellation, or the peer closing the stream (it never writes
/// after the handshake, so any read result means the stream is gone).
async fn wait_for_work(peer: &Peer, read_half: &mut OwnedReadHalf) -> Option<StreamEnd> {
    let mut probe = [0u8; 1];
    tokio::select! {
        _ = peer.wakeup.notified() => None,
        _ = peer.cancel.cancelled() => Some(StreamEnd::Cancelled),
        read = read_half.read(&mut probe) => Some(StreamEnd::Broken(match read {
            Ok(0) => "peer closed the stream".into(),
            Ok(_) => "peer wrote on a one-way stream".into(),
            Err(error) => format!("stream read error: {error}"),
        })),
    }
}

/// One round of writes: the taken messages, then one snapshot frame.
struct Round<'a> {
    shared: &'a Shared,
    peer: &'a Peer,
    write_half: &'a mut OwnedWriteHalf,
    out: &'a mut Vec<u8>,
    /// Messages encoded into `out` and not written yet (the snapshot is accounted separately).
    unflushed_messages: usize,
    /// Messages of this round written out, and dropped.
    sent_messages: usize,
    dropped_messages: usize,
}

impl<'a> Round<'a> {
    fn new(
        shared: &'a Shared,
        peer: &'a Peer,
        write_half: &'a mut OwnedWriteHalf,
        out: &'a mut Vec<u8>,
    ) -> Self {
        debug_assert!(out.is_empty(), "a round starts with an empty buffer");
        Round { shared, peer, write_half, out, unflushed_messages: 0, sent_messages: 0, dropped_messages: 0 }
    }

    /// Writes `batch` (emptying it) and the next snapshot frame. An error means the stream broke;
    /// the messages lost with it are counted, and the snapshot in flight is left for the caller to
    /// report lost.
    async fn write(
        &mut self,
        batch: &mut Vec<Message>,
        snapshot: &mut Option<OutgoingSnapshot>,
    ) -> Result<(), String> {
        let taken = batch.len();
        let written = self.write_messages(batch).await;
        assert_eq!(
            self.sent_messages + self.dropped_messages,
            taken,
            "every message taken from the queue is sent or dropped"
        );
        written?;
        let finished = self.encode_snapshot_frame(snapshot);
        self.flush().await?;
        if finished {
            // Counted only once written: a failed write above leaves it to be reported lost.
            *snapshot = None;
            self.count_sent(1);
            self.shared.emit(TransportEvent::SnapshotSent { peer: self.peer.id, success: true });
        }
        Ok(())
    }

    /// Encodes each message and writes whenever the buffer reaches `write_batch_bytes`. On a broken
    /// stream the messages not yet written are dropped.
    async fn write_messages(&mut self, batch: &mut Vec<Message>) -> Result<(), String> {
        let mut messages = batch.drain(..);
        while let Some(message) = messages.next() {
            self.encode_message(&message);
            if self.out.len() >= self.shared.limits.write_batch_bytes
                && let Err(reason) = self.flush().await
            {
                self.drop_messages(DropReason::StreamDown, messages.len());
                return Err(reason);
            }
        }
        self.flush().await
    }

    /// Appends one message's frame, or drops a message too large for a frame.
    fn encode_message(&mut self, message: &Message) {
        match wire::encode_frame(&FrameRef::Message(message), self.shared.limits.max_frame_bytes, self.out) {
            Ok(()) => self.unflushed_messages += 1,
            Err(error) => {
                warn!(peer = %format_args!("{:016x}", self.peer.id), %error, "dropping message too large to send");
                self.drop_messages(DropReason::Oversized, 1);
            }
        }
    }

    /// Appends the next frame of the snapshot in flight, if any; returns whether that frame
    /// completes the transfer. A snapshot that cannot be framed is dropped and reported lost.
    fn encode_snapshot_frame(&mut self, snapshot: &mut Option<OutgoingSnapshot>) -> bool {
        let Some(outgoing) = snapshot.as_mut() else { return false };
        match outgoing.encode_next(self.shared.limits.max_frame_bytes, self.out) {
            Ok(()) => outgoing.is_done(),
            Err(error) => {
                warn!(peer = %format_args!("{:016x}", self.peer.id), %error, "dropping snapshot that cannot be framed");
                *snapshot = None;
                self.shared.drop_for_peer(self.peer, DropReason::Oversized, 1);
                self.shared.emit(TransportEvent::SnapshotSent { peer: self.peer.id, success: false });
                false
            }
        }
    }

    /// Writes the buffer out: the messages it held are then sent or, if the stream broke, dropped.
    async fn flush(&mut self) -> Result<(), String> {
        let messages = std::mem::take(&mut self.unflushed_messages);
        let timeout: Duration = self.shared.limits.write_timeout;
        match write_within(self.write_half, self.out, timeout, &self.shared.counters.sent_bytes).await {
            Ok(()) => {
                self.count_sent(messages);
                self.sent_messages += messages;
                Ok(())
            }
            Err(reason) => {
                self.drop_messages(DropReason::StreamDown, messages);
                Err(reason)
            }
        }
    }

    fn drop_messages(&mut self, reason: DropReason, count: usize) {
        self.shared.drop_for_peer(self.peer, reason, count);
        self.dropped_messages += count;
    }

    fn count_sent(&self, messages: usize) {
        if messages > 0 {
            bump(&self.shared.counters.sent_messages, messages as u64);
            self.peer.note_sent(messages as u64);
        }
    }
}
