//! An in-process `V3Backend` for the gRPC services' tests: one member that applies every v3 request
//! straight to a real `mvcc::Mvcc` (no Raft, no disk) behind a mutex, counts a fake Raft index (one
//! per write), keeps lease time on a test clock that only moves when a test says so, and feeds v3
//! watches from `take_events` after each write (history replay through `events_since`) over the same
//! channels the real node uses. The v2 half (`http::Backend`) is `http::fake::FakeBackend`; members
//! are kept here so that both APIs see the same list. Faults can be switched on for the error paths.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use mvcc::{Event, EventKind, Mvcc};
use tokio::sync::mpsc;

use super::ETCD_SERVER_VERSION;
use super::backend::{Header, MemberStatus, V3Answer, V3Backend, V3Error, V3WatchStream};
use crate::http::fake::{FAKE_CLUSTER_ID, FAKE_MEMBER_ID, FakeBackend};
use crate::http::{Backend, ClientRequest, ClientResponse, Member, MemberError, NodeStatus, WatchRequest};
use crate::node::{AuthReply, AuthRequest, V3Reply, V3Request, WatchCreate, WatchUpdate};

/// The fake's Raft term (a single member elected once).
pub const FAKE_RAFT_TERM: u64 = 2;
/// Updates a v3 watch may have waiting for its stream; a watch that falls further behind is dropped.
pub const FAKE_WATCH_CHANNEL_CAPACITY: usize = 1024;
/// Revisions per replay batch (etcd syncs 1000 at a time).
const MAX_REPLAY_REVISIONS: usize = 1000;
/// Leases revoked per clock advance at most (etcd revokes 500 per half second).
const MAX_REVOKES_PER_ADVANCE: usize = 500;
/// The first request ID lease IDs are derived from (the shape of etcd's IDs).
const FIRST_REQUEST_ID: u64 = 0x3cee_a23b_0ad3_c900;
/// What the fake reports as its database size before any data (etcd's empty bolt file).
const EMPTY_DB_SIZE_BYTES: i64 = 20_480;
/// Bytes counted per retained revision in the reported database size.
const DB_BYTES_PER_REVISION: i64 = 64;

/// One registered watch.
struct FakeWatch {
    create: WatchCreate,
    sender: mpsc::Sender<WatchUpdate>,
}

struct State {
    mvcc: Mvcc,
    raft_index: u64,
    raft_term: u64,
    /// The test clock, in milliseconds (leases expire on it).
    now_ms: i64,
    next_request_id: u64,
    watches: BTreeMap<u64, FakeWatch>,
    next_watch: u64,
    members: Vec<Member>,
    removed: Vec<u64>,
    next_member_id: u64,
    leader: u64,
    /// When set, every v3 request fails with it.
    failure: Option<V3Error>,
    /// Users and roles (the fake ignores tokens: it checks no permissions).
    auth: mvcc::AuthStore,
}

/// See the module comment. Cloning shares the state.
#[derive(Clone)]
pub struct FakeV3Backend {
    v2: FakeBackend,
    state: Arc<Mutex<State>>,
}

impl Default for FakeV3Backend {
    fn default() -> FakeV3Backend {
        FakeV3Backend::new()
    }
}

impl FakeV3Backend {
    /// A healthy single-member cluster led by itself, at Raft term 2, keyspace at revision 1.
    pub fn new() -> FakeV3Backend {
        let v2 = FakeBackend::new();
        let members = v2.status().members;
        let state = State {
            mvcc: Mvcc::new(mvcc::Config::default()),
            raft_index: 4,
            raft_term: FAKE_RAFT_TERM,
            now_ms: 0,
            next_request_id: FIRST_REQUEST_ID,
            watches: BTreeMap::new(),
            next_watch: 1,
            members,
            removed: Vec::new(),
            next_member_id: 0x1000,
            leader: FAKE_MEMBER_ID,
            failure: None,
            auth: mvcc::AuthStore::default(),
        };
        FakeV3Backend { v2, state: Arc::new(Mutex::new(state)) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock already failed; keep serving the others.
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.watches.retain(|_, watch| !watch.sender.is_closed());
        state
    }

    /// Makes every following v3 request fail with `failure` (or succeed again with `None`).
    pub fn set_failure(&self, failure: Option<V3Error>) {
        self.lock().failure = failure;
    }

    /// Sets the known leader (0 = none).
    pub fn set_leader(&self, leader: u64) {
        self.lock().leader = leader;
        self.v2.set_leader(leader);
    }

    /// Moves the test clock forward and revokes the leases that expired (their keys' deletes reach
    /// the watches like any write).
    pub fn advance_clock(&self, elapsed_ms: i64) {
        assert!(elapsed_ms >= 0, "the test clock only moves forward");
        let mut state = self.lock();
        state.now_ms += elapsed_ms;
        let expired = state.mvcc.expired_leases(state.now_ms, MAX_REVOKES_PER_ADVANCE);
        for id in expired {
            state.raft_index += 1;
            let revoked = state.mvcc.lease_revoke(&mvcc::LeaseRevokeRequest { id });
            debug_assert!(revoked.is_ok(), "an expired lease exists");
            state.notify_watches();
        }
    }

    /// v3 watches registered now (to check that cancelling or leaving frees them).
    pub fn watch_count(&self) -> usize {
        self.lock().watches.len()
    }

    /// The keyspace's current revision.
    pub fn current_revision(&self) -> i64 {
        self.lock().mvcc.current_revision()
    }
}

impl State {
    fn header(&self) -> Header {
        Header {
            cluster_id: FAKE_CLUSTER_ID,
            member_id: FAKE_MEMBER_ID,
            revision: self.mvcc.current_revision(),
            raft_term: self.raft_term,
        }
    }

    /// Applies one v3 request as the node would once it is committed (writes) or confirmed (reads).
    fn apply(&mut self, request: V3Request) -> Result<V3Reply, mvcc::Error> {
        let reply = match request {
            V3Request::Range(request) => V3Reply::Range(self.mvcc.range(&request)?),
            V3Request::Put(request) => V3Reply::Put(self.write(|mvcc| mvcc.put(&request))?),
            V3Request::DeleteRange(request) => {
                V3Reply::DeleteRange(self.write(|mvcc| mvcc.delete_range(&request))?)
            }
            V3Request::Txn(request) => {
                mvcc::validate_txn(&request, mvcc::DEFAULT_MAX_TXN_OPS)?;
                V3Reply::Txn(self.write(|mvcc| mvcc.txn(&request))?)
            }
            V3Request::Compact(request) => V3Reply::Compact(self.write(|mvcc| mvcc.compact(&request))?),
            V3Request::LeaseGrant { ttl_seconds, id } => V3Reply::LeaseGrant(self.grant(ttl_seconds, id)?),
            V3Request::LeaseRevoke { id } => {
                let request = mvcc::LeaseRevokeRequest { id };
                V3Reply::LeaseRevoke(self.write(|mvcc| mvcc.lease_revoke(&request))?)
            }
            V3Request::LeaseKeepAlive { id } => {
                V3Reply::LeaseKeepAlive(self.mvcc.lease_renew(id, self.now_ms)?)
            }
            V3Request::LeaseTimeToLive { id, keys } => {
                V3Reply::LeaseTimeToLive(self.mvcc.lease_time_to_live(id, keys, self.now_ms)?)
            }
            V3Request::LeaseLeases => V3Reply::LeaseLeases(self.mvcc.lease_leases()),
            V3Request::HashKv { revision } => V3Reply::HashKv(self.mvcc.hash_kv(revision)?),
            V3Request::Hash => V3Reply::Hash(self.mvcc.hash()),
            V3Request::Snapshot => V3Reply::Snapshot(crate::node::V3Image {
                applied_index: 1,
                keyspace: std::sync::Arc::new(self.mvcc.snapshot()),
                alarms: Vec::new(),
            }),
            V3Request::Alarm { .. } => V3Reply::Alarm(Vec::new()),
            // The fake checks no permissions: a token changes nothing.
            V3Request::Authorized { request, .. } => return self.apply(*request),
            V3Request::Auth(_) => unreachable!("auth requests are answered by `auth`"),
        };
        Ok(reply)
    }

    /// An Auth service request against the fake's auth store (no admin checks, no tokens kept).
    fn auth(&mut self, request: AuthRequest) -> Result<AuthReply, mvcc::AuthError> {
        match request {
            AuthRequest::Change(command) => self.auth.apply(&command).map(|()| AuthReply::Changed),
            AuthRequest::UserGet { name } => self.auth.user_get(&name).map(AuthReply::Roles),
            AuthRequest::UserList => Ok(AuthReply::Users(self.auth.user_list())),
            AuthRequest::RoleGet { name } => self.auth.role_get(&name).map(AuthReply::Permissions),
            AuthRequest::RoleList => Ok(AuthReply::Roles(self.auth.role_list())),
            AuthRequest::PasswordHash { name } => {
                if !self.auth.is_enabled() {
                    return Err(mvcc::AuthError::AuthNotEnabled);
                }
                let user = self.auth.user(&name).ok_or(mvcc::AuthError::AuthFailed)?;
                user.password_hash.clone().map(AuthReply::PasswordHash).ok_or(mvcc::AuthError::AuthFailed)
            }
            AuthRequest::CheckAdmin => Ok(AuthReply::Permitted),
            AuthRequest::Authenticate { token_prefix, .. } => {
                self.raft_index += 1;
                Ok(AuthReply::Token(format!("{token_prefix}.{}", self.raft_index)))
            }
        }
    }

    /// A write through the (fake) log: it takes a Raft index whether or not the keyspace accepts it,
    /// and its events go to the watches.
    fn write<T>(
        &mut self,
        apply: impl FnOnce(&mut Mvcc) -> Result<T, mvcc::Error>,
    ) -> Result<T, mvcc::Error> {
        self.raft_index += 1;
        let result = apply(&mut self.mvcc);
        self.notify_watches();
        result
    }

    fn grant(&mut self, ttl_seconds: i64, id: i64) -> Result<mvcc::LeaseGrantResponse, mvcc::Error> {
        let id = if id != 0 {
            id
        } else {
            self.next_request_id += 1;
            mvcc::lease_id_from_request_id(self.next_request_id).ok_or(mvcc::Error::LeaseNotFound)?
        };
        let request = mvcc::LeaseGrantRequest { ttl: ttl_seconds, id };
        let now_ms = self.now_ms;
        self.write(|mvcc| mvcc.lease_grant(&request, now_ms))
    }

    /// Hands the last write's events to every watch that wants some; a watch whose channel is full
    /// (or whose stream went away) is dropped, which ends its stream.
    fn notify_watches(&mut self) {
        let events = self.mvcc.take_events();
        if events.is_empty() {
            return;
        }
        let revision = self.mvcc.current_revision();
        let mut with_previous: Option<Vec<Event>> = None;
        let mut dropped = Vec::new();
        for (id, watch) in &self.watches {
            let source = if watch.create.prev_kv {
                with_previous.get_or_insert_with(|| {
                    let mut copy = events.clone();
                    self.mvcc.fill_prev_kv(&mut copy);
                    copy
                })
            } else {
                &events
            };
            let selected = select_events(&watch.create, source);
            if selected.is_empty() {
                continue;
            }
            if watch.sender.try_send(WatchUpdate::Events { revision, events: selected }).is_err() {
                dropped.push(*id);
            }
        }
        for id in dropped {
            self.watches.remove(&id);
        }
    }

    /// Sends the history from the watch's start revision in bounded batches. False when the channel
    /// filled up (the watch is then not registered: its stream ends).
    fn replay(&self, create: &WatchCreate, sender: &mpsc::Sender<WatchUpdate>) -> bool {
        let current = self.mvcc.current_revision();
        let mut next = create.start_revision;
        let batches = (current - next).max(0) as usize / MAX_REPLAY_REVISIONS + 1;
        for _ in 0..batches {
            if next > current {
                break;
            }
            let Ok(mut batch) =
                self.mvcc.events_since(&create.key, &create.range_end, next, MAX_REPLAY_REVISIONS)
            else {
                unreachable!("the start revision was checked against the compacted one");
            };
            assert!(batch.next_revision > next, "a replay that does not move forward");
            if create.prev_kv {
                self.mvcc.fill_prev_kv(&mut batch.events);
            }
            let selected = select_events(create, &batch.events);
            let revision = batch.next_revision - 1;
            if !selected.is_empty()
                && sender.try_send(WatchUpdate::Events { revision, events: selected }).is_err()
            {
                return false;
            }
            next = batch.next_revision;
        }
        true
    }

    fn status(&self) -> MemberStatus {
        let revisions = i64::try_from(self.mvcc.stats().revisions).unwrap_or(i64::MAX);
        let db_size_bytes =
            EMPTY_DB_SIZE_BYTES.saturating_add(revisions.saturating_mul(DB_BYTES_PER_REVISION));
        let is_learner = self.members.iter().any(|member| member.id == FAKE_MEMBER_ID && member.is_learner);
        MemberStatus {
            header: self.header(),
            version: ETCD_SERVER_VERSION.to_string(),
            db_size_bytes,
            db_size_in_use_bytes: db_size_bytes,
            leader: self.leader,
            raft_index: self.raft_index,
            raft_term: self.raft_term,
            raft_applied_index: self.raft_index,
            is_learner,
            errors: Vec::new(),
        }
    }

    fn peer_url_taken(&self, peer_urls: &[String], except: u64) -> bool {
        self.members
            .iter()
            .any(|member| member.id != except && member.peer_urls.iter().any(|url| peer_urls.contains(url)))
    }
}

/// The events a watch wants: in its range and not filtered out.
fn select_events(create: &WatchCreate, events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .filter(|event| in_range(&event.kv.key, &create.key, &create.range_end))
        .filter(|event| match event.kind {
            EventKind::Put => !create.no_put,
            EventKind::Delete => !create.no_delete,
        })
        .cloned()
        .collect()
}

/// etcd's range rules: an empty end is the single key, `[0]` every key from `key` on.
fn in_range(candidate: &[u8], key: &[u8], range_end: &[u8]) -> bool {
    match range_end {
        [] => candidate == key,
        [0] => candidate >= key,
        end => candidate >= key && candidate < end,
    }
}

impl Backend for FakeV3Backend {
    async fn request(&self, request: ClientRequest) -> ClientResponse {
        self.v2.request(request).await
    }

    async fn watch(&self, request: WatchRequest) -> Result<crate::http::WatchStream, store::StoreError> {
        self.v2.watch(request).await
    }

    fn status(&self) -> NodeStatus {
        let mut status = self.v2.status();
        let state = self.lock();
        status.members = state.members.clone();
        status.leader_id = state.leader;
        status.term = state.raft_term;
        status
    }

    async fn member_add(&self, peer_urls: Vec<String>) -> Result<Member, MemberError> {
        self.member_add_v3(peer_urls, false).await
    }

    async fn member_remove(&self, id: u64) -> Result<(), MemberError> {
        let mut state = self.lock();
        if state.removed.contains(&id) {
            return Err(MemberError::Removed(id));
        }
        let Some(position) = state.members.iter().position(|member| member.id == id) else {
            return Err(MemberError::NotFound(id));
        };
        let voters = state.members.iter().filter(|member| !member.is_learner).count();
        if !state.members[position].is_learner && voters == 1 {
            return Err(MemberError::Internal(api::errors::MEMBER_NOT_ENOUGH_STARTED.message.to_string()));
        }
        state.members.remove(position);
        state.removed.push(id);
        Ok(())
    }

    async fn member_update(&self, id: u64, peer_urls: Vec<String>) -> Result<(), MemberError> {
        let mut state = self.lock();
        if state.removed.contains(&id) {
            return Err(MemberError::Removed(id));
        }
        if state.peer_url_taken(&peer_urls, id) {
            return Err(MemberError::PeerUrlExists);
        }
        match state.members.iter_mut().find(|member| member.id == id) {
            Some(member) => {
                member.peer_urls = peer_urls;
                Ok(())
            }
            None => Err(MemberError::NotFound(id)),
        }
    }
}

impl V3Backend for FakeV3Backend {
    async fn v3(&self, request: V3Request) -> Result<V3Answer, V3Error> {
        let mut state = self.lock();
        if let Some(failure) = &state.failure {
            return Err(failure.clone());
        }
        if let V3Request::Auth(request) = request {
            let reply = state.auth(request).map_err(|error| V3Error::Other(error.message().to_string()))?;
            return Ok(V3Answer { header: state.header(), reply: V3Reply::Auth(reply) });
        }
        let reply = state.apply(request).map_err(V3Error::Keyspace)?;
        Ok(V3Answer { header: state.header(), reply })
    }

    async fn v3_watch(&self, request: WatchCreate) -> Result<V3WatchStream, V3Error> {
        let mut state = self.lock();
        if let Some(failure) = &state.failure {
            return Err(failure.clone());
        }
        mvcc::validate_range(&mvcc::RangeRequest::key(request.key.clone())).map_err(V3Error::Keyspace)?;
        let (sender, updates) = mpsc::channel(FAKE_WATCH_CHANNEL_CAPACITY);
        let stream = V3WatchStream { header: state.header(), updates };
        let compacted = state.mvcc.compacted_revision();
        if request.start_revision > 0 && request.start_revision < compacted {
            // Like the node: the only update is `Compacted`, and the watch is never registered.
            let sent = sender.try_send(WatchUpdate::Compacted { compact_revision: compacted });
            debug_assert!(sent.is_ok(), "a new channel has room");
            return Ok(stream);
        }
        let created = sender.try_send(WatchUpdate::Created { revision: state.mvcc.current_revision() });
        debug_assert!(created.is_ok(), "a new channel has room");
        if request.start_revision > 0 && !state.replay(&request, &sender) {
            return Ok(stream);
        }
        let id = state.next_watch;
        state.next_watch += 1;
        state.watches.insert(id, FakeWatch { create: request, sender });
        Ok(stream)
    }

    fn v3_status(&self) -> MemberStatus {
        self.lock().status()
    }

    async fn move_leader(&self, target: u64) -> Result<Header, V3Error> {
        let mut state = self.lock();
        if state.leader != FAKE_MEMBER_ID {
            return Err(V3Error::Other(api::errors::NOT_LEADER.message.to_string()));
        }
        let voter = state.members.iter().any(|member| member.id == target && !member.is_learner);
        if !voter {
            return Err(V3Error::Other(api::errors::BAD_LEADER_TRANSFEREE.message.to_string()));
        }
        if target != FAKE_MEMBER_ID {
            state.leader = target;
            state.raft_term += 1;
        }
        Ok(state.header())
    }

    async fn member_add_v3(&self, peer_urls: Vec<String>, is_learner: bool) -> Result<Member, MemberError> {
        let mut state = self.lock();
        if state.peer_url_taken(&peer_urls, 0) {
            return Err(MemberError::PeerUrlExists);
        }
        if is_learner && state.members.iter().any(|member| member.is_learner) {
            return Err(MemberError::Internal(api::errors::TOO_MANY_LEARNERS.message.to_string()));
        }
        state.next_member_id += 1;
        let member = Member { id: state.next_member_id, peer_urls, is_learner, ..Member::default() };
        state.members.push(member.clone());
        Ok(member)
    }

    async fn member_promote(&self, id: u64) -> Result<(), MemberError> {
        let mut state = self.lock();
        let Some(member) = state.members.iter_mut().find(|member| member.id == id) else {
            return Err(MemberError::NotFound(id));
        };
        if !member.is_learner {
            return Err(MemberError::Internal(api::errors::MEMBER_NOT_LEARNER.message.to_string()));
        }
        member.is_learner = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> V3Request {
        V3Request::Put(mvcc::PutRequest::new(key, value))
    }

    #[tokio::test]
    async fn writes_take_a_raft_index_and_reach_the_watches_in_their_range() {
        let backend = FakeV3Backend::new();
        let index_before = backend.v3_status().raft_index;
        let create = WatchCreate { key: b"a".to_vec(), range_end: b"b".to_vec(), ..WatchCreate::default() };
        let mut stream = backend.v3_watch(create).await.unwrap();
        assert_eq!(stream.updates.recv().await, Some(WatchUpdate::Created { revision: 1 }));
        backend.v3(put("a1", "x")).await.unwrap();
        backend.v3(put("b1", "y")).await.unwrap();
        assert_eq!(backend.v3_status().raft_index, index_before + 2);
        let Some(WatchUpdate::Events { revision, events }) = stream.updates.recv().await else {
            panic!("the put in range is reported");
        };
        assert_eq!((revision, events.len(), events[0].kv.key.as_slice()), (2, 1, b"a1".as_slice()));
        assert!(stream.updates.try_recv().is_err(), "the put out of range is not");
    }

    #[tokio::test]
    async fn a_watch_from_the_past_replays_history_and_a_compacted_start_is_refused() {
        let backend = FakeV3Backend::new();
        for value in ["1", "2", "3"] {
            backend.v3(put("k", value)).await.unwrap();
        }
        let create = WatchCreate { key: b"k".to_vec(), start_revision: 3, ..WatchCreate::default() };
        let mut stream = backend.v3_watch(create.clone()).await.unwrap();
        assert_eq!(stream.updates.recv().await, Some(WatchUpdate::Created { revision: 4 }));
        let Some(WatchUpdate::Events { events, .. }) = stream.updates.recv().await else { panic!("replay") };
        let values: Vec<&[u8]> = events.iter().map(|event| event.kv.value.as_slice()).collect();
        assert_eq!(values, [b"2".as_slice(), b"3".as_slice()]);
        let compact = V3Request::Compact(mvcc::CompactionRequest { revision: 4, physical: false });
        backend.v3(compact).await.unwrap();
        let mut refused = backend.v3_watch(create).await.unwrap();
        assert_eq!(refused.updates.recv().await, Some(WatchUpdate::Compacted { compact_revision: 4 }));
        assert_eq!(refused.updates.recv().await, None);
    }

    #[tokio::test]
    async fn leases_expire_on_the_test_clock_and_delete_their_keys() {
        let backend = FakeV3Backend::new();
        let Ok(V3Answer { reply: V3Reply::LeaseGrant(grant), .. }) =
            backend.v3(V3Request::LeaseGrant { ttl_seconds: 5, id: 0 }).await
        else {
            panic!("granted");
        };
        assert!(grant.id > 0);
        let leased = mvcc::PutRequest { lease: grant.id, ..mvcc::PutRequest::new("leased", "x") };
        backend.v3(V3Request::Put(leased)).await.unwrap();
        backend.advance_clock(4_999);
        assert_eq!(backend.current_revision(), 2, "not expired yet");
        backend.advance_clock(1);
        assert_eq!(backend.current_revision(), 3, "expired: its key deleted");
        let answer = backend.v3(V3Request::Range(mvcc::RangeRequest::key("leased"))).await.unwrap();
        assert!(matches!(answer.reply, V3Reply::Range(range) if range.count == 0));
    }
}
