//! An in-memory cluster for tests and benchmarks: N nodes, a message queue as the network (with
//! partitions), storage that persists every Ready at once, and an application that records what it
//! applies. It also carries the safety checks (one leader per term, log matching, leader
//! completeness, state machine safety, commit monotonic) so tests and property tests share them.
//!
//! Not part of the protocol: nothing in the core depends on this module.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use crate::config::Config;
use crate::raft::{Raft, Ready};
use crate::restore::RestoreState;
use crate::types::*;

/// What a node has made durable (what a restart sees).
#[derive(Clone, Debug, Default)]
pub struct Storage {
    pub hard_state: HardState,
    pub snapshot: Option<Snapshot>,
    /// Entries after the snapshot, contiguous.
    pub entries: Vec<Entry>,
    /// The bootstrap configuration (what the operator passes again on every restart).
    pub initial_conf: ConfState,
}

impl Storage {
    fn persist(&mut self, ready: &Ready) {
        if let Some(snapshot) = &ready.snapshot {
            let index = snapshot.meta.index;
            self.entries.retain(|entry| entry.index > index);
            if self.entries.first().is_some_and(|entry| entry.index != index + 1) {
                self.entries.clear();
            }
            self.snapshot = Some(snapshot.clone());
        }
        if let Some(first) = ready.entries.first() {
            self.entries.retain(|entry| entry.index < first.index);
            self.entries.extend(ready.entries.iter().cloned());
        }
        if let Some(hard_state) = ready.hard_state {
            self.hard_state = hard_state;
        }
    }

    fn compact(&mut self, snapshot: Snapshot) {
        let index = snapshot.meta.index;
        self.entries.retain(|entry| entry.index > index);
        self.snapshot = Some(snapshot);
    }
}

pub struct Node {
    pub raft: Raft,
    pub storage: Storage,
    /// The application's state: the index it applied up to.
    pub applied_index: Index,
    /// Payloads of the Normal entries this node applied since its (re)start, in order.
    pub applied_data: Vec<Bytes>,
    pub read_states: Vec<ReadState>,
    pub soft_state: SoftState,
    /// Down nodes neither receive nor tick.
    pub up: bool,
    config: Config,
}

/// A violated safety property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation(pub String);

pub struct Cluster {
    pub nodes: BTreeMap<NodeId, Node>,
    pub network: VecDeque<Message>,
    /// Directed links that drop everything.
    pub cut: BTreeSet<(NodeId, NodeId)>,
    /// Every entry any node applied, by index: state machine safety says they agree.
    pub applied_log: BTreeMap<Index, Entry>,
    /// The leader seen in each term.
    pub leaders: BTreeMap<Term, NodeId>,
    /// Last commit index seen per node incarnation.
    pub last_commit: BTreeMap<NodeId, Index>,
    /// Messages delivered, for benchmarks and tests that count.
    pub delivered: u64,
    /// First safety violation seen (checked after each processed Ready when `check` is on).
    pub violation: Option<Violation>,
    pub check: bool,
}

impl Cluster {
    /// A new cluster of `ids` (all voters) built with `make_config(id)`.
    pub fn new(ids: &[NodeId], make_config: impl Fn(NodeId) -> Config) -> Cluster {
        let mut cluster = Cluster {
            nodes: BTreeMap::new(),
            network: VecDeque::new(),
            cut: BTreeSet::new(),
            applied_log: BTreeMap::new(),
            leaders: BTreeMap::new(),
            last_commit: BTreeMap::new(),
            delivered: 0,
            violation: None,
            check: true,
        };
        for &id in ids {
            let config = make_config(id);
            cluster.add_node(config, RestoreState::new_cluster(ids.iter().copied()));
        }
        cluster
    }

    /// A cluster of nodes restored from the given states (for scenarios that start from crafted logs).
    pub fn from_states(nodes: Vec<(Config, RestoreState)>) -> Cluster {
        let mut cluster = Cluster::new(&[], |id| Config::new(id, id));
        for (config, restore) in nodes {
            cluster.add_node(config, restore);
        }
        cluster
    }

    /// A cluster with the default configuration (seeded per id) and pre-vote / check-quorum as given.
    pub fn with_defaults(ids: &[NodeId], pre_vote: bool, check_quorum: bool) -> Cluster {
        Cluster::new(ids, |id| {
            let mut config = Config::new(id, id * 7919);
            config.pre_vote = pre_vote;
            config.check_quorum = check_quorum;
            config
        })
    }

    /// Adds a node (bootstrapping, or joining with an empty configuration).
    pub fn add_node(&mut self, config: Config, restore: RestoreState) {
        let id = config.id;
        let storage = Storage {
            hard_state: restore.hard_state,
            snapshot: restore.snapshot.clone(),
            entries: restore.entries.clone(),
            initial_conf: restore.initial_conf.clone(),
        };
        let raft = Raft::new(config.clone(), restore).expect("valid test node");
        let soft_state = raft.soft_state();
        let applied_index = raft.applied_index();
        self.nodes.insert(
            id,
            Node {
                raft,
                storage,
                applied_index,
                applied_data: Vec::new(),
                read_states: Vec::new(),
                soft_state,
                up: true,
                config,
            },
        );
    }

    pub fn node(&self, id: NodeId) -> &Raft {
        &self.nodes[&id].raft
    }

    pub fn node_mut(&mut self, id: NodeId) -> &mut Raft {
        &mut self.nodes.get_mut(&id).expect("known node").raft
    }

    /// The node that is leader in the highest term, if any is up.
    pub fn leader(&self) -> Option<NodeId> {
        self.nodes
            .values()
            .filter(|node| node.up && node.raft.role() == Role::Leader)
            .max_by_key(|node| node.raft.term())
            .map(|node| node.raft.id())
    }

    // ------------------------------------------------------------------------------------------
    // Driving.

    /// Takes and carries out one node's Ready: persist, acknowledge, apply, queue messages.
    pub fn process_ready(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get_mut(&id) else { return };
        if !node.up || !node.raft.has_ready() {
            return;
        }
        let ready = node.raft.ready();
        node.storage.persist(&ready);
        if let Some((index, term)) = ready.persisted_point() {
            node.raft.on_persisted(index, term);
        }
        if let Some(soft_state) = ready.soft_state {
            node.soft_state = soft_state;
        }
        if let Some(snapshot) = &ready.snapshot {
            node.applied_index = snapshot.meta.index;
        }
        let mut violation = None;
        for entry in &ready.committed_entries {
            if entry.index != node.applied_index + 1 {
                violation.get_or_insert(Violation(format!(
                    "node {id} applied index {} after {}",
                    entry.index, node.applied_index
                )));
            }
            node.applied_index = entry.index;
            if let EntryPayload::Normal(data) = &entry.payload {
                node.applied_data.push(data.clone());
            }
            match self.applied_log.get(&entry.index) {
                Some(existing) if existing != entry => {
                    violation.get_or_insert(Violation(format!(
                        "state machine safety: node {id} applied {entry:?} where another applied {existing:?}"
                    )));
                }
                Some(_) => {}
                None => {
                    self.applied_log.insert(entry.index, entry.clone());
                }
            }
        }
        node.read_states.extend(ready.read_states.iter().copied());
        let from = id;
        for message in ready.messages.into_iter().chain(ready.messages_after_persist) {
            if !self.cut.contains(&(from, message.to)) {
                self.network.push_back(message);
            }
        }
        if violation.is_some() && self.violation.is_none() {
            self.violation = violation;
        }
        if self.check {
            self.check_node(id);
        }
    }

    pub fn process_all_ready(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.process_ready(id);
        }
    }

    /// Delivers one message (if its destination is up and the link is not cut).
    pub fn deliver(&mut self, message: Message) {
        if self.cut.contains(&(message.from, message.to)) {
            return;
        }
        let to = message.to;
        let Some(node) = self.nodes.get_mut(&to) else { return };
        if !node.up {
            return;
        }
        node.raft.step(message);
        self.delivered += 1;
        self.process_ready(to);
    }

    /// Runs until no message is in flight and no node has anything ready. Bounded (returns false if
    /// the bound was hit, which in tests means a message storm).
    pub fn stabilize(&mut self) -> bool {
        for _ in 0..1_000_000 {
            self.process_all_ready();
            let Some(message) = self.network.pop_front() else { return true };
            self.deliver(message);
        }
        false
    }

    /// Delivers queued messages matching `keep` (including ones they cause) until none is left;
    /// the others stay queued in order. Returns how many were delivered.
    pub fn deliver_matching(&mut self, keep: impl Fn(&Message) -> bool) -> usize {
        let mut delivered = 0;
        for _ in 0..1_000_000 {
            self.process_all_ready();
            let Some(position) = self.network.iter().position(&keep) else { break };
            let message = self.network.remove(position).expect("position is valid");
            self.deliver(message);
            delivered += 1;
        }
        delivered
    }

    /// Drops queued messages matching `drop`; returns how many.
    pub fn drop_matching(&mut self, drop: impl Fn(&Message) -> bool) -> usize {
        let before = self.network.len();
        self.network.retain(|message| !drop(message));
        before - self.network.len()
    }

    /// Like `stabilize`, but drops every message matching `drop` instead of delivering it.
    pub fn stabilize_dropping(&mut self, drop: impl Fn(&Message) -> bool) {
        for _ in 0..1_000_000 {
            self.process_all_ready();
            let Some(message) = self.network.pop_front() else { return };
            if !drop(&message) {
                self.deliver(message);
            }
        }
    }

    pub fn tick(&mut self, id: NodeId) {
        if let Some(node) = self.nodes.get_mut(&id)
            && node.up
        {
            node.raft.tick();
            self.process_ready(id);
        }
    }

    /// Ticks every up node `ticks` times, stabilizing after each round.
    pub fn tick_all(&mut self, ticks: u32) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for _ in 0..ticks {
            for &id in &ids {
                self.tick(id);
            }
            self.stabilize();
        }
    }

    /// Makes `id` campaign and runs to quiescence; returns whether it became leader.
    pub fn elect(&mut self, id: NodeId) -> bool {
        self.node_mut(id).campaign();
        self.process_ready(id);
        self.stabilize();
        self.node(id).role() == Role::Leader
    }

    pub fn propose(&mut self, id: NodeId, data: &[u8]) -> Result<(), crate::raft::ProposeError> {
        let result = self.node_mut(id).propose(Bytes::copy_from_slice(data));
        self.process_ready(id);
        result
    }

    /// Cuts every link between the groups (both directions), keeping links inside each group.
    pub fn partition(&mut self, groups: &[&[NodeId]]) {
        for (a, group_a) in groups.iter().enumerate() {
            for (b, group_b) in groups.iter().enumerate() {
                if a != b {
                    for &x in *group_a {
                        for &y in *group_b {
                            self.cut.insert((x, y));
                        }
                    }
                }
            }
        }
    }

    pub fn isolate(&mut self, id: NodeId) {
        let others: Vec<NodeId> = self.nodes.keys().copied().filter(|&other| other != id).collect();
        for other in others {
            self.cut.insert((id, other));
            self.cut.insert((other, id));
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Stops a node: it loses everything not in its storage.
    pub fn crash(&mut self, id: NodeId) {
        if let Some(node) = self.nodes.get_mut(&id) {
            node.up = false;
        }
        self.network.retain(|message| message.to != id);
    }

    /// Restarts a crashed node from its storage (the application restarts from the snapshot).
    pub fn restart(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("known node");
        let snapshot_index = node.storage.snapshot.as_ref().map_or(0, |snapshot| snapshot.meta.index);
        let restore = RestoreState {
            hard_state: node.storage.hard_state,
            snapshot: node.storage.snapshot.clone(),
            entries: node.storage.entries.clone(),
            initial_conf: node.storage.initial_conf.clone(),
            applied: snapshot_index,
        };
        node.raft = Raft::new(node.config.clone(), restore).expect("restart from own storage");
        node.applied_index = snapshot_index;
        node.applied_data.clear();
        node.soft_state = node.raft.soft_state();
        node.up = true;
        self.last_commit.remove(&id);
    }

    /// The application snapshots node `id` at its applied index and compacts the log up to it.
    pub fn compact(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("known node");
        let index = node.raft.applied_index();
        let snapshot = Snapshot {
            meta: SnapshotMeta { index, term: 0, conf_state: ConfState::default() },
            data: Bytes::new(),
        };
        node.raft.compact(snapshot, index);
        if let Some(snapshot) = node.raft.snapshot() {
            node.storage.compact(snapshot.clone());
        }
    }

    // ------------------------------------------------------------------------------------------
    // Safety checks.

    fn check_node(&mut self, id: NodeId) {
        if self.violation.is_some() {
            return;
        }
        let raft = &self.nodes[&id].raft;
        if raft.role() == Role::Leader {
            match self.leaders.get(&raft.term()) {
                Some(&other) if other != id => {
                    self.violation = Some(Violation(format!(
                        "election safety: {other} and {id} are both leaders of term {}",
                        raft.term()
                    )));
                    return;
                }
                Some(_) => {}
                None => {
                    self.leaders.insert(raft.term(), id);
                    // Leader completeness: a new leader holds every entry applied anywhere so far.
                    for (&index, entry) in &self.applied_log {
                        if index < raft.first_index() {
                            continue;
                        }
                        let held = raft.log_entries(index, index).and_then(|mut entries| entries.pop());
                        if held.as_ref() != Some(entry) {
                            self.violation = Some(Violation(format!(
                                "leader completeness: leader {id} of term {} lacks applied {entry:?} (has {held:?})",
                                raft.term()
                            )));
                            return;
                        }
                    }
                }
            }
        }
        let commit = raft.commit_index();
        if let Some(&previous) = self.last_commit.get(&id)
            && commit < previous
        {
            self.violation =
                Some(Violation(format!("node {id} commit went back from {previous} to {commit}")));
            return;
        }
        self.last_commit.insert(id, commit);
        if commit > raft.last_index() {
            self.violation = Some(Violation(format!("node {id} commit {commit} beyond its last index")));
        }
    }

    /// Log matching across all nodes: if two logs hold an entry with the same index and term, they
    /// are identical up to it. O(nodes² × log length); meant for small test logs.
    pub fn check_log_matching(&self) -> Result<(), Violation> {
        let logs: Vec<(NodeId, Index, Vec<Entry>)> = self
            .nodes
            .values()
            .map(|node| {
                let raft = &node.raft;
                let first = raft.first_index();
                (raft.id(), first, raft.log_entries(first, raft.last_index()).unwrap_or_default())
            })
            .collect();
        for (a, (id_a, first_a, log_a)) in logs.iter().enumerate() {
            for (id_b, first_b, log_b) in &logs[a + 1..] {
                let from = (*first_a).max(*first_b);
                // Find the highest common index with equal terms; below it everything must be equal.
                let last = (first_a + log_a.len() as Index).min(first_b + log_b.len() as Index);
                let mut matched = false;
                for index in (from..last).rev() {
                    let entry_a = &log_a[(index - first_a) as usize];
                    let entry_b = &log_b[(index - first_b) as usize];
                    if !matched && entry_a.term == entry_b.term {
                        matched = true;
                    }
                    if matched && entry_a != entry_b {
                        return Err(Violation(format!(
                            "log matching: nodes {id_a} and {id_b} differ at {index} below a common entry: \
                             {entry_a:?} vs {entry_b:?}"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every check, including the ones tracked incrementally.
    pub fn check_safety(&self) -> Result<(), Violation> {
        if let Some(violation) = &self.violation {
            return Err(violation.clone());
        }
        self.check_log_matching()
    }
}
