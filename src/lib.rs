//! volley, as a library: an HTTP load generator made of a supervisor process that forks
//! worker processes over a shared-memory scoreboard.
//!
//! The command line is parsed by [`config`] into one validated [`RunSpec`]; [`run`] hands it
//! to the supervisor, which forks the workers, releases them together, watches them and
//! merges their results into a [`Report`]; [`render`] turns the report into httperf-style
//! text or JSON. [`results`] reads result files back (`--out`) for `volley merge` and
//! `volley compare`. The crates behind the facade are `volley-config`,
//! `volley-scoreboard`, `volley-worker` and `volley-supervisor`.
//!
//! [`serve`] is the built-in target (`volley serve`, and the server `volley demo` runs
//! against): an HTTP/1.1 server of fixed bodies, redirects, statuses and delays, in
//! processes of its own.
//!
//! # Hooks (HTTP::LoadGen's API)
//!
//! A program that needs more than a run file implements [`Hooks`]: one method per phase
//! (parent, process, slot, request), each a no-op by default, plus custom URL iterators
//! ([`UrlIterator`]) that a run file can name. [`loadgen`] runs a [`RunSpec`] with them;
//! [`main_with`] gives them volley's whole command line (`volley run FILE`, flags,
//! reports, exit codes), so a hook program is a one-line `main`:
//!
//! ```no_run
//! use volley::{Ctx, Hooks, RequestSpec};
//!
//! #[derive(Default)]
//! struct Tag;
//!
//! impl Hooks for Tag {
//!     type Data = u64; // requests this slot sent
//!     fn req_start(&mut self, ctx: &mut Ctx<'_>, sent: &mut u64, req: &mut RequestSpec) {
//!         *sent += 1;
//!         req.headers.push(("X-Slot".into(), format!("{}-{sent}", ctx.slot)));
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     volley::main_with(Tag)
//! }
//! ```
//!
//! Hooks run inside the worker's event loop: **they must not block** (see
//! [`volley_worker::hooks`]). `req_done` sees the reply's header fields ([`Headers`]) and,
//! when [`Hooks::capture_body`] asks, the start of its body; [`Ctx::reject`] turns a reply
//! into a failure and [`Ctx::count`] adds to a user counter the report shows by name
//! ([`Hooks::user_counters`]). `examples/auth_retry.rs` is the manual's
//! 401-then-retry-with-Authorization iterator; `examples/token_check.rs` uses headers,
//! the body, a verdict and user counters.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod results;
pub mod serve;

use std::io::Write;
use std::process::ExitCode;

pub use volley_config as config;
pub use volley_config::{Command, RequestSpec, RunSpec};
pub use volley_supervisor::html;
pub use volley_supervisor::monitor::top;
pub use volley_supervisor::report::Verdict;
pub use volley_supervisor::{Linger, Report, SupervisorError, run};
pub use volley_worker::hooks::{Board, Ctx, Hooks, Next, NoHooks, Prev, UrlIterator};
pub use volley_worker::http::{Field, Headers};
pub use volley_worker::iterators;
pub use volley_worker::record::Record;

/// Runs `spec` with `hooks` around every phase (HTTP::LoadGen's `loadgen`).
///
/// # Errors
///
/// As [`run`]: the run could not be set up. Request failures are counted in the report.
pub fn loadgen<H: Hooks>(spec: &RunSpec, hooks: &mut H) -> Result<Report, SupervisorError> {
    volley_supervisor::run_with(spec, hooks)
}

/// Renders a report as text (httperf's sections and volley's additions) or as JSON.
pub fn render(report: &Report, json: bool) -> String {
    if json {
        volley_supervisor::report::json::render(report)
    } else {
        volley_supervisor::report::text::render(report)
    }
}

/// volley's command line with `hooks`: parses `std::env::args`, runs, prints the report
/// and returns the exit code (0 complete, 1 could not run, 2 usage, 3 invalid, 4 a check
/// failed or no request got a reply, 130 interrupted; see [`exit_code`]). The hooks' custom iterators may be named by a run file's `iterator` or
/// `--iterator`.
pub fn main_with<H: Hooks>(mut hooks: H) -> ExitCode {
    let names = hooks.iterator_names();
    let command = match config::parse_with(std::env::args_os(), &names) {
        Ok(c) => c,
        Err(e) => {
            e.print();
            return ExitCode::from(e.exit_code());
        }
    };
    match run_command(command, &mut hooks) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("volley: {e:#}");
            // A bad --cacert/--cert/--key is bad input, like a bad flag; so is a -c this
            // machine's descriptor limit cannot hold, a result file `volley report` cannot
            // read or draw, and one `volley merge`/`volley compare` cannot use.
            let bad_input = matches!(
                e.downcast_ref::<SupervisorError>(),
                Some(
                    SupervisorError::Tls(_)
                        | SupervisorError::TooFewDescriptors { .. }
                        | SupervisorError::Metrics { .. }
                )
            ) || e.downcast_ref::<html::InputError>().is_some()
                || e.downcast_ref::<results::BadInput>().is_some();
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}

/// Processes of `volley demo`'s target: one per CPU would take the cores the demo's own
/// workers measure with, and one event loop is far from the limit of a 5 s demo.
const DEMO_SERVER_PROCESSES: u32 = 1;

fn run_command<H: Hooks>(command: Command, hooks: &mut H) -> anyhow::Result<u8> {
    match command {
        Command::Run(spec) => {
            for note in &spec.notes {
                eprintln!("{note}");
            }
            if spec.limit == config::Limit::Rounds && spec.rounds.is_none() && spec.output.progress
            {
                eprintln!("volley: no times and no duration: running until interrupted (^C)");
            }
            let (report, linger) = volley_supervisor::run_served(&spec, hooks)?;
            let code = finish(&report, spec.output.json, spec.out.as_deref());
            if let Some(linger) = linger {
                linger.wait();
            }
            code
        }
        Command::Demo(mut spec) => {
            // The target `volley serve` runs, as child processes of this one (started
            // before the supervisor forks its workers).
            let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            let target = serve::Pool::start(listen, DEMO_SERVER_PROCESSES)?;
            spec.requests[0].target =
                config::parse_url(&format!("http://{}/small", target.addr()))?;
            eprintln!(
                "volley demo: built-in target on {}; {} slots, {} workers",
                spec.requests[0].target.url(),
                spec.concurrency,
                spec.workers
            );
            let (report, linger) = volley_supervisor::run_served(&spec, hooks)?;
            drop(target);
            let code = finish(&report, spec.output.json, spec.out.as_deref());
            if let Some(linger) = linger {
                linger.wait();
            }
            code
        }
        Command::Httperf(parsed) => {
            for note in &parsed.notes {
                eprintln!("{note}");
            }
            let spec = &parsed.spec;
            if !spec.output.json {
                // First, as httperf prints it: before what --print-request/--print-reply
                // show during the run. Flushed so the workers' output cannot overtake it.
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", parsed.echo).and_then(|()| out.flush());
            }
            let (report, linger) = volley_supervisor::run_served(spec, hooks)?;
            let code = finish(&report, spec.output.json, spec.out.as_deref());
            if let Some(linger) = linger {
                linger.wait();
            }
            code
        }
        Command::Serve(spec) => serve::serve(&spec),
        Command::ServeWorker => serve::serve_worker(),
        Command::Top(spec) => {
            top(&spec)?;
            Ok(0)
        }
        Command::Report(spec) => report(&spec),
        Command::Merge(spec) => results::merge(&spec),
        Command::Compare(spec) => results::compare(&spec),
    }
}

/// `volley report`: reads every result file first (a bad one writes nothing), then writes
/// the page and says where.
fn report(spec: &config::ReportSpec) -> anyhow::Result<u8> {
    let runs = spec
        .inputs
        .iter()
        .map(|p| html::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let page = html::render(&runs);
    match &spec.output {
        None => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(page.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
        Some(path) => {
            std::fs::write(path, page)
                .map_err(|e| anyhow::anyhow!("cannot write the report {}: {e}", path.display()))?;
            eprintln!("volley report: wrote {}", path.display());
        }
    }
    Ok(0)
}

/// Prints the report; a closed stdout (`volley … | head -1`) is not an error.
fn finish(report: &Report, json: bool, out: Option<&std::path::Path>) -> anyhow::Result<u8> {
    let text = render(report, json);
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    if let Some(path) = out {
        // After the report was shown: a result file that cannot be written loses nothing
        // else, and the exit code says it was not kept.
        let file = volley_supervisor::report::json::render(report);
        std::fs::write(path, file)
            .map_err(|e| anyhow::anyhow!("cannot write the result file {}: {e}", path.display()))?;
    }
    Ok(exit_code(report.verdict()))
}

/// The exit code of a run with this verdict. When several apply, the report's
/// [`Report::verdict`] has already picked: interrupted (130) over invalid (3) over failed
/// (4), since a partial or untrustworthy run's checks say little.
pub fn exit_code(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Ok => 0,
        Verdict::Invalid => 3,
        Verdict::Failed => 4,
        Verdict::Interrupted => 130,
    }
}
