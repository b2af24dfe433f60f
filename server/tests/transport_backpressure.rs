//! Bounds that drop instead of block: a full per-peer queue, a full inbound channel, a dead peer.

#[path = "transport_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use raft::types::{EntryPayload, Message, MessageBody, Snapshot};
use server::transport::{
    DropReason, Transport, TransportConfig, TransportEvent, TransportLimits, TransportStats,
};
use support::*;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_to_a_stalled_peer_drops_instead_of_blocking() {
    // The "peer" accepts TCP connections into its backlog but never answers the handshake, so the
    // writer is stuck and the queue can only fill.
    let stalled = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let limits = TransportLimits {
        max_queued_messages: 64,
        max_queued_bytes: 64 << 10,
        handshake_timeout: Duration::from_secs(30),
        ..test_limits()
    };
    let mut peers = BTreeMap::new();
    peers.insert(2, vec![format!("http://{}", stalled.local_addr().unwrap())]);
    let member = start_member(1, 3, "http://127.0.0.1:0", peers, limits, 16).await;
    for commit in 0..10_000 {
        member.transport.send(heartbeat(1, 2, commit));
    }
    // Every message past the bound is dropped and counted as queue-full, and nothing else is.
    let dropped = member.transport.stats().dropped;
    assert_eq!(dropped.count(DropReason::QueueFull), 10_000 - 64, "{dropped:?}");
    assert_eq!(dropped.total(), 10_000 - 64, "{dropped:?}");
    assert_eq!(member.transport.peer_status()[&2].dropped_messages, 10_000 - 64);
    // The byte bound holds too: 64 KiB cannot take two 40 KiB proposals.
    let member = {
        member.transport.shutdown().await;
        let mut peers = BTreeMap::new();
        peers.insert(2, vec![format!("http://{}", stalled.local_addr().unwrap())]);
        let limits = TransportLimits {
            max_queued_bytes: 64 << 10,
            handshake_timeout: Duration::from_secs(30),
            ..test_limits()
        };
        start_member(1, 3, "http://127.0.0.1:0", peers, limits, 16).await
    };
    let big = Bytes::from(vec![7u8; 40 << 10]);
    for _ in 0..2 {
        member.transport.send(Message {
            from: 1,
            to: 2,
            term: 1,
            body: MessageBody::Propose { entries: vec![EntryPayload::Normal(big.clone())] },
        });
    }
    assert_eq!(member.transport.stats().dropped.count(DropReason::QueueFull), 1);
    assert_eq!(member.transport.peer_status()[&2].dropped_messages, 1);
    member.transport.shutdown().await;
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_does_not_read_costs_dropped_messages_not_a_stuck_stream() {
    let first = start_member(1, 3, "http://127.0.0.1:0", BTreeMap::new(), test_limits(), 1024).await;
    let mut second = start_member(2, 3, "http://127.0.0.1:0", BTreeMap::new(), test_limits(), 4).await;
    first.transport.add_peer(2, &[second.url()]).unwrap();
    second.transport.add_peer(1, &[first.url()]).unwrap();
    send_until_received(&first, &mut second).await;
    while second.inbound.try_recv().is_ok() {}
    let before = second.transport.stats();

    // The node behind member 2 reads nothing while 1000 messages arrive.
    for commit in 0..1000 {
        first.transport.send(heartbeat(1, 2, commit));
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while second.transport.stats().received_messages < before.received_messages + 1000 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "messages never arrived: {:?}",
            second.transport.stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = second.transport.stats();
    let inbound_full = |stats: &TransportStats| stats.dropped.count(DropReason::InboundFull);
    assert_eq!(inbound_full(&stats) - inbound_full(&before), 1000 - 4);
    // The first four are waiting, in order; the stream itself is still alive.
    for commit in 0..4 {
        assert_eq!(second.recv().await, heartbeat(1, 2, commit));
    }
    first.transport.send(heartbeat(1, 2, 5000));
    assert_eq!(second.recv().await, heartbeat(1, 2, 5000));
    assert_eq!(stats.broken_connections, 0);
    first.transport.shutdown().await;
    second.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_token_stops_the_listener_and_the_writers() {
    let (inbound, _inbound_rx) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let mut peers = BTreeMap::new();
    peers.insert(2, vec!["http://127.0.0.1:1".to_string()]);
    let config = TransportConfig {
        member_id: 1,
        cluster_id: 3,
        listen_peer_urls: vec!["http://127.0.0.1:0".into()],
        peers,
        limits: test_limits(),
        tls: None,
    };
    let transport = Transport::start(config, inbound, None, cancel.clone()).await.unwrap();
    let addr = transport.local_addrs()[0];
    cancel.cancel();
    // Shutdown waits for every task, including the writer stuck redialling a dead peer.
    tokio::time::timeout(PATIENCE, transport.shutdown()).await.expect("shutdown hangs");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still listening after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_transport_stops_it_without_cancelling_the_callers_token() {
    let (inbound, _inbound_rx) = mpsc::channel(8);
    let callers = CancellationToken::new();
    let config = TransportConfig {
        member_id: 1,
        cluster_id: 3,
        // etcd's default peer URL names localhost; it must resolve and bind.
        listen_peer_urls: vec!["http://localhost:0".into()],
        peers: BTreeMap::new(),
        limits: test_limits(),
        tls: None,
    };
    let transport = Transport::start(config, inbound, None, callers.clone()).await.unwrap();
    let addr = transport.local_addrs()[0];
    assert!(addr.ip().is_loopback());
    drop(transport);
    assert!(!callers.is_cancelled(), "dropping the transport cancelled the caller's token");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "still listening after drop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn bad_configuration_is_refused_at_start_with_a_clear_error() {
    let start = |listen: &str, peer_url: &str| {
        let mut peers = BTreeMap::new();
        peers.insert(2, vec![peer_url.to_string()]);
        let config = TransportConfig {
            member_id: 1,
            cluster_id: 3,
            listen_peer_urls: vec![listen.to_string()],
            peers,
            limits: test_limits(),
            tls: None,
        };
        let (inbound, _) = mpsc::channel(8);
        Transport::start(config, inbound, None, CancellationToken::new())
    };
    // An https listen URL without a peer certificate: etcd's words.
    let error = start("https://127.0.0.1:0", "http://127.0.0.1:1").await.err().unwrap();
    assert_eq!(
        error.to_string(),
        "cannot listen on TLS for 127.0.0.1:0: KeyFile and CertFile are not presented"
    );
    // An https peer is accepted at start (it is dialed with TLS, or fails each attempt without it).
    assert!(start("http://127.0.0.1:0", "https://127.0.0.1:1").await.is_ok());
    let error = start("http://127.0.0.1", "http://127.0.0.1:1").await.err().unwrap();
    assert!(error.to_string().contains("port"), "{error}");
    // A port already taken.
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error =
        start(&format!("http://{}", taken.local_addr().unwrap()), "http://127.0.0.1:1").await.err().unwrap();
    assert!(error.to_string().contains("cannot listen"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_to_an_unreachable_peer_is_reported_lost_so_raft_can_retry() {
    // Nothing listens on the peer's port: every dial fails and the queue is discarded.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut peers = BTreeMap::new();
    peers.insert(2, vec![dead_url]);
    let mut member = start_member(1, 3, "http://127.0.0.1:0", peers, test_limits(), 16).await;
    member.transport.send(Message {
        from: 1,
        to: 2,
        term: 4,
        body: MessageBody::InstallSnapshot {
            snapshot: Snapshot { data: Bytes::from(vec![1u8; 4096]), ..Snapshot::default() },
        },
    });
    member.wait_event(|event| *event == TransportEvent::SnapshotSent { peer: 2, success: false }).await;
    assert!(member.transport.stats().dropped.count(DropReason::StreamDown) >= 1);
    assert!(!member.transport.peer_status()[&2].active);
    member.transport.shutdown().await;
}

/// A member whose only peer (2) accepts TCP connections but never answers the handshake, so
/// everything sent to it stays queued.
async fn member_with_a_stalled_peer(stalled: &TcpListener, cancel: CancellationToken) -> Transport {
    let mut peers = BTreeMap::new();
    peers.insert(2, vec![format!("http://{}", stalled.local_addr().unwrap())]);
    let config = TransportConfig {
        member_id: 1,
        cluster_id: 3,
        listen_peer_urls: vec!["http://127.0.0.1:0".into()],
        peers,
        limits: TransportLimits { handshake_timeout: Duration::from_secs(30), ..test_limits() },
        tls: None,
    };
    let (inbound, _) = mpsc::channel(8);
    Transport::start(config, inbound, None, cancel).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_for_a_removed_or_unknown_member_are_counted_under_their_own_reasons() {
    let stalled = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let transport = member_with_a_stalled_peer(&stalled, CancellationToken::new()).await;
    for commit in 0..10 {
        transport.send(heartbeat(1, 2, commit));
    }
    assert_eq!(transport.stats().dropped.total(), 0, "ten messages wait in the queue");

    // Removing the member discards its queue: ten drops for a removed member.
    transport.remove_peer(2);
    assert_eq!(transport.stats().dropped.count(DropReason::RemovedMember), 10);
    // Sending to it afterwards is one more; sending to a member never known is another reason.
    transport.send(heartbeat(1, 2, 10));
    transport.send(heartbeat(1, 7, 1));
    let dropped = transport.stats().dropped;
    assert_eq!(dropped.count(DropReason::RemovedMember), 11, "{dropped:?}");
    assert_eq!(dropped.count(DropReason::UnknownPeer), 1, "{dropped:?}");
    assert_eq!(dropped.total(), 12, "{dropped:?}");
    transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_still_queued_when_the_transport_stops_are_counted_as_stopped() {
    let stalled = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cancel = CancellationToken::new();
    let transport = member_with_a_stalled_peer(&stalled, cancel.clone()).await;
    for commit in 0..5 {
        transport.send(heartbeat(1, 2, commit));
    }
    cancel.cancel();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while transport.stats().dropped.count(DropReason::Stopped) < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "queued messages not counted: {:?}",
            transport.stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(transport.stats().dropped.total(), 5);
    transport.shutdown().await;
}
