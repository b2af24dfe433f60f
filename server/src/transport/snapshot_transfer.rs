//! Snapshots on the wire: cutting an `InstallSnapshot` into a begin frame and bounded chunks on the
//! sending side ([`OutgoingSnapshot`]), and reassembling them, within a total bound, on the
//! receiving side ([`SnapshotAssembler`]). No frame is ever larger than the frame limit, whatever
//! the snapshot's size; the frame types themselves are [`super::wire`]'s.

use bytes::{Bytes, BytesMut};
use raft::types::{Message, MessageBody, NodeId, Snapshot, SnapshotMeta, Term};

use super::wire::{FrameRef, RawBytes, WireError, encode_frame};

/// A snapshot being cut into chunks on the sending side.
#[derive(Debug)]
pub struct OutgoingSnapshot {
    from: NodeId,
    to: NodeId,
    term: Term,
    meta: SnapshotMeta,
    data: Bytes,
    /// `None` until the `SnapshotBegin` frame is written; then the offset of the next chunk.
    next_offset: Option<usize>,
    chunk_bytes: usize,
}

impl OutgoingSnapshot {
    /// Takes an `InstallSnapshot` message apart; `None` for any other message.
    pub fn from_message(message: Message, chunk_bytes: usize) -> Option<OutgoingSnapshot> {
        assert!(chunk_bytes > 0, "snapshot chunks must carry data");
        match message.body {
            MessageBody::InstallSnapshot { snapshot } => Some(OutgoingSnapshot {
                from: message.from,
                to: message.to,
                term: message.term,
                meta: snapshot.meta,
                data: snapshot.data,
                next_offset: None,
                chunk_bytes,
            }),
            _ => None,
        }
    }

    pub fn to(&self) -> NodeId {
        self.to
    }

    pub fn is_done(&self) -> bool {
        self.next_offset.is_some_and(|offset| offset >= self.data.len())
    }

    /// Appends the next frame of the transfer to `out`. Must not be called once `is_done()`.
    pub fn encode_next(&mut self, max_frame_bytes: usize, out: &mut Vec<u8>) -> Result<(), WireError> {
        debug_assert!(!self.is_done());
        match self.next_offset {
            None => {
                let frame = FrameRef::SnapshotBegin {
                    from: self.from,
                    to: self.to,
                    term: self.term,
                    meta: &self.meta,
                    total_bytes: self.data.len() as u64,
                };
                encode_frame(&frame, max_frame_bytes, out)?;
                self.next_offset = Some(0);
            }
            Some(offset) => {
                let end = (offset + self.chunk_bytes).min(self.data.len());
                let frame = FrameRef::SnapshotChunk {
                    offset: offset as u64,
                    data: RawBytes(&self.data[offset..end]),
                };
                encode_frame(&frame, max_frame_bytes, out)?;
                self.next_offset = Some(end);
            }
        }
        Ok(())
    }
}

/// Reassembles snapshot chunks on the receiving side, refusing transfers above a total bound.
#[derive(Debug)]
pub struct SnapshotAssembler {
    max_snapshot_bytes: u64,
    in_progress: Option<PartialSnapshot>,
}

#[derive(Debug)]
struct PartialSnapshot {
    from: NodeId,
    to: NodeId,
    term: Term,
    meta: SnapshotMeta,
    total_bytes: u64,
    data: BytesMut,
}

impl PartialSnapshot {
    fn finish(self) -> Message {
        debug_assert_eq!(self.data.len() as u64, self.total_bytes);
        Message {
            from: self.from,
            to: self.to,
            term: self.term,
            body: MessageBody::InstallSnapshot {
                snapshot: Snapshot { meta: self.meta, data: self.data.freeze() },
            },
        }
    }
}

impl SnapshotAssembler {
    pub fn new(max_snapshot_bytes: u64) -> SnapshotAssembler {
        SnapshotAssembler { max_snapshot_bytes, in_progress: None }
    }

    /// Starts a transfer (abandoning an unfinished one). An empty snapshot completes at once.
    pub fn begin(
        &mut self,
        from: NodeId,
        to: NodeId,
        term: Term,
        meta: SnapshotMeta,
        total_bytes: u64,
    ) -> Result<Option<Message>, WireError> {
        self.in_progress = None;
        if total_bytes > self.max_snapshot_bytes {
            return Err(WireError::Protocol(format!(
                "snapshot of {total_bytes} bytes exceeds the limit of {} bytes",
                self.max_snapshot_bytes
            )));
        }
        // Grow as data arrives rather than trusting the announced size with one allocation.
        let partial = PartialSnapshot { from, to, term, meta, total_bytes, data: BytesMut::new() };
        if total_bytes == 0 {
            return Ok(Some(partial.finish()));
        }
        self.in_progress = Some(partial);
        Ok(None)
    }

    /// Adds a chunk; returns the whole message when its last byte arrives.
    pub fn chunk(&mut self, offset: u64, data: &[u8]) -> Result<Option<Message>, WireError> {
        let Some(partial) = self.in_progress.as_mut() else {
            return Err(WireError::Protocol("snapshot chunk without a transfer in progress".into()));
        };
        let received = partial.data.len() as u64;
        if offset != received {
            return Err(WireError::Protocol(format!(
                "snapshot chunk at offset {offset}, expected offset {received}"
            )));
        }
        if data.is_empty() || received + data.len() as u64 > partial.total_bytes {
            return Err(WireError::Protocol(format!(
                "snapshot chunk of {} bytes at offset {offset} does not fit a snapshot of {} bytes",
                data.len(),
                partial.total_bytes
            )));
        }
        partial.data.extend_from_slice(data);
        if partial.data.len() as u64 == partial.total_bytes {
            let partial = self.in_progress.take().expect("checked above");
            return Ok(Some(partial.finish()));
        }
        Ok(None)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use raft::types::ConfState;

    use super::*;
    use crate::transport::wire::{FRAME_HEADER_BYTES, Frame, decode_payload, parse_frame_header};

    const MAX: usize = 1 << 20;

    fn decode_one(bytes: &[u8]) -> Frame {
        let header: [u8; FRAME_HEADER_BYTES] = bytes[..FRAME_HEADER_BYTES].try_into().unwrap();
        let (length, checksum) = parse_frame_header(header, MAX).unwrap();
        decode_payload(&bytes[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + length], checksum).unwrap()
    }

    pub(in crate::transport) fn snapshot_message(bytes: usize) -> Message {
        let data: Vec<u8> = (0..bytes).map(|i| (i * 7 % 251) as u8).collect();
        Message {
            from: 1,
            to: 2,
            term: 8,
            body: MessageBody::InstallSnapshot {
                snapshot: Snapshot {
                    meta: SnapshotMeta { index: 100, term: 7, conf_state: ConfState::with_voters([1, 2, 3]) },
                    data: Bytes::from(data),
                },
            },
        }
    }

    fn transfer(
        message: &Message,
        chunk: usize,
        max_total: u64,
    ) -> Result<(Option<Message>, usize), WireError> {
        let mut outgoing = OutgoingSnapshot::from_message(message.clone(), chunk).unwrap();
        let mut assembler = SnapshotAssembler::new(max_total);
        let mut frames = 0;
        while !outgoing.is_done() {
            let mut out = Vec::new();
            outgoing.encode_next(MAX, &mut out).unwrap();
            frames += 1;
            let frame = decode_one(&out);
            let done = match frame {
                Frame::SnapshotBegin { from, to, term, meta, total_bytes } => {
                    assembler.begin(from, to, term, meta, total_bytes)?
                }
                Frame::SnapshotChunk { offset, data } => assembler.chunk(offset, &data)?,
                Frame::Message(_) => unreachable!(),
            };
            if let Some(done) = done {
                return Ok((Some(done), frames));
            }
        }
        Ok((None, frames))
    }

    #[test]
    fn a_snapshot_is_cut_into_bounded_chunks_and_reassembled_intact() {
        let message = snapshot_message(10_000);
        let (received, frames) = transfer(&message, 1024, 1 << 20).unwrap();
        assert_eq!(received, Some(message));
        assert_eq!(frames, 1 + 10); // the begin frame, then ceil(10000 / 1024) chunks
    }

    #[test]
    fn an_empty_snapshot_completes_with_its_begin_frame() {
        let message = snapshot_message(0);
        assert_eq!(transfer(&message, 1024, 1 << 20).unwrap(), (Some(message), 1));
    }

    #[test]
    fn a_snapshot_above_the_total_bound_is_refused() {
        assert!(matches!(transfer(&snapshot_message(5000), 1024, 4096), Err(WireError::Protocol(_))));
    }

    #[test]
    fn chunks_out_of_order_or_past_the_end_are_refused() {
        let mut assembler = SnapshotAssembler::new(1 << 20);
        assert!(assembler.chunk(0, b"abc").is_err(), "no transfer in progress");
        assert_eq!(assembler.begin(1, 2, 3, SnapshotMeta::default(), 6).unwrap(), None);
        assert!(assembler.chunk(3, b"abc").is_err(), "gap");
        let mut assembler = SnapshotAssembler::new(1 << 20);
        assembler.begin(1, 2, 3, SnapshotMeta::default(), 6).unwrap();
        assert_eq!(assembler.chunk(0, b"abcd").unwrap(), None);
        assert!(assembler.chunk(4, b"efg").is_err(), "past the announced end");
    }

    #[test]
    fn a_new_begin_abandons_an_unfinished_transfer() {
        let mut assembler = SnapshotAssembler::new(1 << 20);
        assembler.begin(1, 2, 3, SnapshotMeta::default(), 6).unwrap();
        assembler.chunk(0, b"old").unwrap();
        assembler.begin(1, 2, 4, SnapshotMeta::default(), 3).unwrap();
        let done = assembler.chunk(0, b"new").unwrap().unwrap();
        assert_eq!(done.term, 4);
        let MessageBody::InstallSnapshot { snapshot } = done.body else { panic!("not a snapshot") };
        assert_eq!(&snapshot.data[..], b"new");
    }
}
