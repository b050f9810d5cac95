//! Shared pieces of the benchmarks: latency statistics and report formatting.
//!
//! Benchmarks report distributions (p50/p99), not means, and compare against a baseline measured
//! in the same run, so results are meaningful on a noisy shared machine.

use std::time::Duration;

/// Latency samples of one scenario.
pub struct Samples {
    pub name: String,
    nanos: Vec<u64>,
}

impl Samples {
    pub fn new(name: impl Into<String>, capacity: usize) -> Self {
        Self {
            name: name.into(),
            nanos: Vec::with_capacity(capacity),
        }
    }

    pub fn push(&mut self, d: Duration) {
        self.nanos.push(d.as_nanos() as u64);
    }

    /// The `q` quantile (0..=1), nearest rank.
    pub fn quantile(&self, q: f64) -> Duration {
        let mut v = self.nanos.clone();
        v.sort_unstable();
        if v.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        Duration::from_nanos(v[rank - 1])
    }

    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nanos.is_empty()
    }

    /// One report line: name, n, p50, p90, p99, max.
    pub fn line(&self) -> String {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        format!(
            "{:<48} n={:<6} p50={:>9.1} µs  p90={:>9.1} µs  p99={:>9.1} µs  max={:>9.1} µs",
            self.name,
            self.len(),
            us(self.quantile(0.50)),
            us(self.quantile(0.90)),
            us(self.quantile(0.99)),
            us(self.quantile(1.0)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let mut s = Samples::new("x", 100);
        for i in 1..=100 {
            s.push(Duration::from_micros(i));
        }
        assert_eq!(s.quantile(0.5), Duration::from_micros(50));
        assert_eq!(s.quantile(0.99), Duration::from_micros(99));
        assert_eq!(s.quantile(1.0), Duration::from_micros(100));
    }
}
