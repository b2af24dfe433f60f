//! The boundary between the simulator and the code it drives: a member as the simulator sees it
//! (`SimNode`) and the factory that starts members over their simulated disks (`Backend`).
//! Adapters in `backend` implement these over the production node.

use std::collections::BTreeSet;

use raft::{Entry, Index, NodeId, Role, Term};

use crate::history::{OperationKind, OperationResult};

/// What the invariant checks read from a live member after every event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeView {
    pub term: Term,
    pub vote: Option<NodeId>,
    pub role: Role,
    pub leader: Option<NodeId>,
    pub commit: Index,
    pub applied: Index,
    pub first_index: Index,
    pub last_index: Index,
}

/// What one `process()` call produced.
#[derive(Debug, Default)]
pub struct NodeOutput {
    pub messages: Vec<raft::Message>,
    pub responses: Vec<(u64, OperationResult)>,
    /// Answers to membership changes: Ok once applied, Err with the member's reason otherwise.
    pub member_answers: Vec<(u64, Result<(), String>)>,
    /// The member applied its own removal: the process exits (etcd's "permanently removed").
    pub removed: bool,
}

/// A membership change an operator asks for (`etcdctl member add` / `member remove`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberChange {
    /// Add a new member with this (never used before) ID: it joins as a learner and the leader
    /// promotes it to voter once it has caught up.
    Add(NodeId),
    Remove(NodeId),
}

/// The membership a member has applied (what `member list` on it shows).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    pub voters: BTreeSet<NodeId>,
    pub learners: BTreeSet<NodeId>,
    /// Every member ever removed (their IDs never come back; their messages are refused).
    pub removed: BTreeSet<NodeId>,
}

impl Membership {
    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.learners.contains(&id)
    }
}

/// One running member, driven only through its sans-IO API.
pub trait SimNode {
    fn tick(&mut self, now_ns: i64);
    fn receive(&mut self, message: raft::Message);
    /// A client operation on workload key `key`; the answer comes out of a later `process()`.
    fn submit(&mut self, request_id: u64, key: u32, kind: &OperationKind, now_ns: i64);
    /// A v3 watch stream on workload key `key` from `start_revision` (0: from the next revision); its
    /// updates come out of later `process()` calls as `OperationResult::V3Watch`, until one ends it.
    /// Only called when the backend `supports_v3()`.
    fn submit_v3_watch(&mut self, _request_id: u64, _key: u32, _start_revision: u64, _now_ns: i64) {}
    /// The client of request `request_id` (a watch) went away: forget it. No answer follows; unknown
    /// or finished requests are ignored.
    fn cancel(&mut self, _request_id: u64, _now_ns: i64) {}
    /// Watchers the member keeps registered (waiting for an event): a leak check at the end.
    fn watchers(&self) -> u64 {
        0
    }
    /// Persists (including one disk sync), applies, answers. Err: the member stops (disk failure or
    /// corruption detected).
    fn process(&mut self) -> Result<NodeOutput, String>;
    fn view(&self) -> NodeView;
    /// How often the member's Raft core took each of its rules since this process started.
    fn coverage(&self) -> raft::Coverage;
    /// Log entries in `from..=to_inclusive` that the member still holds (None when compacted away).
    fn entries(&self, from: Index, to_inclusive: Index) -> Option<Vec<Entry>>;
    /// A digest of the applied state machine, equal on members that applied the same entries.
    fn store_digest(&self) -> u64;
    /// Asks for a membership change; the answer comes out of a later `process()` in
    /// `member_answers`. Only called when the backend `supports_membership()`.
    fn submit_member_change(&mut self, _request_id: u64, _change: MemberChange, _now_ns: i64) {}
    /// The membership this member has applied.
    fn membership(&self) -> Membership {
        Membership::default()
    }
    /// Whether this member knows `id` was removed: the production transport refuses a removed
    /// member's connections and tells it, and the removed process then exits.
    fn refuses(&self, _id: NodeId) -> bool {
        false
    }
}

/// How to start one member.
#[derive(Clone, Debug)]
pub struct StartConfig {
    pub id: NodeId,
    /// A new cluster's members, or for a joining member the running cluster's members (itself
    /// included), as `member add` printed them.
    pub members: Vec<NodeId>,
    /// `--initial-cluster-state existing`: the member joins a running cluster (it was added first).
    pub join_existing: bool,
    pub election_ticks: u32,
    pub heartbeat_ticks: u32,
    pub snapshot_count: u64,
    pub max_message_bytes: usize,
    pub seed: u64,
    pub planted_bug: Option<String>,
    /// `--linearizable-reads`: plain gets go through ReadIndex.
    pub linearizable_reads: bool,
}

/// Starts members over simulated disks that outlive the processes.
pub trait Backend {
    /// Bootstraps the member on first start, recovers it from its disk afterwards. Err: it refuses to
    /// start (e.g. it found corruption).
    fn start(&mut self, config: &StartConfig) -> Result<Box<dyn SimNode>, String>;
    /// The process is gone: the disk drops every unsynced write (the last one may survive torn).
    fn crash(&mut self, id: NodeId, seed: u64);
    /// Flips one bit in one of the member's stored files; says where.
    fn flip_bit(&mut self, id: NodeId, seed: u64) -> String;
    /// The power fails after `operations` more mutating disk operations of the member: they and
    /// every later one fail until the crash. Returns false when the backend cannot do it.
    fn cut_power_after(&mut self, _id: NodeId, _operations: u64) -> bool {
        false
    }
    /// Whether keys with a TTL expire (`OperationKind::SetTtl`): the backend has a store with clocks.
    fn supports_ttl(&self) -> bool {
        false
    }
    /// Whether members can be added and removed at runtime (`SimNode::submit_member_change`).
    fn supports_membership(&self) -> bool {
        false
    }
    /// Whether its members serve watches (`OperationKind::Watch`); the workload issues none otherwise.
    fn supports_watches(&self) -> bool {
        false
    }
    /// Whether its members serve the v3 keyspace (`OperationKind::V3*`); the workload issues none
    /// otherwise.
    fn supports_v3(&self) -> bool {
        false
    }
    /// Whether its members honour `StartConfig::linearizable_reads` (plain gets are then checked
    /// strictly).
    fn supports_linearizable_reads(&self) -> bool {
        false
    }
    /// Names of the planted bugs this backend can enable.
    fn planted_bugs(&self) -> Vec<String> {
        Vec::new()
    }
}
