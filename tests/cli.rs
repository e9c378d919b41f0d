//! Bad input on the command line: a clear message naming the flag, exit code 2.

use crate::volley;

fn usage_error(args: &[&str], must_mention: &[&str]) {
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
    usage_error(
        &["http://127.0.0.1:1/", "-n", "5", "-d", "1s"],
        &["--requests", "--duration"],
    );
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
