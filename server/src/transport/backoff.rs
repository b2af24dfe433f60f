//! How long a writer waits before redialling a peer: exponential backoff with jitter.
//!
//! The delay doubles per failure from `initial` up to `max`, and each wait is drawn in
//! [delay/2, delay], so peers that lost the same member do not redial it in lockstep. The jitter
//! source is a small seeded generator: this is the IO layer, but a seed per peer pair keeps runs
//! reproducible where it costs nothing.

use std::time::Duration;

pub(super) struct Backoff {
    initial: Duration,
    max: Duration,
    /// The next delay before jitter; always within [initial, max] (or `max` if that is smaller).
    current: Duration,
    random_state: u64,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff { initial, max, current: initial.min(max), random_state: seed }
    }

    /// Back to the initial delay, after a success.
    pub fn reset(&mut self) {
        self.current = self.initial.min(self.max);
    }

    /// The wait before the next attempt; doubles the delay for the one after.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.current;
        let half = delay / 2;
        let jitter_nanos = half.as_nanos() as u64;
        let random = self.next_random();
        let jitter = if jitter_nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(random % (jitter_nanos + 1))
        };
        self.current = (self.current * 2).min(self.max);
        let wait = half + jitter;
        assert!(wait <= delay && wait >= half, "jittered wait {wait:?} outside [{half:?}, {delay:?}]");
        wait
    }

    /// SplitMix64.
    fn next_random(&mut self) -> u64 {
        self.random_state = self.random_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.random_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_max_with_jitter_in_the_upper_half_and_reset_after_success() {
        let initial = Duration::from_millis(50);
        let max = Duration::from_secs(1);
        let mut backoff = Backoff::new(initial, max, 7);
        let mut expected = initial;
        for _ in 0..10 {
            let wait = backoff.next_delay();
            assert!(wait >= expected / 2 && wait <= expected, "{wait:?} for a delay of {expected:?}");
            expected = (expected * 2).min(max);
        }
        backoff.reset();
        assert!(backoff.next_delay() <= initial);
    }

    #[test]
    fn the_same_seed_replays_the_same_waits_and_another_seed_does_not() {
        let waits = |seed| {
            let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1), seed);
            (0..8).map(|_| backoff.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(waits(1), waits(1));
        assert_ne!(waits(1), waits(2));
    }
}
