//! Pacing writes against AWS's token buckets once AWS has said "too fast".
//!
//! AWS meters its APIs by token buckets per account (and per region for EC2): StopInstances by
//! resources, a bucket of 1,000 instance tokens refilled at 20 a second; IAM by requests. The
//! guard does not know how full a bucket is — other callers in the account share it — so it
//! sends at full speed until the first refusal (`RequestLimitExceeded`, `Throttling`). From then
//! on it assumes the bucket empty at each refusal and spends no more than the configured refill
//! rate allows: a call of `n` tokens waits until `n` tokens have refilled. It never sends more
//! than the bucket allows after a refusal, provided the configured rate is not above the real
//! one; when it is (a refusal while paced), each further refusal halves the batch and backs off
//! with full jitter (`backoff::delay`), so a misjudged rate costs time, never a lost change.
//!
//! Pure: time is the caller's monotonic `now` (time since the pacer began), randomness its `unit`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::backoff;

/// Refusals in a row after which a call is given up and reported.
pub const MAX_REFUSALS_IN_ROW: u32 = 8;

/// Backoff after refusals while paced: from 1 s, doubling, at most 20 s (the SDK's own cap).
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_CAP: Duration = Duration::from_secs(20);

/// What being throttled cost one halt or lockout, in its report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Throttling {
    /// Calls AWS refused as too fast (each was retried).
    pub refusals: u32,
    /// Time spent waiting for AWS's bucket to refill, in seconds.
    pub waited_seconds: f64,
}

impl Throttling {
    pub fn add(&mut self, other: Throttling) {
        self.refusals += other.refusals;
        self.waited_seconds += other.waited_seconds;
    }

    pub fn is_none(&self) -> bool {
        self.refusals == 0
    }
}

/// The model of one bucket: full speed until refused, then paced at `rate` tokens a second.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate: f64,
    /// The largest call, in tokens: shrinks while AWS keeps refusing.
    batch: usize,
    /// `None` until the first refusal.
    paced: Option<Paced>,
    in_row: u32,
    cost: Throttling,
}

#[derive(Debug, Clone, Copy)]
struct Paced {
    /// Tokens the guard may spend, as of `at`.
    tokens: f64,
    at: Duration,
}

impl Pacer {
    /// `rate`: the bucket's refill rate, tokens a second (> 0); `batch`: the largest call.
    pub fn new(rate: f64, batch: usize) -> Pacer {
        Pacer {
            rate: if rate > 0.0 { rate } else { 1.0 },
            batch: batch.max(1),
            paced: None,
            in_row: 0,
            cost: Throttling::default(),
        }
    }

    /// The largest call to make now, in tokens.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// How long to wait before a call of `n` tokens at `now`: zero until the first refusal.
    pub fn wait(&self, n: usize, now: Duration) -> Duration {
        let Some(p) = self.paced else {
            return Duration::ZERO;
        };
        let missing = n as f64 - self.have(p, now);
        if missing <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(missing / self.rate)
        }
    }

    /// A call of `n` tokens sent at `now` was accepted (after waiting `waited`), or refused for
    /// another reason than throttling: AWS counts it against the bucket all the same.
    pub fn accepted(&mut self, n: usize, now: Duration, waited: Duration) {
        self.in_row = 0;
        self.cost.waited_seconds += waited.as_secs_f64();
        if let Some(p) = self.paced {
            self.paced = Some(Paced {
                tokens: (self.have(p, now) - n as f64).max(0.0),
                at: now,
            });
        }
    }

    /// Tokens refilled by `now`: never more than one call's worth is banked, since the bucket's
    /// size is not known (it may be smaller than a second's refill).
    fn have(&self, p: Paced, now: Duration) -> f64 {
        let refilled = p.tokens + self.rate * now.saturating_sub(p.at).as_secs_f64();
        refilled.min(self.batch as f64)
    }

    /// A call was refused as too fast at `now` (after waiting `waited`); `unit` is a random
    /// number in `[0, 1)`. Returns how long to wait before trying again, or `None` when it has
    /// been refused `MAX_REFUSALS_IN_ROW` times in a row and should be given up.
    pub fn refused(&mut self, now: Duration, waited: Duration, unit: f64) -> Option<Duration> {
        self.cost.refusals += 1;
        self.cost.waited_seconds += waited.as_secs_f64();
        self.in_row += 1;
        if self.in_row >= MAX_REFUSALS_IN_ROW {
            return None;
        }
        let second = (self.rate.ceil() as usize).max(1);
        self.batch = match self.paced {
            // First refusal: a call at most a second's worth of the bucket.
            None => self.batch.min(second),
            // Refused while paced: the rate or the size was misjudged; halve.
            Some(_) => (self.batch / 2).max(1),
        };
        self.paced = Some(Paced {
            tokens: 0.0,
            at: now,
        });
        let refill = self.wait(self.batch, now);
        let jittered = if self.in_row > 1 {
            backoff::delay(self.in_row - 1, BACKOFF_BASE, BACKOFF_CAP, unit)
        } else {
            Duration::ZERO
        };
        Some(refill.max(jittered))
    }

    /// What throttling has cost so far.
    pub fn cost(&self) -> Throttling {
        self.cost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: f64) -> Duration {
        Duration::from_secs_f64(x)
    }

    #[test]
    fn full_speed_until_refused_then_no_more_than_the_rate() {
        let mut p = Pacer::new(20.0, 100);
        assert_eq!(p.batch(), 100);
        assert_eq!(p.wait(100, s(0.0)), Duration::ZERO);
        p.accepted(100, s(0.0), Duration::ZERO);
        assert_eq!(
            p.wait(100, s(0.01)),
            Duration::ZERO,
            "unpaced before a refusal"
        );
        let retry = p.refused(s(0.01), Duration::ZERO, 0.5).unwrap();
        assert_eq!(p.batch(), 20, "a second's worth of the bucket");
        assert_eq!(retry, s(1.0), "20 tokens refill in 1 s");
        // Spent exactly as they refill: 20 tokens a second, never ahead.
        let mut now = 0.01 + 1.0;
        for _ in 0..10 {
            assert!(p.wait(20, s(now)) <= s(1e-9));
            p.accepted(20, s(now), s(1.0));
            let w = p.wait(20, s(now));
            assert!((w.as_secs_f64() - 1.0).abs() < 1e-9, "{w:?}");
            now += 1.0;
        }
        let cost = p.cost();
        assert_eq!(cost.refusals, 1);
        assert!((cost.waited_seconds - 10.0).abs() < 1e-6);
    }

    #[test]
    fn refusals_while_paced_halve_the_batch_and_back_off_with_jitter() {
        let mut p = Pacer::new(10.0, 100);
        p.refused(s(0.0), Duration::ZERO, 0.0).unwrap();
        assert_eq!(p.batch(), 10);
        let w2 = p.refused(s(1.0), s(1.0), 1.0).unwrap();
        assert_eq!(p.batch(), 5);
        assert_eq!(w2, s(1.0), "backoff ceiling after the 2nd refusal: 1 s");
        let w3 = p.refused(s(2.0), w2, 1.0).unwrap();
        assert_eq!(p.batch(), 2);
        assert_eq!(w3, s(2.0));
        let low = p.refused(s(4.0), w3, 0.0).unwrap();
        assert!(
            low >= s(0.4) && low < s(4.0),
            "full jitter, never zero: {low:?}"
        );
        for i in 5..MAX_REFUSALS_IN_ROW {
            assert!(p.refused(s(10.0 * i as f64), Duration::ZERO, 0.5).is_some());
        }
        assert_eq!(p.refused(s(100.0), Duration::ZERO, 0.5), None, "given up");
        assert_eq!(p.batch(), 1);
        assert_eq!(p.cost().refusals, MAX_REFUSALS_IN_ROW);
    }

    #[test]
    fn an_accepted_call_resets_the_run_of_refusals() {
        let mut p = Pacer::new(5.0, 50);
        for _ in 0..MAX_REFUSALS_IN_ROW - 1 {
            p.refused(s(0.0), Duration::ZERO, 0.5).unwrap();
        }
        p.accepted(1, s(10.0), Duration::ZERO);
        assert!(p.refused(s(10.0), Duration::ZERO, 0.5).is_some());
    }

    #[test]
    fn idle_time_banks_at_most_one_calls_worth() {
        let mut p = Pacer::new(5.0, 50);
        p.refused(s(0.0), Duration::ZERO, 0.5).unwrap();
        assert_eq!(p.wait(5, s(100.0)), Duration::ZERO);
        assert!(
            p.wait(6, s(100.0)) > Duration::ZERO,
            "100 s idle banks 5 tokens, not 500"
        );
        p.accepted(5, s(100.0), Duration::ZERO);
        assert!((p.wait(5, s(100.0)).as_secs_f64() - 1.0).abs() < 1e-9);
    }
}
