//! The test cluster shared by the node's scenario tests: whole clusters of real nodes (Raft + store +
//! WAL on `MemDisk`) wired together in one thread with instant, lossless delivery.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use raft::{Message, NodeId, Role};
use server::node::{Answer, ClientRequest, Member, Node, NodeConfig, Reply, RequestError, SnapshotJob};
use server::storage::disk::{MemDisk, Tear};
use store::Command;

pub const SECOND: i64 = 1_000_000_000;

pub struct Cluster {
    pub members: Vec<Member>,
    pub disks: BTreeMap<NodeId, MemDisk>,
    pub nodes: BTreeMap<NodeId, Node>,
    pub incarnations: BTreeMap<NodeId, u64>,
    pub in_flight: VecDeque<Message>,
    pub answers: BTreeMap<u64, Answer>,
    /// Every answer in the order it came, for requests answered many times (watches).
    pub answer_log: Vec<Answer>,
    pub now: i64,
    pub snapshot_count: u64,
    /// Deliver every forwarded proposal twice (a duplicating network).
    pub duplicate_proposals: bool,
    /// `--max-watchers` of every member.
    pub max_watchers: usize,
    /// `--auto-compaction-*` of every member.
    pub auto_compaction: server::node::AutoCompaction,
    /// `--quota-backend-bytes` of every member (`None`: no quota).
    pub quota_backend_bytes: Option<u64>,
    /// `--v2-watch-history` and `--v2-watch-history-bytes` of every member.
    pub v2_watch_history: store::HistoryLimits,
    /// `--linearizable-reads` of every member.
    pub linearizable_reads: bool,
    /// Keep the snapshot jobs the nodes hand out in `snapshot_jobs` instead of writing them at once.
    pub hold_snapshot_jobs: bool,
    /// Snapshot jobs held (see `hold_snapshot_jobs`), by member.
    pub snapshot_jobs: BTreeMap<NodeId, SnapshotJob>,
}

impl Cluster {
    pub fn new(size: u64, snapshot_count: u64) -> Cluster {
        let members: Vec<Member> = (1..=size)
            .map(|id| Member {
                id,
                name: format!("n{id}"),
                peer_urls: vec![format!("http://127.0.0.1:{}", 2380 + id)],
                ..Member::default()
            })
            .collect();
        let mut cluster = Cluster {
            members,
            disks: BTreeMap::new(),
            nodes: BTreeMap::new(),
            incarnations: BTreeMap::new(),
            in_flight: VecDeque::new(),
            answers: BTreeMap::new(),
            answer_log: Vec::new(),
            now: 1_700_000_000 * SECOND,
            snapshot_count,
            duplicate_proposals: false,
            max_watchers: server::node::DEFAULT_MAX_WATCHERS,
            auto_compaction: server::node::AutoCompaction::Off,
            quota_backend_bytes: Some(server::node::DEFAULT_QUOTA_BACKEND_BYTES),
            v2_watch_history: store::HistoryLimits::default(),
            linearizable_reads: false,
            hold_snapshot_jobs: false,
            snapshot_jobs: BTreeMap::new(),
        };
        for id in 1..=size {
            cluster.disks.insert(id, MemDisk::new());
            cluster.start(id);
        }
        cluster
    }

    pub fn config(&self, id: NodeId) -> NodeConfig {
        let mut config =
            NodeConfig::new(id, 0xc1, self.members.clone(), PathBuf::from(format!("/data/n{id}")));
        config.snapshot_count = self.snapshot_count;
        config.snapshot_catchup_entries = 2;
        config.seed = id * 7919;
        config.max_watchers = self.max_watchers;
        config.auto_compaction = self.auto_compaction;
        config.quota_backend_bytes = self.quota_backend_bytes;
        config.v2_watch_history = self.v2_watch_history;
        config.linearizable_reads = self.linearizable_reads;
        config.incarnation = self.incarnations.get(&id).copied().unwrap_or(0);
        config
    }

    pub fn start(&mut self, id: NodeId) {
        *self.incarnations.entry(id).or_insert(0) += 1;
        let disk: Arc<dyn server::storage::disk::Disk> = Arc::new(self.disks[&id].clone());
        let node = Node::open(self.config(id), disk).expect("node opens");
        self.nodes.insert(id, node);
    }

    pub fn crash(&mut self, id: NodeId) {
        self.nodes.remove(&id);
        self.snapshot_jobs.remove(&id);
        self.disks[&id].crash(Tear::DropUnsynced);
    }

    /// A snapshot job a node handed out: written at once (the next `process()` records it), or held.
    fn take_snapshot_job(&mut self, id: NodeId, job: SnapshotJob) {
        if self.hold_snapshot_jobs {
            assert!(self.snapshot_jobs.insert(id, job).is_none(), "one snapshot job per member at a time");
        } else {
            self.nodes.get_mut(&id).unwrap().snapshot_written(job.run());
        }
    }

    /// Writes member `id`'s held snapshot job to its disk and reports it to the node.
    pub fn run_snapshot_job(&mut self, id: NodeId) {
        let job = self.snapshot_jobs.remove(&id).expect("a held snapshot job");
        self.nodes.get_mut(&id).unwrap().snapshot_written(job.run());
    }

    /// Runs every node's `process()` and delivers messages until the cluster is quiet.
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut progressed = false;
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                let mut output = self.nodes.get_mut(&id).unwrap().process().expect("process");
                progressed |= !output.messages.is_empty() || !output.answers.is_empty();
                if let Some(job) = output.snapshot_job.take() {
                    progressed = true;
                    self.take_snapshot_job(id, job);
                }
                self.in_flight.extend(output.messages);
                for answer in output.answers {
                    self.answer_log.push(answer.clone());
                    self.answers.insert(answer.request_id, answer);
                }
            }
            while let Some(message) = self.in_flight.pop_front() {
                progressed = true;
                if self.duplicate_proposals
                    && matches!(message.body, raft::MessageBody::Propose { .. })
                    && let Some(node) = self.nodes.get_mut(&message.to)
                {
                    node.receive(message.clone());
                }
                if let Some(node) = self.nodes.get_mut(&message.to) {
                    node.receive(message);
                }
            }
            if !progressed {
                return;
            }
        }
        panic!("cluster never settled");
    }

    pub fn tick_all(&mut self, ticks: u32) {
        for _ in 0..ticks {
            self.now += SECOND / 10;
            let now = self.now;
            for node in self.nodes.values_mut() {
                node.tick(now);
            }
            self.settle();
        }
    }

    pub fn leader(&self) -> Option<NodeId> {
        self.nodes.values().find(|node| node.raft().role() == Role::Leader).map(|node| node.id())
    }

    pub fn elect(&mut self) -> NodeId {
        for _ in 0..100 {
            self.tick_all(1);
            if let Some(leader) = self.leader() {
                return leader;
            }
        }
        panic!("no leader elected");
    }

    pub fn request(&mut self, at: NodeId, request_id: u64, request: ClientRequest) -> Answer {
        let now = self.now;
        self.nodes.get_mut(&at).unwrap().submit(request_id, request, now);
        self.settle();
        for _ in 0..50 {
            if let Some(answer) = self.answers.remove(&request_id) {
                return answer;
            }
            self.tick_all(1);
        }
        panic!("request {request_id} never answered");
    }

    pub fn set(&mut self, at: NodeId, request_id: u64, key: &str, value: &str) -> Answer {
        let command = Command::Set {
            key: key.into(),
            value: value.into(),
            dir: false,
            ttl: None,
            refresh: false,
            now: self.now,
        };
        self.request(at, request_id, ClientRequest::Write(command))
    }

    pub fn get(&mut self, at: NodeId, request_id: u64, key: &str, quorum: bool) -> Option<String> {
        let request = ClientRequest::Get { key: key.into(), recursive: false, sorted: false, quorum };
        match self.request(at, request_id, request).result {
            Ok(Reply::Event(event)) => event.node.value.clone(),
            Err(RequestError::Store(error)) if error.code == 100 => None,
            other => panic!("unexpected get answer {other:?}"),
        }
    }
}
