//! volley's integration tests: one binary, a module per area. Every test runs the real
//! `volley` binary against loopback servers it starts itself (tests/support), each run
//! under a deadline.

// Flag and usage errors: messages name the flag, exit code 2, never a panic; capped file
// reads, control bytes in header values, credentials masked.
mod cli;
// End-to-end runs: exact counts, keep-alive, body framing, status classes, refusals.
mod run;
// Misbehaving servers (HOSTILE.md scenarios S01-S41, P2/P5/P7): how each request is counted.
mod hostile;
// Processes: SIGINT, a killed worker, the scoreboard segment, `volley top`.
mod workers;
// Run files (LoadGen's workload model): URL lists, keep-alive modes, delays, iterators,
// redirects, seeds and the per-request log.
mod workload;
// LoadGen's option names and meanings in run files: ramp timing, the inactivity timeout,
// conn_timeout, random_start_follow, the manual's example with its https entry.
mod loadgen;
// Hook programs (examples/): every phase, a custom iterator, done, exit codes.
mod hooks;
// Open-loop schedules (--rate, --period): spacing, worker split, S07 stall.
mod openloop;
// The closed loop's correction of coordinated omission: stalls, the warning.
mod corrected;
// `volley httperf`: httperf's command lines and report, next to httperf itself.
mod httperf;
// httperf's other options: --wlog, --print-request/--print-reply, --http-version=1.0,
// --failure-status, --retry-on-failure, --session-cookies, socket buffer sizes.
mod httperf_options;
// httperf's report figures computed as httperf does (request size, reply time, footer,
// concurrent connections), --call-stats, and overload up to fd-unavail.
mod httperf_figures;
// https over rustls: verification, client certificates, resumption, handshake timeouts.
mod tls;
// HTTP/1.1 pipelining (S39): pairing, one sample per request, unanswered requests.
mod pipeline;
// The report's first screen and exit codes: summary, warnings, exact status codes, the
// 1 s reply rate, --check, README's sample shape.
mod report;
// Result files (--out, schema 2), `volley merge`, `volley compare`.
mod results;
// deploy/: the Kubernetes manifests' command lines parse.
mod deploy;
// `volley serve`, the built-in target: its routes on the wire, every example and README
// command against it, its processes' end.
mod serve;
// `volley report`: the HTML page, read as XML and screenshot in headless Chromium.
mod html;
// `volley merge` and `volley compare` on real runs' result files: sums, histogram unions,
// noise verdicts, refusals.
mod merge;
// --metrics-listen: /metrics during the run and its linger, against the report; a real
// Prometheus scraping it; the refusals.
mod metrics;

/// Path of the binary under test.
pub fn volley() -> volley_testsupport::Volley {
    volley_testsupport::Volley::new(env!("CARGO_BIN_EXE_volley"))
}
