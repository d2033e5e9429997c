//! Reconnect pacing: exponential backoff with jitter, and a limiter that keeps a dead link from flooding the
//! journal. Pure (the caller sleeps and logs), so both are unit-tested without a network.

use std::time::Duration;

/// Exponential backoff with "equal jitter": the n-th pause is half of `min(max, initial·2ⁿ)` plus a random
/// part of the other half. The random half spreads a whole store's reconnects after a broker restart (every
/// kiosk would otherwise retry in lock-step); the fixed half keeps a device from spinning.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// Starts at `initial`, never above `max`; `seed` feeds the jitter (any value; 0 is replaced).
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            attempt: 0,
            rng: seed | 1,
        }
    }

    /// A seed from the OS's randomness (std's `RandomState` keys are random per process), so that devices of
    /// a store restarted together still spread their retries.
    pub fn random_seed() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new().build_hasher().finish()
    }

    /// The pause before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(30)).unwrap_or(u32::MAX);
        let ceiling = self.initial.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        let span = (ceiling - half).as_micros() as u64;
        let jitter = if span == 0 { 0 } else { self.next_random() % (span + 1) };
        half + Duration::from_micros(jitter)
    }

    /// A connection succeeded: the next failure starts again from `initial`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// xorshift64*: plenty for jitter, no crate needed.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Lets the first failure through, then at most one line per `every`, telling how many were held back.
/// A broker down for a weekend at 1 retry a minute is 3,000 lines otherwise.
#[derive(Debug, Clone)]
pub struct LogLimiter {
    every: Duration,
    last: Option<Duration>,
    suppressed: u64,
}

impl LogLimiter {
    /// At most one line per `every`.
    pub fn new(every: Duration) -> LogLimiter {
        LogLimiter {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// At monotonic time `now` (any fixed origin): `Some(n)` = log now, mentioning `n` lines held back since
    /// the last one; `None` = stay quiet.
    pub fn allow(&mut self, now: Duration) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_sub(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }

    /// The link is up again: the next failure is logged at once.
    pub fn reset(&mut self) {
        self.last = None;
        self.suppressed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn pauses_double_up_to_the_ceiling_and_always_keep_half_of_it() {
        for seed in [0, 1, 42, u64::MAX] {
            let mut b = Backoff::new(100 * MS, 1000 * MS, seed);
            // Ceilings: 100, 200, 400, 800, 1000, 1000…
            for ceiling in [100u32, 200, 400, 800, 1000, 1000, 1000] {
                let d = b.next_delay();
                assert!(
                    d >= ceiling * MS / 2 && d <= ceiling * MS,
                    "seed {seed}: {d:?} not within [{}, {ceiling}] ms",
                    ceiling / 2
                );
            }
            b.reset();
            assert!(
                b.next_delay() <= 100 * MS,
                "seed {seed}: back to the initial pause after a success"
            );
        }
    }

    #[test]
    fn devices_with_different_seeds_do_not_retry_in_lock_step() {
        let delays = |seed| {
            let mut b = Backoff::new(1000 * MS, 60_000 * MS, seed);
            (0..6).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_ne!(delays(1), delays(2));
        assert_eq!(delays(7), delays(7), "same seed, same pauses (reproducible in tests)");
    }

    #[test]
    fn a_huge_attempt_count_does_not_overflow() {
        let mut b = Backoff::new(500 * MS, 60_000 * MS, 3);
        for _ in 0..200 {
            assert!(b.next_delay() <= 60_000 * MS);
        }
    }

    #[test]
    fn the_log_limiter_lets_one_line_through_per_period_and_counts_the_rest() {
        let mut l = LogLimiter::new(Duration::from_secs(60));
        let s = Duration::from_secs;
        assert_eq!(l.allow(s(0)), Some(0));
        assert_eq!(l.allow(s(1)), None);
        assert_eq!(l.allow(s(59)), None);
        assert_eq!(l.allow(s(60)), Some(2), "two lines held back");
        assert_eq!(l.allow(s(61)), None);
        l.reset();
        assert_eq!(
            l.allow(s(62)),
            Some(0),
            "after a reconnect the next failure is logged at once"
        );
    }
}
