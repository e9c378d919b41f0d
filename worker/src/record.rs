//! The per-request result record (LoadGen's `$rc`) and the per-request log.
//!
//! Each worker writes its records to its own part file (`FILE.part-W`) through a 256 KiB
//! buffer, one line per request in the final format, each prefixed with a sort key (the
//! request's start, hex ns, and a tab). The supervisor joins the parts into `FILE`, ordered
//! by start time, when the run is over. Writing a record formats into the buffer: no
//! allocation, and a `write` syscall only when the buffer is full.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use volley_config::LogFormat;

use crate::http::Headers;
use crate::schedule::Plan;
use crate::slot::Slot;

/// Columns of the per-request log, in order (CSV header; JSON keys).
pub const COLUMNS: [&str; 23] = [
    "worker",
    "slot",
    "round",
    "index",
    "hop",
    "method",
    "url",
    "status",
    "error",
    "status_line",
    "http_version",
    "start_ms",
    "connect_ms",
    "first_byte_ms",
    "header_ms",
    "body_ms",
    "header_bytes",
    "body_bytes",
    "dns_cached",
    "conn_cached",
    "pre_delay_ms",
    "post_delay_ms",
    "scheduled_ms",
];

/// Status of a failed request in records (LoadGen's 599).
pub const FAILED_STATUS: u16 = 599;

/// Everything known about one finished request. Times are ns since the run's start
/// instant (0 = not reached).
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Worker (process) number.
    pub worker: u32,
    /// Global slot (thread) number.
    pub slot: u32,
    /// Round of the URL list (1-based).
    pub round: u64,
    /// Index of the entry in the URL list.
    pub index: u32,
    /// Redirects followed to get here (0 = the list entry itself).
    pub hop: u32,
    /// Method.
    pub method: &'a str,
    /// URL.
    pub url: &'a str,
    /// Status code, or [`FAILED_STATUS`].
    pub status: u16,
    /// Error class and detail of a failed request (`client-timo/first-byte`), or `aborted`.
    pub error: Option<(&'a str, &'a str)>,
    /// Reason phrase of the reply (empty for a failure).
    pub status_line: &'a str,
    /// The `Location` of a 3xx reply, when a follow iterator or hooks run (empty
    /// otherwise; not in the log).
    pub location: &'a str,
    /// Minor HTTP version of the reply (`None` before a head was read).
    pub minor_version: Option<u8>,
    /// Request started.
    pub start: u64,
    /// Connection established (or taken from the keep-alive cache).
    pub connect: u64,
    /// First byte of the reply.
    pub first_byte: u64,
    /// Reply head complete.
    pub header: u64,
    /// Reply body complete (the request's end).
    pub body: u64,
    /// Bytes of reply heads (interim ones included).
    pub header_bytes: u64,
    /// Bytes of the reply body (payload).
    pub body_bytes: u64,
    /// The address came from the run file's dnscache.
    pub dns_cached: bool,
    /// A kept-alive connection carried the request.
    pub conn_cached: bool,
    /// Pre-delay drawn for the request, ns.
    pub pre_delay: u64,
    /// Post-delay drawn after it, ns (0 in a redirect chain but the last hop).
    pub post_delay: u64,
    /// Open loop: when it was due (0 in a closed loop); `body - scheduled` is its
    /// response time.
    pub scheduled: u64,
    /// The final reply head's fields, as received (LoadGen's `RC_HEADERS`; hooks and
    /// iterators only, empty otherwise and when no head was read; not in the log).
    pub headers: Headers<'a>,
    /// The start of the reply's body payload (LoadGen's `RC_BODY`), when the hooks ask
    /// for it with [`crate::hooks::Hooks::capture_body`]: at most that many bytes
    /// (`body_bytes` counts them all). Empty otherwise; not in the log.
    pub payload: &'a [u8],
    /// The payload was longer than what `payload` kept.
    pub payload_truncated: bool,
}

/// The record of a slot's current (or last) request, from its timestamps and result.
pub fn make_record<'a>(
    plan: &'a Plan<'_>,
    slot: &'a Slot,
    worker: u32,
    start_ns: u64,
) -> Record<'a> {
    let sched = &slot.sched;
    let spec = sched.spec(plan);
    let reason = &slot.exchange.result.reason;
    let rel = |t: u64| {
        if t == 0 {
            0
        } else {
            t.saturating_sub(start_ns).max(1)
        }
    };
    let r = &slot.exchange.result;
    let error = if r.aborted {
        Some(("aborted", ""))
    } else {
        r.error.map(|f| (f.class.name(), f.detail))
    };
    let replied = error.is_none() && r.status != 0;
    let t = &slot.exchange.times;
    Record {
        worker,
        slot: slot.global,
        round: sched.walk.round,
        index: sched.cur.index,
        hop: sched.cur.hop,
        method: &spec.method,
        url: sched.url(plan),
        status: if replied { r.status } else { FAILED_STATUS },
        error,
        status_line: if replied { reason } else { "" },
        location: &r.location,
        minor_version: r.minor_version,
        start: rel(t.start),
        connect: rel(t.connected),
        first_byte: rel(t.first_byte),
        header: rel(t.head_done),
        body: if replied { rel(r.end_ns) } else { 0 },
        header_bytes: r.header_bytes,
        body_bytes: r.body_bytes,
        dns_cached: spec.target.dns_cached,
        conn_cached: slot.exchange.reused,
        pre_delay: sched.cur.pre_delay_ns,
        post_delay: r.post_delay,
        scheduled: rel(sched.due_ns().unwrap_or(0)),
        headers: Headers::new(&r.head),
        payload: &r.body,
        payload_truncated: r.body_truncated,
    }
}

/// A worker's part of the per-request log.
#[derive(Debug)]
pub struct LogWriter {
    out: BufWriter<File>,
    format: LogFormat,
    /// The first write error; later records are dropped and the report says so.
    pub error: Option<String>,
    /// Records written.
    pub written: u64,
}

/// The part file of worker `w` for the log at `path`.
pub fn part_path(path: &Path, w: u32) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".part-{w}"));
    PathBuf::from(name)
}

impl LogWriter {
    /// Creates worker `w`'s part file (truncating an old one).
    ///
    /// # Errors
    ///
    /// The error of creating the file.
    pub fn create(path: &Path, w: u32, format: LogFormat) -> io::Result<LogWriter> {
        let file = File::create(part_path(path, w))?;
        Ok(LogWriter {
            out: BufWriter::with_capacity(256 * 1024, file),
            format,
            error: None,
            written: 0,
        })
    }

    /// Appends one record.
    pub fn write(&mut self, r: &Record<'_>) {
        if self.error.is_some() {
            return;
        }
        let res = match self.format {
            LogFormat::Csv => write_csv(&mut self.out, r),
            LogFormat::Jsonl => write_json(&mut self.out, r),
        };
        match res {
            Ok(()) => self.written += 1,
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// Flushes the buffer to the part file.
    pub fn finish(&mut self) {
        if self.error.is_none()
            && let Err(e) = self.out.flush()
        {
            self.error = Some(e.to_string());
        }
    }
}

/// The CSV header line (with its newline).
pub fn csv_header() -> String {
    let mut s = COLUMNS.join(",");
    s.push('\n');
    s
}

/// Writes `ns` as milliseconds with microsecond precision (`12.345`).
fn ms(out: &mut impl Write, ns: u64) -> io::Result<()> {
    let us = ns / 1_000;
    write!(out, "{}.{:03}", us / 1_000, us % 1_000)
}

/// A relative time, or nothing when the point was not reached.
fn opt_ms(out: &mut impl Write, ns: u64, none: &str) -> io::Result<()> {
    if ns == 0 {
        out.write_all(none.as_bytes())
    } else {
        ms(out, ns)
    }
}

fn write_key(out: &mut impl Write, r: &Record<'_>) -> io::Result<()> {
    write!(out, "{:016x}\t", r.start)
}

fn csv_text(out: &mut impl Write, s: &str) -> io::Result<()> {
    if s.contains([',', '"', '\n', '\r']) {
        out.write_all(b"\"")?;
        for part in s.split_inclusive('"') {
            out.write_all(part.as_bytes())?;
            if part.ends_with('"') {
                out.write_all(b"\"")?;
            }
        }
        out.write_all(b"\"")
    } else {
        out.write_all(s.as_bytes())
    }
}

fn write_csv(out: &mut impl Write, r: &Record<'_>) -> io::Result<()> {
    write_key(out, r)?;
    write!(
        out,
        "{},{},{},{},{},",
        r.worker, r.slot, r.round, r.index, r.hop
    )?;
    csv_text(out, r.method)?;
    out.write_all(b",")?;
    csv_text(out, r.url)?;
    write!(out, ",{},", r.status)?;
    if let Some((class, detail)) = r.error {
        csv_text(out, class)?;
        if !detail.is_empty() {
            out.write_all(b"/")?;
            csv_text(out, detail)?;
        }
    }
    out.write_all(b",")?;
    csv_text(out, r.status_line)?;
    out.write_all(b",")?;
    if let Some(v) = r.minor_version {
        write!(out, "1.{v}")?;
    }
    out.write_all(b",")?;
    ms(out, r.start)?;
    for t in [r.connect, r.first_byte, r.header, r.body] {
        out.write_all(b",")?;
        opt_ms(out, t, "")?;
    }
    write!(
        out,
        ",{},{},{},{},",
        r.header_bytes, r.body_bytes, r.dns_cached as u8, r.conn_cached as u8
    )?;
    ms(out, r.pre_delay)?;
    out.write_all(b",")?;
    ms(out, r.post_delay)?;
    out.write_all(b",")?;
    opt_ms(out, r.scheduled, "")?;
    out.write_all(b"\n")
}

fn json_text(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    for c in s.chars() {
        match c {
            '"' => out.write_all(b"\\\"")?,
            '\\' => out.write_all(b"\\\\")?,
            c if (c as u32) < 0x20 || c == '\u{7f}' => write!(out, "\\u{:04x}", c as u32)?,
            c => write!(out, "{c}")?,
        }
    }
    out.write_all(b"\"")
}

fn write_json(out: &mut impl Write, r: &Record<'_>) -> io::Result<()> {
    write_key(out, r)?;
    write!(
        out,
        "{{\"worker\":{},\"slot\":{},\"round\":{},\"index\":{},\"hop\":{},\"method\":",
        r.worker, r.slot, r.round, r.index, r.hop
    )?;
    json_text(out, r.method)?;
    out.write_all(b",\"url\":")?;
    json_text(out, r.url)?;
    write!(out, ",\"status\":{},\"error\":", r.status)?;
    match r.error {
        Some((class, "")) => json_text(out, class)?,
        Some((class, detail)) => {
            out.write_all(b"\"")?;
            out.write_all(class.as_bytes())?;
            out.write_all(b"/")?;
            out.write_all(detail.as_bytes())?;
            out.write_all(b"\"")?;
        }
        None => out.write_all(b"null")?,
    }
    out.write_all(b",\"status_line\":")?;
    json_text(out, r.status_line)?;
    match r.minor_version {
        Some(v) => write!(out, ",\"http_version\":\"1.{v}\"")?,
        None => out.write_all(b",\"http_version\":null")?,
    }
    out.write_all(b",\"start_ms\":")?;
    ms(out, r.start)?;
    for (key, t) in [
        ("connect_ms", r.connect),
        ("first_byte_ms", r.first_byte),
        ("header_ms", r.header),
        ("body_ms", r.body),
    ] {
        write!(out, ",\"{key}\":")?;
        opt_ms(out, t, "null")?;
    }
    write!(
        out,
        ",\"header_bytes\":{},\"body_bytes\":{},\"dns_cached\":{},\"conn_cached\":{},\"pre_delay_ms\":",
        r.header_bytes, r.body_bytes, r.dns_cached, r.conn_cached
    )?;
    ms(out, r.pre_delay)?;
    out.write_all(b",\"post_delay_ms\":")?;
    ms(out, r.post_delay)?;
    out.write_all(b",\"scheduled_ms\":")?;
    opt_ms(out, r.scheduled, "null")?;
    out.write_all(b"}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record<'static> {
        Record {
            worker: 1,
            slot: 4,
            round: 2,
            index: 0,
            hop: 0,
            method: "GET",
            url: "http://127.0.0.1:1/a,b",
            status: 200,
            error: None,
            status_line: "OK \"fine\"",
            location: "",
            minor_version: Some(1),
            start: 1_234_567,
            connect: 1_300_000,
            first_byte: 2_000_000,
            header: 2_000_001,
            body: 3_500_000,
            header_bytes: 80,
            body_bytes: 3,
            dns_cached: false,
            conn_cached: true,
            pre_delay: 50_000_000,
            post_delay: 0,
            scheduled: 0,
            headers: Headers::default(),
            payload: b"",
            payload_truncated: false,
        }
    }

    #[test]
    fn csv_line() {
        let mut out = Vec::new();
        write_csv(&mut out, &record()).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            "000000000012d687\t1,4,2,0,0,GET,\"http://127.0.0.1:1/a,b\",200,,\"OK \"\"fine\"\"\",1.1,1.234,1.300,2.000,2.000,3.500,80,3,0,1,50.000,0.000,\n"
        );
        assert_eq!(line.split('\t').nth(1).unwrap().matches(',').count(), 23);
    }

    #[test]
    fn json_line_is_json() {
        let mut r = record();
        r.status = FAILED_STATUS;
        r.error = Some(("client-timo", "first-byte"));
        r.status_line = "";
        r.minor_version = None;
        r.first_byte = 0;
        let mut out = Vec::new();
        write_json(&mut out, &r).unwrap();
        let line = String::from_utf8(out).unwrap();
        let json = line.split_once('\t').unwrap().1;
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["status"], 599);
        assert_eq!(v["error"], "client-timo/first-byte");
        assert_eq!(v["first_byte_ms"], serde_json::Value::Null);
        assert_eq!(v["url"], "http://127.0.0.1:1/a,b");
        assert_eq!(v["pre_delay_ms"], 50.0);
        assert_eq!(v.as_object().unwrap().len(), COLUMNS.len());
    }
}
