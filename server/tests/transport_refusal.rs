//! Who may talk to whom, and what bad bytes do: other clusters, removed members, strangers and
//! misdirected dialers are refused with a reason; corrupt, oversized or spoofed frames close the
//! stream without disturbing the member.

#[path = "transport_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use raft::types::Message;
use server::transport::wire::{self, Frame, FrameRef, Hello, HelloAnswer, RefusalReason};
use server::transport::{DropReason, TransportError, TransportEvent};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn refused_by(peer: u64, expected: fn(&RefusalReason) -> bool) -> impl Fn(&TransportEvent) -> bool {
    move |event| matches!(event, TransportEvent::PeerRefused { peer: p, reason } if *p == peer && expected(reason))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_another_cluster_is_refused_with_the_reason() {
    let mut ours = start_member(1, 0xAAAA, "http://127.0.0.1:0", BTreeMap::new(), test_limits(), 64).await;
    let mut theirs = start_member(2, 0xBBBB, "http://127.0.0.1:0", BTreeMap::new(), test_limits(), 64).await;
    theirs.transport.add_peer(1, &[ours.url()]).unwrap();
    ours.transport.add_peer(2, &[theirs.url()]).unwrap();
    ours.transport.send(heartbeat(1, 2, 1));
    let event =
        ours.wait_event(refused_by(2, |r| matches!(r, RefusalReason::ClusterIdMismatch { .. }))).await;
    assert_eq!(
        event,
        TransportEvent::PeerRefused {
            peer: 2,
            reason: RefusalReason::ClusterIdMismatch { receiver_cluster_id: 0xBBBB }
        }
    );
    assert!(!ours.transport.peer_status()[&2].active);
    assert!(theirs.transport.stats().refused_connections >= 1);
    assert!(theirs.inbound.try_recv().is_err(), "a message crossed clusters");
    ours.transport.shutdown().await;
    theirs.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_is_cut_off_refused_and_cannot_be_re_added() {
    let mut members = start_cluster(&[1, 2], 5).await;
    let mut second = members.pop().unwrap();
    let mut first = members.pop().unwrap();
    send_until_received(&first, &mut second).await;

    second.transport.remove_peer(1);
    // Member 1's open stream is closed and every redial is refused as a removed member.
    first.wait_event(refused_by(2, |r| *r == RefusalReason::RemovedMember)).await;
    assert!(!second.transport.peer_status().contains_key(&1));
    assert!(matches!(second.transport.add_peer(1, &[first.url()]), Err(TransportError::PeerRemoved(1))));
    // Nothing from the removed member gets through any more.
    while second.inbound.try_recv().is_ok() {}
    for commit in 0..20 {
        first.transport.send(heartbeat(1, 2, commit));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(second.inbound.try_recv().is_err(), "a removed member's message was delivered");
    // Messages to the removed member are dropped at once and counted as such.
    let before = second.transport.stats().dropped;
    second.transport.send(heartbeat(2, 1, 1));
    let after = second.transport.stats().dropped;
    assert_eq!(after.count(DropReason::RemovedMember), before.count(DropReason::RemovedMember) + 1);
    assert_eq!(after.count(DropReason::UnknownPeer), 0);
    first.transport.shutdown().await;
    second.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_misdirected_dialers_are_refused() {
    let target = start_member(2, 5, "http://127.0.0.1:0", BTreeMap::new(), test_limits(), 64).await;
    // Member 3 is not in member 2's table and announces no URL to be answered at (a stranger that
    // does is answered as a remote: see transport_unknown_peer.rs).
    let stranger = Hello { cluster_id: 5, from: 3, to: 2, peer_urls: Vec::new() };
    let (_stream, answer) = raw_stream(&target.url(), stranger).await;
    assert_eq!(answer, HelloAnswer::Refused(RefusalReason::UnknownSender));
    assert!(target.transport.remote_peers().is_empty());

    // Member 1 believes member 4 lives at member 2's address.
    target.transport.add_peer(1, &["http://127.0.0.1:1".to_string()]).unwrap();
    let mut confused = start_member(1, 5, "http://127.0.0.1:0", BTreeMap::new(), test_limits(), 64).await;
    confused.transport.add_peer(4, &[target.url()]).unwrap();
    confused.transport.send(heartbeat(1, 4, 1));
    confused.wait_event(refused_by(4, |r| *r == RefusalReason::WrongReceiver { receiver_id: 2 })).await;
    for member in [target, confused] {
        member.transport.shutdown().await;
    }
}

/// A raw client that speaks the wire protocol by hand, to send what a real transport never would.
async fn raw_stream(url: &str, hello: Hello) -> (TcpStream, HelloAnswer) {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut out = wire::preamble().to_vec();
    wire::encode_frame(&hello, wire::MAX_HANDSHAKE_FRAME_BYTES, &mut out).unwrap();
    stream.write_all(&out).await.unwrap();
    let mut header = [0u8; wire::FRAME_HEADER_BYTES];
    stream.read_exact(&mut header).await.unwrap();
    let (length, checksum) = wire::parse_frame_header(header, wire::MAX_HANDSHAKE_FRAME_BYTES).unwrap();
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await.unwrap();
    (stream, wire::decode_payload(&payload, checksum).unwrap())
}

fn frame_of(message: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    wire::encode_frame(&FrameRef::Message(message), 1 << 20, &mut out).unwrap();
    out
}

/// Waits until the member closes `stream` (a read returns end-of-stream or an error).
async fn expect_closed(stream: &mut TcpStream) {
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer)).await.expect("connection left open");
    assert!(matches!(read, Ok(0) | Err(_)), "member wrote {read:?} instead of closing");
}

async fn member_with_peer_one() -> TestMember {
    let mut peers = BTreeMap::new();
    peers.insert(1, vec!["http://127.0.0.1:1".to_string()]);
    start_member(2, 5, "http://127.0.0.1:0", peers, test_limits(), 64).await
}

const HELLO: Hello = Hello { cluster_id: 5, from: 1, to: 2, peer_urls: Vec::new() };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_with_a_bad_checksum_closes_the_stream_and_later_frames_are_not_delivered() {
    let mut member = member_with_peer_one().await;
    let (mut stream, answer) = raw_stream(&member.url(), HELLO).await;
    assert_eq!(answer, HelloAnswer::Accepted);
    // A good frame is delivered...
    stream.write_all(&frame_of(&heartbeat(1, 2, 1))).await.unwrap();
    assert_eq!(member.recv().await, heartbeat(1, 2, 1));
    // ...a corrupted one closes the stream...
    let mut corrupt = frame_of(&heartbeat(1, 2, 2));
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x40;
    let mut bytes = corrupt;
    bytes.extend(frame_of(&heartbeat(1, 2, 3)));
    stream.write_all(&bytes).await.unwrap();
    expect_closed(&mut stream).await;
    // ...and what followed it on the same write never reaches the node.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(member.inbound.try_recv().is_err());
    assert_eq!(member.transport.stats().broken_connections, 1);
    member.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_header_closes_the_stream_without_allocating() {
    let member = member_with_peer_one().await;
    let (mut stream, answer) = raw_stream(&member.url(), HELLO).await;
    assert_eq!(answer, HelloAnswer::Accepted);
    let mut header = Vec::new();
    header.extend_from_slice(&u32::MAX.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    stream.write_all(&header).await.unwrap();
    expect_closed(&mut stream).await;
    member.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_claiming_another_sender_closes_the_stream() {
    let mut member = member_with_peer_one().await;
    let (mut stream, _) = raw_stream(&member.url(), HELLO).await;
    // Member 1's stream carrying a message "from" member 3: a spoof or a bug, either way refused.
    stream.write_all(&frame_of(&heartbeat(3, 2, 1))).await.unwrap();
    expect_closed(&mut stream).await;
    assert!(member.inbound.try_recv().is_err());
    // A snapshot chunk without a transfer in progress is a protocol error as well.
    let (mut stream, _) = raw_stream(&member.url(), HELLO).await;
    let chunk = Frame::SnapshotChunk { offset: 0, data: bytes::Bytes::from_static(b"data") };
    let mut out = Vec::new();
    wire::encode_frame(&chunk, 1 << 20, &mut out).unwrap();
    stream.write_all(&out).await.unwrap();
    expect_closed(&mut stream).await;
    member.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_not_a_peer_handshake_are_turned_away() {
    let member = member_with_peer_one().await;
    let addr = member.url().trim_start_matches("http://").to_string();
    // An HTTP client that wandered onto the peer port.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.write_all(b"GET /v2/keys HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    expect_closed(&mut stream).await;
    // A valid preamble followed by a garbage handshake frame.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let mut bytes = wire::preamble().to_vec();
    bytes.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
    stream.write_all(&bytes).await.unwrap();
    expect_closed(&mut stream).await;
    // A newer protocol version is refused with the reason.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let mut bytes = wire::MAGIC.to_vec();
    bytes.extend_from_slice(&(wire::PROTOCOL_VERSION + 1).to_le_bytes());
    wire::encode_frame(&HELLO, wire::MAX_HANDSHAKE_FRAME_BYTES, &mut bytes).unwrap();
    stream.write_all(&bytes).await.unwrap();
    let mut header = [0u8; wire::FRAME_HEADER_BYTES];
    stream.read_exact(&mut header).await.unwrap();
    let (length, checksum) = wire::parse_frame_header(header, wire::MAX_HANDSHAKE_FRAME_BYTES).unwrap();
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await.unwrap();
    let answer: HelloAnswer = wire::decode_payload(&payload, checksum).unwrap();
    assert_eq!(
        answer,
        HelloAnswer::Refused(RefusalReason::VersionMismatch { receiver_version: wire::PROTOCOL_VERSION })
    );
    expect_closed(&mut stream).await;
    assert_eq!(member.transport.stats().refused_connections, 3);
    member.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_completes_its_handshake_is_closed() {
    let mut peers = BTreeMap::new();
    peers.insert(1, vec!["http://127.0.0.1:1".to_string()]);
    let limits =
        server::transport::TransportLimits { handshake_timeout: Duration::from_millis(200), ..test_limits() };
    let member = start_member(2, 5, "http://127.0.0.1:0", peers, limits, 64).await;
    let addr = member.url().trim_start_matches("http://").to_string();
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    expect_closed(&mut silent).await;
    // Half a preamble, then silence.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(&wire::MAGIC).await.unwrap();
    expect_closed(&mut slow).await;
    assert_eq!(member.transport.stats().refused_connections, 2);
    member.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_inbound_bound_are_refused() {
    let mut peers = BTreeMap::new();
    peers.insert(1, vec!["http://127.0.0.1:1".to_string()]);
    let limits = server::transport::TransportLimits { max_inbound_connections: 2, ..test_limits() };
    let member = start_member(2, 5, "http://127.0.0.1:0", peers, limits, 64).await;
    let addr = member.url().trim_start_matches("http://").to_string();
    // Two idle connections take both slots (they sit in their handshake).
    let _first = TcpStream::connect(&addr).await.unwrap();
    let _second = TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_third, answer) = raw_stream(&member.url(), HELLO).await;
    assert_eq!(answer, HelloAnswer::Refused(RefusalReason::TooManyConnections));
    member.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_a_good_handshake_closes_that_stream_and_the_member_keeps_serving() {
    let mut member = member_with_peer_one().await;
    let mut state: u64 = 0x0BAD_F00D_5EED_0001;
    for _ in 0..20 {
        let (mut stream, answer) = raw_stream(&member.url(), HELLO).await;
        assert_eq!(answer, HelloAnswer::Accepted);
        let garbage: Vec<u8> = (0..256)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        // The member may close before reading it all; a failed write is fine.
        let _ = stream.write_all(&garbage).await;
        // End our side too: garbage announcing a long frame then meets end-of-stream mid-frame.
        let _ = stream.shutdown().await;
        expect_closed(&mut stream).await;
    }
    // Still healthy: a well-behaved stream is accepted and delivered.
    let (mut stream, answer) = raw_stream(&member.url(), HELLO).await;
    assert_eq!(answer, HelloAnswer::Accepted);
    stream.write_all(&frame_of(&heartbeat(1, 2, 77))).await.unwrap();
    assert_eq!(member.recv().await, heartbeat(1, 2, 77));
    member.transport.shutdown().await;
}
