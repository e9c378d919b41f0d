//! Watching a run: the once-a-second progress line of the supervisor, and `volley top`,
//! which attaches read-only to a running run's scoreboard from another terminal.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use nix::sys::signal::kill;
use nix::unistd::Pid;
use volley_config::TopSpec;
use volley_scoreboard::{
    Access, Counter, LiveLatency, ReadOnly, RunState, Scoreboard, SlotSnapshot, list_segments,
    now_ns,
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
/// request rate and the replies' p99 latency over the last second, errors and active slots.
/// Drawn with `indicatif`.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    goal: Goal,
    start_ns: u64,
    next_ns: u64,
    last: (u64, u64),
    /// The live latency buckets at the last update, to take the last second's from.
    last_latency: LiveLatency,
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
            last_latency: LiveLatency::default(),
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
        let p99 = latency_text(t.latency.since(&self.last_latency).quantile_us(0.99));
        self.last_latency = t.latency;
        match self.goal {
            Goal::Time(_) => self
                .bar
                .set_position(now.saturating_sub(self.start_ns) / MS),
            Goal::Requests(_) => self.bar.set_position(t.get(Counter::RequestsStarted)),
            Goal::Open => self.bar.tick(),
        }
        self.bar.set_message(format!(
            "{rate:.0} req/s, p99 {p99}, {} errors, {} slots",
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
        let run = RunLine::of(&sb, now);
        // The first frame has no earlier reading: it measures from the release.
        let secs = if prev.is_empty() {
            run.elapsed_s
        } else {
            now.saturating_sub(prev_ns) as f64 / 1e9
        };
        let text = render_top(&run, &rows, &prev, secs);
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

/// The first line of a `volley top` frame: the run as its header and totals show it.
#[derive(Debug, Clone, PartialEq)]
struct RunLine {
    /// The segment's name (`volley-NAME`).
    name: String,
    /// The run's state ([`RunState::as_str`]).
    state: &'static str,
    /// Seconds since the release (0 before it).
    elapsed_s: f64,
    workers: u32,
    /// Slots of the whole run (`-c`).
    slots: u32,
    /// The names of the hooks' user counters (none without hooks).
    user_names: Vec<String>,
}

impl RunLine {
    fn of<M: Access>(sb: &Scoreboard<M>, now: u64) -> RunLine {
        let h = sb.header();
        RunLine {
            name: sb.name().to_owned(),
            state: h.state().as_str(),
            elapsed_s: match h.start_ns() {
                0 => 0.0,
                s => now.saturating_sub(s) as f64 / 1e9,
            },
            workers: h.worker_count(),
            slots: h.concurrency(),
            user_names: h.user_counter_names(),
        }
    }
}

/// The column heads of `volley top`; [`row`] writes the same widths (79 columns).
const TOP_HEAD: &str =
    "worker     pid   state active   replies errors   req/s  err/s      p50      p99\n";

/// One frame of `volley top`: the run line, a row per worker and the total row, then what
/// the rates and latencies were measured over and the open-loop lag if there is one.
///
/// `prev` is the reading the last frame showed (empty for the first frame, which then
/// measures from zero), `secs` the time between the two.
fn render_top(run: &RunLine, rows: &[SlotSnapshot], prev: &[SlotSnapshot], secs: f64) -> String {
    let zero = SlotSnapshot::default();
    let mut total = SlotSnapshot::default();
    let mut total_before = SlotSnapshot::default();
    let mut body = String::new();
    for (i, r) in rows.iter().enumerate() {
        let before = prev.get(i).unwrap_or(&zero);
        body.push_str(&row(Some(i), r, &Change::between(r, before, secs)));
        total.add(r);
        total_before.add(before);
    }
    let change = Change::between(&total, &total_before, secs);
    body.push_str(&row(None, &total, &change));
    let mut s = format!(
        "{} state {} elapsed {:.1}s workers {} slots {} conns {}\n{TOP_HEAD}{body}",
        run.name,
        run.state,
        run.elapsed_s,
        run.workers,
        run.slots,
        total.get(Counter::ConnsOpen),
    );
    if prev.is_empty() {
        s.push_str("rates and latency since the start\n");
    } else {
        s.push_str(&format!("rates and latency over the last {secs:.2} s\n"));
    }
    let lagging = rows.iter().enumerate().max_by_key(|(_, r)| r.lag_us);
    // Under 1 ms is on time, as for the report's late starts.
    if let Some((i, r)) = lagging.filter(|(_, r)| r.lag_us >= 1_000) {
        s.push_str(&format!(
            "open-loop lag: the latest session of worker {i} started {} late\n",
            latency_text(Some(r.lag_us as f64))
        ));
    }
    s.push_str(&user_lines(&run.user_names, rows, &total));
    s
}

/// The hooks' user counters under a frame: a line per counter with its total and the
/// value of each worker (cut to fit 79 columns); nothing when there are none.
fn user_lines(names: &[String], rows: &[SlotSnapshot], total: &SlotSnapshot) -> String {
    if names.is_empty() {
        return String::new();
    }
    let mut s = format!("{:<15} {:>12}  per worker\n", "user counter", "total");
    for (i, name) in names.iter().enumerate() {
        let mut line = format!(
            "{name:<15} {:>12} ",
            total.user.get(i).copied().unwrap_or(0)
        );
        for r in rows {
            let v = format!(" {}", r.user.get(i).copied().unwrap_or(0));
            if line.len() + v.len() > 75 {
                line.push_str(" ...");
                break;
            }
            line.push_str(&v);
        }
        s.push_str(&line);
        s.push('\n');
    }
    s
}

/// What a row shows besides the counters: rates and latency over a frame's span.
#[derive(Debug, Clone, PartialEq)]
struct Change {
    /// Completed requests (replies and errors) per second.
    done_per_s: f64,
    /// Failed requests per second.
    errors_per_s: f64,
    /// The replies counted in the span.
    latency: LiveLatency,
}

impl Change {
    /// From `before` to `now`, `secs` apart; counters that read lower give 0.
    fn between(now: &SlotSnapshot, before: &SlotSnapshot, secs: f64) -> Change {
        let per_s = |c: Counter| per_second(now.get(c).saturating_sub(before.get(c)), secs);
        Change {
            done_per_s: per_s(Counter::RequestsSucceeded) + per_s(Counter::RequestsFailed),
            errors_per_s: per_s(Counter::RequestsFailed),
            latency: now.latency.since(&before.latency),
        }
    }
}

/// `n` over `secs`, or 0 over no time.
fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

/// One row in [`TOP_HEAD`]'s columns: worker number `worker`'s, or with `None` the total
/// row, which has no pid or state.
fn row(worker: Option<usize>, r: &SlotSnapshot, change: &Change) -> String {
    let (label, pid, state) = match worker {
        Some(i) => (i.to_string(), r.pid.to_string(), r.state.as_str()),
        None => ("total".to_owned(), String::new(), ""),
    };
    format!(
        "{label:<6} {pid:>7} {state:>7} {:>6} {:>9} {:>6} {:>7} {:>6} {:>8} {:>8}\n",
        r.get(Counter::ThreadsActive),
        r.get(Counter::RequestsSucceeded),
        r.get(Counter::RequestsFailed),
        rate_text(change.done_per_s),
        rate_text(change.errors_per_s),
        latency_text(change.latency.quantile_us(0.5)),
        latency_text(change.latency.quantile_us(0.99)),
    )
}

/// A rate: one decimal below 10 per second, whole numbers above.
fn rate_text(r: f64) -> String {
    if r < 9.95 {
        format!("{r:.1}")
    } else {
        format!("{r:.0}")
    }
}

/// A latency (µs in) as people read it, to three significant digits: milliseconds below
/// a second (`0.123 ms`, `1.23 ms`, `12.3 ms`, `123 ms`), seconds above (`1.23 s`,
/// `12.3 s`); `-` for none.
fn latency_text(us: Option<f64>) -> String {
    let Some(ms) = us
        .map(|us| us / 1e3)
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
    else {
        return "-".into();
    };
    // The cut-offs are where rounding would carry into a fourth digit.
    match ms {
        ms if ms < 0.9995 => format!("{ms:.3} ms"),
        ms if ms < 9.995 => format!("{ms:.2} ms"),
        ms if ms < 99.95 => format!("{ms:.1} ms"),
        ms if ms < 999.5 => format!("{ms:.0} ms"),
        ms if ms < 9_995.0 => format!("{:.2} s", ms / 1e3),
        ms if ms < 99_950.0 => format!("{:.1} s", ms / 1e3),
        ms => format!("{:.0} s", ms / 1e3),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use volley_scoreboard::WorkerState;
    use volley_scoreboard::latency::bucket_of;

    /// A worker's reading: `replies` replies of `each_us` µs each, `errors` errors.
    fn slot(pid: u32, replies: u64, errors: u64, each_us: u64) -> SlotSnapshot {
        let mut s = SlotSnapshot {
            pid,
            state: WorkerState::Running,
            ..SlotSnapshot::default()
        };
        s.counters[Counter::ThreadsActive.index()] = 2;
        s.counters[Counter::ConnsOpen.index()] = 2;
        s.counters[Counter::RequestsSucceeded.index()] = replies;
        s.counters[Counter::RequestsFailed.index()] = errors;
        s.latency.counts[bucket_of(each_us)] = replies;
        s.latency.sum_us = replies.wrapping_mul(each_us);
        s
    }

    fn run() -> RunLine {
        RunLine {
            name: "volley-soak".into(),
            state: "running",
            elapsed_s: 12.5,
            workers: 2,
            slots: 4,
            user_names: Vec::new(),
        }
    }

    #[test]
    fn a_frame_shows_the_user_counters_by_name() {
        let mut rows = [slot(4101, 10, 0, 300), slot(4102, 12, 0, 300)];
        rows[0].user[0] = 7;
        rows[1].user[0] = 5;
        rows[1].user[1] = 2;
        let mut r = run();
        r.user_names = vec!["tokens".into(), "no-token".into()];
        let frame = render_top(&r, &rows, &[], 12.5);
        let tail: Vec<&str> = frame.lines().rev().take(3).collect();
        assert_eq!(
            tail,
            [
                "no-token                   2  0 2",
                "tokens                    12  7 5",
                "user counter           total  per worker",
            ]
        );
        // Many workers: the line is cut, not wrapped.
        let many = vec![rows[0]; 100];
        for line in render_top(&r, &many, &[], 1.0).lines().skip(1) {
            assert!(line.len() < 80, "{} columns: {line:?}", line.len());
        }
    }

    #[test]
    fn latencies_have_three_significant_digits_and_a_unit() {
        let cases = [
            (None, "-"),
            (Some(f64::NAN), "-"),
            (Some(-1.0), "-"),
            (Some(0.0), "0.000 ms"),
            (Some(5.0), "0.005 ms"),
            (Some(123.0), "0.123 ms"),
            (Some(999.6), "1.00 ms"),
            (Some(1_234.0), "1.23 ms"),
            (Some(12_340.0), "12.3 ms"),
            (Some(123_400.0), "123 ms"),
            (Some(999_600.0), "1.00 s"),
            (Some(1_234_000.0), "1.23 s"),
            (Some(60_000_000.0), "60.0 s"),
            (Some(123_456_789.0), "123 s"),
        ];
        for (us, text) in cases {
            assert_eq!(latency_text(us), text, "{us:?}");
        }
    }

    #[test]
    fn a_frame_shows_the_last_interval_per_worker_and_in_total() {
        // Worker 0: 100 replies of 11 ms and 2 errors in the half second; worker 1 had
        // nothing to say in it, and its latest session started 1.5 ms late.
        let prev = [slot(4101, 900, 3, 11_000), slot(4102, 50, 0, 300)];
        let mut lagging = slot(4102, 50, 0, 300);
        lagging.lag_us = 1_500;
        let rows = [slot(4101, 1_000, 5, 11_000), lagging];
        let frame = render_top(&run(), &rows, &prev, 0.5);
        assert_eq!(
            frame,
            "volley-soak state running elapsed 12.5s workers 2 slots 4 conns 4
worker     pid   state active   replies errors   req/s  err/s      p50      p99
0         4101 running      2      1000      5     204    4.0  11.0 ms  12.0 ms
1         4102 running      2        50      0     0.0    0.0        -        -
total                       4      1050      5     204    4.0  11.0 ms  12.0 ms
rates and latency over the last 0.50 s
open-loop lag: the latest session of worker 1 started 1.50 ms late
"
        );
    }

    #[test]
    fn the_first_frame_measures_from_the_start() {
        let rows = [slot(4101, 250, 0, 300), slot(4102, 0, 0, 0)];
        let frame = render_top(&run(), &rows, &[], 12.5);
        let lines: Vec<&str> = frame.lines().collect();
        assert_eq!(
            lines[2],
            "0         4101 running      2       250      0      20    0.0 0.275 ms 0.299 ms"
        );
        assert!(lines[3].ends_with("      -        -"), "{frame}");
        assert_eq!(lines[5], "rates and latency since the start");
        assert_eq!(lines.len(), 6, "no lag line in a closed loop:\n{frame}");
    }

    #[test]
    fn rows_fit_in_80_columns_and_odd_readings_do_not_panic() {
        let mut big = slot(4_194_304, 999_999_999, 999_999, 59_000_000);
        big.latency.counts[volley_scoreboard::latency::BUCKETS - 1] = 7;
        // A reading lower than the one before (a torn or foreign one) counts as no change.
        let prev = [slot(1, u64::MAX, u64::MAX, 10)];
        for frame in [
            render_top(&run(), &[big], &prev, 1.0),
            render_top(&run(), &[big], &[], 0.0),
            render_top(&run(), &[], &[], f64::NAN),
        ] {
            for line in frame.lines().skip(1) {
                assert!(line.len() < 80, "{} columns: {line:?}", line.len());
            }
        }
    }
}
