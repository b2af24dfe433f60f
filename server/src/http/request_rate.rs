//! The request rate bound of one client connection (`--max-connection-requests-per-second`): a
//! token bucket holding at most one second's worth of requests, refilled continuously. A request
//! that finds it empty is refused (429, or gRPC `ResourceExhausted`) instead of queued, so one
//! flooding connection cannot take the node's time from the others.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One connection's bucket. Shared by the requests of an HTTP/2 connection, hence the lock.
pub(super) struct RequestRate {
    /// Requests per second allowed; 0 means no bound.
    per_second: u64,
    state: Mutex<Bucket>,
}

struct Bucket {
    /// Requests that may start now, at most `per_second`.
    tokens: f64,
    refilled_at: Instant,
}

impl RequestRate {
    /// A full bucket of `per_second` requests (0: every request is admitted).
    pub(super) fn new(per_second: u64) -> RequestRate {
        RequestRate {
            per_second,
            state: Mutex::new(Bucket { tokens: per_second as f64, refilled_at: Instant::now() }),
        }
    }

    /// Takes one request's token; false when the connection is over its rate.
    pub(super) fn admit(&self) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let mut bucket = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let elapsed: Duration = now.saturating_duration_since(bucket.refilled_at);
        let capacity = self.per_second as f64;
        bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * capacity).min(capacity);
        bucket.refilled_at = now;
        debug_assert!(bucket.tokens >= 0.0 && bucket.tokens <= capacity, "tokens stay within the bucket");
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_rate_is_refused_and_an_unbounded_rate_admits_everything() {
        let rate = RequestRate::new(5);
        let admitted = (0..50).filter(|_| rate.admit()).count();
        // Five from the full bucket, perhaps one more refilled while the loop ran.
        assert!((5..=6).contains(&admitted), "admitted {admitted}");
        let unbounded = RequestRate::new(0);
        assert!((0..10_000).all(|_| unbounded.admit()));
    }

    #[test]
    fn the_bucket_refills_with_time() {
        let rate = RequestRate::new(1000);
        for _ in 0..2000 {
            if !rate.admit() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
        assert!(rate.admit(), "a few milliseconds refill a token at 1000 per second");
    }
}
