//! The time series of a worker's run: per interval (1 s by default), the change of every
//! counter and the interval's reply-latency histogram.
//!
//! Intervals are aligned on the wall clock: interval `key` covers Unix time
//! `[key * len, (key + 1) * len)`, so the series of several workers, or of several hosts
//! run with `--client I/N`, line up by key and add. The worker keeps the intervals itself
//! (one histogram being filled, the finished ones as recorded `(value, count)` pairs) and
//! hands them to the supervisor with its final report: nothing is streamed during the
//! run, and the only per-request cost is one more histogram record. An interval is closed
//! when a reply or a loop turn (at least every 50 ms) finds its end passed; its counter
//! changes are read from the worker's scoreboard slot then.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use volley_scoreboard::{Counter, ErrorClass, SlotSnapshot};

use crate::report::HistogramData;
use crate::stats::{Latency, latency_histogram};

/// Default interval length: one second.
pub const DEFAULT_INTERVAL_NS: u64 = 1_000_000_000;

/// One finished interval of one worker (or of a run, once merged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalData {
    /// Which interval: it starts at Unix time `key * interval length`.
    pub key: u64,
    /// Change of each counter over the interval, indexed by [`Counter`].
    pub counters: Vec<u64>,
    /// Errors of each class over the interval, indexed by [`ErrorClass`].
    pub errors: Vec<u64>,
    /// Reply latency (request sent → reply complete, status < 400) of the replies that
    /// ended in the interval, µs.
    pub latency: HistogramData,
}

impl IntervalData {
    /// A counter's change over the interval.
    pub fn get(&self, c: Counter) -> u64 {
        self.counters.get(c.index()).copied().unwrap_or(0)
    }

    /// Errors of `class` over the interval.
    pub fn error(&self, class: ErrorClass) -> u64 {
        self.errors.get(class.index()).copied().unwrap_or(0)
    }

    /// Adds `o` (same key) into `self`.
    pub fn add(&mut self, o: &IntervalData) {
        add_vec(&mut self.counters, &o.counters);
        add_vec(&mut self.errors, &o.errors);
        let mut l = Latency::new();
        self.latency.add_to(&mut l);
        o.latency.add_to(&mut l);
        self.latency = HistogramData::from_latency(&l);
    }
}

fn add_vec(a: &mut Vec<u64>, b: &[u64]) {
    if a.len() < b.len() {
        a.resize(b.len(), 0);
    }
    for (x, y) in a.iter_mut().zip(b) {
        *x = x.wrapping_add(*y);
    }
}

/// A worker's series being recorded.
#[derive(Debug)]
pub struct Series {
    /// Interval length, ns.
    pub len_ns: u64,
    /// `CLOCK_REALTIME − CLOCK_MONOTONIC` at the release (ns).
    offset_ns: i64,
    /// The current interval's key, and when it ends (monotonic ns); 0 before the start.
    key: u64,
    end_ns: u64,
    /// The counters when the current interval began.
    base: SlotSnapshot,
    /// Reply latency of the current interval.
    hist: Latency,
    /// Finished intervals.
    pub done: Vec<IntervalData>,
}

impl Series {
    /// A series of intervals of `len_ns` (at least 1 ms), not started.
    pub fn new(len_ns: u64) -> Self {
        Series {
            len_ns: len_ns.max(1_000_000),
            offset_ns: 0,
            key: 0,
            end_ns: 0,
            base: SlotSnapshot::default(),
            hist: Latency {
                hist: latency_histogram(),
                moments: Default::default(),
            },
            done: Vec::new(),
        }
    }

    /// Starts at monotonic `now`, where the wall clock reads `now + offset_ns`, from the
    /// counters `base`.
    pub fn start(&mut self, now: u64, offset_ns: i64, base: SlotSnapshot) {
        self.offset_ns = offset_ns;
        let unix = (now as i64).saturating_add(offset_ns).max(0) as u64;
        self.key = unix / self.len_ns;
        self.end_ns = now + (self.key + 1) * self.len_ns - unix;
        self.base = base;
    }

    /// The current interval is over at `now`.
    #[inline]
    pub fn due(&self, now: u64) -> bool {
        self.end_ns != 0 && now >= self.end_ns
    }

    /// Closes the intervals that ended by `now` (`counters`: the counters now; the
    /// changes go to the first of them, the rest are empty).
    pub fn roll(&mut self, now: u64, counters: SlotSnapshot) {
        while self.due(now) {
            self.close(counters);
            self.key += 1;
            self.end_ns += self.len_ns;
        }
    }

    /// Records a reply latency of `ns` in the current interval.
    #[inline]
    pub fn record_ns(&mut self, ns: u64) {
        crate::stats::record_ns(&mut self.hist, ns);
    }

    /// Closes the current interval with the counters as they are now (the run's end).
    pub fn finish(&mut self, counters: SlotSnapshot) {
        if self.end_ns != 0 {
            self.close(counters);
            self.end_ns = 0;
        }
    }

    fn close(&mut self, now: SlotSnapshot) {
        let delta =
            |a: &[u64], b: &[u64]| a.iter().zip(b).map(|(x, y)| x.wrapping_sub(*y)).collect();
        self.done.push(IntervalData {
            key: self.key,
            counters: delta(&now.counters, &self.base.counters),
            errors: delta(&now.errors, &self.base.errors),
            latency: HistogramData::from_latency(&self.hist),
        });
        self.base = now;
        self.hist.hist.reset();
        self.hist.moments = Default::default();
    }
}

/// A histogram in HdrHistogram's standard compressed form: V2 with deflate, base64
/// (the form of HdrHistogram's interval logs), readable by any HdrHistogram tool.
pub fn encode(h: &Histogram<u64>) -> String {
    use base64::Engine as _;
    use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
    let mut bytes = Vec::new();
    // Cannot fail: writing into a Vec.
    let _ = V2DeflateSerializer::new().serialize(h, &mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The histogram [`encode`] wrote.
///
/// # Errors
///
/// A message when `s` is not base64 or not a V2 (deflated or not) histogram.
pub fn decode(s: &str) -> Result<Histogram<u64>, String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("not an HdrHistogram: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(replies: u64) -> SlotSnapshot {
        let mut s = SlotSnapshot::default();
        s.counters[Counter::RequestsSucceeded.index()] = replies;
        s
    }

    #[test]
    fn intervals_line_up_on_the_wall_clock_and_carry_their_changes() {
        let mut s = Series::new(1_000_000_000);
        // Monotonic 5.3 s reads as Unix 100.3 s: the first interval is key 100, ending at
        // monotonic 6.0 s.
        s.start(5_300_000_000, 95_000_000_000, snap(0));
        s.record_ns(2_000_000);
        assert!(!s.due(5_999_999_999));
        s.roll(6_100_000_000, snap(7));
        s.record_ns(3_000_000);
        // Two seconds pass: one interval with the change, one empty.
        s.roll(8_000_000_000, snap(10));
        s.finish(snap(10));
        let keys: Vec<u64> = s.done.iter().map(|i| i.key).collect();
        assert_eq!(keys, [100, 101, 102, 103]);
        let replies: Vec<u64> = s
            .done
            .iter()
            .map(|i| i.get(Counter::RequestsSucceeded))
            .collect();
        assert_eq!(replies, [7, 3, 0, 0]);
        assert_eq!(s.done[0].latency.moments.count, 1);
        assert_eq!(s.done[1].latency.moments.min, 3_000);
        assert_eq!(s.done[2].latency.moments.count, 0);
    }

    #[test]
    fn histograms_round_trip_through_the_standard_encoding() {
        let mut h = latency_histogram();
        for v in [1u64, 10, 100, 1_000, 10_000, 100_000, 3_600_000_000] {
            h.record_n(v, v % 7 + 1).unwrap();
        }
        let text = encode(&h);
        assert!(
            text.starts_with("HISTFAA"),
            "V2 deflate's cookie in base64: {text}"
        );
        let back = decode(&text).unwrap();
        assert_eq!(back.len(), h.len());
        for q in [0.5, 0.9, 0.99, 1.0] {
            assert_eq!(back.value_at_quantile(q), h.value_at_quantile(q));
        }
        assert!(decode("not base64!").is_err());
        assert!(decode("aGVsbG8=").is_err());
    }

    #[test]
    fn intervals_of_two_workers_add() {
        let mut a = IntervalData {
            key: 7,
            counters: vec![1, 2],
            errors: vec![0, 1],
            ..Default::default()
        };
        let mut l = Latency::new();
        l.record_us(500);
        let b = IntervalData {
            key: 7,
            counters: vec![3, 4, 5],
            errors: vec![1],
            latency: HistogramData::from_latency(&l),
        };
        a.add(&b);
        assert_eq!((a.counters, a.errors), (vec![4, 6, 5], vec![1, 1]));
        assert_eq!(a.latency.moments.count, 1);
    }
}
