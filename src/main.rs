//! The `volley` binary: volley's command line without hooks.
//!
//! Exit codes (also in `--help`):
//! - 0: the run completed (request errors are results, not failures);
//! - 1: the run could not be done (scoreboard, fork, workers not ready, demo target);
//! - 2: bad usage (the message names the flag or the run-file line), or a result file
//!   `volley report` cannot read or draw (the message names the file), or that
//!   `volley merge`/`volley compare` cannot use (named, with the line and column of bad
//!   JSON);
//! - 3: the run completed but is invalid (a worker died, or the generator ran short);
//! - 4: a `--check` failed; without `--check`, no request got a reply; for
//!   `volley compare --fail-if-worse`, NEW is worse than BASE beyond noise and the
//!   threshold;
//! - 130: interrupted by SIGINT/SIGTERM (the report is still printed).
//!
//! When several apply, 130 wins over 3 and 3 over 4: an interrupted run's numbers are
//! partial and an invalid run's measure the client, so their checks say little.

fn main() -> std::process::ExitCode {
    volley::main_with(volley::NoHooks)
}
