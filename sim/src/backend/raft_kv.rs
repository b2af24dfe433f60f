//! A minimal member built from the real Raft core, an in-memory durable log and a tiny model of a v2
//! key space: the simulator's stand-in while the production node (`server::node`) is not wired in,
//! and a second opinion on the Raft core alone.
//!
//! What it models: persistence is synchronous and atomic per `process()` (a crash loses nothing that
//! `process()` returned), writes and quorum gets go through the log (as etcd v2 does for
//! `?quorum=true`), plain gets read the local applied state. It does not exercise the WAL, the store
//! crate or snapshots.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use bytes::Bytes;
use raft::{ConfState, Entry, EntryPayload, HardState, Index, NodeId, Raft, RestoreState};

use crate::cluster::{Backend, NodeOutput, NodeView, SimNode, StartConfig};
use crate::history::{OperationKind, OperationResult};

/// What survives a crash.
#[derive(Clone, Debug, Default)]
struct DurableLog {
    hard_state: HardState,
    entries: Vec<Entry>,
}

/// The tiny key space: value and modifiedIndex per key, and etcd's own index, which grows only on
/// successful modifications.
#[derive(Clone, Debug, Default)]
struct KeySpace {
    keys: BTreeMap<u32, (u64, u64)>,
    etcd_index: u64,
    /// Requests already applied, by (origin member, request id): the network may duplicate a
    /// forwarded proposal, and a request must take effect once.
    applied_requests: BTreeSet<(NodeId, u64)>,
}

impl KeySpace {
    fn execute(&mut self, key: u32, kind: &OperationKind) -> OperationResult {
        let current = self.keys.get(&key).copied();
        let write = |keys: &mut BTreeMap<u32, (u64, u64)>, etcd_index: &mut u64, value: Option<u64>| {
            *etcd_index += 1;
            match value {
                Some(value) => keys.insert(key, (value, *etcd_index)),
                None => keys.remove(&key),
            };
            OperationResult::Written { index: *etcd_index }
        };
        match (kind, current) {
            (OperationKind::Get { .. }, Some((value, index))) => OperationResult::Value { value, index },
            (OperationKind::Get { .. }, None) => OperationResult::NotFound { index: self.etcd_index },
            (OperationKind::Set { value }, _) => write(&mut self.keys, &mut self.etcd_index, Some(*value)),
            (OperationKind::Create { value }, None) => {
                write(&mut self.keys, &mut self.etcd_index, Some(*value))
            }
            (OperationKind::Create { .. }, Some(_)) => OperationResult::AlreadyExists,
            (OperationKind::CompareAndSwap { previous, value }, Some((current, _))) => {
                if current == *previous {
                    write(&mut self.keys, &mut self.etcd_index, Some(*value))
                } else {
                    OperationResult::CompareFailed
                }
            }
            (OperationKind::CompareAndSwap { .. }, None) => {
                OperationResult::NotFound { index: self.etcd_index }
            }
            (OperationKind::Delete, Some(_)) => write(&mut self.keys, &mut self.etcd_index, None),
            (OperationKind::Delete, None) => OperationResult::NotFound { index: self.etcd_index },
            // This backend has no clock: the simulator never sends it TTLs (`supports_ttl`).
            (OperationKind::SetTtl { .. } | OperationKind::Expire { .. }, _) => OperationResult::Failed,
            // No event history here: watches are not modelled (`submit` refuses them).
            (OperationKind::Watch { .. }, _) => OperationResult::Failed,
            // No v3 keyspace here (`supports_v3` is false): never sent.
            (
                OperationKind::V3Put { .. }
                | OperationKind::V3Delete
                | OperationKind::V3Range
                | OperationKind::V3CompareAndPut { .. }
                | OperationKind::V3RangeAt { .. }
                | OperationKind::V3Compact { .. }
                | OperationKind::V3LeaseGrant { .. }
                | OperationKind::V3LeaseKeepAlive { .. }
                | OperationKind::V3LeaseRevoke { .. }
                | OperationKind::V3LeaseEnd { .. },
                _,
            ) => OperationResult::Failed,
        }
    }

    fn digest(&self) -> u64 {
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        for word in self
            .keys
            .iter()
            .flat_map(|(key, (value, index))| [*key as u64, *value, *index])
            .chain([self.etcd_index])
        {
            hash = (hash ^ word).wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash
    }
}

/// A proposal's payload: who asked, and what.
fn encode(origin: NodeId, request_id: u64, key: u32, kind: &OperationKind) -> Bytes {
    let (code, first_word, second_word) = match *kind {
        OperationKind::Set { value } => (1u8, value, 0),
        OperationKind::Create { value } => (2, value, 0),
        OperationKind::CompareAndSwap { previous, value } => (3, value, previous),
        OperationKind::Delete => (4, 0, 0),
        OperationKind::Get { quorum } => (5, quorum as u64, 0),
        // Never sent to this backend; decodes as garbage (dropped).
        OperationKind::SetTtl { .. }
        | OperationKind::Expire { .. }
        | OperationKind::V3Put { .. }
        | OperationKind::V3Delete
        | OperationKind::V3Range
        | OperationKind::V3CompareAndPut { .. }
        | OperationKind::V3RangeAt { .. }
        | OperationKind::V3Compact { .. }
        | OperationKind::V3LeaseGrant { .. }
        | OperationKind::V3LeaseKeepAlive { .. }
        | OperationKind::V3LeaseRevoke { .. }
        | OperationKind::V3LeaseEnd { .. } => (0, 0, 0),
        // Never proposed (`submit` refuses watches); `decode` rejects the code.
        OperationKind::Watch { wait_index } => (6, wait_index.unwrap_or(0), 0),
    };
    let mut bytes = Vec::with_capacity(37);
    bytes.extend_from_slice(&origin.to_le_bytes());
    bytes.extend_from_slice(&request_id.to_le_bytes());
    bytes.extend_from_slice(&key.to_le_bytes());
    bytes.push(code);
    bytes.extend_from_slice(&first_word.to_le_bytes());
    bytes.extend_from_slice(&second_word.to_le_bytes());
    Bytes::from(bytes)
}

fn decode(bytes: &[u8]) -> Option<(NodeId, u64, u32, OperationKind)> {
    if bytes.len() != 37 {
        return None;
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let key = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    let (first_word, second_word) = (word(21), word(29));
    let kind = match bytes[20] {
        1 => OperationKind::Set { value: first_word },
        2 => OperationKind::Create { value: first_word },
        3 => OperationKind::CompareAndSwap { previous: second_word, value: first_word },
        4 => OperationKind::Delete,
        5 => OperationKind::Get { quorum: first_word != 0 },
        _ => return None,
    };
    Some((word(0), word(8), key, kind))
}

pub struct RaftKvNode {
    id: NodeId,
    raft: Raft,
    disk: Rc<RefCell<DurableLog>>,
    keys: KeySpace,
    responses: Vec<(u64, OperationResult)>,
    /// The commit index it recovered with.
    recovered_commit: Index,
}

impl SimNode for RaftKvNode {
    fn tick(&mut self, _now_ns: i64) {
        self.raft.tick();
    }

    fn receive(&mut self, message: raft::Message) {
        self.raft.step(message);
    }

    fn submit(&mut self, request_id: u64, key: u32, kind: &OperationKind, _now_ns: i64) {
        if let OperationKind::Watch { .. } = kind {
            // This key space keeps no event history: refuse, certainly without effect.
            self.responses.push((request_id, OperationResult::Failed));
            return;
        }
        if let OperationKind::Get { quorum: false } = kind {
            // Until it re-applied what it had committed before a restart, its state is older than
            // what it acknowledged then: refuse rather than serve it.
            if self.raft.applied_index() < self.recovered_commit {
                self.responses.push((request_id, OperationResult::Failed));
                return;
            }
            let result = self.keys.execute(key, kind);
            self.responses.push((request_id, result));
            return;
        }
        if self.raft.propose(encode(self.id, request_id, key, kind)).is_err() {
            // Refused before it reached any log: certainly not executed.
            self.responses.push((request_id, OperationResult::Failed));
        }
    }

    fn process(&mut self) -> Result<NodeOutput, String> {
        let mut output =
            NodeOutput { responses: std::mem::take(&mut self.responses), ..NodeOutput::default() };
        let mut rounds = 0;
        while self.raft.has_ready() {
            rounds += 1;
            assert!(rounds < 1000, "ready loop does not converge");
            let ready = self.raft.ready();
            {
                let mut disk = self.disk.borrow_mut();
                if let Some(first) = ready.entries.first() {
                    disk.entries.retain(|entry| entry.index < first.index);
                    disk.entries.extend(ready.entries.iter().cloned());
                }
                if let Some(hard_state) = ready.hard_state {
                    disk.hard_state = hard_state;
                }
            }
            output.messages.extend(ready.messages);
            if let Some(last) = ready.entries.last() {
                self.raft.on_persisted(last.index, last.term);
            }
            output.messages.extend(ready.messages_after_persist);
            for entry in ready.committed_entries {
                if let EntryPayload::Normal(data) = &entry.payload
                    && let Some((origin, request_id, key, kind)) = decode(data)
                    && self.keys.applied_requests.insert((origin, request_id))
                {
                    let result = self.keys.execute(key, &kind);
                    if origin == self.id {
                        output.responses.push((request_id, result));
                    }
                }
            }
        }
        Ok(output)
    }

    fn coverage(&self) -> raft::Coverage {
        self.raft.coverage().clone()
    }

    fn view(&self) -> NodeView {
        let hard_state = self.raft.hard_state();
        NodeView {
            term: self.raft.term(),
            vote: hard_state.vote,
            role: self.raft.role(),
            leader: self.raft.leader(),
            commit: self.raft.commit_index(),
            applied: self.raft.applied_index(),
            first_index: self.raft.first_index(),
            last_index: self.raft.last_index(),
        }
    }

    fn entries(&self, from: Index, to_inclusive: Index) -> Option<Vec<Entry>> {
        self.raft.log_entries(from, to_inclusive)
    }

    fn store_digest(&self) -> u64 {
        self.keys.digest()
    }
}

/// Starts `RaftKvNode`s over durable logs kept across crashes.
#[derive(Default)]
pub struct RaftKvBackend {
    disks: BTreeMap<NodeId, Rc<RefCell<DurableLog>>>,
}

impl Backend for RaftKvBackend {
    fn start(&mut self, config: &StartConfig) -> Result<Box<dyn SimNode>, String> {
        let disk = self.disks.entry(config.id).or_default().clone();
        let mut raft_config = raft::Config::new(config.id, config.seed);
        raft_config.election_ticks = config.election_ticks;
        raft_config.heartbeat_ticks = config.heartbeat_ticks;
        raft_config.max_message_bytes = config.max_message_bytes;
        #[cfg(feature = "planted-bugs")]
        {
            raft_config.planted_bug = match &config.planted_bug {
                Some(name) => Some(name.parse::<raft::PlantedBug>()?),
                None => None,
            };
        }
        #[cfg(not(feature = "planted-bugs"))]
        if let Some(name) = &config.planted_bug {
            return Err(format!("planted bug {name} needs the planted-bugs feature"));
        }
        let durable = disk.borrow().clone();
        let recovered_commit = durable.hard_state.commit;
        let restore = RestoreState {
            hard_state: durable.hard_state,
            snapshot: None,
            entries: durable.entries,
            initial_conf: ConfState::with_voters(config.members.iter().copied()),
            applied: 0,
        };
        let raft = Raft::new(raft_config, restore).map_err(|error| error.to_string())?;
        Ok(Box::new(RaftKvNode {
            id: config.id,
            raft,
            disk,
            keys: KeySpace::default(),
            responses: Vec::new(),
            recovered_commit,
        }))
    }

    fn crash(&mut self, _id: NodeId, _seed: u64) {
        // Persistence is atomic per process(): nothing unsynced to lose.
    }

    fn flip_bit(&mut self, _id: NodeId, _seed: u64) -> String {
        "not modelled by this backend (no checksummed files)".to_string()
    }

    fn planted_bugs(&self) -> Vec<String> {
        raft::PlantedBug::ALL.iter().map(|bug| bug.name().to_string()).collect()
    }
}
