//! The machine-readable report: one pretty-printed JSON object (`"schema": 2`): every
//! key of schema 1 with its meaning, plus the histograms in HdrHistogram's standard
//! encoding, every counter, the time series and what identifies the workload, so a result
//! file can be merged, compared and drawn without loss.
//!
//! Every float is finite; a value without meaning (no sample) is `null`.

use serde_json::{Map, Value, json};
use volley_scoreboard::{Counter, ErrorClass, SlotSnapshot};

use super::text::latency_ms;
use super::{Report, rate};
use volley_config::check::Unit;
use volley_worker::stats::Latency;

/// Renders `r` as pretty JSON, ending with a newline.
pub fn render(r: &Report) -> String {
    let mut s = serde_json::to_string_pretty(&to_value(r)).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// A finite float, or `null`.
fn num(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

/// `{"started", "completed", "aborted"}` of a counter snapshot.
fn requests(c: &SlotSnapshot) -> Value {
    let started = c.get(Counter::RequestsStarted);
    let completed = c.get(Counter::RequestsSucceeded) + c.get(Counter::RequestsFailed);
    json!({
        "started": started,
        "completed": completed,
        "aborted": c.get(Counter::RequestsAborted),
        "retried": c.get(Counter::RequestsRetried),
    })
}

/// `{"<class>": {"<detail>": n}}` for every non-zero (class, detail) pair.
fn errors_detail(r: &Report) -> Value {
    let mut by_class = Map::new();
    for ((class, detail), &n) in &r.error_details {
        let entry = by_class
            .entry(class.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(detail.clone(), json!(n));
        }
    }
    Value::Object(by_class)
}

/// `{"200": n, "503": n}`: replies by exact status code, in code order.
fn by_status(r: &Report) -> Value {
    let m: Map<String, Value> = r
        .by_status
        .iter()
        .map(|(code, n)| (code.to_string(), json!(n)))
        .collect();
    Value::Object(m)
}

/// `[{"expr", "value", "unit", "pass"}]`, in the order given; `value` is `null` when it
/// could not be measured (and the check failed).
fn checks(r: &Report) -> Value {
    let list: Vec<Value> = r
        .checks
        .iter()
        .map(|c| {
            json!({
                "expr": c.expr,
                "value": match (c.value, c.unit) {
                    // Counts are whole numbers: shown as such.
                    (Ok(v), Unit::Count) => json!(v as u64),
                    (v, _) => v.map_or(Value::Null, num),
                },
                "unit": c.unit.name(),
                "pass": c.pass,
            })
        })
        .collect();
    Value::Array(list)
}

/// `{"count", "min", "mean", "p50", "p90", "p99", "p999", "max"}` in milliseconds; every
/// statistic is `null` without samples.
fn latency(h: &Latency) -> Value {
    let keys = ["min", "mean", "p50", "p90", "p99", "p999", "max"];
    let mut m = Map::new();
    m.insert("count".into(), json!(h.len()));
    let stats = latency_ms(h);
    for (i, k) in keys.into_iter().enumerate() {
        m.insert(k.into(), stats.map_or(Value::Null, |s| num(s[i])));
    }
    Value::Object(m)
}

/// The whole report as a JSON value.
fn to_value(r: &Report) -> Value {
    let t = &r.totals;
    let reasons = r.invalid_reasons();

    let mut errors = Map::new();
    errors.insert("total".into(), json!(r.errors()));
    for class in ErrorClass::ALL {
        errors.insert(class.name().into(), json!(t.error(class)));
    }

    let (user_us, sys_us) = r.cpu_us();
    let workers: Vec<Value> = r
        .workers
        .iter()
        .enumerate()
        .map(|(pos, w)| {
            json!({
                "index": w.index,
                "pid": w.pid,
                "reported": w.reported,
                "exit": {
                    "code": w.exit.code,
                    "signal": w.exit.signal,
                    "core_dumped": w.exit.core_dumped,
                    "stopped_responding": w.exit.stopped_responding,
                },
                "requests": requests(&w.counters),
                "replies": w.counters.get(Counter::RequestsSucceeded),
                "errors": w.counters.get(Counter::RequestsFailed),
                "counters": counters(&w.counters),
                "cpu_us": { "user": w.cpu_us.0, "system": w.cpu_us.1 },
                "source": w.source,
                // By position in `workers` (a run's index; a merge lists workers of
                // several files, whose indices repeat).
                "user_counters": r.user_counters.iter().map(|u| {
                    let n = u.per_worker.get(pos).copied().unwrap_or(0);
                    (u.name.clone(), json!(n))
                }).collect::<Map<String, Value>>(),
            })
        })
        .collect();

    let mut v = json!({
        "schema": 2,
        "url": r.url,
        "method": r.method,
        "run_name": r.run_name,
        "seed": r.seed.0,
        "seed_given": r.seed.1,
        "duration_s": num(r.duration_s),
        "concurrency": r.concurrency,
        "interrupted": r.interrupted,
        "workload": r.workload.as_ref().map(|w| json!({
            "run_file": w.file,
            "urls": w.entries,
            "iterator": w.iterator,
            "rounds": w.rounds,
        })),
        "log": r.log.as_ref().map(|l| json!({
            "path": l.path,
            "records": l.records,
            "error": l.error,
        })),
        "valid": reasons.is_empty(),
        "invalid_reasons": reasons,
        "requests": requests(t),
        "errors_detail": errors_detail(r),
        "anomalies": {
            "unsolicited_data": r.anomalies.unsolicited_data,
            "unsolicited_bytes": r.anomalies.unsolicited_bytes,
            "closed_while_idle": r.anomalies.closed_while_idle,
        },
        "replies": {
            "total": r.replies(),
            "1xx": t.get(Counter::Replies1xx),
            "2xx": t.get(Counter::Replies2xx),
            "3xx": t.get(Counter::Replies3xx),
            "4xx": t.get(Counter::Replies4xx),
            "5xx": t.get(Counter::Replies5xx),
            "by_status": by_status(r),
        },
        "errors": errors,
        "connections": {
            "opened": t.get(Counter::ConnsOpened),
            "reused": t.get(Counter::ConnsReused),
            "max_concurrent": r.max_open,
            "max_connect_burst": r.max_connect_burst,
            "lifetime_ms": latency(&r.conn_life),
        },
        "latency_ms": {
            "connect": latency(&r.connect),
            "first_byte": latency(&r.first_byte),
            "reply": latency(&r.reply),
            "reply_4xx_5xx": latency(&r.reply_error),
            "reply_corrected": latency(&r.reply_corrected),
            "response": latency(&r.response),
            "schedule_lag": latency(&r.lag),
            "tls_handshake": latency(&r.tls_handshake),
        },
        "tls": r.tls.as_ref().map(|t| json!({
            "handshakes_full": t.full,
            "handshakes_resumed": t.resumed,
            "resumption": t.resume,
            "certificates_verified": !t.insecure,
        })),
        "sessions": r.sessions.as_ref().map(|sr| json!({
            "ok": sr.ok,
            "failed": sr.failed,
            "connections": sr.conns,
            "lifetime_ms": latency(&sr.life),
            "failtime_ms": latency(&sr.fail),
            "length_histogram": sr.lengths,
            "rate_samples": sr.rate_samples,
        })),
        "open_loop": r.open_loop.as_ref().map(|o| json!({
            "process": o.process,
            "target_sessions_per_s": num(o.target_rate),
            "calls": o.calls,
            "sessions": r.sessions(),
            "achieved_sessions_per_s": num(rate(r.sessions(), r.duration_s)),
            "late_starts_1ms": o.late_starts,
            "behind_schedule": r.behind_schedule(),
        })),
        "throughput": {
            "requests_per_s": num(r.requests_per_s()),
            "attempts_per_s": num(r.attempts_per_s()),
            "bytes_received_per_s": num(rate(t.get(Counter::BytesReceived), r.duration_s)),
        },
        "bytes": {
            "sent": t.get(Counter::BytesSent),
            "received": t.get(Counter::BytesReceived),
            "header": t.get(Counter::HeaderBytes),
            "body": t.get(Counter::BodyBytes),
            "request": r.request_bytes,
            "footer": r.figures.footer_bytes,
        },
        "httperf_sums": {
            "requests_sent": r.figures.requests_sent,
            "request_bytes_sent": r.figures.request_bytes_sent,
            "responses": r.figures.responses,
            "response_ns": r.figures.response_ns,
            "transfers": r.figures.transfers,
            "transfer_ns": r.figures.transfer_ns,
        },
        "cpu_s": {
            "user": num(user_us as f64 / 1e6),
            "system": num(sys_us as f64 / 1e6),
            "wakeups": r.wakeups,
            "naps": r.naps,
        },
        "timing": {
            "startup_ms": num(r.startup_ms),
            "stop_overrun_ms": r.stop_overrun_ms.map(num),
        },
        "reply_rate_samples": r.reply_rate_samples.iter().map(|&x| num(x)).collect::<Vec<_>>(),
        "reply_rate_1s": r.reply_rate_1s.iter().map(|&x| num(x)).collect::<Vec<_>>(),
        "checks": checks(r),
        "user_counters": r.user_counters.iter()
            .map(|u| (u.name.clone(), json!(u.total())))
            .collect::<Map<String, Value>>(),
        "verdict": r.verdict().name(),
        "workers": workers,
    });
    if let Value::Object(m) = &mut v {
        m.insert("started_unix_ms".into(), json!(r.started_unix_ms));
        m.insert("workload_id".into(), json!(r.workload_id));
        m.insert("totals".into(), counters(&r.totals));
        m.insert("histograms".into(), histograms(r));
        m.insert("time_series".into(), time_series(r));
        m.insert("first_other_errno".into(), json!(r.first_other_errno));
        m.insert("hook_refused".into(), json!(r.hook_refused));
        m.insert("merged_from".into(), json!(r.sources));
    }
    v
}

/// Every counter and error class by name: the lossless totals a merge adds.
fn counters(c: &SlotSnapshot) -> Value {
    let counters: Map<String, Value> = Counter::ALL
        .iter()
        .map(|&k| (k.name().to_string(), json!(c.get(k))))
        .collect();
    let errors: Map<String, Value> = ErrorClass::ALL
        .iter()
        .map(|&k| (k.name().to_string(), json!(c.error(k))))
        .collect();
    json!({ "counters": counters, "errors": errors })
}

/// A latency distribution in full: HdrHistogram's V2 + deflate encoding in base64 (µs),
/// and the exact moments kept beside it.
pub fn histogram(l: &Latency) -> Value {
    let m = &l.moments;
    json!({
        "hdr": volley_worker::series::encode(&l.hist),
        "count": m.count,
        "min": m.min,
        "max": m.max,
        "sum": m.sum.to_string(),
        "sum_sq": m.sum_sq.to_string(),
    })
}

/// Every non-empty latency histogram of the run, by the name of its `latency_ms` row.
fn histograms(r: &Report) -> Value {
    let mut m = Map::new();
    m.insert("unit".into(), json!("us"));
    let mut all = vec![
        ("connect", &r.connect),
        ("first_byte", &r.first_byte),
        ("reply", &r.reply),
        ("reply_4xx_5xx", &r.reply_error),
        ("reply_corrected", &r.reply_corrected),
        ("response", &r.response),
        ("schedule_lag", &r.lag),
        ("tls_handshake", &r.tls_handshake),
        ("connection_lifetime", &r.conn_life),
    ];
    if let Some(sr) = &r.sessions {
        all.push(("session_lifetime", &sr.life));
        all.push(("session_failtime", &sr.fail));
    }
    for (name, l) in all {
        if !l.is_empty() {
            m.insert(name.into(), histogram(l));
        }
    }
    Value::Object(m)
}

/// The time series: per interval, its start, replies and errors by class, bytes,
/// connections opened, and the interval's reply latency (percentiles in ms, and the
/// histogram in full).
fn time_series(r: &Report) -> Value {
    let Some(ts) = &r.series else {
        return Value::Null;
    };
    let len = ts.interval_ns.max(1);
    let intervals: Vec<Value> = ts
        .intervals
        .values()
        .map(|i| {
            let mut l = Latency::new();
            i.latency.add_to(&mut l);
            let mut errors = Map::new();
            for class in ErrorClass::ALL {
                let n = i.error(class);
                if n > 0 {
                    errors.insert(class.name().into(), json!(n));
                }
            }
            json!({
                "start_unix_ms": i.key.saturating_mul(len) / 1_000_000,
                "replies": {
                    "total": i.get(Counter::RequestsSucceeded),
                    "1xx": i.get(Counter::Replies1xx),
                    "2xx": i.get(Counter::Replies2xx),
                    "3xx": i.get(Counter::Replies3xx),
                    "4xx": i.get(Counter::Replies4xx),
                    "5xx": i.get(Counter::Replies5xx),
                },
                "requests_started": i.get(Counter::RequestsStarted),
                "errors": errors,
                "errors_total": i.get(Counter::RequestsFailed),
                "bytes_sent": i.get(Counter::BytesSent),
                "bytes_received": i.get(Counter::BytesReceived),
                "connections_opened": i.get(Counter::ConnsOpened),
                "latency_ms": latency(&l),
                "hdr": volley_worker::series::encode(&l.hist),
                // Exact, so that a merge or a re-read keeps the interval's mean exact.
                "latency_sum_us": l.moments.sum.to_string(),
                "latency_sum_sq_us": l.moments.sum_sq.to_string(),
            })
        })
        .collect();
    json!({
        "interval_s": num(len as f64 / 1e9),
        "intervals": intervals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Exit, WorkerPart};

    fn snapshot(counters: &[(Counter, u64)], errors: &[(ErrorClass, u64)]) -> SlotSnapshot {
        let mut s = SlotSnapshot::default();
        for &(c, n) in counters {
            s.counters[c.index()] = n;
        }
        for &(c, n) in errors {
            s.errors[c.index()] = n;
        }
        s
    }

    fn sample_report() -> Report {
        let mut r = Report::new(
            "http://127.0.0.1:8080/x".into(),
            "POST".into(),
            8,
            (99, false),
        );
        r.run_name = "volley-77".into();
        r.duration_s = 4.0;
        r.totals = snapshot(
            &[
                (Counter::RequestsStarted, 20),
                (Counter::RequestsSucceeded, 16),
                (Counter::RequestsFailed, 3),
                (Counter::RequestsAborted, 1),
                (Counter::Replies2xx, 15),
                (Counter::Replies5xx, 1),
                (Counter::BytesSent, 1000),
                (Counter::BytesReceived, 4000),
                (Counter::HeaderBytes, 2400),
                (Counter::BodyBytes, 1600),
                (Counter::ConnsOpened, 5),
                (Counter::ConnsReused, 15),
            ],
            &[(ErrorClass::ConnRefused, 3)],
        );
        r.reply.record_us(1234);
        r.reply.record_us(1500);
        r.reply_rate_samples = vec![4.0, 4.5];
        r.reply_rate_1s = vec![3.0, 5.0, 4.0];
        r.by_status.insert(200, 15);
        r.by_status.insert(503, 1);
        let checks: Vec<volley_config::Check> = ["p99 < 1ms", "status.503 == 1", "errors < 20%"]
            .iter()
            .map(|e| volley_config::Check::parse(e).unwrap())
            .collect();
        r.checks = crate::report::checks::evaluate(&checks, &r);
        r.workers = vec![WorkerPart {
            index: 0,
            pid: 555,
            exit: Exit {
                code: None,
                signal: Some(11),
                core_dumped: true,
                stopped_responding: false,
            },
            reported: false,
            counters: r.totals,
            cpu_us: (250_000, 125_000),
            source: None,
        }];
        r
    }

    fn parse(r: &Report) -> Value {
        let s = render(r);
        assert!(s.ends_with("}\n"), "{s}");
        assert!(!s.contains("NaN") && !s.contains("inf"), "{s}");
        serde_json::from_str(&s).expect("valid JSON")
    }

    #[test]
    fn key_values() {
        let v = parse(&sample_report());
        assert_eq!(v["schema"], 2, "schema 2: schema 1's keys and more");
        assert_eq!(v["url"], "http://127.0.0.1:8080/x");
        assert_eq!(v["method"], "POST");
        assert_eq!(v["run_name"], "volley-77");
        assert_eq!(v["seed"], 99);
        assert_eq!(v["seed_given"], false);
        assert_eq!(v["duration_s"], 4.0);
        assert_eq!(v["concurrency"], 8);
        assert_eq!(v["interrupted"], false);
        assert_eq!(v["valid"], false);
        let reasons = v["invalid_reasons"].as_array().unwrap();
        assert_eq!(reasons.len(), 1);
        assert!(
            reasons[0].as_str().unwrap().contains("SIGSEGV"),
            "{reasons:?}"
        );
        assert_eq!(v["requests"]["started"], 20);
        assert_eq!(v["requests"]["completed"], 19);
        assert_eq!(v["requests"]["aborted"], 1);
        assert_eq!(v["replies"]["total"], 16);
        assert_eq!(v["replies"]["2xx"], 15);
        assert_eq!(v["replies"]["5xx"], 1);
        assert_eq!(v["replies"]["1xx"], 0);
        assert_eq!(v["errors"]["total"], 3);
        assert_eq!(v["errors"]["connrefused"], 3);
        assert_eq!(v["errors"]["connreset"], 0);
        assert_eq!(v["connections"]["opened"], 5);
        assert_eq!(v["connections"]["reused"], 15);
        assert_eq!(v["throughput"]["requests_per_s"], 4.0);
        assert_eq!(v["throughput"]["bytes_received_per_s"], 1000.0);
        assert_eq!(v["bytes"]["sent"], 1000);
        assert_eq!(v["bytes"]["received"], 4000);
        assert_eq!(v["bytes"]["header"], 2400);
        assert_eq!(v["bytes"]["body"], 1600);
        assert_eq!(v["cpu_s"]["user"], 0.25);
        assert_eq!(v["cpu_s"]["system"], 0.125);
        assert_eq!(v["reply_rate_samples"], json!([4.0, 4.5]));
        assert_eq!(v["reply_rate_1s"], json!([3.0, 5.0, 4.0]));
        assert_eq!(v["replies"]["by_status"], json!({"200": 15, "503": 1}));
        assert_eq!(v["throughput"]["attempts_per_s"], 5.0);
        // The worker crashed: the run is invalid whatever the checks say.
        assert_eq!(v["verdict"], "invalid");
        assert_eq!(
            v["checks"],
            json!([
                {"expr": "p99 < 1ms", "value": 1.5, "unit": "ms", "pass": false},
                {"expr": "status.503 == 1", "value": 1, "unit": "count", "pass": true},
                {"expr": "errors < 20%", "value": 15.789473684210526, "unit": "%", "pass": true},
            ])
        );

        let reply = &v["latency_ms"]["reply"];
        assert_eq!(reply["count"], 2);
        assert_eq!(reply["min"], 1.234);
        assert_eq!(reply["mean"], 1.367);
        assert_eq!(reply["p50"], 1.234);
        assert_eq!(reply["p90"], 1.5);
        assert_eq!(reply["p99"], 1.5);
        assert_eq!(reply["p999"], 1.5);
        assert_eq!(reply["max"], 1.5);
        for key in ["connect", "first_byte"] {
            let l = &v["latency_ms"][key];
            assert_eq!(l["count"], 0, "{key}");
            for stat in ["min", "mean", "p50", "p90", "p99", "p999", "max"] {
                assert!(l[stat].is_null(), "{key}.{stat}");
            }
        }

        let w = &v["workers"][0];
        assert_eq!(w["index"], 0);
        assert_eq!(w["pid"], 555);
        assert_eq!(w["reported"], false);
        assert_eq!(w["exit"]["signal"], 11);
        assert!(w["exit"]["code"].is_null());
        assert_eq!(w["exit"]["core_dumped"], true);
        assert_eq!(w["requests"]["started"], 20);
        assert_eq!(w["requests"]["completed"], 19);
        assert_eq!(w["requests"]["aborted"], 1);
        assert_eq!(w["replies"], 16);
        assert_eq!(w["errors"], 3);
    }

    #[test]
    fn every_error_class_is_a_key() {
        let v = parse(&sample_report());
        let errors = v["errors"].as_object().unwrap();
        for class in ErrorClass::ALL {
            assert!(errors.contains_key(class.name()), "{}", class.name());
        }
        assert!(errors.contains_key("total"));
        assert_eq!(errors.len(), ErrorClass::COUNT + 1);
    }

    #[test]
    fn empty_run_is_finite_and_valid() {
        let mut r = Report::new("http://h/".into(), "GET".into(), 1, (1, true));
        r.duration_s = 0.0;
        r.interrupted = true;
        let v = parse(&r);
        assert_eq!(v["valid"], true);
        assert_eq!(v["interrupted"], true);
        assert_eq!(v["invalid_reasons"], json!([]));
        assert_eq!(v["throughput"]["requests_per_s"], 0.0);
        assert_eq!(v["workers"], json!([]));
        assert_eq!(v["checks"], json!([]));
        assert_eq!(v["replies"]["by_status"], json!({}));
        assert_eq!(v["reply_rate_1s"], json!([]));
        assert_eq!(v["verdict"], "interrupted");
        for key in ["connect", "first_byte", "reply"] {
            assert_eq!(v["latency_ms"][key]["count"], 0);
            assert!(v["latency_ms"][key]["p99"].is_null());
        }

        r.duration_s = f64::NAN;
        r.reply_rate_samples = vec![f64::INFINITY, 1.0];
        let v = parse(&r);
        assert!(v["duration_s"].is_null());
        assert_eq!(v["reply_rate_samples"], json!([null, 1.0]));
    }
}
