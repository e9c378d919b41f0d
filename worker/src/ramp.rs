//! Linear ramp-up (LoadGen's RampUpStart / RampUpMax / RampUpDuration).
//!
//! `start` slots begin at the release; the remaining `max - start` begin one after the
//! other at even intervals, the last one exactly `duration` after the release. The order
//! is the global slot number, so the ramp interleaves across workers.

use volley_config::RampUp;

/// Nanoseconds after the release at which global slot `t` of `max` starts.
pub fn start_offset_ns(ramp: RampUp, max: u32, t: u32) -> u64 {
    if t < ramp.start || max <= ramp.start {
        return 0;
    }
    let later = u128::from(max - ramp.start);
    let k = u128::from(t - ramp.start + 1);
    let ns = ramp.duration.as_nanos() * k / later;
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// The start offset as a [`Duration`].
#[cfg(test)]
pub fn start_offset(ramp: RampUp, max: u32, t: u32) -> std::time::Duration {
    std::time::Duration::from_nanos(start_offset_ns(ramp, max, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ramp(start: u32, secs: u64) -> RampUp {
        RampUp {
            start,
            duration: Duration::from_secs(secs),
        }
    }

    #[test]
    fn all_at_once_without_duration() {
        for t in 0..10 {
            assert_eq!(start_offset_ns(ramp(10, 0), 10, t), 0);
        }
    }

    #[test]
    fn linear_after_the_start_batch() {
        // 2 at once, 4 more over 4 s: at 1 s, 2 s, 3 s, 4 s.
        let offs: Vec<_> = (0..6)
            .map(|t| start_offset(ramp(2, 4), 6, t).as_secs_f64())
            .collect();
        assert_eq!(offs, [0.0, 0.0, 1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn from_zero_start_the_last_slot_starts_at_the_end() {
        let r = ramp(0, 10);
        assert_eq!(start_offset(r, 5, 0), Duration::from_secs(2));
        assert_eq!(start_offset(r, 5, 4), Duration::from_secs(10));
        // Monotonic in the slot number.
        let v: Vec<_> = (0..5).map(|t| start_offset_ns(r, 5, t)).collect();
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
    }
}
