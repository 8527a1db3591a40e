//! Reconnect delays: exponential backoff with full jitter.
//!
//! The ceiling doubles with each consecutive failure, from `initial` up to `max`; the delay is
//! drawn uniformly from `[0, ceiling]` ("full jitter", as in the AWS architecture note). A
//! thousand cameras that die together therefore come back spread over the ceiling instead of
//! in lockstep, which would hammer a recovering NVR or switch.

use std::time::Duration;

use rand::Rng;

/// How a delay is drawn below the ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// Uniform in `[0, ceiling]`: best spread, may retry almost at once.
    #[default]
    Full,
    /// Uniform in `[ceiling / 2, ceiling]`: spread, yet never shorter than half the ceiling
    /// (for failures that must not be retried quickly, such as a wrong password that a
    /// camera answers by locking the account).
    Equal,
}

/// Backoff state for one camera.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
    jitter: Jitter,
}

impl Backoff {
    /// A backoff whose first ceiling is `initial`, capped at `max`, with full jitter.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            failures: 0,
            jitter: Jitter::Full,
        }
    }

    /// The same backoff with another jitter mode.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The current ceiling (before jitter).
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(20)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// Records one more failure and returns how long to wait before the next attempt.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let u = rng.r#gen::<f64>();
        match self.jitter {
            Jitter::Full => ceiling.mul_f64(u),
            Jitter::Equal => ceiling.mul_f64(0.5 + 0.5 * u),
        }
    }

    /// Forgets past failures (call when a session has proved healthy).
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ceiling_doubles_then_caps() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let ceilings: Vec<_> = (0..7)
            .map(|_| {
                let c = b.ceiling();
                let d = b.next_delay(&mut rng);
                assert!(d <= c);
                c.as_secs()
            })
            .collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 30, 30]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_secs(1));
    }

    #[test]
    fn full_jitter_spreads_a_thundering_herd() {
        // 1,000 cameras fail at once with the same history: their delays must spread over the
        // whole ceiling, not bunch up.
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut buckets = [0u32; 10];
        for _ in 0..1000 {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
            for _ in 0..3 {
                b.next_delay(&mut rng);
            }
            let d = b.next_delay(&mut rng); // ceiling 8 s
            buckets[((d.as_secs_f64() / 0.8) as usize).min(9)] += 1;
        }
        for (i, n) in buckets.iter().enumerate() {
            assert!((60..=140).contains(n), "bucket {i} holds {n}: {buckets:?}");
        }
    }

    #[test]
    fn equal_jitter_never_goes_below_half_the_ceiling() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut b = Backoff::new(Duration::from_secs(120), Duration::from_secs(1800))
            .with_jitter(Jitter::Equal);
        for n in 0..12 {
            let ceiling = b.ceiling();
            let d = b.next_delay(&mut rng);
            assert!(
                d >= ceiling / 2 && d <= ceiling,
                "failure {n}: {d:?} of {ceiling:?}"
            );
        }
        assert_eq!(b.ceiling(), Duration::from_secs(1800));
    }
}
