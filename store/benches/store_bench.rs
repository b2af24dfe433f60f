//! Store throughput and memory with 1,000,000 keys, on one core: `cargo bench -p store`.
//! Prints figures; asserts nothing about time.

use std::hint::black_box;
use std::time::Instant;
use store::{Command, Store};

const KEYS: u64 = 1_000_000;
const NOW: i64 = 1_704_164_645_000_000_000;

/// Resident set size in bytes, from /proc/self/statm (0 where unavailable).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|field| field.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn key(number: u64) -> String {
    format!("/bench/key{number:07}")
}

fn value(number: u64) -> String {
    format!("value-{number:010}")
}

/// A fixed pseudo-random permutation-ish walk over the key space (an LCG), so runs are comparable.
fn shuffled(count: u64) -> impl Iterator<Item = u64> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..count).map(move |_| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % KEYS
    })
}

/// This process's CPU time (user + system) in seconds, from /proc/self/stat (clock ticks of 10 ms).
/// The machine is shared: wall-clock rates depend on the neighbours, CPU-time rates much less.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index).and_then(|field| field.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields after the command name: state is 0, utime is 11, stime is 12.
    (ticks(11) + ticks(12)) / 100.0
}

struct Timer {
    wall: Instant,
    cpu: f64,
}

impl Timer {
    fn start() -> Timer {
        Timer { wall: Instant::now(), cpu: cpu_seconds() }
    }
    /// (ops per wall second, ops per CPU second)
    fn rates(&self, count: u64) -> (f64, f64) {
        let cpu = (cpu_seconds() - self.cpu).max(0.01);
        (count as f64 / self.wall.elapsed().as_secs_f64(), count as f64 / cpu)
    }
}

fn main() {
    let mut store = Store::new();

    let commands: Vec<Command> = (0..KEYS)
        .map(|number| Command::Set {
            key: key(number),
            value: value(number),
            dir: false,
            ttl: None,
            refresh: false,
            now: NOW,
        })
        .collect();
    let rss_before = rss_bytes();
    let timer = Timer::start();
    for command in &commands {
        black_box(store.apply(command).expect("set succeeds"));
    }
    let create_rate = timer.rates(KEYS);
    let rss_after = rss_bytes();
    drop(commands);

    let payload_per_key = (key(0).len() - "/bench/".len() + value(0).len()) as f64;
    let bytes_per_key = rss_after.saturating_sub(rss_before) as f64 / KEYS as f64;

    let overwrites: Vec<Command> = shuffled(KEYS)
        .map(|number| Command::Set {
            key: key(number),
            value: value(number + 1),
            dir: false,
            ttl: None,
            refresh: false,
            now: NOW,
        })
        .collect();
    let timer = Timer::start();
    for command in &overwrites {
        black_box(store.apply(command).expect("set succeeds"));
    }
    let overwrite_rate = timer.rates(KEYS);
    drop(overwrites);

    let keys: Vec<String> = shuffled(KEYS).map(key).collect();
    let timer = Timer::start();
    for key in &keys {
        black_box(store.get(key, false, false, NOW).expect("key exists"));
    }
    let get_rate = timer.rates(KEYS);

    let timer = Timer::start();
    for key in &keys {
        black_box(store.get(key, false, false, NOW).expect("key exists").to_json());
    }
    let get_json_rate = timer.rates(KEYS);

    let timer = Timer::start();
    let snapshot = store.snapshot();
    let snapshot_seconds = timer.wall.elapsed().as_secs_f64();
    let timer = Timer::start();
    let restored = Store::restore(&snapshot).expect("restores");
    let restore_seconds = timer.wall.elapsed().as_secs_f64();
    assert_eq!(restored.current_index(), store.current_index());

    println!("store bench: {KEYS} keys like {:?} = {:?}", key(0), value(0));
    let rate = |name: &str, (wall, cpu): (f64, f64), note: &str| {
        println!("  {name:<20} {cpu:>12.0} ops/CPU-s {wall:>12.0} ops/wall-s  {note}");
    };
    rate("set (create)", create_rate, "");
    rate("set (overwrite)", overwrite_rate, "(random order)");
    rate("get", get_rate, "(random order)");
    rate("get + to_json", get_json_rate, "(random order)");
    println!(
        "  load average at end: {}",
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
    println!(
        "  memory               {:>12.1} bytes/key RSS, {:.1} bytes/key overhead beyond the {} bytes of name+value",
        bytes_per_key,
        bytes_per_key - payload_per_key,
        payload_per_key
    );
    println!(
        "  snapshot             {:>12.1} MB in {:.2} s, restore {:.2} s",
        snapshot.len() as f64 / 1e6,
        snapshot_seconds,
        restore_seconds
    );
}
