//! The node thread's loop: wait for the first input or the next tick, drain the queued inputs (so one
//! fsync covers every proposal that arrived during the last one), tick when due, `process()`, then send
//! messages and deliver answers. Also the graceful hand-over of leadership on shutdown.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use raft::{NodeId, Role};
use store::Event;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::inbox::{Input, Responder};
use super::timed_disk::DiskTimings;
use super::{RunError, unix_nanos};
use crate::config::{ServerConfig, format_id};
use crate::http::backend as api;
use crate::node::{self, Node, RequestError};
use crate::transport::Transport;

/// Inputs drained per loop turn at most, so ticks and outputs are never starved by a flood.
/// How long a stopping leader waits for its hand-over before it stops anyway.
const SHUTDOWN_HANDOVER_WAIT: Duration = Duration::from_secs(2);

pub(super) const MAX_INPUTS_PER_TURN: usize = 8192;

/// Everything the node thread owns.
pub(super) struct NodeLoop {
    pub(super) disk_timings: Arc<DiskTimings>,
    pub(super) node: Node,
    pub(super) transport: Arc<Transport>,
    pub(super) status: Arc<RwLock<api::NodeStatus>>,
    pub(super) name: String,
    pub(super) heartbeat: Duration,
    pub(super) responders: BTreeMap<u64, Responder>,
    /// Stream watches answered from the history: etcd sends that one event and then keeps the
    /// connection open in silence; we hold the sender until the client leaves.
    pub(super) parked_watches: Vec<mpsc::Sender<Event>>,
    /// Bound of `parked_watches` (`--max-watchers`): beyond it the oldest parked watch is closed.
    pub(super) max_parked_watches: usize,
    pub(super) next_request_id: u64,
    pub(super) known_peers: BTreeMap<NodeId, Vec<String>>,
    /// Removed members already handed to the transport (which then refuses them).
    pub(super) known_removed: BTreeSet<NodeId>,
    /// `--strict-reconfig-check`.
    pub(super) strict_reconfig_check: bool,
    /// Set when a peer refused us as a removed member: the loop stops with etcd's message.
    pub(super) removed_by_peer: Option<NodeId>,
    pub(super) known_membership_version: u64,
    /// The transport spawns tasks when peers are added: the node thread enters the runtime for it.
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) start_nanos: i64,
    pub(super) leader_since: i64,
    pub(super) leader_changes: u64,
    /// The node thread's own inbox: the snapshot thread reports through it, so the loop wakes for it.
    pub(super) inbox: std_mpsc::SyncSender<Input>,
}

impl NodeLoop {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        node: Node,
        transport: Arc<Transport>,
        status: Arc<RwLock<api::NodeStatus>>,
        disk_timings: Arc<DiskTimings>,
        config: &ServerConfig,
        heartbeat: Duration,
        start_nanos: i64,
        inbox: std_mpsc::SyncSender<Input>,
    ) -> NodeLoop {
        NodeLoop {
            disk_timings,
            node,
            transport,
            status,
            name: config.name.clone(),
            heartbeat,
            responders: BTreeMap::new(),
            parked_watches: Vec::new(),
            max_parked_watches: config.max_watchers,
            next_request_id: 1,
            known_peers: BTreeMap::new(),
            known_removed: BTreeSet::new(),
            strict_reconfig_check: config.strict_reconfig_check,
            removed_by_peer: None,
            known_membership_version: u64::MAX,
            runtime: tokio::runtime::Handle::current(),
            start_nanos,
            leader_since: start_nanos,
            leader_changes: 0,
            inbox,
        }
    }

    /// Starts the node thread. The token is cancelled when the thread ends by itself (removed from the
    /// cluster, disk failure): the process must then stop too, not wait for a signal.
    pub(super) fn spawn(
        self,
        inputs: std_mpsc::Receiver<Input>,
    ) -> Result<(std::thread::JoinHandle<Result<(), RunError>>, CancellationToken), RunError> {
        let node_stopped = CancellationToken::new();
        let stopped = node_stopped.clone();
        let thread = std::thread::Builder::new()
            .name("concord-node".into())
            .spawn(move || {
                let result = self.run(inputs);
                stopped.cancel();
                result
            })
            .map_err(|error| RunError(format!("cannot start the node thread: {error}")))?;
        Ok((thread, node_stopped))
    }

    pub(super) fn run(mut self, inputs: std_mpsc::Receiver<Input>) -> Result<(), RunError> {
        let mut next_tick = Instant::now() + self.heartbeat;
        let mut shutdown: Option<(oneshot::Sender<()>, Instant)> = None;
        let runtime = self.runtime.clone();
        let _runtime_context = runtime.enter();
        self.sync_peers();
        self.publish_membership_view();
        self.publish_status();
        loop {
            let Some(handled) = self.drain_inputs(&inputs, next_tick, &mut shutdown) else {
                return Ok(());
            };
            let now = Instant::now();
            let ticked = now >= next_tick;
            if ticked {
                self.node.tick(unix_nanos());
                next_tick = now.max(next_tick) + self.heartbeat;
                self.sweep_watches();
            }
            let output = self.process()?;
            self.carry_out(output, handled > 0 || ticked)?;
            if self.shutdown_complete(&mut shutdown) {
                return Ok(());
            }
        }
    }

    /// Waits for the first input or the next tick, then handles every input already queued (at most
    /// `MAX_INPUTS_PER_TURN`): all proposals that arrived during the last fsync go into the next one.
    /// `None` when every sender is gone.
    fn drain_inputs(
        &mut self,
        inputs: &std_mpsc::Receiver<Input>,
        next_tick: Instant,
        shutdown: &mut Option<(oneshot::Sender<()>, Instant)>,
    ) -> Option<usize> {
        let wait = next_tick.saturating_duration_since(Instant::now());
        let mut next = match inputs.recv_timeout(wait) {
            Ok(input) => Some(input),
            Err(std_mpsc::RecvTimeoutError::Timeout) => None,
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return None,
        };
        let mut handled = 0;
        while let Some(input) = next.take() {
            if let Input::Shutdown(done) = input {
                self.begin_shutdown();
                *shutdown = Some((done, Instant::now() + SHUTDOWN_HANDOVER_WAIT));
            } else {
                self.handle(input);
            }
            handled += 1;
            if handled < MAX_INPUTS_PER_TURN {
                next = inputs.try_recv().ok();
            }
        }
        assert!(handled <= MAX_INPUTS_PER_TURN);
        Some(handled)
    }

    /// The node's `process()`, with the leader's appends sent before its own fsync.
    fn process(&mut self) -> Result<node::Output, RunError> {
        let transport = &self.transport;
        self.node.process_with(&mut |message| transport.send(message)).map_err(|error| {
            tracing::error!(error = %error, "stopping: the node failed");
            self.publish_status();
            RunError(format!("member stopped: {error}"))
        })
    }

    /// Sends the output's messages, refreshes peers and status, then answers the clients. An error
    /// when this member learned that it was removed.
    fn carry_out(&mut self, mut output: node::Output, busy: bool) -> Result<(), RunError> {
        if let Some(job) = output.snapshot_job.take() {
            self.start_snapshot_job(job)?;
        }
        if self.node.membership_version() != self.known_membership_version {
            // At once, not on the next tick: a member added a moment ago may already be asking.
            self.known_membership_version = self.node.membership_version();
            self.sync_peers();
            self.publish_membership_view();
        }
        if let Some(soft_state) = output.soft_state {
            self.on_soft_state(soft_state);
        }
        for message in output.messages {
            self.transport.send(message);
        }
        // The status copy is brought up to date before anyone is answered, so a client that reads
        // `/v2/members` right after its member add was answered sees the new member.
        if busy || !output.answers.is_empty() {
            self.publish_status();
        }
        for answer in output.answers {
            self.deliver(answer);
        }
        if output.removed || self.removed_by_peer.is_some() {
            tracing::error!("this member has been permanently removed from the cluster");
            self.publish_status();
            return Err(RunError("this member has been permanently removed from the cluster".into()));
        }
        Ok(())
    }

    /// Writes the node's snapshot image on a thread of its own (encoding, write, fsync), so no write
    /// waits for it; the result comes back through the inbox. The node has at most one in flight.
    fn start_snapshot_job(&self, job: node::SnapshotJob) -> Result<(), RunError> {
        let inbox = self.inbox.clone();
        let index = job.index();
        std::thread::Builder::new()
            .name("concord-snapshot".into())
            .spawn(move || {
                let written = job.run();
                // The node thread is gone when this fails: nothing is left to record the snapshot.
                let _ = inbox.send(Input::SnapshotWritten(Box::new(written)));
            })
            .map_err(|error| {
                RunError(format!("cannot start the snapshot thread at index {index}: {error}"))
            })?;
        Ok(())
    }

    /// A stop was asked and leadership is handed over (or the hand-over took too long): tells the
    /// asker and ends the loop.
    fn shutdown_complete(&self, shutdown: &mut Option<(oneshot::Sender<()>, Instant)>) -> bool {
        let Some((_, deadline)) = shutdown else { return false };
        let handed_over = self.node.raft().role() != Role::Leader;
        if !handed_over && Instant::now() < *deadline {
            return false;
        }
        if let Some((done, _)) = shutdown.take() {
            let _ = done.send(());
        }
        true
    }

    pub(super) fn handle(&mut self, input: Input) {
        match input {
            Input::Message(message) => self.node.receive(message),
            Input::Unreachable(peer) => self.node.report_unreachable(peer),
            Input::RemovedByPeer(peer) => {
                tracing::warn!(peer = %format_id(peer), "a peer says this member was removed from the cluster");
                self.removed_by_peer = Some(peer);
            }
            Input::SnapshotSent { peer, success } => self.node.report_snapshot(peer, success),
            Input::Request { request, responder } => {
                let request_id = self.next_request_id;
                self.next_request_id += 1;
                self.responders.insert(request_id, responder);
                if let Some(refusal) = self.reconfig_refusal(&request) {
                    tracing::warn!(request = ?request, "refusing a membership change: {refusal}");
                    let answer = node::Answer {
                        request_id,
                        result: Err(RequestError::Refused(refusal.into())),
                        raft_index: self.node.raft().commit_index(),
                        raft_term: self.node.raft().term(),
                    };
                    self.deliver(answer);
                    return;
                }
                self.node.submit(request_id, request, unix_nanos());
            }
            Input::SnapshotWritten(written) => self.node.snapshot_written(*written),
            Input::Shutdown(_) => unreachable!("handled by the loop"),
        }
    }

    /// On a graceful stop a leader hands leadership to its most up-to-date voter first (etcd does the
    /// same), so the cluster has a new leader in milliseconds instead of an election timeout.
    pub(super) fn begin_shutdown(&mut self) {
        let raft = self.node.raft();
        if raft.role() != Role::Leader {
            return;
        }
        let me = raft.id();
        let best = raft
            .conf_state()
            .voters
            .iter()
            .filter(|id| **id != me)
            .filter_map(|id| raft.progress(*id).map(|progress| (progress.match_index, *id)))
            .max();
        if let Some((_, target)) = best {
            tracing::info!(target = %format_id(target), "transferring leadership before stopping");
            let _ = self.node.transfer_leader(target);
        }
    }

    pub(super) fn on_soft_state(&mut self, soft_state: raft::SoftState) {
        self.leader_changes += 1;
        self.leader_since = unix_nanos();
        match soft_state.leader {
            Some(leader) => tracing::info!(
                leader = %format_id(leader),
                term = self.node.raft().term(),
                role = ?soft_state.role,
                "raft leader known"
            ),
            None => {
                tracing::info!(term = self.node.raft().term(), role = ?soft_state.role, "raft leader lost")
            }
        }
    }
}
