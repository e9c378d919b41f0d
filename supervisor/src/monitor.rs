//! Watching a run: the once-a-second progress line of the supervisor, and `volley top`,
//! which attaches read-only to a running run's scoreboard from another terminal.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use nix::sys::signal::kill;
use nix::unistd::Pid;
use volley_config::TopSpec;
use volley_scoreboard::{
    Access, Counter, ReadOnly, RunState, Scoreboard, SlotSnapshot, list_segments, now_ns,
};

use crate::error::SupervisorError;

/// What a run's progress is measured against: its duration, its request count, or
/// nothing (a run file's rounds, or until stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// The run lasts this long (ns).
    Time(u64),
    /// The run makes this many requests.
    Requests(u64),
    /// No known end.
    Open,
}

impl Goal {
    /// The goal of `spec`'s run: `-n` counts, else `-d`.
    pub fn of(spec: &volley_config::RunSpec) -> Goal {
        use volley_config::Limit;
        match spec.limit {
            Limit::Requests(n) if spec.open_loop.is_none() => Goal::Requests(n),
            _ => match spec.duration() {
                Some(d) => Goal::Time(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
                None => Goal::Open,
            },
        }
    }
}

/// The progress line on stderr, only when stderr is a terminal: elapsed time, how far
/// the run is towards its goal (a bar, a percentage and an ETA when it has one), the
/// request rate over the last second, replies and errors. Drawn with `indicatif`.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    goal: Goal,
    start_ns: u64,
    next_ns: u64,
    last: (u64, u64),
}

/// Units of the bar for a time goal: milliseconds.
const MS: u64 = 1_000_000;

impl Progress {
    /// A progress line for a run released at `start_ns` with `goal`, if stderr is a
    /// terminal.
    pub fn if_tty(start_ns: u64, goal: Goal) -> Option<Progress> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let (len, template) = match goal {
            Goal::Time(ns) => (
                ns / MS,
                "[{elapsed_precise}] {bar:20} {percent:>3}% ETA {eta:>3}  {msg}",
            ),
            Goal::Requests(n) => (
                n,
                "[{elapsed_precise}] {bar:20} {pos}/{len} ETA {eta:>3}  {msg}",
            ),
            Goal::Open => (0, "[{elapsed_precise}] {msg}"),
        };
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        Some(Progress {
            bar,
            goal,
            start_ns,
            next_ns: start_ns.saturating_add(1_000_000_000),
            last: (start_ns, 0),
        })
    }

    /// Updates the line if a second has passed.
    pub fn tick<M: Access>(&mut self, sb: &Scoreboard<M>, now: u64) {
        if now < self.next_ns {
            return;
        }
        self.next_ns = now.saturating_add(1_000_000_000);
        let t = sb.total();
        let done = t.get(Counter::RequestsSucceeded) + t.get(Counter::RequestsFailed);
        let (then, before) = self.last;
        let rate = (done - before.min(done)) as f64 / ((now - then) as f64 / 1e9).max(1e-9);
        self.last = (now, done);
        match self.goal {
            Goal::Time(_) => self
                .bar
                .set_position(now.saturating_sub(self.start_ns) / MS),
            Goal::Requests(_) => self.bar.set_position(t.get(Counter::RequestsStarted)),
            Goal::Open => self.bar.tick(),
        }
        self.bar.set_message(format!(
            "{rate:.0} req/s, {} errors, {} slots",
            t.get(Counter::RequestsFailed),
            t.get(Counter::ThreadsActive),
        ));
    }

    /// Clears the line at the end.
    pub fn finish<M: Access>(&mut self, _sb: &Scoreboard<M>, _now: u64) {
        self.bar.finish_and_clear();
    }
}

/// `volley top`: shows per-worker rows of a running run every interval until it ends.
///
/// # Errors
///
/// [`SupervisorError::NoRun`] / [`SupervisorError::SeveralRuns`] when no name is given and
/// there is not exactly one live run; a scoreboard error when the segment is not a valid
/// volley scoreboard.
pub fn top(spec: &TopSpec) -> Result<(), SupervisorError> {
    let name = match &spec.run_name {
        Some(n) if n.starts_with("volley-") => n.clone(),
        Some(n) => format!("volley-{n}"),
        None => only_live_run()?,
    };
    let sb = attach_waiting(&name, spec.run_name.is_some(), spec.wait)?;
    let tty = std::io::stdout().is_terminal();
    let mut out = std::io::stdout().lock();
    let mut prev: Vec<SlotSnapshot> = Vec::new();
    let mut prev_ns = now_ns();
    let mut shown = 0u64;
    loop {
        let now = now_ns();
        let rows: Vec<SlotSnapshot> = sb.slots().map(|s| s.snapshot()).collect();
        let text = render_top(&sb, &rows, &prev, (now - prev_ns) as f64 / 1e9);
        let screen = if tty {
            format!("\x1b[H\x1b[2J{text}")
        } else {
            text
        };
        if out
            .write_all(screen.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            return Ok(()); // stdout closed (`| head`): nothing more to show
        }
        prev = rows;
        prev_ns = now;
        shown += 1;
        let state = sb.header().state();
        if spec.count.is_some_and(|c| shown >= c)
            || state == RunState::Done
            || !alive(sb.header().supervisor_pid())
        {
            return Ok(());
        }
        std::thread::sleep(spec.interval);
    }
}

/// Attaches to the run `name`; a named run that does not exist yet is waited for (polled
/// every 100 ms) up to `wait`, saying so once on stderr.
fn attach_waiting(
    name: &str,
    named: bool,
    wait: std::time::Duration,
) -> Result<Scoreboard<ReadOnly>, SupervisorError> {
    let until = now_ns().saturating_add(u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX));
    let mut said = false;
    loop {
        match Scoreboard::attach_read_only(name) {
            Ok(sb) => return Ok(sb),
            Err(e)
                if !named
                    || now_ns() >= until
                    || !matches!(
                        e,
                        // Not there yet, or there but not yet published (the creator
                        // stores its magic word last).
                        volley_scoreboard::ScoreboardError::NotFound { .. }
                            | volley_scoreboard::ScoreboardError::BadMagic { .. }
                    ) =>
            {
                return Err(e.into());
            }
            Err(_) => {
                if !said {
                    eprintln!(
                        "volley top: waiting up to {:.1} s for run {name} to start",
                        wait.as_secs_f64()
                    );
                    said = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

fn render_top<M: Access>(
    sb: &Scoreboard<M>,
    rows: &[SlotSnapshot],
    prev: &[SlotSnapshot],
    secs: f64,
) -> String {
    let h = sb.header();
    let elapsed = match h.start_ns() {
        0 => 0.0,
        s => now_ns().saturating_sub(s) as f64 / 1e9,
    };
    let mut s = format!(
        "{} state {} elapsed {:.1}s workers {} slots {}\n",
        sb.name(),
        h.state().as_str(),
        elapsed,
        h.worker_count(),
        h.concurrency()
    );
    s.push_str(
        "worker      pid    state  active   started   replies    errors   aborted  conns      req/s\n",
    );
    let mut total = SlotSnapshot::default();
    for (i, r) in rows.iter().enumerate() {
        let before = prev.get(i).map(done).unwrap_or(done(r));
        let rate = if secs > 0.0 && !prev.is_empty() {
            (done(r).saturating_sub(before)) as f64 / secs
        } else {
            0.0
        };
        s.push_str(&row(&i.to_string(), r, rate));
        total.add(r);
    }
    let before: u64 = prev.iter().map(done).sum();
    let rate = if secs > 0.0 && !prev.is_empty() {
        done(&total).saturating_sub(before) as f64 / secs
    } else {
        0.0
    };
    s.push_str(&row("total", &total, rate));
    s
}

fn done(r: &SlotSnapshot) -> u64 {
    r.get(Counter::RequestsSucceeded) + r.get(Counter::RequestsFailed)
}

fn row(label: &str, r: &SlotSnapshot, rate: f64) -> String {
    format!(
        "{:<6} {:>8} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>6} {:>10.1}\n",
        label,
        if label == "total" {
            String::new()
        } else {
            r.pid.to_string()
        },
        if label == "total" {
            ""
        } else {
            r.state.as_str()
        },
        r.get(Counter::ThreadsActive),
        r.get(Counter::RequestsStarted),
        r.get(Counter::RequestsSucceeded),
        r.get(Counter::RequestsFailed),
        r.get(Counter::RequestsAborted),
        r.get(Counter::ConnsOpen),
        rate
    )
}

fn alive(pid: u32) -> bool {
    i32::try_from(pid).is_ok_and(|p| p > 0 && kill(Pid::from_raw(p), None).is_ok())
}

/// The one live run of this user, or why there is not exactly one.
fn only_live_run() -> Result<String, SupervisorError> {
    let live: Vec<String> = list_segments()
        .into_iter()
        .filter(|name| {
            Scoreboard::<ReadOnly>::attach_read_only(name).is_ok_and(|sb| {
                sb.header().state() != RunState::Done && alive(sb.header().supervisor_pid())
            })
        })
        .collect();
    match live.len() {
        0 => Err(SupervisorError::NoRun),
        1 => Ok(live.into_iter().next().unwrap_or_default()),
        _ => Err(SupervisorError::SeveralRuns(live)),
    }
}
