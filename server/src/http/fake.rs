//! An in-memory `Backend` for tests: one "member" that applies every write straight to a real
//! `store::Store` (no Raft, no disk), counts a fake Raft index, and delivers watch events through the
//! same channels the real node uses. Faults can be switched on to exercise the error paths.

use super::backend::{
    Answer, Auth, AuthCommand, AuthError, AuthReply, Backend, Caller, ClientRequest, ClientResponse, Member,
    MemberError, NodeStatus, ServerError, WATCH_CHANNEL_CAPACITY, WatchRequest, WatchStream,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use store::{Command, Event, Store, StoreError, WatchNotice, WatchStart, WatcherId};
use tokio::sync::mpsc;

/// The fake's member id and cluster id (etcd's ids for a default single node, as hex).
pub const FAKE_MEMBER_ID: u64 = 0x8e9e05c52164694d;
pub const FAKE_CLUSTER_ID: u64 = 0xcdf818194e3a8c32;

struct Watcher {
    sender: mpsc::Sender<Event>,
    stream: bool,
}

struct State {
    store: Store,
    /// The v2 auth state, applied as the node applies it (writes consume store indexes).
    auth: Auth,
    raft_index: u64,
    raft_term: u64,
    watchers: BTreeMap<WatcherId, Watcher>,
    /// Senders of stream watches answered from the history: etcd sends that one event and then keeps
    /// the connection open in silence, so the sender lives until the client leaves.
    parked: Vec<mpsc::Sender<Event>>,
    status: NodeStatus,
    next_member_id: u64,
    removed: Vec<u64>,
    /// When set, every `request` fails with this error (no leader, timeout...).
    failure: Option<ServerError>,
}

/// See the module comment. Cloning shares the state.
#[derive(Clone)]
pub struct FakeBackend {
    state: Arc<Mutex<State>>,
}

impl Default for FakeBackend {
    fn default() -> FakeBackend {
        FakeBackend::new()
    }
}

impl FakeBackend {
    /// A healthy single-member cluster led by itself, at Raft term 2.
    pub fn new() -> FakeBackend {
        let member = Member {
            id: FAKE_MEMBER_ID,
            name: "default".to_string(),
            peer_urls: vec!["http://localhost:2380".to_string()],
            client_urls: vec!["http://localhost:2379".to_string()],
            is_learner: false,
        };
        let status = NodeStatus {
            name: "default".to_string(),
            member_id: FAKE_MEMBER_ID,
            cluster_id: FAKE_CLUSTER_ID,
            leader_id: FAKE_MEMBER_ID,
            term: 2,
            members: vec![member],
            followers: Some(Vec::new()),
            ..NodeStatus::default()
        };
        let state = State {
            store: Store::new(),
            auth: Auth::default(),
            raft_index: 2,
            raft_term: 2,
            watchers: BTreeMap::new(),
            parked: Vec::new(),
            status,
            next_member_id: 0x1000,
            removed: Vec::new(),
            failure: None,
        };
        FakeBackend { state: Arc::new(Mutex::new(state)) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock already failed; keep serving the others.
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.sweep_closed_watchers();
        state
    }

    /// Makes every following request fail with `failure` (or succeed again with `None`).
    pub fn set_failure(&self, failure: Option<ServerError>) {
        self.lock().failure = failure;
    }

    /// Sets the known leader (0 = none), as after an election or a partition.
    pub fn set_leader(&self, leader_id: u64) {
        self.lock().status.leader_id = leader_id;
    }

    /// Expires TTLs up to `now` (the leader's periodic sync).
    pub fn sync(&self, now: i64) {
        let mut state = self.lock();
        state.raft_index += 1;
        let _ = state.store.apply(&Command::Sync { now });
        state.dispatch_watch_events();
    }

    /// Registered store watchers (to check that a client leaving cancels its watch).
    pub fn watcher_count(&self) -> u64 {
        self.lock().store.stats().watchers
    }
}

impl State {
    fn sweep_closed_watchers(&mut self) {
        let closed: Vec<WatcherId> = self
            .watchers
            .iter()
            .filter(|(_, watcher)| watcher.sender.is_closed())
            .map(|(id, _)| *id)
            .collect();
        for id in closed {
            self.watchers.remove(&id);
            self.store.cancel_watch(id);
        }
        self.parked.retain(|sender| !sender.is_closed());
    }

    fn dispatch_watch_events(&mut self) {
        for notice in self.store.take_watch_events() {
            match notice {
                WatchNotice::Event { watcher, event } => {
                    let Some(entry) = self.watchers.get(&watcher) else { continue };
                    let delivered = entry.sender.try_send(event).is_ok();
                    if !delivered {
                        // A client too slow to drain its channel loses the watch, as in etcd.
                        self.watchers.remove(&watcher);
                        self.store.cancel_watch(watcher);
                    } else if !entry.stream {
                        self.watchers.remove(&watcher);
                    }
                }
                WatchNotice::Closed { watcher } => {
                    self.watchers.remove(&watcher);
                }
            }
        }
    }

    /// Whether `caller` may run `request` now (the fake applies at once, so checking now is checking at
    /// apply time).
    fn allows(&self, caller: &Caller, request: &ClientRequest) -> bool {
        match request {
            ClientRequest::Write(command) => match command {
                Command::Set { key, .. }
                | Command::Create { key, .. }
                | Command::Update { key, .. }
                | Command::CompareAndSwap { key, .. }
                | Command::CompareAndDelete { key, .. } => self.auth.allows(caller, key, true, false),
                Command::Delete { key, recursive, .. } => self.auth.allows(caller, key, true, *recursive),
                Command::Sync { .. } => self.auth.is_root(caller),
            },
            ClientRequest::Get { key, recursive, .. } => self.auth.allows(caller, key, false, *recursive),
        }
    }

    fn answer(&self, event: Event) -> Answer {
        Answer { event, raft_index: self.raft_index, raft_term: self.raft_term }
    }
}

impl Backend for FakeBackend {
    async fn request(&self, request: ClientRequest) -> ClientResponse {
        let mut state = self.lock();
        if let Some(failure) = &state.failure {
            return Err(failure.clone());
        }
        match request {
            ClientRequest::Write(command) => {
                // Failed writes consume a Raft index too, as in etcd.
                state.raft_index += 1;
                let result = state.store.apply(&command);
                state.dispatch_watch_events();
                let event = result?;
                Ok(state.answer(event))
            }
            ClientRequest::Get { key, recursive, sorted, quorum, now } => {
                if quorum {
                    state.raft_index += 1;
                }
                let event = state.store.get(&key, recursive, sorted, now)?;
                Ok(state.answer(event))
            }
        }
    }

    async fn request_as(&self, caller: Caller, request: ClientRequest) -> ClientResponse {
        if !self.lock().allows(&caller, &request) {
            return Err(ServerError::Store(StoreError::unauthorized()));
        }
        self.request(request).await
    }

    async fn watch_as(&self, caller: Caller, request: WatchRequest) -> Result<WatchStream, StoreError> {
        if !self.lock().auth.allows(&caller, &request.key, false, request.recursive) {
            return Err(StoreError::unauthorized());
        }
        self.watch(request).await
    }

    async fn auth_state(&self) -> Result<Auth, ServerError> {
        Ok(self.lock().auth.clone())
    }

    async fn auth_write(&self, caller: Caller, command: AuthCommand) -> Result<AuthReply, AuthError> {
        let mut state = self.lock();
        state.raft_index += 1;
        let (result, touched) = state.auth.apply(&caller, &command);
        for key in &touched {
            state.store.apply_internal(key);
        }
        result
    }

    async fn watch(&self, request: WatchRequest) -> Result<WatchStream, StoreError> {
        let mut state = self.lock();
        let start =
            state.store.watch(&request.key, request.recursive, request.stream, request.since_index)?;
        let (sender, events) = mpsc::channel(WATCH_CHANNEL_CAPACITY);
        let etcd_index = match start {
            WatchStart::Event(event) => {
                let etcd_index = event.etcd_index;
                let _ = sender.try_send(event);
                if request.stream {
                    state.parked.push(sender);
                }
                etcd_index
            }
            WatchStart::Registered { watcher, start_index } => {
                state.watchers.insert(watcher, Watcher { sender, stream: request.stream });
                start_index
            }
        };
        Ok(WatchStream { etcd_index, raft_index: state.raft_index, raft_term: state.raft_term, events })
    }

    fn status(&self) -> NodeStatus {
        let state = self.lock();
        let mut status = state.status.clone();
        status.term = state.raft_term;
        status.commit_index = state.raft_index;
        status.applied_index = state.raft_index;
        status.store_stats = state.store.stats();
        status.auth_enabled = state.auth.enabled();
        status.metrics.proposals_committed = state.raft_index;
        status.metrics.proposals_applied = state.raft_index;
        if status.leader_id != status.member_id {
            status.followers = None;
        }
        status
    }

    async fn member_add(&self, peer_urls: Vec<String>) -> Result<Member, MemberError> {
        let mut state = self.lock();
        let taken = state
            .status
            .members
            .iter()
            .any(|member| member.peer_urls.iter().any(|url| peer_urls.contains(url)));
        if taken {
            return Err(MemberError::PeerUrlExists);
        }
        state.next_member_id += 1;
        let member = Member { id: state.next_member_id, peer_urls, ..Member::default() };
        state.status.members.push(member.clone());
        Ok(member)
    }

    async fn member_remove(&self, id: u64) -> Result<(), MemberError> {
        let mut state = self.lock();
        if state.removed.contains(&id) {
            return Err(MemberError::Removed(id));
        }
        let Some(position) = state.status.members.iter().position(|member| member.id == id) else {
            return Err(MemberError::NotFound(id));
        };
        state.status.members.remove(position);
        state.removed.push(id);
        Ok(())
    }

    async fn member_update(&self, id: u64, peer_urls: Vec<String>) -> Result<(), MemberError> {
        let mut state = self.lock();
        if state.removed.contains(&id) {
            return Err(MemberError::Removed(id));
        }
        let taken = state
            .status
            .members
            .iter()
            .any(|member| member.id != id && member.peer_urls.iter().any(|url| peer_urls.contains(url)));
        if taken {
            return Err(MemberError::PeerUrlExists);
        }
        match state.status.members.iter_mut().find(|member| member.id == id) {
            Some(member) => {
                member.peer_urls = peer_urls;
                Ok(())
            }
            None => Err(MemberError::NotFound(id)),
        }
    }
}
