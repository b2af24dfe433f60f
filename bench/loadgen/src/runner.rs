//! Drives a request/response workload: `clients` tasks, each with one request in flight, take request
//! numbers from a shared counter until the count is reached or the duration is over, optionally paced
//! to a total rate; each records its latencies, merged at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::client::Handle;
use crate::keys::Random;
use crate::latency::Latencies;
use crate::operations::Maker;
use crate::progress::{Counters, report_progress};

/// When a run stops and how fast it may go.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    pub rate: Option<u64>,
}

/// What a run measured.
pub struct Outcome {
    pub latencies: Latencies,
    pub operations: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub first_error: Option<String>,
}

/// The state every client of one run shares.
struct Shared {
    plan: Plan,
    start: Instant,
    next_index: AtomicU64,
    counters: Arc<Counters>,
    maker: Maker,
}

/// Runs `maker`'s operations through `handles` (one client each) according to `plan`.
pub async fn run(
    handles: Vec<Handle>,
    maker: Maker,
    plan: Plan,
    seed: u64,
    progress: Option<String>,
) -> Outcome {
    assert!(plan.count.is_some() || plan.duration.is_some(), "a run is bounded by a count or a duration");
    assert!(!handles.is_empty(), "a run has clients");
    let counters = Arc::new(Counters::default());
    let shared =
        Arc::new(Shared { plan, start: Instant::now(), next_index: AtomicU64::new(0), counters, maker });
    let done = Arc::new(AtomicBool::new(false));
    let progress_task =
        progress.map(|label| tokio::spawn(report_progress(label, shared.counters.clone(), done.clone())));
    let tasks: Vec<_> = handles
        .into_iter()
        .enumerate()
        .map(|(number, handle)| {
            tokio::spawn(client(shared.clone(), handle, Random::new(seed, number as u64)))
        })
        .collect();
    let mut latencies = Latencies::default();
    for task in tasks {
        latencies.merge(&task.await.expect("a client task does not panic"));
    }
    let elapsed = shared.start.elapsed();
    done.store(true, Ordering::Relaxed);
    if let Some(task) = progress_task {
        let _ = task.await;
    }
    let counters = &shared.counters;
    let operations = counters.completed.load(Ordering::Relaxed);
    let errors = counters.errors.load(Ordering::Relaxed);
    debug_assert_eq!(latencies.count(), operations - errors, "one sample per successful operation");
    Outcome { latencies, operations, errors, elapsed, first_error: counters.first_error() }
}

/// One client: claims request numbers and executes them one at a time until the plan is done.
async fn client(shared: Arc<Shared>, handle: Handle, mut random: Random) -> Latencies {
    let mut latencies = Latencies::default();
    let deadline = shared.plan.duration.map(|duration| shared.start + duration);
    // Bounded by the plan: the count caps the request numbers, the deadline the time.
    loop {
        let index = shared.next_index.fetch_add(1, Ordering::Relaxed);
        if shared.plan.count.is_some_and(|count| index >= count) {
            break;
        }
        if let Some(rate) = shared.plan.rate {
            let due = shared.start + Duration::from_secs_f64(index as f64 / rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            break;
        }
        let operation = shared.maker.operation(index, &mut random);
        let began = Instant::now();
        match handle.execute(&operation).await {
            Ok(()) => {
                latencies.record(began.elapsed());
                shared.counters.succeeded();
            }
            Err(message) => shared.counters.failed(message),
        }
    }
    latencies
}
