//! The simulation itself: one event queue on virtual time, the members, the network, the clients, and
//! the checks that run after every event.
//!
//! Determinism: events are ordered by (time, sequence number); all randomness comes from ChaCha
//! streams derived from the seed; nothing here reads the wall clock.

mod clients;
mod events;
mod faults;
mod history_checks;
mod liveness;
mod members;
mod network;
mod operator;
mod report;
mod safety;
mod trace;
mod watches;

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use raft::{Entry, Index, NodeId, Term};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::cluster::Backend;
use crate::history::{NEVER, OpResult, Operation, Time};
use crate::linearizability::{self, DEFAULT_STEP_BUDGET, Verdict};
use crate::plan::{Fault, MILLISECOND, Plan, SECOND, Target};
use clients::Client;
use events::{Event, MAX_QUEUED_EVENTS, Scheduled};
use liveness::CATCH_UP_MARGIN;
use members::{Clock, Member};
use network::Network;
use operator::Operator;
pub use report::{Check, Failure, RunReport};
use safety::LOG_MATCHING_EVERY;
use trace::{TraceHash, describe, message_kind};

/// Seed salt of the watch workload's random stream.
const WATCH_WORKLOAD_STREAM: u64 = 0x7761_7463_685f_776c;

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
}

/// Runs one plan against a backend.
pub fn run_plan(plan: &Plan, backend: &mut dyn Backend, trace: bool) -> RunReport {
    World::new(plan, backend, trace).run()
}
