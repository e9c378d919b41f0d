//! The hooks of HTTP::LoadGen's EXAMPLE CONFIGURATION as a volley hook program; the
//! workload itself is `examples/manual.toml`.
//!
//! ```text
//! cargo build --release --example manual
//! target/release/examples/manual run examples/manual.toml
//! ```
//!
//! What the manual does with IPC::ScoreBoard and HTTP::LoadGen::Logger maps onto volley:
//!
//! | manual | here |
//! |---|---|
//! | `ParentInit`: `sbinit` | nothing to do: volley's scoreboard exists for every run; [`Hooks::parent_init`] prints a line |
//! | `ProcInit`: `slot=$procnr`, `get_logger` | [`Hooks::proc_init`] starts a per-process log buffer |
//! | `ThreadInit`: `thread_start`, `rng=…->new(threadnr)`, `return []` | volley counts slots itself and seeds every slot's RNG; [`Hooks::thread_init`] returns the user data |
//! | `ReqStart`: `req_start`; `userdata=(thread_count, started-success-failed)` | [`Hooks::req_start`] reads [`volley::Board`] |
//! | `ReqDone`: `req_done …; $logger->(…)` | [`Hooks::req_done`] formats the manual's log line into the buffer |
//! | `ProcExit`: `$logger->()` | [`Hooks::proc_exit`] writes the buffer out |
//!
//! Hooks must not block, so the log lines are buffered in memory and written once, at
//! `proc_exit`: to `$MANUAL_LOG.<proc>` when `MANUAL_LOG` is set, else to stderr.
//! `STOP_AFTER=N` sets `done` in `req_done` once N requests were started over all workers
//! (the manual's "stop the run when a certain load level has been reached");
//! `PROC_EXIT=N` makes every worker exit with code N; `TAG=1` makes `req_start` add an
//! `X-Slot: <slot>` header to every request (a hook may edit the request); with
//! `BAD_SLOT=N` as well, slot N's value gets a CR LF and a second field appended, which
//! volley refuses to send (those requests fail as `other/hook-request`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use volley::{Ctx, Hooks, Record, RequestSpec, RunSpec};

/// Per-slot user data: what `ReqStart` saw (the manual's `@{userdata()}`).
#[derive(Debug, Default)]
struct Seen {
    thread_count: u64,
    pending: u64,
}

#[derive(Debug, Default)]
struct Manual {
    proc: u32,
    log: String,
    log_prefix: Option<String>,
    stop_after: Option<u64>,
    exit_code: i32,
    tag: bool,
    bad_slot: Option<u32>,
}

impl Hooks for Manual {
    type Data = Seen;

    fn parent_init(&mut self, spec: &RunSpec) {
        eprintln!(
            "manual: parent_init: {} workers, {} slots",
            spec.workers, spec.concurrency
        );
    }

    fn parent_exit(&mut self) {
        eprintln!("manual: parent_exit");
    }

    fn proc_init(&mut self, proc: u32) {
        self.proc = proc;
        self.log = String::with_capacity(64 * 1024);
    }

    fn proc_exit(&mut self, proc: u32) -> i32 {
        let written = match &self.log_prefix {
            Some(prefix) => std::fs::write(format!("{prefix}.{proc}"), &self.log),
            None => std::io::stderr().write_all(self.log.as_bytes()),
        };
        if let Err(e) = written {
            eprintln!("manual: worker {proc}: writing the log: {e}");
            return 1;
        }
        self.exit_code
    }

    fn thread_init(&mut self, ctx: &mut Ctx<'_>) -> Seen {
        let _ = writeln!(
            self.log,
            "# thread {} starts in process {}",
            ctx.slot, ctx.proc
        );
        Seen::default()
    }

    fn thread_exit(&mut self, ctx: &mut Ctx<'_>, _seen: &mut Seen) {
        let _ = writeln!(self.log, "# thread {} done", ctx.slot);
    }

    fn req_start(&mut self, ctx: &mut Ctx<'_>, seen: &mut Seen, req: &mut RequestSpec) {
        if self.tag {
            let mut value = ctx.slot.to_string();
            if self.bad_slot == Some(ctx.slot) {
                value.push_str("\r\nX-Injected: 1");
            }
            req.headers.push(("X-Slot".into(), value));
        }
        // started - succeeded - failed = currently pending requests
        let b = ctx.board;
        seen.thread_count = b.thread_count();
        seen.pending = b
            .req_started()
            .saturating_sub(b.req_success() + b.req_failed());
    }

    fn req_done(&mut self, ctx: &mut Ctx<'_>, seen: &mut Seen, rc: &Record<'_>, rq: &RequestSpec) {
        let b = ctx.board;
        let since = |t: u64| t.saturating_sub(rc.start) as f64 / 1e9;
        // The manual's format: '%-2d %d %d %2d %2d %3d %3d %.3f %.3f %.3f %.3f %.3f %s %d
        // %s(%s://%s:%s%s) %s'
        let _ = writeln!(
            self.log,
            "{:<2} {} {} {:2} {:2} {:3} {:3} {:.3} {:.3} {:.3} {:.3} {:.3} {} {} {}(http://{}:{}{}) {}",
            ctx.slot,
            u8::from(rc.dns_cached),
            u8::from(rc.conn_cached),
            seen.thread_count,
            seen.pending,
            b.req_success(),
            b.req_failed(),
            rc.start as f64 / 1e9,
            since(rc.connect),
            since(rc.first_byte),
            since(rc.header),
            since(rc.body),
            rc.status,
            rc.body_bytes,
            rq.method,
            rq.target.host,
            rq.target.port,
            rq.target.path,
            rc.status_line,
        );
        if self.stop_after.is_some_and(|n| b.req_started() >= n) {
            ctx.done = true;
        }
    }
}

fn main() -> ExitCode {
    let env = |k: &str| std::env::var(k).ok();
    volley::main_with(Manual {
        log_prefix: env("MANUAL_LOG"),
        stop_after: env("STOP_AFTER").and_then(|v| v.parse().ok()),
        exit_code: env("PROC_EXIT").and_then(|v| v.parse().ok()).unwrap_or(0),
        tag: env("TAG").is_some_and(|v| v == "1"),
        bad_slot: env("BAD_SLOT").and_then(|v| v.parse().ok()),
        ..Manual::default()
    })
}
