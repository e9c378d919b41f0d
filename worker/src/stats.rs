//! A worker's statistics: counters live in its scoreboard slot (single writer), latencies
//! in HdrHistograms kept locally and shipped in the final report.

use hdrhistogram::Histogram;
use volley_scoreboard::{Counter, ErrorClass, WorkerSlot};

use crate::outcome::Failure;
use crate::series::Series;

/// Largest latency recorded, in microseconds (one hour); larger values are clamped.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;
/// Significant decimal digits kept by the latency histograms.
pub const LATENCY_SIGFIG: u8 = 3;

/// Range a latency histogram covers when it is made (µs); it grows by powers of two, up to
/// [`MAX_LATENCY_US`], when a larger value is recorded.
///
/// hdrhistogram writes every count slot when it sizes its table, so a table sized for an
/// hour from the start would cost 188 KiB of resident memory per histogram (five per
/// worker) even when every latency is below a millisecond. Starting at 10 ms costs 40 KiB,
/// and a histogram can grow at most 19 times whatever the number of requests.
pub const INITIAL_LATENCY_RANGE_US: u64 = 10_000;

/// A latency histogram in microseconds with volley's precision (3 significant digits).
pub fn latency_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_max(INITIAL_LATENCY_RANGE_US, LATENCY_SIGFIG)
        .expect("constant histogram bounds are valid");
    h.auto(true);
    h
}

/// Records `ns` nanoseconds in `l` as microseconds, clamped into the histogram's range.
pub fn record_ns(l: &mut Latency, ns: u64) {
    l.record_us((ns / 1_000).clamp(1, MAX_LATENCY_US));
}

/// Exact moments of a set of samples (µs): count, sum, sum of squares, min and max. They
/// keep min, max, mean and standard deviation exact where the histogram keeps only 3
/// significant digits: ten connections that each lived 10 s, a few ms apart, share one
/// histogram bucket (8 ms wide there), and would show a standard deviation of 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Moments {
    /// Samples.
    pub count: u64,
    /// Sum of the samples.
    pub sum: u128,
    /// Sum of their squares.
    pub sum_sq: u128,
    /// Smallest sample (0 without samples).
    pub min: u64,
    /// Largest sample.
    pub max: u64,
}

impl Moments {
    /// Adds one sample.
    #[inline]
    pub fn record(&mut self, v: u64) {
        self.min = if self.count == 0 { v } else { self.min.min(v) };
        self.max = self.max.max(v);
        self.count += 1;
        self.sum += u128::from(v);
        self.sum_sq += u128::from(v) * u128::from(v);
    }

    /// Adds `n` samples of `v`.
    pub fn record_n(&mut self, v: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.min = if self.count == 0 { v } else { self.min.min(v) };
        self.max = self.max.max(v);
        self.count += n;
        let (v, n) = (u128::from(v), u128::from(n));
        self.sum = self.sum.saturating_add(v * n);
        self.sum_sq = self.sum_sq.saturating_add(v * v * n);
    }

    /// Adds another set of samples.
    pub fn add(&mut self, o: &Moments) {
        if o.count == 0 {
            return;
        }
        self.min = if self.count == 0 {
            o.min
        } else {
            self.min.min(o.min)
        };
        self.max = self.max.max(o.max);
        self.count += o.count;
        self.sum = self.sum.saturating_add(o.sum);
        self.sum_sq = self.sum_sq.saturating_add(o.sum_sq);
    }

    /// The mean, if there are samples.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The population standard deviation, if there are samples. Computed as
    /// `sqrt(n * Σx² - (Σx)²) / n` in integers where they fit, so samples a few µs apart
    /// around 10 s keep their spread (a float difference of two ~1e14 sums would not).
    pub fn stdev(&self) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let n = u128::from(self.count);
        let var_n2 = match (n.checked_mul(self.sum_sq), self.sum.checked_mul(self.sum)) {
            (Some(a), Some(b)) => a.saturating_sub(b) as f64,
            _ => {
                let mean = self.sum as f64 / n as f64;
                let ex2 = self.sum_sq as f64 / n as f64;
                return Some((ex2 - mean * mean).max(0.0).sqrt());
            }
        };
        Some(var_n2.sqrt() / n as f64)
    }
}

/// A latency distribution in microseconds: an HdrHistogram (3 significant digits, for
/// quantiles) and the exact [`Moments`] (for min, max, mean and standard deviation).
#[derive(Debug, Clone)]
pub struct Latency {
    /// The histogram.
    pub hist: Histogram<u64>,
    /// The exact moments of the same samples.
    pub moments: Moments,
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    /// An empty distribution.
    pub fn new() -> Self {
        Latency {
            hist: latency_histogram(),
            moments: Moments::default(),
        }
    }

    /// Records `us` microseconds (clamped into the histogram's range).
    #[inline]
    pub fn record_us(&mut self, us: u64) {
        let us = us.clamp(1, MAX_LATENCY_US);
        // Cannot fail: the value is clamped into the histogram's bounds.
        let _ = self.hist.record(us);
        self.moments.record(us);
    }

    /// Records `n` samples of `us` microseconds (clamped into the histogram's range).
    pub fn record_n_us(&mut self, us: u64, n: u64) {
        let us = us.clamp(1, MAX_LATENCY_US);
        // Cannot fail: the value is clamped into the histogram's bounds.
        let _ = self.hist.record_n(us, n);
        self.moments.record_n(us, n);
    }

    /// Samples recorded.
    pub fn len(&self) -> u64 {
        self.moments.count
    }

    /// True without samples.
    pub fn is_empty(&self) -> bool {
        self.moments.count == 0
    }

    /// The value at quantile `q` (µs), to the histogram's 3 significant digits: the middle
    /// of the bucket holding it (within half a bucket either way, not always its top),
    /// kept within the exact min and max. `None` without samples.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        if self.is_empty() {
            return None;
        }
        let v = self
            .hist
            .median_equivalent(self.hist.value_at_quantile(q))
            .clamp(self.moments.min, self.moments.max);
        Some(v as f64)
    }
}

/// A latency distribution made on its first sample. Most runs never use the ones for open
/// loops, sessions, TLS or error replies, and a histogram costs 40 KiB of resident memory
/// as soon as it exists (see [`INITIAL_LATENCY_RANGE_US`]).
#[derive(Debug, Default)]
pub struct LazyHistogram(Option<Latency>);

impl LazyHistogram {
    /// Records `ns` nanoseconds (see [`record_ns`]), making the histogram if needed.
    pub fn record_ns(&mut self, ns: u64) {
        record_ns(self.0.get_or_insert_with(Latency::new), ns);
    }

    /// The distribution, made now if it was not yet.
    pub fn get_or_make(&mut self) -> &mut Latency {
        self.0.get_or_insert_with(Latency::new)
    }

    /// The distribution, if anything was recorded.
    pub fn get(&self) -> Option<&Latency> {
        self.0.as_ref()
    }
}

/// What a server did to kept-alive connections outside any request (RFC 9112 §9.2, §9.6):
/// counted apart from request outcomes, since no request failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Anomalies {
    /// Connections on which bytes arrived with no request outstanding (a reply's tail
    /// after its framed end, a `408` sent to an idle connection): closed, never reused.
    pub unsolicited_data: u64,
    /// Bytes read on those connections.
    pub unsolicited_bytes: u64,
    /// Kept-alive connections the server closed (FIN or RST) while they sat idle: closed,
    /// and the slot's next request went on a new connection.
    pub closed_while_idle: u64,
}

impl Anomalies {
    /// Adds `o` into `self`.
    pub fn add(&mut self, o: &Anomalies) {
        self.unsolicited_data += o.unsolicited_data;
        self.unsolicited_bytes += o.unsolicited_bytes;
        self.closed_while_idle += o.closed_while_idle;
    }
}

/// The sums behind httperf's `Request size`, `Reply time` and `Reply size … footer` lines,
/// taken as httperf takes them: over every request written in full, and every reply
/// whatever its status (the latency histograms keep status < 400 apart).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplyFigures {
    /// Requests written in full.
    pub requests_sent: u64,
    /// Their bytes on the wire (head and body).
    pub request_bytes_sent: u64,
    /// Replies whose first byte came (any status; also those that did not complete).
    pub responses: u64,
    /// Sum of request sent → first byte over `responses`, ns.
    pub response_ns: u64,
    /// Replies read in full (any status).
    pub transfers: u64,
    /// Sum of first byte → last byte over `transfers`, ns.
    pub transfer_ns: u64,
    /// Bytes of the chunked replies' trailer sections (httperf's footer), the last line
    /// end included.
    pub footer_bytes: u64,
}

impl ReplyFigures {
    /// Adds `o` into `self`.
    pub fn add(&mut self, o: &ReplyFigures) {
        self.requests_sent += o.requests_sent;
        self.request_bytes_sent += o.request_bytes_sent;
        self.responses += o.responses;
        self.response_ns = self.response_ns.saturating_add(o.response_ns);
        self.transfers += o.transfers;
        self.transfer_ns = self.transfer_ns.saturating_add(o.transfer_ns);
        self.footer_bytes += o.footer_bytes;
    }
}

/// Width of the time buckets in which a worker notes the most connections it had open
/// (see [`OpenTimeline`]).
pub const OPEN_BUCKET_NS: u64 = 10_000_000;
/// Most buckets an [`OpenTimeline`] keeps: past this, two neighbours become one of twice
/// the width, so a long run costs at most 256 KiB per worker.
pub const MAX_OPEN_BUCKETS: usize = 1 << 16;

/// The most connections a worker had open in each time bucket since the release. Summed
/// bucket by bucket over workers (all started together on the same monotonic clock),
/// then maximized over buckets, it bounds the client's most concurrent connections from
/// above (two workers' peaks in one bucket may not have been at the same instant), and
/// is exact with one worker.
#[derive(Debug, Clone, Default)]
pub struct OpenTimeline {
    start_ns: u64,
    /// Bucket width, ns ([`OPEN_BUCKET_NS`] times a power of two).
    pub width_ns: u64,
    /// The most open in each bucket.
    pub buckets: Vec<u32>,
    open: u32,
}

impl OpenTimeline {
    /// Starts the timeline at monotonic `start_ns` (the release).
    pub fn start(&mut self, start_ns: u64) {
        self.start_ns = start_ns;
        self.width_ns = OPEN_BUCKET_NS;
        self.buckets.clear();
    }

    /// `open` connections are open from `now` on.
    #[inline]
    pub fn set(&mut self, now: u64, open: u64) {
        let open = u32::try_from(open).unwrap_or(u32::MAX);
        if self.width_ns == 0 {
            self.open = open;
            return;
        }
        let mut idx = (now.saturating_sub(self.start_ns) / self.width_ns) as usize;
        while idx >= MAX_OPEN_BUCKETS {
            self.coarsen();
            idx = (now.saturating_sub(self.start_ns) / self.width_ns) as usize;
        }
        // Buckets with no change held the count as it was.
        while self.buckets.len() <= idx {
            self.buckets.push(self.open);
        }
        self.buckets[idx] = self.buckets[idx].max(open);
        self.open = open;
    }

    fn coarsen(&mut self) {
        let merged: Vec<u32> = self
            .buckets
            .chunks(2)
            .map(|p| p.iter().copied().max().unwrap_or(0))
            .collect();
        self.buckets = merged;
        self.width_ns *= 2;
    }
}

/// Sums timelines of several workers bucket by bucket and returns the largest sum: each
/// timeline is `(width_ns, buckets)`, widths [`OPEN_BUCKET_NS`] times powers of two, all
/// from the same start. Finer timelines are first made as coarse as the coarsest.
pub fn max_open_sum(timelines: &[(u64, &[u32])]) -> u64 {
    let width = timelines.iter().map(|t| t.0).max().unwrap_or(0);
    if width == 0 {
        return 0;
    }
    let mut sum: Vec<u64> = Vec::new();
    for &(w, b) in timelines {
        if w == 0 {
            continue;
        }
        let per = (width / w).max(1) as usize;
        for (i, chunk) in b.chunks(per).enumerate() {
            if sum.len() <= i {
                sum.resize(i + 1, 0);
            }
            sum[i] += u64::from(chunk.iter().copied().max().unwrap_or(0));
        }
    }
    sum.into_iter().max().unwrap_or(0)
}

/// Replies by exact status code: one counter per code a status line can carry (three
/// digits, RFC 9110 §15), made once with the worker so that counting a reply is an index
/// and an add, never an allocation or a search. 8 KB per worker; the codes a run meets
/// stay in a few cache lines.
#[derive(Debug, Clone)]
pub struct StatusCounts(Box<[u64]>);

impl StatusCounts {
    /// Status codes counted: `0..CODES` (a status line has three digits).
    pub const CODES: usize = 1000;

    /// All zero.
    pub fn new() -> Self {
        StatusCounts(vec![0; Self::CODES].into_boxed_slice())
    }

    /// Counts one reply of `status`. A code past three digits cannot come from the
    /// parser; it is counted with 999 rather than lost, so the counts still add up to
    /// the replies.
    #[inline]
    pub fn add(&mut self, status: u16) {
        let i = usize::from(status).min(Self::CODES - 1);
        self.0[i] += 1;
    }

    /// Replies counted for `status`.
    pub fn get(&self, status: u16) -> u64 {
        self.0.get(usize::from(status)).copied().unwrap_or(0)
    }

    /// `(code, replies)` for every code seen, in code order.
    pub fn nonzero(&self) -> Vec<(u16, u64)> {
        (0u16..)
            .zip(self.0.iter())
            .filter(|&(_, &n)| n > 0)
            .map(|(code, &n)| (code, n))
            .collect()
    }
}

impl Default for StatusCounts {
    fn default() -> Self {
        StatusCounts::new()
    }
}

/// Counters (in the scoreboard) and latency histograms of one worker.
#[derive(Debug)]
pub struct Stats<'a> {
    slot: &'a WorkerSlot,
    /// Connect latency (new connections only).
    pub connect: Latency,
    /// Request sent → first byte of the reply, for replies with status < 400.
    pub first_byte: Latency,
    /// Request sent → last byte of the reply, for replies with status < 400.
    pub reply: Latency,
    /// Request sent → last byte of the reply, for 4xx and 5xx replies.
    pub reply_error: LazyHistogram,
    /// Lifetime of connections that carried at least one reply (connect → close).
    pub conn_life: Latency,
    /// Open loop: scheduled time → last byte of the reply, for replies with status < 400
    /// (the response time a user would see; free of coordinated omission).
    pub response: LazyHistogram,
    /// Open loop: how late each session started against its schedule.
    pub lag: LazyHistogram,
    /// Closed loop: the samples of the requests slots would have sent while a reply
    /// stalled them (see [`crate::pace`]); the report adds [`Stats::reply`] to them.
    pub reply_missed: LazyHistogram,
    /// Open loop: sessions that started more than 1 ms late.
    pub late_starts: u64,
    /// Most connections open at once.
    pub max_open: u64,
    /// The most connections open in each 10 ms since the release.
    pub open_timeline: OpenTimeline,
    /// httperf's request and reply sums (see [`ReplyFigures`]).
    pub figures: ReplyFigures,
    /// TLS: TCP connected → handshake done.
    pub tls_handshake: LazyHistogram,
    /// TLS: full handshakes.
    pub tls_full: u64,
    /// TLS: resumed handshakes.
    pub tls_resumed: u64,
    /// Connects started in the loop turn `connect_burst.0` so far.
    pub connect_burst: (u64, u64),
    /// Most connects started in one loop turn (httperf's maximum connect burst length).
    pub max_connect_burst: u64,
    /// Open loop: due → last reply of sessions whose every request got a reply.
    pub session_life: LazyHistogram,
    /// Open loop: due → failure of sessions that failed.
    pub session_fail: LazyHistogram,
    /// Open loop: connections opened by ended sessions.
    pub session_conns: u64,
    /// Open loop: ended sessions by the replies they got (index = replies, the last bin
    /// holds all longer ones).
    pub session_lengths: Vec<u64>,
    /// Events whose handle was stale (a closed connection's leftovers), dropped.
    pub stale_events: u64,
    /// Connection anomalies: not request outcomes, but what made volley drop a kept-alive
    /// connection (see [`Anomalies`]).
    pub anomalies: Anomalies,
    /// Times the event loop slept (waited for events, a timer or a scheduled start).
    pub wakeups: u64,
    /// Failures by `(class, detail)`; a handful of distinct pairs per run.
    pub details: Vec<(ErrorClass, &'static str, u64)>,
    /// Replies by exact status code (the scoreboard counts them by class only).
    pub statuses: StatusCounts,
    /// The first errno counted as `other`, so the report can name it.
    pub first_other_errno: Option<i32>,
    /// Why the first request a hook made could not be sent (`other/hook-request`).
    pub hook_refused: Option<String>,
    /// The run's time series (see [`crate::series`]).
    pub series: Series,
}

impl<'a> Stats<'a> {
    /// Statistics publishing into `slot`.
    pub fn new(slot: &'a WorkerSlot) -> Self {
        Stats {
            slot,
            connect: Latency::new(),
            first_byte: Latency::new(),
            reply: Latency::new(),
            reply_error: LazyHistogram::default(),
            conn_life: Latency::new(),
            response: LazyHistogram::default(),
            lag: LazyHistogram::default(),
            reply_missed: LazyHistogram::default(),
            late_starts: 0,
            max_open: 0,
            open_timeline: OpenTimeline::default(),
            figures: ReplyFigures::default(),
            tls_handshake: LazyHistogram::default(),
            tls_full: 0,
            tls_resumed: 0,
            connect_burst: (0, 0),
            max_connect_burst: 0,
            session_life: LazyHistogram::default(),
            session_fail: LazyHistogram::default(),
            session_conns: 0,
            session_lengths: Vec::new(),
            stale_events: 0,
            anomalies: Anomalies::default(),
            wakeups: 0,
            details: Vec::new(),
            statuses: StatusCounts::new(),
            first_other_errno: None,
            hook_refused: None,
            series: Series::new(crate::series::DEFAULT_INTERVAL_NS),
        }
    }

    /// Adds `n` to a counter.
    #[inline]
    pub fn add(&self, c: Counter, n: u64) {
        self.slot.add(c, n);
    }

    /// Records a successful reply's latency (`ns`) in the reply histogram, the time series
    /// and the scoreboard's live buckets, all as the same whole microseconds.
    #[inline]
    pub fn record_reply_ns(&mut self, ns: u64) {
        let us = (ns / 1_000).clamp(1, MAX_LATENCY_US);
        self.reply.record_us(us);
        self.series.record_ns(ns);
        self.slot.record_latency_us(us);
    }

    /// Records an open-loop session's start lag (`ns`) in its histogram and the
    /// scoreboard's lag gauge.
    #[inline]
    pub fn record_lag_ns(&mut self, ns: u64) {
        self.lag.record_ns(ns);
        self.slot.set_lag_us(ns / 1_000);
    }

    /// Subtracts `n` from a gauge.
    #[inline]
    pub fn sub(&self, c: Counter, n: u64) {
        self.slot.sub(c, n);
    }

    /// Counts a failed request.
    pub fn failed(&mut self, f: Failure) {
        self.slot.add(Counter::RequestsFailed, 1);
        self.slot.add_error(f.class, 1);
        match self
            .details
            .iter_mut()
            .find(|(c, d, _)| *c == f.class && *d == f.detail)
        {
            Some((_, _, n)) => *n += 1,
            None => self.details.push((f.class, f.detail, 1)),
        }
    }

    /// Remembers the errno of the first failure classed `other`, for the report.
    pub fn note_errno(&mut self, f: Failure, e: &std::io::Error) {
        if f.class == ErrorClass::Other && self.first_other_errno.is_none() {
            self.first_other_errno = e.raw_os_error();
        }
    }

    /// Starts the time series at monotonic `now` (the release), where the wall clock
    /// reads `now + offset_ns`.
    pub fn start_series(&mut self, now: u64, offset_ns: i64) {
        let base = self.slot.snapshot();
        self.series.start(now, offset_ns, base);
        self.open_timeline.start(now);
    }

    /// Closes the intervals of the time series that ended by `now`.
    #[inline]
    pub fn tick_series(&mut self, now: u64) {
        if self.series.due(now) {
            let counters = self.slot.snapshot();
            self.series.roll(now, counters);
        }
    }

    /// Closes the time series' last interval (the run is over).
    pub fn finish_series(&mut self) {
        let counters = self.slot.snapshot();
        self.series.finish(counters);
    }

    /// Current value of a counter.
    pub fn get(&self, c: Counter) -> u64 {
        self.slot.get(c)
    }

    /// The scoreboard slot written by this worker.
    pub fn slot(&self) -> &WorkerSlot {
        self.slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_counts_by_exact_code() {
        let mut s = StatusCounts::new();
        for code in [200, 200, 404, 503, 200, 101] {
            s.add(code);
        }
        assert_eq!(s.get(200), 3);
        assert_eq!(s.get(201), 0);
        assert_eq!(s.nonzero(), vec![(101, 1), (200, 3), (404, 1), (503, 1)]);
    }

    #[test]
    fn open_timeline_carries_counts_through_quiet_buckets() {
        let ms = 1_000_000;
        let mut t = OpenTimeline::default();
        t.start(1000 * ms);
        t.set(1001 * ms, 1);
        t.set(1002 * ms, 2);
        t.set(1003 * ms, 1);
        // Nothing happens for 30 ms: the one connection stays open through them.
        t.set(1041 * ms, 0);
        assert_eq!(t.buckets, vec![2, 1, 1, 1, 1]);
        let other = [0, 0, 3, 0, 0];
        assert_eq!(
            max_open_sum(&[(t.width_ns, &t.buckets), (OPEN_BUCKET_NS, &other)]),
            4
        );
    }

    #[test]
    fn open_timeline_stays_bounded() {
        let mut t = OpenTimeline::default();
        t.start(0);
        t.set(0, 5);
        t.set(OPEN_BUCKET_NS * MAX_OPEN_BUCKETS as u64 * 3, 1);
        assert!(t.buckets.len() <= MAX_OPEN_BUCKETS);
        assert_eq!(t.width_ns, OPEN_BUCKET_NS * 4);
        assert_eq!(t.buckets[0], 5);
        // A coarse and a fine timeline sum over the coarse buckets (4 fine to 1 coarse).
        let fine = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(
            max_open_sum(&[(t.width_ns, &t.buckets), (OPEN_BUCKET_NS, &fine)]),
            5 + 8
        );
    }

    #[test]
    fn an_impossible_code_is_counted_not_lost() {
        let mut s = StatusCounts::new();
        s.add(u16::MAX);
        assert_eq!(s.nonzero(), vec![(999, 1)]);
        assert_eq!(s.get(u16::MAX), 0);
    }
}
