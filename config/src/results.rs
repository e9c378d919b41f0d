//! What `volley merge` and `volley compare` are asked to do: plain data, like [`crate::spec`].

use std::path::PathBuf;

/// `volley merge FILE…`: result files of one workload, merged into one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeSpec {
    /// The result files, in the order given (at least one).
    pub files: Vec<PathBuf>,
    /// Where to write the merged result file (`--out`).
    pub out: Option<PathBuf>,
    /// Print the merged report as JSON.
    pub json: bool,
}

/// `volley compare BASE NEW`: two result files side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareSpec {
    /// The baseline.
    pub base: PathBuf,
    /// The result compared with it.
    pub new: PathBuf,
    /// `--fail-if-worse PCT%`: exit 4 when NEW is worse beyond noise and by more than
    /// this percentage on a gated figure.
    ///
    /// INVARIANT: finite and at least 0.
    pub fail_if_worse: Option<f64>,
    /// Print the comparison as JSON.
    pub json: bool,
}

// A value of the (Eq) command; `--fail-if-worse` is parsed finite, never NaN.
impl Eq for CompareSpec {}
