//! Reconnect delays: exponential with jitter, capped. Pure (the random sample and the
//! attempt count are inputs), so the schedule is tested without sleeping.

use std::time::Duration;

#[derive(Debug, Clone)]
/// Exponential reconnect delays with equal jitter, capped.
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// Delays between `min` and `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
            failures: 0,
        }
    }

    /// The link worked: the next drop reconnects at once (a restarting server is the common
    /// case, and biboumi's experience is that an immediate retry usually wins).
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Delay before the next attempt after a failure. `sample` is any uniformly random u64;
    /// the delay is drawn from [d/2, d] where d = min·2^(failures-1), capped at `max`
    /// ("equal jitter": never hammers, never synchronises a fleet of gateways).
    pub fn next_delay(&mut self, sample: u64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let exp = self.failures.saturating_sub(1).min(30);
        let base = self
            .min
            .saturating_mul(1u32 << exp)
            .min(self.max)
            .as_millis() as u64;
        let half = base / 2;
        let jitter = if half == 0 { 0 } else { sample % (half + 1) };
        Duration::from_millis(half + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_millis(30_000));
        // sample u64::MAX % (half+1) is not always the max; use a sample giving the top.
        let top: Vec<u64> = (0..10)
            .map(|_| {
                let d = b.next_delay(0);
                d.as_millis() as u64
            })
            .collect();
        // With sample 0 the delay is exactly half the base.
        assert_eq!(
            top,
            vec![250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000, 15000]
        );
    }

    #[test]
    fn jitter_stays_within_half_to_full() {
        let mut b = Backoff::new(Duration::from_millis(1000), Duration::from_millis(8000));
        for s in [0u64, 1, 499, 500, 501, 12345, u64::MAX] {
            b.reset();
            let d = b.next_delay(s).as_millis();
            assert!((500..=1000).contains(&d), "{d}");
        }
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        for _ in 0..5 {
            b.next_delay(0);
        }
        assert_eq!(b.failures(), 5);
        b.reset();
        assert_eq!(b.next_delay(0), Duration::from_millis(50));
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        for _ in 0..1000 {
            assert!(b.next_delay(u64::MAX) <= Duration::from_secs(10));
        }
    }
}
