//! Throughput of the Raft core alone: a 3-node in-memory cluster (no IO, no serialization), every
//! Ready persisted "instantly" and every message delivered in order. Prints entries committed per
//! second on the leader with 1 proposal in flight and with 1,000 in flight (batched).
//!
//! Run: `cargo bench -p raft` (optionally `-- <seconds per mode>`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use raft::*;

struct Bench {
    nodes: Vec<Raft>,
    network: VecDeque<Message>,
    leader_committed: u64,
    messages: u64,
}

impl Bench {
    fn new() -> Bench {
        let nodes = (1..=3)
            .map(|id| Raft::new(Config::new(id, id), RestoreState::new_cluster([1, 2, 3])).unwrap())
            .collect();
        let mut bench = Bench { nodes, network: VecDeque::new(), leader_committed: 0, messages: 0 };
        bench.nodes[0].campaign();
        bench.run_until_quiet();
        assert_eq!(bench.nodes[0].role(), Role::Leader);
        bench
    }

    fn process(&mut self, position: usize) {
        let node = &mut self.nodes[position];
        if !node.has_ready() {
            return;
        }
        let ready = node.ready();
        // "Persist" instantly and acknowledge.
        if let Some((index, term)) = ready.persisted_point() {
            node.on_persisted(index, term);
        }
        if position == 0 {
            self.leader_committed += ready.committed_entries.len() as u64;
        }
        self.network.extend(ready.messages);
        self.network.extend(ready.messages_after_persist);
    }

    fn step_once(&mut self) -> bool {
        for position in 0..self.nodes.len() {
            self.process(position);
        }
        let Some(message) = self.network.pop_front() else { return false };
        self.messages += 1;
        let to = (message.to - 1) as usize;
        self.nodes[to].step(message);
        true
    }

    fn run_until_quiet(&mut self) {
        while self.step_once() || self.nodes.iter().any(Raft::has_ready) {}
    }

    /// Keeps the logs short, like a real node snapshotting periodically.
    fn compact(&mut self) {
        for node in &mut self.nodes {
            let applied = node.applied_index();
            if applied > node.first_index() + 50_000 {
                let snapshot = Snapshot {
                    meta: SnapshotMeta { index: applied, ..Default::default() },
                    data: Bytes::new(),
                };
                node.compact(snapshot, applied);
            }
        }
    }

    /// Proposes so that `in_flight` entries are outstanding at all times, for `duration`.
    fn run(&mut self, in_flight: u64, duration: Duration) -> (u64, Duration, u64) {
        static PAYLOAD: [u8; 64] = [7; 64];
        let start_committed = self.leader_committed;
        let start_messages = self.messages;
        let mut proposed = self.leader_committed;
        let start = Instant::now();
        let mut rounds = 0u64;
        loop {
            while proposed - self.leader_committed < in_flight {
                self.nodes[0].propose(Bytes::from_static(&PAYLOAD)).expect("leader accepts");
                proposed += 1;
            }
            // Deliver until the leader has applied something new.
            let before = self.leader_committed;
            while self.leader_committed == before {
                if !self.step_once() && !self.nodes.iter().any(Raft::has_ready) {
                    break;
                }
            }
            rounds += 1;
            if rounds.is_multiple_of(64) {
                self.compact();
                if start.elapsed() >= duration {
                    break;
                }
            }
        }
        (self.leader_committed - start_committed, start.elapsed(), self.messages - start_messages)
    }
}

fn main() {
    let seconds: f64 = std::env::args().skip(1).find_map(|argument| argument.parse().ok()).unwrap_or(2.0);
    let duration = Duration::from_secs_f64(seconds);
    println!("raft core throughput: 3 nodes in memory, 64-byte entries, no IO ({seconds} s per mode)");
    for in_flight in [1u64, 1_000] {
        let mut bench = Bench::new();
        let (entries, elapsed, messages) = bench.run(in_flight, duration);
        let per_second = entries as f64 / elapsed.as_secs_f64();
        println!(
            "  {in_flight:>5} in flight: {entries:>10} entries in {:.2} s = {:>12.0} entries/s ({:.0} messages/s)",
            elapsed.as_secs_f64(),
            per_second,
            messages as f64 / elapsed.as_secs_f64()
        );
    }
}
