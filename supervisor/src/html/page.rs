//! The page: the run's parameters and verdict, the charts, the workers, with its styles
//! inline. Written as well-formed XML (every element closed, every attribute quoted, text
//! escaped), so it reads the same to a browser and to an XML parser.

use std::fmt::Write as _;

use super::charts::{self, Figure, run_colour};
use super::esc;
use super::input::{CheckRow, Run};

/// Shown for a value the file does not have.
const NONE: &str = "–";

const STYLE: &str = "
body { font-family: system-ui, sans-serif; color: #222; background: #fff;
       max-width: 1060px; margin: 0 auto; padding: 16px 24px; }
h1 { font-size: 1.6em; margin: 0.2em 0; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 1.6em; }
h3 { font-size: 1.1em; margin: 0.6em 0 0.2em; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 12px 0 28px; }
figcaption { color: #555; font-size: 13px; max-width: 920px; }
svg.chart { display: block; max-width: 100%; height: auto; }
.nodata { border: 1px dashed #bbb; color: #666; padding: 28px; text-align: center;
          font-style: italic; }
.verdict { font-weight: bold; padding: 1px 6px; border-radius: 3px; color: #fff; }
.ok { background: #2e7d32; }
.bad { background: #c62828; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px;
          vertical-align: middle; border-radius: 2px; }
footer { color: #777; font-size: 12px; margin-top: 32px; }
";

/// The whole page for `runs` (one run, or several overlaid in the order given).
pub fn render(runs: &[Run]) -> String {
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    let mut s = String::with_capacity(64 * 1024);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\
         <title>volley report: {}</title><style>{STYLE}</style></head><body>\n\
         <h1>volley report</h1><p>{}: {}.</p>\n",
        esc(&super::labels(runs).join(", ")),
        if runs.len() > 1 {
            format!("{} runs overlaid, one colour each", runs.len())
        } else {
            "Result file".into()
        },
        esc(&names.join(", ")),
    );
    section(&mut s, "Run", &parameters(runs));
    section(&mut s, "Verdict and checks", &checks(runs));
    section(&mut s, "Throughput", &figure(&charts::throughput(runs)));
    let latency = [charts::latency_over_time(runs), charts::percentiles(runs)];
    section(
        &mut s,
        "Latency",
        &latency.iter().map(figure).collect::<String>(),
    );
    section(&mut s, "Workers", &workers(runs));
    s.push_str(
        "<footer>Written by <code>volley report</code>: one self-contained file (styles \
         and charts inline, no scripts, nothing loaded from the network).</footer>\n\
         </body></html>\n",
    );
    s
}

fn section(s: &mut String, heading: &str, body: &str) {
    let _ = writeln!(s, "<section><h2>{}</h2>{body}</section>", esc(heading));
}

/// A chart, or the note that says why there is none.
fn figure(f: &Figure) -> String {
    let body = if f.chart.has_data() {
        f.chart.to_svg()
    } else {
        format!(r#"<p class="nodata">{}</p>"#, esc(f.no_data))
    };
    format!(
        "<figure><h3>{}</h3>{body}<figcaption>{}</figcaption></figure>\n",
        esc(&f.chart.title),
        esc(&f.caption)
    )
}

/// A table: a header row and rows of cells, which are HTML already (`<td …>…</td>`).
fn table(head: &[String], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(s, "<th>{h}</th>");
    }
    s.push_str("</tr></thead><tbody>");
    for row in rows {
        let _ = write!(s, "<tr>{}</tr>", row.concat());
    }
    s.push_str("</tbody></table>");
    s
}

fn td(text: &str) -> String {
    format!("<td>{}</td>", esc(text))
}

fn td_num(text: &str) -> String {
    format!(r#"<td class="num">{}</td>"#, esc(text))
}

/// A run's name as a column or row head: with its colour in an overlay.
fn run_head(runs: &[Run], r: usize) -> String {
    let label = esc(&super::labels(runs)[r]);
    if runs.len() > 1 {
        let colour = run_colour(r);
        format!(r#"<span class="swatch" style="background: {colour}"></span>{label}"#)
    } else {
        label
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| NONE.to_string(), |v| v.to_string())
}

fn fixed(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| NONE.to_string(), |v| format!("{v:.decimals$}"))
}

/// Parameters as rows, one column per run.
fn parameters(runs: &[Run]) -> String {
    type Row = (&'static str, fn(&Run) -> String);
    let rows: [Row; 12] = [
        ("URL", |r| or_none(&r.url)),
        ("Method", |r| or_none(&r.method)),
        ("Slots (-c)", |r| opt(r.concurrency)),
        ("Workers", |r| {
            opt((!r.workers.is_empty()).then_some(r.workers.len()))
        }),
        ("Seed", |r| match r.seed {
            Some((s, true)) => format!("{s} (given)"),
            Some((s, false)) => format!("{s} (drawn)"),
            None => NONE.into(),
        }),
        ("Duration", |r| {
            r.duration_s.map_or(NONE.into(), |d| format!("{d:.2} s"))
        }),
        ("Started", |r| r.started_unix_ms.map_or(NONE.into(), utc)),
        ("Schedule", schedule),
        ("Time series", |r| match r.interval_s {
            Some(s) => format!("{} intervals of {s} s", r.intervals.len()),
            None => "none".into(),
        }),
        ("Replies / errors", |r| {
            format!("{} / {}", opt(r.replies), opt(r.errors))
        }),
        ("Replies per second", |r| fixed(r.replies_per_s, 1)),
        ("Reply latency p50 / p99 / max", |r| {
            let [p50, p99, max] = r.reply_ms.map(|v| fixed(v, 3));
            format!("{p50} / {p99} / {max} ms")
        }),
    ];
    let mut head = vec![String::new()];
    head.extend((0..runs.len()).map(|r| run_head(runs, r)));
    let mut body: Vec<Vec<String>> = rows
        .iter()
        .map(|(label, value)| {
            let mut row = vec![format!("<th>{label}</th>")];
            row.extend(runs.iter().map(|r| td(&value(r))));
            row
        })
        .collect();
    let mut verdict = vec!["<th>Verdict</th>".to_string()];
    verdict.extend(runs.iter().map(verdict_cell));
    body.push(verdict);
    table(&head, &body)
}

fn or_none(s: &str) -> String {
    if s.is_empty() { NONE.into() } else { s.into() }
}

fn schedule(r: &Run) -> String {
    match r.open_loop {
        None => "closed loop".into(),
        Some((target, achieved)) => format!(
            "open loop: {} sessions/s scheduled, {} achieved",
            fixed(target, 1),
            fixed(achieved, 1)
        ),
    }
}

/// The verdict, green when `ok`, and why an invalid run is invalid.
fn verdict_cell(r: &Run) -> String {
    let class = if r.verdict == "ok" { "ok" } else { "bad" };
    let mut s = format!(
        r#"<td><span class="verdict {class}">{}</span>"#,
        esc(&or_none(&r.verdict))
    );
    if !r.invalid_reasons.is_empty() {
        let _ = write!(s, " invalid: {}", esc(&r.invalid_reasons.join("; ")));
    }
    s.push_str("</td>");
    s
}

/// The checks of every run, or a line saying there were none.
fn checks(runs: &[Run]) -> String {
    if runs.iter().all(|r| r.checks.is_empty()) {
        return "<p>No checks were given (<code>--check</code>): the verdict above only \
                says whether the run completed, is valid and got a reply.</p>"
            .into();
    }
    let overlay = runs.len() > 1;
    let mut head: Vec<String> = ["Check", "Value", "Result"].map(String::from).to_vec();
    if overlay {
        head.insert(0, "Run".into());
    }
    let mut rows = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        for c in &run.checks {
            let mut row = vec![
                format!("<td><code>{}</code></td>", esc(&c.expr)),
                td_num(&check_value(c)),
                format!(
                    r#"<td><span class="verdict {}">{}</span></td>"#,
                    if c.pass { "ok" } else { "bad" },
                    if c.pass { "pass" } else { "FAIL" }
                ),
            ];
            if overlay {
                row.insert(0, format!("<td>{}</td>", run_head(runs, i)));
            }
            rows.push(row);
        }
    }
    table(&head, &rows)
}

fn check_value(c: &CheckRow) -> String {
    match (c.value, c.unit.as_str()) {
        (None, _) => "not measured".into(),
        (Some(v), "count") => format!("{v:.0}"),
        (Some(v), "%") => format!("{v:.3}%"),
        (Some(v), unit) => format!("{v:.3} {unit}"),
    }
}

/// One row per worker of every run.
fn workers(runs: &[Run]) -> String {
    if runs.iter().all(|r| r.workers.is_empty()) {
        return r#"<p class="nodata">no data: the result file lists no workers</p>"#.into();
    }
    let overlay = runs.len() > 1;
    let mut head: Vec<String> = [
        "Worker",
        "PID",
        "Exit",
        "Report",
        "Requests",
        "Replies",
        "Errors",
        "Aborted",
        "CPU user (s)",
        "CPU system (s)",
    ]
    .map(String::from)
    .to_vec();
    if overlay {
        head.insert(0, "Run".into());
    }
    let mut rows = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        for w in &run.workers {
            let mut row = vec![
                td_num(&w.index.to_string()),
                td_num(&w.pid.to_string()),
                td(&w.exit),
                td(if w.reported { "received" } else { "missing" }),
            ];
            row.extend(w.requests.iter().map(|n| td_num(&opt(*n))));
            row.push(td_num(&fixed(w.cpu_s.0, 3)));
            row.push(td_num(&fixed(w.cpu_s.1, 3)));
            if overlay {
                row.insert(0, format!("<td>{}</td>", run_head(runs, i)));
            }
            rows.push(row);
        }
    }
    table(&head, &rows)
}

/// Unix ms as `YYYY-MM-DD HH:MM:SS.mmm UTC`.
fn utc(ms: u64) -> String {
    let (days, rest) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}.{milli:03} UTC")
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::input::WorkerRow;

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00.000 UTC");
        assert_eq!(utc(1_796_302_520_579), "2026-12-03 12:55:20.579 UTC");
    }

    #[test]
    fn missing_values_show_as_a_dash_and_text_is_escaped() {
        let run = Run {
            name: "<a&b>.json".into(),
            verdict: "failed".into(),
            checks: vec![CheckRow {
                expr: "p99 < 5ms".into(),
                value: None,
                unit: "ms".into(),
                pass: false,
            }],
            workers: vec![WorkerRow {
                exit: "exited 0".into(),
                ..WorkerRow::default()
            }],
            ..Run::default()
        };
        let page = render(&[run]);
        assert!(page.contains("&lt;a&amp;b&gt;.json") && !page.contains("<a&b>"));
        assert!(page.contains("<code>p99 &lt; 5ms</code>"));
        assert!(page.contains("not measured") && page.contains(">FAIL<"));
        assert!(page.contains("<td>–</td>"), "no URL");
        assert_eq!(
            page.matches(r#"<p class="nodata">"#).count(),
            3,
            "three empty charts"
        );
        assert!(!page.contains("<svg"));
        assert!(!page.contains("<script"));
    }
}
