//! Transports on loopback exchanging Raft messages: every direction works, order is kept on a stream,
//! a restarted peer is reconnected, and large snapshots arrive intact in chunks.

#[path = "transport_support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use raft::types::{ConfState, Message, MessageBody, Snapshot, SnapshotMeta};
use server::transport::{DropReason, TransportEvent, TransportLimits};
use support::*;

/// Two distinct members of the slice, the first shared and the second mutable.
fn pair(members: &mut [TestMember], from: usize, to: usize) -> (&TestMember, &mut TestMember) {
    assert_ne!(from, to);
    if from < to {
        let (left, right) = members.split_at_mut(to);
        (&left[from], &mut right[0])
    } else {
        let (left, right) = members.split_at_mut(from);
        (&right[0], &mut left[to])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_exchange_messages_in_every_direction_in_order() {
    let mut members = start_cluster(&[1, 2, 3], 0xC0FFEE).await;
    // Establish every stream first: until then messages may be dropped by design.
    for from in 0..3 {
        for to in 0..3 {
            if from != to {
                let (sender, receiver) = pair(&mut members, from, to);
                send_until_received(sender, receiver).await;
            }
        }
    }
    // Setup may have seen refusals (a member dialled a peer that had not added it yet); none after.
    let refusals_during_setup: Vec<u64> =
        members.iter().map(|m| m.transport.stats().refused_connections).collect();
    for member in &mut members {
        while member.inbound.try_recv().is_ok() {}
    }
    // Now every stream is up: a burst arrives whole and in order.
    for from in 0..3 {
        for to in 0..3 {
            if from != to {
                let (sender, receiver) = pair(&mut members, from, to);
                for commit in 1..=100 {
                    sender.transport.send(heartbeat(sender.id, receiver.id, commit));
                }
                sender.transport.send(proposal(sender.id, receiver.id, b"set /a 1"));
            }
        }
    }
    for member in &mut members {
        let mut next_commit: BTreeMap<u64, u64> = BTreeMap::new();
        let mut proposals = 0;
        while proposals < 2 {
            let message = member.recv().await;
            assert_eq!(message.to, member.id);
            match message.body {
                MessageBody::Heartbeat { commit, .. } => {
                    let expected = next_commit.entry(message.from).or_insert(1);
                    assert_eq!(commit, *expected, "messages from {} reordered or lost", message.from);
                    *expected += 1;
                }
                MessageBody::Propose { entries } => {
                    assert_eq!(next_commit.get(&message.from), Some(&101), "proposal overtook heartbeats");
                    assert_eq!(
                        entries,
                        vec![raft::types::EntryPayload::Normal(Bytes::from_static(b"set /a 1"))]
                    );
                    proposals += 1;
                }
                other => panic!("unexpected message {other:?}"),
            }
        }
    }
    for (member, refusals) in members.iter().zip(refusals_during_setup) {
        let status = member.transport.peer_status();
        assert_eq!(status.len(), 2);
        assert!(status.values().all(|peer| peer.active), "{status:?}");
        let stats = member.transport.stats();
        assert_eq!(stats.dropped.count(DropReason::QueueFull), 0);
        assert_eq!(stats.refused_connections, refusals);
    }
    for member in members {
        member.transport.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_peer_is_reported_unreachable_then_reconnected() {
    let mut members = start_cluster(&[1, 2], 7).await;
    let mut second = members.pop().unwrap();
    let mut first = members.pop().unwrap();
    send_until_received(&first, &mut second).await;
    first.wait_event(|event| *event == TransportEvent::PeerActive(2)).await;

    // Member 2 goes away; member 1 notices when its stream breaks and tells the node.
    let second_url = second.url();
    second.transport.shutdown().await;
    first.wait_event(|event| *event == TransportEvent::PeerUnreachable(2)).await;
    assert!(!first.transport.peer_status()[&2].active);
    // Sending to an unreachable peer still returns at once, and retries (several in this time,
    // with the tests' short backoff) do not repeat the event.
    for commit in 0..10_000 {
        first.transport.send(heartbeat(1, 2, commit));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.transport.send(heartbeat(1, 2, 0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(event) = first.events.try_recv() {
        assert_ne!(event, TransportEvent::PeerUnreachable(2), "unreachable reported twice for one outage");
    }

    // Member 2 comes back on the same address; member 1's writer redials on its own.
    let mut peers = BTreeMap::new();
    peers.insert(1, vec![first.url()]);
    let mut second = start_member(2, 7, &second_url, peers, test_limits(), 1024).await;
    first.wait_event(|event| *event == TransportEvent::PeerActive(2)).await;
    send_until_received(&first, &mut second).await;
    send_until_received(&second, &mut first).await;
    assert!(first.transport.peer_status()[&2].active);
    first.transport.shutdown().await;
    second.transport.shutdown().await;
}

fn snapshot_message(from: u64, to: u64, bytes: usize, seed: u8) -> Message {
    let data: Vec<u8> = (0..bytes).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
    Message {
        from,
        to,
        term: 5,
        body: MessageBody::InstallSnapshot {
            snapshot: Snapshot {
                meta: SnapshotMeta { index: 4242, term: 4, conf_state: ConfState::with_voters([1, 2]) },
                data: Bytes::from(data),
            },
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_snapshot_is_chunked_and_arrives_intact_with_heartbeats_between_chunks() {
    // 24 MiB of snapshot through frames of at most 1 MiB: only chunking can deliver it.
    let limits =
        TransportLimits { max_frame_bytes: 1 << 20, snapshot_chunk_bytes: 256 << 10, ..test_limits() };
    let mut first = start_member(1, 9, "http://127.0.0.1:0", BTreeMap::new(), limits.clone(), 4096).await;
    let mut second = start_member(2, 9, "http://127.0.0.1:0", BTreeMap::new(), limits, 4096).await;
    first.transport.add_peer(2, &[second.url()]).unwrap();
    second.transport.add_peer(1, &[first.url()]).unwrap();
    send_until_received(&first, &mut second).await;
    while second.inbound.try_recv().is_ok() {}

    let snapshot = snapshot_message(1, 2, 24 << 20, 3);
    first.transport.send(snapshot.clone());
    for commit in 1..=50 {
        first.transport.send(heartbeat(1, 2, commit));
    }
    let mut heartbeats = 0;
    let received = loop {
        let message = second.recv().await;
        match message.body {
            MessageBody::InstallSnapshot { .. } => break message,
            MessageBody::Heartbeat { .. } => heartbeats += 1,
            other => panic!("unexpected message {other:?}"),
        }
    };
    assert_eq!(received, snapshot, "snapshot damaged in transit");
    first.wait_event(|event| *event == TransportEvent::SnapshotSent { peer: 2, success: true }).await;
    // The heartbeats were queued after the snapshot yet arrived before its end: they go between chunks.
    assert_eq!(heartbeats, 50, "heartbeats were held back behind the whole snapshot");
    send_until_received(&first, &mut second).await;
    assert_eq!(second.transport.stats().broken_connections, 0);
    first.transport.shutdown().await;
    second.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_over_the_receivers_bound_closes_the_stream_and_later_ones_still_arrive() {
    let small = TransportLimits { max_snapshot_bytes: 1 << 20, ..test_limits() };
    let mut first = start_member(1, 9, "http://127.0.0.1:0", BTreeMap::new(), test_limits(), 1024).await;
    let mut second = start_member(2, 9, "http://127.0.0.1:0", BTreeMap::new(), small, 1024).await;
    first.transport.add_peer(2, &[second.url()]).unwrap();
    second.transport.add_peer(1, &[first.url()]).unwrap();
    send_until_received(&first, &mut second).await;

    first.transport.send(snapshot_message(1, 2, 2 << 20, 1));
    first.wait_event(|event| *event == TransportEvent::PeerUnreachable(2)).await;
    // The stream comes back; a snapshot within the bound is then delivered.
    let fits = snapshot_message(1, 2, 512 << 10, 2);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        first.transport.send(fits.clone());
        if let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_millis(200), second.inbound.recv()).await
        {
            assert_eq!(message, fits);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "snapshot within the bound never arrived");
    }
    assert!(second.transport.stats().broken_connections >= 1);
    first.transport.shutdown().await;
    second.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_peer_moves_to_a_new_address_the_stream_follows_its_new_url() {
    let mut members = start_cluster(&[1, 2], 11).await;
    let second = members.pop().unwrap();
    let mut first = members.pop().unwrap();
    let mut second = second;
    send_until_received(&first, &mut second).await;

    // Member 2 restarts on another port; member 1 is told the new URL (a committed member update).
    second.transport.shutdown().await;
    let mut peers = BTreeMap::new();
    peers.insert(1, vec![first.url()]);
    let mut moved = start_member(2, 11, "http://127.0.0.1:0", peers, test_limits(), 1024).await;
    first.transport.update_peer(2, &[moved.url()]).unwrap();
    send_until_received(&first, &mut moved).await;
    first.wait_event(|event| *event == TransportEvent::PeerActive(2)).await;
    assert!(first.transport.peer_status()[&2].active);
    let stats = first.transport.stats();
    assert!(stats.sent_bytes > 0 && moved.transport.stats().received_bytes > 0, "{stats:?}");
    first.transport.shutdown().await;
    moved.transport.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_update_on_a_live_stream_redials_the_new_url() {
    // Member 2 listens on two addresses; member 1 first knows only the first one.
    let (inbound, mut second_inbound) = tokio::sync::mpsc::channel(1024);
    let config = server::transport::TransportConfig {
        member_id: 2,
        cluster_id: 12,
        listen_peer_urls: vec!["http://127.0.0.1:0".into(), "http://127.0.0.1:0".into()],
        peers: BTreeMap::new(),
        limits: test_limits(),
        tls: None,
    };
    let second =
        server::transport::Transport::start(config, inbound, None, Default::default()).await.unwrap();
    let [old_addr, new_addr] = [second.local_addrs()[0], second.local_addrs()[1]];
    let mut first = start_member(1, 12, "http://127.0.0.1:0", BTreeMap::new(), test_limits(), 1024).await;
    second.add_peer(1, &[first.url()]).unwrap();
    first.transport.add_peer(2, &[format!("http://{old_addr}")]).unwrap();
    first.wait_event(|event| *event == TransportEvent::PeerActive(2)).await;

    first.transport.update_peer(2, &[format!("http://{new_addr}")]).unwrap();
    // The writer notices on its next wake-up, drops the old stream and dials the new address.
    first.transport.send(heartbeat(1, 2, 1));
    first.wait_event(|event| *event == TransportEvent::PeerActive(2)).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        first.transport.send(heartbeat(1, 2, 2));
        if let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_millis(50), second_inbound.recv()).await
            && message == heartbeat(1, 2, 2)
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no message over the new URL");
    }
    first.transport.shutdown().await;
    second.shutdown().await;
}
