//! The simulation itself: one event queue on virtual time, the members, the network, the clients, and
//! the checks that run after every event.
//!
//! Determinism: events are ordered by (time, sequence number); all randomness comes from ChaCha
//! streams derived from the seed; nothing here reads the wall clock.

mod operator;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use raft::{Entry, Index, Message, MessageBody, NodeId, Role, Term};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::cluster::{Backend, NodeView, SimNode, StartConfig};
use crate::history::{NEVER, OpKind, OpResult, Operation, Time};
use crate::linearizability::{self, DEFAULT_STEP_BUDGET, Verdict};
use crate::plan::{Fault, MILLISECOND, Plan, SECOND, TICK_INTERVAL, Target};
use operator::{Operator, Task};

/// The wall-clock time (Unix ns) at virtual time zero, for every member before skew: fixed, so runs
/// replay exactly.
const EPOCH_NS: i64 = 1_700_000_000_000_000_000;
/// Bound on the event queue: a run that schedules more than this is broken.
const MAX_QUEUED_EVENTS: usize = 1_000_000;
/// How often the (quadratic) log matching check runs, in events.
const LOG_MATCHING_EVERY: u64 = 997;
/// After the fault phase ends, operations invoked later than this must all succeed.
const SETTLE_GRACE: Time = 5 * SECOND;
/// Seed salt of the watch workload's random stream.
const WATCH_WORKLOAD_STREAM: u64 = 0x7761_7463_685f_776c;
/// Once the cluster settled, a member applies an acknowledged write within this long: a watch on its
/// key that gives up later than that without seeing an event is a liveness failure.
const WATCH_APPLY_BOUND: Time = 2 * SECOND;

/// Which check failed: shrinking keeps a candidate only if it fails the same check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    ElectionSafety,
    DoubleVote,
    LogMatching,
    LeaderCompleteness,
    CommittedEntryChanged,
    LeaderCommitRule,
    StateMachineSafety,
    CommitRegressed,
    AppliedRegressed,
    DurableTermLost,
    DurableVoteLost,
    NodeError,
    StartFailed,
    Linearizability,
    PlainGet,
    Liveness,
    Watch,
}

impl Check {
    pub fn name(self) -> &'static str {
        match self {
            Check::ElectionSafety => "election-safety",
            Check::DoubleVote => "double-vote",
            Check::LogMatching => "log-matching",
            Check::LeaderCompleteness => "leader-completeness",
            Check::CommittedEntryChanged => "committed-entry-changed",
            Check::LeaderCommitRule => "leader-commit-rule",
            Check::StateMachineSafety => "state-machine-safety",
            Check::CommitRegressed => "commit-regressed",
            Check::AppliedRegressed => "applied-regressed",
            Check::DurableTermLost => "durable-term-lost",
            Check::DurableVoteLost => "durable-vote-lost",
            Check::NodeError => "node-error",
            Check::StartFailed => "start-failed",
            Check::Linearizability => "linearizability",
            Check::PlainGet => "plain-get",
            Check::Liveness => "liveness",
            Check::Watch => "watch",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub check: Check,
    pub at: Time,
    pub detail: String,
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub seed: u64,
    pub failure: Option<Failure>,
    /// The linearizability search gave up on some key (not a failure, but reported).
    pub unknown_key: Option<u32>,
    pub simulated: Time,
    pub events: u64,
    pub operations: usize,
    pub operations_checked: usize,
    /// Watch answers (events, 401s) checked by `check_watches` (also counted in `operations_checked`).
    pub watch_events: usize,
    pub trace_hash: u64,
    /// Notable happenings (crashes, corruption detected, ...), in order.
    pub notes: Vec<String>,
}

#[derive(Debug)]
enum Event {
    Tick {
        node: NodeId,
        incarnation: u64,
    },
    Process {
        node: NodeId,
        incarnation: u64,
    },
    Deliver {
        message: Message,
    },
    ClientNext {
        client: usize,
    },
    ClientTimeout {
        client: usize,
        request_id: u64,
    },
    Fault {
        index: usize,
    },
    Clog {
        node: NodeId,
    },
    Unclog {
        node: NodeId,
    },
    Restart {
        node: NodeId,
    },
    /// The operator looks at the membership and acts (see `operator`).
    OperatorStep {
        generation: u64,
    },
    FaultPhaseEnd,
    /// Shortly before the deadline: remember the commit index every live member must reach.
    CatchUpMark,
    Deadline,
}

struct Scheduled {
    time: Time,
    sequence: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.sequence) == (other.time, other.sequence)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: BinaryHeap is a max-heap and the earliest event must come out first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.sequence).cmp(&(self.time, self.sequence))
    }
}

/// FNV-1a over the events in order: two runs with the same hash ran the same events.
struct TraceHash(u64);

impl TraceHash {
    fn word(&mut self, word: u64) {
        for byte in word.to_le_bytes() {
            self.0 ^= byte as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// A member's wall clock: it runs at its own rate and may be offset or jump.
#[derive(Clone, Copy)]
struct Clock {
    drift_ppm: i64,
    offset_ns: i64,
}

impl Clock {
    fn now(&self, virtual_time: Time) -> i64 {
        let elapsed = virtual_time as i64;
        EPOCH_NS + self.offset_ns + elapsed + elapsed / 1_000_000 * self.drift_ppm
    }

    /// Virtual time between two ticks: a fast clock ticks more often.
    fn tick_interval(&self) -> Time {
        (TICK_INTERVAL as i128 * 1_000_000 / (1_000_000 + self.drift_ppm as i128)) as Time
    }
}

struct Member {
    node: Option<Box<dyn SimNode>>,
    incarnation: u64,
    process_pending: bool,
    clock: Clock,
    /// The last view seen in this incarnation (None right after a start).
    last_view: Option<NodeView>,
    /// Committed entries up to here were compared with the cluster's committed record.
    checked_commit: Index,
    /// A bit was flipped in its files since it last started cleanly: an error is expected.
    corrupted: bool,
    /// It stopped for good (corruption detected); the harness keeps it out.
    retired: bool,
    /// Its power is cut (an error from the disk is expected); it restarts this long after the crash.
    power_cut: Option<Time>,
    /// The highest term it announced in a message that requires a durable term.
    durable_term: Term,
    /// Votes it granted (term -> candidate), announced only after persisting.
    granted_votes: BTreeMap<Term, NodeId>,
    /// Clients know it: an initial member, or an added one once it follows a leader.
    announced: bool,
}

impl Member {
    fn new(clock: Clock, announced: bool) -> Member {
        Member {
            node: None,
            incarnation: 0,
            process_pending: false,
            clock,
            last_view: None,
            checked_commit: 0,
            corrupted: false,
            retired: false,
            power_cut: None,
            durable_term: 0,
            granted_votes: BTreeMap::new(),
            announced,
        }
    }
}

struct Network {
    blocked: BTreeSet<(NodeId, NodeId)>,
    clogged: BTreeSet<NodeId>,
    loss_probability: f64,
    duplicate_probability: f64,
    faults_over: bool,
}

impl Network {
    fn passes(&self, from: NodeId, to: NodeId) -> bool {
        !self.blocked.contains(&(from, to)) && !self.clogged.contains(&from) && !self.clogged.contains(&to)
    }
}

struct Client {
    pending: Option<(u64, usize)>,
    /// The last value this client knows per key, to make compare-and-swap likely to succeed.
    known_values: BTreeMap<u32, u64>,
    /// The highest modifiedIndex (or, for a key found missing, store index) this client saw per key:
    /// its watches wait for what comes after it.
    known_indexes: BTreeMap<u32, u64>,
    /// Its watch in the background (request id, history index), beside its operations, as an etcd
    /// client runs a watcher while it reads and writes.
    watch: Option<(u64, usize)>,
    finished: bool,
}

pub struct World<'a> {
    plan: &'a Plan,
    backend: &'a mut dyn Backend,
    trace: bool,
    queue: BinaryHeap<Scheduled>,
    sequence: u64,
    now: Time,
    rng: ChaCha8Rng,
    members: BTreeMap<NodeId, Member>,
    network: Network,
    clients: Vec<Client>,
    history: Vec<Operation>,
    request_owner: BTreeMap<u64, (usize, usize)>,
    next_request_id: u64,
    next_value: u64,
    hash: TraceHash,
    events: u64,
    // Cluster-wide records for the safety checks.
    leaders: BTreeMap<Term, NodeId>,
    committed: BTreeMap<Index, Entry>,
    digests: BTreeMap<Index, (u64, NodeId)>,
    fault_phase_over: bool,
    workload_end: Time,
    deadline: Time,
    notes: Vec<String>,
    /// Bound on events per run: far above any healthy run, so a message storm ends the run.
    event_budget: u64,
    /// The highest commit index at the catch-up mark: every live member must apply it by the deadline.
    catch_up_target: Option<Index>,
    /// A fault waiting for the next leader to be elected.
    next_leader_fault: Option<Fault>,
    /// Per link, when the last forwarded proposal is delivered (forwards keep their order).
    last_forward_delivery: BTreeMap<(NodeId, NodeId), Time>,
    operator: Operator,
    /// The ID the next added member gets (a removed member's ID never comes back).
    next_member_id: NodeId,
    /// For members added at runtime: the membership they were told when they joined.
    join_members: BTreeMap<NodeId, Vec<NodeId>>,
    /// Which sets carry a TTL, and how long.
    ttl_rng: ChaCha8Rng,
    /// The watch workload's own randomness, so that a plan without watches runs exactly as it did
    /// before watches existed (same draws from `rng`, same trace).
    watch_rng: ChaCha8Rng,
    /// The backend serves watches and the plan asks for some.
    watches_enabled: bool,
}

/// How long before the deadline the catch-up target is taken (the leader keeps proposing TTL syncs,
/// so "applied == the leader's commit" at one instant would be a race, not a liveness property).
const CATCH_UP_MARGIN: Time = 3 * SECOND;

/// Events allowed per simulated second (a healthy 7-node run under load uses a few thousand).
const EVENTS_PER_SECOND_BOUND: u64 = 40_000;

impl<'a> World<'a> {
    pub fn new(plan: &'a Plan, backend: &'a mut dyn Backend, trace: bool) -> World<'a> {
        let members = plan
            .members()
            .into_iter()
            .map(|id| {
                let index = (id - 1) as usize;
                let clock = Clock { drift_ppm: plan.drift_ppm[index], offset_ns: plan.skew_ns[index] };
                (id, Member::new(clock, true))
            })
            .collect();
        let clients = (0..plan.clients)
            .map(|_| Client {
                pending: None,
                known_values: BTreeMap::new(),
                known_indexes: BTreeMap::new(),
                watch: None,
                finished: false,
            })
            .collect();
        let watches_enabled = plan.watch_percent > 0 && backend.supports_watches();
        World {
            plan,
            backend,
            trace,
            queue: BinaryHeap::new(),
            sequence: 0,
            now: 0,
            rng: ChaCha8Rng::seed_from_u64(plan.seed),
            members,
            network: Network {
                blocked: BTreeSet::new(),
                clogged: BTreeSet::new(),
                loss_probability: plan.loss_probability,
                duplicate_probability: plan.duplicate_probability,
                faults_over: false,
            },
            clients,
            history: Vec::new(),
            request_owner: BTreeMap::new(),
            next_request_id: 1,
            next_value: 1,
            hash: TraceHash(0xcbf2_9ce4_8422_2325),
            events: 0,
            leaders: BTreeMap::new(),
            committed: BTreeMap::new(),
            digests: BTreeMap::new(),
            fault_phase_over: false,
            workload_end: plan.fault_phase + plan.liveness_window / 2,
            deadline: plan.fault_phase + plan.liveness_window,
            notes: Vec::new(),
            catch_up_target: None,
            next_leader_fault: None,
            last_forward_delivery: BTreeMap::new(),
            operator: Operator::default(),
            next_member_id: plan.nodes as NodeId + 1,
            join_members: BTreeMap::new(),
            ttl_rng: ChaCha8Rng::seed_from_u64(plan.seed ^ 0x7474_6c72_756e_0000),
            watch_rng: ChaCha8Rng::seed_from_u64(plan.seed ^ WATCH_WORKLOAD_STREAM),
            watches_enabled,
            event_budget: (plan.fault_phase + plan.liveness_window) / SECOND * EVENTS_PER_SECOND_BOUND,
        }
    }

    fn schedule(&mut self, at: Time, event: Event) {
        assert!(self.queue.len() < MAX_QUEUED_EVENTS, "event queue bound exceeded");
        debug_assert!(at >= self.now, "events are never scheduled in the past");
        self.sequence += 1;
        self.queue.push(Scheduled { time: at, sequence: self.sequence, event });
    }

    fn fail(&self, check: Check, detail: String) -> Failure {
        Failure { check, at: self.now, detail }
    }

    fn note(&mut self, text: String) {
        if self.trace {
            println!("{:>14} ! {}", self.now, text);
        }
        self.notes.push(format!("{:.3}s {}", self.now as f64 / SECOND as f64, text));
    }

    /// Runs the plan to its deadline (or the first failure) and checks the history.
    pub fn run(mut self) -> RunReport {
        let failure = self.run_events().err();
        let mut report = RunReport {
            seed: self.plan.seed,
            failure,
            unknown_key: None,
            simulated: self.now,
            events: self.events,
            operations: self.history.len(),
            operations_checked: 0,
            watch_events: 0,
            trace_hash: 0,
            notes: Vec::new(),
        };
        if report.failure.is_none() {
            report.failure = self.check_liveness().err();
        }
        if report.failure.is_none() {
            let mut checked = self.history.clone();
            checked.extend(self.expirations());
            let (verdict, stats) = linearizability::check_history(&checked, DEFAULT_STEP_BUDGET);
            report.operations_checked = stats.operations_checked;
            match verdict {
                Verdict::Linearizable => {}
                Verdict::Unknown { key } => report.unknown_key = Some(key),
                Verdict::Violation { key, detail } => {
                    report.failure = Some(self.fail(
                        Check::Linearizability,
                        format!("history of key k{key} is not linearizable:\n{detail}"),
                    ));
                }
            }
        }
        if report.failure.is_none() {
            match linearizability::check_plain_gets(&self.history) {
                Ok(checked) => report.operations_checked += checked,
                Err(detail) => report.failure = Some(self.fail(Check::PlainGet, detail)),
            }
        }
        if report.failure.is_none() {
            match linearizability::check_watches(&self.history) {
                Ok(checked) => {
                    report.operations_checked += checked;
                    report.watch_events = checked;
                }
                Err(detail) => report.failure = Some(self.fail(Check::Watch, detail)),
            }
        }
        if report.failure.is_none() {
            report.failure = self.check_watcher_leaks().err();
        }
        if let Some(failure) = &report.failure {
            self.hash.word(failure.check as u64);
        }
        report.trace_hash = self.hash.0;
        report.notes = std::mem::take(&mut self.notes);
        report
    }

    fn run_events(&mut self) -> Result<(), Failure> {
        let ids: Vec<NodeId> = self.members.keys().copied().collect();
        for &id in &ids {
            self.start_member(id)?;
        }
        for client in 0..self.clients.len() {
            let at = self.rng.random_range(0..500 * MILLISECOND);
            self.schedule(at, Event::ClientNext { client });
        }
        for index in 0..self.plan.faults.len() {
            self.schedule(self.plan.faults[index].at, Event::Fault { index });
        }
        self.schedule(self.plan.fault_phase, Event::FaultPhaseEnd);
        self.schedule(self.deadline - CATCH_UP_MARGIN, Event::CatchUpMark);
        self.schedule(self.deadline, Event::Deadline);

        while let Some(Scheduled { time, event, .. }) = self.queue.pop() {
            self.now = time;
            self.events += 1;
            self.hash.word(time);
            if self.trace {
                println!("{:>14} {}", time, describe(&event));
            }
            if matches!(event, Event::Deadline) {
                return Ok(());
            }
            if self.events > self.event_budget {
                return Err(self.fail(
                    Check::Liveness,
                    format!(
                        "event storm: more than {} events (a message loop that never settles?)",
                        self.event_budget
                    ),
                ));
            }
            let touched = self.handle(event)?;
            if let Some(node) = touched {
                let became_leader = self.check_member(node)?;
                if became_leader
                    && !self.fault_phase_over
                    && let Some(fault) = self.next_leader_fault.take()
                {
                    let fault = match fault {
                        Fault::Crash { down_for, .. } => {
                            Fault::Crash { target: Target::Node(node), down_for }
                        }
                        Fault::PowerCut { after_operations, down_for, .. } => {
                            Fault::PowerCut { target: Target::Node(node), after_operations, down_for }
                        }
                        other => other,
                    };
                    self.apply_fault(fault)?;
                }
            }
            if self.events.is_multiple_of(LOG_MATCHING_EVERY) {
                self.check_log_matching()?;
            }
        }
        Ok(())
    }

    fn start_member(&mut self, id: NodeId) -> Result<(), Failure> {
        let member = &self.members[&id];
        let join = self.join_members.get(&id);
        let config = StartConfig {
            id,
            members: join.cloned().unwrap_or_else(|| self.plan.members()),
            join_existing: join.is_some(),
            election_tick: self.plan.election_tick,
            heartbeat_tick: self.plan.heartbeat_tick,
            snapshot_count: self.plan.snapshot_count,
            max_msg_bytes: self.plan.max_msg_bytes,
            seed: self.plan.seed.wrapping_mul(31).wrapping_add(id * 1_000_003 + member.incarnation),
            planted_bug: self.plan.planted_bug.clone(),
        };
        let corrupted = member.corrupted;
        match self.backend.start(&config) {
            Ok(node) => {
                let view = node.view();
                let member = &self.members[&id];
                // Terms and votes announced before the crash must have survived it.
                if view.term < member.durable_term {
                    return Err(self.fail(
                        Check::DurableTermLost,
                        format!(
                            "node {id} restarted at term {} after announcing term {}",
                            view.term, member.durable_term
                        ),
                    ));
                }
                if let Some(&candidate) = member.granted_votes.get(&view.term)
                    && view.vote != Some(candidate)
                {
                    return Err(self.fail(
                        Check::DurableVoteLost,
                        format!(
                            "node {id} restarted in term {} with vote {:?} after granting its vote to {candidate}",
                            view.term, view.vote
                        ),
                    ));
                }
                let member = self.members.get_mut(&id).expect("member exists");
                member.node = Some(node);
                member.incarnation += 1;
                member.last_view = None;
                member.checked_commit = 0;
                member.process_pending = false;
                self.hash.word(id);
                let interval = member.clock.tick_interval();
                let incarnation = member.incarnation;
                let first_tick = self.now + self.rng.random_range(0..interval);
                self.schedule(first_tick, Event::Tick { node: id, incarnation });
                self.check_member(id)?;
                self.request_process(id);
                Ok(())
            }
            Err(reason) if corrupted => {
                self.note(format!(
                    "node {id} refused to start on its corrupted disk: {reason}; it stays out"
                ));
                self.members.get_mut(&id).expect("member exists").retired = true;
                self.replace_corrupted(id);
                Ok(())
            }
            Err(reason) => Err(self.fail(Check::StartFailed, format!("node {id} failed to start: {reason}"))),
        }
    }

    fn crash_member(&mut self, id: NodeId) {
        let member = self.members.get_mut(&id).expect("member exists");
        if member.node.take().is_none() {
            return;
        }
        member.process_pending = false;
        member.power_cut = None;
        let seed = self.rng.random::<u64>();
        self.backend.crash(id, seed);
    }

    fn request_process(&mut self, id: NodeId) {
        let member = self.members.get_mut(&id).expect("member exists");
        if member.node.is_some() && !member.process_pending {
            member.process_pending = true;
            let incarnation = member.incarnation;
            self.schedule(self.now + self.plan.sync_latency, Event::Process { node: id, incarnation });
        }
    }

    fn live(&self, id: NodeId, incarnation: u64) -> bool {
        let member = &self.members[&id];
        member.node.is_some() && member.incarnation == incarnation
    }

    /// Handles one event; returns the member whose state it may have changed.
    fn handle(&mut self, event: Event) -> Result<Option<NodeId>, Failure> {
        match event {
            Event::Tick { node, incarnation } => {
                if !self.live(node, incarnation) {
                    return Ok(None);
                }
                let member = self.members.get_mut(&node).expect("member exists");
                let wall = member.clock.now(self.now);
                let interval = member.clock.tick_interval();
                member.node.as_mut().expect("live").tick(wall);
                self.schedule(self.now + interval, Event::Tick { node, incarnation });
                // The transport keeps a stream to every peer and redials it: a peer that knows this
                // member was removed refuses it, and the removed process exits (even one that has
                // nothing to send, like a removed member that stopped campaigning).
                if let Some(peer) = self.refused_by(node) {
                    self.member_exits_removed(node, &format!("was refused by node {peer}"));
                    return Ok(None);
                }
                self.request_process(node);
                Ok(Some(node))
            }
            Event::Process { node, incarnation } => {
                if !self.live(node, incarnation) {
                    return Ok(None);
                }
                self.process(node)?;
                Ok(Some(node))
            }
            Event::Deliver { message } => {
                let to = message.to;
                self.hash.word(message.from);
                self.hash.word(to);
                self.hash.word(message.term);
                self.hash.word(message_kind(&message.body));
                // A partition that started while the message was in flight drops it too.
                if !self.network.passes(message.from, to) {
                    return Ok(None);
                }
                let Some(member) = self.members.get_mut(&to) else { return Ok(None) };
                let Some(node) = member.node.as_mut() else { return Ok(None) };
                if node.refuses(message.from) {
                    // The transport refuses a removed member and tells it so; it exits.
                    if self.members[&message.from].node.is_some() {
                        self.member_exits_removed(message.from, &format!("was refused by node {to}"));
                    }
                    return Ok(None);
                }
                node.receive(message);
                self.request_process(to);
                Ok(Some(to))
            }
            Event::ClientNext { client } => {
                self.client_next(client);
                Ok(None)
            }
            Event::ClientTimeout { client, request_id } => {
                if self.watch_gave_up(client, request_id) {
                    return Ok(None);
                }
                if let Some((pending, op_index)) = self.clients[client].pending
                    && pending == request_id
                {
                    self.hash.word(request_id);
                    let operation = &mut self.history[op_index];
                    operation.result = OpResult::Ambiguous;
                    operation.returned_at = NEVER;
                    self.clients[client].pending = None;
                    self.request_owner.remove(&request_id);
                    let think = self.plan.think_time;
                    self.schedule(self.now + think, Event::ClientNext { client });
                }
                Ok(None)
            }
            Event::Fault { index } => {
                if self.fault_phase_over {
                    return Ok(None);
                }
                let fault = self.plan.faults[index].fault.clone();
                self.apply_fault(fault)
            }
            Event::Clog { node } => {
                if !self.fault_phase_over {
                    self.network.clogged.insert(node);
                }
                Ok(None)
            }
            Event::Unclog { node } => {
                self.network.clogged.remove(&node);
                Ok(None)
            }
            Event::Restart { node } => {
                let member = &self.members[&node];
                if member.node.is_none() && !member.retired {
                    self.start_member(node)?;
                    return Ok(Some(node));
                }
                Ok(None)
            }
            Event::OperatorStep { generation } => self.operator_step(generation),
            Event::FaultPhaseEnd => {
                self.fault_phase_over = true;
                self.operator_fault_phase_over();
                self.network.faults_over = true;
                self.network.blocked.clear();
                self.network.clogged.clear();
                self.network.loss_probability = 0.0;
                self.network.duplicate_probability = 0.0;
                self.note("fault phase over: network healed, every member restarts".to_string());
                let ids: Vec<NodeId> = self.members.keys().copied().collect();
                for id in ids {
                    if self.members[&id].power_cut.is_some() {
                        // Disarm a pending power cut the only way a disk allows: crash now.
                        self.crash_member(id);
                    }
                    let member = &self.members[&id];
                    if member.node.is_none() && !member.retired && member.incarnation > 0 {
                        self.start_member(id)?;
                    }
                }
                Ok(None)
            }
            Event::CatchUpMark => {
                self.catch_up_target = self
                    .members
                    .values()
                    .filter_map(|member| member.node.as_ref().map(|node| node.view().commit))
                    .max();
                Ok(None)
            }
            Event::Deadline => Ok(None),
        }
    }

    fn current_leader(&self) -> Option<NodeId> {
        self.members
            .iter()
            .filter_map(|(id, member)| member.node.as_ref().map(|node| (*id, node.view())))
            .filter(|(_, view)| view.role == Role::Leader)
            .max_by_key(|(_, view)| view.term)
            .map(|(id, _)| id)
    }

    fn resolve(&mut self, target: Target) -> NodeId {
        match target {
            Target::Node(id) => id,
            Target::Leader | Target::NextLeader => match self.current_leader() {
                Some(leader) => leader,
                None => {
                    let endpoints = self.endpoints();
                    endpoints[self.rng.random_range(0..endpoints.len())]
                }
            },
        }
    }

    /// A running peer that refuses `id` as removed and can reach it, if any.
    fn refused_by(&self, id: NodeId) -> Option<NodeId> {
        self.members
            .iter()
            .filter(|(peer, _)| **peer != id)
            .filter(|(peer, _)| self.network.passes(**peer, id) && self.network.passes(id, **peer))
            .find(|(_, member)| member.node.as_ref().is_some_and(|node| node.refuses(id)))
            .map(|(peer, _)| *peer)
    }

    /// The members clients and faults address: known to clients and not out for good.
    fn endpoints(&self) -> Vec<NodeId> {
        let endpoints: Vec<NodeId> = self
            .members
            .iter()
            .filter(|(_, member)| member.announced && !member.retired)
            .map(|(id, _)| *id)
            .collect();
        assert!(!endpoints.is_empty(), "a quorum of members is never out for good");
        endpoints
    }

    fn apply_fault(&mut self, fault: Fault) -> Result<Option<NodeId>, Failure> {
        // Every member that ever existed: a partition separates the given side from all others.
        let members: Vec<NodeId> = self.members.keys().copied().collect();
        let block_between = |network: &mut Network, left: &[NodeId], right: &[NodeId]| {
            for &a in left {
                for &b in right {
                    network.blocked.insert((a, b));
                    network.blocked.insert((b, a));
                }
            }
        };
        self.note(format!("fault: {fault:?}"));
        match fault {
            Fault::Partition { side } => {
                self.network.blocked.clear();
                let other: Vec<NodeId> = members.iter().copied().filter(|id| !side.contains(id)).collect();
                block_between(&mut self.network, &side, &other);
            }
            Fault::OneWay { from } => {
                self.network.blocked.clear();
                for &a in &from {
                    for &b in &members {
                        if !from.contains(&b) {
                            self.network.blocked.insert((a, b));
                        }
                    }
                }
            }
            Fault::IsolateLeader => {
                self.network.blocked.clear();
                if let Some(leader) = self.current_leader() {
                    let other: Vec<NodeId> = members.iter().copied().filter(|&id| id != leader).collect();
                    block_between(&mut self.network, &[leader], &other);
                    self.note(format!("isolated leader {leader}"));
                }
            }
            Fault::Bridge { left, bridge: _, right } => {
                self.network.blocked.clear();
                block_between(&mut self.network, &left, &right);
            }
            Fault::CloggingWave { order, unclog_order, gap } => {
                let count = order.len() as Time;
                for (step, node) in order.into_iter().enumerate() {
                    self.schedule(self.now + step as Time * gap, Event::Clog { node });
                }
                for (step, node) in unclog_order.into_iter().enumerate() {
                    self.schedule(self.now + (count + step as Time) * gap, Event::Unclog { node });
                }
            }
            Fault::Heal => {
                self.network.blocked.clear();
                self.network.clogged.clear();
            }
            Fault::Crash { target: Target::NextLeader, .. }
            | Fault::PowerCut { target: Target::NextLeader, .. } => {
                self.next_leader_fault = Some(fault);
            }
            Fault::Crash { target, down_for } => {
                let id = self.resolve(target);
                if self.members[&id].node.is_some() {
                    self.note(format!("crash node {id} for {down_for}ns"));
                    self.crash_member(id);
                    self.schedule(self.now + down_for, Event::Restart { node: id });
                }
            }
            Fault::PowerCut { target, after_operations, down_for } => {
                let id = self.resolve(target);
                let member = &self.members[&id];
                if member.node.is_some()
                    && member.power_cut.is_none()
                    && self.backend.cut_power_after(id, after_operations)
                {
                    self.note(format!("power of node {id} fails after {after_operations} disk operations"));
                    self.members.get_mut(&id).expect("member exists").power_cut = Some(down_for);
                }
            }
            Fault::ClockJump { node, delta_ns } => {
                self.members.get_mut(&node).expect("member exists").clock.offset_ns += delta_ns;
            }
            Fault::FlipBit { node, down_for } => {
                let member = &self.members[&node];
                if !member.retired && !self.flip_keeps_quorum(node) {
                    self.note(format!("no bit flip on node {node}: too few healthy voters would be left"));
                } else if !member.retired {
                    self.crash_member(node);
                    let seed = self.rng.random::<u64>();
                    let place = self.backend.flip_bit(node, seed);
                    self.note(format!("flipped a bit on node {node}: {place}"));
                    self.members.get_mut(&node).expect("member exists").corrupted = true;
                    self.schedule(self.now + down_for, Event::Restart { node });
                }
            }
            Fault::AddMember => self.operator_enqueue(Task::Add, false),
            Fault::RemoveMember { target } => {
                self.operator_enqueue(Task::Remove { target, replace: false }, false)
            }
            Fault::ReplaceMember { target } => {
                self.operator_enqueue(Task::Remove { target, replace: true }, false)
            }
        }
        Ok(None)
    }

    /// Whether the voters whose disks stay intact still form a quorum if `node`'s disk is damaged
    /// (the plan damages at most a minority of the first members; removals may have left fewer).
    fn flip_keeps_quorum(&self, node: NodeId) -> bool {
        // The most up-to-date running member's view of the voters.
        let voters: Vec<NodeId> = self
            .members
            .values()
            .filter_map(|member| member.node.as_ref())
            .max_by_key(|node| node.view().applied)
            .map(|node| node.membership().voters.into_iter().collect())
            .filter(|voters: &Vec<NodeId>| !voters.is_empty())
            .unwrap_or_else(|| self.plan.members());
        let healthy_quorum = |voters: &[NodeId]| {
            let healthy = voters
                .iter()
                .filter(|id| **id != node)
                .filter(|id| self.members.get(id).is_some_and(|member| !member.retired && !member.corrupted))
                .count();
            healthy > voters.len() / 2
        };
        // A removal under way takes effect on append, before it commits: both configurations must
        // keep a healthy quorum, or neither can commit anything.
        let after_removal: Vec<NodeId> = match self.operator.pending_removal() {
            Some(removed) => voters.iter().copied().filter(|id| *id != removed).collect(),
            None => voters.clone(),
        };
        healthy_quorum(&voters) && healthy_quorum(&after_removal)
    }

    fn process(&mut self, id: NodeId) -> Result<(), Failure> {
        let member = self.members.get_mut(&id).expect("member exists");
        member.process_pending = false;
        let result = member.node.as_mut().expect("live").process();
        let output = match result {
            Ok(output) => output,
            Err(reason) => {
                if let Some(down_for) = member.power_cut.take() {
                    self.note(format!(
                        "node {id} lost power mid-write ({reason}); it restarts in {down_for}ns"
                    ));
                    self.crash_member(id);
                    self.schedule(self.now + down_for, Event::Restart { node: id });
                    return Ok(());
                }
                if member.corrupted {
                    member.retired = true;
                    member.node = None;
                    self.note(format!("node {id} stopped on its corrupted disk: {reason}; it stays out"));
                    self.replace_corrupted(id);
                    return Ok(());
                }
                return Err(self.fail(Check::NodeError, format!("node {id} stopped: {reason}")));
            }
        };
        for message in output.messages {
            self.record_sent(&message)?;
            self.send(message);
        }
        for (request_id, result) in output.responses {
            self.client_response(request_id, result);
        }
        for (request_id, result) in output.member_answers {
            self.operator_answer(request_id, result);
        }
        if output.removed {
            self.member_exits_removed(id, "applied its own removal");
        }
        Ok(())
    }

    /// Tracks what a message proves the sender has made durable.
    fn record_sent(&mut self, message: &Message) -> Result<(), Failure> {
        let pre_vote = matches!(
            message.body,
            MessageBody::RequestVote { pre_vote: true, .. }
                | MessageBody::RequestVoteResponse { pre_vote: true, .. }
        );
        if pre_vote {
            return Ok(());
        }
        let member = self.members.get_mut(&message.from).expect("member exists");
        member.durable_term = member.durable_term.max(message.term);
        if let MessageBody::RequestVoteResponse { granted: true, .. } = message.body {
            let previous = *member.granted_votes.entry(message.term).or_insert(message.to);
            if previous != message.to {
                return Err(self.fail(
                    Check::DoubleVote,
                    format!(
                        "node {} granted its vote in term {} to both {previous} and {}",
                        message.from, message.term, message.to
                    ),
                ));
            }
        }
        Ok(())
    }

    fn send(&mut self, message: Message) {
        let (from, to) = (message.from, message.to);
        if from == to || !self.members.contains_key(&to) || !self.network.passes(from, to) {
            return;
        }
        if self.network.loss_probability > 0.0 && self.rng.random_bool(self.network.loss_probability) {
            return;
        }
        let may_duplicate =
            self.plan.duplicate_proposals || !matches!(message.body, MessageBody::Propose { .. });
        let copies = if may_duplicate
            && self.network.duplicate_probability > 0.0
            && self.rng.random_bool(self.network.duplicate_probability)
        {
            2
        } else {
            1
        };
        let latency = self.plan.latency;
        // Forwards travel in order on each link, as on the production transport's one TCP stream per
        // peer (the node's exactly-once bookkeeping relies on it); Raft's own messages may reorder.
        let in_order = !self.plan.duplicate_proposals && matches!(message.body, MessageBody::Propose { .. });
        for _ in 0..copies {
            let mut delay = latency.base;
            if latency.jitter > 0 {
                // Exponential tail: -ln(u) * mean.
                let uniform: f64 = self.rng.random_range(1e-9..1.0);
                delay += (-uniform.ln() * latency.jitter as f64) as Time;
            }
            if !self.network.faults_over && self.rng.random_bool(latency.spike_probability) {
                delay += latency.spike;
            }
            let mut at = self.now + delay.max(1);
            if in_order {
                let last = self.last_forward_delivery.entry((from, to)).or_insert(0);
                at = at.max(*last + 1);
                *last = at;
            }
            self.schedule(at, Event::Deliver { message: message.clone() });
        }
    }

    fn client_next(&mut self, client: usize) {
        if self.clients[client].pending.is_some() || self.clients[client].finished {
            return;
        }
        if self.now >= self.workload_end {
            self.clients[client].finished = true;
            return;
        }
        self.client_watch(client);
        let ttl_write = self.ttl_chosen();
        let key = self.rng.random_range(0..self.plan.keys);
        let roll = self.rng.random_range(0..100);
        let (key, kind) = if ttl_write {
            let value = self.next_value;
            self.next_value += 1;
            let ttl_seconds = self.ttl_rng.random_range(1..=self.plan.max_ttl_seconds.max(1));
            (self.plan.keys, OpKind::SetTtl { value, ttl_seconds })
        } else if roll < self.plan.quorum_get_percent {
            (self.maybe_ttl_key(key), OpKind::Get { quorum: true })
        } else if roll < self.plan.quorum_get_percent + self.plan.plain_get_percent {
            (self.maybe_ttl_key(key), OpKind::Get { quorum: false })
        } else {
            let value = self.next_value;
            self.next_value += 1;
            let kind = match self.rng.random_range(0..100) {
                0..40 => OpKind::Set { value },
                40..55 => OpKind::Create { value },
                55..85 => match self.clients[client].known_values.get(&key) {
                    Some(&previous) => OpKind::CompareAndSwap { previous, value },
                    None => OpKind::Create { value },
                },
                _ => OpKind::Delete,
            };
            (key, kind)
        };
        let endpoints = self.endpoints();
        let node = endpoints[self.rng.random_range(0..endpoints.len())];
        let (request_id, op_index) = self.invoke(client, node, key, &kind);
        if !self.submit(node, request_id, op_index, key, &kind) {
            // Connection refused: certainly not executed; try again after a pause.
            let think = self.plan.think_time.max(MILLISECOND);
            self.schedule(self.now + think, Event::ClientNext { client });
            return;
        }
        self.clients[client].pending = Some((request_id, op_index));
        self.request_owner.insert(request_id, (client, op_index));
        self.schedule(self.now + self.plan.client_timeout, Event::ClientTimeout { client, request_id });
        self.request_process(node);
    }

    /// Records a client's request in the history (ambiguous until answered) and in the trace; returns
    /// its request ID and its place in the history.
    fn invoke(&mut self, client: usize, node: NodeId, key: u32, kind: &OpKind) -> (u64, usize) {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        let op_index = self.history.len();
        self.history.push(Operation {
            client: client as u32,
            node,
            key,
            kind: kind.clone(),
            invoked_at: self.now,
            returned_at: NEVER,
            result: OpResult::Ambiguous,
        });
        self.hash.word(request_id);
        self.hash.word(node);
        if self.trace {
            println!(
                "{:>14}   client {client} -> node {node}: request {request_id} k{key} {kind:?}",
                self.now
            );
        }
        (request_id, op_index)
    }

    /// Hands a recorded request to its member; false (and the operation marked failed) when the
    /// member is down, like a refused connection.
    fn submit(&mut self, node: NodeId, request_id: u64, op_index: usize, key: u32, kind: &OpKind) -> bool {
        let member = self.members.get_mut(&node).expect("member exists");
        let Some(target) = member.node.as_mut() else {
            let operation = &mut self.history[op_index];
            operation.result = OpResult::Failed;
            operation.returned_at = self.now;
            return false;
        };
        let wall = member.clock.now(self.now);
        target.submit(request_id, key, kind, wall);
        true
    }

    fn client_response(&mut self, request_id: u64, result: OpResult) {
        if self.watch_response(request_id, &result) {
            return;
        }
        let Some((client, op_index)) = self.request_owner.remove(&request_id) else {
            return; // the client gave up on it already
        };
        if self.clients[client].pending != Some((request_id, op_index)) {
            return;
        }
        self.hash.word(request_id);
        self.hash.word(result_code(&result));
        if self.trace {
            println!("{:>14}   client {client} <- request {request_id}: {result:?}", self.now);
        }
        let key = self.history[op_index].key;
        self.learn_index(client, key, &result);
        let operation = &mut self.history[op_index];
        let key = operation.key;
        match (&operation.kind, &result) {
            (OpKind::Get { .. }, OpResult::Value { value, .. })
            | (
                OpKind::Set { value }
                | OpKind::SetTtl { value, .. }
                | OpKind::Create { value }
                | OpKind::CompareAndSwap { value, .. },
                OpResult::Written { .. },
            ) => {
                self.clients[client].known_values.insert(key, *value);
            }
            _ => {}
        }
        let ambiguous = matches!(result, OpResult::Ambiguous);
        operation.result = result;
        operation.returned_at = if ambiguous { NEVER } else { self.now };
        self.clients[client].pending = None;
        let think = self.plan.think_time;
        self.schedule(self.now + think, Event::ClientNext { client });
    }

    // ---- safety checks ----

    /// Checks one member after an event; says whether it just became leader.
    fn check_member(&mut self, id: NodeId) -> Result<bool, Failure> {
        let member = &self.members[&id];
        let Some(node) = member.node.as_ref() else { return Ok(false) };
        let view = node.view();
        let previous = member.last_view;
        if view.commit > view.last_index.max(view.first_index.saturating_sub(1)) && view.commit > 0 {
            // commit beyond the log is only possible with a snapshot covering it
            if view.commit > view.last_index {
                return Err(self.fail(
                    Check::CommitRegressed,
                    format!("node {id} commit {} beyond its last index {}", view.commit, view.last_index),
                ));
            }
        }
        if let Some(previous) = previous {
            if view.commit < previous.commit {
                return Err(self.fail(
                    Check::CommitRegressed,
                    format!("node {id} commit went back from {} to {}", previous.commit, view.commit),
                ));
            }
            if view.applied < previous.applied {
                return Err(self.fail(
                    Check::AppliedRegressed,
                    format!(
                        "node {id} applied index went back from {} to {}",
                        previous.applied, view.applied
                    ),
                ));
            }
            if view.term < previous.term {
                return Err(self.fail(
                    Check::DurableTermLost,
                    format!("node {id} term went back from {} to {}", previous.term, view.term),
                ));
            }
        }
        // Raft §5.4.2: a leader advances its commit index only onto an entry of its own term (older
        // entries are committed indirectly, never by counting their replicas).
        if view.role == Role::Leader
            && previous.is_some_and(|previous| previous.role == Role::Leader && previous.term == view.term)
            && previous.is_some_and(|previous| view.commit > previous.commit)
            && let Some(entries) = node.entries(view.commit, view.commit)
            && let Some(entry) = entries.first()
            && entry.term != view.term
        {
            return Err(self.fail(
                Check::LeaderCommitRule,
                format!(
                    "leader {id} of term {} advanced its commit to index {} whose entry is of term {}",
                    view.term, view.commit, entry.term
                ),
            ));
        }
        // Election safety: at most one leader per term, ever.
        let became_leader = view.role == Role::Leader
            && previous.is_none_or(|previous| previous.role != Role::Leader || previous.term != view.term);
        if view.role == Role::Leader {
            let leader = *self.leaders.entry(view.term).or_insert(id);
            if leader != id {
                return Err(self.fail(
                    Check::ElectionSafety,
                    format!("nodes {leader} and {id} both became leader in term {}", view.term),
                ));
            }
        }
        // Committed entries never change, on any member.
        if view.commit > member.checked_commit {
            let from = (member.checked_commit + 1).max(view.first_index);
            if from <= view.commit
                && let Some(entries) = node.entries(from, view.commit)
            {
                for entry in entries {
                    match self.committed.get(&entry.index) {
                        Some(known) if *known != entry => {
                            return Err(self.fail(
                                Check::CommittedEntryChanged,
                                format!(
                                    "node {id} committed {:?} at index {} where {:?} was committed before",
                                    entry, entry.index, known
                                ),
                            ));
                        }
                        Some(_) => {}
                        None => {
                            self.committed.insert(entry.index, entry);
                        }
                    }
                }
            }
        }
        // Leader completeness: a new leader holds every entry committed so far.
        if became_leader {
            let first = view.first_index;
            let known: Vec<(Index, Term)> =
                self.committed.range(first..).map(|(index, entry)| (*index, entry.term)).collect();
            if let Some(&(last_committed, _)) = known.last() {
                let held = node.entries(first, last_committed.min(view.last_index)).unwrap_or_default();
                let held: BTreeMap<Index, Term> =
                    held.iter().map(|entry| (entry.index, entry.term)).collect();
                for (index, term) in known {
                    if held.get(&index) != Some(&term) {
                        return Err(self.fail(
                            Check::LeaderCompleteness,
                            format!(
                                "node {id} became leader of term {} without committed entry {index} (term {term}); it has {:?}",
                                view.term,
                                held.get(&index)
                            ),
                        ));
                    }
                }
            }
        }
        // State machine safety: the same applied index means the same store.
        if previous.is_none_or(|previous| previous.applied != view.applied) && view.applied > 0 {
            let digest = node.store_digest();
            let (known, by) = *self.digests.entry(view.applied).or_insert((digest, id));
            if known != digest {
                return Err(self.fail(
                    Check::StateMachineSafety,
                    format!(
                        "node {id} store at applied index {} differs from node {by}'s at the same index",
                        view.applied
                    ),
                ));
            }
        }
        let member = self.members.get_mut(&id).expect("member exists");
        member.checked_commit = member.checked_commit.max(view.commit);
        member.last_view = Some(view);
        // An added member is given to clients once it follows a leader (an operator adds its URL to
        // the clients' endpoint lists after it joined).
        if !member.announced && view.leader.is_some() && view.applied > 0 {
            member.announced = true;
        }
        Ok(became_leader)
    }

    fn check_log_matching(&self) -> Result<(), Failure> {
        let logs: Vec<(NodeId, Vec<Entry>)> = self
            .members
            .iter()
            .filter_map(|(id, member)| {
                let node = member.node.as_ref()?;
                let view = node.view();
                let entries = node.entries(view.first_index, view.last_index).unwrap_or_default();
                Some((*id, entries))
            })
            .collect();
        for (a, (id_a, log_a)) in logs.iter().enumerate() {
            for (id_b, log_b) in logs.iter().skip(a + 1) {
                let (Some(first_a), Some(first_b)) = (log_a.first(), log_b.first()) else { continue };
                let start = first_a.index.max(first_b.index);
                let end = (first_a.index + log_a.len() as Index).min(first_b.index + log_b.len() as Index);
                if start >= end {
                    continue; // no overlap
                }
                let slice_a = &log_a[(start - first_a.index) as usize..];
                let slice_b = &log_b[(start - first_b.index) as usize..];
                let overlap = slice_a.len().min(slice_b.len());
                // The last index where both hold an entry of the same term: everything up to it must match.
                let Some(matching) = (0..overlap).rev().find(|&i| slice_a[i].term == slice_b[i].term) else {
                    continue;
                };
                if let Some(i) = (0..=matching).find(|&i| slice_a[i] != slice_b[i]) {
                    return Err(self.fail(
                        Check::LogMatching,
                        format!(
                            "nodes {id_a} and {id_b} agree on index {} term {} but differ at index {}: {:?} vs {:?}",
                            slice_a[matching].index, slice_a[matching].term, slice_a[i].index, slice_a[i], slice_b[i]
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    // ---- liveness ----

    /// From when the cluster must serve every request: a grace period after the faults stopped, or
    /// after the last membership change if one was still finishing then (removing a leader after the
    /// faults stopped is one more fault).
    fn settled_at(&self) -> Time {
        self.plan.fault_phase.max(self.operator.last_change_at) + SETTLE_GRACE
    }

    /// Whether this operation is a TTL'd set on the TTL key (its own random stream, so TTLs do not
    /// shift the other choices of a seed).
    fn ttl_chosen(&mut self) -> bool {
        self.ttl_active() && self.ttl_rng.random_range(0..1000) < self.plan.ttl_per_mille
    }

    fn ttl_active(&self) -> bool {
        self.backend.supports_ttl() && self.plan.ttl_per_mille > 0
    }

    /// Reads also go to the TTL key (`plan.keys`), as often as to any other key.
    fn maybe_ttl_key(&mut self, key: u32) -> u32 {
        if self.ttl_active() && self.ttl_rng.random_range(0..=self.plan.keys) == self.plan.keys {
            self.plan.keys
        } else {
            key
        }
    }

    /// The expiry of every value a TTL'd set wrote, as pseudo-operations for the linearizability
    /// check. The leader expires a key once its own clock passes the write's stamp (the clock of the
    /// member that took the write, read when it was invoked) plus the TTL, so in virtual time the
    /// expiry lies within the TTL plus or minus how far two members' clocks can disagree: initial
    /// skews, every jump, drift over the run, and the offsets of members added later. It may never
    /// come while faults keep a leader from proposing its time; once the cluster has settled it must
    /// come within that bound (plus a sync interval and delivery).
    fn expirations(&self) -> Vec<crate::history::Operation> {
        let skews = &self.plan.skew_ns;
        let skew_spread = (skews.iter().max().copied().unwrap_or(0)
            - skews.iter().min().copied().unwrap_or(0))
        .unsigned_abs()
            + if self.members.len() > self.plan.nodes { 4 * SECOND } else { 0 };
        let jumps: u64 = self
            .plan
            .faults
            .iter()
            .filter_map(|fault| match fault.fault {
                Fault::ClockJump { delta_ns, .. } => Some(delta_ns.unsigned_abs()),
                _ => None,
            })
            .sum();
        let max_drift_ppm =
            self.members.values().map(|member| member.clock.drift_ppm.unsigned_abs()).max().unwrap_or(0);
        let drift = 2 * max_drift_ppm * (self.deadline / 1_000_000);
        let slack = skew_spread + jumps + drift + SECOND;
        let settled = self.settled_at();
        self.history
            .iter()
            .filter_map(|write| {
                let OpKind::SetTtl { value, ttl_seconds } = write.kind else { return None };
                let ttl = ttl_seconds * SECOND;
                let earliest = (write.invoked_at + ttl).saturating_sub(slack).max(write.invoked_at);
                let latest = if write.returned_at == NEVER {
                    NEVER
                } else {
                    (write.returned_at + ttl).max(settled) + slack
                };
                Some(crate::history::Operation {
                    client: u32::MAX,
                    node: 0,
                    key: write.key,
                    kind: OpKind::Expire { value },
                    invoked_at: earliest,
                    returned_at: latest,
                    result: OpResult::Ambiguous,
                })
            })
            .collect()
    }

    fn check_liveness(&self) -> Result<(), Failure> {
        self.check_log_matching()?;
        let live: Vec<(NodeId, NodeView)> = self
            .members
            .iter()
            .filter_map(|(id, member)| member.node.as_ref().map(|node| (*id, node.view())))
            .collect();
        let fail = |detail: String| Err(self.fail(Check::Liveness, detail));
        let Some(leader) = self.current_leader() else {
            return fail(format!(
                "no leader {}s after the faults stopped: {live:?}",
                self.plan.liveness_window / SECOND
            ));
        };
        let leader_view = live.iter().find(|(id, _)| *id == leader).expect("leader is live").1;
        for (id, view) in &live {
            if view.term != leader_view.term || view.leader != Some(leader) {
                return fail(format!(
                    "node {id} does not follow leader {leader} (term {}): {view:?}",
                    leader_view.term
                ));
            }
            let target = self.catch_up_target.unwrap_or(0);
            if view.applied < target {
                return fail(format!(
                    "node {id} did not catch up: applied {} of commit {target} reached {}s before the deadline",
                    view.applied,
                    CATCH_UP_MARGIN / SECOND
                ));
            }
        }
        if !self.operator.idle() {
            return fail(format!(
                "the operator's membership changes did not finish: {}",
                self.operator.describe()
            ));
        }
        if self.backend.supports_membership() {
            let membership = self.members[&leader].node.as_ref().expect("leader is live").membership();
            for (id, _) in &live {
                if !membership.contains(*id) {
                    return fail(format!("node {id} runs but is not a member: {membership:?}"));
                }
            }
            // Added members join as learners; caught up, they must have been promoted.
            if let Some(learner) =
                membership.learners.iter().find(|id| live.iter().any(|(live, _)| live == *id))
            {
                return fail(format!("member {learner} caught up but is still a learner: {membership:?}"));
            }
        }
        let settled = self.settled_at();
        for operation in &self.history {
            if operation.invoked_at >= settled
                && matches!(operation.result, OpResult::Ambiguous | OpResult::Failed)
                && !self.members[&operation.node].retired
            {
                return fail(format!(
                    "an operation invoked after the cluster had {}s to settle did not succeed: {}",
                    SETTLE_GRACE / SECOND,
                    operation.describe()
                ));
            }
        }
        for (client, state) in self.clients.iter().enumerate() {
            let succeeded = self.history.iter().any(|operation| {
                operation.client == client as u32
                    && operation.invoked_at >= self.plan.fault_phase
                    && !matches!(operation.result, OpResult::Ambiguous | OpResult::Failed)
            });
            if !succeeded || state.pending.is_some() {
                return fail(format!("client {client} completed no operation after the faults stopped"));
            }
        }
        self.check_watch_liveness(settled)
    }

    /// Once the cluster settled, a watch must not give up while a write on its key that it should
    /// report was acknowledged long enough before (`WATCH_APPLY_BOUND`) for its member to apply it.
    /// Which writes it should report: with a wait index `w`, any acknowledged write of index >= w;
    /// without one, any write invoked after the watch (the member registered it at its store index
    /// then, and a later proposal gets a higher store index). `settled`: when the cluster had settled.
    fn check_watch_liveness(&self, settled: Time) -> Result<(), Failure> {
        for watch in &self.history {
            let OpKind::Watch { wait_index } = watch.kind else { continue };
            if watch.invoked_at < settled
                || watch.result != OpResult::WatchTimedOut
                || self.members[&watch.node].retired
            {
                continue;
            }
            let missed = self.history.iter().find(|write| {
                let OpResult::Written { index } = write.result else { return false };
                let reportable = match wait_index {
                    Some(wait_index) => index >= wait_index,
                    None => write.invoked_at > watch.invoked_at,
                };
                write.key == watch.key
                    && reportable
                    && write.returned_at != NEVER
                    && write.returned_at.saturating_add(WATCH_APPLY_BOUND) <= watch.returned_at
            });
            if let Some(write) = missed {
                return Err(self.fail(
                    Check::Liveness,
                    format!(
                        "a watch gave up although a write it should report was acknowledged {}ms before: {} \
                         missed {}",
                        (watch.returned_at - write.returned_at) / MILLISECOND,
                        watch.describe(),
                        write.describe()
                    ),
                ));
            }
        }
        Ok(())
    }

    // ---- watches ----

    /// At the end, a live member keeps no more watchers registered than clients still wait on it:
    /// one-shot watchers go with their event, given-up ones with the client's cancel, and a store
    /// replaced by a snapshot takes its watchers along.
    fn check_watcher_leaks(&self) -> Result<(), Failure> {
        for (id, member) in &self.members {
            let Some(node) = member.node.as_ref() else { continue };
            let waiting = self
                .clients
                .iter()
                .filter_map(|client| client.watch)
                .filter(|&(_, op_index)| {
                    let operation = &self.history[op_index];
                    operation.node == *id && matches!(operation.kind, OpKind::Watch { .. })
                })
                .count() as u64;
            let registered = node.watchers();
            if registered > waiting {
                return Err(self.fail(
                    Check::Watch,
                    format!(
                        "node {id} still has {registered} watchers registered at the end while clients \
                         wait on {waiting} watches there (a cancelled or answered watch leaked)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Maybe starts a one-shot watch in the background of the client's next operation, when it has
    /// none running (drawing only from `watch_rng`, so the operations themselves stay as they were).
    fn client_watch(&mut self, client: usize) {
        if !self.watches_enabled
            || self.clients[client].watch.is_some()
            || self.watch_rng.random_range(0..100) >= self.plan.watch_percent
        {
            return;
        }
        let key = self.watch_rng.random_range(0..self.plan.keys);
        let known = self.clients[client].known_indexes.get(&key).copied();
        let roll = self.watch_rng.random_range(0..10);
        let wait_index = match known {
            // The next change from the member's point of view.
            _ if roll < 3 => None,
            // The next change after what the client saw: etcd's read-then-watch pattern.
            Some(known) if roll < 8 => Some(known + 1),
            // A little older: answered at once from the member's event history.
            Some(known) if roll < 9 => Some(known.saturating_sub(self.watch_rng.random_range(0..20)).max(1)),
            // About a history's length (1000 events) back: answered from the history's oldest events
            // or 401 (EventIndexCleared).
            Some(known) if known > 900 && self.watch_rng.random_bool(0.5) => {
                Some(known - self.watch_rng.random_range(900..=known.min(1100)) + 1)
            }
            // Old: the first change of the key ever, or 401 once the history moved past it.
            _ => Some(self.watch_rng.random_range(1..=50)),
        };
        let kind = OpKind::Watch { wait_index };
        let endpoints = self.endpoints();
        let node = endpoints[self.watch_rng.random_range(0..endpoints.len())];
        let (request_id, op_index) = self.invoke(client, node, key, &kind);
        if !self.submit(node, request_id, op_index, key, &kind) {
            return; // connection refused: nothing was registered
        }
        self.clients[client].watch = Some((request_id, op_index));
        self.request_owner.insert(request_id, (client, op_index));
        self.schedule(self.now + self.plan.watch_timeout, Event::ClientTimeout { client, request_id });
        self.request_process(node);
    }

    /// Records the answer to a client's background watch; false when `request_id` is not one.
    fn watch_response(&mut self, request_id: u64, result: &OpResult) -> bool {
        let Some(&(client, op_index)) = self.request_owner.get(&request_id) else { return false };
        if self.clients[client].watch != Some((request_id, op_index)) {
            return false;
        }
        self.request_owner.remove(&request_id);
        self.clients[client].watch = None;
        self.hash.word(request_id);
        self.hash.word(result_code(result));
        if self.trace {
            println!("{:>14}   client {client} <- watch {request_id}: {result:?}", self.now);
        }
        let key = self.history[op_index].key;
        self.learn_index(client, key, result);
        let operation = &mut self.history[op_index];
        operation.result = result.clone();
        operation.returned_at = self.now;
        true
    }

    /// The client's watch `request_id` saw nothing in time: it gives up, records so and cancels the
    /// watch on its member. Returns false when `request_id` is not a pending watch of the client.
    fn watch_gave_up(&mut self, client: usize, request_id: u64) -> bool {
        let Some((watch, op_index)) = self.clients[client].watch else { return false };
        if watch != request_id {
            return false;
        }
        self.hash.word(request_id);
        if self.trace {
            println!("{:>14}   client {client} gives up on watch {request_id} and cancels it", self.now);
        }
        let operation = &mut self.history[op_index];
        operation.result = OpResult::WatchTimedOut;
        operation.returned_at = self.now;
        let node = operation.node;
        self.clients[client].watch = None;
        self.request_owner.remove(&request_id);
        let member = self.members.get_mut(&node).expect("member exists");
        let wall = member.clock.now(self.now);
        if let Some(target) = member.node.as_mut() {
            target.cancel(request_id, wall);
        }
        true
    }

    /// Remembers the newest index the client saw on `key`: where its next watch may start.
    fn learn_index(&mut self, client: usize, key: u32, result: &OpResult) {
        let index = match *result {
            OpResult::Written { index }
            | OpResult::Value { index, .. }
            | OpResult::NotFound { index }
            | OpResult::WatchEvent { index, .. } => index,
            _ => return,
        };
        let known = self.clients[client].known_indexes.entry(key).or_insert(0);
        *known = (*known).max(index);
    }
}

fn message_kind(body: &MessageBody) -> u64 {
    match body {
        MessageBody::RequestVote { pre_vote, .. } => 1 + *pre_vote as u64,
        MessageBody::RequestVoteResponse { pre_vote, granted } => 3 + *pre_vote as u64 * 2 + *granted as u64,
        MessageBody::AppendEntries { entries, prev_log_index, .. } => {
            7 + (entries.len() as u64) * 31 + prev_log_index * 1009
        }
        MessageBody::AppendEntriesResponse { result } => match result {
            Ok(index) => 8 + index * 1009,
            Err((index, _)) => 9 + index * 1009,
        },
        MessageBody::Heartbeat { commit, .. } => 10 + commit * 1009,
        MessageBody::HeartbeatResponse { .. } => 11,
        MessageBody::InstallSnapshot { snapshot } => 12 + snapshot.meta.index * 1009,
        MessageBody::TimeoutNow => 13,
        MessageBody::Propose { entries } => 14 + entries.len() as u64 * 31,
        MessageBody::ReadIndex { .. } => 15,
        MessageBody::ReadIndexResponse { index, .. } => 16 + index * 1009,
    }
}

fn result_code(result: &OpResult) -> u64 {
    match result {
        OpResult::Written { index } => 1 + index * 16,
        OpResult::Value { value, index } => 2 + index * 16 + value * 65536,
        OpResult::NotFound { index } => 3 + index * 16,
        OpResult::AlreadyExists => 4,
        OpResult::CompareFailed => 5,
        OpResult::Ambiguous => 6,
        OpResult::Failed => 7,
        OpResult::WatchEvent { index, action, value, since } => {
            let words = [*index, *action as u64, value.unwrap_or(0), since.unwrap_or(0)];
            words.iter().fold(8, |code, word| code.wrapping_mul(1_000_003).wrapping_add(*word))
        }
        OpResult::WatchClosed => 9,
        OpResult::WatchCleared { index } => 10 + index * 16,
        OpResult::WatchTimedOut => 11,
    }
}

fn describe(event: &Event) -> String {
    match event {
        Event::Deliver { message } => {
            let body = match &message.body {
                MessageBody::AppendEntries { prev_log_index, prev_log_term, entries, leader_commit } => {
                    format!(
                        "AppendEntries prev ({prev_log_index}, {prev_log_term}) {} entries commit {leader_commit}",
                        entries.len()
                    )
                }
                MessageBody::InstallSnapshot { snapshot } => {
                    format!("InstallSnapshot index {} term {}", snapshot.meta.index, snapshot.meta.term)
                }
                other => format!("{other:?}"),
            };
            format!("deliver {} -> {} term {}: {body}", message.from, message.to, message.term)
        }
        other => format!("{other:?}"),
    }
}

/// Runs one plan against a backend.
pub fn run_plan(plan: &Plan, backend: &mut dyn Backend, trace: bool) -> RunReport {
    World::new(plan, backend, trace).run()
}
