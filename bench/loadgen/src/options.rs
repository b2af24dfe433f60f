//! The command line of `concord-bench`: what to run, against what, for how long, and how to print it.

use std::time::Duration;

use clap::{Parser, ValueEnum};

/// The workloads `concord-bench` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Writes of `--value-size-bytes` values to the keys.
    Put,
    /// Plain reads of keys written beforehand (the prefill).
    Get,
    /// Linearizable reads: v2 `?quorum=true`, v3 a serializable=false range (the default of v3).
    QuorumGet,
    /// Reads with probability `--read-ratio`, writes otherwise.
    Mixed,
    /// v3 only: a transaction comparing the key's mod revision and putting the value.
    Txn,
    /// `--watchers` watchers spread over the keys, writers writing to them; latency is the time from a
    /// write's start to each watcher receiving its event.
    Watch,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::Get => "get",
            Workload::QuorumGet => "quorum-get",
            Workload::Mixed => "mixed",
            Workload::Txn => "txn",
            Workload::Watch => "watch",
        }
    }

    /// Whether the keys must exist before the measured run starts.
    pub fn reads_existing_keys(self) -> bool {
        matches!(self, Workload::Get | Workload::QuorumGet | Workload::Mixed)
    }
}

/// Which API the load speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// etcd's v2 keys API over HTTP/1.1 (one request at a time per connection).
    V2,
    /// etcd's v3 gRPC API over HTTP/2 (clients multiplexed over the connections).
    V3,
}

/// `concord-bench WORKLOAD [options]`.
#[derive(Clone, Debug, Parser)]
#[command(name = "concord-bench", version, about = "Load generator for Concord and etcd (v2 HTTP, v3 gRPC)")]
pub struct Options {
    /// What to run.
    #[arg(value_enum)]
    pub workload: Workload,
    /// Client URLs, comma-separated; connection i goes to endpoint i modulo their count.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:2379")]
    pub endpoints: Vec<String>,
    /// The API spoken.
    #[arg(long, value_enum, default_value = "v2")]
    pub protocol: Protocol,
    /// TCP connections (v2: each carries one request at a time; v3: HTTP/2 channels).
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Concurrent clients, each with one request in flight (client i uses connection i modulo
    /// `--connections`). For `watch`, the number of writers.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Distinct keys: operation n uses key n modulo this (or a random one with `--random-keys`).
    #[arg(long, default_value_t = 1000)]
    pub key_count: u64,
    /// Bytes of a key's name after `--key-prefix` (the key index, zero-padded).
    #[arg(long, default_value_t = 8)]
    pub key_size_bytes: usize,
    /// Prefix of every key (v2: a directory under /v2/keys/).
    #[arg(long, default_value = "bench/")]
    pub key_prefix: String,
    /// Bytes of every written value.
    #[arg(long, default_value_t = 64)]
    pub value_size_bytes: usize,
    /// Keys drawn at random (seeded by `--seed`) instead of sequentially.
    #[arg(long)]
    pub random_keys: bool,
    /// Seed of the random key choice and of `mixed`'s read/write draw.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop after this many operations (writes, for `watch`).
    #[arg(long, conflicts_with = "duration_seconds")]
    pub count: Option<u64>,
    /// Stop after this many seconds (the default, 10 s, when neither this nor `--count` is given).
    #[arg(long)]
    pub duration_seconds: Option<f64>,
    /// At most this many operations per second, over all clients (unbounded by default).
    #[arg(long)]
    pub rate: Option<u64>,
    /// `mixed`: the probability of a read.
    #[arg(long, default_value_t = 0.9)]
    pub read_ratio: f64,
    /// `watch`: how many watchers (spread over the keys: watcher i watches key i modulo `--key-count`).
    #[arg(long, default_value_t = 100)]
    pub watchers: usize,
    /// `watch` (v3): watch streams the watchers are spread over.
    #[arg(long, default_value_t = 16)]
    pub watch_streams: usize,
    /// `watch`: seconds to wait, after the last write, for every event to be delivered.
    #[arg(long, default_value_t = 10.0)]
    pub drain_seconds: f64,
    /// Skip writing the keys before a read workload.
    #[arg(long)]
    pub no_prefill: bool,
    /// The server's process id: its resident set size is reported before and after the run.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Print the result as one JSON object on stdout (the progress line still goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// The default length of a run given neither a count nor a duration.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// The most clients, connections or watchers one run may have (each holds a socket).
pub const MAX_CONCURRENCY: usize = 100_000;

impl Options {
    /// Checks the combinations clap cannot; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.endpoints.is_empty() || self.endpoints.iter().any(|endpoint| endpoint.is_empty()) {
            return Err("--endpoints: at least one URL".into());
        }
        for (name, value) in
            [("--connections", self.connections), ("--clients", self.clients), ("--watchers", self.watchers)]
        {
            if value == 0 || value > MAX_CONCURRENCY {
                return Err(format!("{name} must be in 1..={MAX_CONCURRENCY}"));
            }
        }
        if self.watch_streams == 0 || self.watch_streams > MAX_CONCURRENCY {
            return Err(format!("--watch-streams must be in 1..={MAX_CONCURRENCY}"));
        }
        if self.key_count == 0 {
            return Err("--key-count must be at least 1".into());
        }
        let digits = (self.key_count - 1).to_string().len();
        if self.key_size_bytes < digits {
            return Err(format!(
                "--key-size-bytes {} cannot number {} keys",
                self.key_size_bytes, self.key_count
            ));
        }
        if !(0.0..=1.0).contains(&self.read_ratio) {
            return Err("--read-ratio must be between 0 and 1".into());
        }
        if self.workload == Workload::Txn && self.protocol == Protocol::V2 {
            return Err("txn needs --protocol v3".into());
        }
        if self.workload == Workload::Watch && self.value_size_bytes < crate::keys::TIMESTAMP_DIGITS {
            return Err(format!("watch needs --value-size-bytes >= {}", crate::keys::TIMESTAMP_DIGITS));
        }
        if self.rate == Some(0) || self.count == Some(0) {
            return Err("--rate and --count must be at least 1".into());
        }
        if self.duration_seconds.is_some_and(|seconds| seconds.is_nan() || seconds <= 0.0) {
            return Err("--duration-seconds must be positive".into());
        }
        Ok(())
    }

    /// How long a run lasts when it is not bounded by a count.
    pub fn duration(&self) -> Option<Duration> {
        match (self.count, self.duration_seconds) {
            (Some(_), _) => None,
            (None, Some(seconds)) => Some(Duration::from_secs_f64(seconds)),
            (None, None) => Some(DEFAULT_DURATION),
        }
    }
}
