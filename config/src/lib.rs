//! volley's configuration: argv or a run file → one validated, immutable [`RunSpec`].
//!
//! Three fillers read what the user gave, each checking every value on its own where it
//! can still name it: `flags` (the command line, parsed by clap from `cli`), `runfile` (a
//! TOML run file, `volley run FILE`) and `httperf` (`volley httperf ARGS…`, one table
//! entry per httperf option). They fill a `SpecBuilder` (the `builder` module), the one
//! place that applies defaults, the precedence of flags over a run file and every rule that
//! needs several inputs at once, and the one place a [`RunSpec`] is made. Below them sit
//! `values` (the flag value types, whose errors quote the expected syntax), `target` (a URL
//! → the address it is sent to) and [`spec`] (the output, plain data).
//!
//! Every rejected input is a [`ConfigError`] that names the flag (or the run file's
//! `FILE:LINE:COLUMN`), the value given and what is allowed; the binary exits with code 2
//! for it. `files` reads the files a run names (bodies, run files, httperf logs) under a
//! cap; `redact` is how a value appears in a message (a URL's password masked, control
//! bytes escaped). `volley merge` and `volley compare` take files, not load: their
//! [`MergeSpec`] and [`CompareSpec`] (module [`results`]) are filled as given, and the files
//! are read by the command. Nothing outside this crate imports clap.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod builder;
pub mod check;
mod cli;
mod error;
mod files;
mod flags;
mod httperf;
mod redact;
pub mod results;
mod runfile;
pub mod spec;
mod target;
mod values;

pub use check::Check;
pub use error::ConfigError;
pub use httperf::Parsed as HttperfRun;
pub use results::{CompareSpec, MergeSpec};
pub use spec::{
    Arrival, CallStatsSpec, Delay, IteratorKind, KeepAlive, Limit, LogFormat, LogSpec, OpenLoop,
    OutputSpec, RampUp, ReplyLimits, ReportSpec, RequestSpec, RunSpec, ServeSpec, SessionTemplate,
    Target, Timeouts, TopSpec, Wording,
};
pub use spec::{
    HttpVersion, MetricsSpec, PrintParts, PrintSpec, Sequence, SessionRules, SocketOptions, TlsSpec,
};
pub use target::parse_url;

use builder::SpecBuilder;
use cli::{Cli, RunArgs, Sub};

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run load as described.
    Run(RunSpec),
    /// Start the demo target, then run load against it; the spec's target is filled in
    /// once the demo target is listening (`addr` is a placeholder until then).
    Demo(RunSpec),
    /// Run the built-in target until interrupted (`volley serve`).
    Serve(ServeSpec),
    /// One process of `volley serve` (internal; its listener is its stdin).
    ServeWorker,
    /// Watch a running run.
    Top(TopSpec),
    /// `volley httperf ARGS…`: an httperf command line.
    Httperf(Box<HttperfRun>),
    /// `volley report RUN.json…`: an HTML report of result files.
    Report(ReportSpec),
    /// `volley merge FILE…`: merge result files of one workload.
    Merge(MergeSpec),
    /// `volley compare BASE NEW`: compare two result files.
    Compare(CompareSpec),
}

/// Parses a full argv (program name first) into a [`Command`].
///
/// # Errors
///
/// [`ConfigError`] for usage errors and rejected values, and for `--help`/`--version`
/// (whose [`ConfigError::exit_code`] is 0).
pub fn parse<I, T>(args: I) -> Result<Command, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    parse_with(args, &[])
}

/// [`parse`] for a program with custom iterators (`extra` names them), which a run file's
/// `iterator` or `--iterator` may then name.
///
/// # Errors
///
/// As [`parse`].
pub fn parse_with<I, T>(args: I, extra: &[&str]) -> Result<Command, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::Parser;
    let cli = Cli::try_parse_from(args)?;
    Ok(match cli.command {
        None => Command::Run(flags::url(cli.url, cli.load)?.build(extra)?),
        Some(Sub::Demo { load }) => Command::Demo(flags::demo(load)?.build(extra)?),
        Some(Sub::Run(args)) => Command::Run(run_file(args)?.build(extra)?),
        Some(Sub::Httperf { args }) => {
            let (inputs, echo, notes) = httperf::parse(&args)?;
            let spec = inputs.build(extra)?;
            Command::Httperf(Box::new(HttperfRun { spec, echo, notes }))
        }
        Some(Sub::Top(top)) => Command::Top(flags::top(top)?),
        Some(Sub::Serve(args)) => Command::Serve(flags::serve(args)?),
        Some(Sub::ServeWorker) => Command::ServeWorker,
        Some(Sub::Report(args)) => Command::Report(flags::report(args)?),
        Some(Sub::Merge(m)) => Command::Merge(flags::merge(m)),
        Some(Sub::Compare(c)) => Command::Compare(flags::compare(c)),
    })
}

/// `volley run FILE`: the file's keys, and the flags laid over them.
fn run_file(args: RunArgs) -> Result<SpecBuilder, ConfigError> {
    let mut inputs = runfile::load(&args.file, &args.tls.resolve)?;
    inputs.flags = flags::run_flags(args)?;
    Ok(inputs)
}
