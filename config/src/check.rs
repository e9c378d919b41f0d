//! `--check EXPR` (and a run file's `check` list): a pass/fail gate on the run's result,
//! parsed here into a [`Check`]; the supervisor evaluates it against the merged report.
//!
//! An expression is `METRIC OP VALUE` (spaces between the three are optional):
//!
//! | metric | what | value |
//! |---|---|---|
//! | `p50`, `p90`, `p99`, `p99.9`, any `pN` (also k6's `p(N)`), `min`, `mean` (`avg`), `max`, `median` (`med`) | reply latency, replies with status < 400 (the report's `reply` row) | a duration with its unit: `50ms`, `1.5s`, `250us` |
//! | `success` | requests that got a reply (any status) | a count, or `PCT%` of the completed requests |
//! | `errors` | requests that failed (any class) | a count, or `PCT%` of the completed requests |
//! | `errors.CLASS` | requests that failed with one class (`errors.connrefused`) | a count, or `PCT%` |
//! | `status.2xx` … `status.5xx`, `status.NNN` | replies by status class, or by exact code | a count, or `PCT%` |
//! | `rps` | replies per second over the run | a number |
//!
//! `OP` is one of `<`, `<=`, `>`, `>=`, `==`, `!=`. A latency needs a unit, since a bare
//! `50` could be read as milliseconds (k6) or seconds (volley's durations).
//!
//! A rejected expression is a [`CheckError`] with the byte offset of the character it
//! stumbled on, which the message marks with a caret.

use std::fmt;

/// The error classes `errors.CLASS` may name: the scoreboard's `ErrorClass` names (this
/// crate comes before the scoreboard; the supervisor's tests check the two lists agree).
pub const ERROR_CLASSES: [&str; 14] = [
    "client-timo",
    "socket-timo",
    "connrefused",
    "connreset",
    "fd-unavail",
    "addrunavail",
    "ftab-full",
    "addrinuse",
    "protocol",
    "limit",
    "stale-conn",
    "tls",
    "dns",
    "other",
];

/// What the metrics are, for messages.
const METRICS: &str = "p50, p90, p99, p99.9, pN, min, mean, max, success, errors, \
                       errors.CLASS, status.5xx, status.NNN or rps";

/// One check: a metric of the result compared with a threshold.
///
/// INVARIANT: `threshold` is finite (the parser refuses anything else), so the manual
/// `Eq` below is sound.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The expression as given, trimmed (how the report names the check).
    pub expr: String,
    /// What is measured.
    pub metric: Metric,
    /// How it is compared.
    pub op: Op,
    /// The threshold, in `unit`.
    pub threshold: f64,
    /// The unit of `threshold` (and of the value the report shows).
    pub unit: Unit,
}

// A check is a value of the (Eq) run spec; its float is never NaN (see the invariant).
impl Eq for Check {}

/// What a check measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A statistic of the reply latency (replies with status < 400).
    Latency(Stat),
    /// Requests that got a reply.
    Success,
    /// Requests that failed.
    Errors,
    /// Requests that failed with this class (one of [`ERROR_CLASSES`]).
    ErrorClass(&'static str),
    /// Replies whose status is in this class (1 to 5).
    StatusClass(u8),
    /// Replies with this exact status code.
    Status(u16),
    /// Replies per second over the run.
    Rps,
}

/// A statistic of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    /// The value at this percentile (0 < N ≤ 100), as written: `p99.9` is 99.9.
    Percentile(f64),
    /// The smallest.
    Min,
    /// The mean.
    Mean,
    /// The largest.
    Max,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    /// `value OP threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Eq => value == threshold,
            Op::Ne => value != threshold,
        }
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

/// The unit a check compares in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Milliseconds (latencies).
    Millis,
    /// A percentage of the completed requests (0 to 100).
    Percent,
    /// A number of requests or replies.
    Count,
    /// Replies per second.
    PerSecond,
}

impl Unit {
    /// The unit's name in the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Millis => "ms",
            Unit::Percent => "%",
            Unit::Count => "count",
            Unit::PerSecond => "replies/s",
        }
    }
}

/// Why an expression was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    /// Byte offset in the expression of the character the message is about.
    pub offset: usize,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Check {
    /// Parses `METRIC OP VALUE` (see the module doc).
    ///
    /// # Errors
    ///
    /// [`CheckError`] at the first character that does not fit.
    pub fn parse(expr: &str) -> Result<Check, CheckError> {
        let mut p = Cursor { s: expr, at: 0 };
        p.skip_spaces();
        if p.rest().is_empty() {
            return Err(p.error(format!(
                "an empty check; expected METRIC OP VALUE, such as 'p99 < 50ms' (metrics: \
                 {METRICS})"
            )));
        }
        let metric_at = p.at;
        let name = p.take_while(|c| c.is_ascii_alphanumeric() || "._-()".contains(c));
        if name.is_empty() {
            return Err(p.error(format!("expected a metric ({METRICS})")));
        }
        let metric = metric(name).map_err(|message| CheckError {
            offset: metric_at,
            message,
        })?;
        p.skip_spaces();
        let op = p.op(name)?;
        p.skip_spaces();
        let value_at = p.at;
        let value = p.rest().trim_end();
        if value.is_empty() {
            return Err(p.error(format!("expected a value after '{}'", op.as_str())));
        }
        let (threshold, unit) = threshold(metric, value).map_err(|(i, message)| CheckError {
            offset: value_at + i,
            message,
        })?;
        Ok(Check {
            expr: expr.trim().to_string(),
            metric,
            op,
            threshold,
            unit,
        })
    }
}

/// A position in the expression being parsed.
struct Cursor<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.at..]
    }

    fn skip_spaces(&mut self) {
        let _ = self.take_while(char::is_whitespace);
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let len = rest.find(|c| !f(c)).unwrap_or(rest.len());
        self.at += len;
        &rest[..len]
    }

    fn error(&self, message: String) -> CheckError {
        CheckError {
            offset: self.at,
            message,
        }
    }

    /// The operator after the metric `name`.
    fn op(&mut self, name: &str) -> Result<Op, CheckError> {
        // Longest first: `<=` before `<`. k6's `===` reads as `==`.
        let ops = [
            ("===", Op::Eq),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        for (text, op) in ops {
            if self.rest().starts_with(text) {
                self.at += text.len();
                return Ok(op);
            }
        }
        let why = if self.rest().starts_with('=') {
            "'=' is not a comparison; use '=='".to_string()
        } else {
            format!("expected an operator (<, <=, >, >=, ==, !=) after '{name}'")
        };
        Err(self.error(why))
    }
}

/// The metric named `name`, or a message saying what is allowed.
fn metric(name: &str) -> Result<Metric, String> {
    let stat = |s| Ok(Metric::Latency(s));
    match name {
        "min" => return stat(Stat::Min),
        "mean" | "avg" => return stat(Stat::Mean),
        "max" => return stat(Stat::Max),
        "median" | "med" => return stat(Stat::Percentile(50.0)),
        "success" => return Ok(Metric::Success),
        "errors" => return Ok(Metric::Errors),
        "rps" => return Ok(Metric::Rps),
        _ => {}
    }
    if let Some(class) = name.strip_prefix("errors.") {
        return match ERROR_CLASSES.iter().find(|c| **c == class) {
            Some(c) => Ok(Metric::ErrorClass(c)),
            None => Err(format!(
                "unknown error class '{class}'; expected one of {}",
                ERROR_CLASSES.join(", ")
            )),
        };
    }
    if let Some(status) = name.strip_prefix("status.") {
        return status_metric(status);
    }
    if let Some(n) = name.strip_prefix('p') {
        let n = n
            .strip_prefix('(')
            .and_then(|n| n.strip_suffix(')'))
            .unwrap_or(n);
        if let Ok(pct) = n.parse::<f64>()
            && n.chars().all(|c| c.is_ascii_digit() || c == '.')
        {
            if pct > 0.0 && pct <= 100.0 {
                return stat(Stat::Percentile(pct));
            }
            return Err(format!(
                "'{name}' is not a percentile; expected p0.1 to p100"
            ));
        }
    }
    Err(format!("unknown metric '{name}'; expected {METRICS}"))
}

/// `status.5xx` or `status.503`.
fn status_metric(s: &str) -> Result<Metric, String> {
    let b = s.as_bytes();
    if b.len() == 3 && b[0].is_ascii_digit() {
        if b[1..].eq_ignore_ascii_case(b"xx") && (b'1'..=b'5').contains(&b[0]) {
            return Ok(Metric::StatusClass(b[0] - b'0'));
        }
        if let Ok(code) = s.parse::<u16>()
            && (100..=999).contains(&code)
        {
            return Ok(Metric::Status(code));
        }
    }
    Err(format!(
        "unknown status '{s}'; expected a class (status.1xx to status.5xx) or a code \
         (status.100 to status.999)"
    ))
}

/// The threshold in `value` for `metric`, and its unit; or where in `value` it went wrong
/// and why.
fn threshold(metric: Metric, value: &str) -> Result<(f64, Unit), (usize, String)> {
    let digits = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (num, suffix) = value.split_at(digits);
    let n: f64 = match num.parse() {
        Ok(n) if f64::is_finite(n) => n,
        _ if num.is_empty() => return Err((0, "expected a number".into())),
        _ => return Err((0, format!("'{num}' is not a number"))),
    };
    match metric {
        Metric::Latency(_) => {
            let ms = match suffix {
                "us" | "µs" => n / 1000.0,
                "ms" => n,
                "s" => n * 1000.0,
                "m" | "min" => n * 60_000.0,
                "h" => n * 3_600_000.0,
                "" => {
                    return Err((
                        digits,
                        format!("a latency needs a unit: {num}ms (us, ms, s, m, h)"),
                    ));
                }
                _ => {
                    return Err((
                        digits,
                        format!("'{suffix}' is not a unit of time; expected us, ms, s, m or h"),
                    ));
                }
            };
            Ok((ms, Unit::Millis))
        }
        Metric::Rps => match suffix {
            "" | "/s" => Ok((n, Unit::PerSecond)),
            _ => Err((digits, "expected replies per second: a number".into())),
        },
        _ => match suffix {
            "" => Ok((n, Unit::Count)),
            "%" if n <= 100.0 => Ok((n, Unit::Percent)),
            "%" => Err((0, "a percentage is 0% to 100%".into())),
            _ => Err((
                digits,
                "expected a count (10) or a percentage of the completed requests (0.5%)".into(),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Check {
        Check::parse(s).unwrap_or_else(|e| panic!("{s}: {e} at {}", e.offset))
    }

    /// The error for `s`, and the text from the offending character on.
    fn err(s: &str) -> (String, &str) {
        let e = Check::parse(s).expect_err(s);
        (e.message, &s[e.offset..])
    }

    #[test]
    fn latency_checks_in_milliseconds() {
        let c = ok("p99 < 50ms");
        assert_eq!(c.metric, Metric::Latency(Stat::Percentile(99.0)));
        assert_eq!((c.op, c.threshold, c.unit), (Op::Lt, 50.0, Unit::Millis));
        assert_eq!(c.expr, "p99 < 50ms");
        let table = [
            ("p50<=1s", Stat::Percentile(50.0), Op::Le, 1000.0),
            ("p99.9 > 250us", Stat::Percentile(99.9), Op::Gt, 0.25),
            ("p(95)<200ms", Stat::Percentile(95.0), Op::Lt, 200.0),
            ("  max   >=  1.5s  ", Stat::Max, Op::Ge, 1500.0),
            ("mean != 2m", Stat::Mean, Op::Ne, 120_000.0),
            ("avg == 3ms", Stat::Mean, Op::Eq, 3.0),
            ("med===3ms", Stat::Percentile(50.0), Op::Eq, 3.0),
            ("min < 1h", Stat::Min, Op::Lt, 3_600_000.0),
            ("p100 < 1s", Stat::Percentile(100.0), Op::Lt, 1000.0),
        ];
        for (s, stat, op, ms) in table {
            let c = ok(s);
            assert_eq!(c.metric, Metric::Latency(stat), "{s}");
            assert_eq!((c.op, c.threshold, c.unit), (op, ms, Unit::Millis), "{s}");
        }
        assert_eq!(ok("  max   >=  1.5s  ").expr, "max   >=  1.5s");
    }

    #[test]
    fn counts_and_percentages() {
        let table = [
            ("success >= 99.5%", Metric::Success, 99.5, Unit::Percent),
            ("errors < 1%", Metric::Errors, 1.0, Unit::Percent),
            ("errors == 0", Metric::Errors, 0.0, Unit::Count),
            ("status.5xx == 0", Metric::StatusClass(5), 0.0, Unit::Count),
            (
                "status.4XX<10%",
                Metric::StatusClass(4),
                10.0,
                Unit::Percent,
            ),
            ("status.503 <= 3", Metric::Status(503), 3.0, Unit::Count),
            (
                "errors.client-timo == 0",
                Metric::ErrorClass("client-timo"),
                0.0,
                Unit::Count,
            ),
            ("rps > 1000", Metric::Rps, 1000.0, Unit::PerSecond),
            ("rps>=2.5/s", Metric::Rps, 2.5, Unit::PerSecond),
        ];
        for (s, metric, threshold, unit) in table {
            let c = ok(s);
            assert_eq!(
                (c.metric, c.threshold, c.unit),
                (metric, threshold, unit),
                "{s}"
            );
        }
    }

    #[test]
    fn every_error_class_can_be_named() {
        for class in ERROR_CLASSES {
            let c = ok(&format!("errors.{class} == 0"));
            assert_eq!(c.metric, Metric::ErrorClass(class));
        }
    }

    #[test]
    fn refusals_point_at_the_offending_character() {
        let table: [(&str, &str, &str); 18] = [
            ("", "", "an empty check"),
            ("   ", "", "an empty check"),
            ("< 5ms", "< 5ms", "expected a metric"),
            ("p99x < 50ms", "p99x < 50ms", "unknown metric 'p99x'"),
            ("p0 < 5ms", "p0 < 5ms", "not a percentile"),
            ("p101 < 5ms", "p101 < 5ms", "not a percentile"),
            ("latency < 5ms", "latency < 5ms", "unknown metric"),
            (
                "errors.nope == 0",
                "errors.nope == 0",
                "unknown error class 'nope'",
            ),
            ("status.6xx == 0", "status.6xx == 0", "unknown status '6xx'"),
            ("status.99 == 0", "status.99 == 0", "unknown status '99'"),
            ("p99 50ms", "50ms", "expected an operator"),
            ("p99 = 50ms", "= 50ms", "use '=='"),
            ("p99 <", "", "expected a value after '<'"),
            ("p99 < 50", "", "needs a unit: 50ms"),
            ("p99 < 50xs", "xs", "'xs' is not a unit of time"),
            ("p99 < fast", "fast", "expected a number"),
            ("errors < 101%", "101%", "0% to 100%"),
            ("errors < 5 requests", " requests", "expected a count"),
        ];
        for (s, at, says) in table {
            let (message, rest) = err(s);
            assert_eq!(rest, at, "{s}: {message}");
            assert!(message.contains(says), "{s}: {message}");
        }
        let (message, rest) = err("rps > 5k");
        assert_eq!(rest, "k", "{message}");
        let (message, rest) = err("p99 < 1.2.3ms");
        assert_eq!(
            (message.as_str(), rest),
            ("'1.2.3' is not a number", "1.2.3ms")
        );
        let (message, rest) = err("p99 < -5ms");
        assert_eq!((message.as_str(), rest), ("expected a number", "-5ms"));
    }

    #[test]
    fn operators_hold_as_written() {
        let cases = [
            (Op::Lt, [false, false, true]),
            (Op::Le, [false, true, true]),
            (Op::Gt, [true, false, false]),
            (Op::Ge, [true, true, false]),
            (Op::Eq, [false, true, false]),
            (Op::Ne, [true, false, true]),
        ];
        for (op, want) in cases {
            let got = [op.holds(2.0, 1.0), op.holds(1.0, 1.0), op.holds(0.0, 1.0)];
            assert_eq!(got, want, "{}", op.as_str());
        }
    }
}
