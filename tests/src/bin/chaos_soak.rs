//! The chaos soak: the same scenario as `tests/tests/chaos.rs` for a long time (`--duration 30m`),
//! printing operations, faults, anomalies and lost writes. Exit status 1 when anything was found.
//! Usage: chaos_soak [--duration 30m|90s|2h] [--seed N] [--history-dir DIR] [--verbose]

use std::path::PathBuf;
use std::time::Duration;

use e2e::chaos::{ChaosConfig, run};

const BASE_PORT: u16 = 42_000;

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let mut config = ChaosConfig::bounded(Duration::from_secs(30 * 60), BASE_PORT);
    let mut position = 0;
    while position < arguments.len() {
        let value = arguments.get(position + 1).cloned().unwrap_or_default();
        match arguments[position].as_str() {
            "--duration" => config.fault_duration = parse_duration(&value),
            "--seed" => config.seed = value.parse().expect("--seed takes a number"),
            "--history-dir" => config.history_dir = Some(PathBuf::from(value)),
            "--verbose" => {
                config.verbose = true;
                position += 1;
                continue;
            }
            other => panic!(
                "unknown argument {other} (usage: chaos_soak [--duration 30m] [--seed N] [--history-dir DIR] [--verbose])"
            ),
        }
        position += 2;
    }
    let report = run(&config);
    println!("{report}");
    std::process::exit(if report.passed() { 0 } else { 1 });
}

/// "90s", "30m", "2h" or plain seconds.
fn parse_duration(text: &str) -> Duration {
    let (number, unit_seconds) = match text.chars().last() {
        Some('s') => (&text[..text.len() - 1], 1),
        Some('m') => (&text[..text.len() - 1], 60),
        Some('h') => (&text[..text.len() - 1], 3600),
        _ => (text, 1),
    };
    let count: u64 = number.parse().unwrap_or_else(|_| panic!("bad duration {text}"));
    Duration::from_secs(count * unit_seconds)
}
