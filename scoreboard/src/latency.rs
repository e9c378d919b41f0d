//! Live latency in the scoreboard: a fixed array of log-spaced buckets per worker slot.
//!
//! The worker's HdrHistograms are exact but private until the end of the run; these
//! buckets are what a monitor (`volley top`, the `/metrics` endpoint) can read while the
//! run lasts. Each worker counts every successful reply (status below 400, the report's
//! `reply` row) in the bucket whose upper bound is the first one at or above its latency,
//! plus the sum of the latencies, all in whole microseconds exactly as the report's
//! histogram records them, so a reading taken after the end matches the report's count and
//! mean exactly.
//!
//! The bounds are [`BOUNDS_US`]: ten per decade (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8) from
//! 10 µs to 60 s, and one overflow bucket above. Neighbouring bounds differ by at most a
//! third, so a quantile interpolated inside a bucket (what Prometheus'
//! `histogram_quantile` does, and [`LiveLatency::quantile_us`]) is off by less than that;
//! the report's percentiles stay the exact ones.

/// The upper bounds (inclusive, µs) of the finite buckets, in increasing order.
pub const BOUNDS_US: [u64; BUCKETS - 1] = bounds();

/// Number of buckets: one per bound in [`BOUNDS_US`] and the overflow bucket (`+Inf`).
pub const BUCKETS: usize = 70;

/// The mantissas of one decade of bounds.
const STEPS: [u64; 10] = [10, 12, 15, 20, 25, 30, 40, 50, 60, 80];

const fn bounds() -> [u64; BUCKETS - 1] {
    let mut out = [0u64; BUCKETS - 1];
    let mut i = 0;
    let mut scale = 1u64;
    while i < BUCKETS - 1 {
        out[i] = STEPS[i % STEPS.len()] * scale;
        i += 1;
        if i.is_multiple_of(STEPS.len()) {
            scale *= 10;
        }
    }
    out
}

// 10 µs first, 60 s last, strictly increasing.
const _: () = assert!(BOUNDS_US[0] == 10 && BOUNDS_US[BUCKETS - 2] == 60_000_000);
const _: () = {
    let mut i = 1;
    while i < BUCKETS - 1 {
        assert!(BOUNDS_US[i - 1] < BOUNDS_US[i]);
        i += 1;
    }
};

/// The bucket counting a latency of `us` microseconds: the first whose bound is `>= us`,
/// or the overflow bucket.
#[inline]
pub fn bucket_of(us: u64) -> usize {
    BOUNDS_US.partition_point(|&b| b < us)
}

/// A plain copy of a slot's live latency, or a sum or difference of several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveLatency {
    /// Replies per bucket (not cumulative), indexed like [`BOUNDS_US`] plus the overflow.
    pub counts: [u64; BUCKETS],
    /// Sum of the latencies counted (µs).
    pub sum_us: u64,
}

impl Default for LiveLatency {
    fn default() -> Self {
        LiveLatency {
            counts: [0; BUCKETS],
            sum_us: 0,
        }
    }
}

impl LiveLatency {
    /// Replies counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.wrapping_add(c))
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &LiveLatency) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a = a.wrapping_add(b);
        }
        self.sum_us = self.sum_us.wrapping_add(other.sum_us);
    }

    /// What was counted since `earlier` (a reading of the same slots taken before).
    /// Counts only grow, so a bucket that reads lower (a torn or foreign reading) gives 0.
    pub fn since(&self, earlier: &LiveLatency) -> LiveLatency {
        let mut d = LiveLatency::default();
        for (i, c) in d.counts.iter_mut().enumerate() {
            *c = self.counts[i].saturating_sub(earlier.counts[i]);
        }
        d.sum_us = self.sum_us.saturating_sub(earlier.sum_us);
        d
    }

    /// The estimated latency (µs) at quantile `q` (0..=1), as Prometheus'
    /// `histogram_quantile` estimates it: the rank's bucket, then linear interpolation
    /// between its lower and upper bounds; a rank in the overflow bucket gives the highest
    /// finite bound. `None` without replies.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            if c > 0 && (below + c) as f64 >= rank {
                if i == BUCKETS - 1 {
                    return Some(BOUNDS_US[BUCKETS - 2] as f64);
                }
                let lo = if i == 0 { 0.0 } else { BOUNDS_US[i - 1] as f64 };
                let hi = BOUNDS_US[i] as f64;
                let within = ((rank - below as f64) / c as f64).clamp(0.0, 1.0);
                return Some(lo + (hi - lo) * within);
            }
            below += c;
        }
        Some(BOUNDS_US[BUCKETS - 2] as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_the_decade_steps() {
        assert_eq!(
            &BOUNDS_US[..11],
            &[10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100]
        );
        assert_eq!(BOUNDS_US[20], 1_000);
        assert_eq!(BOUNDS_US[50], 1_000_000);
        // Each bound is at most 4/3 of the one below it.
        for w in BOUNDS_US.windows(2) {
            assert!(w[1] * 3 <= w[0] * 4, "{w:?}");
        }
    }

    #[test]
    fn buckets_are_inclusive_upper_bounds() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(10), 0);
        assert_eq!(bucket_of(11), 1);
        assert_eq!(bucket_of(12), 1);
        assert_eq!(bucket_of(60_000_000), BUCKETS - 2);
        assert_eq!(bucket_of(60_000_001), BUCKETS - 1);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_interpolate_inside_the_bucket() {
        let mut l = LiveLatency::default();
        assert_eq!(l.quantile_us(0.5), None);
        // 100 replies between 100 and 120 µs (bucket (100, 120]).
        l.counts[bucket_of(110)] = 100;
        assert_eq!(l.quantile_us(0.5), Some(110.0));
        assert_eq!(l.quantile_us(1.0), Some(120.0));
        // One far outlier past the last bound reads as the highest finite bound.
        l.counts[BUCKETS - 1] = 1;
        assert_eq!(l.quantile_us(1.0), Some(60_000_000.0));
        let later = {
            let mut x = l;
            x.counts[0] += 3;
            x.sum_us += 30;
            x
        };
        let d = later.since(&l);
        assert_eq!((d.count(), d.sum_us), (3, 30));
        assert_eq!(l.since(&later).count(), 0);
    }
}
