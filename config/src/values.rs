//! `FromStr` value types for flags. Each error quotes the syntax that is expected.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::spec::LogFormat;

/// A duration flag value: `10s`, `500ms`, `250us`, `2m`, `1h`, `1.5s`, or a bare number of
/// seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DurationArg(pub Duration);

/// The syntax quoted by every duration error.
pub const DURATION_SYNTAX: &str = "a number with an optional unit: us, ms, s, m or h (e.g. 500ms, 10s, 1.5m), or several (1m30s, 1h 5m); bare numbers are seconds";

impl FromStr for DurationArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(DurationArg)
    }
}

impl fmt::Display for DurationArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", format_duration(self.0))
    }
}

/// Parses a duration in volley's syntax (see [`DURATION_SYNTAX`]).
///
/// # Errors
///
/// A message quoting the expected syntax when `s` is not a finite, non-negative duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    match parse_one_term(s) {
        Ok(d) => Ok(d),
        // Compound forms (`1m30s`, `1h 5m`) the way humantime reads them (it also knows
        // `2days`, `1min`, …); the error quotes what was typed, in volley's words.
        Err(e) if s.trim().contains(|c: char| c.is_ascii_digit()) => {
            humantime::parse_duration(s.trim())
                .ok()
                .filter(|d| d.as_secs_f64() <= 1e9)
                .ok_or(e)
        }
        Err(e) => Err(e),
    }
}

/// One number and an optional unit (`1.5m`, `250ms`, `10`).
fn parse_one_term(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "" | "s" | "sec" => 1.0,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "'{s}' is not a duration; expected {DURATION_SYNTAX}"
            ));
        }
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration; expected {DURATION_SYNTAX}"))?;
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("'{s}' is out of range; expected {DURATION_SYNTAX}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Renders a duration the way the parser reads it back (`1.5s`, `250ms`, `10s`).
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else if ns.is_multiple_of(1_000) {
        format!("{}us", ns / 1_000)
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// A watchdog timeout: a duration, or `never` (no watchdog at all, asked for explicitly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutArg {
    /// Deadline after this long.
    After(Duration),
    /// No watchdog.
    Never,
}

impl FromStr for TimeoutArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("never") {
            return Ok(TimeoutArg::Never);
        }
        match parse_duration(s) {
            Ok(d) if d.is_zero() => Err(format!(
                "'{s}' is zero; give a positive duration ({DURATION_SYNTAX}) or 'never'"
            )),
            Ok(d) => Ok(TimeoutArg::After(d)),
            Err(_) => Err(format!(
                "'{s}' is not a timeout; expected {DURATION_SYNTAX}, or 'never'"
            )),
        }
    }
}

/// Syntax quoted by `--period` errors.
pub const PERIOD_SYNTAX: &str = "[d|u|e|v]T1[,T2,…] in seconds: d0.01 (fixed), u0.005,0.015 \
(uniform in [T1,T2)), e0.01 (exponential, mean T1: Poisson), v0.01,5,0.002,5 (period T1 for D1 \
seconds, then T2 for D2, …, repeating)";

/// httperf's `--period` value: an inter-arrival process (see [`PERIOD_SYNTAX`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodArg(pub crate::spec::Arrival);

impl FromStr for PeriodArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use crate::spec::Arrival;
        let bad = |why: &str| format!("'{s}': {why}; expected {PERIOD_SYNTAX}");
        let t = s.trim();
        let (kind, rest) = match t.chars().next() {
            Some(c @ ('d' | 'u' | 'e' | 'v')) => (c, &t[1..]),
            Some(_) => ('d', t),
            None => return Err(bad("empty")),
        };
        let nums: Vec<f64> = rest
            .split(',')
            .map(|x| x.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("not a list of numbers"))?;
        if nums.iter().any(|x| !x.is_finite() || *x < 0.0 || *x > 1e6) {
            return Err(bad("times must be between 0 and 1e6 seconds"));
        }
        let ns = |x: f64| (x * 1e9).round() as u64;
        let positive = |x: f64, what: &str| {
            if ns(x) == 0 {
                Err(bad(&format!(
                    "{what} must be positive (a period of 0 is a closed loop: leave --rate/--period out)"
                )))
            } else {
                Ok(ns(x))
            }
        };
        let arrival = match (kind, nums.as_slice()) {
            ('d', [p]) => Arrival::Deterministic {
                period_ns: positive(*p, "the period")?,
            },
            ('e', [m]) => Arrival::Exponential {
                mean_ns: positive(*m, "the mean")?,
            },
            ('u', [lo, hi]) if lo < hi => Arrival::Uniform {
                lo_ns: ns(*lo),
                hi_ns: positive(*hi, "T2")?,
            },
            ('u', [_, _]) => return Err(bad("u needs T1 < T2")),
            ('v', steps) if !steps.is_empty() && steps.len() % 2 == 0 => Arrival::Variable {
                steps: steps
                    .chunks(2)
                    .map(|c| Ok((positive(c[0], "a period")?, positive(c[1], "a duration")?)))
                    .collect::<Result<_, String>>()?,
            },
            ('v', _) => return Err(bad("v needs pairs of period,duration")),
            (_, _) => return Err(bad("wrong number of values")),
        };
        Ok(PeriodArg(arrival))
    }
}

/// A `--rate` value: arrivals per second, positive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateArg(pub f64);

impl FromStr for RateArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().parse::<f64>() {
            Ok(r) if r.is_finite() && r > 0.0 && r <= 1e7 => Ok(RateArg(r)),
            _ => Err(format!(
                "'{s}' is not a rate; expected arrivals per second, more than 0 and at most 1e7"
            )),
        }
    }
}

impl RateArg {
    /// The deterministic arrival process of this rate.
    pub fn arrival(self) -> crate::spec::Arrival {
        crate::spec::Arrival::Deterministic {
            period_ns: ((1e9 / self.0).round() as u64).max(1),
        }
    }
}

/// A `--fail-if-worse` value: a percentage with its `%` (`5%`, `0.5%`), at least 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PercentArg(pub f64);

impl FromStr for PercentArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The `%` is required, as in a check: a bare number could be read as a fraction.
        let number = s.trim().strip_suffix('%').map(|n| n.trim().parse::<f64>());
        match number {
            Some(Ok(p)) if p.is_finite() && p >= 0.0 => Ok(PercentArg(p)),
            _ => Err(format!(
                "'{s}' is not a percentage; expected a number of at least 0 and its %, e.g. 5%"
            )),
        }
    }
}

/// A `--client I/N` value: `0 <= I < N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientArg(pub u32, pub u32);

impl FromStr for ClientArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parsed = s
            .split_once('/')
            .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((i, n)) if n >= 1 && i < n => Ok(ClientArg(i, n)),
            _ => Err(format!(
                "'{s}' is not a share; expected I/N with 0 <= I < N, e.g. 0/2"
            )),
        }
    }
}

/// A `Name: value` header flag value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderArg {
    /// Field name (an RFC 9110 token).
    pub name: String,
    /// Field value, surrounding whitespace removed.
    pub value: String,
}

impl FromStr for HeaderArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = "expected 'Name: value' with a token name";
        let (name, value) = s
            .split_once(':')
            .ok_or_else(|| format!("'{}' has no ':'; {syntax}", crate::redact::shown(s)))?;
        if !is_token(name) {
            return Err(format!(
                "'{}' is not a valid header name; {syntax}",
                crate::redact::shown(name)
            ));
        }
        check_field_value(name, value)?;
        Ok(HeaderArg {
            name: name.to_string(),
            value: value.trim().to_string(),
        })
    }
}

/// Checks a header field value before it is sent: RFC 9110 §5.5 allows visible
/// characters, SP, HTAB and obs-text (bytes 0x80-0xFF) in a field value, nothing else.
///
/// CR and LF would end the field and let the value inject fields or a second request; NUL
/// and the other control bytes (0x00-0x1F but HTAB, and DEL) are refused or read
/// differently by servers and proxies, so a load test would measure something other than
/// what was asked. The whole value is checked, surrounding whitespace included, before it is
/// trimmed. Every place a header value enters volley (`-H`, a run file's `headers`,
/// httperf's `--add-header`) calls this.
///
/// # Errors
///
/// A message naming the header and the first offending byte as `\x01`.
pub fn check_field_value(name: &str, value: &str) -> Result<(), String> {
    match value
        .bytes()
        .find(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        None => Ok(()),
        Some(byte) => Err(format!(
            "the value of header '{}' contains the control byte \\x{:02x}; a header value \
             may hold visible characters, spaces and tabs (RFC 9110 §5.5)",
            crate::redact::shown(name),
            byte,
        )),
    }
}

/// A clap value parser for a flag type whose value may hold a credential or control bytes
/// (`-H`, `--resolve`): on a bad value clap would print it raw ("invalid value
/// 'Authorization: …' for …"), so this parser reports only the type's own message, in which
/// the type quotes what it wants to show through [`crate::redact`].
#[derive(Debug)]
pub struct Redacted<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Redacted<T> {
    /// The parser for `T`.
    pub fn new() -> Self {
        Redacted(std::marker::PhantomData)
    }
}

impl<T> Default for Redacted<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for Redacted<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> clap::builder::TypedValueParser for Redacted<T>
where
    T: FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        use clap::error::ErrorKind;
        let flag = arg.map_or_else(|| "the value".to_string(), ToString::to_string);
        let (kind, why) = match value.to_str() {
            None => (ErrorKind::InvalidUtf8, "it is not valid UTF-8".to_string()),
            Some(text) => match text.parse::<T>() {
                Ok(v) => return Ok(v),
                Err(why) => (ErrorKind::ValueValidation, crate::redact::shown(&why)),
            },
        };
        // Laid out as clap's own value errors are (no usage, the help hint last).
        Err(clap::Error::raw(
            kind,
            format!("invalid value for '{flag}': {why}\n\nFor more information, try '--help'.\n"),
        )
        .with_cmd(cmd))
    }
}

/// The clap value parser of `--log-format`: a [`LogFormat`] by name.
///
/// A refusal reads as every other refused flag value does (`invalid value 'xml' for
/// '--log-format': csv or jsonl`, the value shown through [`crate::redact`]), not in clap's
/// own words.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogFormatArg;

impl clap::builder::TypedValueParser for LogFormatArg {
    type Value = LogFormat;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<LogFormat, clap::Error> {
        use clap::error::ErrorKind;
        let Some(text) = value.to_str() else {
            return Err(clap::Error::new(ErrorKind::InvalidUtf8).with_cmd(cmd));
        };
        LogFormat::from_name(text).ok_or_else(|| {
            let refused = crate::ConfigError::invalid("--log-format", text, "csv or jsonl");
            clap::Error::raw(ErrorKind::ValueValidation, format!("{refused}\n")).with_cmd(cmd)
        })
    }
}

/// True if `s` is a non-empty RFC 9110 token (method names, header names).
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        // Compound forms.
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h5m").unwrap(), Duration::from_secs(3900));
        assert_eq!(parse_duration("1h 5m").unwrap(), Duration::from_secs(3900));
        assert_eq!(
            parse_duration("2s500ms").unwrap(),
            Duration::from_millis(2500)
        );
        let e = parse_duration("1m30x").unwrap_err();
        assert!(e.contains("'1m30x'") && e.contains("1m30s"), "{e}");
        for bad in ["", "s", "ten", "10x", "-1s", "1e400", "1.2.3s"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("expected"), "{bad}: {err}");
        }
    }

    #[test]
    fn durations_round_trip() {
        for d in ["10s", "250ms", "5us", "1.5s"] {
            let parsed = parse_duration(d).unwrap();
            assert_eq!(parse_duration(&format_duration(parsed)).unwrap(), parsed);
        }
    }

    #[test]
    fn timeouts() {
        assert_eq!("never".parse::<TimeoutArg>().unwrap(), TimeoutArg::Never);
        assert_eq!(
            "2s".parse::<TimeoutArg>().unwrap(),
            TimeoutArg::After(Duration::from_secs(2))
        );
        assert!("0".parse::<TimeoutArg>().unwrap_err().contains("never"));
        assert!("soon".parse::<TimeoutArg>().is_err());
    }

    #[test]
    fn periods() {
        use crate::spec::Arrival;
        let p = |s: &str| s.parse::<PeriodArg>().map(|p| p.0);
        assert_eq!(
            p("0.2"),
            Ok(Arrival::Deterministic {
                period_ns: 200_000_000
            })
        );
        assert_eq!(
            p("d0.001"),
            Ok(Arrival::Deterministic {
                period_ns: 1_000_000
            })
        );
        assert_eq!(
            p("e0.01"),
            Ok(Arrival::Exponential {
                mean_ns: 10_000_000
            })
        );
        assert_eq!(
            p("u1,3"),
            Ok(Arrival::Uniform {
                lo_ns: 1_000_000_000,
                hi_ns: 3_000_000_000
            })
        );
        assert_eq!(
            p("v0.01,5,0.002,1"),
            Ok(Arrival::Variable {
                steps: vec![(10_000_000, 5_000_000_000), (2_000_000, 1_000_000_000)]
            })
        );
        for bad in [
            "", "x1", "d", "d0", "e-1", "u3,1", "u1", "v1", "v1,2,3", "d1,2", "dabc",
        ] {
            assert!(p(bad).unwrap_err().contains("expected"), "{bad}");
        }
        assert!((p("v0.01,1,0.005,1").unwrap().mean_rate() - 150.0).abs() < 1e-9);
        assert!("0".parse::<RateArg>().is_err());
        assert_eq!(
            "2000".parse::<RateArg>().unwrap().arrival(),
            Arrival::Deterministic { period_ns: 500_000 }
        );
    }

    #[test]
    fn headers() {
        let h: HeaderArg = "X-Test:  a b ".parse().unwrap();
        assert_eq!((h.name.as_str(), h.value.as_str()), ("X-Test", "a b"));
        assert!("NoColon".parse::<HeaderArg>().is_err());
        assert!("Bad Name: x".parse::<HeaderArg>().is_err());
        assert!("X: a\r\nInjected: 1".parse::<HeaderArg>().is_err());
        assert!(": empty".parse::<HeaderArg>().is_err());
    }

    #[test]
    fn header_values_refuse_control_bytes_but_htab() {
        let h: HeaderArg = "X-Tab: a\tb".parse().unwrap();
        assert_eq!(h.value, "a\tb");
        assert!(
            "X: caf\u{e9} \u{7e}".parse::<HeaderArg>().is_ok(),
            "obs-text and ~ pass"
        );
        for (given, byte) in [
            ("X-Ctl: a\x01b", "\\x01"),
            ("X-Ctl: a\x1bb", "\\x1b"),
            ("X-Ctl: a\x7fb", "\\x7f"),
            ("X-Ctl: a\x00b", "\\x00"),
            ("X-Ctl: a\rb", "\\x0d"),
            ("X-Ctl: a\x0bb", "\\x0b"),
            ("X-Ctl: a\x01", "\\x01"),
        ] {
            let err = given.parse::<HeaderArg>().unwrap_err();
            assert!(
                err.contains("'X-Ctl'") && err.contains(byte),
                "{given:?}: {err}"
            );
            assert!(!err.contains(|c: char| c.is_control()), "{err:?}");
        }
        assert!(check_field_value("X", "a\tb c").is_ok());
    }

    #[test]
    fn resolve_refuses_user_info_without_showing_it() {
        let err = "user:secret@h:443:127.0.0.1"
            .parse::<ResolveArg>()
            .unwrap_err();
        assert!(
            err.contains("user:***@h") && !err.contains("secret"),
            "{err}"
        );
        assert!("h\r\nX:443:127.0.0.1".parse::<ResolveArg>().is_err());
    }
}

/// `--resolve HOST:PORT:ADDR` (curl's syntax; an IPv6 ADDR may be in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveArg {
    /// Host name, lower-cased.
    pub host: String,
    /// The port it applies to.
    pub port: u16,
    /// Where to connect instead.
    pub addr: std::net::IpAddr,
}

impl FromStr for ResolveArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        // A HOST:PORT:ADDR with user info in front ('user:secret@host:443:…') would be
        // echoed with its password: mask it.
        let bad = || {
            format!(
                "'{}' is not HOST:PORT:ADDR (e.g. example.com:443:127.0.0.1)",
                crate::redact::shown(&crate::redact::mask_authority(s))
            )
        };
        let (host, rest) = s.split_once(':').ok_or_else(bad)?;
        let (port, addr) = rest.split_once(':').ok_or_else(bad)?;
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        // The host becomes the Host header: no spaces or control bytes.
        if host.is_empty()
            || host.contains(['/', '@'])
            || host.bytes().any(|b| b <= b' ' || b == 0x7f)
        {
            return Err(bad());
        }
        Ok(ResolveArg {
            host: host.to_ascii_lowercase(),
            port: port.parse().ok().filter(|&p| p > 0).ok_or_else(bad)?,
            addr: addr.parse().map_err(|_| bad())?,
        })
    }
}

/// `--listen ADDR` of `volley serve`: `IP:PORT`, `[IPv6]:PORT`, `localhost:PORT`, or a bare
/// `PORT` on 127.0.0.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenArg(pub std::net::SocketAddr);

impl FromStr for ListenArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let loopback = |port: u16| ListenArg(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        if let Ok(port) = s.parse::<u16>() {
            return Ok(loopback(port));
        }
        if let Some(port) = s.strip_prefix("localhost:")
            && let Ok(port) = port.parse::<u16>()
        {
            return Ok(loopback(port));
        }
        s.parse().map(ListenArg).map_err(|_| {
            format!(
                "'{}' is not IP:PORT, [IPv6]:PORT, localhost:PORT or PORT \
                 (e.g. 127.0.0.1:8080; port 0 picks a free port)",
                crate::redact::shown(s)
            )
        })
    }
}

#[cfg(test)]
mod listen_tests {
    use super::ListenArg;

    #[test]
    fn listen_addresses() {
        let ok = |s: &str| s.parse::<ListenArg>().unwrap().0.to_string();
        assert_eq!(ok("8080"), "127.0.0.1:8080");
        assert_eq!(ok("localhost:0"), "127.0.0.1:0");
        assert_eq!(ok("127.0.0.2:9"), "127.0.0.2:9");
        assert_eq!(ok("[::1]:8080"), "[::1]:8080");
        for bad in ["", "host:80", "127.0.0.1", "127.0.0.1:70000", "localhost:x"] {
            let err = bad.parse::<ListenArg>().unwrap_err();
            assert!(err.contains("IP:PORT"), "{bad}: {err}");
        }
    }
}
