//! Every httperf option, one [`Opt`] each: its name, whether it takes a value, its part
//! of the usage line, what it does (sets [`Args`], or is accepted with a note, or is
//! refused) and its part of httperf's echo line. The parser and its unique-prefix lookup
//! (in the parent module), `volley httperf --help` and the echo line (in `text`) all read
//! [`OPTIONS`]: adding an option is adding an entry.

use std::time::Duration;

use super::workload::Sessions;
use super::{Args, Schedule, Wlog, logs};
use crate::builder::MAX_PIPELINE;
use crate::error::ConfigError;
use crate::spec::PrintParts;
use crate::values::{ClientArg, HeaderArg, PeriodArg, RateArg, is_token};

pub(super) use super::opt::{Action, Arity, Opt, Value};

/// Most calls `--call-stats` keeps (each worker holds up to that many entries of about
/// 80 bytes).
pub(super) const MAX_CALL_STATS: u32 = 1_000_000;

/// Largest `--send-buffer`/`--recv-buffer` accepted (1 GiB).
pub(super) const MAX_SOCKET_BUFFER: u32 = 1 << 30;

/// Every long option of httperf 0.9 (and 0.8's `--num-sessions`), plus volley's `--workers`,
/// `--json` and `--metrics-*`, in the order
/// of the usage line; options without one follow.
pub(super) const OPTIONS: &[Opt] = &[
    Opt {
        name: "server",
        usage: Some("[--server S]"),
        echo: Some((6, |a| Some(format!("--server={}", a.server)))),
        action: Action::Set(|a, v| {
            // httperf takes a host name or address. User info ('user:pw@host') is no part
            // of it, and its password must not be echoed in the refusal.
            if v.text.contains('@') {
                let masked = Value {
                    name: v.name,
                    text: &crate::redact::mask_authority(v.text),
                };
                return Err(masked.refuse("a host name or address; user info is not supported"));
            }
            a.server = v.text.to_string();
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "port",
        usage: Some("[--port N]"),
        echo: Some((7, |a| Some(format!("--port={}", a.port())))),
        action: Action::Set(|a, v| {
            let port = v.text.parse().ok().filter(|&p| p > 0);
            a.port = Some(port.ok_or_else(|| v.refuse("a port number 1-65535"))?);
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "uri",
        usage: Some("[--uri S]"),
        echo: Some((8, |a| Some(format!("--uri={}", a.uri)))),
        action: Action::Set(|a, v| {
            if !v.text.starts_with('/') || v.text.bytes().any(|b| b <= b' ' || b == 0x7f) {
                return Err(v.refuse("a path starting with '/' without spaces"));
            }
            a.uri = v.text.to_string();
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "method",
        usage: Some("[--method S]"),
        action: Action::Set(|a, v| {
            if !is_token(v.text) {
                return Err(v.refuse("an HTTP method token"));
            }
            a.method = v.text.to_string();
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "add-header",
        usage: Some("[--add-header S]"),
        action: Action::Set(|a, v| {
            // httperf takes "Name: value\n" (several, separated by \n, with C escapes).
            for line in v.text.replace("\\n", "\n").replace("\\r", "").split('\n') {
                let line = line.trim_end_matches('\r');
                if line.trim().is_empty() {
                    continue;
                }
                let h: HeaderArg = line.parse().map_err(|e: String| v.refuse(&e))?;
                a.headers.push((h.name, h.value));
            }
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "num-conns",
        usage: Some("[--num-conns N]"),
        // Shown under the name given: `--num-sessions=N` when that one was.
        echo: Some((21, |a| {
            let name = a.conns_name.unwrap_or("num-conns");
            Some(format!("--{name}={}", a.num_conns))
        })),
        action: Action::Set(num_conns),
        ..VALUE
    },
    // httperf 0.8's name of --num-conns (its README's example runs it), when its report
    // said sessions and calls for connections and requests: the report says so too.
    Opt {
        name: "num-sessions",
        action: Action::Set(num_conns),
        ..VALUE
    },
    Opt {
        name: "num-calls",
        usage: Some("[--num-calls N]"),
        echo: Some((22, |a| Some(format!("--num-calls={}", a.num_calls)))),
        action: Action::Set(|a, v| {
            a.num_calls = v.positive()?;
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "rate",
        usage: Some("[--rate X | --period [d|u|e|v]T1[,T2...]]"),
        echo: Some((11, |a| match &a.schedule {
            Some(Schedule::Rate(r)) => Some(format!("--rate={}", r.arrival().mean_rate())),
            _ => None,
        })),
        action: Action::Set(|a, v| {
            let r: f64 = v
                .text
                .trim()
                .parse()
                .map_err(|_| v.refuse("a rate in connections per second"))?;
            // httperf's rate 0: no schedule, connections one after another.
            a.schedule = if r == 0.0 {
                None
            } else {
                let rate = v.text.parse::<RateArg>().map_err(|e| v.refuse(&e))?;
                Some(Schedule::Rate(rate))
            };
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "period",
        echo: Some((11, |a| match &a.schedule {
            Some(Schedule::Period(_, text)) => Some(format!("--period={text}")),
            _ => None,
        })),
        action: Action::Set(|a, v| {
            let p: PeriodArg = v.text.parse().map_err(|e: String| v.refuse(&e))?;
            a.schedule = Some(Schedule::Period(p, v.text.to_string()));
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "timeout",
        usage: Some("[--timeout X]"),
        echo: Some((3, |a| {
            let t = a.timeout?;
            Some(format!("--timeout={}", t.as_secs_f64()))
        })),
        action: Action::Set(|a, v| {
            a.timeout = Some(v.seconds()?).filter(|d| !d.is_zero());
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "think-timeout",
        usage: Some("[--think-timeout X]"),
        echo: Some((4, |a| {
            let think = (!a.think.is_zero()).then_some(a.think)?;
            Some(format!("--think-timeout={}", think.as_secs_f64()))
        })),
        action: Action::Set(|a, v| {
            a.think = v.seconds()?;
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "client",
        usage: Some("[--client I/N]"),
        echo: Some((5, |a| {
            Some(format!("--client={}/{}", a.client.0, a.client.1))
        })),
        action: Action::Set(|a, v| {
            let share = v.text.parse::<ClientArg>();
            a.client = share.map_err(|_| v.refuse("I/N with 0 <= I < N"))?;
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "http-version",
        usage: Some("[--http-version 1.0|1.1]"),
        echo: Some((10, |a| a.http10.then(|| "--http-version=1.0".to_string()))),
        action: Action::Set(|a, v| {
            a.http10 = match v.text.trim() {
                "1.1" => false,
                "1.0" => true,
                _ => return Err(v.refuse("1.0 or 1.1")),
            };
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "wsess",
        usage: Some("[--wsess N,C,T | --wsesslog N,X,FILE]"),
        action: Action::Set(|a, v| {
            a.sessions = Some(Sessions::uniform(v.text).ok_or_else(|| {
                v.refuse("N,C,T: sessions, calls per session, think time in seconds")
            })?);
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "wsesslog",
        action: Action::Set(|a, v| {
            let mut parts = v.text.splitn(3, ',');
            let (n, x, file) = (parts.next(), parts.next(), parts.next());
            let parsed = (|| {
                let n = n?.trim().parse::<u64>().ok()?;
                Some((n, x?.trim().parse::<f64>().ok()?, file?))
            })();
            let Some((n, x, file)) =
                parsed.filter(|(n, x, f)| *n > 0 && x.is_finite() && *x >= 0.0 && !f.is_empty())
            else {
                let allowed = "N,X,FILE: sessions, default think time in seconds, session log";
                return Err(v.refuse(allowed));
            };
            let log = logs::read_wsesslog(file, Duration::from_secs_f64(x))?;
            a.sessions = Some(Sessions::Log { n, log });
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "wlog",
        usage: Some("[--wlog y|n,FILE]"),
        echo: Some((23, |a| Some(format!("--wlog={}", a.wlog.as_ref()?.given)))),
        action: Action::Set(|a, v| {
            let (wrap, file) = match v.text.split_once(',') {
                Some((b, f)) if !f.is_empty() => (b.trim().starts_with(['y', 'Y']), f),
                _ => return Err(v.refuse("B,FILE: y or n (wrap around), URI file")),
            };
            let uris = logs::read_wlog(file)?;
            let given = v.text.to_string();
            a.wlog = Some(Wlog { wrap, uris, given });
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "burst-length",
        usage: Some("[--burst-length N]"),
        action: Action::Set(|a, v| {
            let n = v
                .text
                .parse()
                .ok()
                .filter(|n| (1..=MAX_PIPELINE).contains(n));
            a.burst = n.ok_or_else(|| v.refuse("a count from 1 to 1000"))?;
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "max-piped-calls",
        usage: Some("[--max-piped-calls N]"),
        action: Action::Set(|a, v| {
            a.max_piped = Some(v.positive()?);
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "print-request",
        arity: Arity::OptValue,
        usage: Some("[--print-request[=header|body]]"),
        echo: Some((2, |a| {
            Some(format!("--print-request{}", shown(a.print.request?)))
        })),
        action: Action::Set(|a, v| {
            a.print.request = Some(parts(v.text));
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "print-reply",
        arity: Arity::OptValue,
        usage: Some("[--print-reply[=header|body]]"),
        echo: Some((1, |a| {
            Some(format!("--print-reply{}", shown(a.print.reply?)))
        })),
        action: Action::Set(|a, v| {
            a.print.reply = Some(parts(v.text));
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "failure-status",
        usage: Some("[--failure-status N]"),
        echo: Some((18, |a| {
            Some(format!("--failure-status={}", a.rules.failure_status?))
        })),
        action: Action::Set(|a, v| {
            let status = v
                .text
                .trim()
                .parse()
                .ok()
                .filter(|s| (100..=999).contains(s));
            let status = status.ok_or_else(|| v.refuse("a status code from 100 to 999"))?;
            a.rules.failure_status = Some(status);
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "retry-on-failure",
        usage: Some("[--retry-on-failure]"),
        echo: Some((17, |a| {
            switch(a.rules.retry_on_failure, "--retry-on-failure")
        })),
        action: Action::Switch(|a| a.rules.retry_on_failure = true),
        ..FLAG
    },
    Opt {
        name: "session-cookies",
        usage: Some("[--session-cookies]"),
        echo: Some((19, |a| switch(a.rules.cookies, "--session-cookies"))),
        action: Action::Switch(|a| a.rules.cookies = true),
        ..FLAG
    },
    // Set only when given: httperf always sets 4096 and 16384, which would throttle
    // large replies, so volley leaves the kernel's sizes alone otherwise (and echoes
    // them only when given).
    Opt {
        name: "send-buffer",
        usage: Some("[--send-buffer N]"),
        echo: Some((12, |a| {
            Some(format!("--send-buffer={}", a.socket.send_buffer?))
        })),
        action: Action::Set(|a, v| {
            a.socket.send_buffer = Some(buffer(v)?);
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "recv-buffer",
        usage: Some("[--recv-buffer N]"),
        echo: Some((13, |a| {
            Some(format!("--recv-buffer={}", a.socket.recv_buffer?))
        })),
        action: Action::Set(|a, v| {
            a.socket.recv_buffer = Some(buffer(v)?);
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "ssl",
        usage: Some("[--ssl [--ssl-no-reuse] [--cacert FILE] [--insecure]]"),
        echo: Some((15, |a| switch(a.ssl, "--ssl"))),
        action: Action::Switch(|a| a.ssl = true),
        ..FLAG
    },
    Opt {
        name: "ssl-no-reuse",
        echo: Some((16, |a| switch(a.ssl && a.ssl_no_reuse, "--ssl-no-reuse"))),
        action: Action::Switch(|a| a.ssl_no_reuse = true),
        ..FLAG
    },
    Opt {
        name: "cacert",
        action: Action::Set(|a, v| {
            a.cacert.push(v.text.into());
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "insecure",
        action: Action::Switch(|a| a.insecure = true),
        ..FLAG
    },
    // Not in stock httperf: the options of an httperf 0.8.4 build with per-call
    // statistics (the "Call Statistics:" table). Its echo shows both, the file empty
    // when not given.
    Opt {
        name: "call-stats",
        usage: Some("[--call-stats N [--call-stats-file F]]"),
        echo: Some((20, |a| {
            let n = a.call_stats?;
            let file = a.call_stats_file.as_ref().map_or("", |(f, _)| f.as_str());
            Some(format!("--call-stats={n} --call-stats-file={file}"))
        })),
        action: Action::Set(|a, v| {
            let n = v.text.trim().parse::<u32>().ok();
            let n = n.filter(|n| (1..=MAX_CALL_STATS).contains(n));
            a.call_stats = Some(n.ok_or_else(|| {
                v.refuse("a count of calls from 1 to 1000000 (0, printing each call as it ends, is not supported)")
            })?);
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "call-stats-file",
        action: Action::Set(|a, v| {
            let sizes = logs::read_sizes(v.text)?;
            a.call_stats_file = Some((v.text.to_string(), sizes));
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "workers",
        usage: Some("[--workers N]"),
        action: Action::Set(|a, v| {
            a.workers = Some(v.positive()?);
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "json",
        usage: Some("[--json]"),
        action: Action::Switch(|a| a.json = true),
        ..FLAG
    },
    Opt {
        name: "metrics-listen",
        usage: Some("[--metrics-listen IP:PORT [--metrics-linger S] [--metrics-listen-any]]"),
        action: Action::Set(|a, v| {
            let addr = v
                .text
                .parse()
                .map_err(|_| v.refuse("IP:PORT, such as 127.0.0.1:9464"))?;
            a.metrics_listen = Some(addr);
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "metrics-linger",
        action: Action::Set(|a, v| {
            a.metrics_linger = Some(v.seconds()?);
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "metrics-listen-any",
        action: Action::Switch(|a| a.metrics_listen_any = true),
        ..FLAG
    },
    Opt {
        name: "server-name",
        usage: Some("[--server-name S]"),
        echo: Some((9, |a| {
            Some(format!("--server-name={}", a.server_name.as_ref()?))
        })),
        action: Action::Set(|a, v| {
            if v.text.is_empty() || v.text.bytes().any(|b| b <= b' ' || b == 0x7f) {
                return Err(v.refuse("a host name for the Host header"));
            }
            a.server_name = Some(v.text.to_string());
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "close-with-reset",
        usage: Some("[--close-with-reset]"),
        echo: Some((14, |a| {
            switch(a.socket.reset_on_close, "--close-with-reset")
        })),
        action: Action::Switch(|a| a.socket.reset_on_close = true),
        ..FLAG
    },
    Opt {
        name: "help",
        short: Some('h'),
        usage: Some("[-h|--help]"),
        action: Action::Set(|_, _| Err(ConfigError::Help(super::text::help()))),
        ..FLAG
    },
    Opt {
        name: "version",
        short: Some('V'),
        usage: Some("[-V|--version]"),
        action: Action::Set(|_, _| {
            let version = format!(
                "volley {} (httperf command line)\n",
                env!("CARGO_PKG_VERSION")
            );
            Err(ConfigError::Help(version))
        }),
        ..FLAG
    },
    Opt {
        name: "hog",
        usage: Some("[--hog]"),
        action: Action::Note("volley lets the kernel choose source ports; there is nothing to hog"),
        ..FLAG
    },
    Opt {
        name: "max-connections",
        usage: Some("[--max-connections N]"),
        // Checked against the session workload once every option is read (`check`).
        action: Action::Set(|a, v| {
            a.max_conns = Some(v.positive()?);
            Ok(())
        }),
        ..VALUE
    },
    Opt {
        name: "verbose",
        short: Some('v'),
        usage: Some("[-v|--verbose]"),
        action: Action::Note("volley's report always has its full statistics"),
        ..FLAG
    },
    Opt {
        name: "debug",
        short: Some('d'),
        usage: Some("[-d|--debug N]"),
        action: Action::Refuse("httperf's debug output has no volley equivalent"),
        ..VALUE
    },
    Opt {
        name: "no-host-hdr",
        usage: Some("[--no-host-hdr]"),
        action: Action::Refuse(
            "HTTP/1.1 requires Host: volley always sends one (see --server-name)",
        ),
        ..FLAG
    },
    Opt {
        name: "ssl-ciphers",
        usage: Some("[--ssl-ciphers L]"),
        action: Action::Refuse(
            "cipher lists are OpenSSL's; volley uses rustls' safe default suites",
        ),
        ..VALUE
    },
    Opt {
        name: "wset",
        usage: Some("[--wset N,X]"),
        action: Action::Refuse("working sets"),
        ..VALUE
    },
];

/// The fields every entry above starts from: a switch…
const FLAG: Opt = Opt {
    name: "",
    short: None,
    arity: Arity::Flag,
    usage: None,
    action: Action::Refuse(""),
    echo: None,
};

/// …or an option with a value.
const VALUE: Opt = Opt {
    arity: Arity::Value,
    ..FLAG
};

/// `--print-request`/`--print-reply`'s value: `header`, `body` (their first letter is
/// enough, as in httperf), or both when there is none.
fn parts(text: &str) -> PrintParts {
    match text.chars().next() {
        Some('h' | 'H') => PrintParts::Header,
        Some('b' | 'B') => PrintParts::Body,
        _ => PrintParts::Both,
    }
}

/// How the echo line shows [`parts`].
fn shown(parts: PrintParts) -> &'static str {
    match parts {
        PrintParts::Header => "=header",
        PrintParts::Body => "=body",
        PrintParts::Both => "",
    }
}

/// An echoed switch.
fn switch(on: bool, text: &str) -> Option<String> {
    on.then(|| text.to_string())
}

/// `--num-conns N`, or `--num-sessions N` (its name in httperf 0.8): one count under
/// either name, not both.
fn num_conns(a: &mut Args, v: &Value<'_>) -> Result<(), ConfigError> {
    if a.conns_name.is_some_and(|name| name != v.name) {
        return Err(ConfigError::message(
            "volley httperf: --num-sessions and --num-conns are one count (--num-sessions \
             is httperf 0.8's name of --num-conns): give one of them",
        ));
    }
    a.num_conns = v.positive()?;
    a.conns_name = Some(v.name);
    Ok(())
}

/// A socket buffer size.
fn buffer(v: &Value<'_>) -> Result<u32, ConfigError> {
    let n = v.text.trim().parse::<u32>().ok();
    let n = n.filter(|n| (1..=MAX_SOCKET_BUFFER).contains(n));
    n.ok_or_else(|| v.refuse("a size in bytes from 1 to 1073741824"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_whole() {
        let mut names: Vec<&str> = OPTIONS.iter().map(|o| o.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), OPTIONS.len(), "a name twice");
        let shorts: Vec<char> = OPTIONS.iter().filter_map(|o| o.short).collect();
        assert!(
            shorts
                .iter()
                .all(|c| shorts.iter().filter(|d| *d == c).count() == 1)
        );
        let mut places = Vec::new();
        for o in OPTIONS {
            assert!(!o.name.is_empty() && !o.name.starts_with('-'), "{}", o.name);
            if let Action::Note(why) | Action::Refuse(why) = o.action {
                assert!(!why.is_empty(), "--{} needs its reason", o.name);
            }
            if let Some((place, _)) = o.echo {
                places.push((place, o.name));
            }
        }
        places.sort();
        for pair in places.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            // --rate and --period share one place: only the last given is echoed.
            let shared = a.1 == "period" && b.1 == "rate";
            assert!(a.0 != b.0 || shared, "{a:?} and {b:?} share an echo place");
        }
    }
}
