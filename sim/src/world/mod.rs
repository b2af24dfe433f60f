//! The simulation itself: the `World` (members, network, clients, operator, checks' records) and its
//! event loop, which starts the run, hands each event to its handler, checks the member it touched
//! and, at the end, assembles the report. The handlers and checks live in the files of this folder,
//! one job each (see the sim README's layout).
//!
//! Determinism: events are ordered by (time, sequence number); all randomness comes from ChaCha
//! streams derived from the seed; nothing here reads the wall clock.

mod clients;
mod elections;
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
mod v3_clients;
mod v3_watches;
mod watches;

use std::collections::{BTreeMap, BTreeSet};

use raft::{Entry, Index, NodeId, Term};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::cluster::Backend;
use crate::history::{Operation, Time, V3WatchRecord};
use crate::plan::{Fault, MILLISECOND, Plan, SECOND, seconds};
use clients::Client;
use elections::ElectionRecord;
use events::{Event, EventQueue};
use liveness::CATCH_UP_MARGIN_NS;
use members::Member;
use network::Network;
use operator::Operator;
pub use report::{Check, Failure, LivenessOutcome, RunReport};
use safety::LOG_MATCHING_EVERY_EVENTS;
use trace::{TraceHash, describe};

/// Seed salt of the TTL workload's random stream (which sets carry a TTL, and how long).
const TTL_WORKLOAD_STREAM: u64 = 0x7474_6c72_756e_0000;
/// Seed salt of the watch workload's random stream.
const WATCH_WORKLOAD_STREAM: u64 = 0x7761_7463_685f_776c;
/// Seed salt of the v3 workload's stream.
const V3_WORKLOAD_STREAM: u64 = 0x7633_5f77_6f72_6b6c;

/// Events allowed per simulated second (a healthy 7-node run under load uses a few thousand).
const EVENTS_PER_SECOND_BOUND: u64 = 40_000;

/// One run of a plan.
pub struct World<'a> {
    plan: &'a Plan,
    backend: &'a mut dyn Backend,
    /// Print every event (`sim run --trace`).
    trace: bool,
    queue: EventQueue,
    /// The current virtual time: the time of the event being handled.
    now: Time,
    /// The run's main random stream (network, member seeds, workload, faults' targets).
    random: ChaCha8Rng,
    members: BTreeMap<NodeId, Member>,
    network: Network,
    clients: Vec<Client>,
    /// Every operation the clients invoked, in invocation order.
    history: Vec<Operation>,
    /// Operations invoked and not completed yet (answered, refused, timed out or given up), by their
    /// place in the history: each client's pending operation and background watch.
    open_operations: BTreeSet<usize>,
    /// Requests the clients wait on: request id -> (client, place in the history).
    request_owner: BTreeMap<u64, (usize, usize)>,
    next_request_id: u64,
    /// The next value a write sets (every write sets a value never used before).
    next_value: u64,
    hash: TraceHash,
    /// Events handled so far.
    events: u64,
    /// The leader of each term seen (election safety).
    leaders: BTreeMap<Term, NodeId>,
    /// When terms rose and elections were won (liveness: elections stop once the cluster settled).
    elections: ElectionRecord,
    /// The Raft coverage of the members' processes that ended (the running ones join at the end).
    coverage: raft::Coverage,
    /// Every entry known committed, by index (committed entries never change).
    committed: BTreeMap<Index, Entry>,
    /// The store digest first seen at each applied index, and on which member (state machine safety).
    digests: BTreeMap<Index, (u64, NodeId)>,
    fault_phase_over: bool,
    /// Clients start no operation after this.
    workload_end: Time,
    /// The run ends here.
    deadline: Time,
    /// Notable happenings (crashes, corruption detected, ...), for the report.
    notes: Vec<String>,
    /// Bound on events per run: far above any healthy run, so a message storm ends the run.
    event_budget: u64,
    /// The highest commit index at the catch-up mark: every live member must apply it by the deadline.
    catch_up_target: Option<Index>,
    /// A fault waiting for the next leader to be elected.
    next_leader_fault: Option<Fault>,
    operator: Operator,
    /// The ID the next added member gets (a removed member's ID never comes back).
    next_member_id: NodeId,
    /// For members added at runtime: the membership they were told when they joined.
    join_members: BTreeMap<NodeId, Vec<NodeId>>,
    /// Which sets carry a TTL, and how long.
    ttl_random: ChaCha8Rng,
    /// The watch workload's own randomness, so that a plan without watches runs exactly as it did
    /// before watches existed (same draws from `random`, same trace).
    watch_random: ChaCha8Rng,
    /// The backend serves watches and the plan asks for some.
    watches_enabled: bool,
    /// The v3 workload's own randomness (whether an operation goes to v3, and which), so that a plan
    /// without v3 operations runs exactly as it did before they existed.
    v3_random: ChaCha8Rng,
    /// The backend serves the v3 keyspace and the plan asks for v3 operations.
    v3_enabled: bool,
    /// The members serve plain gets through ReadIndex: the history checks them strictly.
    linearizable_reads: bool,
    /// Every v3 watch stream the clients opened, in opening order.
    v3_streams: Vec<V3WatchRecord>,
    /// The incarnation of its member each stream was opened on (same order as `v3_streams`).
    v3_stream_incarnations: Vec<u64>,
    /// Streams still open: request id -> place in `v3_streams`.
    v3_open_streams: BTreeMap<u64, usize>,
}

impl<'a> World<'a> {
    pub fn new(plan: &'a Plan, backend: &'a mut dyn Backend, trace: bool) -> World<'a> {
        assert!(plan.nodes > 0 && plan.clients > 0 && plan.keys > 0, "a run has members, clients and keys");
        assert_eq!(plan.drift_ppm.len(), plan.nodes, "one clock drift per member");
        assert_eq!(plan.skew_ns.len(), plan.nodes, "one clock skew per member");
        assert!(
            plan.faults.iter().all(|fault| fault.at < plan.fault_phase_ns),
            "faults come within the fault phase"
        );
        let watches_enabled = plan.watch_percent > 0 && backend.supports_watches();
        let v3_enabled = plan.v3_percent > 0 && backend.supports_v3();
        let linearizable_reads = plan.linearizable_reads && backend.supports_linearizable_reads();
        World {
            plan,
            backend,
            trace,
            queue: EventQueue::default(),
            now: 0,
            random: ChaCha8Rng::seed_from_u64(plan.seed),
            members: members::initial_members(plan),
            network: Network::new(plan),
            clients: (0..plan.clients).map(|_| Client::new()).collect(),
            history: Vec::new(),
            open_operations: BTreeSet::new(),
            request_owner: BTreeMap::new(),
            next_request_id: 1,
            next_value: 1,
            hash: TraceHash::new(),
            events: 0,
            leaders: BTreeMap::new(),
            elections: ElectionRecord::default(),
            coverage: raft::Coverage::default(),
            committed: BTreeMap::new(),
            digests: BTreeMap::new(),
            fault_phase_over: false,
            workload_end: plan.fault_phase_ns + plan.liveness_window_ns / 2,
            deadline: plan.fault_phase_ns + plan.liveness_window_ns,
            notes: Vec::new(),
            catch_up_target: None,
            next_leader_fault: None,
            operator: Operator::default(),
            next_member_id: plan.nodes as NodeId + 1,
            join_members: BTreeMap::new(),
            ttl_random: ChaCha8Rng::seed_from_u64(plan.seed ^ TTL_WORKLOAD_STREAM),
            watch_random: ChaCha8Rng::seed_from_u64(plan.seed ^ WATCH_WORKLOAD_STREAM),
            watches_enabled,
            v3_random: ChaCha8Rng::seed_from_u64(plan.seed ^ V3_WORKLOAD_STREAM),
            v3_enabled,
            linearizable_reads,
            v3_streams: Vec::new(),
            v3_stream_incarnations: Vec::new(),
            v3_open_streams: BTreeMap::new(),
            event_budget: (plan.fault_phase_ns + plan.liveness_window_ns) / SECOND * EVENTS_PER_SECOND_BOUND,
        }
    }

    fn schedule(&mut self, at: Time, event: Event) {
        self.queue.push(self.now, at, event);
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
            history: Vec::new(),
            failure,
            unknown_key: None,
            simulated_ns: self.now,
            events: self.events,
            operations: self.history.len(),
            operations_checked: 0,
            watch_events: 0,
            v3_operations_checked: 0,
            v3_watch_events: 0,
            trace_hash: 0,
            notes: Vec::new(),
            liveness: LivenessOutcome::default(),
            coverage: raft::Coverage::default(),
        };
        if report.failure.is_none() {
            report.failure = self.check_liveness().err();
        }
        if report.failure.is_none() {
            report.failure = self.check_what_clients_saw(&mut report).err();
        }
        self.network.accounts.assert_balanced();
        report.liveness = self.liveness_outcome();
        report.coverage = self.run_coverage();
        if let Some(failure) = &report.failure {
            self.hash.word(failure.check as u64);
        }
        report.trace_hash = self.hash.0;
        report.notes = std::mem::take(&mut self.notes);
        report.history = std::mem::take(&mut self.history);
        report
    }

    /// Starts the members and schedules the first event of every client, every planned fault, the
    /// end of the fault phase, the catch-up mark and the deadline.
    fn schedule_start(&mut self) -> Result<(), Failure> {
        let ids: Vec<NodeId> = self.members.keys().copied().collect();
        for &id in &ids {
            self.start_member(id)?;
        }
        for client in 0..self.clients.len() {
            let at = self.random.random_range(0..500 * MILLISECOND);
            self.schedule(at, Event::ClientNext { client });
        }
        for index in 0..self.plan.faults.len() {
            self.schedule(self.plan.faults[index].at, Event::Fault { index });
        }
        self.schedule(self.plan.fault_phase_ns, Event::FaultPhaseEnd);
        self.schedule(self.deadline - CATCH_UP_MARGIN_NS, Event::CatchUpMark);
        self.schedule(self.deadline, Event::Deadline);
        Ok(())
    }

    /// The event loop: runs events in time order until the deadline, checking the member each event
    /// touched.
    fn run_events(&mut self) -> Result<(), Failure> {
        self.schedule_start()?;
        while let Some((time, event)) = self.queue.pop() {
            assert!(time >= self.now, "virtual time never goes back ({time} < {})", self.now);
            assert!(time <= self.deadline, "nothing runs after the deadline");
            self.now = time;
            self.events += 1;
            self.hash.word(time);
            if self.trace {
                println!("{:>14} {}", time, describe(&event));
            }
            if matches!(event, Event::Deadline) {
                if let Some(later) = self.extended_deadline() {
                    self.extend_deadline(later);
                    continue;
                }
                assert_eq!(
                    self.network.accounts.in_flight_total(),
                    self.queue.deliveries() as u64,
                    "at the deadline, the messages in flight are the deliveries still queued"
                );
                return Ok(());
            }
            self.check_event_budget()?;
            if let Some(node) = self.handle(event)? {
                let became_leader = self.check_member(node)?;
                self.record_elections(node, became_leader);
                if became_leader {
                    self.fault_on_new_leader(node);
                }
            }
            self.assert_requests_consistent();
            if self.events.is_multiple_of(LOG_MATCHING_EVERY_EVENTS) {
                self.network.accounts.assert_balanced();
                self.check_log_matching()?;
            }
        }
        unreachable!("the deadline event ends the run")
    }

    /// The Raft coverage of the whole run: every process that ended, and the running ones.
    fn run_coverage(&self) -> raft::Coverage {
        let mut coverage = self.coverage.clone();
        for node in self.members.values().filter_map(|member| member.node.as_ref()) {
            coverage.add(&node.coverage());
        }
        coverage
    }

    /// The cluster settled late: the run goes on to `later`, with a new catch-up mark before it and
    /// an event budget grown in proportion.
    fn extend_deadline(&mut self, later: Time) {
        assert!(later >= self.now + CATCH_UP_MARGIN_NS, "a later deadline leaves room for the catch-up mark");
        self.note(format!(
            "the cluster settled late: the deadline moves from {} to {}",
            seconds(self.deadline),
            seconds(later)
        ));
        self.event_budget += (later - self.deadline).div_ceil(SECOND) * EVENTS_PER_SECOND_BOUND;
        self.deadline = later;
        self.schedule(later - CATCH_UP_MARGIN_NS, Event::CatchUpMark);
        self.schedule(later, Event::Deadline);
    }

    /// A message storm (far more events than any healthy run) ends the run as a liveness failure.
    fn check_event_budget(&self) -> Result<(), Failure> {
        if self.events <= self.event_budget {
            return Ok(());
        }
        Err(self.fail(
            Check::Liveness,
            format!(
                "event storm: more than {} events (a message loop that never settles?)",
                self.event_budget
            ),
        ))
    }

    /// Handles one event; returns the member whose state it may have changed.
    fn handle(&mut self, event: Event) -> Result<Option<NodeId>, Failure> {
        match event {
            Event::Tick { node, incarnation } => Ok(self.tick(node, incarnation)),
            Event::Process { node, incarnation } => self.process_if_live(node, incarnation),
            Event::Deliver { message } => Ok(self.deliver(message)),
            Event::ClientNext { client } => {
                self.client_next(client);
                Ok(None)
            }
            Event::ClientTimeout { client, request_id } => {
                self.client_timed_out(client, request_id);
                Ok(None)
            }
            Event::Fault { index } => {
                self.planned_fault(index);
                Ok(None)
            }
            Event::Clog { node } => {
                self.clog(node);
                Ok(None)
            }
            Event::Unclog { node } => {
                self.unclog(node);
                Ok(None)
            }
            Event::Restart { node } => self.restart(node),
            Event::OperatorStep { generation } => self.operator_step(generation),
            Event::FaultPhaseEnd => {
                self.end_fault_phase()?;
                Ok(None)
            }
            Event::CatchUpMark => {
                self.mark_catch_up_target();
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
