//! The fault plan: every knob and every scheduled fault of one run, derived from the seed alone
//! (swarm testing: each seed enables a random mix of fault kinds with random intensities, so rare
//! combinations get explored without anyone writing them down). Shrinking edits a plan directly.

use std::fmt;

use raft::NodeId;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::history::Time;
use crate::mix::{FAMILIES, FaultMix};

pub const MILLISECOND: Time = 1_000_000;
pub const SECOND: Time = 1_000 * MILLISECOND;

/// Which member a fault hits, resolved when the fault fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Node(NodeId),
    /// Whoever leads at that moment (a random member when nobody does).
    Leader,
    /// The next member to become leader, the moment it does (before its first sync when the fault
    /// is a power cut): the window where a new leader holds uncommitted entries of older terms.
    NextLeader,
}

/// One fault. Network faults replace the current partition; `Heal` ends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// No messages between the two sides, in either direction.
    Partition { side: Vec<NodeId> },
    /// Messages from `from` to everyone else are dropped; the other direction works.
    OneWay { from: Vec<NodeId> },
    /// The current leader is cut off from everyone.
    IsolateLeader,
    /// Two halves that only talk through the bridge member.
    Bridge { left: Vec<NodeId>, bridge: NodeId, right: Vec<NodeId> },
    /// Clog each member in turn (`gap_ns` apart), then unclog them in a random order.
    CloggingWave { order: Vec<NodeId>, unclog_order: Vec<NodeId>, gap_ns: Time },
    /// Every link works again (partitions and clogs).
    Heal,
    /// The process dies (unsynced disk writes are lost, the last may be torn) and restarts later.
    Crash { target: Target, down_for_ns: Time },
    /// The power fails in the middle of the member's disk writes: after `after_operations` more
    /// mutating disk operations everything fails, the node stops with an error, the machine
    /// crashes (unsynced data lost or torn) and restarts after `down_for_ns`.
    PowerCut { target: Target, after_operations: u64, down_for_ns: Time },
    /// The member's wall clock jumps (forward or back).
    ClockJump { node: NodeId, delta_ns: i64 },
    /// A bit flips in one of the member's stored files while it is down; it restarts after.
    FlipBit { node: NodeId, down_for_ns: Time },
    /// The operator adds a new member (`member add`, then starts it with `--initial-cluster-state
    /// existing`): it joins as a learner and the leader promotes it once it has caught up.
    AddMember,
    /// The operator removes a member (`member remove`); `Target::Leader` removes the leader.
    RemoveMember { target: Target },
    /// The operator replaces a member: removes it, then adds a new one in its place.
    ReplaceMember { target: Target },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledFault {
    pub at: Time,
    pub fault: Fault,
}

/// Per-link message delay: `base_ns` plus an exponential tail of mean `jitter_ns`, with occasional spikes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latency {
    pub base_ns: Time,
    pub jitter_ns: Time,
    pub spike_probability: f64,
    pub spike_ns: Time,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub seed: u64,
    pub nodes: usize,
    pub clients: usize,
    pub keys: u32,
    /// Faults fire only before this time; then everything heals and restarts.
    pub fault_phase_ns: Time,
    /// After the fault phase: the cluster must settle and serve every client within this bound.
    pub liveness_window_ns: Time,
    pub faults: Vec<ScheduledFault>,
    pub latency: Latency,
    pub loss_probability: f64,
    pub duplicate_probability: f64,
    /// Whether forwarded client proposals (`Propose`) get the raw network too: duplicated and
    /// reordered. Off by default: the production transport (one TCP stream per peer) never
    /// duplicates or reorders them, and the node's exactly-once bookkeeping relies on that.
    /// `--duplicate-proposals`.
    pub duplicate_proposals: bool,
    /// Per member: how much faster (+) or slower (-) its clock runs, in parts per million.
    pub drift_ppm: Vec<i64>,
    /// Per member: the initial offset of its wall clock.
    pub skew_ns: Vec<i64>,
    /// Time a disk sync takes (a `process()` call lands this long after its trigger).
    pub sync_latency_ns: Time,
    pub client_timeout_ns: Time,
    /// Pause between a client's operations.
    pub think_time_ns: Time,
    /// Percentages of the operation mix: quorum gets, plain gets; the rest are writes.
    pub quorum_get_percent: u32,
    pub plain_get_percent: u32,
    pub election_ticks: u32,
    pub heartbeat_ticks: u32,
    pub snapshot_count: u64,
    /// Bytes of entries per append message (small values split the log tail over many messages).
    /// Only the raft-kv backend applies it: the node does not expose the setting yet.
    pub max_message_bytes: usize,
    /// The planted bug to enable (by name), for checker self-tests.
    pub planted_bug: Option<String>,
    /// Per thousand operations: a set with a TTL of 1 to `max_ttl_seconds` on the one key only such
    /// sets write (backends with a store only). Rare on purpose: a value must outlive its TTL
    /// unwritten for its expiry to be seen, and reads also go to that key.
    pub ttl_per_mille: u32,
    pub max_ttl_seconds: u64,
    /// Percentage of client operations that also start a one-shot watch in the background when the
    /// client has none running (0 on about half the seeds), on backends that serve watches. Drawn from its own stream (`watch_knobs`), so that adding it left
    /// every other knob of every seed as it was.
    pub watch_percent: u32,
    /// How long a client waits on a watch before it gives up and cancels it: longer than the client
    /// timeout (a watch on a quiet key legitimately waits), shorter than half the liveness window (a
    /// watch started before the workload ends is over before the deadline).
    pub watch_timeout_ns: Time,
    /// Percentage of client operations that go to the v3 keyspace instead (put, delete, linearizable
    /// range, compare-and-put txn), on backends that serve it; 0 on about half the seeds. Drawn from
    /// its own stream (`v3_knobs`), so adding it left every other knob of every seed as it was.
    pub v3_percent: u32,
    /// `--linearizable-reads` on every member (about a quarter of the seeds, from a stream of its own):
    /// plain gets are then checked as strictly as quorum gets, on backends that honour it.
    pub linearizable_reads: bool,
    /// The fault mix the plan was drawn with (0: the default mix; see `mix`).
    pub mix: u32,
}

/// Seed salt of the v3 knob's stream.
const V3_STREAM: u64 = 0x7633_0000_0000_0000;

/// The v3 share of a seed's operations, from a stream of its own.
fn v3_knobs(seed: u64) -> u32 {
    let mut random = ChaCha8Rng::seed_from_u64(seed ^ V3_STREAM);
    if random.random_bool(0.5) { random.random_range(5..=50) } else { 0 }
}

/// Seed salt of the linearizable-reads knob's stream.
const LINEARIZABLE_READS_STREAM: u64 = 0x6c69_6e72_6561_6400;

/// Whether a seed's members serve plain gets through ReadIndex, from a stream of its own.
fn linearizable_reads_knob(seed: u64) -> bool {
    ChaCha8Rng::seed_from_u64(seed ^ LINEARIZABLE_READS_STREAM).random_bool(0.25)
}

/// Seed salt of the watch knobs' stream.
const WATCH_STREAM: u64 = 0x7761_7463_6800_0000;

/// The watch knobs of a seed (`watch_percent`, `watch_timeout_ns`) from a stream of their own.
fn watch_knobs(seed: u64, client_timeout_ns: Time) -> (u32, Time) {
    let mut random = ChaCha8Rng::seed_from_u64(seed ^ WATCH_STREAM);
    let percent = if random.random_bool(0.5) { random.random_range(1..=25) } else { 0 };
    let timeout = client_timeout_ns + random.random_range(1..=3) * SECOND;
    (percent, timeout)
}

/// Whether a plan gets membership changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipChanges {
    /// Some seeds do (swarm testing), most do not.
    BySeed,
    /// Every plan gets one to five of them.
    Always,
}

pub const TICK_INTERVAL_NS: Time = 100 * MILLISECOND;

impl Plan {
    /// Every member ID of the run (1..=nodes).
    pub fn members(&self) -> Vec<NodeId> {
        (1..=self.nodes as NodeId).collect()
    }

    /// Derives a plan from the seed. `nodes` fixes the cluster size (None: 3, 5 or 7 by the seed).
    pub fn from_seed(seed: u64, nodes: Option<usize>) -> Plan {
        Plan::from_seed_with(seed, nodes, MembershipChanges::BySeed)
    }

    /// `from_seed`, choosing whether membership changes join the fault mix.
    pub fn from_seed_with(seed: u64, nodes: Option<usize>, membership: MembershipChanges) -> Plan {
        Plan::from_seed_with_mix(seed, nodes, membership, &FaultMix::new(0))
    }

    /// `from_seed_with`, drawing the fault families with the odds of `mix` (mix 0: the default).
    pub fn from_seed_with_mix(
        seed: u64,
        nodes: Option<usize>,
        membership: MembershipChanges,
        mix: &FaultMix,
    ) -> Plan {
        // A dedicated stream so the plan never shifts when the run's own randomness changes.
        let mut random = ChaCha8Rng::seed_from_u64(seed ^ PLAN_STREAM);
        let nodes = nodes.unwrap_or_else(|| [3, 5, 5, 7][random.random_range(0..4)]);
        let members: Vec<NodeId> = (1..=nodes as NodeId).collect();
        let fault_phase_ns = random.random_range(5..=25) * SECOND;
        let families = FaultFamilies::draw(&mut random, &mix.family_percents);
        let mut faults =
            network_episodes(&mut random, &members, fault_phase_ns, &families.network_episodes());
        if families.crashes {
            faults.extend(crash_faults(&mut random, nodes, fault_phase_ns));
        }
        if families.clock_jumps {
            faults.extend(clock_jump_faults(&mut random, nodes, fault_phase_ns));
        }
        if families.bit_flips {
            faults.extend(bit_flip_faults(&mut random, &members, fault_phase_ns));
        }
        faults.extend(membership_faults(seed, &members, fault_phase_ns, membership, mix.membership_percent));
        faults.sort_by_key(|fault| fault.at);
        let latency = draw_latency(&mut random, families.slow_network);
        let drift_ppm = members
            .iter()
            .map(|_| if families.drifting { random.random_range(-50_000..=50_000) } else { 0 })
            .collect();
        let skew_ns =
            members.iter().map(|_| random.random_range(-(2 * SECOND as i64)..=2 * SECOND as i64)).collect();
        let mut plan = Plan {
            seed,
            nodes,
            clients: random.random_range(2..=5),
            keys: random.random_range(1..=6),
            fault_phase_ns,
            liveness_window_ns: 20 * SECOND,
            faults,
            latency,
            loss_probability: if families.lossy { random.random_range(1..=20) as f64 / 100.0 } else { 0.0 },
            duplicate_probability: if families.duplicating {
                random.random_range(1..=10) as f64 / 100.0
            } else {
                0.0
            },
            duplicate_proposals: false,
            drift_ppm,
            skew_ns,
            sync_latency_ns: random.random_range(50..3000) * 1_000,
            client_timeout_ns: random.random_range(1..=5) * SECOND,
            think_time_ns: random.random_range(5..60) * MILLISECOND,
            quorum_get_percent: random.random_range(0..=30),
            plain_get_percent: random.random_range(0..=20),
            election_ticks: 10,
            heartbeat_ticks: 1,
            snapshot_count: [10, 100, 1000, 10_000][random.random_range(0..4)],
            max_message_bytes: [128, 1024, 65_536, 1 << 20][random.random_range(0..4)],
            planted_bug: None,
            ttl_per_mille: 0,
            max_ttl_seconds: 0,
            watch_percent: 0,
            watch_timeout_ns: 0,
            v3_percent: 0,
            linearizable_reads: false,
            mix: mix.id,
        };
        if let Some(snapshot_count) = mix.snapshot_count {
            plan.snapshot_count = snapshot_count;
        }
        (plan.ttl_per_mille, plan.max_ttl_seconds) = ttl_knobs(seed);
        (plan.watch_percent, plan.watch_timeout_ns) = watch_knobs(seed, plan.client_timeout_ns);
        plan.v3_percent = v3_knobs(seed);
        plan.linearizable_reads = linearizable_reads_knob(seed);
        plan.assert_well_formed();
        plan
    }

    /// What every derived plan satisfies (shrinking only removes from it).
    fn assert_well_formed(&self) {
        assert!(self.nodes > 0, "a cluster has members");
        assert_eq!(self.drift_ppm.len(), self.nodes, "one clock drift per member");
        assert_eq!(self.skew_ns.len(), self.nodes, "one clock skew per member");
        assert!(self.faults.windows(2).all(|pair| pair[0].at <= pair[1].at), "faults in time order");
        assert!(
            self.faults.iter().all(|fault| fault.at < self.fault_phase_ns),
            "faults within the fault phase"
        );
        let flips = self.faults.iter().filter(|fault| matches!(fault.fault, Fault::FlipBit { .. })).count();
        assert!(flips <= (self.nodes - 1) / 2, "bit flips hit a minority of the members");
        assert!(self.clients > 0 && self.keys > 0, "a workload has clients and keys");
        assert!(self.quorum_get_percent + self.plain_get_percent <= 100, "the operation mix adds up");
        assert!(self.watch_timeout_ns > self.client_timeout_ns, "a watch outwaits an operation");
        assert!(self.watch_timeout_ns < self.liveness_window_ns / 2, "a watch ends before the deadline");
    }
}

/// Seed salt of the plan's main stream.
const PLAN_STREAM: u64 = 0x706c_616e_0000_0000;
/// Seed salt of the TTL knobs' stream.
const TTL_STREAM: u64 = 0x7474_6c00_0000_0000;
/// Seed salt of the membership changes' stream.
const MEMBERSHIP_STREAM: u64 = 0x6d65_6d62_6572_0000;

/// The TTL knobs of a seed (`ttl_per_mille`, `max_ttl_seconds`) from a stream of their own, so that
/// older knobs kept their values for a seed when TTLs came.
fn ttl_knobs(seed: u64) -> (u32, u64) {
    let mut random = ChaCha8Rng::seed_from_u64(seed ^ TTL_STREAM);
    let per_mille = [0, 0, 2, 5, 10][random.random_range(0..5)];
    (per_mille, random.random_range(1..=10))
}

/// Which fault families a seed enables (swarm testing: each is on or off per seed).
struct FaultFamilies {
    partitions: bool,
    one_way: bool,
    isolate_leader: bool,
    bridges: bool,
    clogging: bool,
    crashes: bool,
    clock_jumps: bool,
    bit_flips: bool,
    lossy: bool,
    duplicating: bool,
    drifting: bool,
    slow_network: bool,
}

impl FaultFamilies {
    /// Draws each family with its odds in percent (in the order of `mix::FAMILY_NAMES`); one draw
    /// per family whatever the odds, so a mix changes which families are on, never the draws after.
    fn draw(random: &mut ChaCha8Rng, percents: &[u32; FAMILIES]) -> FaultFamilies {
        let mut next = percents.iter();
        let mut enabled = || random.random_range(0..100) < *next.next().expect("one percent per family");
        // Fields are drawn in the order written (the order of `FAMILY_NAMES`).
        FaultFamilies {
            partitions: enabled(),
            one_way: enabled(),
            isolate_leader: enabled(),
            bridges: enabled(),
            clogging: enabled(),
            crashes: enabled(),
            clock_jumps: enabled(),
            bit_flips: enabled(),
            lossy: enabled(),
            duplicating: enabled(),
            drifting: enabled(),
            slow_network: enabled(),
        }
    }

    /// The kinds of network episode enabled.
    fn network_episodes(&self) -> Vec<NetworkEpisode> {
        [
            (self.partitions, NetworkEpisode::Partition),
            (self.one_way, NetworkEpisode::OneWay),
            (self.isolate_leader, NetworkEpisode::IsolateLeader),
            (self.bridges, NetworkEpisode::Bridge),
            (self.clogging, NetworkEpisode::CloggingWave),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, kind)| kind)
        .collect()
    }
}

#[derive(Clone, Copy)]
enum NetworkEpisode {
    Partition,
    OneWay,
    IsolateLeader,
    Bridge,
    CloggingWave,
}

/// Network episodes of the enabled kinds, one at a time, each healed before the next starts.
fn network_episodes(
    random: &mut ChaCha8Rng,
    members: &[NodeId],
    fault_phase_ns: Time,
    kinds: &[NetworkEpisode],
) -> Vec<ScheduledFault> {
    let mut faults = Vec::new();
    if kinds.is_empty() {
        return faults;
    }
    let mut at = random.random_range(0..2 * SECOND);
    while at < fault_phase_ns {
        let kind = kinds[random.random_range(0..kinds.len())];
        let duration_ns = random.random_range(300 * MILLISECOND..6 * SECOND);
        let fault = network_fault(random, members, kind);
        faults.push(ScheduledFault { at, fault });
        let heal_at = at + duration_ns;
        if heal_at < fault_phase_ns {
            faults.push(ScheduledFault { at: heal_at, fault: Fault::Heal });
        }
        at = heal_at + random.random_range(0..3 * SECOND);
    }
    faults
}

/// One network episode of kind `kind` over `members`.
fn network_fault(random: &mut ChaCha8Rng, members: &[NodeId], kind: NetworkEpisode) -> Fault {
    let nodes = members.len();
    match kind {
        NetworkEpisode::Partition => {
            Fault::Partition { side: random_subset(random, members, 1, nodes / 2 + 1) }
        }
        NetworkEpisode::OneWay => Fault::OneWay { from: random_subset(random, members, 1, nodes / 2) },
        NetworkEpisode::IsolateLeader => Fault::IsolateLeader,
        NetworkEpisode::Bridge => {
            let mut shuffled = members.to_vec();
            shuffle(random, &mut shuffled);
            let bridge = shuffled[0];
            let half = (nodes - 1) / 2;
            Fault::Bridge {
                left: shuffled[1..1 + half].to_vec(),
                bridge,
                right: shuffled[1 + half..].to_vec(),
            }
        }
        NetworkEpisode::CloggingWave => {
            let mut order = members.to_vec();
            shuffle(random, &mut order);
            order.truncate(random.random_range(1..=nodes));
            let mut unclog_order = order.clone();
            shuffle(random, &mut unclog_order);
            let gap_ns = random.random_range(50 * MILLISECOND..800 * MILLISECOND);
            Fault::CloggingWave { order, unclog_order, gap_ns }
        }
    }
}

/// One to six crashes or power cuts, of the leader, the next leader or a given member.
fn crash_faults(random: &mut ChaCha8Rng, nodes: usize, fault_phase_ns: Time) -> Vec<ScheduledFault> {
    let count = random.random_range(1..=6);
    (0..count)
        .map(|_| {
            let at = random.random_range(0..fault_phase_ns);
            let target = match random.random_range(0..10) {
                0..4 => Target::Leader,
                4..6 => Target::NextLeader,
                _ => Target::Node(random.random_range(1..=nodes as NodeId)),
            };
            let down_for_ns = random.random_range(0..4 * SECOND);
            let fault = if random.random_bool(0.5) {
                Fault::Crash { target, down_for_ns }
            } else {
                Fault::PowerCut { target, after_operations: random.random_range(0..12), down_for_ns }
            };
            ScheduledFault { at, fault }
        })
        .collect()
}

/// One to four jumps of up to 30 s either way in a member's wall clock.
fn clock_jump_faults(random: &mut ChaCha8Rng, nodes: usize, fault_phase_ns: Time) -> Vec<ScheduledFault> {
    (0..random.random_range(1..=4))
        .map(|_| {
            let at = random.random_range(0..fault_phase_ns);
            let node = random.random_range(1..=nodes as NodeId);
            let delta_ns = random.random_range(-(30 * SECOND as i64)..=30 * SECOND as i64);
            ScheduledFault { at, fault: Fault::ClockJump { node, delta_ns } }
        })
        .collect()
}

/// A bit flip on each of a random minority of the members (a member whose disk is corrupt may stay
/// out for good).
fn bit_flip_faults(random: &mut ChaCha8Rng, members: &[NodeId], fault_phase_ns: Time) -> Vec<ScheduledFault> {
    let mut victims = members.to_vec();
    shuffle(random, &mut victims);
    victims.truncate(random.random_range(1..=(members.len() - 1) / 2));
    victims
        .into_iter()
        .map(|node| {
            let at = random.random_range(0..fault_phase_ns);
            let down_for_ns = random.random_range(0..2 * SECOND);
            ScheduledFault { at, fault: Fault::FlipBit { node, down_for_ns } }
        })
        .collect()
}

/// Message latency: a slow network (milliseconds, frequent long spikes) or a fast one (microseconds).
fn draw_latency(random: &mut ChaCha8Rng, slow: bool) -> Latency {
    if slow {
        Latency {
            base_ns: random.random_range(1..20) * MILLISECOND,
            jitter_ns: random.random_range(1..50) * MILLISECOND,
            spike_probability: 0.01,
            spike_ns: random.random_range(100..1500) * MILLISECOND,
        }
    } else {
        Latency {
            base_ns: random.random_range(100..1000) * 1_000,
            jitter_ns: random.random_range(10..500) * 1_000,
            spike_probability: 0.001,
            spike_ns: 50 * MILLISECOND,
        }
    }
}

/// Membership changes come from their own stream, so enabling them leaves the rest of a seed's plan
/// (and what earlier versions of the simulator ran for it) unchanged.
fn membership_faults(
    seed: u64,
    members: &[NodeId],
    fault_phase_ns: Time,
    membership: MembershipChanges,
    membership_percent: u32,
) -> Vec<ScheduledFault> {
    let mut random = ChaCha8Rng::seed_from_u64(seed ^ MEMBERSHIP_STREAM);
    let enabled = match membership {
        MembershipChanges::Always => true,
        MembershipChanges::BySeed => random.random_range(0..100) < membership_percent,
    };
    if !enabled {
        return Vec::new();
    }
    let pick_target = |random: &mut ChaCha8Rng| {
        if random.random_range(0..100) < 35 {
            Target::Leader
        } else {
            Target::Node(members[random.random_range(0..members.len())])
        }
    };
    (0..random.random_range(1..=5))
        .map(|_| {
            let at = random.random_range(0..fault_phase_ns);
            let fault = match random.random_range(0..10) {
                0..3 => Fault::AddMember,
                3..6 => Fault::RemoveMember { target: pick_target(&mut random) },
                _ => Fault::ReplaceMember { target: pick_target(&mut random) },
            };
            ScheduledFault { at, fault }
        })
        .collect()
}

fn shuffle(random: &mut ChaCha8Rng, items: &mut [NodeId]) {
    for i in (1..items.len()).rev() {
        let j = random.random_range(0..=i);
        items.swap(i, j);
    }
}

fn random_subset(random: &mut ChaCha8Rng, members: &[NodeId], min: usize, max: usize) -> Vec<NodeId> {
    let mut shuffled = members.to_vec();
    shuffle(random, &mut shuffled);
    let size = random.random_range(min..=max.max(min));
    shuffled.truncate(size);
    shuffled.sort_unstable();
    shuffled
}

/// A time as seconds with milliseconds (`12.345s`).
pub fn seconds(time: Time) -> String {
    format!("{}.{:03}s", time / SECOND, (time % SECOND) / MILLISECOND)
}

impl fmt::Display for Plan {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(out, "plan for seed {}:", self.seed)?;
        if self.mix != 0 {
            writeln!(out, "  fault {}", FaultMix::new(self.mix).describe())?;
        }
        writeln!(
            out,
            "  cluster: {} nodes, {} clients on {} keys; fault phase {}, liveness window {}",
            self.nodes,
            self.clients,
            self.keys,
            seconds(self.fault_phase_ns),
            seconds(self.liveness_window_ns)
        )?;
        writeln!(
            out,
            "  network: latency {}us + exp({}us), spikes {}% of {}; loss {:.0}%, duplication {:.0}%",
            self.latency.base_ns / 1000,
            self.latency.jitter_ns / 1000,
            self.latency.spike_probability * 100.0,
            seconds(self.latency.spike_ns),
            self.loss_probability * 100.0,
            self.duplicate_probability * 100.0
        )?;
        if self.duplicate_proposals {
            writeln!(out, "  forwarded proposals may be duplicated and reordered too")?;
        }
        writeln!(out, "  clocks: drift ppm {:?}, skew ns {:?}", self.drift_ppm, self.skew_ns)?;
        writeln!(
            out,
            "  disk sync {}us; client timeout {}, think {}; mix: {}% quorum gets, {}% plain gets{}",
            self.sync_latency_ns / 1000,
            seconds(self.client_timeout_ns),
            seconds(self.think_time_ns),
            self.quorum_get_percent,
            self.plain_get_percent,
            if self.linearizable_reads { " (linearizable reads)" } else { "" }
        )?;
        writeln!(
            out,
            "  raft: election tick {}, heartbeat tick {}, snapshot count {}, max message bytes {}{}",
            self.election_ticks,
            self.heartbeat_ticks,
            self.snapshot_count,
            self.max_message_bytes,
            self.planted_bug.as_ref().map(|bug| format!(", planted bug {bug}")).unwrap_or_default()
        )?;
        if self.ttl_per_mille > 0 {
            writeln!(
                out,
                "  ttl: {} per thousand operations set key k{} with a TTL of 1 to {}s",
                self.ttl_per_mille, self.keys, self.max_ttl_seconds
            )?;
        }
        if self.watch_percent > 0 {
            writeln!(
                out,
                "  watches: {}% of operations, given up after {}",
                self.watch_percent,
                seconds(self.watch_timeout_ns)
            )?;
        }
        if self.v3_percent > 0 {
            writeln!(out, "  v3: {}% of operations on the v3 keyspace", self.v3_percent)?;
        }
        writeln!(out, "  faults ({}):", self.faults.len())?;
        for fault in &self.faults {
            writeln!(out, "    at {:>9}: {:?}", seconds(fault.at), fault.fault)?;
        }
        Ok(())
    }
}
