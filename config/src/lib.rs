//! volley's configuration: argv → one validated, immutable [`RunSpec`].
//!
//! [`cli`] mirrors the command line (clap derive, no logic); [`values`] holds the `FromStr`
//! flag types whose errors quote the expected syntax; [`resolve`] is the only place that
//! applies defaults and cross-flag rules and produces a [`Command`]. Nothing outside this
//! crate imports clap. Every rejected input is a [`ConfigError`] that names the flag, the
//! value given and what is allowed; the binary exits with code 2 for it. [`files`] reads
//! the files a run names (bodies, run files, httperf logs) under a cap; [`redact`] is how a
//! value appears in a message (a URL's password masked, control bytes escaped).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cli;
pub mod error;
pub mod files;
pub mod httperf;
pub mod redact;
pub mod resolve;
pub mod runfile;
pub mod spec;
pub mod values;

pub use error::ConfigError;
pub use resolve::{Command, parse_url};
pub use spec::{
    Arrival, Delay, IteratorKind, KeepAlive, Limit, LogFormat, LogSpec, OpenLoop, OutputSpec,
    RampUp, ReplyLimits, RequestSpec, RunSpec, SessionTemplate, Target, Timeouts, TopSpec,
};
pub use spec::{
    HttpVersion, PrintParts, PrintSpec, Sequence, SessionRules, SocketOptions, TlsSpec,
};

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

/// [`parse`] for a program with custom iterators (`extra` names them).
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
    let cli = cli::Cli::try_parse_from(args)?;
    resolve::resolve_with(cli, extra)
}
