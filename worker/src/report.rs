//! `WorkerReport`: a worker's final counters and histograms, encoded for the pipe to the
//! supervisor (JSON lines with a version field; sent once per run, so size does not matter).

use serde::{Deserialize, Serialize};
use volley_scoreboard::{Counter, ErrorClass, SlotSnapshot};

use crate::stats::{self, Latency, Moments, Stats};

/// Version of the encoding; the supervisor rejects any other.
pub const REPORT_VERSION: u32 = 2;

/// A latency distribution as its histogram's recorded `(value, count)` pairs and its
/// exact moments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramData {
    /// `(value, count)` for every recorded bucket, µs.
    pub pairs: Vec<(u64, u64)>,
    /// The exact moments of the samples.
    pub moments: Moments,
}

impl HistogramData {
    /// Captures the recorded values of `l`.
    pub fn from_latency(l: &Latency) -> Self {
        let h = &l.hist;
        // Sized first: one allocation whatever the number of distinct values.
        let mut pairs = Vec::with_capacity(h.iter_recorded().count());
        pairs.extend(
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value())),
        );
        HistogramData {
            pairs,
            moments: l.moments,
        }
    }

    /// The recorded values of a histogram made on its first sample (none if it was not).
    pub fn from_lazy(h: &crate::stats::LazyHistogram) -> Self {
        h.get().map(Self::from_latency).unwrap_or_default()
    }

    /// Adds these values into `l`.
    pub fn add_to(&self, l: &mut Latency) {
        for &(value, count) in &self.pairs {
            let _ = l
                .hist
                .record_n(value.clamp(1, stats::MAX_LATENCY_US), count);
        }
        l.moments.add(&self.moments);
    }
}

/// Everything a worker reports at the end of its run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerReport {
    /// Encoding version ([`REPORT_VERSION`]).
    pub version: u32,
    /// Worker index.
    pub worker: u32,
    /// Counters indexed by [`Counter`].
    pub counters: Vec<u64>,
    /// Error counts indexed by [`ErrorClass`].
    pub errors: Vec<u64>,
    /// Connect latency, µs.
    pub connect_us: HistogramData,
    /// First-byte latency, µs.
    pub first_byte_us: HistogramData,
    /// Full-reply latency, µs.
    pub reply_us: HistogramData,
    /// Full-reply latency of 4xx/5xx replies, µs.
    #[serde(default)]
    pub reply_error_us: HistogramData,
    /// Lifetimes of connections that carried a reply, µs.
    #[serde(default)]
    pub conn_life_us: HistogramData,
    /// Time from the release to the end of the worker's loop, ns.
    pub elapsed_ns: u64,
    /// User CPU time of the worker process, µs.
    pub cpu_user_us: u64,
    /// System CPU time of the worker process, µs.
    pub cpu_sys_us: u64,
    /// Stale events dropped (handles of closed connections).
    pub stale_events: u64,
    /// What servers did to kept-alive connections outside any request.
    #[serde(default)]
    pub anomalies: crate::stats::Anomalies,
    /// Times the event loop slept.
    #[serde(default)]
    pub wakeups: u64,
    /// Of those, a closed loop's naps between batches of replies.
    #[serde(default)]
    pub naps: u64,
    /// Open loop: scheduled time → full reply, µs.
    #[serde(default)]
    pub response_us: HistogramData,
    /// Open loop: session start lag against the schedule, µs.
    #[serde(default)]
    pub lag_us: HistogramData,
    /// Closed loop: the samples of the requests slots would have sent while a reply
    /// stalled them, µs (the corrected reply latency is these and `reply_us`).
    #[serde(default)]
    pub reply_missed_us: HistogramData,
    /// Open loop: sessions that started more than 1 ms late.
    #[serde(default)]
    pub late_starts: u64,
    /// Open loop: lifetimes of sessions that succeeded, µs.
    #[serde(default)]
    pub session_life_us: HistogramData,
    /// Open loop: due → failure of sessions that failed, µs.
    #[serde(default)]
    pub session_fail_us: HistogramData,
    /// Open loop: connections opened by ended sessions.
    #[serde(default)]
    pub session_conns: u64,
    /// Open loop: ended sessions by replies got.
    #[serde(default)]
    pub session_lengths: Vec<u64>,
    /// Most connections this worker had open at once.
    #[serde(default)]
    pub max_open: u64,
    /// Most connects this worker started in one turn of its event loop.
    #[serde(default)]
    pub max_connect_burst: u64,
    /// The most connections open in each bucket of `open_bucket_ns` since the release.
    #[serde(default)]
    pub open_buckets: Vec<u32>,
    /// Width of those buckets, ns.
    #[serde(default)]
    pub open_bucket_ns: u64,
    /// httperf's request and reply sums.
    #[serde(default)]
    pub figures: stats::ReplyFigures,
    /// TLS: TCP connected → handshake done, µs.
    #[serde(default)]
    pub tls_handshake_us: HistogramData,
    /// TLS: full handshakes.
    #[serde(default)]
    pub tls_full: u64,
    /// TLS: resumed handshakes.
    #[serde(default)]
    pub tls_resumed: u64,
    /// Records written to the per-request log part.
    #[serde(default)]
    pub log_records: u64,
    /// The first error writing the per-request log part, if any.
    #[serde(default)]
    pub log_error: Option<String>,
    /// Failures by `(class, detail, count)`.
    #[serde(default)]
    pub details: Vec<(String, String, u64)>,
    /// Replies by exact status code: `(code, count)` for every code seen.
    #[serde(default)]
    pub statuses: Vec<(u16, u64)>,
    /// The first errno counted as `other`.
    #[serde(default)]
    pub first_other_errno: Option<i32>,
    /// Why the first request a hook made could not be sent (`other/hook-request`).
    #[serde(default)]
    pub hook_refused: Option<String>,
    /// How long after the end of `-d` the worker's loop stopped the load, ns (`None` when
    /// the run did not end by its duration).
    #[serde(default)]
    pub stop_overrun_ns: Option<u64>,
    /// The time series: the worker's intervals, in order.
    #[serde(default)]
    pub series: Vec<crate::series::IntervalData>,
    /// Its interval length, ns.
    #[serde(default)]
    pub series_interval_ns: u64,
    /// `--call-stats`: the earliest-started calls this worker kept, in start order.
    #[serde(default)]
    pub calls: Vec<crate::calls::CallEntry>,
}

impl WorkerReport {
    /// Builds the report from the worker's final statistics.
    pub fn new(worker: u32, stats: &Stats<'_>, elapsed_ns: u64) -> Self {
        let snap = stats.slot().snapshot();
        let (cpu_user_us, cpu_sys_us) = cpu_times_us();
        WorkerReport {
            version: REPORT_VERSION,
            worker,
            counters: snap.counters.to_vec(),
            errors: snap.errors.to_vec(),
            connect_us: HistogramData::from_latency(&stats.connect),
            first_byte_us: HistogramData::from_latency(&stats.first_byte),
            reply_us: HistogramData::from_latency(&stats.reply),
            conn_life_us: HistogramData::from_latency(&stats.conn_life),
            reply_error_us: HistogramData::from_lazy(&stats.reply_error),
            elapsed_ns,
            cpu_user_us,
            cpu_sys_us,
            stale_events: stats.stale_events,
            anomalies: stats.anomalies,
            wakeups: stats.wakeups,
            naps: 0,
            details: stats
                .details
                .iter()
                .map(|&(c, d, n)| (c.name().to_string(), d.to_string(), n))
                .collect(),
            statuses: stats.statuses.nonzero(),
            first_other_errno: stats.first_other_errno,
            hook_refused: stats.hook_refused.clone(),
            response_us: HistogramData::from_lazy(&stats.response),
            lag_us: HistogramData::from_lazy(&stats.lag),
            reply_missed_us: HistogramData::from_lazy(&stats.reply_missed),
            late_starts: stats.late_starts,
            max_open: stats.max_open,
            max_connect_burst: stats.max_connect_burst,
            open_buckets: stats.open_timeline.buckets.clone(),
            open_bucket_ns: stats.open_timeline.width_ns,
            figures: stats.figures,
            tls_handshake_us: HistogramData::from_lazy(&stats.tls_handshake),
            tls_full: stats.tls_full,
            tls_resumed: stats.tls_resumed,
            session_life_us: HistogramData::from_lazy(&stats.session_life),
            session_fail_us: HistogramData::from_lazy(&stats.session_fail),
            session_conns: stats.session_conns,
            session_lengths: stats.session_lengths.clone(),
            log_records: 0,
            log_error: None,
            stop_overrun_ns: None,
            series: stats.series.done.clone(),
            series_interval_ns: stats.series.len_ns,
            calls: Vec::new(),
        }
    }

    /// A counter's value.
    pub fn get(&self, c: Counter) -> u64 {
        self.counters.get(c.index()).copied().unwrap_or(0)
    }

    /// An error class's count.
    pub fn error(&self, e: ErrorClass) -> u64 {
        self.errors.get(e.index()).copied().unwrap_or(0)
    }

    /// The counters as a scoreboard snapshot (for merging with the same code as live rows).
    pub fn snapshot(&self) -> SlotSnapshot {
        let mut s = SlotSnapshot::default();
        for c in Counter::ALL {
            s.counters[c.index()] = self.get(c);
        }
        for e in ErrorClass::ALL {
            s.errors[e.index()] = self.error(e);
        }
        s
    }

    /// Encodes the report as one line of JSON.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).expect("a report always serializes");
        v.push(b'\n');
        v
    }

    /// Decodes a report written by [`WorkerReport::encode`].
    ///
    /// # Errors
    ///
    /// A message when the bytes are not a report of this version.
    pub fn decode(bytes: &[u8]) -> Result<WorkerReport, String> {
        let r: WorkerReport =
            serde_json::from_slice(bytes).map_err(|e| format!("undecodable worker report: {e}"))?;
        if r.version != REPORT_VERSION {
            return Err(format!(
                "worker report version {} (expected {REPORT_VERSION})",
                r.version
            ));
        }
        if r.counters.len() != Counter::COUNT || r.errors.len() != ErrorClass::COUNT {
            return Err("worker report has the wrong number of counters".into());
        }
        Ok(r)
    }
}

/// User and system CPU time of this process, µs.
fn cpu_times_us() -> (u64, u64) {
    use nix::sys::resource::{UsageWho, getrusage};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let us = |t: nix::sys::time::TimeVal| {
                (t.tv_sec() as u64).saturating_mul(1_000_000) + t.tv_usec() as u64
            };
            (us(u.user_time()), us(u.system_time()))
        }
        Err(_) => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_round_trip_keeps_counts_and_quantiles() {
        let mut h = Latency::new();
        for v in [1u64, 5, 5, 100, 2_000, 1_000_000] {
            h.record_us(v);
        }
        let data = HistogramData::from_latency(&h);
        let mut back = Latency::new();
        data.add_to(&mut back);
        assert_eq!(back.len(), h.len());
        assert_eq!(back.hist.len(), h.hist.len());
        assert_eq!(back.quantile_us(0.5), h.quantile_us(0.5));
        assert_eq!(back.moments, h.moments);
    }

    /// Issue 13: connections that each lived about 10 s, a few ms apart, share one
    /// histogram bucket (8 ms wide at 10 s). Min, max, mean and standard deviation stay
    /// exact; the median is the middle of the bucket, within the exact min and max.
    #[test]
    fn ten_second_lifetimes_keep_their_spread() {
        let lives = [9_998_100u64, 9_999_000, 10_000_500, 10_001_200];
        let mut l = Latency::new();
        for v in lives {
            l.record_us(v);
        }
        let mut merged = Latency::new();
        HistogramData::from_latency(&l).add_to(&mut merged);
        let m = merged.moments;
        assert_eq!((m.min, m.max, m.count), (9_998_100, 10_001_200, 4));
        assert_eq!(m.mean(), Some(9_999_700.0));
        // Population stddev of the four values: sqrt(5_940_000 / 4) = 1218.61 µs.
        let sd = m.stdev().unwrap();
        assert!((sd - 1218.606).abs() < 0.01, "stddev {sd}");
        let median = merged.quantile_us(0.5).unwrap();
        assert!(
            median > 9_998_100.0 && median < 10_001_200.0,
            "median {median} strictly between min and max"
        );
        assert!((median - 9_999_750.0).abs() < 5_000.0, "median {median}");
    }

    #[test]
    fn one_sample_reads_the_same_everywhere() {
        let mut l = Latency::new();
        l.record_us(2_000_123);
        for q in [0.0, 0.5, 0.99, 1.0] {
            assert_eq!(l.quantile_us(q), Some(2_000_123.0));
        }
        assert_eq!(l.moments.stdev(), Some(0.0));
    }

    #[test]
    fn stdev_survives_sums_too_large_for_integers() {
        let mut m = Moments::default();
        for _ in 0..3 {
            m.record(stats::MAX_LATENCY_US);
        }
        m.sum_sq = u128::MAX / 2;
        assert!(m.stdev().is_some_and(f64::is_finite));
    }

    #[test]
    fn encode_decode() {
        let r = WorkerReport {
            version: REPORT_VERSION,
            worker: 2,
            counters: vec![3; Counter::COUNT],
            errors: vec![1; ErrorClass::COUNT],
            ..Default::default()
        };
        assert_eq!(WorkerReport::decode(&r.encode()).unwrap(), r);
        assert!(WorkerReport::decode(b"{}").is_err());
        let mut old = r.clone();
        old.version = 99;
        assert!(
            WorkerReport::decode(&old.encode())
                .unwrap_err()
                .contains("version")
        );
    }
}
