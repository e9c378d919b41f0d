//! The command line → builder inputs: what each flag of `volley URL`, `volley demo` and
//! `volley run FILE` sets, and the options of `volley top`, `volley serve`, `volley report`,
//! `volley merge` and `volley compare`.
//!
//! Values arrive typed (clap ran the parsers of [`crate::values`]). What is checked here is
//! what makes the URL list's one entry (the URL, `--method`, `--body`); every other rule is
//! the builder's ([`crate::builder`]), whichever command gave the value.

use std::net::SocketAddr;
use std::time::Duration;

use crate::builder::{self, FlagInputs, Source, SpecBuilder, TlsFlags, Watchdog};
use crate::check::Check;
use crate::cli::{
    CompareArgs, LoadArgs, MergeArgs, OpenLoopArgs, ReportArgs, RunArgs, ServeArgs, TlsArgs,
    TopArgs,
};
use crate::error::ConfigError;
use crate::results::{CompareSpec, MergeSpec};
use crate::spec::{ReplyLimits, ReportSpec, ServeSpec, Target, TopSpec};
use crate::values::{TimeoutArg, is_token};

/// `volley URL`: the URL (required) and the load flags.
///
/// # Errors
///
/// [`ConfigError::Invalid`] for a missing or bad URL or method, [`ConfigError::File`] when
/// `--body @FILE` cannot be read.
pub(crate) fn url(url: Option<String>, load: LoadArgs) -> Result<SpecBuilder, ConfigError> {
    let url = url.ok_or_else(|| {
        ConfigError::invalid(
            "URL",
            "",
            "a target URL is required (http://host[:port]/path), or use `volley demo`",
        )
    })?;
    let target = crate::target::parse_url_resolving(&url, &load.tls.resolve)?;
    load_inputs(Source::Url, target, load)
}

/// `volley demo`: the load flags against the demo target. Its address is known only once
/// it listens, so the entry's target is a placeholder (port 0) until then.
///
/// # Errors
///
/// As [`url`].
pub(crate) fn demo(load: LoadArgs) -> Result<SpecBuilder, ConfigError> {
    let placeholder = Target {
        host: "127.0.0.1".into(),
        port: 0,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        path: "/small".into(),
        dns_cached: false,
        tls: false,
    };
    load_inputs(Source::Demo, placeholder, load)
}

/// The one request of `volley URL`/`demo` and the flags that shape the run.
fn load_inputs(source: Source, target: Target, load: LoadArgs) -> Result<SpecBuilder, ConfigError> {
    if !is_token(&load.method) {
        let allowed = "an HTTP method token such as GET, POST or HUGO";
        return Err(ConfigError::invalid("--method", &load.method, allowed));
    }
    let body = match load.body.as_deref() {
        None => Vec::new(),
        Some(s) => read_body("--body", s)?,
    };
    let watchdog = Watchdog {
        timeout: match load.timeout {
            Some(TimeoutArg::After(d)) => Some(d),
            Some(TimeoutArg::Never) | None => None,
        },
        think: load.think_timeout.0,
        connect: load.connect_timeout,
        first_byte: load.first_byte_timeout,
        idle: load.idle_timeout,
        inactivity: None,
    };
    let mut request = builder::request(target, watchdog.timeouts());
    request.method = load.method;
    request.headers = load
        .headers
        .into_iter()
        .map(|h| (h.name, h.value))
        .collect();
    request.body = body;
    let mut b = SpecBuilder::new(source, vec![request]);
    let mut notes = Vec::new();
    if load.threads.is_some() {
        notes.push("volley: -t taken as -w: volley's threads are worker processes".to_string());
    }
    if load.latency {
        notes.push("volley: --latency: latency percentiles are always printed".to_string());
    }
    b.flags = FlagInputs {
        workers: load.workers.or(load.threads),
        notes,
        concurrency: Some(load.concurrency),
        ramp_start: load.ramp_start,
        ramp_duration: load.ramp_duration.map(|d| d.0),
        requests: load.requests,
        duration: load.duration.map(|d| d.0),
        seed: load.seed,
        log: load.log,
        log_format: load.log_format,
        run_name: load.run_name,
        json: load.json,
        out: load.out,
        interval: load.interval.map(|d| d.0),
        quiet: load.quiet,
        limits: ReplyLimits {
            head_bytes: load.max_head_bytes,
            headers: load.max_headers,
            chunk_ext_bytes: load.max_chunk_ext_bytes,
            trailer_bytes: load.max_trailer_bytes,
        },
        tls: tls_flags(load.tls),
        checks: checks(&load.checks)?,
        metrics_listen: load.metrics.metrics_listen,
        metrics_linger: load.metrics.metrics_linger.map(|d| d.0),
        metrics_listen_any: load.metrics.metrics_listen_any,
        ..open_flags(load.open)
    };
    Ok(b)
}

/// The flags of `volley run FILE`, which win over the file's keys (`--check` adds to the
/// file's checks).
///
/// # Errors
///
/// [`ConfigError::Check`] for a `--check` that does not parse.
pub(crate) fn run_flags(args: RunArgs) -> Result<FlagInputs, ConfigError> {
    Ok(FlagInputs {
        workers: args.workers,
        concurrency: args.concurrency,
        ramp_start: args.ramp_start,
        ramp_duration: args.ramp_duration.map(|d| d.0),
        times: args.times,
        requests: args.requests,
        duration: args.duration.map(|d| d.0),
        iterator: args.iterator,
        seed: args.seed,
        log: args.log,
        log_format: args.log_format,
        run_name: args.run_name,
        json: args.json,
        out: args.out,
        interval: args.interval.map(|d| d.0),
        quiet: args.quiet,
        tls: tls_flags(args.tls),
        checks: checks(&args.checks)?,
        metrics_listen: args.metrics.metrics_listen,
        metrics_linger: args.metrics.metrics_linger.map(|d| d.0),
        metrics_listen_any: args.metrics.metrics_listen_any,
        ..open_flags(args.open)
    })
}

/// The `--check` expressions, parsed; a refusal shows the expression with a caret.
fn checks(exprs: &[String]) -> Result<Vec<Check>, ConfigError> {
    exprs
        .iter()
        .map(|e| {
            Check::parse(e)
                .map_err(|err| ConfigError::check("invalid value for '--check'".into(), e, &err))
        })
        .collect()
}

/// The open-loop and pipelining flags (the same for `volley URL` and `volley run`).
fn open_flags(open: OpenLoopArgs) -> FlagInputs {
    FlagInputs {
        rate: open.rate,
        period: open.period,
        calls: open.calls,
        client: open.client,
        wake_per_reply: open.wake_per_reply,
        spin: open.spin,
        pipeline: open.pipeline,
        ..FlagInputs::default()
    }
}

/// The TLS flags (the same for `volley URL` and `volley run`); `--resolve` is the URL's.
fn tls_flags(tls: TlsArgs) -> TlsFlags {
    TlsFlags {
        cacert: tls.cacert,
        insecure: tls.insecure,
        // clap makes --cert and --key come together.
        cert: tls.cert.zip(tls.key),
        no_resume: tls.no_tls_resume,
    }
}

/// `volley top`'s options.
///
/// # Errors
///
/// [`ConfigError::Invalid`] for an `--interval` under 10 ms.
pub(crate) fn top(top: TopArgs) -> Result<TopSpec, ConfigError> {
    if top.interval.0 < Duration::from_millis(10) {
        return Err(ConfigError::invalid(
            "--interval",
            top.interval,
            "at least 10ms",
        ));
    }
    Ok(TopSpec {
        run_name: top.name,
        interval: top.interval.0,
        count: top.count,
        wait: top.wait.0,
    })
}

/// Most processes `volley serve -w` starts.
const MAX_SERVE_WORKERS: u32 = 1024;

/// `volley serve`'s options.
///
/// # Errors
///
/// [`ConfigError::Invalid`] for a `--listen` address that is not loopback without
/// `--listen-any`, and for a `--workers` outside 1 to [`MAX_SERVE_WORKERS`].
pub(crate) fn serve(args: ServeArgs) -> Result<ServeSpec, ConfigError> {
    let listen = args.listen.0;
    // The target answers anything (redirects, delays, 1 MiB bodies): serving other
    // machines must be asked for, not fallen into with a typo.
    if !listen.ip().is_loopback() && !args.listen_any {
        return Err(ConfigError::invalid(
            "--listen",
            listen,
            "a loopback address (127.0.0.1:PORT, [::1]:PORT); add --listen-any to serve \
             other machines too",
        ));
    }
    let workers = match args.workers {
        None => std::thread::available_parallelism()
            .map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
            .clamp(1, MAX_SERVE_WORKERS),
        Some(w) if (1..=MAX_SERVE_WORKERS).contains(&w) => w,
        Some(w) => {
            let allowed = format!("1 to {MAX_SERVE_WORKERS}");
            return Err(ConfigError::invalid("--workers", w, allowed));
        }
    };
    Ok(ServeSpec { listen, workers })
}

/// `volley report`'s files and where the page goes: `-o -` is standard output; without
/// `-o`, beside the first file, named after it (`run.json` → `run.html`; with several files
/// `run-overlay.html`, so an overlay never overwrites the first run's own report).
///
/// # Errors
///
/// [`ConfigError::Invalid`] when the page would overwrite one of the files it reads.
pub(crate) fn report(args: ReportArgs) -> Result<ReportSpec, ConfigError> {
    let output = match args.output {
        Some(p) if p.as_os_str() == "-" => None,
        Some(p) => Some(p),
        None => {
            let first = &args.files[0];
            let stem = first.file_stem().unwrap_or(first.as_os_str());
            let mut name = stem.to_os_string();
            name.push(if args.files.len() > 1 {
                "-overlay.html"
            } else {
                ".html"
            });
            Some(first.with_file_name(name))
        }
    };
    if let Some(out) = output.as_ref().filter(|o| args.files.contains(o)) {
        let allowed = "a file other than the result files it reads";
        return Err(ConfigError::invalid("--output", out.display(), allowed));
    }
    Ok(ReportSpec {
        inputs: args.files,
        output,
    })
}

/// `volley merge`: the files as given (they are read, and refused, by the command).
pub(crate) fn merge(m: MergeArgs) -> MergeSpec {
    MergeSpec {
        files: m.files,
        out: m.out,
        json: m.json,
    }
}

/// `volley compare`: the two files and the gate.
pub(crate) fn compare(c: CompareArgs) -> CompareSpec {
    CompareSpec {
        base: c.base,
        new: c.new,
        fail_if_worse: c.fail_if_worse.map(|p| p.0),
        json: c.json,
    }
}

/// A body given as a string, or `@FILE` to read it from a file (at most
/// [`crate::files::MAX_BODY_BYTES`]).
fn read_body(flag: &'static str, s: &str) -> Result<Vec<u8>, ConfigError> {
    match s.strip_prefix('@') {
        Some(path) => crate::files::read_capped(
            std::path::Path::new(path),
            crate::files::MAX_BODY_BYTES,
            crate::files::BODY,
        )
        .map_err(|source| ConfigError::File {
            flag,
            path: path.to_string(),
            source,
        }),
        None => Ok(s.as_bytes().to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Command;
    use crate::builder::{DEFAULT_DURATION, DEMO_DURATION};
    use crate::spec::{Limit, RampUp, RunSpec, Timeouts};

    fn resolve_args(args: &[&str]) -> Result<Command, ConfigError> {
        crate::parse(std::iter::once("volley").chain(args.iter().copied()))
    }

    fn run(args: &[&str]) -> RunSpec {
        match resolve_args(args).unwrap() {
            Command::Run(spec) => spec,
            other => panic!("{other:?}"),
        }
    }

    fn invalid_flag(args: &[&str]) -> &'static str {
        match resolve_args(args) {
            Err(ConfigError::Invalid { flag, .. }) => flag,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn checks_are_parsed_in_order() {
        let spec = run(&[
            "http://127.0.0.1:1/",
            "--check",
            "p99 < 50ms",
            "--check",
            "errors == 0",
        ]);
        let exprs: Vec<&str> = spec.checks.iter().map(|c| c.expr.as_str()).collect();
        assert_eq!(exprs, ["p99 < 50ms", "errors == 0"]);
        assert!(run(&["http://127.0.0.1:1/"]).checks.is_empty());
    }

    #[test]
    fn a_bad_check_shows_a_caret_under_the_offending_character() {
        let err = resolve_args(&["http://127.0.0.1:1/", "--check", "p99 < 50xs"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.to_string(),
            "invalid value for '--check': 'xs' is not a unit of time; expected us, ms, s, m \
             or h\n  p99 < 50xs\n          ^"
        );
        // A control byte is escaped, and the caret still lands under the character.
        let err = resolve_args(&["demo", "--check", "p99\x1b < 5ms"]).unwrap_err();
        let text = err.to_string();
        assert!(text.ends_with("\n  p99\\x1b < 5ms\n     ^"), "{text}");
        let err = resolve_args(&["demo", "--check", "p99 <\x1b 5ms"]).unwrap_err();
        let text = err.to_string();
        assert!(text.ends_with("\n  p99 <\\x1b 5ms\n       ^"), "{text}");
    }

    #[test]
    fn an_endless_body_file_is_refused_at_the_cap() {
        let err = resolve_args(&["http://127.0.0.1:1/", "--body", "@/dev/zero"]).unwrap_err();
        assert!(
            matches!(err, ConfigError::File { flag: "--body", .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("--body") && msg.contains("/dev/zero"), "{msg}");
        assert!(msg.contains("64 MiB"), "{msg}");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn defaults() {
        let spec = run(&["http://127.0.0.1:1/"]);
        assert_eq!(spec.concurrency, 10);
        assert!(spec.workers >= 1 && spec.workers <= 10);
        assert_eq!(spec.limit, Limit::Duration(DEFAULT_DURATION));
        assert_eq!(
            spec.ramp,
            RampUp {
                start: 10,
                duration: Duration::ZERO
            }
        );
        let t30 = Some(Duration::from_secs(30));
        assert_eq!(
            spec.timeouts,
            Timeouts {
                connect: t30,
                send: t30,
                first_byte: t30,
                idle: None,
                inactivity: None,
                reply: t30
            }
        );
        assert!(!spec.seed_given);
    }

    #[test]
    fn workers_clamped_to_concurrency_by_default_but_not_when_asked() {
        assert_eq!(run(&["http://127.0.0.1:1/", "-c", "1"]).workers, 1);
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "-c", "2", "-w", "3"]),
            "--workers"
        );
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "-w", "0"]),
            "--workers"
        );
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "-c", "0"]),
            "--concurrency"
        );
    }

    #[test]
    fn requests_split_exactly() {
        let spec = run(&["http://127.0.0.1:1/", "-c", "3", "-w", "3", "-n", "10"]);
        let split: Vec<_> = (0..3)
            .map(|w| spec.requests_for_worker(w).unwrap())
            .collect();
        assert_eq!(split, [4, 3, 3]);
        let slots: Vec<_> = spec.slots_of_worker(1).collect();
        assert_eq!(slots, [1]);
        let spec = run(&["http://127.0.0.1:1/", "-c", "7", "-w", "3"]);
        assert_eq!(spec.slots_of_worker(0).collect::<Vec<_>>(), [0, 3, 6]);
        assert_eq!(spec.slots_of_worker(2).collect::<Vec<_>>(), [2, 5]);
    }

    #[test]
    fn ramp_rules() {
        let spec = run(&["http://127.0.0.1:1/", "-c", "8", "--ramp-duration", "2s"]);
        assert_eq!(
            spec.ramp,
            RampUp {
                start: 1,
                duration: Duration::from_secs(2)
            }
        );
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "-c", "2", "--ramp-start", "3"]),
            "--ramp-start"
        );
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "--ramp-start", "0"]),
            "--ramp-start"
        );
    }

    #[test]
    fn reply_limits_are_overridable_within_bounds() {
        let bad = |args: &[&str]| invalid_flag(&[&["http://127.0.0.1:1/"], args].concat());
        assert_eq!(bad(&["--max-headers", "1001"]), "--max-headers");
        assert_eq!(bad(&["--max-headers", "0"]), "--max-headers");
        assert_eq!(bad(&["--max-head-bytes", "10"]), "--max-head-bytes");
        let spec = run(&[
            "http://127.0.0.1:1/",
            "--max-headers",
            "500",
            "--max-trailer-bytes",
            "0",
        ]);
        assert_eq!((spec.limits.headers, spec.limits.trailer_bytes), (500, 0));
        assert_eq!(run(&["http://127.0.0.1:1/"]).limits, ReplyLimits::default());
    }

    #[test]
    fn other_values() {
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "-n", "0"]),
            "--requests"
        );
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "-d", "0s"]),
            "--duration"
        );
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "-m", "GE T"]),
            "--method"
        );
        assert_eq!(
            invalid_flag(&["http://127.0.0.1:1/", "--run-name", "a/b"]),
            "--run-name"
        );
        assert_eq!(invalid_flag(&[]), "URL");
        assert!(matches!(
            resolve_args(&["http://127.0.0.1:1/", "--body", "@/nonexistent/x"]),
            Err(ConfigError::File { flag: "--body", .. })
        ));
        assert_eq!(
            run(&["http://127.0.0.1:1/", "--body", "@/dev/null"]).requests[0].body,
            b""
        );
        let spec = run(&[
            "http://127.0.0.1:1/",
            "--seed",
            "7",
            "--timeout",
            "never",
            "--run-name",
            "x",
        ]);
        assert_eq!((spec.seed, spec.seed_given), (7, true));
        assert_eq!(spec.timeouts, Timeouts::default());
        assert_eq!(spec.run_name.as_deref(), Some("volley-x"));
    }

    #[test]
    fn timeout_flags_default_to_what_timeout_implies() {
        let spec = run(&[
            "http://127.0.0.1:1/",
            "--timeout",
            "2s",
            "--think-timeout",
            "1s",
        ]);
        let s = |n| Some(Duration::from_secs(n));
        assert_eq!(
            spec.timeouts,
            Timeouts {
                connect: s(2),
                send: s(2),
                first_byte: s(3),
                idle: None,
                inactivity: None,
                reply: s(3)
            }
        );
        let spec = run(&[
            "http://127.0.0.1:1/",
            "--timeout",
            "never",
            "--connect-timeout",
            "1s",
            "--idle-timeout",
            "500ms",
        ]);
        assert_eq!(spec.timeouts.connect, s(1));
        assert_eq!(spec.timeouts.idle, Some(Duration::from_millis(500)));
        assert_eq!((spec.timeouts.send, spec.timeouts.reply), (None, None));
        let spec = run(&["http://127.0.0.1:1/", "--first-byte-timeout", "never"]);
        assert_eq!(
            (spec.timeouts.first_byte, spec.timeouts.reply),
            (None, s(30))
        );
    }

    #[test]
    fn serve_listens_on_loopback_unless_told_otherwise() {
        let serve = |args: &[&str]| match resolve_args(&[&["serve"], args].concat()) {
            Ok(Command::Serve(spec)) => Ok(spec),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        let spec = serve(&[]).unwrap();
        assert_eq!(spec.listen.to_string(), "127.0.0.1:8080");
        assert!(spec.workers >= 1);
        let spec = serve(&["--listen", "[::1]:0", "-w", "3"]).unwrap();
        assert_eq!(
            (spec.listen.to_string().as_str(), spec.workers),
            ("[::1]:0", 3)
        );
        let err = serve(&["--listen", "0.0.0.0:8080"]).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    flag: "--listen",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("--listen-any"), "{err}");
        assert_eq!(err.exit_code(), 2);
        let spec = serve(&["--listen", "0.0.0.0:8080", "--listen-any"]).unwrap();
        assert!(spec.listen.ip().is_unspecified());
        assert_eq!(invalid_flag(&["serve", "-w", "0"]), "--workers");
        assert!(serve(&["--listen", "nowhere"]).is_err());
    }

    #[test]
    fn demo_and_top() {
        match resolve_args(&["demo"]).unwrap() {
            Command::Demo(spec) => assert_eq!(spec.limit, Limit::Duration(DEMO_DURATION)),
            other => panic!("{other:?}"),
        }
        match resolve_args(&["top", "--interval", "1ms"]) {
            Err(ConfigError::Invalid {
                flag: "--interval", ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn report_writes_beside_the_first_file_unless_told() {
        use std::path::PathBuf;
        let spec = |args: &[&str]| match resolve_args(args).unwrap() {
            Command::Report(r) => r,
            other => panic!("{other:?}"),
        };
        let r = spec(&["report", "runs/a.json"]);
        assert_eq!(r.inputs, [PathBuf::from("runs/a.json")]);
        assert_eq!(r.output, Some(PathBuf::from("runs/a.html")));
        let r = spec(&["report", "a.json", "b/b.json"]);
        assert_eq!(r.output, Some(PathBuf::from("a-overlay.html")));
        assert_eq!(spec(&["report", "a", "-o", "-"]).output, None);
        let r = spec(&["report", "a.json", "--output", "x/r.html"]);
        assert_eq!(r.output, Some(PathBuf::from("x/r.html")));
        assert!(resolve_args(&["report"]).is_err(), "a file is required");
        match resolve_args(&["report", "a.json", "-o", "a.json"]) {
            Err(ConfigError::Invalid {
                flag: "--output", ..
            }) => {}
            other => panic!("{other:?}"),
        }
        // The default never overwrites an input either (a result file named .html).
        assert!(resolve_args(&["report", "r.html"]).is_err());
    }
}
