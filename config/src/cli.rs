//! The command line as clap sees it: one field per flag, doc comments are `--help`, no logic.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::spec::LogFormat;
use crate::values::{
    ClientArg, DurationArg, HeaderArg, ListenArg, LogFormatArg, PercentArg, PeriodArg, RateArg,
    Redacted, ResolveArg, TimeoutArg,
};

/// volley: an HTTP load generator (supervisor + worker processes over a shared-memory
/// scoreboard).
///
/// Run load against URL, or `volley demo` for a self-contained run against a built-in
/// loopback target, `volley serve` to run that target on its own, or `volley top` to watch
/// a running run from another terminal; `volley report`, `volley merge` and `volley compare`
/// read result files (--out).
#[derive(Debug, Parser)]
#[command(name = "volley", version, args_conflicts_with_subcommands = true)]
#[command(
    after_help = "Exit codes: 0 run complete, 1 run could not be done, 2 bad usage, \
                        3 run complete but invalid (a worker died or the generator ran short), \
                        4 a --check failed (without --check: no request got a reply), \
                        130 interrupted (the report is still printed). When several apply, \
                        130 wins over 3, and 3 over 4."
)]
pub struct Cli {
    /// Subcommand (demo, run, serve, top, httperf, report, merge, compare); without one, run
    /// load against URL.
    #[command(subcommand)]
    pub command: Option<Sub>,

    /// Target URL (http://host[:port]/path).
    pub url: Option<String>,

    /// Load options.
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Subcommands.
// Parsed once per process: the size of the enum does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Start a built-in loopback target and run load against it (5 s unless -d/-n).
    Demo {
        /// Load options.
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Run the workload described by a run file (TOML); flags override the file.
    Run(RunArgs),
    /// Live per-worker view of a running run (read-only): counts, and rates and p50/p99
    /// latency over each interval.
    Top(TopArgs),
    /// Draw result files (`--out FILE`) as one self-contained HTML page.
    ///
    /// The page has its styles inline and its charts as inline SVG: no script, nothing
    /// loaded from the network. Several files are drawn over each other, a colour each.
    Report(ReportArgs),
    /// An httperf command line, unchanged: httperf's options (any unique prefix), its
    /// report, volley's engine (`volley httperf --help` lists what is supported).
    #[command(disable_help_flag = true)]
    Httperf {
        /// httperf's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<String>,
    },
    /// Run the built-in target (`volley demo`'s server) until Ctrl-C or SIGTERM.
    ///
    /// N processes on one address, loopback only unless --listen-any. Prints the address it
    /// listens on as the first line of stdout.
    #[command(after_help = SERVE_ROUTES)]
    Serve(ServeArgs),
    /// Merge result files (--out) of one workload into one report.
    ///
    /// The files of the hosts of a --client I/N run, or of runs of one command with one
    /// --seed: counts and histograms add (percentiles are those of every request), time
    /// series line up on the wall clock, the run lasts from the earliest start to the
    /// latest end. The report is printed as for one run.
    Merge(MergeArgs),
    /// Compare two result files (--out): what changed, and whether beyond noise.
    ///
    /// req/s, success, reply latency p50/p90/p99/p99.9/max and errors side by side, with
    /// each change judged against run-to-run noise: a Mann-Whitney U test on the figures
    /// of every full interval of the two time series (5 needed on each side).
    #[command(
        after_help = "Exit codes: 0 compared (and, with --fail-if-worse, nothing \
                            gated is worse), 2 a file is unreadable or not a schema-2 result \
                            file, 4 --fail-if-worse: NEW is worse beyond noise and the \
                            threshold on req/s, success or p99."
    )]
    Compare(CompareArgs),
    /// Internal: one process of `volley serve` (its listener is its stdin).
    #[command(hide = true)]
    ServeWorker,
}

/// The routes of `volley serve`, for its `--help` (README "Built-in target" has the same).
const SERVE_ROUTES: &str = "\
Routes (any method; HEAD gets the head only; a request body is read and dropped):
  /, /small              95-byte text body (the size of bench/'s nginx /small)
  /1k, /16k, /1m         1024, 16384, 1048576 bytes
  /bytes/N               N bytes (N <= 1048576)
  /chunked/N             N bytes, chunked in pieces of up to 4096 (N <= 1048576)
  /redirect/N            302 to /redirect/N-1 ... /small (N <= 100)
  /relative-redirect/N   the same with relative Locations (N-1)
  /absolute-redirect/N   the same with absolute Locations (http://HOST/...)
  /status/NNN            that status (200-599); 3xx with Location: /small; 204/304 no body
  /delay/MS              the small body after MS milliseconds (MS <= 10000)
  /auth                  401 unless Authorization: Basic YmxhOmJsdWI= (bla:blub), then 200
  /-redir                302 to /small; with an X-auth header, 401 unless the credentials
                         of /auth, then 200 (examples/auth_retry.toml)
Anything else is 404.";

/// `volley serve`: where to listen and how many processes.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on: IP:PORT, [IPv6]:PORT, localhost:PORT or PORT (on 127.0.0.1);
    /// port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: ListenArg,

    /// Allow a --listen address that is not loopback (the target then answers anyone who
    /// can reach it).
    #[arg(long)]
    pub listen_any: bool,

    /// Server processes, each an event loop with a socket of its own on the address (the
    /// kernel spreads connections over them) [default: number of CPUs].
    #[arg(short = 'w', long, value_name = "N")]
    pub workers: Option<u32>,
}

/// `volley merge FILE…`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: as for a run (0 ok, 3 a part is invalid, 4 a check of \
                        the merged result failed or no request got a reply, 130 a part was \
                        interrupted); 2 when a file is unreadable, not a schema-2 result \
                        file, of another workload or --interval than the first, or the same \
                        run twice."
)]
pub struct MergeArgs {
    /// Result files written by --out (JSON schema 2), of one workload.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Also write the merged result file (JSON schema 2) to FILE.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Print the merged report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `volley compare BASE NEW`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline result file (--out, JSON schema 2).
    #[arg(value_name = "BASE")]
    pub base: PathBuf,

    /// The result file compared with it.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,

    /// Exit 4 when NEW is worse than BASE beyond run-to-run noise and by more than PCT
    /// percent of BASE on req/s, success or p99 (with too few intervals to judge noise,
    /// the threshold alone decides).
    #[arg(long, value_name = "PCT%")]
    pub fail_if_worse: Option<PercentArg>,

    /// Print the comparison as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `volley run FILE`: the run file and the flags that override it.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// The run file (TOML; see examples/ and README "Run files").
    pub file: PathBuf,

    /// Worker processes [file: workers; default: number of CPUs, at most the slots].
    #[arg(short = 'w', long, value_name = "N")]
    pub workers: Option<u32>,

    /// Thread slots in total [file: ramp_up.max]; refused before the run when one worker's
    /// share (plus 16) exceeds the open-file limit (ulimit -n).
    #[arg(short = 'c', long, value_name = "N")]
    pub concurrency: Option<u32>,

    /// Slots started at once [file: ramp_up.start].
    #[arg(long, value_name = "N")]
    pub ramp_start: Option<u32>,

    /// Start the remaining slots linearly over this time [file: ramp_up.duration].
    #[arg(long, value_name = "D")]
    pub ramp_duration: Option<DurationArg>,

    /// Rounds of the URL list per slot; 0 = until stopped or the duration is over
    /// [file: times].
    #[arg(long, value_name = "N")]
    pub times: Option<u64>,

    /// Stop after N requests in total [overrides times and the file's duration; with -d,
    /// whichever comes first].
    #[arg(short = 'n', long, value_name = "N")]
    pub requests: Option<u64>,

    /// Stop after this long [file: duration].
    #[arg(short = 'd', long, value_name = "D")]
    pub duration: Option<DurationArg>,

    /// URL iterator: default, random_start, follow, random_start_follow [file: iterator].
    #[arg(long, value_name = "NAME")]
    pub iterator: Option<String>,

    /// Run seed [file: seed; default: drawn at random and printed].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Open-loop and pipelining options.
    #[command(flatten)]
    pub open: OpenLoopArgs,

    /// TLS client options.
    #[command(flatten)]
    pub tls: TlsArgs,

    /// The /metrics endpoint.
    #[command(flatten)]
    pub metrics: MetricsArgs,

    /// Write one record per request to FILE [file: log].
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Per-request log format: csv or jsonl [file: log_format; default: csv].
    #[arg(long, value_name = "FORMAT", value_parser = LogFormatArg)]
    pub log_format: Option<LogFormat>,

    /// Pass/fail check on the result, such as 'p99 < 50ms', 'errors < 1%' or
    /// 'status.5xx == 0' (repeatable; adds to the file's check list). Any failed check
    /// makes the exit code 4.
    #[arg(long = "check", value_name = "EXPR")]
    pub checks: Vec<String>,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Also write the result file (JSON schema 2: every histogram in full and the time
    /// series) to FILE, for `volley merge`, `volley compare` and `volley report`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,

    /// Length of the time series' intervals [default: 1s].
    #[arg(long, value_name = "D")]
    pub interval: Option<DurationArg>,

    /// No progress line on stderr.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Name of the scoreboard segment (volley-NAME in /dev/shm), for `volley top NAME`.
    #[arg(long, value_name = "NAME")]
    pub run_name: Option<String>,
}

/// `volley report RUN.json… [-o FILE]`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Result files (JSON schema 2, written by `--out FILE` or `--json`); several are
    /// overlaid.
    #[arg(required = true, value_name = "RUN.json")]
    pub files: Vec<PathBuf>,

    /// The HTML file to write, or '-' for standard output [default: RUN.html beside the
    /// first file; with several files, RUN-overlay.html].
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Open-loop schedule and pipelining: the same flags for `volley URL` and `volley run`.
#[derive(Debug, Args, Default)]
pub struct OpenLoopArgs {
    /// Open loop: start R sessions per second on a fixed schedule, whether or not replies
    /// came back; a session takes a free slot (-c caps how many run at once). Latency is
    /// then also measured from each session's scheduled time.
    #[arg(long, value_name = "R", conflicts_with = "period")]
    pub rate: Option<RateArg>,

    /// Open loop with httperf's inter-arrival process: [d|u|e|v]T1[,T2,…] seconds (d
    /// fixed, u uniform, e exponential/Poisson, v piecewise).
    #[arg(long, value_name = "SPEC")]
    pub period: Option<PeriodArg>,

    /// HTTP/1.1 pipelining: write N requests back to back on a connection, then read
    /// their replies in order [default: 1].
    #[arg(long, value_name = "N")]
    pub pipeline: Option<u32>,

    /// Run the I-th of N equal shares of the open-loop schedule (httperf's --client I/N):
    /// N processes (or machines) with the same flags and seed run one schedule together.
    #[arg(long, value_name = "I/N")]
    pub client: Option<ClientArg>,

    /// Requests per open-loop session, one after the other on one slot
    /// [default: 1, or one round of a run file's URL list].
    #[arg(long, value_name = "N")]
    pub calls: Option<u32>,

    /// Wake for every reply as it arrives. By default replies that come during a sleep
    /// are read together, dated by the kernel on arrival: an open loop whose next start is
    /// near sleeps until it (half the wake-ups); a closed loop naps up to 50 µs between
    /// batches of replies (no wake-up per reply, which the server pays for). A first byte
    /// that came in its own segment during such a sleep can then read late.
    #[arg(long)]
    pub wake_per_reply: bool,

    /// Open loop: wait for the next start by polling without sleeping, as httperf does:
    /// starts closer to their schedule (no wake-up in the way), for a full core per
    /// worker. By default a worker sleeps between starts (about a third of a core at
    /// 20,000 requests/s).
    #[arg(long)]
    pub spin: bool,
}

/// The `/metrics` endpoint: the same flags for `volley URL` and `volley run`.
#[derive(Debug, Args, Default)]
pub struct MetricsArgs {
    /// Serve the live counters at http://ADDR/metrics (OpenMetrics text, for Prometheus)
    /// while the run lasts; ADDR is IP:PORT, port 0 picks a free one (printed on stderr).
    /// Only loopback addresses unless --metrics-listen-any [file: metrics_listen].
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// After the run, keep serving the final values until one more scrape was answered
    /// or this long has passed (^C ends it too) [default: 20s].
    #[arg(long, value_name = "D")]
    pub metrics_linger: Option<DurationArg>,

    /// Allow a --metrics-listen address other than loopback: the endpoint has no
    /// authentication and becomes reachable from the network.
    #[arg(long)]
    pub metrics_listen_any: bool,
}

/// TLS client options (for https URLs): the same flags for `volley URL` and `volley run`.
#[derive(Debug, Args, Default)]
pub struct TlsArgs {
    /// Also trust the CA certificates in this PEM file (repeatable); a server presenting
    /// one of them as its own (a self-signed one) is accepted as pinned, its name and
    /// dates still checked. The built-in roots are Mozilla's (webpki-roots).
    #[arg(long, value_name = "FILE")]
    pub cacert: Vec<PathBuf>,

    /// Do not verify the server's certificate (the report says so in a warning).
    #[arg(short = 'k', long)]
    pub insecure: bool,

    /// Client certificate chain (PEM) to present when the server asks; needs --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,

    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,

    /// Make a full TLS handshake on every new connection instead of resuming the
    /// session (tickets or IDs) of an earlier one.
    #[arg(long)]
    pub no_tls_resume: bool,

    /// Connect to ADDR for HOST:PORT instead of resolving HOST (curl's --resolve; the URL's
    /// host stays the Host header and the name the certificate must hold); repeatable.
    // Redacted: clap would echo a rejected value raw (user info, control bytes).
    #[arg(long, value_name = "HOST:PORT:ADDR", value_parser = Redacted::<ResolveArg>::new())]
    pub resolve: Vec<ResolveArg>,
}

/// Options of `volley top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Scoreboard segment name (as in /dev/shm); default: the only live run of this user.
    pub name: Option<String>,
    /// Refresh interval.
    #[arg(long, default_value = "1s", value_name = "D")]
    pub interval: DurationArg,
    /// Stop after this many refreshes (default: until the run ends).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// How long to wait for a named run that has not started yet.
    #[arg(long, default_value = "10s", value_name = "D")]
    pub wait: DurationArg,
}

/// The options that describe a load run.
#[derive(Debug, Args, Default)]
pub struct LoadArgs {
    /// Worker processes [default: number of CPUs, at most --concurrency].
    #[arg(short = 'w', long, value_name = "N")]
    pub workers: Option<u32>,

    /// wrk's and oha's -t (threads): taken as -w, volley's worker processes.
    #[arg(
        short = 't',
        long = "threads",
        value_name = "N",
        conflicts_with = "workers"
    )]
    pub threads: Option<u32>,

    /// wrk's --latency: accepted; volley always prints latency percentiles.
    #[arg(long)]
    pub latency: bool,

    /// Thread slots in total (concurrent requests); slot t runs in worker t mod N. Refused
    /// before the run when one worker's share (plus 16) exceeds the open-file limit
    /// (ulimit -n): add workers (-w) or raise the limit.
    #[arg(short = 'c', long, value_name = "N", default_value_t = crate::builder::DEFAULT_CONCURRENCY)]
    pub concurrency: u32,

    /// Slots started at once when the run begins [default: all, or 1 with --ramp-duration].
    #[arg(long, value_name = "N")]
    pub ramp_start: Option<u32>,

    /// Start the remaining slots linearly over this time.
    #[arg(long, value_name = "D")]
    pub ramp_duration: Option<DurationArg>,

    /// Stop after N requests in total (split exactly over the workers); with -d, whichever
    /// comes first.
    #[arg(short = 'n', long, value_name = "N")]
    pub requests: Option<u64>,

    /// Stop after this long [default: 10s, or 5s for demo]; requests in flight are aborted.
    #[arg(short = 'd', long, value_name = "D")]
    pub duration: Option<DurationArg>,

    /// Request method (any token).
    #[arg(short = 'm', long, value_name = "METHOD", default_value = "GET")]
    pub method: String,

    /// Extra request header "Name: value" (repeatable; order kept).
    // Redacted: clap would echo a rejected value raw (control bytes, credentials).
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = Redacted::<HeaderArg>::new())]
    pub headers: Vec<HeaderArg>,

    /// Request body: a string, or @FILE to read it from a file (at most 64 MiB).
    #[arg(long, value_name = "STR|@FILE")]
    pub body: Option<String>,

    /// Run seed for the per-slot random streams [default: drawn at random and printed].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Watchdog (httperf's meaning, hard deadlines): connect within D, the request sent
    /// within D of being queued, the whole reply within D + --think-timeout of the
    /// request being sent. 'never' turns every watchdog off.
    #[arg(long, value_name = "D|never", default_value = "30s")]
    pub timeout: Option<TimeoutArg>,

    /// Extra time the server may think: added to --timeout for the first byte and the
    /// whole reply.
    #[arg(long, value_name = "D", default_value = "0s")]
    pub think_timeout: DurationArg,

    /// Connect within D [default: --timeout].
    #[arg(long, value_name = "D|never")]
    pub connect_timeout: Option<TimeoutArg>,

    /// First byte of the reply within D of the request being sent
    /// [default: --timeout + --think-timeout].
    #[arg(long, value_name = "D|never")]
    pub first_byte_timeout: Option<TimeoutArg>,

    /// At most D between two reads of a reply [default: no limit beyond the reply
    /// deadline].
    #[arg(long, value_name = "D|never")]
    pub idle_timeout: Option<TimeoutArg>,

    /// Cap on a reply head's size in bytes (a bigger head is a `limit` error).
    #[arg(long, value_name = "BYTES", default_value_t = crate::spec::DEFAULT_MAX_HEAD_BYTES)]
    pub max_head_bytes: usize,

    /// Cap on the number of header fields in a reply head (at most 1000).
    #[arg(long, value_name = "N", default_value_t = crate::spec::DEFAULT_MAX_HEADERS)]
    pub max_headers: usize,

    /// Cap on the bytes of chunk extensions in one reply.
    #[arg(long, value_name = "BYTES", default_value_t = crate::spec::DEFAULT_MAX_CHUNK_EXT_BYTES)]
    pub max_chunk_ext_bytes: usize,

    /// Cap on the bytes of a chunked reply's trailer fields.
    #[arg(long, value_name = "BYTES", default_value_t = crate::spec::DEFAULT_MAX_TRAILER_BYTES)]
    pub max_trailer_bytes: usize,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Also write the result file (JSON schema 2: every histogram in full and the time
    /// series) to FILE, for `volley merge`, `volley compare` and `volley report`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,

    /// Length of the time series' intervals [default: 1s].
    #[arg(long, value_name = "D")]
    pub interval: Option<DurationArg>,

    /// No progress line on stderr.
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Name of the scoreboard segment (volley-NAME in /dev/shm), for `volley top NAME`.
    #[arg(long, value_name = "NAME")]
    pub run_name: Option<String>,

    /// Open-loop and pipelining options.
    #[command(flatten)]
    pub open: OpenLoopArgs,

    /// TLS client options.
    #[command(flatten)]
    pub tls: TlsArgs,

    /// The /metrics endpoint.
    #[command(flatten)]
    pub metrics: MetricsArgs,

    /// Write one record per request to FILE (CSV, or JSON lines with --log-format jsonl).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Per-request log format: csv or jsonl [default: csv].
    #[arg(long, value_name = "FORMAT", value_parser = LogFormatArg)]
    pub log_format: Option<LogFormat>,

    /// Pass/fail check on the result, such as 'p99 < 50ms', 'errors < 1%' or
    /// 'status.5xx == 0' (repeatable; README "Checks" lists the metrics). Any failed
    /// check makes the exit code 4.
    #[arg(long = "check", value_name = "EXPR")]
    pub checks: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("volley").chain(args.iter().copied()))
    }

    #[test]
    fn url_and_load_flags() {
        let cli = parse(&["http://127.0.0.1:1/x", "-w", "2", "-c", "50", "-d", "10s"]).unwrap();
        assert_eq!(cli.url.as_deref(), Some("http://127.0.0.1:1/x"));
        assert_eq!(cli.load.workers, Some(2));
        assert_eq!(cli.load.concurrency, 50);
        assert!(cli.command.is_none());
    }

    #[test]
    fn requests_go_with_a_duration_and_threads_with_no_workers() {
        // Issue 15: -n and -d together stop at whichever comes first.
        let cli = parse(&["http://h/", "-n", "5", "-d", "1s"]).unwrap();
        assert_eq!(cli.load.requests, Some(5));
        assert_eq!(cli.load.threads, None);
        assert_eq!(
            parse(&["http://h/", "-t", "3"]).unwrap().load.threads,
            Some(3)
        );
        assert!(parse(&["http://h/", "-t", "3", "-w", "2"]).is_err());
    }

    #[test]
    fn headers_repeat_in_order() {
        let cli = parse(&["http://h/", "-H", "A: 1", "-H", "B: 2", "-H", "A: 3"]).unwrap();
        let names: Vec<_> = cli.load.headers.iter().map(|h| h.value.as_str()).collect();
        assert_eq!(names, ["1", "2", "3"]);
    }

    #[test]
    fn subcommands() {
        assert!(matches!(
            parse(&["demo", "-c", "3"]).unwrap().command,
            Some(Sub::Demo { .. })
        ));
        let cli = parse(&["top", "volley-x", "--count", "2"]).unwrap();
        match cli.command {
            Some(Sub::Top(t)) => {
                assert_eq!(t.name.as_deref(), Some("volley-x"));
                assert_eq!(t.count, Some(2));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn merge_and_compare() {
        let cli = parse(&["merge", "a.json", "b.json", "--out", "m.json", "--json"]).unwrap();
        match cli.command {
            Some(Sub::Merge(m)) => {
                assert_eq!(m.files, [PathBuf::from("a.json"), PathBuf::from("b.json")]);
                assert_eq!(m.out, Some(PathBuf::from("m.json")));
                assert!(m.json);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["merge"]).is_err(), "a file is required");
        let cli = parse(&["compare", "a.json", "b.json", "--fail-if-worse", "5%"]).unwrap();
        match cli.command {
            Some(Sub::Compare(c)) => {
                assert_eq!((c.base, c.new), ("a.json".into(), "b.json".into()));
                assert_eq!(c.fail_if_worse, Some(PercentArg(5.0)));
                assert!(!c.json);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["compare", "a.json"]).is_err(), "two files");
        for bad in ["5", "--fail-if-worse=-1%", "x%", "inf%"] {
            let args = match bad.strip_prefix("--fail-if-worse=") {
                Some(_) => vec!["compare", "a", "b", bad],
                None => vec!["compare", "a", "b", "--fail-if-worse", bad],
            };
            let err = parse(&args).unwrap_err().to_string();
            assert!(
                err.contains("--fail-if-worse") && err.contains("e.g. 5%"),
                "{err}"
            );
        }
        let cli = parse(&["compare", "a", "b", "--fail-if-worse", "0.5 %"]).unwrap();
        assert!(
            matches!(cli.command, Some(Sub::Compare(c)) if c.fail_if_worse == Some(PercentArg(0.5)))
        );
    }

    #[test]
    fn bad_values_name_the_flag() {
        let err = parse(&["http://h/", "-d", "soon"]).unwrap_err().to_string();
        assert!(err.contains("--duration") && err.contains("soon"), "{err}");
        let err = parse(&["http://h/", "-c", "many"]).unwrap_err().to_string();
        assert!(err.contains("--concurrency"), "{err}");
        let err = parse(&["http://h/", "--timeout", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--timeout"), "{err}");
    }

    #[test]
    fn redacted_flags_name_the_flag_without_echoing_the_value() {
        let err = parse(&["http://h/", "-H", "X-Ctl: a\x01b"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        let msg = err.to_string();
        assert!(msg.contains("--header") && msg.contains("'X-Ctl'"), "{msg}");
        assert!(msg.contains("\\x01") && !msg.contains('\x01'), "{msg:?}");
        let err = parse(&["http://h/", "--resolve", "user:secret@h:443:127.0.0.1"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--resolve") && err.contains("user:***@"),
            "{err}"
        );
        assert!(!err.contains("secret"), "{err}");
        let cli = parse(&[
            "http://h/",
            "-H",
            "X-Tab: a\tb",
            "--resolve",
            "h:80:127.0.0.1",
        ])
        .unwrap();
        assert_eq!(cli.load.headers[0].value, "a\tb");
        assert_eq!(cli.load.tls.resolve[0].port, 80);
    }
}
