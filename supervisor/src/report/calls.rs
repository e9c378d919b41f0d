//! httperf's "Call Statistics:" table (`volley httperf --call-stats=N`, an option of an
//! httperf 0.8.4 build, not of stock httperf): one row for each of the first N calls
//! started over every worker, in the columns and widths that build prints.
//!
//! What each column holds:
//!
//! - `call number`: the call's place in start order over every worker, from 0;
//! - `conn number`: its connection's number (a worker's k-th connect is `worker + k ×
//!   workers`: httperf's numbering with one worker, unique with several);
//! - `request size (bytes)`: the size `--call-stats-file` gives for the URI (the bytes the
//!   call should receive), -1 when the file does not list it or was not given;
//! - `response size (bytes)`: the reply body's bytes received;
//! - `% bytes recvd`: response size as a share of request size (`NA` without one);
//! - `byte rate (Mbps)`: response size over response time (`NA` when that is 0);
//! - `conn time (s)`: connect start to established for the first call of a connection
//!   (to the timeout for one that timed out before it), 0 for the calls after it;
//! - `response time (s)`: first byte of the request sent to the reply's last byte (or to
//!   the timeout or error); `total time (s)`: their sum;
//! - `HTTP status`: the reply's status (0: none); `time limit (s)`: `--timeout` (0 when
//!   not given);
//! - `timed out`: `no` (a reply), `yes-C` (timed out on an established connection),
//!   `yes-NC` (timed out before it was established), `NA` (neither: another error, or
//!   aborted at the stop);
//! - `file requested`: the URI.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use volley_config::RunSpec;
use volley_worker::calls::{CallEntry, TimedOut};

/// Rows between two repeats of the header lines (as that build prints them).
const HEADER_EVERY: usize = 20;

/// The columns: name, unit, width (the last one is not padded).
const COLUMNS: [(&str, &str, usize); 13] = [
    ("call number", "", 13),
    ("conn number", "", 13),
    ("request size", "(bytes)", 14),
    ("response size", "(bytes)", 15),
    ("% bytes recvd", "", 15),
    ("byte rate", "(Mbps)", 11),
    ("conn time", "(s)", 11),
    ("response time", "(s)", 15),
    ("total time", "(s)", 12),
    ("HTTP status", "", 13),
    ("time limit", "(s)", 11),
    ("timed out", "", 11),
    ("file requested", "", 0),
];

/// The calls of a run and what the table needs to show them.
#[derive(Debug, Clone, Default)]
pub struct CallTable {
    /// Rows shown at most (`--call-stats`).
    pub rows: u32,
    /// The time limit column, seconds.
    pub time_limit_s: f64,
    /// Expected sizes by URI (`--call-stats-file`).
    pub sizes: BTreeMap<String, u64>,
    /// The URI of each URL-list entry.
    pub uris: Vec<String>,
    /// The calls the workers kept, earliest started first once [`CallTable::finish`] ran.
    pub calls: Vec<CallEntry>,
}

impl CallTable {
    /// An empty table for `spec`'s `--call-stats`, if it has one.
    pub fn for_spec(spec: &RunSpec) -> Option<CallTable> {
        let c = spec.call_stats.as_ref()?;
        Some(CallTable {
            rows: c.rows,
            time_limit_s: c.time_limit.map_or(0.0, |d| d.as_secs_f64()),
            sizes: c.sizes.clone(),
            uris: spec
                .requests
                .iter()
                .map(|r| r.target.path.clone())
                .collect(),
            calls: Vec::new(),
        })
    }

    /// Every worker's calls are in: the first `rows` started, in order.
    pub fn finish(&mut self) {
        self.calls.sort_unstable();
        self.calls.truncate(self.rows as usize);
    }
}

/// Writes the table: its title, header lines and one row per call.
pub fn write(out: &mut String, t: &CallTable) -> std::fmt::Result {
    writeln!(out)?;
    writeln!(out, "Call Statistics:")?;
    writeln!(out)?;
    for (i, call) in t.calls.iter().enumerate() {
        if i % HEADER_EVERY == 0 {
            header(out)?;
        }
        let cells = row(t, i, call);
        line(out, cells.iter().map(String::as_str))?;
    }
    if t.calls.is_empty() {
        header(out)?;
    }
    Ok(())
}

/// The two header lines: the names, then the units.
fn header(out: &mut String) -> std::fmt::Result {
    line(out, COLUMNS.iter().map(|c| c.0))?;
    line(out, COLUMNS.iter().map(|c| c.1))
}

/// One line of cells, each left-aligned in its column's width.
fn line<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>) -> std::fmt::Result {
    for (cell, (_, _, width)) in cells.zip(COLUMNS) {
        write!(out, "{cell:<width$}")?;
    }
    writeln!(out)
}

/// The cells of call number `n`.
fn row(t: &CallTable, n: usize, c: &CallEntry) -> [String; 13] {
    let uri = t.uris.get(c.entry as usize).map_or("--", String::as_str);
    let expected = t.sizes.get(uri).copied();
    let secs = |ns: u64| ns as f64 / 1e9;
    let (conn_s, response_s) = (secs(c.connect_ns), secs(c.response_ns));
    let share = expected.filter(|&n| n > 0).map_or("NA".to_string(), |n| {
        format!("{:.2}", 100.0 * c.body_bytes as f64 / n as f64)
    });
    let rate = if response_s > 0.0 {
        format!("{:.1}", c.body_bytes as f64 * 8.0 / response_s / 1e6)
    } else {
        "NA".to_string()
    };
    let timed_out = match c.timed_out {
        TimedOut::No => "no",
        TimedOut::Connected => "yes-C",
        TimedOut::Unconnected => "yes-NC",
        TimedOut::NotApplicable => "NA",
    };
    [
        n.to_string(),
        c.conn.to_string(),
        expected.map_or("-1".to_string(), |n| n.to_string()),
        c.body_bytes.to_string(),
        share,
        rate,
        format!("{conn_s:.7}"),
        format!("{response_s:.7}"),
        format!("{:.7}", conn_s + response_s),
        c.status.to_string(),
        format!("{:.7}", t.time_limit_s),
        timed_out.to_string(),
        uri.to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(conn: u64, status: u16, timed_out: TimedOut) -> CallEntry {
        CallEntry {
            start_ns: 0,
            worker: 0,
            seq: 0,
            conn,
            entry: 0,
            connect_ns: 226_000,
            response_ns: 1_811_000,
            body_bytes: 0,
            status,
            timed_out,
        }
    }

    /// The layout of the httperf build's table, cell for cell: its sample (a call that
    /// timed out after the connect) with volley's values.
    #[test]
    fn the_table_has_httperfs_columns() {
        let t = CallTable {
            rows: 3,
            time_limit_s: 0.0001,
            sizes: [("/docs/1B.txt".to_string(), 1)].into(),
            uris: vec!["/docs/1B.txt".into()],
            calls: vec![call(0, 0, TimedOut::Connected)],
        };
        let mut out = String::new();
        write(&mut out, &t).unwrap();
        let expected = "\nCall Statistics:\n\n\
call number  conn number  request size  response size  % bytes recvd  byte rate  conn time  response time  total time  HTTP status  time limit timed out  file requested\n\
\x20                         (bytes)       (bytes)                       (Mbps)     (s)        (s)            (s)                      (s)                   \n\
0            0            1             0              0.00           0.0        0.0002260  0.0018110      0.0020370   0            0.0001000  yes-C      /docs/1B.txt\n";
        assert_eq!(out, expected);
    }

    #[test]
    fn unknown_sizes_and_rates_print_na() {
        let mut c = call(7, 200, TimedOut::No);
        c.body_bytes = 1_000_000;
        c.response_ns = 0;
        let t = CallTable {
            rows: 1,
            uris: vec!["/x".into()],
            calls: vec![c],
            ..Default::default()
        };
        let mut out = String::new();
        write(&mut out, &t).unwrap();
        let row = out.lines().last().unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "0",
                "7",
                "-1",
                "1000000",
                "NA",
                "NA",
                "0.0002260",
                "0.0000000",
                "0.0002260",
                "200",
                "0.0000000",
                "no",
                "/x"
            ]
        );
    }

    #[test]
    fn headers_repeat_every_twenty_rows_and_order_is_by_start() {
        let mut t = CallTable {
            rows: 25,
            uris: vec!["/".into()],
            ..Default::default()
        };
        for i in (0..30u64).rev() {
            let mut c = call(i, 200, TimedOut::No);
            c.start_ns = i;
            t.calls.push(c);
        }
        t.finish();
        assert_eq!(t.calls.len(), 25);
        assert!(t.calls.windows(2).all(|w| w[0].start_ns < w[1].start_ns));
        let mut out = String::new();
        write(&mut out, &t).unwrap();
        assert_eq!(out.matches("call number").count(), 2);
        assert!(
            out.lines()
                .nth(3 + 2 + 20)
                .unwrap()
                .starts_with("call number")
        );
    }
}
