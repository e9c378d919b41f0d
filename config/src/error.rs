//! `ConfigError`: every rejected input, naming the flag, the value and what is allowed.
//!
//! The constructors ([`ConfigError::invalid`], [`ConfigError::message`],
//! [`ConfigError::run_file`]) pass what the user gave through [`crate::redact::shown`]: a
//! message never shows a URL's password or a raw control byte. A [`Place`] is where a value
//! stood in a run file, kept with the value so that a rule checked later (in the builder)
//! can still name the line.

/// Why the command line was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// clap's own outcome: a usage error, or `--help` / `--version` (printed by clap).
    #[error("{0}")]
    Clap(#[from] clap::Error),
    /// A flag value that parsed but is not allowed.
    #[error("invalid value '{value}' for '{flag}': {allowed}")]
    Invalid {
        /// The flag, as spelled on the command line (`--workers`).
        flag: &'static str,
        /// The value given, as a message may show it (credentials masked, controls escaped).
        value: String,
        /// What is allowed instead.
        allowed: String,
    },
    /// A whole message, worded by the command that refuses the input (`volley httperf:
    /// volley does not support --wset yet (working sets)`); printed as it is.
    #[error("{0}")]
    Message(String),
    /// A help or version text to print on stdout (exit code 0), for commands that parse
    /// their own arguments (`volley httperf --help`).
    #[error("{0}")]
    Help(String),
    /// A run file value (or the file's syntax) is wrong; names the file and line.
    #[error("{path}:{line}:{column}: {message}")]
    RunFile {
        /// The run file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and what is allowed (credentials masked, see
        /// the crate's `redact` module).
        message: String,
    },
    /// A check expression (`--check`, a run file's `check`) that does not parse; the
    /// message shows the expression with a caret under the character it stumbled on.
    #[error("{at}: {message}\n  {expr}\n  {caret}")]
    Check {
        /// Where it was given: `invalid value for '--check'`, or `FILE:LINE:COLUMN: check`.
        at: String,
        /// What is wrong and what is allowed.
        message: String,
        /// The expression (control bytes escaped).
        expr: String,
        /// Spaces, then `^` under the offending character of `expr`.
        caret: String,
    },
    /// A file named by a flag could not be read.
    #[error("cannot read {path} (given to '{flag}'): {source}")]
    File {
        /// The flag.
        flag: &'static str,
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl ConfigError {
    /// Shorthand for [`ConfigError::Invalid`]; `value` and `allowed` (which may quote the
    /// value) are shown with credentials masked and control bytes escaped.
    pub(crate) fn invalid(
        flag: &'static str,
        value: impl ToString,
        allowed: impl Into<String>,
    ) -> Self {
        ConfigError::Invalid {
            flag,
            value: crate::redact::shown(&value.to_string()),
            allowed: crate::redact::shown(&allowed.into()),
        }
    }

    /// Shorthand for [`ConfigError::Message`]; `text` (which may quote what the user gave)
    /// is shown with credentials masked and control bytes escaped.
    pub(crate) fn message(text: impl AsRef<str>) -> Self {
        ConfigError::Message(crate::redact::shown(text.as_ref()))
    }

    /// Shorthand for [`ConfigError::RunFile`]; `message` (which quotes values from the
    /// file) is shown with credentials masked and control bytes escaped.
    pub(crate) fn run_file(
        path: impl Into<String>,
        line: usize,
        column: usize,
        message: &str,
    ) -> Self {
        ConfigError::RunFile {
            path: path.into(),
            line,
            column,
            message: crate::redact::shown(message),
        }
    }

    /// Shorthand for [`ConfigError::Check`]: `err` in the expression `expr`, given at
    /// `at`. The caret is placed under the offending character as shown (after control
    /// bytes are escaped).
    pub(crate) fn check(at: String, expr: &str, err: &crate::check::CheckError) -> Self {
        let offset = err.offset.min(expr.len());
        let before = expr.get(..offset).unwrap_or(expr);
        let caret = format!(
            "{}^",
            " ".repeat(crate::redact::shown(before).chars().count())
        );
        ConfigError::Check {
            at,
            message: crate::redact::shown(&err.message),
            expr: crate::redact::shown(expr),
            caret,
        }
    }

    /// The process exit code for this error: 0 for `--help`/`--version`, else 2.
    pub fn exit_code(&self) -> u8 {
        match self {
            ConfigError::Clap(e) if !e.use_stderr() => 0,
            ConfigError::Help(_) => 0,
            _ => 2,
        }
    }

    /// Prints the error the way the user should see it (clap formats its own).
    pub fn print(&self) {
        match self {
            ConfigError::Clap(e) => {
                let _ = e.print();
            }
            ConfigError::Help(text) => print!("{text}"),
            ConfigError::Message(text) => eprintln!("{text}"),
            other => eprintln!("error: {other}"),
        }
    }
}

/// Where a value stands in a file: the file, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    /// The file, as the user named it.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl Place {
    /// A [`ConfigError::RunFile`] at this place.
    pub fn error(&self, message: &str) -> ConfigError {
        ConfigError::run_file(self.path.clone(), self.line, self.column, message)
    }
}
