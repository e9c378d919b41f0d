//! The comparison as a text table or as JSON: pure functions of a [`Comparison`] and the
//! two reports.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{ALPHA, Comparison, Direction, GATED, MIN_INTERVALS, Noise, Row};
use crate::report::Report;

/// A compared result and the file it was read from.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    /// The file, as given.
    pub file: &'a str,
    /// Its report.
    pub report: &'a Report,
}

/// The warning when the two results are of different workloads, if they are.
pub fn workload_warning(c: &Comparison) -> Option<String> {
    let (b, n) = &c.workload_ids;
    (b != n).then(|| {
        format!(
            "WARNING: different workloads (workload_id {b} in BASE, {n} in NEW): the \
             requests, the schedule or the seed differ, so a change may be the workload's"
        )
    })
}

/// The text table, ending with a newline; `fail_pct` is `--fail-if-worse`.
pub fn text(c: &Comparison, base: Side<'_>, new: Side<'_>, fail_pct: Option<f64>) -> String {
    let mut out = String::new();
    // Writing to a `String` cannot fail.
    let _ = write_text(&mut out, c, base, new, fail_pct);
    out
}

fn write_text(
    out: &mut String,
    c: &Comparison,
    base: Side<'_>,
    new: Side<'_>,
    fail_pct: Option<f64>,
) -> std::fmt::Result {
    writeln!(out, "Compare: BASE {} with NEW {}", base.file, new.file)?;
    let (b, n) = c.intervals;
    write_side(out, "BASE", base, b)?;
    write_side(out, "NEW ", new, n)?;
    if let Some(w) = workload_warning(c) {
        writeln!(out, "{w}")?;
    }
    writeln!(out)?;
    let noise_head = if c.noise_judged() {
        format!(
            "noise (Mann-Whitney U, {} vs {} intervals, p < {ALPHA})",
            b.0, n.0
        )
    } else {
        "noise".into()
    };
    // The labels' column: 12 wide, wider for the corrected rows' longer names.
    let w = c
        .rows
        .iter()
        .map(|r| label(r).len())
        .max()
        .unwrap_or(0)
        .max(12);
    writeln!(
        out,
        "{:<w$}{:>12}{:>12}{:>12}{:>11}  {noise_head}",
        "", "BASE", "NEW", "change", "change %"
    )?;
    for row in &c.rows {
        let label = label(row);
        writeln!(
            out,
            "{label:<w$}{:>12}{:>12}{:>12}{:>11}  {}",
            value(row, row.base),
            value(row, row.new),
            change(row),
            pct(row.change_pct()),
            noise_text(row)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "{}", verdict(c, fail_pct))
}

/// A row's label: its name, with the unit when it is a latency (`p99 [ms]`).
fn label(row: &Row) -> String {
    match row.unit {
        "ms" => format!("{} [ms]", row.name),
        _ => row.name.to_string(),
    }
}

/// `  BASE a.json: 3000 requests in 1.500 s, 14 full intervals of 100 ms, workload …`.
fn write_side(
    out: &mut String,
    tag: &str,
    s: Side<'_>,
    (full, len): (usize, u64),
) -> std::fmt::Result {
    let r = s.report;
    let dur = if r.duration_s.is_finite() {
        r.duration_s
    } else {
        0.0
    };
    write!(
        out,
        "  {tag} {}: {} requests in {dur:.3} s, ",
        s.file,
        r.started()
    )?;
    if len == 0 {
        write!(out, "no time series")?;
    } else {
        write!(
            out,
            "{full} full intervals of {}",
            crate::report::combine::seconds(len)
        )?;
    }
    writeln!(out, ", workload {}", r.workload_id)
}

/// A value in its row's precision, or `n/a`.
fn value(row: &Row, v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(v) => match row.unit {
            "count" => format!("{v:.0}"),
            "replies/s" => format!("{v:.1}"),
            _ => format!("{v:.3}"),
        },
    }
}

/// The signed change in the row's precision.
fn change(row: &Row) -> String {
    match row.change() {
        None => "n/a".into(),
        Some(c) => {
            let s = value(row, Some(c));
            if c >= 0.0 { format!("+{s}") } else { s }
        }
    }
}

/// `+12.5%`, or `-` without a base to divide by.
fn pct(p: Option<f64>) -> String {
    p.map_or("-".into(), |p| format!("{p:+.1}%"))
}

/// `p = 0.0123`, `p < 0.001`.
fn p_text(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

/// `worse, beyond noise (p < 0.001)`, `better, within noise (p = 0.412)`, `no change`.
fn noise_text(row: &Row) -> String {
    let way = match row.direction() {
        Direction::Same => return "no change".into(),
        Direction::Better => "better",
        Direction::Worse => "worse",
    };
    match (row.noise, row.beyond_noise()) {
        (Noise::Judged { p, .. }, Some(true)) => format!("{way}, beyond noise ({})", p_text(p)),
        (Noise::Judged { p, .. }, _) if p < ALPHA => {
            format!(
                "{way}, within noise (the intervals lean the other way, {})",
                p_text(p)
            )
        }
        (Noise::Judged { p, .. }, _) => format!("{way}, within noise ({})", p_text(p)),
        (Noise::TooFew { .. }, _) => format!("{way}, too few intervals to judge noise"),
        (Noise::Unsampled, _) => {
            format!("{way}, not judged (an estimate: no per-interval samples)")
        }
    }
}

/// The last line: what changed beyond noise, or the `--fail-if-worse` verdict.
fn verdict(c: &Comparison, fail_pct: Option<f64>) -> String {
    let ((b, _), (n, _)) = c.intervals;
    let too_few = (!c.noise_judged()).then(|| {
        format!(
            "too few intervals to judge noise: BASE {b}, NEW {n} full intervals, \
             {MIN_INTERVALS} needed (a longer run or a shorter --interval gives more)"
        )
    });
    match (fail_pct, too_few) {
        (Some(limit), too_few) => gate(c, limit, too_few),
        (None, Some(t)) => format!("Noise: {t}"),
        (None, None) => {
            let names = |d: Direction| -> Vec<&str> {
                c.rows
                    .iter()
                    .filter(|r| r.direction() == d && r.beyond_noise() == Some(true))
                    .map(|r| r.name)
                    .collect()
            };
            match (names(Direction::Worse), names(Direction::Better)) {
                (w, b) if w.is_empty() && b.is_empty() => "No change beyond noise".into(),
                (w, b) => format!(
                    "Beyond noise: worse {}; better {}",
                    or_none(&w),
                    or_none(&b)
                ),
            }
        }
    }
}

/// The `--fail-if-worse` verdict; without a noise verdict (`too_few`), the threshold
/// alone decides, and the line says so.
fn gate(c: &Comparison, limit: f64, too_few: Option<String>) -> String {
    let failed = c.failed(limit);
    let (beyond, note) = match too_few {
        Some(t) => ("", format!(" ({t}; the threshold alone decided)")),
        None => (" beyond noise and", String::new()),
    };
    if failed.is_empty() {
        let gated = GATED.join(", ");
        format!("OK: no gated figure ({gated}) is worse{beyond} by more than {limit}%{note}")
    } else {
        let list: Vec<String> = failed
            .iter()
            .map(|r| format!("{} {}", r.name, pct(r.change_pct())))
            .collect();
        format!(
            "FAILED: NEW is worse than BASE{beyond} by more than {limit}%: {}{note}",
            list.join(", ")
        )
    }
}

fn or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(" ")
    }
}

/// The comparison as pretty JSON, ending with a newline.
pub fn json(c: &Comparison, base: Side<'_>, new: Side<'_>, fail_pct: Option<f64>) -> String {
    let side = |s: Side<'_>, (full, len): (usize, u64)| {
        json!({
            "file": s.file,
            "workload_id": s.report.workload_id,
            "duration_s": finite(s.report.duration_s),
            "requests": s.report.started(),
            "interval_s": (len > 0).then(|| len as f64 / 1e9),
            "full_intervals": full,
        })
    };
    let rows: Vec<Value> = c.rows.iter().map(row_json).collect();
    let failed: Vec<&str> =
        fail_pct.map_or(Vec::new(), |p| c.failed(p).iter().map(|r| r.name).collect());
    let v = json!({
        "base": side(base, c.intervals.0),
        "new": side(new, c.intervals.1),
        "same_workload": c.workload_ids.0 == c.workload_ids.1,
        "noise": {
            "test": "mann-whitney-u",
            "alpha": ALPHA,
            "min_intervals": MIN_INTERVALS,
            "judged": c.noise_judged(),
        },
        "metrics": rows,
        "fail_if_worse_pct": fail_pct,
        "failed": failed,
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

fn row_json(r: &Row) -> Value {
    let p = match r.noise {
        Noise::Judged { p, .. } => finite(p),
        Noise::TooFew { .. } | Noise::Unsampled => Value::Null,
    };
    let beyond = r.beyond_noise().map_or(Value::Null, Value::Bool);
    json!({
        "name": r.name,
        "unit": r.unit,
        "better": match r.better { super::Better::Higher => "higher", super::Better::Lower => "lower" },
        "base": r.base.map_or(Value::Null, finite),
        "new": r.new.map_or(Value::Null, finite),
        "change": r.change().map_or(Value::Null, finite),
        "change_pct": r.change_pct().map_or(Value::Null, finite),
        "direction": match r.direction() {
            Direction::Better => "better",
            Direction::Worse => "worse",
            Direction::Same => "same",
        },
        "p_value": p,
        "beyond_noise": beyond,
    })
}

/// A finite float, or `null`.
fn finite(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}
