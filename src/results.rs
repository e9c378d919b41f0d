//! `volley merge` and `volley compare`: result files (`--out`, JSON schema 2) read back,
//! merged or compared, and printed.
//!
//! A file that cannot be used (unreadable, not JSON, not a schema-2 result file, or, for a
//! merge, of another workload or interval) is bad input: [`BadInput`], exit code 2, with
//! the file named.

use std::io::Write as _;
use std::path::Path;

use volley_config::{CompareSpec, MergeSpec};
use volley_supervisor::Report;
use volley_supervisor::compare::{Comparison, render};
use volley_supervisor::report::{combine, read};

/// A result file that cannot be used; the binary exits with code 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Exit code of `volley compare --fail-if-worse` when NEW is worse.
pub const WORSE: u8 = 4;

fn read(path: &Path) -> Result<Report, BadInput> {
    read::read_file(path).map_err(BadInput)
}

/// `volley merge`: prints the merged report (and writes `--out`); the exit code is the
/// merged report's, as for a run.
///
/// # Errors
///
/// [`BadInput`] for a file that cannot be used; an I/O error writing `--out`.
pub fn merge(spec: &MergeSpec) -> anyhow::Result<u8> {
    let mut parts = Vec::with_capacity(spec.files.len());
    for f in &spec.files {
        parts.push((f.display().to_string(), read(f)?));
    }
    let merged = combine::merge(&parts).map_err(|e| BadInput(e.to_string()))?;
    crate::finish(&merged, spec.json, spec.out.as_deref())
}

/// `volley compare`: prints the comparison; with `--fail-if-worse`, [`WORSE`] when NEW is
/// worse beyond noise and the threshold on a gated figure, else 0.
///
/// # Errors
///
/// [`BadInput`] for a file that cannot be used; an I/O error writing stdout.
pub fn compare(spec: &CompareSpec) -> anyhow::Result<u8> {
    let (base, new) = (read(&spec.base)?, read(&spec.new)?);
    let c = Comparison::new(&base, &new);
    let (base_name, new_name) = (
        spec.base.display().to_string(),
        spec.new.display().to_string(),
    );
    let side = |file, report| render::Side { file, report };
    let (b, n) = (side(&base_name, &base), side(&new_name, &new));
    let text = if spec.json {
        // The text says it in its table; JSON readers get it on stderr too.
        if let Some(w) = render::workload_warning(&c) {
            eprintln!("volley compare: {w}");
        }
        render::json(&c, b, n, spec.fail_if_worse)
    } else {
        render::text(&c, b, n, spec.fail_if_worse)
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    let worse = spec.fail_if_worse.is_some_and(|p| !c.failed(p).is_empty());
    Ok(if worse { WORSE } else { 0 })
}
