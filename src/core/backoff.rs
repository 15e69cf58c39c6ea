//! Exponential backoff with full jitter (the AWS Architecture Blog's "Exponential Backoff And
//! Jitter"): after the `n`th failure in a row, wait a random time up to `min(cap, base × 2ⁿ)`,
//! so that guards retrying against one throttled service do not retry in step.

use std::time::Duration;

/// The wait after `failures` failures in a row (1 for the first), given `unit`, a random number
/// in `[0, 1)`. Never longer than `cap`; at least a tenth of the ceiling, so a retry is never
/// immediate.
pub fn delay(failures: u32, base: Duration, cap: Duration, unit: f64) -> Duration {
    let ceiling = base
        .checked_mul(1u32 << failures.saturating_sub(1).min(20))
        .unwrap_or(cap)
        .min(cap);
    let unit = unit.clamp(0.0, 1.0);
    ceiling.mul_f64(0.1 + 0.9 * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_doubling_up_to_the_cap_and_is_never_zero() {
        let (base, cap) = (Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(delay(1, base, cap, 1.0), Duration::from_secs(1));
        assert_eq!(delay(3, base, cap, 1.0), Duration::from_secs(4));
        assert_eq!(delay(7, base, cap, 1.0), Duration::from_secs(60));
        assert_eq!(delay(u32::MAX, base, cap, 1.0), Duration::from_secs(60));
        assert_eq!(delay(1, base, cap, 0.0), Duration::from_millis(100));
        let jittered = delay(5, base, cap, 0.5);
        assert!(jittered > Duration::from_secs(1) && jittered < Duration::from_secs(16));
    }
}
