//! The run's shared counters and the progress line they feed on stderr, once a second.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Operations finished and failed so far, over all clients.
#[derive(Default)]
pub struct Counters {
    pub completed: AtomicU64,
    pub errors: AtomicU64,
    /// The first error's message, shown once.
    first_error: std::sync::Mutex<Option<String>>,
}

impl Counters {
    pub fn succeeded(&self) {
        self.completed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn failed(&self, message: String) {
        self.completed.fetch_add(1, Ordering::Relaxed);
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().expect("first error lock");
        if first.is_none() {
            eprintln!("concord-bench: first error: {message}");
            *first = Some(message);
        }
    }

    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().expect("first error lock").clone()
    }
}

/// Prints `label: N ops, R/s (last second), E errors` on one rewritten stderr line until `done` is set.
pub async fn report_progress(label: String, counters: Arc<Counters>, done: Arc<AtomicBool>) {
    let start = Instant::now();
    let mut previous = 0;
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.tick().await;
    while !done.load(Ordering::Relaxed) {
        interval.tick().await;
        let completed = counters.completed.load(Ordering::Relaxed);
        let errors = counters.errors.load(Ordering::Relaxed);
        eprint!(
            "\r{label} {:>6.1}s {completed:>10} ops {:>9} ops/s {errors} errors   ",
            start.elapsed().as_secs_f64(),
            completed - previous
        );
        let _ = std::io::stderr().flush();
        previous = completed;
    }
    eprintln!();
}
