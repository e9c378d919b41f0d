//! One scrape's worth of metrics: a [`Sample`] of the scoreboard, encoded by
//! prometheus-client's text encoders (OpenMetrics 1.0 or Prometheus 0.0.4).
//!
//! The sample is plain data read at the start of the scrape, registered in a fresh
//! registry as a [`Collector`], so the encoder never touches shared memory and a scrape
//! costs the workers nothing.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use volley_scoreboard::latency::{BOUNDS_US, BUCKETS, LiveLatency};
use volley_scoreboard::{Counter, ErrorClass, SlotSnapshot};

/// The text formats a scrape can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text (Prometheus asks for it first).
    OpenMetrics,
    /// Prometheus' text format 0.0.4, for a client that accepts only `text/plain`.
    Prometheus,
}

impl Format {
    /// The `Content-Type` of a reply in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }

    /// The format for a request's `Accept` header: OpenMetrics unless the client names
    /// `text/plain` and not OpenMetrics (no header, or `*/*`, gets OpenMetrics).
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) => {
                let a = a.to_ascii_lowercase();
                if !a.contains("application/openmetrics-text") && a.contains("text/plain") {
                    Format::Prometheus
                } else {
                    Format::OpenMetrics
                }
            }
            None => Format::OpenMetrics,
        }
    }
}

/// What one scrape reports: every worker slot as read at the start of the scrape.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// The run's name (the `run` label).
    pub run: String,
    /// Each worker's slot, in worker order (the `worker` label is the index).
    pub slots: Vec<SlotSnapshot>,
    /// Worker processes alive now.
    pub alive: u32,
    /// Whether the run is over and every worker was reaped: the values are final.
    pub finished: bool,
    /// The names of the hooks' user counters (`volley_user_total`'s `name` label).
    pub user_names: Vec<String>,
}

impl Sample {
    /// The exposition of this sample in `format`.
    pub fn encode(self, format: Format) -> Result<String, fmt::Error> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::with_capacity(16 * 1024);
        match format {
            Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry)?,
            Format::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)?
            }
        }
        Ok(out)
    }

    /// The run-level latency buckets: the sum over the workers.
    fn latency(&self) -> LiveLatency {
        self.slots
            .iter()
            .fold(LiveLatency::default(), |mut sum, slot| {
                sum.add(&slot.latency);
                sum
            })
    }

    /// One family of `kind` with a sample per worker, written by `sample`.
    fn per_worker(
        &self,
        encoder: &mut DescriptorEncoder<'_>,
        family: &Family,
        kind: MetricType,
        mut sample: impl FnMut(MetricEncoder<'_>, &SlotSnapshot) -> fmt::Result,
    ) -> fmt::Result {
        let mut metric =
            encoder.encode_descriptor(family.name, family.help, family.unit.as_ref(), kind)?;
        for (i, slot) in self.slots.iter().enumerate() {
            let worker = i.to_string();
            let labels = [("run", self.run.as_str()), ("worker", worker.as_str())];
            sample(metric.encode_family(&labels)?, slot)?;
        }
        Ok(())
    }

    /// One counter family with a sample per worker.
    fn per_worker_counter(
        &self,
        encoder: &mut DescriptorEncoder<'_>,
        family: &Family,
        value: impl Fn(&SlotSnapshot) -> u64,
    ) -> fmt::Result {
        self.per_worker(encoder, family, MetricType::Counter, |mut m, slot| {
            m.encode_counter::<NoLabelSet, _, u64>(&value(slot), None)
        })
    }

    /// One gauge family with a sample per worker.
    fn per_worker_gauge<V: prometheus_client::encoding::EncodeGaugeValue>(
        &self,
        encoder: &mut DescriptorEncoder<'_>,
        family: &Family,
        value: impl Fn(&SlotSnapshot) -> V,
    ) -> fmt::Result {
        self.per_worker(encoder, family, MetricType::Gauge, |mut m, slot| {
            m.encode_gauge(&value(slot))
        })
    }

    /// A counter family with a sample per worker and per class (`class` label).
    fn per_worker_class<C: Copy>(
        &self,
        encoder: &mut DescriptorEncoder<'_>,
        family: &Family,
        classes: &[(C, &str)],
        value: impl Fn(&SlotSnapshot, C) -> u64,
    ) -> fmt::Result {
        let mut metric = encoder.encode_descriptor(
            family.name,
            family.help,
            family.unit.as_ref(),
            MetricType::Counter,
        )?;
        for (i, slot) in self.slots.iter().enumerate() {
            let worker = i.to_string();
            for &(class, name) in classes {
                let labels = [
                    ("run", self.run.as_str()),
                    ("worker", worker.as_str()),
                    ("class", name),
                ];
                metric
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&value(slot, class), None)?;
            }
        }
        Ok(())
    }

    /// The hooks' user counters: `volley_user_total{name="…"}` per worker (no family at
    /// all when the run's hooks declare none).
    fn user_counters(&self, encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
        if self.user_names.is_empty() {
            return Ok(());
        }
        let mut metric = encoder.encode_descriptor(
            "volley_user",
            "The hook program's own counters, by the name it gave them.",
            None,
            MetricType::Counter,
        )?;
        for (i, slot) in self.slots.iter().enumerate() {
            let worker = i.to_string();
            for (u, name) in self.user_names.iter().enumerate() {
                let labels = [
                    ("run", self.run.as_str()),
                    ("worker", worker.as_str()),
                    ("name", name.as_str()),
                ];
                let value = slot.user.get(u).copied().unwrap_or(0);
                metric
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
            }
        }
        Ok(())
    }

    /// A run-level gauge (`run` label only).
    fn run_gauge(
        &self,
        encoder: &mut DescriptorEncoder<'_>,
        family: &Family,
        value: i64,
    ) -> fmt::Result {
        let mut metric = encoder.encode_descriptor(
            family.name,
            family.help,
            family.unit.as_ref(),
            MetricType::Gauge,
        )?;
        let labels = [("run", self.run.as_str())];
        metric.encode_family(&labels)?.encode_gauge(&value)
    }

    /// The reply latency histogram, run-level: cumulative buckets with `le` in seconds.
    fn reply_histogram(&self, encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let latency = self.latency();
        // prometheus-client takes per-bucket counts and writes them cumulated.
        let buckets: Vec<(f64, u64)> = (0..BUCKETS)
            .map(|i| {
                let le = BOUNDS_US
                    .get(i)
                    .map_or(f64::INFINITY, |&us| us as f64 / 1e6);
                (le, latency.counts[i])
            })
            .collect();
        let mut metric = encoder.encode_descriptor(
            "volley_reply",
            "Latency of successful replies (status below 400), from the request's start \
             to the reply's end, summed over the workers.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        let labels = [("run", self.run.as_str())];
        metric
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(
                latency.sum_us as f64 / 1e6,
                latency.count(),
                &buckets,
                None,
            )
    }
}

/// A metric family's name (without unit or `_total`), help and unit.
struct Family {
    name: &'static str,
    help: &'static str,
    unit: Option<Unit>,
}

const fn family(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        help,
        unit: None,
    }
}

/// The reply classes and their `class` label values.
const REPLY_CLASSES: [(Counter, &str); 5] = [
    (Counter::Replies1xx, "1xx"),
    (Counter::Replies2xx, "2xx"),
    (Counter::Replies3xx, "3xx"),
    (Counter::Replies4xx, "4xx"),
    (Counter::Replies5xx, "5xx"),
];

impl Collector for Sample {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let e = &mut encoder;
        let count = |c: Counter| move |s: &SlotSnapshot| s.get(c);
        let requests = [
            (
                "volley_requests_started",
                "Requests started (queued on a connection or a connect).",
                Counter::RequestsStarted,
            ),
            (
                "volley_requests_completed",
                "Requests that ended with a reply, whatever its status.",
                Counter::RequestsSucceeded,
            ),
            (
                "volley_requests_failed",
                "Requests that ended with an error (see volley_errors_total).",
                Counter::RequestsFailed,
            ),
            (
                "volley_requests_aborted",
                "Requests in flight when the run was stopped.",
                Counter::RequestsAborted,
            ),
            (
                "volley_requests_retried",
                "Requests retried once on a fresh connection after a stale keep-alive one.",
                Counter::RequestsRetried,
            ),
        ];
        for (name, help, counter) in requests {
            self.per_worker_counter(e, &family(name, help), count(counter))?;
        }
        self.per_worker_class(
            e,
            &family("volley_replies", "Replies by status class."),
            &REPLY_CLASSES,
            |s, c| s.get(c),
        )?;
        let errors: Vec<(ErrorClass, &str)> =
            ErrorClass::ALL.iter().map(|&c| (c, c.name())).collect();
        self.per_worker_class(
            e,
            &family("volley_errors", "Failed requests by error class."),
            &errors,
            |s, c| s.error(c),
        )?;
        let bytes = [
            (
                "volley_sent",
                "Bytes written to sockets.",
                Counter::BytesSent,
            ),
            (
                "volley_received",
                "Bytes read from sockets.",
                Counter::BytesReceived,
            ),
        ];
        for (name, help, counter) in bytes {
            let f = Family {
                unit: Some(Unit::Bytes),
                ..family(name, help)
            };
            self.per_worker_counter(e, &f, count(counter))?;
        }
        let conns = [
            (
                "volley_connections_opened",
                "Connections opened (connects that succeeded).",
                Counter::ConnsOpened,
            ),
            (
                "volley_connections_reused",
                "Requests sent on a kept-alive connection instead of a new one.",
                Counter::ConnsReused,
            ),
        ];
        for (name, help, counter) in conns {
            self.per_worker_counter(e, &family(name, help), count(counter))?;
        }
        self.per_worker_gauge(
            e,
            &family("volley_connections_open", "Connections open now."),
            |s| s.get(Counter::ConnsOpen) as i64,
        )?;
        self.per_worker_gauge(
            e,
            &family("volley_slots_active", "Thread slots running now."),
            |s| s.get(Counter::ThreadsActive) as i64,
        )?;
        let lag = Family {
            unit: Some(Unit::Seconds),
            ..family(
                "volley_open_loop_lag",
                "How far the open-loop schedule runs behind (0 in a closed loop).",
            )
        };
        self.per_worker_gauge(e, &lag, |s| s.lag_us as f64 / 1e6)?;
        self.run_gauge(
            e,
            &family("volley_workers_alive", "Worker processes alive now."),
            i64::from(self.alive),
        )?;
        self.run_gauge(
            e,
            &family(
                "volley_run_finished",
                "1 once the run is over and every worker was reaped: the values are final.",
            ),
            i64::from(self.finished),
        )?;
        self.user_counters(e)?;
        self.reply_histogram(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_scoreboard::latency::bucket_of;

    fn sample() -> Sample {
        let mut a = SlotSnapshot::default();
        a.counters[Counter::RequestsStarted.index()] = 7;
        a.counters[Counter::Replies2xx.index()] = 5;
        a.counters[Counter::BytesSent.index()] = 700;
        a.errors[ErrorClass::ConnRefused.index()] = 2;
        a.latency.counts[bucket_of(110)] = 4;
        a.latency.counts[BUCKETS - 1] = 1;
        a.latency.sum_us = 4 * 110 + 70_000_000;
        a.lag_us = 1500;
        a.user[1] = 9;
        let mut b = SlotSnapshot::default();
        b.counters[Counter::RequestsStarted.index()] = 3;
        b.latency.counts[0] = 2;
        b.latency.sum_us = 10;
        Sample {
            run: "volley-t".into(),
            slots: vec![a, b],
            alive: 2,
            finished: false,
            user_names: vec!["tokens".into(), "bad".into()],
        }
    }

    #[test]
    fn openmetrics_text_has_every_family_and_ends_with_eof() {
        let text = sample().encode(Format::OpenMetrics).unwrap();
        assert!(text.ends_with("# EOF\n"), "{text}");
        for line in [
            "# TYPE volley_requests_started counter",
            r#"volley_requests_started_total{run="volley-t",worker="0"} 7"#,
            r#"volley_requests_started_total{run="volley-t",worker="1"} 3"#,
            r#"volley_replies_total{run="volley-t",worker="0",class="2xx"} 5"#,
            r#"volley_errors_total{run="volley-t",worker="0",class="connrefused"} 2"#,
            "# UNIT volley_sent_bytes bytes",
            r#"volley_sent_bytes_total{run="volley-t",worker="0"} 700"#,
            r#"volley_open_loop_lag_seconds{run="volley-t",worker="0"} 0.0015"#,
            "# TYPE volley_user counter",
            r#"volley_user_total{run="volley-t",worker="0",name="bad"} 9"#,
            r#"volley_user_total{run="volley-t",worker="1",name="tokens"} 0"#,
            r#"volley_workers_alive{run="volley-t"} 2"#,
            r#"volley_run_finished{run="volley-t"} 0"#,
            "# TYPE volley_reply_seconds histogram",
            r#"volley_reply_seconds_count{run="volley-t"} 7"#,
            r#"volley_reply_seconds_bucket{le="+Inf",run="volley-t"} 7"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative_with_le_in_seconds() {
        let text = sample().encode(Format::OpenMetrics).unwrap();
        let buckets: Vec<(f64, u64)> = text
            .lines()
            .filter_map(|l| l.strip_prefix(r#"volley_reply_seconds_bucket{le=""#))
            .map(|rest| {
                let (le, n) = rest.split_once(r#"",run="volley-t"} "#).unwrap();
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                (le, n.parse().unwrap())
            })
            .collect();
        assert_eq!(buckets.len(), BUCKETS);
        assert_eq!(buckets[0], (0.00001, 2), "10 µs is 1e-5 s");
        assert_eq!(buckets[bucket_of(110)], (0.00012, 6));
        assert_eq!(buckets[BUCKETS - 2], (60.0, 6));
        assert_eq!(buckets[BUCKETS - 1].1, 7);
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
        );
        let sum = r#"volley_reply_seconds_sum{run="volley-t"} 70.00045"#;
        assert!(text.lines().any(|l| l == sum), "{text}");
    }

    #[test]
    fn prometheus_text_on_request() {
        assert_eq!(Format::negotiate(None), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("*/*")), Format::OpenMetrics);
        let prom = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        let plain = Some("text/plain;version=0.0.4");
        assert_eq!(Format::negotiate(plain), Format::Prometheus);
        let text = sample().encode(Format::Prometheus).unwrap();
        assert!(!text.contains("# EOF"));
        assert!(
            text.contains("# TYPE volley_requests_started_total counter"),
            "{text}"
        );
    }
}
