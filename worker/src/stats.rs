//! A worker's statistics: counters live in its scoreboard slot (single writer), latencies
//! in HdrHistograms kept locally and shipped in the final report.

use hdrhistogram::Histogram;
use volley_scoreboard::{Counter, ErrorClass, WorkerSlot};

use crate::outcome::Failure;

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

/// Records `ns` nanoseconds in `h` as microseconds, clamped into the histogram's range.
pub fn record_ns(h: &mut Histogram<u64>, ns: u64) {
    let us = (ns / 1_000).clamp(1, MAX_LATENCY_US);
    // Cannot fail: the value is clamped into the histogram's bounds.
    let _ = h.record(us);
}

/// A latency histogram made on its first sample. Most runs never use the ones for open
/// loops, sessions, TLS or error replies, and a histogram costs 40 KiB of resident memory
/// as soon as it exists (see [`INITIAL_LATENCY_RANGE_US`]).
#[derive(Debug, Default)]
pub struct LazyHistogram(Option<Histogram<u64>>);

impl LazyHistogram {
    /// Records `ns` nanoseconds (see [`record_ns`]), making the histogram if needed.
    pub fn record_ns(&mut self, ns: u64) {
        record_ns(self.0.get_or_insert_with(latency_histogram), ns);
    }

    /// The histogram, if anything was recorded.
    pub fn get(&self) -> Option<&Histogram<u64>> {
        self.0.as_ref()
    }
}

/// Counters (in the scoreboard) and latency histograms of one worker.
#[derive(Debug)]
pub struct Stats<'a> {
    slot: &'a WorkerSlot,
    /// Connect latency (new connections only).
    pub connect: Histogram<u64>,
    /// Request sent → first byte of the reply, for replies with status < 400.
    pub first_byte: Histogram<u64>,
    /// Request sent → last byte of the reply, for replies with status < 400.
    pub reply: Histogram<u64>,
    /// Request sent → last byte of the reply, for 4xx and 5xx replies.
    pub reply_error: LazyHistogram,
    /// Lifetime of connections that carried at least one reply (connect → close).
    pub conn_life: Histogram<u64>,
    /// Open loop: scheduled time → last byte of the reply, for replies with status < 400
    /// (the response time a user would see; free of coordinated omission).
    pub response: LazyHistogram,
    /// Open loop: how late each session started against its schedule.
    pub lag: LazyHistogram,
    /// Open loop: sessions that started more than 1 ms late.
    pub late_starts: u64,
    /// Most connections open at once.
    pub max_open: u64,
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
    /// Times the event loop slept (waited for events, a timer or a scheduled start).
    pub wakeups: u64,
    /// Failures by `(class, detail)`; a handful of distinct pairs per run.
    pub details: Vec<(ErrorClass, &'static str, u64)>,
    /// The first errno counted as `other`, so the report can name it.
    pub first_other_errno: Option<i32>,
}

impl<'a> Stats<'a> {
    /// Statistics publishing into `slot`.
    pub fn new(slot: &'a WorkerSlot) -> Self {
        Stats {
            slot,
            connect: latency_histogram(),
            first_byte: latency_histogram(),
            reply: latency_histogram(),
            reply_error: LazyHistogram::default(),
            conn_life: latency_histogram(),
            response: LazyHistogram::default(),
            lag: LazyHistogram::default(),
            late_starts: 0,
            max_open: 0,
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
            wakeups: 0,
            details: Vec::new(),
            first_other_errno: None,
        }
    }

    /// Adds `n` to a counter.
    #[inline]
    pub fn add(&self, c: Counter, n: u64) {
        self.slot.add(c, n);
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

    /// Current value of a counter.
    pub fn get(&self, c: Counter) -> u64 {
        self.slot.get(c)
    }

    /// The scoreboard slot written by this worker.
    pub fn slot(&self) -> &WorkerSlot {
        self.slot
    }
}
