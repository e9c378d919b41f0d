//! Closed loop: each slot's usual interval between request starts, and the correction of
//! coordinated omission it drives.
//!
//! A closed-loop slot sends its next request only when the last one ended, so while a
//! server stalls it sends nothing: the stall shows as one slow reply per slot, and the
//! requests that would have been sent (and would have waited) are never measured. Given
//! the interval at which a slot usually starts requests, a reply of `v` that took at least
//! twice that interval `i` stands for the requests the slot would have started during it,
//! which would have waited `v - i`, `v - 2i`, … down to `i` (HdrHistogram's
//! expected-interval correction, `recordValueWithExpectedInterval`). Those samples go into
//! a histogram of their own; the report adds the measured replies to them and shows the
//! sum as `reply (corrected)`, an estimate.
//!
//! # The expected interval
//!
//! A slot notes the start of each request (a pipelined burst counts once, a retry of a
//! stale connection not at all). The interval between two starts covers the reply and
//! whatever the slot did before the next request (a post-delay, a pre-delay, a connect),
//! so a slot that thinks for a second between requests is not stalled by a one-second
//! reply. Every [`PACE_RING`] intervals the slot takes their median (the upper one: the
//! 5th smallest of 8) as its expected interval until the next block of 8. A stall adds one
//! long interval per slot, which a median ignores; a server that slows down for good makes
//! the new interval the expected one within a block or two. Until the first block is full
//! (the slot's first 8 intervals) there is no correction.

use crate::stats::Latency;

/// Intervals in one block of a slot's history.
pub const PACE_RING: usize = 8;

/// Most histogram records one corrected reply adds. A longer stall's samples are recorded
/// in that many groups of equal size, each group as its middle value with the group's
/// count: the cost of a reply stays bounded (a 60 s stall at 50 µs would otherwise be 1.2
/// million records), and a sample moves by at most half a group (the stall's length /
/// 2048), about the histogram's own resolution at the stall's length.
pub const MAX_CORRECTION_RECORDS: u64 = 1024;

/// A slot's recent intervals between request starts.
#[derive(Debug, Clone, Default)]
pub struct Pace {
    /// Monotonic ns of the last start (0: none yet).
    last_start_ns: u64,
    /// The current block's intervals, ns.
    ring: [u64; PACE_RING],
    /// Intervals in the current block.
    filled: usize,
    /// The expected interval, µs (0: not known yet).
    expected_us: u64,
}

impl Pace {
    /// A request (or a pipelined burst) started at `now_ns`.
    #[inline]
    pub fn started(&mut self, now_ns: u64) {
        let last = std::mem::replace(&mut self.last_start_ns, now_ns);
        if last == 0 || now_ns <= last {
            return;
        }
        self.ring[self.filled] = now_ns - last;
        self.filled += 1;
        if self.filled == PACE_RING {
            self.filled = 0;
            let mut sorted = self.ring;
            sorted.sort_unstable();
            self.expected_us = sorted[PACE_RING / 2] / 1_000;
        }
    }

    /// The expected interval between starts (µs), once the first block is full.
    #[inline]
    pub fn expected_us(&self) -> Option<u64> {
        (self.expected_us > 0).then_some(self.expected_us)
    }

    /// Whether a reply of `reply_us` calls for a correction: it lasted at least twice the
    /// expected interval (a shorter one adds no sample).
    #[inline]
    pub fn stalled(&self, reply_us: u64) -> Option<u64> {
        let i = self.expected_us;
        (i > 0 && reply_us >= i.saturating_mul(2)).then_some(i)
    }
}

/// Records in `l` the samples a reply of `reply_us` stands for, beyond itself, at the
/// expected interval `interval_us`: `reply_us - k·interval_us` for every `k ≥ 1` that
/// leaves at least `interval_us`, in at most [`MAX_CORRECTION_RECORDS`] records. Returns
/// how many samples it added.
pub fn record_missed(l: &mut Latency, reply_us: u64, interval_us: u64) -> u64 {
    if interval_us == 0 || reply_us < interval_us.saturating_mul(2) {
        return 0;
    }
    let n = reply_us / interval_us - 1;
    let group = n.div_ceil(MAX_CORRECTION_RECORDS);
    let mut k = 1;
    while k <= n {
        let m = group.min(n - k + 1);
        // The group holds reply - k·i … reply - (k + m - 1)·i: its middle stands for it.
        let middle = reply_us - k * interval_us - (m - 1) * interval_us / 2;
        l.record_n_us(middle, m);
        k += m;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paced(intervals_us: &[u64]) -> Pace {
        let mut p = Pace::default();
        let mut t = 1_000_000_000;
        p.started(t);
        for &i in intervals_us {
            t += i * 1_000;
            p.started(t);
        }
        p
    }

    #[test]
    fn no_correction_before_a_block_of_intervals() {
        let p = paced(&[100; PACE_RING - 1]);
        assert_eq!(p.expected_us(), None);
        assert_eq!(p.stalled(1_000_000), None);
        let p = paced(&[100; PACE_RING]);
        assert_eq!(p.expected_us(), Some(100));
    }

    #[test]
    fn a_stall_does_not_inflate_the_expected_interval() {
        // One 300 ms interval (the stalled reply) among 100 µs ones.
        let p = paced(&[100, 100, 300_000, 100, 110, 90, 100, 100]);
        assert_eq!(p.expected_us(), Some(100));
        assert_eq!(p.stalled(199), None);
        assert_eq!(p.stalled(300_000), Some(100));
    }

    #[test]
    fn a_lasting_slowdown_becomes_the_expected_interval() {
        let mut v = vec![100; PACE_RING];
        v.extend([1_000; PACE_RING]);
        assert_eq!(paced(&v).expected_us(), Some(1_000));
        // Half a block of slow intervals: the upper median already follows them.
        let mut v = vec![100; PACE_RING / 2];
        v.extend([1_000; PACE_RING / 2]);
        assert_eq!(paced(&v).expected_us(), Some(1_000));
    }

    #[test]
    fn a_pipelined_burst_or_a_repeated_instant_is_one_start() {
        let mut p = Pace::default();
        for t in 1..=PACE_RING as u64 + 1 {
            p.started(t * 50_000);
            p.started(t * 50_000);
        }
        assert_eq!(p.expected_us(), Some(50));
    }

    #[test]
    fn missed_samples_are_hdrhistograms_expected_interval_correction() {
        for (reply, interval) in [(1_000, 100), (1_050, 100), (199, 100), (200, 100)] {
            let mut ours = Latency::new();
            let added = record_missed(&mut ours, reply, interval);
            let mut theirs = crate::stats::latency_histogram();
            theirs.record_correct(reply, interval).unwrap();
            // Theirs holds the reply too.
            assert_eq!(added + 1, theirs.len(), "{reply} at {interval}");
            ours.record_us(reply);
            assert_eq!(ours.hist, theirs, "{reply} at {interval}");
        }
    }

    #[test]
    fn a_long_stall_is_recorded_in_bounded_groups() {
        // 60 s at 50 µs: 1.2 million samples in at most 1024 records.
        let mut l = Latency::new();
        let added = record_missed(&mut l, 60_000_000, 50);
        assert_eq!(added, 1_199_999);
        assert_eq!(l.len(), added);
        assert!(l.hist.iter_recorded().count() <= MAX_CORRECTION_RECORDS as usize);
        // Evenly spread from 50 µs to 60 s: the median near 30 s, the mean exact to
        // within a group.
        let p50 = l.quantile_us(0.5).unwrap();
        assert!((p50 - 30e6).abs() < 0.01 * 30e6, "p50 {p50}");
        let mean = l.moments.mean().unwrap();
        assert!((mean - 30_000_025.0).abs() < 60e6 / 2048.0, "mean {mean}");
    }
}
