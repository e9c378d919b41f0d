//! httperf's two workload logs: the URI log of `--wlog` and the session log of
//! `--wsesslog`, read whole (under [`crate::files::MAX_LOG_BYTES`]) before the run.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::error::ConfigError;
use crate::values::is_token;

/// Reads the URI log `file` given to `--wlog` (see [`parse_wlog`]).
///
/// # Errors
///
/// [`ConfigError::File`] when it cannot be read, [`ConfigError::RunFile`] (line 1) for
/// what [`parse_wlog`] refuses.
pub(super) fn read_wlog(file: &str) -> Result<Vec<String>, ConfigError> {
    let bytes = crate::files::read_capped(
        Path::new(file),
        crate::files::MAX_LOG_BYTES,
        crate::files::URI_LOG,
    )
    .map_err(|source| ConfigError::File {
        flag: "--wlog",
        path: file.to_string(),
        source,
    })?;
    parse_wlog(&bytes).map_err(|message| ConfigError::run_file(file, 1, 1, &message))
}

/// Reads the session log `file` given to `--wsesslog` (see [`parse_wsesslog`]).
///
/// # Errors
///
/// [`ConfigError::File`] when it cannot be read or is not UTF-8,
/// [`ConfigError::RunFile`] naming the line [`parse_wsesslog`] refuses.
pub(super) fn read_wsesslog(
    file: &str,
    default_think: Duration,
) -> Result<Vec<Vec<LogRequest>>, ConfigError> {
    let text = crate::files::read_capped(
        Path::new(file),
        crate::files::MAX_LOG_BYTES,
        crate::files::SESSION_LOG,
    )
    .and_then(|bytes| {
        String::from_utf8(bytes).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text")
        })
    })
    .map_err(|source| ConfigError::File {
        flag: "--wsesslog",
        path: file.to_string(),
        source,
    })?;
    parse_wsesslog(&text, default_think)
        .map_err(|(line, message)| ConfigError::run_file(file, line, 1, &message))
}

/// Parses an httperf URI log (`--wlog`): URIs separated by NUL bytes. Whitespace around
/// an entry is dropped (so a log made with `tr '\n' '\0'` works) and empty entries are
/// skipped, as httperf skips them.
///
/// # Errors
///
/// A message naming the entry for a URI that does not start with `/` or holds a space
/// or control byte, or for a log without URIs.
pub(super) fn parse_wlog(bytes: &[u8]) -> Result<Vec<String>, String> {
    if bytes.is_empty() {
        return Err("the URI log is empty".into());
    }
    let mut uris = Vec::new();
    for (i, raw) in bytes.split(|&b| b == 0).enumerate() {
        let entry = raw.trim_ascii();
        if entry.is_empty() {
            continue;
        }
        let shown = String::from_utf8_lossy(&entry[..entry.len().min(60)]).into_owned();
        if entry[0] != b'/' || entry.iter().any(|&b| b <= b' ' || b == 0x7f) {
            return Err(format!(
                "entry {} ('{shown}') is not a URI starting with '/' without spaces or \
                 control bytes (entries are separated by NUL bytes)",
                i + 1
            ));
        }
        match std::str::from_utf8(entry) {
            Ok(u) => uris.push(u.to_string()),
            Err(_) => return Err(format!("entry {} ('{shown}') is not UTF-8", i + 1)),
        }
    }
    if uris.is_empty() {
        return Err("the URI log has no URIs".into());
    }
    Ok(uris)
}

/// Reads the file of expected sizes given to `--call-stats-file` (see
/// [`parse_sizes`]).
///
/// # Errors
///
/// [`ConfigError::File`] when it cannot be read or is not UTF-8,
/// [`ConfigError::RunFile`] naming the line [`parse_sizes`] refuses.
pub(super) fn read_sizes(file: &str) -> Result<BTreeMap<String, u64>, ConfigError> {
    let text = crate::files::read_capped(
        Path::new(file),
        crate::files::MAX_LOG_BYTES,
        crate::files::SIZES_FILE,
    )
    .and_then(|bytes| {
        String::from_utf8(bytes).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text")
        })
    })
    .map_err(|source| ConfigError::File {
        flag: "--call-stats-file",
        path: file.to_string(),
        source,
    })?;
    parse_sizes(&text).map_err(|(line, message)| ConfigError::run_file(file, line, 1, &message))
}

/// Parses the expected sizes of `--call-stats-file`, in the format of the httperf build
/// that has the option: a first line with the number of entries, then one `URI SIZE`
/// line (SIZE in bytes) per entry. Blank lines are skipped; a URI given twice keeps its
/// last size.
///
/// # Errors
///
/// `(line, message)` for a first line that is not a count, a malformed entry, or fewer
/// or more entries than the count.
pub(super) fn parse_sizes(text: &str) -> Result<BTreeMap<String, u64>, (usize, String)> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    let Some((first, count)) = lines.next() else {
        return Err((
            1,
            "the file is empty: its first line is the number of entries".into(),
        ));
    };
    let count: usize = count
        .parse()
        .map_err(|_| (first, format!("'{count}' is not the number of entries")))?;
    let mut sizes = BTreeMap::new();
    let mut entries = 0;
    for (line, l) in lines {
        if entries == count {
            return Err((
                line,
                format!("more entries than the {count} the first line gives"),
            ));
        }
        let mut parts = l.split_whitespace();
        let parsed = match (parts.next(), parts.next(), parts.next()) {
            (Some(uri), Some(size), None) => size.parse::<u64>().ok().map(|n| (uri, n)),
            _ => None,
        };
        let Some((uri, size)) = parsed else {
            return Err((line, "not 'URI SIZE' (SIZE in bytes)".into()));
        };
        sizes.insert(uri.to_string(), size);
        entries += 1;
    }
    if entries < count {
        return Err((first, format!("{count} entries announced, {entries} given")));
    }
    Ok(sizes)
}

/// One request of a session log.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LogRequest {
    /// Path and query.
    pub uri: String,
    /// Method (`method=`, default GET).
    pub method: String,
    /// Body (`contents=`).
    pub body: Vec<u8>,
    /// Think time after it: the burst's `think=` (or the default) on a burst's last
    /// request, zero inside a burst.
    pub think: Duration,
    /// An indented line: part of the burst of the line above.
    pub burst_member: bool,
}

/// Parses an httperf session log: sessions separated by blank lines; a line is
/// `URI [method=M] [contents=STRING] [think=X]` (STRING may be quoted with ' or "); an
/// indented line belongs to the burst of the line above; `#` starts a comment line. The
/// think time follows a burst (its first line's `think=`, else `default_think`).
///
/// # Errors
///
/// `(line, message)` for a malformed line or an empty log.
pub(super) fn parse_wsesslog(
    text: &str,
    default_think: Duration,
) -> Result<Vec<Vec<LogRequest>>, (usize, String)> {
    let mut sessions: Vec<Vec<LogRequest>> = vec![Vec::new()];
    let mut burst_think = default_think;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        if raw.trim_start().starts_with('#') {
            continue;
        }
        if raw.trim().is_empty() {
            if !sessions.last().expect("never empty").is_empty() {
                sessions.push(Vec::new());
            }
            continue;
        }
        let (mut req, think) = log_line(raw).map_err(|why| (line_no, why))?;
        let session = sessions.last_mut().expect("never empty");
        if req.burst_member {
            if session.is_empty() {
                let why = "an indented line must follow a burst's first line";
                return Err((line_no, why.into()));
            }
            // The think time follows the burst: move it to the burst's newest request.
            if let Some(last) = session.last_mut() {
                last.think = Duration::ZERO;
            }
        } else {
            burst_think = think.unwrap_or(default_think);
        }
        req.think = burst_think;
        session.push(req);
    }
    sessions.retain(|s| !s.is_empty());
    if sessions.is_empty() {
        return Err((1, "the session log has no requests".into()));
    }
    Ok(sessions)
}

/// One non-blank line of a session log: the request (think time not yet set) and the
/// line's own `think=`, if any.
fn log_line(raw: &str) -> Result<(LogRequest, Option<Duration>), String> {
    let mut rest = raw.trim();
    let uri_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let uri = &rest[..uri_end];
    if !uri.starts_with('/') {
        return Err(format!("'{uri}' is not a URI starting with '/'"));
    }
    rest = rest[uri_end..].trim_start();
    let mut req = LogRequest {
        uri: uri.to_string(),
        method: "GET".into(),
        body: Vec::new(),
        think: Duration::ZERO,
        burst_member: raw.starts_with([' ', '\t']),
    };
    let mut think = None;
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, found '{rest}'"))?;
        let (value, next) = match after.chars().next() {
            Some(q @ ('\'' | '"')) => {
                let close = after[1..]
                    .find(q)
                    .ok_or_else(|| format!("unterminated {q}-quoted value"))?;
                (&after[1..1 + close], &after[close + 2..])
            }
            _ => {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        match key.trim() {
            "method" if is_token(value) => req.method = value.to_string(),
            "method" => return Err(format!("'{value}' is not a method token")),
            "contents" => req.body = value.replace("\\n", "\n").into_bytes(),
            "think" => {
                let t: f64 = value
                    .parse()
                    .ok()
                    .filter(|t: &f64| t.is_finite() && *t >= 0.0)
                    .ok_or_else(|| format!("think={value}: not a number of seconds"))?;
                think = Some(Duration::from_secs_f64(t));
            }
            other => {
                return Err(format!(
                    "unknown attribute '{other}' (method, contents, think)"
                ));
            }
        }
        rest = next.trim_start();
    }
    Ok((req, think))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_file_is_a_count_then_uri_size_lines() {
        let sizes = parse_sizes("2\n/docs/1B.txt 1\n\n/big 1048576\n").unwrap();
        assert_eq!(sizes.get("/docs/1B.txt"), Some(&1));
        assert_eq!(sizes.get("/big"), Some(&1_048_576));
        assert_eq!(parse_sizes("").unwrap_err().0, 1);
        assert!(
            parse_sizes("two\n")
                .unwrap_err()
                .1
                .contains("number of entries")
        );
        assert_eq!(parse_sizes("1\n/a x\n").unwrap_err().0, 2);
        assert_eq!(parse_sizes("1\n/a 1\n/b 2\n").unwrap_err().0, 3);
        assert!(
            parse_sizes("3\n/a 1\n")
                .unwrap_err()
                .1
                .contains("3 entries")
        );
    }

    #[test]
    fn wlog_entries() {
        assert_eq!(parse_wlog(b"/a\0\0 /b?x=1 \0\n").unwrap(), ["/a", "/b?x=1"]);
        assert!(parse_wlog(b"").unwrap_err().contains("empty"));
        assert!(parse_wlog(b"\0\0").unwrap_err().contains("no URIs"));
        assert!(parse_wlog(b"/a\0/b c\0").unwrap_err().contains("entry 2"));
    }

    #[test]
    fn session_logs() {
        let log = "# comment\n/a.html think=2\n  /a1.gif\n  /a2.gif\n/b method=POST contents='x y'\n\n\n/c\n";
        let s = parse_wsesslog(log, Duration::from_millis(500)).unwrap();
        assert_eq!(s.len(), 2);
        let uris: Vec<&str> = s[0].iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(uris, ["/a.html", "/a1.gif", "/a2.gif", "/b"]);
        let thinks: Vec<u128> = s[0].iter().map(|r| r.think.as_millis()).collect();
        assert_eq!(thinks, [0, 0, 2000, 500], "think follows the burst");
        assert_eq!(
            (s[0][3].method.as_str(), s[0][3].body.as_slice()),
            ("POST", &b"x y"[..])
        );
        assert!(s[0][1].burst_member && !s[0][0].burst_member);
        assert_eq!(s[1][0].uri, "/c");
        assert_eq!(parse_wsesslog("nope\n", Duration::ZERO).unwrap_err().0, 1);
        assert_eq!(
            parse_wsesslog("/a\n/b colour=red\n", Duration::ZERO)
                .unwrap_err()
                .0,
            2
        );
        assert_eq!(parse_wsesslog("  /a\n", Duration::ZERO).unwrap_err().0, 1);
        assert!(parse_wsesslog("# only\n", Duration::ZERO).is_err());
    }
}
