//! The production member: `server::node::Node` (Raft core + store + WAL + snapshots + request
//! bookkeeping) over `MemDisk`, the fault-injecting memory disk. Only the network, the disk and the
//! clock are simulated. The snapshot the node hands out to be written off its thread is written here a
//! few ticks later (a crash in between loses it, as a crash of the real process does).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use mvcc::{
    CompactionRequest, Compare, CompareResult, CompareTarget, DeleteRangeRequest, EventKind, PutRequest,
    RangeRequest, RequestOp, TxnRequest,
};
use raft::{Entry, Index, NodeId};
use server::node::{
    Answer, ClientRequest, Member, Node, NodeConfig, Reply, RequestError, SnapshotJob, V3Reply, V3Request,
    WatchCreate, WatchUpdate,
};
use server::storage::disk::{Disk, MemDisk, Tear};
use store::Command;

use crate::cluster::{Backend, MemberChange, Membership, NodeOutput, NodeView, SimNode, StartConfig};
use crate::history::{
    OperationKind, OperationResult, V3_KEY_BASE, V3Compare, V3WatchEvent, V3WatchUpdate, WatchAction,
    value_from_string, value_to_string,
};

const CLUSTER_ID: u64 = 0x00c0_4c04_d000_0001;

/// The planted bug of the v3 read path (checker self-tests): linearizable v3 ranges skip the
/// ReadIndex round and read the member's own keyspace, as a serializable range does. It lives in this
/// adapter (the node's planted bugs are the Raft core's and `ack-before-durable`); it needs the
/// planted-bugs feature like the others.
const STALE_V3_RANGES: &str = "v3-stale-range";
/// The planted bug of the lease path (checker self-tests): keep-alives are acknowledged without
/// reaching the log, so the leader never refreshes the lease and expires it early.
const LOST_KEEP_ALIVES: &str = "v3-lost-keep-alive";
/// The planted bug of `--linearizable-reads` (checker self-test): the members serve plain gets from
/// their own store after all, while the checks hold them to the linearizable promise.
const PLAIN_READS_LOCAL: &str = "plain-reads-local";

fn data_dir(id: NodeId) -> PathBuf {
    PathBuf::from(format!("/sim/member-{id}"))
}

/// The member record `member add` creates for `id` (name and client URLs come with the first start).
fn member_record(id: NodeId) -> Member {
    Member {
        id,
        name: format!("member-{id}"),
        peer_urls: vec![format!("http://member-{id}:2380")],
        client_urls: vec![format!("http://member-{id}:2379")],
        ..Member::default()
    }
}

fn key_path(key: u32) -> String {
    format!("/k{key}")
}

/// A v3 workload key as bytes (v3 key numbers start at `V3_KEY_BASE`).
fn v3_key(key: u32) -> Vec<u8> {
    format!("k{}", key.saturating_sub(V3_KEY_BASE)).into_bytes()
}

/// The workload key number of v3 key bytes (`u32::MAX` for a key the workload never uses).
fn v3_key_number(key: &[u8]) -> u32 {
    let number = std::str::from_utf8(key).ok().and_then(|text| text.strip_prefix('k'));
    number.and_then(|number| number.parse::<u32>().ok()).map_or(u32::MAX, |number| V3_KEY_BASE + number)
}

/// Translates a v3 workload operation into the node's v3 request.
fn v3_request(key: u32, kind: &OperationKind) -> ClientRequest {
    let key = v3_key(key);
    let request = match *kind {
        OperationKind::V3Put { value, lease } => {
            V3Request::Put(PutRequest { lease, ..PutRequest::new(key, value_to_string(value)) })
        }
        OperationKind::V3Delete => V3Request::DeleteRange(DeleteRangeRequest::key(key)),
        OperationKind::V3CompareAndPut { compare, value } => {
            let target = match compare {
                V3Compare::ModRevision { revision, .. } => CompareTarget::ModRevision(revision as i64),
                V3Compare::Value { value } => CompareTarget::Value(value_to_string(value).into_bytes()),
            };
            V3Request::Txn(TxnRequest {
                compare: vec![Compare::key(key.clone(), CompareResult::Equal, target)],
                success: vec![RequestOp::Put(PutRequest::new(key, value_to_string(value)))],
                failure: Vec::new(),
            })
        }
        OperationKind::V3RangeAt { revision } => {
            V3Request::Range(RangeRequest { revision: revision as i64, ..RangeRequest::key(key) })
        }
        OperationKind::V3Compact { revision } => {
            V3Request::Compact(CompactionRequest { revision: revision as i64, physical: false })
        }
        OperationKind::V3LeaseGrant { ttl_seconds } => V3Request::LeaseGrant { ttl_seconds, id: 0 },
        OperationKind::V3LeaseKeepAlive { lease } => V3Request::LeaseKeepAlive { id: lease },
        OperationKind::V3LeaseRevoke { lease } => V3Request::LeaseRevoke { id: lease },
        _ => V3Request::Range(RangeRequest::key(key)),
    };
    ClientRequest::V3(request)
}

/// Translates the node's answer to a v3 operation into what the client saw.
fn v3_outcome(kind: &OperationKind, answer: Answer) -> OperationResult {
    let revision = |header: mvcc::ResponseHeader| header.revision.max(0) as u64;
    match answer.result {
        Ok(Reply::V3(V3Reply::Put(put))) => OperationResult::V3Written { revision: revision(put.header) },
        Ok(Reply::V3(V3Reply::DeleteRange(delete))) if delete.deleted > 0 => {
            OperationResult::V3Written { revision: revision(delete.header) }
        }
        Ok(Reply::V3(V3Reply::DeleteRange(delete))) => {
            OperationResult::V3NothingDeleted { revision: revision(delete.header) }
        }
        Ok(Reply::V3(V3Reply::Txn(txn))) if txn.succeeded => {
            OperationResult::V3Written { revision: revision(txn.header) }
        }
        Ok(Reply::V3(V3Reply::Txn(txn))) => {
            OperationResult::V3CompareFailed { revision: revision(txn.header) }
        }
        Ok(Reply::V3(V3Reply::Range(range))) => match range.kvs.first() {
            Some(found) => OperationResult::V3Value {
                value: value_from_string(std::str::from_utf8(&found.value).unwrap_or("")),
                mod_revision: found.mod_revision.max(0) as u64,
                create_revision: found.create_revision.max(0) as u64,
                version: found.version.max(0) as u64,
                revision: revision(range.header),
            },
            None => OperationResult::V3Missing { revision: revision(range.header) },
        },
        Ok(Reply::V3(V3Reply::Compact(compact))) => {
            OperationResult::V3Done { revision: revision(compact.header) }
        }
        Ok(Reply::V3(V3Reply::LeaseRevoke(revoke))) => {
            OperationResult::V3Done { revision: revision(revoke.header) }
        }
        Ok(Reply::V3(V3Reply::LeaseGrant(grant))) => {
            OperationResult::V3LeaseGranted { lease: grant.id, ttl_seconds: grant.ttl }
        }
        Ok(Reply::V3(V3Reply::LeaseKeepAlive(kept))) if kept.ttl > 0 => {
            OperationResult::V3LeaseKept { ttl_seconds: kept.ttl, by_leader: false }
        }
        Ok(Reply::V3(V3Reply::LeaseKeepAlive(_))) => OperationResult::V3LeaseNotFound,
        Err(RequestError::V3(mvcc::Error::Compacted)) => OperationResult::V3Compacted,
        Err(RequestError::V3(mvcc::Error::LeaseNotFound)) => OperationResult::V3LeaseNotFound,
        // Nothing was proposed.
        Err(RequestError::NoLeader | RequestError::Refused(_)) => OperationResult::Failed,
        // A write may or may not have been applied; a read tells nothing.
        Err(_) | Ok(_) if kind.is_write() => OperationResult::Ambiguous,
        Err(_) | Ok(_) => OperationResult::Failed,
    }
}

/// Translates one answer to a v3 watch into the stream's update; the bool says the stream is over.
fn v3_watch_outcome(answer: Answer) -> (V3WatchUpdate, bool) {
    match answer.result {
        Ok(Reply::V3Watch(WatchUpdate::Created { revision })) => {
            (V3WatchUpdate::Created { revision: revision.max(0) as u64 }, false)
        }
        Ok(Reply::V3Watch(WatchUpdate::Events { revision, events })) => {
            let events = events
                .iter()
                .map(|event| V3WatchEvent {
                    revision: event.kv.mod_revision.max(0) as u64,
                    key: v3_key_number(&event.kv.key),
                    value: match event.kind {
                        EventKind::Put => {
                            Some(value_from_string(std::str::from_utf8(&event.kv.value).unwrap_or("")))
                        }
                        EventKind::Delete => None,
                    },
                })
                .collect();
            (V3WatchUpdate::Events { revision: revision.max(0) as u64, events }, false)
        }
        Ok(Reply::V3Watch(WatchUpdate::Compacted { compact_revision })) => {
            (V3WatchUpdate::Compacted { compact_revision: compact_revision.max(0) as u64 }, true)
        }
        // Canceled, refused (too many watchers), the member stopped: the stream is over.
        Ok(_) | Err(_) => (V3WatchUpdate::Canceled, true),
    }
}

/// Translates a workload operation into the node's client request.
fn request(key: u32, kind: &OperationKind, now_ns: i64) -> ClientRequest {
    if kind.is_v3() {
        return v3_request(key, kind);
    }
    let key = key_path(key);
    match *kind {
        OperationKind::Set { value } => ClientRequest::Write(Command::Set {
            key,
            value: value_to_string(value),
            dir: false,
            ttl: None,
            refresh: false,
            now: now_ns,
        }),
        OperationKind::SetTtl { value, ttl_seconds } => ClientRequest::Write(Command::Set {
            key,
            value: value_to_string(value),
            dir: false,
            ttl: Some(ttl_seconds),
            refresh: false,
            now: now_ns,
        }),
        OperationKind::Create { value } => ClientRequest::Write(Command::Create {
            key,
            value: value_to_string(value),
            dir: false,
            ttl: None,
            in_order: false,
            now: now_ns,
        }),
        OperationKind::CompareAndSwap { previous, value } => ClientRequest::Write(Command::CompareAndSwap {
            key,
            value: value_to_string(value),
            prev_value: value_to_string(previous),
            prev_index: 0,
            ttl: None,
            refresh: false,
            now: now_ns,
        }),
        OperationKind::Delete => {
            ClientRequest::Write(Command::Delete { key, dir: false, recursive: false, now: now_ns })
        }
        OperationKind::Get { quorum } => ClientRequest::Get { key, recursive: false, sorted: false, quorum },
        // A pseudo-operation of the checker, never sent; a plain read if it ever were.
        OperationKind::Expire { .. } => {
            ClientRequest::Get { key, recursive: false, sorted: false, quorum: false }
        }
        OperationKind::Watch { wait_index } => {
            ClientRequest::Watch { key, recursive: false, stream: false, wait_index }
        }
        OperationKind::V3Put { .. }
        | OperationKind::V3Delete
        | OperationKind::V3Range
        | OperationKind::V3CompareAndPut { .. }
        | OperationKind::V3RangeAt { .. }
        | OperationKind::V3Compact { .. }
        | OperationKind::V3LeaseGrant { .. }
        | OperationKind::V3LeaseKeepAlive { .. }
        | OperationKind::V3LeaseRevoke { .. }
        | OperationKind::V3LeaseEnd { .. } => unreachable!("v3 operations are translated above"),
    }
}

/// What a watch's answer means for its client.
#[derive(Debug, PartialEq, Eq)]
enum WatchStep {
    /// The member registered the watcher at this store index: keep waiting for its event.
    Waiting { start_index: u64 },
    /// The watch is over.
    Done(OperationResult),
}

/// Interprets one answer to a one-shot watch; `start_index` is the one `WatchStarted` gave, if any.
fn watch_outcome(wait_index: Option<u64>, start_index: Option<u64>, answer: Answer) -> WatchStep {
    let since = wait_index.or(start_index.map(|index| index + 1));
    let result = match answer.result {
        Ok(Reply::WatchStarted { start_index }) => return WatchStep::Waiting { start_index },
        Ok(Reply::Event(event) | Reply::WatchEvent(event)) => OperationResult::WatchEvent {
            index: event.node.modified_index,
            action: match event.action {
                store::Action::Set => WatchAction::Set,
                store::Action::Create => WatchAction::Create,
                store::Action::CompareAndSwap => WatchAction::CompareAndSwap,
                store::Action::Delete => WatchAction::Delete,
                _ => WatchAction::Other,
            },
            value: event.node.value.as_deref().map(value_from_string),
            since,
        },
        Ok(Reply::WatchClosed) => OperationResult::WatchClosed,
        Err(RequestError::Store(error)) if error.code == 401 => {
            OperationResult::WatchCleared { index: error.index }
        }
        // Anything else (the member stopped or was removed, an unexpected reply) tells nothing.
        Ok(_) | Err(_) => OperationResult::Failed,
    };
    WatchStep::Done(result)
}

/// Translates the node's answer into what the client saw.
fn outcome(kind: &OperationKind, answer: Answer) -> OperationResult {
    if kind.is_v3() {
        return v3_outcome(kind, answer);
    }
    let write = kind.is_write();
    match answer.result {
        Ok(Reply::Event(event)) if write => OperationResult::Written { index: event.node.modified_index },
        Ok(Reply::Event(event)) => OperationResult::Value {
            value: event
                .node
                .value
                .as_deref()
                .map(value_from_string)
                .unwrap_or(crate::history::UNKNOWN_VALUE),
            index: event.node.modified_index,
        },
        Err(RequestError::Store(error)) => match error.code {
            100 => OperationResult::NotFound { index: error.index },
            101 => OperationResult::CompareFailed,
            105 => OperationResult::AlreadyExists,
            // Any other refusal by the store changed nothing.
            _ => OperationResult::Failed,
        },
        // Nothing was proposed.
        Err(RequestError::NoLeader | RequestError::Refused(_)) => OperationResult::Failed,
        // A write may or may not have been applied; a read tells nothing.
        Err(_) | Ok(_) if write => OperationResult::Ambiguous,
        Err(_) | Ok(_) => OperationResult::Failed,
    }
}

pub struct NodeMember {
    node: Node,
    /// Kinds of the requests in flight, to interpret their answers.
    in_flight: BTreeMap<u64, OperationKind>,
    /// Membership requests in flight.
    member_requests: BTreeSet<u64>,
    /// Watches in flight that the member registered: request id -> the store index it registered at.
    watch_starts: BTreeMap<u64, u64>,
    /// v3 watch streams open on this member, by the request that created them.
    v3_watches: BTreeSet<u64>,
    /// The planted bug `STALE_V3_RANGES`: linearizable v3 ranges are served from the member's own
    /// keyspace, without a ReadIndex round.
    stale_v3_ranges: bool,
    /// The planted bug `LOST_KEEP_ALIVES`: keep-alives are answered here and never submitted.
    lost_keep_alives: bool,
    /// Answers the planted bugs give without the node, out with the next `process()`.
    early_answers: Vec<(u64, OperationResult)>,
    /// The snapshot job the node handed out and the ticks left until it is written (the simulated
    /// time its encoding, write and fsync take); at most one.
    snapshot_job: Option<(SnapshotJob, u64)>,
    /// Ticks a snapshot job takes, from the seed.
    snapshot_job_ticks: u64,
}

impl NodeMember {
    /// Counts down the snapshot job in flight; once due, writes it to the disk and reports it.
    fn advance_snapshot_job(&mut self) {
        let Some((_, ticks_left)) = &mut self.snapshot_job else { return };
        *ticks_left = ticks_left.saturating_sub(1);
        if *ticks_left > 0 {
            return;
        }
        let (job, _) = self.snapshot_job.take().expect("a job in flight");
        self.node.snapshot_written(job.run());
    }
}

impl SimNode for NodeMember {
    fn tick(&mut self, now_ns: i64) {
        self.node.tick(now_ns);
        self.advance_snapshot_job();
    }

    fn receive(&mut self, message: raft::Message) {
        self.node.receive(message);
    }

    fn submit(&mut self, request_id: u64, key: u32, kind: &OperationKind, now_ns: i64) {
        let previous = self.in_flight.insert(request_id, kind.clone());
        assert!(previous.is_none(), "request ids are never reused");
        if self.lost_keep_alives && matches!(kind, OperationKind::V3LeaseKeepAlive { .. }) {
            self.in_flight.remove(&request_id);
            let by_leader = self.node.raft().role() == raft::Role::Leader;
            self.early_answers.push((request_id, OperationResult::V3LeaseKept { ttl_seconds: 1, by_leader }));
            return;
        }
        let mut request = request(key, kind, now_ns);
        if self.stale_v3_ranges
            && let ClientRequest::V3(V3Request::Range(range)) = &mut request
        {
            range.serializable = true;
        }
        self.node.submit(request_id, request, now_ns);
    }

    fn watchers(&self) -> u64 {
        self.node.store().stats().watchers
    }

    fn submit_v3_watch(&mut self, request_id: u64, key: u32, start_revision: u64, now_ns: i64) {
        assert!(self.v3_watches.insert(request_id), "request ids are never reused");
        let create =
            WatchCreate { key: v3_key(key), start_revision: start_revision as i64, ..WatchCreate::default() };
        self.node.submit(request_id, ClientRequest::V3Watch(create), now_ns);
    }

    fn cancel(&mut self, request_id: u64, now_ns: i64) {
        if self.v3_watches.remove(&request_id) {
            let cancel = ClientRequest::V3CancelWatch { watch_request_id: request_id };
            self.node.submit(request_id, cancel, now_ns);
            return;
        }
        if matches!(self.in_flight.remove(&request_id), Some(OperationKind::Watch { .. })) {
            self.watch_starts.remove(&request_id);
            // Answers nothing (or `Removed` on a stopped member, which nobody waits for any more).
            self.node.submit(request_id, ClientRequest::CancelWatch { watch_request_id: request_id }, now_ns);
        }
    }

    fn process(&mut self) -> Result<NodeOutput, String> {
        let mut output = self.node.process().map_err(|error| error.to_string())?;
        if let Some(job) = output.snapshot_job.take() {
            assert!(self.snapshot_job.is_none(), "the node hands out one snapshot job at a time");
            self.snapshot_job = Some((job, self.snapshot_job_ticks));
        }
        let mut responses = std::mem::take(&mut self.early_answers);
        let mut member_answers = Vec::new();
        for answer in output.answers {
            if self.v3_watches.contains(&answer.request_id) {
                let request_id = answer.request_id;
                let (update, over) = v3_watch_outcome(answer);
                if over {
                    self.v3_watches.remove(&request_id);
                }
                responses.push((request_id, OperationResult::V3Watch(update)));
                continue;
            }
            if let Some(kind) = self.in_flight.remove(&answer.request_id) {
                let request_id = answer.request_id;
                if let OperationKind::Watch { wait_index } = kind {
                    let start_index = self.watch_starts.remove(&request_id);
                    match watch_outcome(wait_index, start_index, answer) {
                        WatchStep::Waiting { start_index } => {
                            self.watch_starts.insert(request_id, start_index);
                            self.in_flight.insert(request_id, kind);
                        }
                        WatchStep::Done(result) => responses.push((request_id, result)),
                    }
                    continue;
                }
                let mut result = outcome(&kind, answer);
                if let OperationResult::V3LeaseKept { by_leader, .. } = &mut result {
                    *by_leader = self.node.raft().role() == raft::Role::Leader;
                }
                responses.push((request_id, result));
            } else if self.member_requests.remove(&answer.request_id) {
                let result = match answer.result {
                    Ok(_) => Ok(()),
                    Err(error) => Err(error.to_string()),
                };
                member_answers.push((answer.request_id, result));
            }
        }
        Ok(NodeOutput { messages: output.messages, responses, member_answers, removed: output.removed })
    }

    fn submit_member_change(&mut self, request_id: u64, change: MemberChange, now_ns: i64) {
        assert!(self.member_requests.insert(request_id), "request ids are never reused");
        let request = match change {
            MemberChange::Add(id) => ClientRequest::AddMember { member: member_record(id) },
            MemberChange::Remove(id) => ClientRequest::RemoveMember { id },
        };
        self.node.submit(request_id, request, now_ns);
    }

    fn refuses(&self, id: NodeId) -> bool {
        self.node.is_removed(id)
    }

    fn membership(&self) -> Membership {
        let mut membership =
            Membership { removed: self.node.removed_members().clone(), ..Membership::default() };
        for member in self.node.members().values() {
            if member.is_learner {
                membership.learners.insert(member.id);
            } else {
                membership.voters.insert(member.id);
            }
        }
        membership
    }

    fn coverage(&self) -> raft::Coverage {
        self.node.raft().coverage().clone()
    }

    fn view(&self) -> NodeView {
        let raft = self.node.raft();
        let hard_state = raft.hard_state();
        NodeView {
            term: raft.term(),
            vote: hard_state.vote,
            role: raft.role(),
            leader: raft.leader(),
            commit: raft.commit_index(),
            applied: self.node.applied_index(),
            first_index: raft.first_index(),
            last_index: raft.last_index(),
        }
    }

    fn entries(&self, from: Index, to_inclusive: Index) -> Option<Vec<Entry>> {
        self.node.raft().log_entries(from, to_inclusive)
    }

    fn store_digest(&self) -> u64 {
        self.node.store().digest()
    }
}

/// Starts production nodes over memory disks that outlive their processes.
#[derive(Default)]
pub struct NodeBackend {
    disks: BTreeMap<NodeId, MemDisk>,
    incarnations: BTreeMap<NodeId, u64>,
}

impl Backend for NodeBackend {
    fn start(&mut self, config: &StartConfig) -> Result<Box<dyn SimNode>, String> {
        let disk = self.disks.entry(config.id).or_default().clone();
        let incarnation = self.incarnations.entry(config.id).or_default();
        *incarnation += 1;
        let members = config.members.iter().map(|&id| member_record(id)).collect();
        let mut node_config = NodeConfig::new(config.id, CLUSTER_ID, members, data_dir(config.id));
        node_config.join_existing = config.join_existing;
        node_config.election_ticks = config.election_ticks;
        node_config.heartbeat_ticks = config.heartbeat_ticks;
        node_config.snapshot_count = config.snapshot_count;
        // Keep a short log behind each snapshot so that lagging members also catch up by snapshot.
        node_config.snapshot_catchup_entries = config.snapshot_count.min(5_000);
        node_config.seed = config.seed;
        node_config.incarnation = *incarnation;
        node_config.linearizable_reads =
            config.linearizable_reads && config.planted_bug.as_deref() != Some(PLAIN_READS_LOCAL);
        let stale_v3_ranges = config.planted_bug.as_deref() == Some(STALE_V3_RANGES);
        let lost_keep_alives = config.planted_bug.as_deref() == Some(LOST_KEEP_ALIVES);
        #[cfg(feature = "planted-bugs")]
        {
            node_config.planted_bug = match config.planted_bug.as_deref() {
                Some(STALE_V3_RANGES | LOST_KEEP_ALIVES | PLAIN_READS_LOCAL) => None,
                Some("ack-before-durable") => Some(server::node::PlantedBug::AckBeforeDurable),
                Some(name) => Some(name.parse::<server::node::PlantedBug>()?),
                None => None,
            };
        }
        #[cfg(not(feature = "planted-bugs"))]
        if let Some(name) = &config.planted_bug {
            return Err(format!("planted bug {name} needs the planted-bugs feature"));
        }
        let disk: Arc<dyn Disk> = Arc::new(disk);
        let node = Node::open(node_config, disk).map_err(|error| error.to_string())?;
        Ok(Box::new(NodeMember {
            node,
            in_flight: BTreeMap::new(),
            member_requests: BTreeSet::new(),
            watch_starts: BTreeMap::new(),
            v3_watches: BTreeSet::new(),
            stale_v3_ranges,
            lost_keep_alives,
            early_answers: Vec::new(),
            snapshot_job: None,
            // 1 to 8 ticks: some runs finish snapshots at once, others leave them in flight long
            // enough for thresholds to pass, leaders to change and crashes to cut them short.
            snapshot_job_ticks: 1
                + ((config.seed ^ config.id ^ *incarnation).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 61),
        }))
    }

    fn crash(&mut self, id: NodeId, seed: u64) {
        if let Some(disk) = self.disks.get(&id) {
            disk.crash(Tear::Seeded { seed, zero_fill: seed.is_multiple_of(2) });
        }
    }

    fn flip_bit(&mut self, id: NodeId, seed: u64) -> String {
        let Some(disk) = self.disks.get(&id) else { return "no disk yet".to_string() };
        match disk.flip_random_bit(&data_dir(id), seed) {
            Some((path, offset, bit)) => {
                let length =
                    disk.files().into_iter().find(|(file, _)| *file == path).map_or(0, |(_, length)| length);
                format!("{} ({length} bytes) offset {offset} bit {bit}", path.display())
            }
            None => "no file to damage".to_string(),
        }
    }

    fn cut_power_after(&mut self, id: NodeId, operations: u64) -> bool {
        match self.disks.get(&id) {
            Some(disk) => {
                disk.cut_power_after(operations);
                true
            }
            None => false,
        }
    }

    fn supports_membership(&self) -> bool {
        true
    }

    fn supports_ttl(&self) -> bool {
        true
    }

    fn supports_watches(&self) -> bool {
        true
    }

    fn supports_v3(&self) -> bool {
        true
    }

    fn supports_linearizable_reads(&self) -> bool {
        true
    }

    fn planted_bugs(&self) -> Vec<String> {
        let mut names: Vec<String> = raft::PlantedBug::ALL.iter().map(|bug| bug.name().to_string()).collect();
        names.push("ack-before-durable".to_string());
        names.push(STALE_V3_RANGES.to_string());
        names.push(LOST_KEEP_ALIVES.to_string());
        names.push(PLAIN_READS_LOCAL.to_string());
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(result: Result<Reply, RequestError>) -> Answer {
        Answer { request_id: 7, result, raft_index: 0, raft_term: 0 }
    }

    fn event(action: store::Action, value: Option<&str>, index: u64) -> store::Event {
        store::Event {
            action,
            node: store::Node {
                key: "/k0".to_string(),
                value: value.map(str::to_string),
                modified_index: index,
                created_index: index,
                ..store::Node::default()
            },
            prev_node: None,
            etcd_index: index + 3,
            refresh: false,
        }
    }

    #[test]
    fn a_watch_waits_after_registering_then_reports_its_event_from_the_registration_on() {
        let started = watch_outcome(None, None, answer(Ok(Reply::WatchStarted { start_index: 41 })));
        assert_eq!(started, WatchStep::Waiting { start_index: 41 });
        let seen = watch_outcome(
            None,
            Some(41),
            answer(Ok(Reply::WatchEvent(event(store::Action::CompareAndSwap, Some("12"), 44)))),
        );
        let expected = OperationResult::WatchEvent {
            index: 44,
            action: WatchAction::CompareAndSwap,
            value: Some(12),
            since: Some(42),
        };
        assert_eq!(seen, WatchStep::Done(expected));
    }

    #[test]
    fn a_watch_with_a_wait_index_reports_a_history_event_a_delete_a_close_or_a_401() {
        let from_history =
            watch_outcome(Some(5), None, answer(Ok(Reply::Event(event(store::Action::Delete, None, 9)))));
        let expected = OperationResult::WatchEvent {
            index: 9,
            action: WatchAction::Delete,
            value: None,
            since: Some(5),
        };
        assert_eq!(from_history, WatchStep::Done(expected));
        let closed = watch_outcome(Some(5), Some(8), answer(Ok(Reply::WatchClosed)));
        assert_eq!(closed, WatchStep::Done(OperationResult::WatchClosed));
        let cleared = store::StoreError::event_index_cleared(900, 5, 1900);
        let cleared = watch_outcome(Some(5), None, answer(Err(RequestError::Store(cleared))));
        assert_eq!(cleared, WatchStep::Done(OperationResult::WatchCleared { index: 1900 }));
        let removed = watch_outcome(Some(5), None, answer(Err(RequestError::Removed)));
        assert_eq!(removed, WatchStep::Done(OperationResult::Failed));
    }
}
