//! Helpers shared by the transport tests: start transports on 127.0.0.1 with ephemeral ports, wire
//! them to each other, and wait (with generous bounds) for messages and events.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use raft::types::{Message, MessageBody, NodeId};
use server::transport::{Transport, TransportConfig, TransportEvent, TransportLimits};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long a test waits for something that should happen at once on loopback. Generous so a loaded
/// CI machine never flakes; nothing asserts on how fast it happens.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub struct TestMember {
    pub id: NodeId,
    pub transport: Transport,
    pub inbound: mpsc::Receiver<Message>,
    pub events: mpsc::Receiver<TransportEvent>,
}

impl TestMember {
    pub fn url(&self) -> String {
        format!("http://{}", self.transport.local_addrs()[0])
    }

    /// Receives the next message, failing the test if none arrives within [`PATIENCE`].
    pub async fn recv(&mut self) -> Message {
        tokio::time::timeout(PATIENCE, self.inbound.recv())
            .await
            .unwrap_or_else(|_| panic!("member {} received nothing within {PATIENCE:?}", self.id))
            .expect("inbound channel closed")
    }

    /// Waits for an event matching `wanted`, skipping others.
    pub async fn wait_event(&mut self, wanted: impl Fn(&TransportEvent) -> bool) -> TransportEvent {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("member {} saw no expected event within {PATIENCE:?}", self.id))
                .expect("event channel closed");
            if wanted(&event) {
                return event;
            }
        }
    }
}

/// Limits that make the tests quick: short backoff, everything else default.
pub fn test_limits() -> TransportLimits {
    TransportLimits {
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(200),
        ..TransportLimits::default()
    }
}

pub async fn start_member(
    id: NodeId,
    cluster_id: u64,
    listen: &str,
    peers: BTreeMap<NodeId, Vec<String>>,
    limits: TransportLimits,
    inbound_capacity: usize,
) -> TestMember {
    let (inbound_tx, inbound) = mpsc::channel(inbound_capacity);
    let (events_tx, events) = mpsc::channel(1024);
    let config = TransportConfig {
        member_id: id,
        cluster_id,
        listen_peer_urls: vec![listen.to_string()],
        peers,
        limits,
        tls: None,
    };
    let transport = Transport::start(config, inbound_tx, Some(events_tx), CancellationToken::new())
        .await
        .expect("transport starts");
    TestMember { id, transport, inbound, events }
}

/// Starts members of one cluster on ephemeral ports and introduces them to each other.
pub async fn start_cluster(ids: &[NodeId], cluster_id: u64) -> Vec<TestMember> {
    let mut members = Vec::new();
    for &id in ids {
        members.push(
            start_member(id, cluster_id, "http://127.0.0.1:0", BTreeMap::new(), test_limits(), 1024).await,
        );
    }
    introduce(&members);
    members
}

/// Tells every member about every other member.
pub fn introduce(members: &[TestMember]) {
    let urls: Vec<(NodeId, String)> = members.iter().map(|m| (m.id, m.url())).collect();
    for member in members {
        for (id, url) in &urls {
            if *id != member.id {
                member.transport.add_peer(*id, std::slice::from_ref(url)).expect("add peer");
            }
        }
    }
}

pub fn heartbeat(from: NodeId, to: NodeId, commit: u64) -> Message {
    Message { from, to, term: 1, body: MessageBody::Heartbeat { commit, read_context: 0 } }
}

pub fn proposal(from: NodeId, to: NodeId, data: &'static [u8]) -> Message {
    Message {
        from,
        to,
        term: 2,
        body: MessageBody::Propose {
            entries: vec![raft::types::EntryPayload::Normal(Bytes::from_static(data))],
        },
    }
}

/// Sends heartbeats from `from` to `to` until `to` receives one: the first messages after a
/// (re)connection may be dropped while the stream is not up, which is the transport's contract.
pub async fn send_until_received(from: &TestMember, to: &mut TestMember) -> Message {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut commit = 0;
    loop {
        commit += 1;
        from.transport.send(heartbeat(from.id, to.id, commit));
        if let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(50), to.inbound.recv()).await {
            return message;
        }
        assert!(tokio::time::Instant::now() < deadline, "no message from {} reached {}", from.id, to.id);
    }
}
