//! The nemesis: injects one fault at a time into the chaos cluster, holds it, heals everything, lets
//! the cluster breathe, and repeats until its deadline. Faults: kill -9 (leader or follower) and
//! restart, SIGSTOP/SIGCONT pauses longer than the election timeout, isolation of a member, one-way
//! partitions (the leader cannot send), cut links (connections dropped and refused), slow links, and
//! leader transfers (`etcdctl move-leader`, when etcdctl is installed).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::cluster::ChaosCluster;
use super::proxy::LinkFault;
use super::random::Random;

/// Every kind of fault, by its name in reports.
pub const FAULT_KINDS: [&str; 9] = [
    "kill-leader",
    "kill-follower",
    "pause-leader",
    "pause-follower",
    "isolate-leader",
    "one-way-leader",
    "cut-links-follower",
    "slow-links",
    "transfer-leader",
];

/// The most faults one run injects (bounds the loop).
const MAX_FAULTS: u64 = 100_000;

/// Faults injected so far, by kind.
pub type FaultCounts = BTreeMap<&'static str, u64>;

/// Injects faults into `cluster` until `deadline`; returns how many of each kind, and leaves the
/// cluster healed.
pub fn run_nemesis(
    cluster: &mut ChaosCluster,
    deadline: Instant,
    random: &mut Random,
    verbose: bool,
) -> FaultCounts {
    let transfers = etcdctl_present();
    let mut counts = FaultCounts::new();
    for _ in 0..MAX_FAULTS {
        if Instant::now() + Duration::from_secs(2) >= deadline {
            break;
        }
        let kinds = if transfers { FAULT_KINDS.len() } else { FAULT_KINDS.len() - 1 };
        let kind = FAULT_KINDS[random.below(kinds as u64) as usize];
        let hold = Duration::from_millis(random.between(2_500, 5_000));
        if inject(cluster, kind, random) {
            *counts.entry(kind).or_default() += 1;
            if verbose {
                eprintln!("nemesis: {kind} for {hold:?}");
            }
            std::thread::sleep(hold.min(deadline.saturating_duration_since(Instant::now())));
        }
        cluster.heal();
        std::thread::sleep(Duration::from_millis(random.between(1_000, 3_000)));
    }
    cluster.heal();
    counts
}

/// Injects one fault of `kind`; false when it could not (no agreed leader to aim at).
fn inject(cluster: &mut ChaosCluster, kind: &str, random: &mut Random) -> bool {
    let size = cluster.members.len();
    let Some(leader) = cluster.agreed_leader() else { return false };
    let follower = (leader + 1 + random.below(size as u64 - 1) as usize) % size;
    assert_ne!(leader, follower);
    match kind {
        "kill-leader" | "kill-follower" => {
            let victim = if kind == "kill-leader" { leader } else { follower };
            cluster.kill(victim);
            std::thread::sleep(Duration::from_millis(random.between(500, 3_000)));
            cluster.restart(victim);
        }
        "pause-leader" => cluster.pause(leader),
        "pause-follower" => cluster.pause(follower),
        "isolate-leader" => isolate(cluster, leader, LinkFault::Blackhole),
        "one-way-leader" => {
            for other in (0..size).filter(|other| *other != leader) {
                cluster.faults.set(leader, other, LinkFault::Blackhole);
            }
        }
        "cut-links-follower" => isolate(cluster, follower, LinkFault::Drop),
        "slow-links" => {
            let delay_ms = random.between(50, 400);
            for (source, destination) in (0..size).flat_map(|s| (0..size).map(move |d| (s, d))) {
                if source != destination {
                    cluster.faults.set(source, destination, LinkFault::Delay { delay_ms });
                }
            }
        }
        "transfer-leader" => return transfer_leadership(cluster, leader, follower),
        other => panic!("unknown fault kind {other}"),
    }
    true
}

/// Cuts `member` off from every other member, both directions.
fn isolate(cluster: &ChaosCluster, member: usize, fault: LinkFault) {
    cluster.faults.isolate(member, fault);
    for other in (0..cluster.members.len()).filter(|other| *other != member) {
        cluster.faults.set(member, other, fault);
    }
}

/// Asks the leader to hand leadership to `target` (etcd's v3 MoveLeader).
fn transfer_leadership(cluster: &ChaosCluster, leader: usize, target: usize) -> bool {
    let target_url = cluster.members[target].spec.client_url();
    let Some(stats) = crate::self_stats(&target_url) else { return false };
    let leader_url = cluster.members[leader].spec.client_url();
    let (code, _, stderr) = crate::etcdctl_v3(&leader_url, &["move-leader", &stats.id]);
    if code != 0 {
        eprintln!("nemesis: move-leader to {} failed: {stderr}", stats.id);
    }
    code == 0
}

fn etcdctl_present() -> bool {
    std::process::Command::new("etcdctl")
        .arg("version")
        .env("ETCDCTL_API", "3")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
