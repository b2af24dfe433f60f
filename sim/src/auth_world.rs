//! The auth workload: a three-member cluster of production nodes on virtual time, a seeded network
//! that delays, drops and isolates, a root client that sets v3 auth up (root, a role granting
//! read-write on a few keys, a user holding it), enables it, then revokes the keys' permission one
//! by one, and authenticated user clients putting and ranging those keys on random members with
//! tokens they get through the log. At the end `auth_checks` checks that no request invoked after
//! its key's revoke was acknowledged got through.
//!
//! Everything is a function of the seed: one ChaCha stream drives the network and the workload.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use mvcc::{AuthCommand, Permission, PermissionType, PutRequest, RangeRequest};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use server::node::{
    AuthReply, AuthRequest, ClientRequest, Member, Node, NodeConfig, Reply, RequestError, V3Reply, V3Request,
};
use server::storage::disk::{Disk, MemDisk};

use crate::auth_checks::{AuthOutcome, AuthRecord, AuthRequestKind, AuthVerdict, Event, check_revocations};

/// Members of the cluster.
const MEMBERS: u64 = 3;
/// Keys the role grants (and the root client revokes, one by one).
const AUTH_KEYS: usize = 4;
/// User clients, each with one request at a time.
const USER_CLIENTS: usize = 3;
/// Steps of a run; each is one tick (100 ms of virtual time).
const STEPS: u64 = 1_500;
/// Nanoseconds per step.
const STEP_NS: i64 = 100_000_000;
/// Delivery rounds within one step at most.
const ROUNDS_PER_STEP: usize = 50;
/// Steps a message may be delayed at most.
const MAX_DELAY_STEPS: u64 = 3;
/// Steps a client waits for an answer before giving up on it.
const GIVE_UP_STEPS: u64 = 300;
/// The password hash the driver stores for every user (the node compares hashes only).
const HASH: &str = "sim-hash";
/// The role granting the keys.
const ROLE: &str = "writers";
/// The authenticated user.
const USER: &str = "alice";

/// A run's plan: its seed and the bug planted in every member, if any.
#[derive(Clone, Debug)]
pub struct AuthPlan {
    pub seed: u64,
    pub planted_bug: Option<String>,
}

/// What a run found.
#[derive(Clone, Debug, Default)]
pub struct AuthRunReport {
    pub verdict: AuthVerdict,
    /// Keys whose revoke was acknowledged.
    pub revoked_keys: usize,
    pub auth_enabled: bool,
}

/// What a client is doing.
#[derive(Clone, Debug)]
enum ClientState {
    Idle,
    /// Getting a token from `member` for the request that follows.
    Authenticating {
        member: u64,
        request: Pending,
    },
    /// The request is at `member` since `invoked`.
    Requesting {
        member: u64,
        request: Pending,
        invoked: Event,
    },
}

/// A client's next request: for the root client an auth change, for users a put or range.
#[derive(Clone, Debug)]
enum Pending {
    Change(AuthCommand),
    User { key: usize, kind: AuthRequestKind },
}

struct Client {
    user: &'static str,
    state: ClientState,
    /// The step the current submission happened at (for giving up).
    since_step: u64,
    /// Request IDs this client waits on (at most one).
    waiting: Option<u64>,
}

/// The driver of one run.
pub struct AuthWorld {
    random: ChaCha8Rng,
    nodes: BTreeMap<u64, Node>,
    /// Messages in flight with the step they arrive at, in sending order.
    in_flight: VecDeque<(u64, raft::Message)>,
    /// A member whose messages are all dropped, for a while.
    isolated: Option<u64>,
    step: u64,
    now_ns: i64,
    event: Event,
    next_request_id: u64,
    clients: Vec<Client>,
    /// Tokens per (user, member).
    tokens: BTreeMap<(&'static str, u64), String>,
    /// The root client's script, next change first.
    script: VecDeque<AuthCommand>,
    records: Vec<AuthRecord>,
    revoked_by: BTreeMap<usize, Event>,
    auth_enabled: bool,
}

fn key_bytes(key: usize) -> Vec<u8> {
    format!("auth/k{key}").into_bytes()
}

fn member_record(id: u64) -> Member {
    Member {
        id,
        name: format!("member-{id}"),
        peer_urls: vec![format!("http://member-{id}:2380")],
        ..Member::default()
    }
}

/// The root client's setup, then enabling; the revokes follow in a seeded order.
fn setup_script(random: &mut ChaCha8Rng) -> VecDeque<AuthCommand> {
    let user_add = |name: &str| AuthCommand::UserAdd { name: name.into(), password_hash: Some(HASH.into()) };
    let mut script = VecDeque::from([
        user_add("root"),
        AuthCommand::UserGrantRole { name: "root".into(), role: "root".into() },
        AuthCommand::RoleAdd { name: ROLE.into() },
        user_add(USER),
        AuthCommand::UserGrantRole { name: USER.into(), role: ROLE.into() },
    ]);
    for key in 0..AUTH_KEYS {
        let permission = Permission {
            permission_type: PermissionType::ReadWrite,
            key: key_bytes(key),
            range_end: Vec::new(),
        };
        script.push_back(AuthCommand::RoleGrantPermission { name: ROLE.into(), permission });
    }
    script.push_back(AuthCommand::Enable);
    let mut keys: Vec<usize> = (0..AUTH_KEYS).collect();
    for index in (1..keys.len()).rev() {
        keys.swap(index, random.random_range(0..=index));
    }
    for key in keys {
        script.push_back(AuthCommand::RoleRevokePermission {
            name: ROLE.into(),
            key: key_bytes(key),
            range_end: Vec::new(),
        });
    }
    script
}

impl AuthWorld {
    pub fn new(plan: &AuthPlan) -> Result<AuthWorld, String> {
        let mut random = ChaCha8Rng::seed_from_u64(plan.seed ^ 0x6175_7468_0000_0000);
        let members: Vec<Member> = (1..=MEMBERS).map(member_record).collect();
        let mut nodes = BTreeMap::new();
        for id in 1..=MEMBERS {
            let mut config =
                NodeConfig::new(id, 0xa0, members.clone(), PathBuf::from(format!("/sim/member-{id}")));
            config.seed = plan.seed.wrapping_mul(31).wrapping_add(id);
            config.incarnation = 1;
            planted_bug(&mut config, plan.planted_bug.as_deref())?;
            let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
            nodes.insert(id, Node::open(config, disk).map_err(|error| error.to_string())?);
        }
        let mut clients =
            vec![Client { user: "root", state: ClientState::Idle, since_step: 0, waiting: None }];
        for _ in 0..USER_CLIENTS {
            clients.push(Client { user: USER, state: ClientState::Idle, since_step: 0, waiting: None });
        }
        let script = setup_script(&mut random);
        Ok(AuthWorld {
            random,
            nodes,
            in_flight: VecDeque::new(),
            isolated: None,
            step: 0,
            now_ns: 1_700_000_000 * 1_000_000_000,
            event: 0,
            next_request_id: 1,
            clients,
            tokens: BTreeMap::new(),
            script,
            records: Vec::new(),
            revoked_by: BTreeMap::new(),
            auth_enabled: false,
        })
    }

    /// Runs every step, then checks the history.
    pub fn run(mut self) -> Result<AuthRunReport, String> {
        for _ in 0..STEPS {
            self.step_once()?;
        }
        let verdict = check_revocations(&self.records, &self.revoked_by);
        Ok(AuthRunReport { verdict, revoked_keys: self.revoked_by.len(), auth_enabled: self.auth_enabled })
    }

    fn step_once(&mut self) -> Result<(), String> {
        self.step += 1;
        self.now_ns += STEP_NS;
        self.change_isolation();
        let now = self.now_ns;
        for node in self.nodes.values_mut() {
            node.tick(now);
        }
        for client in 0..self.clients.len() {
            self.drive_client(client);
        }
        for _ in 0..ROUNDS_PER_STEP {
            if !self.process_and_deliver()? {
                break;
            }
        }
        Ok(())
    }

    /// Now and then a member is cut off (all its messages dropped), or the cut heals.
    fn change_isolation(&mut self) {
        if self.random.random_range(0..100) < 3 {
            self.isolated = match self.random.random_range(0..=MEMBERS) {
                0 => None,
                member => Some(member),
            };
        }
    }

    /// One round: every member processes, its answers go to the clients and its messages into the
    /// network; messages due by now are delivered. Whether anything happened.
    fn process_and_deliver(&mut self) -> Result<bool, String> {
        let mut progressed = false;
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for id in ids {
            let output =
                self.nodes.get_mut(&id).expect("a member").process().map_err(|error| error.to_string())?;
            progressed |= !output.messages.is_empty() || !output.answers.is_empty();
            for message in output.messages {
                self.send(message);
            }
            for answer in output.answers {
                self.on_answer(id, answer.request_id, answer.result);
            }
        }
        let step = self.step;
        let due: Vec<raft::Message> = {
            let (due, later): (VecDeque<_>, VecDeque<_>) =
                std::mem::take(&mut self.in_flight).into_iter().partition(|(at, _)| *at <= step);
            self.in_flight = later;
            due.into_iter().map(|(_, message)| message).collect()
        };
        for message in due {
            progressed = true;
            if let Some(node) = self.nodes.get_mut(&message.to) {
                node.receive(message);
            }
        }
        Ok(progressed)
    }

    fn send(&mut self, message: raft::Message) {
        let cut = self.isolated.is_some_and(|member| member == message.from || member == message.to);
        if cut || self.random.random_range(0..100) < 2 {
            return;
        }
        let delay = self.random.random_range(0..=MAX_DELAY_STEPS);
        self.in_flight.push_back((self.step + delay, message));
        assert!(self.in_flight.len() <= 100_000, "the network holds a bounded number of messages");
    }

    fn next_event(&mut self) -> Event {
        self.event += 1;
        self.event
    }

    /// An idle client starts its next request; a client waiting too long gives up.
    fn drive_client(&mut self, client: usize) {
        if self.clients[client].waiting.is_some() {
            if self.step - self.clients[client].since_step > GIVE_UP_STEPS {
                let state = std::mem::replace(&mut self.clients[client].state, ClientState::Idle);
                self.clients[client].waiting = None;
                self.finish(client, state, AuthOutcome::Unknown);
            }
            return;
        }
        let request = if self.clients[client].user == "root" {
            if self.random.random_range(0..100) >= 5 {
                return;
            }
            match self.script.front() {
                Some(command) => Pending::Change(command.clone()),
                None => return,
            }
        } else {
            if self.random.random_range(0..100) >= 30 {
                return;
            }
            let key = self.random.random_range(0..AUTH_KEYS);
            let kind =
                if self.random.random_bool(0.5) { AuthRequestKind::Put } else { AuthRequestKind::Range };
            Pending::User { key, kind }
        };
        let member = self.random.random_range(1..=MEMBERS);
        self.start(client, member, request);
    }

    /// Submits the request with the client's token on `member`, or first asks for a token.
    fn start(&mut self, client: usize, member: u64, request: Pending) {
        let user = self.clients[client].user;
        match self.tokens.get(&(user, member)).cloned() {
            Some(token) => self.submit_request(client, member, request, Some(token)),
            None => {
                let prefix = format!("simtoken{:08}", self.random.random_range(0..100_000_000u64));
                let assign = AuthRequest::Authenticate {
                    name: user.into(),
                    checked_hash: HASH.into(),
                    token_prefix: prefix,
                };
                self.submit(client, member, V3Request::Auth(assign));
                self.clients[client].state = ClientState::Authenticating { member, request };
            }
        }
    }

    fn submit_request(&mut self, client: usize, member: u64, request: Pending, token: Option<String>) {
        let bare = match &request {
            Pending::Change(command) => V3Request::Auth(AuthRequest::Change(command.clone())),
            Pending::User { key, kind: AuthRequestKind::Put } => {
                let value = format!("{}", self.event);
                V3Request::Put(PutRequest::new(key_bytes(*key), value.into_bytes()))
            }
            Pending::User { key, kind: AuthRequestKind::Range } => {
                V3Request::Range(RangeRequest::key(key_bytes(*key)))
            }
        };
        let request_to_send = match token {
            Some(token) => V3Request::Authorized { token, request: Box::new(bare) },
            None => bare,
        };
        let invoked = self.submit(client, member, request_to_send);
        self.clients[client].state = ClientState::Requesting { member, request, invoked };
    }

    /// Hands `request` to `member`; its submission event.
    fn submit(&mut self, client: usize, member: u64, request: V3Request) -> Event {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.clients[client].waiting = Some(request_id);
        self.clients[client].since_step = self.step;
        let now = self.now_ns;
        self.nodes.get_mut(&member).expect("a member").submit(request_id, ClientRequest::V3(request), now);
        self.next_event()
    }

    fn on_answer(&mut self, member: u64, request_id: u64, result: Result<Reply, RequestError>) {
        let Some(client) = self.clients.iter().position(|client| client.waiting == Some(request_id)) else {
            return;
        };
        self.clients[client].waiting = None;
        let state = std::mem::replace(&mut self.clients[client].state, ClientState::Idle);
        let user = self.clients[client].user;
        match state {
            ClientState::Authenticating { member: at, request } => {
                debug_assert_eq!(at, member, "the answer comes from the member asked");
                match result {
                    Ok(Reply::V3(V3Reply::Auth(AuthReply::Token(token)))) => {
                        self.tokens.insert((user, member), token.clone());
                        self.submit_request(client, member, request, Some(token));
                    }
                    Err(RequestError::Refused(why)) if why == "etcdserver: authentication is not enabled" => {
                        self.submit_request(client, member, request, None);
                    }
                    _ => {}
                }
            }
            ClientState::Requesting { .. } => {
                let outcome = match result {
                    Ok(_) => AuthOutcome::Allowed,
                    Err(RequestError::Refused(why)) => {
                        if why == "etcdserver: invalid auth token" {
                            self.tokens.remove(&(user, member));
                        }
                        AuthOutcome::Refused(why)
                    }
                    Err(_) => AuthOutcome::Unknown,
                };
                self.finish(client, state, outcome);
            }
            ClientState::Idle => {}
        }
    }

    /// Records a finished request: a user's in the history, a root change by moving the script on
    /// when it is known done (acknowledged, or found already done by a retry).
    fn finish(&mut self, client: usize, state: ClientState, outcome: AuthOutcome) {
        let ClientState::Requesting { member, request, invoked } = state else { return };
        let answered = self.next_event();
        match request {
            Pending::User { key, kind } => {
                self.records.push(AuthRecord { member, key, kind, invoked, outcome });
            }
            Pending::Change(command) => {
                let done = match &outcome {
                    AuthOutcome::Allowed => true,
                    AuthOutcome::Refused(why) => {
                        why.contains("already exists") || why.contains("is not granted")
                    }
                    AuthOutcome::Unknown => false,
                };
                if done {
                    self.script_step_done(&command, answered);
                }
            }
        }
        let _ = client;
    }

    fn script_step_done(&mut self, command: &AuthCommand, answered: Event) {
        assert_eq!(self.script.front(), Some(command), "the root client works through its script in order");
        self.script.pop_front();
        match command {
            AuthCommand::Enable => self.auth_enabled = true,
            AuthCommand::RoleRevokePermission { key, .. } => {
                let number =
                    (0..AUTH_KEYS).find(|number| key_bytes(*number) == *key).expect("a workload key");
                self.revoked_by.insert(number, answered);
            }
            _ => {}
        }
    }
}

#[cfg(feature = "planted-bugs")]
fn planted_bug(config: &mut NodeConfig, name: Option<&str>) -> Result<(), String> {
    config.planted_bug = name.map(str::parse::<server::node::PlantedBug>).transpose()?;
    Ok(())
}

#[cfg(not(feature = "planted-bugs"))]
fn planted_bug(_config: &mut NodeConfig, name: Option<&str>) -> Result<(), String> {
    match name {
        Some(name) => Err(format!("planted bug {name} needs the planted-bugs feature")),
        None => Ok(()),
    }
}

/// Runs seeds `from..from + seeds`; the reports in seed order, or the first seed that failed to run.
pub fn run_seeds(
    from: u64,
    seeds: u64,
    planted_bug: Option<&str>,
) -> Result<Vec<(u64, AuthRunReport)>, String> {
    (from..from + seeds)
        .map(|seed| {
            let plan = AuthPlan { seed, planted_bug: planted_bug.map(str::to_string) };
            AuthWorld::new(&plan)?
                .run()
                .map(|report| (seed, report))
                .map_err(|error| format!("seed {seed}: {error}"))
        })
        .collect()
}
