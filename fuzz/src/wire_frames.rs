//! Target `wire_frames`: arbitrary bytes as what arrives on a peer connection, read with
//! `server::transport::wire` the way the transport reads it: the receiver's side (preamble, the
//! `Hello` handshake frame, then `Frame`s fed to a `SnapshotAssembler`), the dialer's side (a
//! `HelloAnswer`), and a membership query's answer (`MembershipAnswer`).
//!
//! Input: a mode byte (bit 0: [`FIX_CHECKSUMS`]; bits 1..: which side), then the stream. With
//! [`FIX_CHECKSUMS`] each frame's checksum is taken as right (so the fuzzer gets past it to decoding).
//!
//! Checks: nothing panics; every refusal is a `WireError` with a message, and a frame header over
//! the limit is refused before its payload is read; every decoded value re-encodes into a frame that
//! decodes to the same value (for `Frame`, the borrowing `FrameRef` encodes to the same bytes); a
//! reassembled snapshot has the announced size, and cutting it into chunks again and reassembling
//! those gives the same message.

use raft::types::{Message, MessageBody};
use serde::Serialize;
use serde::de::DeserializeOwned;
use server::transport::wire::{
    FRAME_HEADER_BYTES, Frame, FrameRef, Hello, HelloAnswer, MAX_HANDSHAKE_FRAME_BYTES,
    MAX_MEMBERSHIP_FRAME_BYTES, MembershipAnswer, OutgoingSnapshot, PREAMBLE_BYTES, PROTOCOL_VERSION,
    RawBytes, SnapshotAssembler, WireError, decode_payload, encode_frame, parse_frame_header, parse_preamble,
};
use std::fmt::Debug;

/// Mode bit: take every frame's checksum as right.
pub const FIX_CHECKSUMS: u8 = 1;
/// The frame limit used after the handshake (small, so the limit itself gets exercised).
pub const MAX_FRAME_BYTES: usize = 64 << 10;
/// The snapshot size limit of the assembler.
pub const MAX_SNAPSHOT_BYTES: u64 = 256 << 10;
/// Chunk size when a reassembled snapshot is cut up again.
const RESEND_CHUNK_BYTES: usize = 7;

pub fn check(data: &[u8]) {
    let Some((&mode, stream)) = data.split_first() else { return };
    let mut reader = FrameReader { bytes: stream, position: 0, fix_checksums: mode & FIX_CHECKSUMS != 0 };
    match (mode >> 1) % 3 {
        0 => receive_stream(&mut reader),
        1 => {
            reader.next_checked::<HelloAnswer>(MAX_HANDSHAKE_FRAME_BYTES);
        }
        _ => {
            reader.next_checked::<MembershipAnswer>(MAX_MEMBERSHIP_FRAME_BYTES);
        }
    }
}

/// Reads frames from a byte stream as `stream_io::read_frame` does from a socket.
struct FrameReader<'a> {
    bytes: &'a [u8],
    position: usize,
    fix_checksums: bool,
}

impl FrameReader<'_> {
    /// The next frame's value; `None` when the stream ends (between or inside frames).
    fn next<T: DeserializeOwned>(&mut self, max_frame_bytes: usize) -> Option<Result<T, WireError>> {
        let header_end = self.position + FRAME_HEADER_BYTES;
        let header: [u8; FRAME_HEADER_BYTES] = self.bytes.get(self.position..header_end)?.try_into().ok()?;
        let (length, checksum) = match parse_frame_header(header, max_frame_bytes) {
            Ok(parsed) => parsed,
            Err(error) => {
                assert!(matches!(error, WireError::Oversized { .. }), "{error}");
                return Some(Err(error));
            }
        };
        assert!(length <= max_frame_bytes, "an accepted header is within the limit");
        let payload = self.bytes.get(header_end..header_end + length)?;
        let checksum = if self.fix_checksums { crc32fast::hash(payload) } else { checksum };
        self.position = header_end + length;
        Some(decode_payload(payload, checksum))
    }

    /// [`FrameReader::next`], with the round trip of what decoded checked; `None` on the end of
    /// the stream or a refusal (the connection closes).
    fn next_checked<T>(&mut self, max_frame_bytes: usize) -> Option<T>
    where
        T: Serialize + DeserializeOwned + PartialEq + Debug,
    {
        match self.next::<T>(max_frame_bytes)? {
            Ok(value) => {
                check_frame_round_trip(&value, max_frame_bytes);
                Some(value)
            }
            Err(error) => {
                assert!(!error.to_string().is_empty(), "a refusal says why");
                None
            }
        }
    }
}

/// The value re-encoded into a frame within the same limit decodes to itself.
fn check_frame_round_trip<T>(value: &T, max_frame_bytes: usize)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let mut out = Vec::new();
    encode_frame(value, max_frame_bytes, &mut out).expect("a value that came in a frame fits in one");
    let mut reader = FrameReader { bytes: &out, position: 0, fix_checksums: false };
    let again: T = reader.next(max_frame_bytes).expect("a whole frame").expect("a frame we wrote decodes");
    assert_eq!(&again, value, "encode(decode(x)) decodes to the same value");
    assert_eq!(reader.position, out.len(), "one frame, nothing after it");
}

/// The receiver's side of a stream: preamble, handshake, then frames until the stream ends or
/// breaks a rule.
fn receive_stream(reader: &mut FrameReader) {
    let Some(preamble) = reader.bytes.get(..PREAMBLE_BYTES) else { return };
    let preamble: [u8; PREAMBLE_BYTES] = preamble.try_into().expect("preamble bytes");
    match parse_preamble(preamble) {
        Ok(PROTOCOL_VERSION) => {}
        Ok(_) => return,
        Err(error) => {
            assert!(matches!(error, WireError::BadMagic(_)), "{error}");
            return;
        }
    }
    reader.position = PREAMBLE_BYTES;
    let Some(hello) = reader.next_checked::<Hello>(MAX_HANDSHAKE_FRAME_BYTES) else { return };
    if let Err(reason) = hello.announced_peer_addrs() {
        assert!(!reason.is_empty(), "a refused announcement says why");
    }
    let mut assembler = SnapshotAssembler::new(MAX_SNAPSHOT_BYTES);
    // Every frame consumes at least its header, so the loop ends with the input.
    while let Some(frame) = reader.next_checked::<Frame>(MAX_FRAME_BYTES) {
        check_frame_ref_encodes_the_same(&frame);
        let completed = match frame {
            Frame::Message(message) => Ok(Some(message)),
            Frame::SnapshotBegin { from, to, term, meta, total_bytes } => {
                assembler.begin(from, to, term, meta, total_bytes)
            }
            Frame::SnapshotChunk { offset, data } => assembler.chunk(offset, &data),
        };
        match completed {
            Ok(Some(message)) => check_snapshot_resend(&message),
            Ok(None) => {}
            Err(error) => {
                assert!(matches!(error, WireError::Protocol(_)), "{error}");
                return;
            }
        }
    }
}

/// `FrameRef`, the sending side's borrowing twin of `Frame`, encodes to the same bytes.
fn check_frame_ref_encodes_the_same(frame: &Frame) {
    let borrowed = match frame {
        Frame::Message(message) => FrameRef::Message(message),
        Frame::SnapshotBegin { from, to, term, meta, total_bytes } => {
            FrameRef::SnapshotBegin { from: *from, to: *to, term: *term, meta, total_bytes: *total_bytes }
        }
        Frame::SnapshotChunk { offset, data } => {
            FrameRef::SnapshotChunk { offset: *offset, data: RawBytes(data) }
        }
    };
    let (mut owned_bytes, mut borrowed_bytes) = (Vec::new(), Vec::new());
    encode_frame(frame, MAX_FRAME_BYTES, &mut owned_bytes).expect("fits: it arrived in a frame");
    encode_frame(&borrowed, MAX_FRAME_BYTES, &mut borrowed_bytes).expect("the same size");
    assert_eq!(owned_bytes, borrowed_bytes, "Frame and FrameRef encode alike");
}

/// A snapshot message, cut into chunks by the sending side and reassembled, arrives unchanged.
fn check_snapshot_resend(message: &Message) {
    let MessageBody::InstallSnapshot { snapshot } = &message.body else { return };
    let Some(mut outgoing) = OutgoingSnapshot::from_message(message.clone(), RESEND_CHUNK_BYTES) else {
        panic!("an InstallSnapshot message is a snapshot to send");
    };
    let mut stream = Vec::new();
    let most_frames = snapshot.data.len() / RESEND_CHUNK_BYTES + 2;
    for _ in 0..most_frames {
        if outgoing.is_done() {
            break;
        }
        outgoing.encode_next(MAX_FRAME_BYTES, &mut stream).expect("chunks fit in frames");
    }
    assert!(outgoing.is_done(), "a snapshot is sent in at most {most_frames} frames");
    let mut reader = FrameReader { bytes: &stream, position: 0, fix_checksums: false };
    let mut assembler = SnapshotAssembler::new(u64::MAX);
    let mut reassembled = None;
    while let Some(frame) = reader.next::<Frame>(MAX_FRAME_BYTES) {
        assert!(reassembled.is_none(), "nothing after the frame that completes the snapshot");
        reassembled = match frame.expect("frames we wrote decode") {
            Frame::SnapshotBegin { from, to, term, meta, total_bytes } => {
                assembler.begin(from, to, term, meta, total_bytes)
            }
            Frame::SnapshotChunk { offset, data } => assembler.chunk(offset, &data),
            Frame::Message(_) => panic!("a snapshot is sent as a begin frame and chunks"),
        }
        .expect("our own chunks are in order");
    }
    assert_eq!(reassembled.as_ref(), Some(message), "the snapshot arrives unchanged");
}
