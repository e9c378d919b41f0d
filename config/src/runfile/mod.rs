//! Run files: a TOML description of a LoadGen-style workload → builder inputs.
//!
//! ```toml
//! workers = 3                                   # LoadGen's NWorker
//! ramp_up = { start = 2, max = 13, duration = "5s" }
//! times = 3                                     # rounds of the URL list per slot
//! iterator = "random_start"                     # default | random_start | follow | random_start_follow
//! seed = 42
//! dnscache = { "app.test" = "127.0.0.1" }
//! defaults = { keepalive = "both", predelay = "50ms", prejitter = "100ms" }
//! check = ["p99 < 50ms", "errors < 1%"]        # pass/fail gates (`--check` adds to them)
//!
//! [[request]]
//! method = "HUGO"
//! url = "http://app.test:8080/"
//! body = "blablub"
//! ```
//!
//! Every key is checked: an unknown key, a bad duration, URL, method, header or iterator
//! name is a [`ConfigError::RunFile`] naming the file, line and column. [`schema`] is the
//! file's shape, [`entry`] reads one `[[request]]`, [`loadgen`] LoadGen's option names
//! (`NWorker`, `RampUp*`, `InitURLs`, `URLList`), this module the top-level keys. The
//! flags given to `volley run FILE` are laid over the file by the builder
//! ([`crate::builder`]), which also checks the rules between keys and flags.

mod entry;
mod loadgen;
mod schema;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use crate::builder::{At, FileInputs, MAX_CONCURRENCY, MAX_WORKERS, Source, SpecBuilder};
use crate::check::Check;
use crate::error::{ConfigError, Place};
use crate::spec::{LogFormat, TlsSpec};
use crate::values::{DURATION_SYNTAX, PeriodArg, RateArg, ResolveArg, parse_duration};
use schema::{DurationValue, File, StringOrList};

/// Most entries in a URL list.
pub const MAX_REQUESTS: usize = 100_000;

/// Reads and checks the run file at `path`; `overrides` are the `--resolve` flags its
/// hosts are resolved under.
///
/// # Errors
///
/// [`ConfigError::File`] when the file cannot be read, [`ConfigError::RunFile`] (file, line,
/// column) for a syntax error or a rejected value.
pub(crate) fn load(path: &Path, overrides: &[ResolveArg]) -> Result<SpecBuilder, ConfigError> {
    let text = crate::files::read_capped(
        path,
        crate::files::MAX_RUN_FILE_BYTES,
        crate::files::RUN_FILE,
    )
    .and_then(|bytes| {
        String::from_utf8(bytes).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text")
        })
    })
    .map_err(|source| ConfigError::File {
        flag: "run",
        path: path.display().to_string(),
        source,
    })?;
    let at = Locator {
        path: path.display().to_string(),
        text: &text,
    };
    let mut file: File = toml::from_str(&text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        at.error(span, e.message().trim_end().to_string())
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let dnscache = dnscache(&file, &at)?;
    let loadgen = loadgen::used(&file);
    let entries = loadgen::url_list(&mut file, &at)?;
    if entries.is_empty() {
        let end = at.text.len()..at.text.len();
        return Err(at.error(
            end,
            "no [[request]] entries (or URLList): the URL list needs at least one",
        ));
    }
    if entries.len() > MAX_REQUESTS {
        let why = format!("more than {MAX_REQUESTS} entries in the URL list");
        return Err(at.error(entries[MAX_REQUESTS].0.span(), why));
    }
    let tls = tls(&file, base, &at)?;
    let cx = entry::Context {
        at: &at,
        base,
        dnscache: &dnscache,
        overrides,
    };
    let mut requests = Vec::with_capacity(entries.len());
    for (e, dialect) in entries {
        let span = e.span();
        requests.push(entry::request(e.into_inner(), span, dialect, &cx)?);
    }
    let mut b = SpecBuilder::new(Source::RunFile(path.to_path_buf()), requests);
    b.file = keys(&file, &at, base)?;
    b.file.loadgen = loadgen;
    b.file.dnscache = dnscache;
    b.file.tls = tls;
    Ok(b)
}

/// `dnscache = { name = "IP" }`, names lower-cased.
fn dnscache(file: &File, at: &Locator<'_>) -> Result<BTreeMap<String, IpAddr>, ConfigError> {
    let mut dnscache = BTreeMap::new();
    for (name, ip) in &file.dnscache {
        let addr: IpAddr = ip.get_ref().parse().map_err(|_| {
            let why = format!(
                "dnscache: '{}' for '{name}' is not an IP address",
                ip.get_ref()
            );
            at.error(ip.span(), why)
        })?;
        dnscache.insert(name.to_ascii_lowercase(), addr);
    }
    Ok(dnscache)
}

/// The top-level keys that shape the run (each checked on its own; the rules between
/// them and the flags are the builder's).
fn keys(file: &File, at: &Locator<'_>, base: &Path) -> Result<FileInputs, ConfigError> {
    let slots = 0..i64::from(MAX_CONCURRENCY) + 1;
    let ramp = file.ramp_up.as_ref();
    let mut k = FileInputs::default();
    let max = ("ramp_up.max", ramp.and_then(|r| r.max.as_ref()));
    if let Some((key, v)) = loadgen::pick(at, ("RampUpMax", file.ramp_up_max.as_ref()), max)? {
        k.ramp_max = Some(at.count(v, key, 1..slots.end)?);
    }
    let start = ("ramp_up.start", ramp.and_then(|r| r.start.as_ref()));
    let lg = ("RampUpStart", file.ramp_up_start.as_ref());
    if let Some((key, v)) = loadgen::pick(at, lg, start)? {
        k.ramp_start = Some(at.at(v, at.count(v, key, slots)?));
    }
    let duration = ("ramp_up.duration", ramp.and_then(|r| r.duration.as_ref()));
    let lg = ("RampUpDuration", file.ramp_up_duration.as_ref());
    if let Some((key, v)) = loadgen::pick(at, lg, duration)? {
        k.ramp_duration = Some(at.duration(v, key)?);
    }
    let lg = ("NWorker", file.n_worker.as_ref());
    if let Some((key, v)) = loadgen::pick(at, lg, ("workers", file.workers.as_ref()))? {
        k.workers = Some(at.at(v, at.count(v, key, 1..i64::from(MAX_WORKERS) + 1)?));
    }
    if let Some(v) = &file.times {
        k.times = Some(at.count(v, "times", 0..i64::MAX)?);
    }
    if let Some(v) = &file.duration {
        k.duration = Some(at.at(v, at.duration(v, "duration")?));
    }
    let lg = ("InitURLs", file.init_urls.as_ref());
    let iterator = loadgen::pick(at, lg, ("iterator", file.iterator.as_ref()))?;
    k.iterator = iterator.map(|(_, v)| at.at(v, v.get_ref().clone()));
    if let Some(v) = &file.max_redirects {
        k.max_redirects = Some(at.count(v, "max_redirects", 0..1001)?);
    }
    k.follow_cross_origin = file.follow_cross_origin.unwrap_or(false);
    if let Some(v) = &file.seed {
        k.seed = Some(at.count(v, "seed", 0..i64::MAX)?);
    }
    k.log = file.log.as_ref().map(|v| base.join(v.get_ref()));
    if let Some(v) = &file.log_format {
        let format = LogFormat::from_name(v.get_ref());
        let why = "log_format: expected \"csv\" or \"jsonl\"";
        k.log_format = Some(format.ok_or_else(|| at.error(v.span(), why))?);
    }
    k.run_name = file.run_name.as_ref().map(|v| v.get_ref().clone());
    if let Some(v) = &file.metrics_listen {
        let why = "metrics_listen: expected IP:PORT, such as \"127.0.0.1:9464\"";
        let addr = v.get_ref().parse::<std::net::SocketAddr>();
        k.metrics_listen = Some(at.at(v, addr.map_err(|_| at.error(v.span(), why))?));
    }
    open_loop_keys(file, at, &mut k)?;
    for v in file.check.iter().flatten() {
        let expr = v.get_ref();
        let check = Check::parse(expr).map_err(|e| {
            // The offending character: past the opening quote, `offset` bytes in (exact
            // for an expression without escapes, which is every sensible one).
            let i = v.span().start + 1 + e.offset;
            let p = at.place(i..i);
            let where_ = format!("{}:{}:{}: check", p.path, p.line, p.column);
            ConfigError::check(where_, expr, &e)
        })?;
        k.checks.push(check);
    }
    Ok(k)
}

/// `rate` or `period`, and `calls`.
fn open_loop_keys(file: &File, at: &Locator<'_>, k: &mut FileInputs) -> Result<(), ConfigError> {
    if let Some(v) = &file.rate {
        let rate = v.get_ref().to_string().parse::<RateArg>();
        k.rate = Some(rate.map_err(|e| at.error(v.span(), format!("rate: {e}")))?);
    }
    if let Some(v) = &file.period {
        if file.rate.is_some() {
            return Err(at.error(v.span(), "give rate or period, not both"));
        }
        let period = v.get_ref().parse::<PeriodArg>();
        k.period = Some(period.map_err(|e| at.error(v.span(), format!("period: {e}")))?);
    }
    if let Some(v) = &file.calls {
        k.calls = Some(at.count(v, "calls", 1..i64::from(u32::MAX))?);
    }
    Ok(())
}

/// The run file's TLS keys (`cacert`, `insecure`, `cert`, `key`, `tls_resume`); paths
/// are relative to the run file.
fn tls(file: &File, base: &Path, at: &Locator<'_>) -> Result<TlsSpec, ConfigError> {
    let mut t = TlsSpec::default();
    if let Some(v) = &file.cacert {
        let list = match v.get_ref() {
            StringOrList::One(s) => vec![s.clone()],
            StringOrList::Many(l) => l.clone(),
        };
        if list.iter().any(|s| s.is_empty()) {
            return Err(at.error(v.span(), "cacert: expected PEM file names"));
        }
        t.cacert = list.iter().map(|s| base.join(s)).collect();
    }
    t.insecure = file.insecure.unwrap_or(false);
    match (&file.cert, &file.key) {
        (Some(c), Some(k)) => {
            t.cert = Some(base.join(c.get_ref()));
            t.key = Some(base.join(k.get_ref()));
        }
        (Some(v), None) | (None, Some(v)) => {
            return Err(at.error(v.span(), "give cert and key together"));
        }
        (None, None) => {}
    }
    t.resume = file.tls_resume.unwrap_or(true);
    Ok(t)
}

/// Turns byte spans into `file:line:column` places and errors.
pub(super) struct Locator<'a> {
    path: String,
    text: &'a str,
}

impl Locator<'_> {
    /// The place of the byte span `span`.
    fn place(&self, span: Range<usize>) -> Place {
        let start = span.start.min(self.text.len());
        let before = &self.text[..start];
        Place {
            path: self.path.clone(),
            line: before.matches('\n').count() + 1,
            column: before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1,
        }
    }

    /// A refusal at `span`.
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        self.place(span).error(&message.into())
    }

    /// `value`, read from `v`, kept with `v`'s place for the builder's rules.
    fn at<T, V>(&self, v: &Spanned<V>, value: T) -> At<T> {
        At {
            value,
            place: self.place(v.span()),
        }
    }

    fn count<T: TryFrom<i64>>(
        &self,
        v: &Spanned<i64>,
        key: &str,
        range: Range<i64>,
    ) -> Result<T, ConfigError> {
        let n = *v.get_ref();
        if !range.contains(&n) {
            return Err(self.error(
                v.span(),
                format!(
                    "{key} = {n} is out of range: {} to {}",
                    range.start,
                    range.end - 1
                ),
            ));
        }
        T::try_from(n).map_err(|_| self.error(v.span(), format!("{key} = {n} is out of range")))
    }

    fn duration(&self, v: &Spanned<DurationValue>, key: &str) -> Result<Duration, ConfigError> {
        let bad = |why: String| self.error(v.span(), format!("{key}: {why}"));
        match v.get_ref() {
            DurationValue::Seconds(s) if s.is_finite() && (0.0..=1e9).contains(s) => {
                Ok(Duration::from_secs_f64(*s))
            }
            DurationValue::Seconds(s) => Err(bad(format!(
                "{s} is not a duration; expected {DURATION_SYNTAX}"
            ))),
            DurationValue::Text(t) => parse_duration(t).map_err(bad),
        }
    }

    fn timeout(
        &self,
        v: &Spanned<DurationValue>,
        key: &str,
    ) -> Result<Option<Duration>, ConfigError> {
        if let DurationValue::Text(t) = v.get_ref()
            && t.trim().eq_ignore_ascii_case("never")
        {
            return Ok(None);
        }
        let d = self.duration(v, key)?;
        if d.is_zero() {
            return Err(self.error(
                v.span(),
                format!("{key}: a timeout must be positive, or \"never\""),
            ));
        }
        Ok(Some(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{DEFAULT_CONCURRENCY as DEFAULT_SLOTS, DEFAULT_TIMEOUT};
    use crate::cli::RunArgs;
    use crate::spec::{IteratorKind, KeepAlive, Limit, RunSpec};
    use std::io::Write;

    /// `volley run` with `args`: the file, the flags over it, built.
    fn load(args: RunArgs) -> Result<RunSpec, ConfigError> {
        crate::run_file(args)?.build(&[])
    }

    /// Writes `text` to a fresh file and loads it with `args` (file filled in).
    pub(super) fn load_text(text: &str, mut args: RunArgs) -> Result<RunSpec, ConfigError> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("volley-runfile-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.toml");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        args.file = path;
        let r = load(args);
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    pub(super) fn ok(text: &str) -> RunSpec {
        load_text(text, RunArgs::default()).unwrap()
    }

    /// The (line, column, message) of a rejected file.
    pub(super) fn err(text: &str) -> (usize, usize, String) {
        match load_text(text, RunArgs::default()) {
            Err(ConfigError::RunFile {
                line,
                column,
                message,
                path,
            }) => {
                assert!(path.ends_with("run.toml"), "{path}");
                (line, column, message)
            }
            other => panic!("{other:?}"),
        }
    }

    const MANUAL: &str = r#"
workers = 3
ramp_up = { start = 2, max = 13, duration = 5 }
times = 3
iterator = "random_start"
seed = 7
dnscache = { "localhost" = "127.0.0.1", "app.test" = "127.0.0.1" }
defaults = { keepalive = "both", predelay = 0.05, prejitter = 0.1, postdelay = 0.5, postjitter = 1 }

[[request]]
url = "http://app.test:8080/-redir"
headers = ["Authorization: Basic YmxhOmJsdWI=", ["X-Pair", "two"]]

[[request]]
method = "HUGO"
host = "localhost"
port = 8081
uri = "/"
body = "blablub"
keepalive = "none"
timeout = "2s"
conn_timeout = "never"
"#;

    #[test]
    fn checks_come_from_the_file_then_the_flags() {
        let file = "check = [\"p99 < 50ms\", \"errors < 1%\"]\n\
                    [[request]]\nurl = \"http://127.0.0.1:1/\"\n";
        let exprs =
            |spec: RunSpec| -> Vec<String> { spec.checks.into_iter().map(|c| c.expr).collect() };
        assert_eq!(exprs(ok(file)), ["p99 < 50ms", "errors < 1%"]);
        let args = RunArgs {
            checks: vec!["status.5xx == 0".into()],
            ..RunArgs::default()
        };
        let spec = load_text(file, args).unwrap();
        assert_eq!(
            exprs(spec),
            ["p99 < 50ms", "errors < 1%", "status.5xx == 0"]
        );
    }

    #[test]
    fn a_bad_check_in_the_file_names_its_line_and_column() {
        let file = "workers = 1\ncheck = [\"p99 < 1s\", \"p99 < 50\"]\n\
                    [[request]]\nurl = \"http://127.0.0.1:1/\"\n";
        let refused = load_text(file, RunArgs::default()).unwrap_err();
        let text = refused.to_string();
        assert_eq!(refused.exit_code(), 2);
        // Line 2, the end of the second string's expression (column 31).
        assert!(
            text.contains("run.toml:2:31: check: a latency needs a unit: 50ms"),
            "{text}"
        );
        assert!(text.ends_with("\n  p99 < 50\n          ^"), "{text}");
        // A single string is not a list.
        let (line, _, message) = err("check = \"p99 < 1s\"\n[[request]]\nurl = \"http://h/\"\n");
        assert_eq!(line, 1, "{message}");
    }

    #[test]
    fn the_manuals_example_translates() {
        let spec = ok(MANUAL);
        assert_eq!((spec.workers, spec.concurrency), (3, 13));
        assert_eq!(spec.ramp.start, 2);
        assert_eq!(spec.ramp.duration, Duration::from_secs(5));
        assert_eq!(spec.rounds, Some(3));
        assert_eq!(spec.limit, Limit::Rounds);
        assert_eq!(spec.iterator, IteratorKind::RandomStart);
        assert_eq!((spec.seed, spec.seed_given), (7, true));
        let [a, b] = &spec.requests[..] else {
            panic!("{:?}", spec.requests)
        };
        assert_eq!(a.method, "GET");
        assert_eq!(
            (
                a.target.host.as_str(),
                a.target.port,
                a.target.path.as_str()
            ),
            ("app.test", 8080, "/-redir")
        );
        assert!(a.target.dns_cached);
        assert_eq!(a.target.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(
            a.headers,
            [
                (
                    "Authorization".to_string(),
                    "Basic YmxhOmJsdWI=".to_string()
                ),
                ("X-Pair".to_string(), "two".to_string())
            ]
        );
        assert_eq!(a.keepalive, KeepAlive::BOTH);
        assert_eq!(a.pre.delay, Duration::from_millis(50));
        assert_eq!(a.post.jitter, Duration::from_secs(1));
        assert_eq!(a.timeouts.reply, Some(DEFAULT_TIMEOUT));
        assert_eq!(b.method, "HUGO");
        assert_eq!(b.body, b"blablub");
        assert_eq!(b.keepalive, KeepAlive::NONE);
        assert_eq!(b.timeouts.reply, Some(Duration::from_secs(2)));
        assert_eq!(b.timeouts.connect, None);
        assert_eq!(b.target.addr.to_string(), "127.0.0.1:8081");
    }

    #[test]
    fn keepalive_takes_loadgens_numbers_as_well_as_names() {
        let modes = [
            ("0", KeepAlive::NONE),
            (
                "1",
                KeepAlive {
                    use_kept: true,
                    store: false,
                },
            ),
            (
                "2",
                KeepAlive {
                    use_kept: false,
                    store: true,
                },
            ),
            ("3", KeepAlive::BOTH),
            (
                "\"use\"",
                KeepAlive {
                    use_kept: true,
                    store: false,
                },
            ),
            (
                "\"store\"",
                KeepAlive {
                    use_kept: false,
                    store: true,
                },
            ),
        ];
        for (value, mode) in modes {
            let text = format!("[[request]]\nurl = \"http://127.0.0.1/\"\nkeepalive = {value}\n");
            let spec = load_text(&text, RunArgs::default()).unwrap();
            assert_eq!(spec.requests[0].keepalive, mode, "{value}");
        }
        let spec = load_text(
            "defaults = { keepalive = 1 }\n[[request]]\nurl = \"http://127.0.0.1/\"\n",
            RunArgs::default(),
        )
        .unwrap();
        assert!(!spec.requests[0].keepalive.store);
        for bad in ["7", "-1", "4"] {
            let (line, col, msg) = err(&format!(
                "[[request]]\nurl = \"http://127.0.0.1/\"\nkeepalive = {bad}\n"
            ));
            assert_eq!((line, col), (3, 13), "{msg}");
            assert!(msg.contains(bad) && msg.contains("3 (both)"), "{msg}");
        }
        let (line, _, msg) = err("[[request]]\nurl = \"http://127.0.0.1/\"\nkeepalive = 2.5\n");
        assert_eq!(line, 3, "{msg}");
    }

    #[test]
    fn flags_override_the_file() {
        let args = RunArgs {
            workers: Some(2),
            concurrency: Some(4),
            times: Some(1),
            seed: Some(99),
            iterator: Some("follow".into()),
            requests: Some(50),
            ..RunArgs::default()
        };
        let spec = load_text(MANUAL, args).unwrap();
        assert_eq!((spec.workers, spec.concurrency, spec.ramp.start), (2, 4, 2));
        assert_eq!(spec.rounds, Some(1));
        assert_eq!(spec.seed, 99);
        assert_eq!(spec.iterator, IteratorKind::Follow);
        assert_eq!(spec.limit, Limit::Requests(50));
    }

    #[test]
    fn errors_name_the_line() {
        let (line, _, msg) =
            err("workers = 1\nbogus = 2\n[[request]]\nurl = \"http://127.0.0.1/\"\n");
        assert_eq!(line, 2, "{msg}");
        assert!(msg.contains("bogus"), "{msg}");
        let (line, _, msg) = err("[[request]]\nurl = \"http://127.0.0.1/\"\npredelay = \"soon\"\n");
        assert_eq!(line, 3);
        assert!(msg.contains("predelay") && msg.contains("soon"), "{msg}");
        let (line, _, msg) = err("[[request]]\nurl = \"ftp://127.0.0.1/\"\n");
        assert_eq!(line, 2);
        assert!(msg.contains("ftp"), "{msg}");
        let (line, col, msg) =
            err("iterator = \"sideways\"\n[[request]]\nurl = \"http://127.0.0.1/\"\n");
        assert_eq!((line, col), (1, 12));
        assert!(
            msg.contains("sideways") && msg.contains("random_start"),
            "{msg}"
        );
        let (line, _, msg) =
            err("[[request]]\nurl = \"http://127.0.0.1/\"\nkeepalive = \"always\"\n");
        assert_eq!(line, 3);
        assert!(msg.contains("always"), "{msg}");
        let (line, _, msg) = err("[[request]]\nurl = \"http://127.0.0.1/\"\nmethod = \"GE T\"\n");
        assert_eq!(line, 3, "{msg}");
        let (line, _, msg) =
            err("[[request]]\nurl = \"http://127.0.0.1/\"\nheaders = [\"NoColon\"]\n");
        assert_eq!(line, 3, "{msg}");
        let (line, _, msg) =
            err("[[request]]\nurl = \"http://127.0.0.1/\"\n[[request]]\nuri = \"/x\"\n");
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains("host"), "{msg}");
        let (line, _, msg) =
            err("dnscache = { a = \"not-ip\" }\n[[request]]\nurl = \"http://a/\"\n");
        assert_eq!(line, 1);
        assert!(msg.contains("not-ip"), "{msg}");
        let (line, _, msg) = err(
            "[[request]]\nurl = \"http://127.0.0.1/\"\n[[request]]\nurl = \"http://127.0.0.1/\"\ntimeout = 0\n",
        );
        assert_eq!(line, 5, "{msg}");
        let (line, _, msg) = err("workers = 1\n[[request\n");
        assert_eq!(line, 2, "{msg}");
        let (_, _, msg) = err("workers = 1\n");
        assert!(msg.contains("[[request]]"), "{msg}");
        let (line, _, msg) = err("workers = 0\n[[request]]\nurl = \"http://127.0.0.1/\"\n");
        assert_eq!(line, 1, "{msg}");
    }

    #[test]
    fn header_values_with_control_bytes_name_the_line() {
        let (line, _, msg) = err(
            "[[request]]\nurl = \"http://127.0.0.1/\"\nheaders = [\"X-Ok: a\tb\", \"X-Ctl: a\\u0001b\"]\n",
        );
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains("'X-Ctl'") && msg.contains("\\x01"), "{msg}");
        assert!(!msg.contains('\x01'), "{msg:?}");
        let (line, _, msg) = err(
            "[[request]]\nurl = \"http://127.0.0.1/\"\n\nheaders = [[\"X-Del\", \"a\\u007f\"]]\n",
        );
        assert_eq!(line, 4, "{msg}");
        assert!(msg.contains("\\x7f"), "{msg}");
        let spec = ok("[[request]]\nurl = \"http://127.0.0.1/\"\nheaders = [\"X-Tab: a\\tb \"]\n");
        assert_eq!(
            spec.requests[0].headers[0].1, "a\tb",
            "HTAB kept, ends trimmed"
        );
    }

    #[test]
    fn url_credentials_are_masked() {
        let (line, _, msg) = err("[[request]]\nurl = \"http://u:secret@127.0.0.1:1/\"\n");
        assert_eq!(line, 2, "{msg}");
        assert!(msg.contains("user info is not supported"), "{msg}");
        assert!(
            msg.contains("http://u:***@127.0.0.1:1/") && !msg.contains("secret"),
            "{msg}"
        );
        let (line, _, msg) = err("[[request]]\nhost = \"u:secret@127.0.0.1\"\n");
        assert_eq!(line, 2, "{msg}");
        assert!(
            msg.contains("u:***@127.0.0.1") && !msg.contains("secret"),
            "{msg}"
        );
        let (_, _, msg) = err("[[request]]\nhost = \"a\\rb\"\n");
        assert!(msg.contains("\\x0d"), "{msg}");
    }

    #[test]
    fn body_files_are_read_under_the_cap() {
        let (line, _, msg) =
            err("[[request]]\nurl = \"http://127.0.0.1/\"\nbody = \"@/dev/zero\"\n");
        assert_eq!(line, 3, "{msg}");
        assert!(
            msg.starts_with("body: ") && msg.contains("/dev/zero"),
            "{msg}"
        );
        assert!(msg.contains("64 MiB"), "{msg}");
    }

    #[test]
    fn a_run_file_over_its_cap_is_refused() {
        let dir = std::env::temp_dir().join(format!("volley-runfile-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.toml");
        // Sparse: no 16 MiB written.
        std::fs::File::create(&path)
            .unwrap()
            .set_len(crate::files::MAX_RUN_FILE_BYTES + 1)
            .unwrap();
        let r = load(RunArgs {
            file: path,
            ..RunArgs::default()
        });
        let _ = std::fs::remove_dir_all(&dir);
        let msg = match r {
            Err(e @ ConfigError::File { flag: "run", .. }) => e.to_string(),
            other => panic!("{other:?}"),
        };
        assert!(msg.contains("big.toml") && msg.contains("16 MiB"), "{msg}");
    }

    #[test]
    fn open_loop_keys() {
        let spec = ok("rate = 250\ncalls = 2\n[[request]]\nurl = \"http://127.0.0.1/\"\n");
        let o = spec.open_loop.unwrap();
        assert_eq!(
            o.arrival,
            crate::spec::Arrival::Deterministic {
                period_ns: 4_000_000
            }
        );
        assert_eq!(o.calls, 2);
        let spec = ok(
            "period = \"e0.01\"\n[[request]]\nurl = \"http://127.0.0.1/\"\n[[request]]\nurl = \"http://127.0.0.1/b\"\n",
        );
        assert_eq!(
            spec.open_loop.unwrap().calls,
            2,
            "a session walks the list once"
        );
        let (line, _, msg) = err("period = \"q1\"\n[[request]]\nurl = \"http://127.0.0.1/\"\n");
        assert_eq!(line, 1, "{msg}");
        let (line, _, msg) =
            err("rate = 5\nperiod = \"d1\"\n[[request]]\nurl = \"http://127.0.0.1/\"\n");
        assert_eq!(line, 2, "{msg}");
    }

    #[test]
    fn defaults_fill_what_a_request_lacks() {
        let spec = ok(r#"
defaults = { host = "127.0.0.1", port = 8080, headers = ["X-D: 1"], method = "POST" }
[[request]]
uri = "/a"
[[request]]
uri = "/b"
headers = ["X-R: 2"]
method = "PUT"
"#);
        assert_eq!(spec.requests[0].target.url(), "http://127.0.0.1:8080/a");
        assert_eq!(spec.requests[0].method, "POST");
        assert_eq!(spec.requests[0].headers[0].0, "X-D");
        assert_eq!(spec.requests[1].headers, [("X-R".into(), "2".into())]);
        assert_eq!(spec.requests[1].method, "PUT");
        assert_eq!(spec.limit, Limit::Rounds);
        assert_eq!(spec.rounds, None);
        assert_eq!(spec.concurrency, DEFAULT_SLOTS);
    }
}
