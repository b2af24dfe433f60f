//! The bytes on a peer connection, as pure functions over buffers (no sockets here).
//!
//! A connection opens with a preamble written by the dialer: the magic `CNCD` and the protocol
//! version as a little-endian u32, checked before anything is decoded, so a stray HTTP client or an
//! incompatible build is refused without trusting its bytes. Everything after the preamble, both
//! ways, is a frame:
//!
//! ```text
//! | length: u32 LE | crc32(payload): u32 LE | payload: `length` bytes, codec-encoded |
//! ```
//!
//! The first frame each way is the handshake ([`Hello`] from the dialer, [`HelloAnswer`] back); after
//! an accepted handshake only the dialer writes, and its frames are [`Frame`]s. A snapshot travels as
//! one [`Frame::SnapshotBegin`] and then bounded [`Frame::SnapshotChunk`]s, so no frame is ever larger
//! than the frame limit whatever the snapshot size; other frames may be interleaved between chunks.

use std::fmt;

use bytes::Bytes;
use raft::types::{Message, NodeId, SnapshotMeta, Term};
use serde::{Deserialize, Serialize};

pub use super::snapshot_transfer::{OutgoingSnapshot, SnapshotAssembler};

use crate::codec::{self, CodecError};
use crate::url::{PeerAddr, parse_peer_url};

/// Written first by the dialer. Changing the framing or the frame types bumps [`PROTOCOL_VERSION`].
pub const MAGIC: [u8; 4] = *b"CNCD";
/// Version 2: [`Hello`] carries the dialer's peer URLs.
pub const PROTOCOL_VERSION: u32 = 2;
pub const PREAMBLE_BYTES: usize = 8;
pub const FRAME_HEADER_BYTES: usize = 8;
/// The handshake frames are small; a peer claiming more before it is authenticated is refused.
pub const MAX_HANDSHAKE_FRAME_BYTES: usize = 8192;
/// Peer URLs a [`Hello`] may announce. etcd members advertise one or two; 16 leaves room for
/// multi-homed hosts while keeping the handshake small.
pub const MAX_ANNOUNCED_PEER_URLS: usize = 16;
/// Bytes of one announced peer URL: `http://`, a DNS name of at most 253 bytes, `:` and a port.
pub const MAX_PEER_URL_BYTES: usize = 320;

// The largest Hello a dialer may send fits in a handshake frame: each URL costs its bytes plus a
// length prefix of at most 3 bytes, the IDs at most 9 bytes each.
const _: () = assert!(MAX_ANNOUNCED_PEER_URLS * (MAX_PEER_URL_BYTES + 3) + 64 <= MAX_HANDSHAKE_FRAME_BYTES);

/// The dialer's introduction: which cluster it belongs to, who it is, whom it means to reach, and
/// where it can be reached itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub cluster_id: u64,
    pub from: NodeId,
    pub to: NodeId,
    /// The dialer's advertised peer URLs (etcd's `X-PeerURLs` header). A receiver that does not
    /// know the dialer yet (it lags behind the membership changes that added it) uses them to
    /// answer it; see [`Hello::announced_peer_addrs`].
    pub peer_urls: Vec<String>,
}

impl Hello {
    /// A `Hello` with every field zero (and no URLs) is not a stream: it asks the receiver for the
    /// cluster's membership (etcd's GetClusterFromRemotePeers), which a member started with
    /// `--initial-cluster-state existing` needs before it knows its own ID or the cluster's. Member
    /// and cluster IDs are never zero, so no real stream can be mistaken for it.
    pub const MEMBERSHIP_QUERY: Hello = Hello { cluster_id: 0, from: 0, to: 0, peer_urls: Vec::new() };

    pub fn is_membership_query(&self) -> bool {
        *self == Hello::MEMBERSHIP_QUERY
    }

    /// The announced peer URLs as addresses to dial, or why they cannot be used: none announced, more
    /// than [`MAX_ANNOUNCED_PEER_URLS`], one longer than [`MAX_PEER_URL_BYTES`], or one that is not
    /// an `http(s)://host:port` URL. The frame bound already caps the decoded size; these checks keep
    /// what a receiver stores about a stranger small and dialable.
    pub fn announced_peer_addrs(&self) -> Result<Vec<PeerAddr>, String> {
        check_announced_peer_urls(&self.peer_urls)
    }
}

/// The rules of [`Hello::announced_peer_addrs`], also applied by a dialer to the URLs it announces.
pub fn check_announced_peer_urls(urls: &[String]) -> Result<Vec<PeerAddr>, String> {
    if urls.is_empty() {
        return Err("no peer URL announced".into());
    }
    if urls.len() > MAX_ANNOUNCED_PEER_URLS {
        return Err(format!("{} peer URLs announced, at most {MAX_ANNOUNCED_PEER_URLS} allowed", urls.len()));
    }
    urls.iter()
        .map(|url| {
            if url.len() > MAX_PEER_URL_BYTES {
                return Err(format!("a peer URL of {} bytes exceeds {MAX_PEER_URL_BYTES} bytes", url.len()));
            }
            parse_peer_url(url).map_err(|error| error.to_string())
        })
        .collect()
}

/// The answer to [`Hello::MEMBERSHIP_QUERY`], written as one frame of at most
/// [`MAX_MEMBERSHIP_FRAME_BYTES`], after which the receiver closes the connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipAnswer {
    pub cluster_id: u64,
    pub members: Vec<MemberInfo>,
    /// Members removed from the cluster: their IDs never come back.
    pub removed: Vec<NodeId>,
}

/// One member in a [`MembershipAnswer`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub id: NodeId,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

/// Bound of a membership answer (thousands of members with several URLs each).
pub const MAX_MEMBERSHIP_FRAME_BYTES: usize = 1 << 20;

/// Why a receiver refused a connection. Sent back to the dialer so both sides log the same reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefusalReason {
    /// The dialer's protocol version differs from the receiver's.
    VersionMismatch { receiver_version: u32 },
    /// The dialer belongs to another cluster.
    ClusterIdMismatch { receiver_cluster_id: u64 },
    /// The dialer meant to reach another member (stale peer URLs, or a port reused by another member).
    WrongReceiver { receiver_id: NodeId },
    /// The dialer is not in the receiver's peer table and cannot be taken on as a remote (it announced
    /// no usable peer URL to be answered at, or the receiver already keeps its bound of remotes).
    UnknownSender,
    /// The dialer was removed from the cluster and may never rejoin under this ID.
    RemovedMember,
    /// The receiver already serves its bound of inbound connections.
    TooManyConnections,
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefusalReason::VersionMismatch { receiver_version } => {
                write!(f, "protocol version mismatch (receiver speaks version {receiver_version})")
            }
            RefusalReason::ClusterIdMismatch { receiver_cluster_id } => {
                write!(f, "cluster ID mismatch (receiver's cluster ID is {receiver_cluster_id:016x})")
            }
            RefusalReason::WrongReceiver { receiver_id } => {
                write!(f, "wrong receiver (this address serves member {receiver_id:016x})")
            }
            RefusalReason::UnknownSender => {
                write!(f, "sender is not a member known to the receiver and cannot be answered as a remote")
            }
            RefusalReason::RemovedMember => write!(f, "sender was removed from the cluster"),
            RefusalReason::TooManyConnections => write!(f, "receiver has too many inbound connections"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelloAnswer {
    Accepted,
    Refused(RefusalReason),
}

/// What the dialer sends after the handshake (decoding side: owns its data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// Any message except a snapshot.
    Message(Message),
    /// Opens a snapshot transfer; `total_bytes` of data follow in chunks. A new `SnapshotBegin`
    /// abandons any unfinished transfer on the same connection (the newer snapshot supersedes it).
    SnapshotBegin { from: NodeId, to: NodeId, term: Term, meta: SnapshotMeta, total_bytes: u64 },
    /// The next `data` of the transfer in progress, starting at `offset`.
    SnapshotChunk { offset: u64, data: Bytes },
}

/// The encoding side of [`Frame`]: same variants in the same order, so it encodes to the same bytes,
/// but it borrows the message instead of cloning its entries.
#[derive(Serialize)]
pub enum FrameRef<'a> {
    Message(&'a Message),
    SnapshotBegin { from: NodeId, to: NodeId, term: Term, meta: &'a SnapshotMeta, total_bytes: u64 },
    SnapshotChunk { offset: u64, data: RawBytes<'a> },
}

/// Borrowed bytes that serialize as one byte string (like `Bytes`), not as a sequence of `u8`s.
pub struct RawBytes<'a>(pub &'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// Why bytes on a connection were refused. Every variant closes the connection.
#[derive(Debug)]
pub enum WireError {
    Io(std::io::Error),
    /// The connection did not start with [`MAGIC`].
    BadMagic([u8; 4]),
    /// A frame header claims more than the limit.
    Oversized {
        length: usize,
        max: usize,
    },
    /// The payload does not match its checksum.
    BadChecksum {
        expected: u32,
        actual: u32,
    },
    /// The payload passed its checksum but is not a valid value.
    Decode(CodecError),
    /// The encoded value does not fit in one frame (sending side).
    TooLargeToSend {
        length: usize,
        max: usize,
    },
    /// A well-formed frame that breaks the protocol (wrong sender, chunk out of order, ...).
    Protocol(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Io(error) => write!(f, "i/o error: {error}"),
            WireError::BadMagic(magic) => {
                write!(f, "not a Concord peer connection (starts with {magic:02x?})")
            }
            WireError::Oversized { length, max } => {
                write!(f, "frame of {length} bytes exceeds the limit of {max} bytes")
            }
            WireError::BadChecksum { expected, actual } => {
                write!(f, "frame checksum mismatch (header says {expected:08x}, payload has {actual:08x})")
            }
            WireError::Decode(error) => write!(f, "bad frame payload: {error}"),
            WireError::TooLargeToSend { length, max } => {
                write!(f, "encoded frame of {length} bytes exceeds the limit of {max} bytes")
            }
            WireError::Protocol(reason) => write!(f, "protocol violation: {reason}"),
        }
    }
}

impl std::error::Error for WireError {}

impl From<std::io::Error> for WireError {
    fn from(error: std::io::Error) -> Self {
        WireError::Io(error)
    }
}

pub fn preamble() -> [u8; PREAMBLE_BYTES] {
    let mut bytes = [0u8; PREAMBLE_BYTES];
    bytes[..4].copy_from_slice(&MAGIC);
    bytes[4..].copy_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    bytes
}

/// Splits a preamble into its magic check and the dialer's version.
pub fn parse_preamble(bytes: [u8; PREAMBLE_BYTES]) -> Result<u32, WireError> {
    let magic: [u8; 4] = bytes[..4].try_into().expect("slice of four bytes");
    if magic != MAGIC {
        return Err(WireError::BadMagic(magic));
    }
    Ok(u32::from_le_bytes(bytes[4..].try_into().expect("slice of four bytes")))
}

/// Appends one frame holding `value` to `out`. On error `out` is left as it was.
pub fn encode_frame<T: Serialize + ?Sized>(
    value: &T,
    max_frame_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_BYTES]);
    codec::encode_into(value, out);
    let length = out.len() - start - FRAME_HEADER_BYTES;
    if length > max_frame_bytes || length > u32::MAX as usize {
        out.truncate(start);
        return Err(WireError::TooLargeToSend { length, max: max_frame_bytes });
    }
    let checksum = crc32fast::hash(&out[start + FRAME_HEADER_BYTES..]);
    out[start..start + 4].copy_from_slice(&(length as u32).to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&checksum.to_le_bytes());
    Ok(())
}

/// Reads a frame header: the payload length (checked against `max_frame_bytes`) and its checksum.
pub fn parse_frame_header(
    header: [u8; FRAME_HEADER_BYTES],
    max_frame_bytes: usize,
) -> Result<(usize, u32), WireError> {
    let length = u32::from_le_bytes(header[..4].try_into().expect("four bytes")) as usize;
    let checksum = u32::from_le_bytes(header[4..].try_into().expect("four bytes"));
    if length > max_frame_bytes {
        return Err(WireError::Oversized { length, max: max_frame_bytes });
    }
    Ok((length, checksum))
}

/// Checks a payload against its header's checksum and decodes it.
pub fn decode_payload<T: serde::de::DeserializeOwned>(
    payload: &[u8],
    expected_checksum: u32,
) -> Result<T, WireError> {
    let actual = crc32fast::hash(payload);
    if actual != expected_checksum {
        return Err(WireError::BadChecksum { expected: expected_checksum, actual });
    }
    codec::decode(payload).map_err(WireError::Decode)
}

#[cfg(test)]
mod tests {
    use raft::types::{Entry, EntryPayload, MessageBody};

    use super::*;
    use crate::transport::snapshot_transfer::tests::snapshot_message;

    const MAX: usize = 1 << 20;

    fn decode_one(bytes: &[u8]) -> Result<(Frame, usize), WireError> {
        let header: [u8; FRAME_HEADER_BYTES] = bytes[..FRAME_HEADER_BYTES].try_into().unwrap();
        let (length, checksum) = parse_frame_header(header, MAX)?;
        let payload = &bytes[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + length];
        Ok((decode_payload(payload, checksum)?, FRAME_HEADER_BYTES + length))
    }

    fn append(from: NodeId, to: NodeId) -> Message {
        Message {
            from,
            to,
            term: 4,
            body: MessageBody::AppendEntries {
                prev_log_index: 9,
                prev_log_term: 3,
                entries: vec![Entry {
                    term: 4,
                    index: 10,
                    payload: EntryPayload::Normal(Bytes::from_static(b"x")),
                }],
                leader_commit: 9,
            },
        }
    }

    #[test]
    fn borrowed_frames_decode_as_owned_frames() {
        let message = append(1, 2);
        let mut out = Vec::new();
        encode_frame(&FrameRef::Message(&message), MAX, &mut out).unwrap();
        let (frame, used) = decode_one(&out).unwrap();
        assert_eq!(used, out.len());
        assert_eq!(frame, Frame::Message(message));
    }

    #[test]
    fn a_flipped_payload_bit_fails_the_checksum() {
        let mut out = Vec::new();
        encode_frame(&FrameRef::Message(&append(1, 2)), MAX, &mut out).unwrap();
        let last = out.len() - 1;
        out[last] ^= 0x01;
        assert!(matches!(decode_one(&out), Err(WireError::BadChecksum { .. })));
    }

    #[test]
    fn an_oversized_header_is_refused_before_reading_the_payload() {
        let mut header = [0u8; FRAME_HEADER_BYTES];
        header[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse_frame_header(header, MAX), Err(WireError::Oversized { .. })));
    }

    #[test]
    fn a_value_too_large_for_one_frame_is_refused_and_leaves_the_buffer_intact() {
        let mut out = vec![7u8; 3];
        let big = vec![0u8; 100];
        assert!(matches!(encode_frame(&big, 50, &mut out), Err(WireError::TooLargeToSend { .. })));
        assert_eq!(out, vec![7u8; 3]);
    }

    #[test]
    fn a_wrong_magic_is_refused() {
        assert_eq!(parse_preamble(preamble()).unwrap(), PROTOCOL_VERSION);
        assert!(matches!(parse_preamble(*b"GET / HT"), Err(WireError::BadMagic(_))));
    }

    /// A tiny deterministic generator, so the randomized tests below replay exactly.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn random_and_mutated_frames_are_refused_or_decoded_never_a_panic() {
        let mut rng = XorShift(0x5EED_F00D_C0C0);
        let mut valid = Vec::new();
        encode_frame(&FrameRef::Message(&append(1, 2)), MAX, &mut valid).unwrap();
        encode_frame(&FrameRef::Message(&snapshot_message(300)), MAX, &mut valid).unwrap();
        for round in 0..20_000 {
            let mut bytes = if round % 2 == 0 {
                // Pure noise behind a plausible header.
                let length = (rng.next() % 512) as usize;
                let mut noise: Vec<u8> = (0..FRAME_HEADER_BYTES + length).map(|_| rng.next() as u8).collect();
                noise[..4].copy_from_slice(&(length as u32).to_le_bytes());
                noise
            } else {
                // A valid frame with a few flipped bits.
                let mut mutated = valid.clone();
                for _ in 0..1 + rng.next() % 4 {
                    let at = (rng.next() as usize) % mutated.len();
                    mutated[at] ^= 1 << (rng.next() % 8);
                }
                mutated
            };
            // Recompute the checksum half the time, so the decoder itself sees hostile payloads.
            if round % 4 < 2 && bytes.len() >= FRAME_HEADER_BYTES {
                let length = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
                if FRAME_HEADER_BYTES + length <= bytes.len() {
                    let checksum = crc32fast::hash(&bytes[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + length]);
                    bytes[4..8].copy_from_slice(&checksum.to_le_bytes());
                }
            }
            let header: [u8; FRAME_HEADER_BYTES] = bytes[..FRAME_HEADER_BYTES].try_into().unwrap();
            let Ok((length, checksum)) = parse_frame_header(header, MAX) else { continue };
            let Some(payload) = bytes.get(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + length) else { continue };
            if let Ok(Frame::SnapshotBegin { from, to, term, meta, total_bytes }) =
                decode_payload(payload, checksum)
            {
                // Whatever a hostile begin frame announces, the assembler holds to its bound.
                let mut assembler = SnapshotAssembler::new(1 << 20);
                let _ = assembler.begin(from, to, term, meta, total_bytes);
            }
        }
    }

    fn hello_with(urls: Vec<String>) -> Hello {
        Hello { cluster_id: 0xC1, from: u64::MAX, to: u64::MAX - 1, peer_urls: urls }
    }

    fn decode_hello(bytes: &[u8]) -> Result<Hello, WireError> {
        let header: [u8; FRAME_HEADER_BYTES] = bytes[..FRAME_HEADER_BYTES].try_into().unwrap();
        let (length, checksum) = parse_frame_header(header, MAX_HANDSHAKE_FRAME_BYTES)?;
        decode_payload(&bytes[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + length], checksum)
    }

    #[test]
    fn a_hello_carries_the_dialers_peer_urls_and_the_membership_query_still_decodes() {
        let hello = hello_with(vec!["http://10.0.0.4:2380".into(), "http://node4.example:2380".into()]);
        let mut out = Vec::new();
        encode_frame(&hello, MAX_HANDSHAKE_FRAME_BYTES, &mut out).unwrap();
        assert_eq!(decode_hello(&out).unwrap(), hello);
        assert_eq!(
            hello.announced_peer_addrs().unwrap(),
            vec![PeerAddr::http("10.0.0.4", 2380), PeerAddr::http("node4.example", 2380)]
        );
        let mut out = Vec::new();
        encode_frame(&Hello::MEMBERSHIP_QUERY, MAX_HANDSHAKE_FRAME_BYTES, &mut out).unwrap();
        let query = decode_hello(&out).unwrap();
        assert!(query.is_membership_query());
        assert!(!hello.is_membership_query());
        // Zero IDs with URLs are not the query (nor a valid stream: IDs are never zero).
        let odd = Hello { peer_urls: vec!["http://a:1".into()], ..Hello::MEMBERSHIP_QUERY };
        assert!(!odd.is_membership_query());
    }

    #[test]
    fn the_largest_hello_a_dialer_may_send_fits_in_a_handshake_frame() {
        // Longest URLs, largest IDs (u64::MAX costs the most varint bytes).
        let host = "h".repeat(MAX_PEER_URL_BYTES - "http://:65535".len());
        let url = format!("http://{host}:65535");
        assert_eq!(url.len(), MAX_PEER_URL_BYTES);
        let hello = hello_with(vec![url; MAX_ANNOUNCED_PEER_URLS]);
        assert!(hello.announced_peer_addrs().is_ok());
        let mut out = Vec::new();
        encode_frame(&hello, MAX_HANDSHAKE_FRAME_BYTES, &mut out).unwrap();
        assert_eq!(decode_hello(&out).unwrap(), hello);
    }

    #[test]
    fn announced_urls_a_receiver_cannot_use_are_refused_with_a_reason() {
        assert!(hello_with(vec![]).announced_peer_addrs().unwrap_err().contains("no peer URL"));
        let too_many = vec!["http://a:1".to_string(); MAX_ANNOUNCED_PEER_URLS + 1];
        assert!(hello_with(too_many).announced_peer_addrs().unwrap_err().contains("at most"));
        let long = format!("http://{}:1", "h".repeat(MAX_PEER_URL_BYTES));
        assert!(hello_with(vec![long]).announced_peer_addrs().unwrap_err().contains("exceeds"));
        for bad in ["ftp://a:1", "a:1", "http://a", "http://a:1/path", "http://:1", ""] {
            let hello = hello_with(vec!["http://ok:1".into(), bad.into()]);
            assert!(hello.announced_peer_addrs().is_err(), "{bad:?} accepted");
        }
        let secure = hello_with(vec!["https://a:1".into()]).announced_peer_addrs().unwrap();
        assert_eq!(secure[0].scheme, crate::url::Scheme::Https, "an https peer is answered over TLS");
    }

    #[test]
    fn random_and_mutated_hellos_are_refused_or_decoded_never_a_panic() {
        let mut rng = XorShift(0x4E11_0C0D_E5EE_D001);
        let mut valid = Vec::new();
        let urls = vec!["http://127.0.0.1:2380".to_string(), "http://[::1]:2380".to_string()];
        encode_frame(&hello_with(urls), MAX_HANDSHAKE_FRAME_BYTES, &mut valid).unwrap();
        for round in 0..20_000 {
            let mut bytes = if round % 2 == 0 {
                let length = (rng.next() % 256) as usize;
                let mut noise: Vec<u8> = (0..FRAME_HEADER_BYTES + length).map(|_| rng.next() as u8).collect();
                noise[..4].copy_from_slice(&(length as u32).to_le_bytes());
                noise
            } else {
                let mut mutated = valid.clone();
                for _ in 0..1 + rng.next() % 4 {
                    let at =
                        FRAME_HEADER_BYTES + (rng.next() as usize) % (mutated.len() - FRAME_HEADER_BYTES);
                    mutated[at] ^= 1 << (rng.next() % 8);
                }
                mutated
            };
            let length = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
            let checksum = crc32fast::hash(&bytes[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + length]);
            bytes[4..8].copy_from_slice(&checksum.to_le_bytes());
            if let Ok(hello) = decode_hello(&bytes) {
                // Whatever decodes, checking its URLs answers rather than panics.
                let _ = hello.announced_peer_addrs();
            }
        }
    }
}
