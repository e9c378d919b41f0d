//! What `volley httperf` prints from the table of options: httperf's echo line of the
//! options in effect, and `volley httperf --help`.

use super::Args;
use super::options::{Action, OPTIONS};

/// httperf's echo of the options in effect (`httperf --client=0/1 --server=… …`), in
/// httperf's order.
pub(super) fn echo(args: &Args) -> String {
    let mut parts: Vec<(u8, String)> = OPTIONS
        .iter()
        .filter_map(|o| {
            let (place, show) = o.echo?;
            Some((place, show(args)?))
        })
        .collect();
    parts.sort_by_key(|(place, _)| *place);
    let mut line = String::from("httperf");
    for (_, part) in parts {
        line.push(' ');
        line.push_str(&part);
    }
    line
}

/// The usage text of `volley httperf --help`.
pub(super) fn help() -> String {
    let mut s = String::from("volley httperf: httperf's command line on volley's engine.\n\n");
    s.push_str(&usage_lines());
    s.push_str(
        "\nOptions may be abbreviated to any unique prefix. As in httperf, without --rate (or\n\
         with --rate 0) connections are made one after another, each carrying --num-calls\n\
         requests; with --rate they are started on that schedule (open loop), at most\n\
         rate x (timeout + think-timeout) x 1.1 at once (every session without either),\n\
         until the open-file limit: then fd-unavail, and the run is invalid.\n\n\
         Where volley differs from httperf:\n\
         \x20 --send-buffer/--recv-buffer: set only when given (httperf always sets 4096 and\n\
         \x20   16384); otherwise the kernel's sizes.\n\
         \x20 --retry-on-failure: at most 100 retries of one call (httperf has no limit).\n\
         \x20 --print-request/--print-reply: one worker unless --workers is given; call\n\
         \x20   numbers are unique over workers. The value needs '=' (--print-reply=header).\n\
         \x20 --wlog: whitespace around a URI is ignored; a URI must start with '/'.\n\
         \x20 --ssl: the server's certificate is verified (httperf never checks it): trust a\n\
         \x20   private CA with --cacert FILE, or skip the check with --insecure.\n\
         \x20 --timeout/--think-timeout: the whole reply within their sum of the request\n\
         \x20   being sent (httperf counts from the reply's first bytes).\n\
         \x20 --max-connections: a burst spread over a session's connections gives a\n\
         \x20   connection its next calls once all its pipelined calls have ended (httperf\n\
         \x20   adds each to the first connection with room). A spread burst's calls under\n\
         \x20   way when its session fails still end as replies or errors, and are not\n\
         \x20   retried. A burst one connection holds goes out pipelined with its first\n\
         \x20   call (httperf sends that one alone first). A --wsess burst over a --wlog\n\
         \x20   log stays on one connection (--max-connections above 1 is refused when it\n\
         \x20   does not fit).\n\
         \x20 --num-sessions N: httperf 0.8's name of --num-conns (httperf 0.9 refuses it),\n\
         \x20   not both; the report then names connections and requests as 0.8's did:\n\
         \x20   Total: sessions N calls N, Session rate/time/length, Call rate/size (with\n\
         \x20   --wsess or --wsesslog, which do not use it, today's words).\n\
         \x20 --client I/N: every client runs the whole workload, as in httperf (volley's\n\
         \x20   own --client takes a share); it seeds a random --period with volley's draws.\n\
         \x20 Unknown and refused options exit 2 (httperf exits 1 on an unknown one).\n\
         \x20 A reply the server's close cuts short (a FIN before its Content-Length or last\n\
         \x20   chunk) is a protocol/incomplete error; httperf counts it as a reply.\n\
         \x20 Request size, Reply size: exact means (httperf divides in whole bytes).\n\
         \x20 <=N concurrent connections: with several workers, the most open in any 10 ms,\n\
         \x20   summed over workers (an upper bound; exact with one worker).\n\
         \x20 --metrics-listen: volley's /metrics endpoint for Prometheus (as in `volley\n\
         \x20   --help`); --metrics-linger in seconds.\n\
         \x20 --call-stats N, --call-stats-file F: not in stock httperf, but in an httperf\n\
         \x20   0.8.4 build with per-call statistics: the first N calls (by start, over\n\
         \x20   workers) in its \"Call Statistics:\" table after the errors; F lists\n\
         \x20   expected sizes ('URI SIZE' lines after a count line). N from 1 to 1000000\n\
         \x20   (that build's 0, each call printed as it ends, is refused); only calls made\n\
         \x20   get rows; connections are numbered worker + k x workers.\n\n",
    );
    let mut listed = |title: &str, pick: fn(&Action) -> Option<&'static str>| {
        s.push_str(title);
        let mut lines: Vec<(&str, &str)> = OPTIONS
            .iter()
            .filter_map(|o| Some((o.name, pick(&o.action)?)))
            .collect();
        lines.sort();
        for (name, why) in lines {
            s.push_str(&format!("  --{name}: {why}\n"));
        }
    };
    listed(
        "Accepted without effect (a note says why):\n",
        |a| match a {
            Action::Note(why) => Some(why),
            _ => None,
        },
    );
    listed("Rejected (volley cannot honour them yet):\n", |a| match a {
        Action::Refuse(why) => Some(why),
        _ => None,
    });
    s
}

/// `usage: volley httperf [--server S] …`: the options' usage parts, wrapped at the width
/// of an 85-column terminal line, continuation lines indented.
fn usage_lines() -> String {
    const WIDTH: usize = 85;
    let mut out = String::new();
    let mut line = String::from("usage: volley httperf");
    for part in OPTIONS.iter().filter_map(|o| o.usage) {
        if line.len() + 1 + part.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = String::from("      ");
        }
        line.push(' ');
        line.push_str(part);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_comes_from_the_table() {
        let help = help();
        let usage: Vec<&str> = help.lines().skip(2).take_while(|l| !l.is_empty()).collect();
        assert!(usage.iter().all(|l| l.len() <= 85), "{usage:#?}");
        let usage = usage.join(" ");
        for o in OPTIONS {
            if let Some(part) = o.usage {
                assert!(usage.contains(part), "usage lacks {part}");
            }
            if let Action::Note(why) | Action::Refuse(why) = o.action {
                let line = format!("  --{}: {why}\n", o.name);
                assert!(help.contains(&line), "help lacks --{}", o.name);
            }
        }
    }

    /// httperf 0.9's long options, as its usage line lists them.
    const HTTPERF_OPTIONS: &[&str] = &[
        "add-header",
        "burst-length",
        "client",
        "close-with-reset",
        "debug",
        "failure-status",
        "help",
        "hog",
        "http-version",
        "max-connections",
        "max-piped-calls",
        "method",
        "no-host-hdr",
        "num-calls",
        "num-conns",
        "period",
        "port",
        "print-reply",
        "print-request",
        "rate",
        "recv-buffer",
        "retry-on-failure",
        "send-buffer",
        "server",
        "server-name",
        "session-cookies",
        "ssl",
        "ssl-ciphers",
        "ssl-no-reuse",
        "think-timeout",
        "timeout",
        "uri",
        "verbose",
        "version",
        "wlog",
        "wsess",
        "wsesslog",
        "wset",
    ];

    #[test]
    fn the_usage_lists_every_option_httperf_has() {
        let usage = usage_lines();
        for name in HTTPERF_OPTIONS {
            let shown = format!("--{name}");
            let listed = usage
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .any(|w| w == shown);
            assert!(listed, "the usage line lacks {shown}:\n{usage}");
            assert!(
                OPTIONS.iter().any(|o| o.name == *name),
                "no entry for {shown}"
            );
        }
    }

    #[test]
    fn the_echo_shows_httperfs_defaults() {
        let echo = echo(&Args::default());
        assert_eq!(
            echo,
            "httperf --client=0/1 --server=localhost --port=80 --uri=/ --num-conns=1 \
             --num-calls=1"
        );
    }
}
