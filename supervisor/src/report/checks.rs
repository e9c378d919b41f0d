//! The run's checks (`--check`) evaluated against the merged report, and its verdict.
//!
//! A check's value is read from the same figures the report prints: the `reply` latency
//! row (replies with status < 400), the request accounting, the status and error counts,
//! and the reply rate over `duration_s`. A check whose value does not exist (a latency
//! without a reply, a percentage of no completed request) fails: a gate that could not be
//! measured did not pass.

use volley_config::check::{Check, Metric, Stat, Unit};
use volley_scoreboard::{Counter, ErrorClass};

use super::Report;

/// A check and how the run fared against it.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutcome {
    /// The expression, as given.
    pub expr: String,
    /// The measured value in `unit`, or why there is none.
    pub value: Result<f64, &'static str>,
    /// The unit of `value`.
    pub unit: Unit,
    /// The check held.
    pub pass: bool,
}

impl CheckOutcome {
    /// The value as the text report shows it: `12.345 ms`, `99.2%`, `17`, `9012.3
    /// replies/s`, or `n/a (no replies)`.
    pub fn shown(&self) -> String {
        match self.value {
            Ok(v) => match self.unit {
                Unit::Millis => format!("{v:.3} ms"),
                Unit::Percent => format!("{v:.1}%"),
                Unit::Count => format!("{v}"),
                Unit::PerSecond => format!("{v:.1} replies/s"),
            },
            Err(why) => format!("n/a ({why})"),
        }
    }
}

/// Evaluates `checks` against `r`, in order.
pub fn evaluate(checks: &[Check], r: &Report) -> Vec<CheckOutcome> {
    checks
        .iter()
        .map(|c| {
            let value = value(c, r);
            CheckOutcome {
                expr: c.expr.clone(),
                pass: value.is_ok_and(|v| c.op.holds(v, c.threshold)),
                value,
                unit: c.unit,
            }
        })
        .collect()
}

/// The value `c` compares, in its unit.
fn value(c: &Check, r: &Report) -> Result<f64, &'static str> {
    let t = &r.totals;
    let count = match c.metric {
        Metric::Latency(stat) => return latency_ms(r, stat),
        Metric::Rps => return Ok(r.requests_per_s()),
        Metric::Success => r.replies(),
        Metric::Errors => r.errors(),
        Metric::ErrorClass(name) => ErrorClass::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .map_or(0, |e| t.error(e)),
        Metric::StatusClass(class) => t.get(match class {
            1 => Counter::Replies1xx,
            2 => Counter::Replies2xx,
            3 => Counter::Replies3xx,
            4 => Counter::Replies4xx,
            _ => Counter::Replies5xx,
        }),
        Metric::Status(code) => r.by_status.get(&code).copied().unwrap_or(0),
    };
    match c.unit {
        Unit::Percent => match r.completed() {
            0 => Err("no request completed"),
            all => Ok(count as f64 * 100.0 / all as f64),
        },
        _ => Ok(count as f64),
    }
}

/// A statistic of the reply latency, ms.
fn latency_ms(r: &Report, stat: Stat) -> Result<f64, &'static str> {
    let l = &r.reply;
    let m = &l.moments;
    let us = match stat {
        _ if l.is_empty() => return Err("no replies with status < 400"),
        Stat::Percentile(p) => l.quantile_us(p / 100.0).unwrap_or(0.0),
        Stat::Min => m.min as f64,
        Stat::Mean => m.mean().unwrap_or(0.0),
        Stat::Max => m.max as f64,
    };
    Ok(us / 1000.0)
}

/// What the run amounts to; the binary's exit code follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Complete, valid, and every check held (without checks: some request got a reply).
    Ok,
    /// A check failed (without checks: no request got a reply).
    Failed,
    /// The numbers cannot be trusted (see [`Report::invalid_reasons`]).
    Invalid,
    /// Stopped by SIGINT/SIGTERM.
    Interrupted,
}

impl Verdict {
    /// The word the text report and the JSON `verdict` use.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Failed => "failed",
            Verdict::Invalid => "invalid",
            Verdict::Interrupted => "interrupted",
        }
    }
}

impl Report {
    /// The run's verdict. An interrupted run's numbers are partial, and an invalid run's
    /// measure the client, so both say that before any check: interrupted, then invalid,
    /// then failed, then ok.
    pub fn verdict(&self) -> Verdict {
        if self.interrupted {
            Verdict::Interrupted
        } else if !self.invalid_reasons().is_empty() {
            Verdict::Invalid
        } else if self.failed_checks().next().is_some() || self.default_gate_failed() {
            Verdict::Failed
        } else {
            Verdict::Ok
        }
    }

    /// The checks that did not hold.
    pub fn failed_checks(&self) -> impl Iterator<Item = &CheckOutcome> {
        self.checks.iter().filter(|c| !c.pass)
    }

    /// Without `--check`, a run fails when no request got a reply: it measured nothing
    /// about the server. With checks, they decide (`errors.connrefused > 0` may be the
    /// point).
    pub fn default_gate_failed(&self) -> bool {
        self.checks.is_empty() && self.replies() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_scoreboard::SlotSnapshot;

    fn report() -> Report {
        let mut r = Report::new("http://h/".into(), "GET".into(), 1, (1, true));
        r.duration_s = 2.0;
        let mut t = SlotSnapshot::default();
        let mut set = |c: Counter, n| t.counters[c.index()] = n;
        set(Counter::RequestsStarted, 205);
        set(Counter::RequestsSucceeded, 190);
        set(Counter::RequestsFailed, 10);
        set(Counter::RequestsAborted, 5);
        set(Counter::Replies2xx, 180);
        set(Counter::Replies5xx, 10);
        t.errors[ErrorClass::ClientTimo.index()] = 10;
        r.totals = t;
        r.by_status.insert(200, 180);
        r.by_status.insert(503, 10);
        for us in 1..=1000 {
            r.reply.record_us(us * 10);
        }
        r
    }

    fn run(exprs: &[&str], r: &Report) -> Vec<CheckOutcome> {
        let checks: Vec<Check> = exprs.iter().map(|e| Check::parse(e).unwrap()).collect();
        evaluate(&checks, r)
    }

    #[test]
    fn the_names_config_accepts_are_the_scoreboards() {
        let ours: Vec<&str> = ErrorClass::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(ours, volley_config::check::ERROR_CLASSES);
    }

    #[test]
    fn values_come_from_the_report() {
        let r = report();
        let table = [
            ("max < 1s", Ok(10.0)),
            ("min < 1s", Ok(0.01)),
            ("mean < 1s", Ok(5.005)),
            ("success > 90%", Ok(95.0)),
            ("success > 90", Ok(190.0)),
            ("errors < 10%", Ok(5.0)),
            ("errors == 10", Ok(10.0)),
            ("errors.client-timo == 10", Ok(10.0)),
            ("errors.connrefused == 0", Ok(0.0)),
            ("status.5xx == 10", Ok(10.0)),
            ("status.5xx < 10%", Ok(5.0)),
            ("status.503 == 10", Ok(10.0)),
            ("status.404 == 0", Ok(0.0)),
            ("rps > 1", Ok(95.0)),
        ];
        for (expr, want) in table {
            let got = &run(&[expr], &r)[0];
            assert_eq!(got.value, want, "{expr}");
            assert!(got.pass, "{expr}: {got:?}");
        }
        // Percentiles keep the histogram's 3 significant digits.
        let p = |expr| run(&[expr], &r)[0].value.unwrap();
        assert!((p("p50 < 1s") - 5.0).abs() < 0.01, "{}", p("p50 < 1s"));
        assert!((p("p99 < 1s") - 9.9).abs() < 0.01, "{}", p("p99 < 1s"));
        assert!((p("p99.9 < 1s") - 9.99).abs() < 0.01, "{}", p("p99.9 < 1s"));
    }

    #[test]
    fn each_check_passes_or_fails_on_its_own() {
        let r = report();
        let got = run(&["max < 1ms", "status.5xx == 0", "errors <= 5%"], &r);
        let pass: Vec<bool> = got.iter().map(|c| c.pass).collect();
        assert_eq!(pass, [false, false, true]);
        assert_eq!(got[0].shown(), "10.000 ms");
        assert_eq!(got[1].shown(), "10");
        assert_eq!(got[2].shown(), "5.0%");
    }

    #[test]
    fn a_value_that_does_not_exist_fails() {
        let r = Report::new("http://h/".into(), "GET".into(), 1, (1, true));
        let got = run(
            &["p99 < 1h", "errors < 100%", "errors == 0", "rps >= 0"],
            &r,
        );
        assert_eq!(got[0].value, Err("no replies with status < 400"));
        assert_eq!(got[0].shown(), "n/a (no replies with status < 400)");
        assert!(!got[0].pass);
        assert_eq!(got[1].value, Err("no request completed"));
        assert!(!got[1].pass);
        // Counts exist even when nothing happened.
        assert!(got[2].pass && got[3].pass);
    }

    #[test]
    fn the_verdict_follows_interrupts_validity_then_checks() {
        let mut r = report();
        assert_eq!(r.verdict(), Verdict::Ok);
        r.checks = run(&["max < 1ms"], &r);
        assert_eq!(r.verdict(), Verdict::Failed);
        r.totals.errors[ErrorClass::FdUnavail.index()] = 1;
        assert_eq!(r.verdict(), Verdict::Invalid);
        r.interrupted = true;
        assert_eq!(r.verdict(), Verdict::Interrupted);
    }

    #[test]
    fn without_checks_a_run_without_replies_fails() {
        let mut r = report();
        r.totals.counters[Counter::RequestsSucceeded.index()] = 0;
        r.totals.counters[Counter::RequestsFailed.index()] = 200;
        assert_eq!(r.verdict(), Verdict::Failed);
        // A check that expects the refusals decides instead.
        r.checks = run(&["errors > 0"], &r);
        assert_eq!(r.verdict(), Verdict::Ok);
    }
}
