//! volley, as a library: an HTTP load generator made of a supervisor process that forks
//! worker processes over a shared-memory scoreboard.
//!
//! The command line is parsed by [`config`] into one validated [`RunSpec`]; [`run`] hands it
//! to the supervisor, which forks the workers, releases them together, watches them and
//! merges their results into a [`Report`]; [`render`] turns the report into httperf-style
//! text or JSON. The crates behind the facade are `volley-config`, `volley-scoreboard`,
//! `volley-worker` and `volley-supervisor`.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod demo;

pub use volley_config as config;
pub use volley_config::{Command, RunSpec};
pub use volley_supervisor::monitor::top;
pub use volley_supervisor::{Report, SupervisorError, run};

/// Renders a report as text (httperf's sections and volley's additions) or as JSON.
pub fn render(report: &Report, json: bool) -> String {
    if json {
        volley_supervisor::report::json::render(report)
    } else {
        volley_supervisor::report::text::render(report)
    }
}
