//! Latency recording: one HdrHistogram per client in microseconds (1 µs to 10 minutes, 3 significant
//! digits), merged at the end into the run's percentiles.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The longest latency recorded exactly; longer ones are recorded as this.
const HIGHEST_MICROSECONDS: u64 = 600_000_000;

/// A latency histogram.
pub struct Latencies(Histogram<u64>);

/// The figures a run reports, in milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies(Histogram::new_with_bounds(1, HIGHEST_MICROSECONDS, 3).expect("valid histogram bounds"))
    }
}

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        let microseconds = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1);
        self.0.saturating_record(microseconds);
    }

    /// Adds another histogram's samples to this one.
    pub fn merge(&mut self, other: &Latencies) {
        self.0.add(&other.0).expect("histograms of the same bounds merge");
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    pub fn percentiles(&self) -> Percentiles {
        let at = |quantile: f64| self.0.value_at_quantile(quantile) as f64 / 1000.0;
        Percentiles {
            count: self.0.len(),
            mean_ms: self.0.mean() / 1000.0,
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            max_ms: self.0.max() as f64 / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_every_merged_sample() {
        let mut first = Latencies::default();
        let mut second = Latencies::default();
        for milliseconds in 1..=50 {
            first.record(Duration::from_millis(milliseconds));
        }
        for milliseconds in 51..=100 {
            second.record(Duration::from_millis(milliseconds));
        }
        first.merge(&second);
        let figures = first.percentiles();
        assert_eq!(figures.count, 100);
        assert!((figures.p50_ms - 50.0).abs() < 0.1, "{figures:?}");
        assert!((figures.p99_ms - 99.0).abs() < 0.1, "{figures:?}");
        assert!((figures.max_ms - 100.0).abs() < 0.1, "{figures:?}");
    }
}
