//! A member that lagged behind membership changes does not know the members added since, yet one of
//! them may be the leader that must catch it up or a candidate that needs its vote. Its transport
//! answers such a dialer of the same cluster as a *remote* (etcd's AddRemote): the stream is
//! accepted, messages reach the node, and replies go back on the URLs the dialer announced. Removed
//! members and other clusters are still refused; a remote becomes a peer when the membership
//! catches up, and is cut off for good when it is removed.

#[path = "transport_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use server::transport::wire::{Hello, HelloAnswer, RefusalReason};
use server::transport::{DropReason, TransportEvent, TransportLimits};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn refused_by(peer: u64, expected: RefusalReason) -> impl Fn(&TransportEvent) -> bool {
    move |event| matches!(event, TransportEvent::PeerRefused { peer: p, reason } if *p == peer && *reason == expected)
}

/// Members 1, 2, 3 know each other; member 4 (same cluster) knows them all, but they do not know it:
/// it was added while they were not following.
async fn lagging_trio_and_a_newer_member() -> (Vec<TestMember>, TestMember) {
    let trio = start_cluster(&[1, 2, 3], 5).await;
    let peers: BTreeMap<u64, Vec<String>> =
        trio.iter().map(|member| (member.id, vec![member.url()])).collect();
    let newer = start_member(4, 5, "http://127.0.0.1:0", peers, test_limits(), 1024).await;
    (trio, newer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_member_accepts_and_answers_a_member_it_does_not_know() {
    let (mut trio, mut newer) = lagging_trio_and_a_newer_member().await;
    let mut lagging = trio.remove(0);
    assert!(!lagging.transport.peer_status().contains_key(&4));

    // The newer member (say, the new leader) reaches the lagging one: its message is delivered...
    let received = send_until_received(&newer, &mut lagging).await;
    assert_eq!((received.from, received.to), (4, 1));
    assert_eq!(lagging.transport.remote_peers(), vec![4]);
    assert_eq!(lagging.transport.stats().remotes_added, 1);
    // ...and the lagging member can answer it, on the URL member 4 announced in its handshake.
    let answer = send_until_received(&lagging, &mut newer).await;
    assert_eq!((answer.from, answer.to), (1, 4));
    // A remote is not a member: it stays out of the peer table the strict reconfiguration check reads.
    assert!(!lagging.transport.peer_status().contains_key(&4));

    // The membership catches up (member 4's addition applies): the remote becomes a plain peer and
    // traffic keeps flowing both ways.
    lagging.transport.add_peer(4, &[newer.url()]).unwrap();
    assert!(lagging.transport.remote_peers().is_empty());
    assert!(lagging.transport.peer_status().contains_key(&4));
    send_until_received(&lagging, &mut newer).await;
    send_until_received(&newer, &mut lagging).await;
    assert_eq!(lagging.transport.stats().remotes_added, 1);

    for member in trio.into_iter().chain([lagging, newer]) {
        member.transport.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_that_is_later_removed_is_refused_from_then_on() {
    let (mut trio, mut newer) = lagging_trio_and_a_newer_member().await;
    let mut lagging = trio.remove(0);
    send_until_received(&newer, &mut lagging).await;
    assert_eq!(lagging.transport.remote_peers(), vec![4]);

    // The lagging member learns that member 4 was removed.
    lagging.transport.remove_peer(4);
    assert!(lagging.transport.remote_peers().is_empty());
    newer.wait_event(refused_by(1, RefusalReason::RemovedMember)).await;
    while lagging.inbound.try_recv().is_ok() {}
    for commit in 0..20 {
        newer.transport.send(heartbeat(4, 1, commit));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(lagging.inbound.try_recv().is_err(), "a removed remote's message was delivered");
    let dropped = lagging.transport.stats().dropped.count(DropReason::RemovedMember);
    lagging.transport.send(heartbeat(1, 4, 1));
    assert_eq!(lagging.transport.stats().dropped.count(DropReason::RemovedMember), dropped + 1);

    for member in trio.into_iter().chain([lagging, newer]) {
        member.transport.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_members_and_other_clusters_are_not_taken_on_as_remotes() {
    let (mut trio, mut newer) = lagging_trio_and_a_newer_member().await;
    let lagging = trio.remove(0);
    // Member 4 was removed before it ever dialed: refused as removed, not answered as a remote.
    lagging.transport.remove_peer(4);
    newer.transport.send(heartbeat(4, 1, 1));
    newer.wait_event(refused_by(1, RefusalReason::RemovedMember)).await;

    // A member of another cluster that knows member 1's address.
    let mut peers = BTreeMap::new();
    peers.insert(1, vec![lagging.url()]);
    let mut foreign = start_member(9, 0xF0, "http://127.0.0.1:0", peers, test_limits(), 64).await;
    foreign.transport.send(heartbeat(9, 1, 1));
    foreign.wait_event(refused_by(1, RefusalReason::ClusterIdMismatch { receiver_cluster_id: 5 })).await;

    assert!(lagging.transport.remote_peers().is_empty());
    assert_eq!(lagging.transport.stats().remotes_added, 0);
    for member in trio.into_iter().chain([lagging, newer, foreign]) {
        member.transport.shutdown().await;
    }
}

/// Dials `url` by hand with `hello` and returns the answer.
async fn handshake(url: &str, hello: Hello) -> (TcpStream, HelloAnswer) {
    let mut stream = TcpStream::connect(url.trim_start_matches("http://")).await.unwrap();
    let mut out = server::transport::wire::preamble().to_vec();
    server::transport::wire::encode_frame(
        &hello,
        server::transport::wire::MAX_HANDSHAKE_FRAME_BYTES,
        &mut out,
    )
    .unwrap();
    stream.write_all(&out).await.unwrap();
    let mut header = [0u8; server::transport::wire::FRAME_HEADER_BYTES];
    stream.read_exact(&mut header).await.unwrap();
    let (length, checksum) = server::transport::wire::parse_frame_header(
        header,
        server::transport::wire::MAX_HANDSHAKE_FRAME_BYTES,
    )
    .unwrap();
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await.unwrap();
    (stream, server::transport::wire::decode_payload(&payload, checksum).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remotes_are_bounded_and_need_a_url_to_be_answered_at() {
    let limits = TransportLimits { max_remote_peers: 2, ..test_limits() };
    let member = start_member(1, 5, "http://127.0.0.1:0", BTreeMap::new(), limits, 64).await;
    let stranger = |from: u64, urls: &[&str]| Hello {
        cluster_id: 5,
        from,
        to: 1,
        peer_urls: urls.iter().map(|url| url.to_string()).collect(),
    };
    // Nowhere to answer: refused.
    let (_a, answer) = handshake(&member.url(), stranger(10, &[])).await;
    assert_eq!(answer, HelloAnswer::Refused(RefusalReason::UnknownSender));
    // (An https URL is a usable one now that peers speak TLS; a URL without a port is not.)
    let (_b, answer) = handshake(&member.url(), stranger(10, &["http://127.0.0.1"])).await;
    assert_eq!(answer, HelloAnswer::Refused(RefusalReason::UnknownSender));
    // Two remotes fill the bound (their URLs lead nowhere; the writers just keep retrying)...
    let (_c, answer) = handshake(&member.url(), stranger(10, &["http://127.0.0.1:1"])).await;
    assert_eq!(answer, HelloAnswer::Accepted);
    let (_d, answer) = handshake(&member.url(), stranger(11, &["http://127.0.0.1:1"])).await;
    assert_eq!(answer, HelloAnswer::Accepted);
    // ...a third is refused, while a known remote that redials is still accepted.
    let (_e, answer) = handshake(&member.url(), stranger(12, &["http://127.0.0.1:1"])).await;
    assert_eq!(answer, HelloAnswer::Refused(RefusalReason::UnknownSender));
    let (_f, answer) = handshake(&member.url(), stranger(10, &["http://127.0.0.1:2"])).await;
    assert_eq!(answer, HelloAnswer::Accepted);
    // A dialer claiming our own ID is no remote either.
    let (_g, answer) = handshake(&member.url(), stranger(1, &["http://127.0.0.1:1"])).await;
    assert_eq!(answer, HelloAnswer::Refused(RefusalReason::UnknownSender));
    assert_eq!(member.transport.remote_peers(), vec![10, 11]);
    assert_eq!(member.transport.stats().remotes_added, 2);
    member.transport.shutdown().await;
}
