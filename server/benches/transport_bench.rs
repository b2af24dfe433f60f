//! Throughput of the peer transport between two members on loopback.
//!
//! Prints messages per second for three shapes of traffic: heartbeats (tiny frames), appends of 64
//! entries of 64 bytes each (what a busy leader pipelines), and 16 MiB snapshots (chunked). The
//! sender keeps a bounded window in flight (well under the queue bound) so nothing is dropped and
//! the figure measures the transport, not its drop policy.
//!
//! Run: `cargo bench -p server --bench transport_bench` (optionally `-- <seconds per scenario>`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use raft::types::{ConfState, Entry, EntryPayload, Message, MessageBody, Snapshot, SnapshotMeta};
use server::transport::{Transport, TransportConfig, TransportLimits};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Messages in flight at once; below the default per-peer queue bound of 4096.
const WINDOW: u64 = 2048;

struct Scenario {
    name: &'static str,
    make: fn(u64) -> Message,
    payload_bytes: usize,
    window: u64,
}

fn heartbeat(seq: u64) -> Message {
    Message { from: 1, to: 2, term: 3, body: MessageBody::Heartbeat { commit: seq, read_context: 0 } }
}

fn append(seq: u64) -> Message {
    let value = Bytes::from_static(&[b'v'; 64]);
    let entries = (0..64)
        .map(|i| Entry { term: 3, index: seq * 64 + i + 1, payload: EntryPayload::Normal(value.clone()) })
        .collect();
    Message {
        from: 1,
        to: 2,
        term: 3,
        body: MessageBody::AppendEntries {
            prev_log_index: seq * 64,
            prev_log_term: 3,
            entries,
            leader_commit: seq * 64,
        },
    }
}

fn snapshot(seq: u64) -> Message {
    thread_local! {
        static DATA: Bytes = Bytes::from(vec![0x5A; 16 << 20]);
    }
    Message {
        from: 1,
        to: 2,
        term: 3,
        body: MessageBody::InstallSnapshot {
            snapshot: Snapshot {
                meta: SnapshotMeta { index: seq, term: 3, conf_state: ConfState::with_voters([1, 2]) },
                data: DATA.with(|data| data.clone()),
            },
        },
    }
}

async fn start(id: u64, inbound: mpsc::Sender<Message>) -> Transport {
    let config = TransportConfig {
        member_id: id,
        cluster_id: 42,
        listen_peer_urls: vec!["http://127.0.0.1:0".into()],
        peers: BTreeMap::new(),
        limits: TransportLimits::default(),
        tls: None,
    };
    Transport::start(config, inbound, None, CancellationToken::new()).await.expect("transport starts")
}

async fn run(scenario: &Scenario, seconds: f64) {
    let (first_tx, _first_rx) = mpsc::channel(8);
    let (second_tx, mut second_rx) = mpsc::channel(8192);
    let first = start(1, first_tx).await;
    let second = start(2, second_tx).await;
    first.add_peer(2, &[format!("http://{}", second.local_addrs()[0])]).unwrap();
    second.add_peer(1, &[format!("http://{}", first.local_addrs()[0])]).unwrap();
    // Wait for the stream: the first messages may be dropped before it is up.
    loop {
        first.send(heartbeat(0));
        if tokio::time::timeout(Duration::from_millis(50), second_rx.recv()).await.is_ok() {
            break;
        }
    }
    while second_rx.try_recv().is_ok() {}

    let started = Instant::now();
    let budget = Duration::from_secs_f64(seconds);
    let (mut sent, mut received) = (0u64, 0u64);
    while started.elapsed() < budget {
        while sent - received < scenario.window {
            sent += 1;
            first.send((scenario.make)(sent));
        }
        match tokio::time::timeout(Duration::from_secs(30), second_rx.recv()).await {
            Ok(Some(_)) => received += 1,
            _ => panic!("{}: delivery stalled at {received} of {sent}: {:?}", scenario.name, first.stats()),
        }
        while second_rx.try_recv().is_ok() {
            received += 1;
        }
    }
    while received < sent {
        match tokio::time::timeout(Duration::from_secs(30), second_rx.recv()).await {
            Ok(Some(_)) => received += 1,
            _ => panic!("{}: delivery stalled at {received} of {sent}: {:?}", scenario.name, first.stats()),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = first.stats();
    assert_eq!(stats.dropped.total(), 0, "{stats:?}");
    println!(
        "transport_bench {:<28} {:>10.0} msgs/s {:>9.1} MiB/s payload  ({received} messages in {elapsed:.2} s)",
        scenario.name,
        received as f64 / elapsed,
        (received as f64 * scenario.payload_bytes as f64) / elapsed / (1 << 20) as f64,
    );
    first.shutdown().await;
    second.shutdown().await;
}

fn main() {
    let seconds: f64 = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(3.0);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let scenarios = [
        Scenario { name: "heartbeat", make: heartbeat, payload_bytes: 0, window: WINDOW },
        Scenario { name: "append 64 x 64 B entries", make: append, payload_bytes: 64 * 64, window: WINDOW },
        Scenario { name: "snapshot 16 MiB", make: snapshot, payload_bytes: 16 << 20, window: 1 },
    ];
    runtime.block_on(async {
        for scenario in &scenarios {
            run(scenario, seconds).await;
        }
    });
}
