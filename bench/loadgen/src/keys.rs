//! What the load reads and writes: key names, values (optionally stamped with their write time), and the
//! seeded random numbers that pick keys.

use std::time::Instant;

/// Digits of the nanosecond timestamp a `watch` write puts at the start of its value.
pub const TIMESTAMP_DIGITS: usize = 20;

/// Names keys `<prefix><index zero-padded to size>`.
#[derive(Clone, Debug)]
pub struct KeySpace {
    prefix: String,
    size_bytes: usize,
    count: u64,
}

impl KeySpace {
    pub fn new(prefix: &str, size_bytes: usize, count: u64) -> KeySpace {
        assert!(count > 0, "a key space has keys");
        assert!(
            (count - 1).to_string().len() <= size_bytes,
            "{count} keys do not fit in {size_bytes} digits"
        );
        KeySpace { prefix: prefix.to_string(), size_bytes, count }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The key of index `index` (below `count`).
    pub fn name(&self, index: u64) -> String {
        assert!(index < self.count, "key index {index} beyond {}", self.count);
        format!("{}{:0width$}", self.prefix, index, width = self.size_bytes)
    }

    /// Bytes of every key (prefix included).
    pub fn key_bytes(&self) -> usize {
        self.prefix.len() + self.size_bytes
    }
}

/// A value of `size_bytes` URL- and form-safe bytes.
pub fn plain_value(size_bytes: usize) -> String {
    "v".repeat(size_bytes)
}

/// A value of `size_bytes` bytes starting with the nanoseconds from `origin` to now, so a watcher in
/// this process can tell how long the write took to reach it.
pub fn stamped_value(origin: Instant, size_bytes: usize) -> String {
    assert!(size_bytes >= TIMESTAMP_DIGITS, "a stamped value holds {TIMESTAMP_DIGITS} digits");
    let nanoseconds = origin.elapsed().as_nanos();
    let mut value = format!("{nanoseconds:0width$}", width = TIMESTAMP_DIGITS);
    value.push_str(&"v".repeat(size_bytes - TIMESTAMP_DIGITS));
    debug_assert_eq!(value.len(), size_bytes);
    value
}

/// The write time (nanoseconds from the origin) at the start of a stamped value, if it has one.
pub fn stamp_of(value: &[u8]) -> Option<u64> {
    let digits = value.get(..TIMESTAMP_DIGITS)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A small seeded generator (splitmix64): reproducible key choices without a dependency.
#[derive(Clone, Debug)]
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64, stream: u64) -> Random {
        Random(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    /// A number in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "an empty range");
        self.next_u64() % bound
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_zero_padded_to_their_size_behind_the_prefix() {
        let keys = KeySpace::new("bench/", 8, 1000);
        assert_eq!(keys.name(0), "bench/00000000");
        assert_eq!(keys.name(999), "bench/00000999");
        assert_eq!(keys.key_bytes(), 14);
    }

    #[test]
    fn a_stamped_value_has_its_size_and_gives_its_stamp_back() {
        let origin = Instant::now();
        let value = stamped_value(origin, 64);
        assert_eq!(value.len(), 64);
        let stamp = stamp_of(value.as_bytes()).expect("a stamp");
        assert!(stamp <= origin.elapsed().as_nanos() as u64);
        assert_eq!(stamp_of(plain_value(64).as_bytes()), None);
    }

    #[test]
    fn the_random_stream_is_reproducible_and_in_range() {
        let mut first = Random::new(7, 3);
        let mut second = Random::new(7, 3);
        for _ in 0..1000 {
            let number = first.below(10);
            assert_eq!(number, second.below(10));
            assert!(number < 10);
            let unit = first.unit();
            assert_eq!(unit, second.unit());
            assert!((0.0..1.0).contains(&unit));
        }
    }
}
