//! The watch fan-out workload: `--watchers` watchers (watcher i on key i modulo `--key-count`), all
//! started from the revision after a marker write, then `--clients` writers putting values stamped with
//! their start time to the keys in order. Each delivered event's latency is the time from its write's
//! start to its arrival at the watcher. v2 watchers are long polls (one connection each, re-armed with
//! `waitIndex` after every event, so none is lost unless it leaves etcd's 1,000-event history); v3
//! watchers share `--watch-streams` streams over the connections.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::client::{self, Handle};
use crate::keys::{KeySpace, stamp_of};
use crate::latency::Latencies;
use crate::operations::Maker;
use crate::options::{Options, Protocol};
use crate::rss::resident_bytes;
use crate::runner::{self, Outcome, Plan};
use crate::{v2, v3};

/// How long all watchers may take to be established.
const ARM_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause of a v2 watcher after a failed poll, so a refusing server is not hammered.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// What the watchers share: their delivery latencies and counts.
#[derive(Default)]
struct Deliveries {
    origin: Option<Instant>,
    latencies: Mutex<Latencies>,
    /// Watchers established (v3: creation confirmed; v2: connected, its first poll about to be sent).
    armed: AtomicU64,
    delivered: AtomicU64,
    /// v2: polls answered 401 `event index cleared` (events lost to the history's bound).
    cleared: AtomicU64,
    errors: AtomicU64,
}

impl Deliveries {
    fn deliver(&self, value: &[u8]) {
        let origin = self.origin.expect("set before watching");
        if let Some(stamp) = stamp_of(value) {
            let now = origin.elapsed().as_nanos() as u64;
            let latency = Duration::from_nanos(now.saturating_sub(stamp));
            self.latencies.lock().expect("latency lock").record(latency);
        }
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the watch workload measured beyond its writers' outcome.
pub struct WatchFigures {
    pub delivery: Latencies,
    pub watchers: usize,
    pub expected_events: u64,
    pub delivered_events: u64,
    pub cleared_polls: u64,
    pub watcher_errors: u64,
    pub rss_before_bytes: Option<u64>,
    pub rss_watching_bytes: Option<u64>,
}

/// Runs the workload; the writers' outcome and the watchers' figures.
pub async fn run(options: &Options, progress: Option<String>) -> Result<(Outcome, WatchFigures), String> {
    let keys = KeySpace::new(&options.key_prefix, options.key_size_bytes, options.key_count);
    let origin = Instant::now();
    let deliveries = Arc::new(Deliveries { origin: Some(origin), ..Default::default() });
    let rss_before_bytes = options.server_pid.and_then(resident_bytes);
    let start = marker_write(options).await?;
    let watchers = start_watchers(options, &keys, start, &deliveries).await?;
    wait_armed(&deliveries, options.watchers).await?;
    // Let the server finish registering the last watchers before its memory is read.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_watching_bytes = options.server_pid.and_then(resident_bytes);
    let handles =
        client::open(options.protocol, &options.endpoints, options.connections, options.clients).await?;
    let plan = Plan { count: options.count, duration: options.duration(), rate: options.rate };
    let writes =
        runner::run(handles, Maker::watch_writer(options, origin), plan, options.seed, progress).await;
    let expected_events = expected_events(writes.operations, options.key_count, options.watchers);
    drain(&deliveries, expected_events, Duration::from_secs_f64(options.drain_seconds)).await;
    for watcher in &watchers {
        watcher.abort();
    }
    for watcher in watchers {
        let _ = watcher.await;
    }
    let delivery = std::mem::take(&mut *deliveries.latencies.lock().expect("latency lock"));
    let figures = WatchFigures {
        delivery,
        watchers: options.watchers,
        expected_events,
        delivered_events: deliveries.delivered.load(Ordering::Relaxed),
        cleared_polls: deliveries.cleared.load(Ordering::Relaxed),
        watcher_errors: deliveries.errors.load(Ordering::Relaxed),
        rss_before_bytes,
        rss_watching_bytes,
    };
    Ok((writes, figures))
}

/// Writes a marker key; the index (v2) or revision (v3) the watchers start after.
async fn marker_write(options: &Options) -> Result<u64, String> {
    let endpoint = &options.endpoints[0];
    let key = format!("{}start", options.key_prefix);
    match options.protocol {
        Protocol::V2 => {
            let answer = v2::Connection::new(endpoint)?.put(&key, "start").await?;
            answer.etcd_index.ok_or_else(|| "the marker write's answer has no X-Etcd-Index".to_string())
        }
        Protocol::V3 => {
            let revision = v3::put(&v3::connect(endpoint).await?, &key, "start").await?;
            u64::try_from(revision).map_err(|_| format!("marker revision {revision}"))
        }
    }
}

/// Events the writes should deliver: write n goes to key n modulo `key_count`, watched by every watcher
/// i with i modulo `key_count` equal to that key.
pub fn expected_events(writes: u64, key_count: u64, watchers: usize) -> u64 {
    assert!(key_count > 0, "keys to write");
    let watchers = watchers as u64;
    let watchers_on = |key: u64| watchers / key_count + u64::from(key < watchers % key_count);
    // A full round of `key_count` writes reaches every watcher once.
    let full_rounds = writes / key_count;
    let partial: u64 = (0..writes % key_count).map(watchers_on).sum();
    full_rounds * watchers + partial
}

async fn start_watchers(
    options: &Options,
    keys: &KeySpace,
    start: u64,
    deliveries: &Arc<Deliveries>,
) -> Result<Vec<JoinHandle<()>>, String> {
    let key_of = |watcher: usize| keys.name(watcher as u64 % keys.count());
    match options.protocol {
        Protocol::V2 => Ok((0..options.watchers)
            .map(|watcher| {
                let endpoint = options.endpoints[watcher % options.endpoints.len()].clone();
                tokio::spawn(v2_watcher(endpoint, key_of(watcher), start + 1, deliveries.clone()))
            })
            .collect()),
        Protocol::V3 => {
            let handles =
                client::open(Protocol::V3, &options.endpoints, options.connections, options.connections)
                    .await?;
            let streams = options.watch_streams.min(options.watchers);
            let mut tasks = Vec::with_capacity(streams);
            for stream in 0..streams {
                let Handle::V3(channel) = &handles[stream % handles.len()] else {
                    unreachable!("v3 handles")
                };
                let stream_keys: Vec<String> =
                    (stream..options.watchers).step_by(streams).map(key_of).collect();
                let revision = i64::try_from(start + 1).expect("a revision fits i64");
                tasks.push(tokio::spawn(v3_stream(
                    channel.clone(),
                    stream_keys,
                    revision,
                    deliveries.clone(),
                )));
            }
            Ok(tasks)
        }
    }
}

/// One v2 long-poll watcher, polling until aborted.
async fn v2_watcher(endpoint: String, key: String, mut index: u64, deliveries: Arc<Deliveries>) {
    let Ok(mut connection) = v2::Connection::new(&endpoint) else {
        deliveries.errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    // Established once connected (the poll follows at once); bounded by the workload's arm timeout.
    while connection.connect().await.is_err() {
        pause_after_error(&deliveries).await;
    }
    deliveries.armed.fetch_add(1, Ordering::Relaxed);
    // Ends when the workload aborts the task.
    loop {
        match connection.wait(&key, index).await {
            Ok(answer) if answer.status.is_success() => match v2::watch_event(&answer.body) {
                Ok((modified_index, value)) => {
                    deliveries.deliver(&value);
                    index = modified_index + 1;
                }
                Err(_) => pause_after_error(&deliveries).await,
            },
            Ok(answer) if answer.status == StatusCode::UNAUTHORIZED && answer.etcd_index.is_some() => {
                deliveries.cleared.fetch_add(1, Ordering::Relaxed);
                index = answer.etcd_index.expect("checked") + 1;
            }
            Ok(_) | Err(_) => pause_after_error(&deliveries).await,
        }
    }
}

async fn pause_after_error(deliveries: &Deliveries) {
    deliveries.errors.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(RETRY_PAUSE).await;
}

/// One v3 watch stream carrying a watcher per key in `keys`, reading events until aborted.
async fn v3_stream(channel: Channel, keys: Vec<String>, start_revision: i64, deliveries: Arc<Deliveries>) {
    let creations = keys.iter().map(|key| v3::create_watch(key, start_revision)).collect();
    let Ok(mut stream) = v3::open_watch_stream(&channel, creations).await else {
        deliveries.errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    // Ends when the stream ends or the workload aborts the task.
    while let Ok(Some(response)) = stream.responses.message().await {
        if response.created {
            deliveries.armed.fetch_add(1, Ordering::Relaxed);
        }
        if response.canceled {
            deliveries.errors.fetch_add(1, Ordering::Relaxed);
        }
        for event in &response.events {
            deliveries.deliver(event.kv.as_ref().map_or(&[][..], |kv| &kv.value));
        }
    }
}

/// Waits until every watcher is established (bounded by `ARM_TIMEOUT`).
async fn wait_armed(deliveries: &Deliveries, watchers: usize) -> Result<(), String> {
    let deadline = Instant::now() + ARM_TIMEOUT;
    while deliveries.armed.load(Ordering::Relaxed) < watchers as u64 {
        if Instant::now() > deadline {
            let armed = deliveries.armed.load(Ordering::Relaxed);
            return Err(format!("only {armed} of {watchers} watchers established in {ARM_TIMEOUT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Waits until `expected` events are delivered or `budget` has passed.
async fn drain(deliveries: &Deliveries, expected: u64, budget: Duration) {
    let deadline = Instant::now() + budget;
    while deliveries.delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::expected_events;

    #[test]
    fn every_write_reaches_the_watchers_of_its_key() {
        // 10 watchers on 4 keys: keys 0 and 1 have 3 watchers, keys 2 and 3 have 2.
        assert_eq!(expected_events(1, 4, 10), 3);
        assert_eq!(expected_events(4, 4, 10), 10);
        assert_eq!(expected_events(6, 4, 10), 16);
        // More keys than watchers: writes to unwatched keys deliver nothing.
        assert_eq!(expected_events(5, 10, 2), 2);
        assert_eq!(expected_events(0, 3, 3), 0);
    }
}
