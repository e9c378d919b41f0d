//! `volley report`: result files (JSON schema 2) → one self-contained HTML page.
//!
//! [`load`] reads a result file into a [`Run`] (the `input` module: the figures the page
//! shows, the reply and response histograms decoded into HdrHistogram's percentile plot);
//! [`render`] turns one run, or several to overlay, into the page (`page`), with its
//! styles inline and its charts (`charts`: what is plotted; `svg`: how) as inline SVG. The
//! page loads nothing: no script, no font, no stylesheet, no image, so it opens the same
//! from a mail attachment, a CI artifact or a machine without network. Both are pure
//! functions of their input: the same files give the same page, byte for byte.
//!
//! # Why hand-written SVG, not plotters
//!
//! plotters (`svg_backend` + `line_series`, pure Rust) was the alternative. The charts
//! here are a few line series on a linear or log axis, which a ~430-line module draws;
//! writing it ourselves buys:
//!
//! - **The percentile axis as HdrHistogram draws it**: `log10(1 / (1 − q))` labelled
//!   0 %, 90 %, 99 % … 99.999 %. plotters would need a custom coordinate and label
//!   formatter for it; here it is one function.
//! - **Text laid out by the browser.** Without its font features plotters cannot measure
//!   text, so its label and legend placement would be guesses; SVG's `text-anchor` lets
//!   the browser centre and right-align labels itself.
//! - **Output a test can read**: one `<path class="series">` per line, a `<title>` per
//!   chart, a "no data" note instead of an empty frame, and gaps where an interval has no
//!   value, all well-formed XML.
//! - **No dependency** with a slow release cadence (plotters 0.3.7, 2024-09) and its
//!   transitive crates, for a feature used by one subcommand.

mod charts;
mod input;
mod page;
mod svg;

pub use input::{Distribution, InputError, Interval, Run, load, parse};
pub use page::render;

/// How the legends and tables name each run: its file name, or the paths as given when
/// two runs have the same file name (`a/run.json`, `b/run.json`).
pub(crate) fn labels(runs: &[Run]) -> Vec<String> {
    let name = |r: &Run| {
        std::path::Path::new(&r.name)
            .file_name()
            .map_or_else(|| r.name.clone(), |n| n.to_string_lossy().into_owned())
    };
    let short: Vec<String> = runs.iter().map(name).collect();
    let unique = short
        .iter()
        .enumerate()
        .all(|(i, n)| !short[..i].contains(n));
    if unique {
        short
    } else {
        runs.iter().map(|r| r.name.clone()).collect()
    }
}

/// `s` with `&`, `<`, `>`, `"` and `'` escaped, for text and attribute values in HTML and
/// SVG alike.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_named_by_file_name_unless_two_share_one() {
        let run = |name: &str| Run {
            name: name.into(),
            ..Run::default()
        };
        let runs = [run("x/a.json"), run("y/b.json")];
        assert_eq!(labels(&runs), ["a.json", "b.json"]);
        let runs = [run("x/run.json"), run("y/run.json")];
        assert_eq!(labels(&runs), ["x/run.json", "y/run.json"]);
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
