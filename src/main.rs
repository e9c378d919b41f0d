//! The `volley` binary: parse, run, print, exit code.

use std::io::Write;
use std::process::ExitCode;

use volley::{Command, Report};

/// Exit codes (also in `--help`):
/// - 0: the run completed (request errors are results, not failures);
/// - 1: the run could not be done (scoreboard, fork, workers not ready, demo target);
/// - 2: bad usage (the message names the flag);
/// - 3: the run completed but is invalid (a worker died, or the generator ran short);
/// - 130: interrupted by SIGINT/SIGTERM (the report is still printed).
fn main() -> ExitCode {
    let command = match volley::config::parse(std::env::args_os()) {
        Ok(c) => c,
        Err(e) => {
            e.print();
            return ExitCode::from(e.exit_code());
        }
    };
    match run(command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("volley: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Run(spec) => finish(&volley::run(&spec)?, spec.output.json),
        Command::Demo(mut spec) => {
            let target = volley::demo::DemoTarget::start()?;
            spec.requests[0].target =
                volley::config::parse_url(&format!("http://127.0.0.1:{}/small", target.port))?;
            eprintln!(
                "volley demo: built-in target on {}; {} slots, {} workers",
                spec.requests[0].target.url(),
                spec.concurrency,
                spec.workers
            );
            let report = volley::run(&spec)?;
            drop(target);
            finish(&report, spec.output.json)
        }
        Command::DemoServer => {
            volley::demo::serve()?;
            Ok(0)
        }
        Command::Top(spec) => {
            volley::top(&spec)?;
            Ok(0)
        }
    }
}

/// Prints the report; a closed stdout (`volley … | head -1`) is not an error.
fn finish(report: &Report, json: bool) -> anyhow::Result<u8> {
    let text = volley::render(report, json);
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(if report.interrupted {
        130
    } else if !report.invalid_reasons().is_empty() {
        3
    } else {
        0
    })
}
