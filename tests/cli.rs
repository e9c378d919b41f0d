//! Bad input on the command line: a clear message naming the flag, exit code 2. Files over
//! their cap, control bytes in header values and URL credentials included: the message
//! never shows a password or a raw control byte.

use std::time::Duration;

use volley_testsupport::{Output, Reply, Scratch, ServerConfig, TestServer};

use crate::volley;

fn usage_error(args: &[&str], must_mention: &[&str]) -> Output {
    let out = volley().args(args.iter().copied()).run();
    assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
    for m in must_mention {
        assert!(
            out.stderr.contains(m),
            "{args:?}: stderr lacks {m:?}: {}",
            out.stderr
        );
    }
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    out
}

/// A usage error whose output shows no raw control byte (they are escaped as `\x01`).
fn usage_error_escaped(args: &[&str], must_mention: &[&str]) {
    let out = usage_error(args, must_mention);
    let raw = |s: &str| s.contains(|c: char| c.is_control() && c != '\n');
    assert!(!raw(&out.stderr), "{args:?}: {:?}", out.stderr);
}

/// A usage error that masks a URL's password: `user:***@` shown, `secret` nowhere.
fn usage_error_masked(args: &[&str], must_mention: &[&str]) {
    let out = usage_error(args, &[must_mention, &["user:***@"]].concat());
    for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !text.contains("secret"),
            "{args:?}: {name} shows it: {text}"
        );
    }
}

#[test]
fn bad_values_name_the_flag_and_exit_2() {
    usage_error(&["http://127.0.0.1:1/", "-c", "0"], &["--concurrency", "0"]);
    usage_error(
        &["http://127.0.0.1:1/", "-c", "2", "-w", "3"],
        &["--workers", "3"],
    );
    usage_error(
        &["http://127.0.0.1:1/", "-d", "soon"],
        &["--duration", "soon"],
    );
    usage_error(&["http://127.0.0.1:1/", "-n", "0"], &["--requests"]);
    usage_error(&["http://127.0.0.1:1/", "-H", "NoColon"], &["--header"]);
    usage_error(&["http://127.0.0.1:1/", "--timeout", "0"], &["--timeout"]);
    usage_error(
        &["http://127.0.0.1:1/", "--body", "@/nonexistent/body"],
        &["--body"],
    );
    usage_error(&["ftp://127.0.0.1/"], &["URL", "ftp"]);
    usage_error(&[], &["URL"]);
}

#[test]
fn help_and_version_exit_0() {
    let out = volley().arg("--help").run();
    assert_eq!(out.code, Some(0));
    for flag in [
        "--workers",
        "--concurrency",
        "--ramp-start",
        "--timeout",
        "--json",
        "Exit codes",
    ] {
        assert!(out.stdout.contains(flag), "help lacks {flag}");
    }
    assert_eq!(volley().arg("--version").run().code, Some(0));
}

#[test]
fn files_over_their_cap_are_refused_quickly() {
    // An unbounded read of /dev/zero grew until the kernel killed volley.
    let out = volley()
        .args(["http://127.0.0.1:1/", "--body", "@/dev/zero"])
        .deadline(Duration::from_secs(20))
        .run();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    for m in ["--body", "/dev/zero", "64 MiB"] {
        assert!(out.stderr.contains(m), "lacks {m:?}: {}", out.stderr);
    }

    let dir = Scratch::new("caps");
    let run = dir.file(
        "body.toml",
        "[[request]]\nurl = \"http://127.0.0.1:1/\"\nbody = \"@/dev/zero\"\n",
    );
    let run = run.to_str().unwrap();
    usage_error(&["run", run], &[&format!("{run}:3:8: body"), "64 MiB"]);

    // Sparse: refused for its size, without 16 MiB written or read.
    let big = dir.path("big.toml");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((16 << 20) + 1)
        .unwrap();
    usage_error(&["run", big.to_str().unwrap()], &["big.toml", "16 MiB"]);

    let log = dir.path("sessions.log");
    std::fs::File::create(&log)
        .unwrap()
        .set_len((256 << 20) + 1)
        .unwrap();
    let wsesslog = format!("--wsesslog=1,0,{}", log.display());
    usage_error(
        &["httperf", "--server=127.0.0.1", &wsesslog],
        &["--wsesslog", "256 MiB"],
    );
    usage_error(
        &["httperf", "--server=127.0.0.1", "--wlog=n,/dev/zero"],
        &["--wlog", "256 MiB"],
    );
}

#[test]
fn control_bytes_in_header_values_are_refused() {
    usage_error_escaped(
        &["http://127.0.0.1:1/", "-H", "X-Ctl: a\x01b"],
        &["--header", "'X-Ctl'", "\\x01"],
    );
    usage_error_escaped(
        &["http://127.0.0.1:1/", "-H", "X-Ctl: \x1b[2J"],
        &["--header", "\\x1b"],
    );
    usage_error_escaped(
        &[
            "httperf",
            "--server=127.0.0.1",
            "--add-header=X-Ctl: a\x7fb",
        ],
        &["--add-header", "'X-Ctl'", "\\x7f"],
    );
    let dir = Scratch::new("ctl");
    let run = dir.file(
        "run.toml",
        "[[request]]\nurl = \"http://127.0.0.1:1/\"\nheaders = [\"X-Ctl: a\\u0001b\"]\n",
    );
    let run = run.to_str().unwrap();
    usage_error_escaped(&["run", run], &[&format!("{run}:3:"), "'X-Ctl'", "\\x01"]);
}

#[test]
fn a_tab_inside_a_header_value_is_sent() {
    let srv = TestServer::start(ServerConfig::new(Reply::ok("ok")));
    let out = volley()
        .args([&srv.url("/"), "-w", "1", "-c", "1", "-n", "1", "-q"])
        .args(["-H", "X-Tab: a\tb"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let heads = srv.received_heads();
    assert!(heads[0].contains("\r\nX-Tab: a\tb\r\n"), "{heads:?}");
}

#[test]
fn url_credentials_are_never_shown() {
    usage_error_masked(
        &["http://user:secret@127.0.0.1:1/"],
        &["URL", "user info is not supported"],
    );
    usage_error_masked(
        &["--resolve", "user:secret@h:443:127.0.0.1", "https://h/"],
        &["--resolve"],
    );
    usage_error_masked(
        &["httperf", "--server=user:secret@127.0.0.1"],
        &["--server", "user info"],
    );
    usage_error_masked(
        &[
            "httperf",
            "--server=127.0.0.1",
            "--uri=http://user:secret@127.0.0.1:1/",
        ],
        &["--uri"],
    );
    let dir = Scratch::new("userinfo");
    let run = dir.file(
        "run.toml",
        "[[request]]\nurl = \"http://user:secret@127.0.0.1:1/\"\n",
    );
    let run = run.to_str().unwrap();
    usage_error_masked(
        &["run", run],
        &[&format!("{run}:2:"), "user info is not supported"],
    );
}
