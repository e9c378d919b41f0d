//! What an httperf option is ([`Opt`]): its name, arity, usage, [`Action`] and echo; and
//! [`Value`], an option's value as given. The options themselves are `options::OPTIONS`.

use std::str::FromStr;
use std::time::Duration;

use super::Args;
use crate::error::ConfigError;

/// One httperf option.
pub(super) struct Opt {
    /// The long name, without `--`.
    pub name: &'static str,
    /// Its getopt-style short name (`-v`), if httperf has one.
    pub short: Option<char>,
    /// Whether it takes a value.
    pub arity: Arity,
    /// Its part of the usage line of `--help` (options shown with another's have none;
    /// every option httperf has is shown, whatever volley does with it).
    pub usage: Option<&'static str>,
    /// What it does.
    pub action: Action,
    /// Its part of httperf's echo line, if httperf prints it: the place (httperf's order)
    /// and the text, when there is one to print.
    pub echo: Option<(u8, Echo)>,
}

/// An option's part of the echo line, if it has one to show for these options.
pub(super) type Echo = fn(&Args) -> Option<String>;

/// Whether an option takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arity {
    /// A switch.
    Flag,
    /// `--name=value` or `--name value`.
    Value,
    /// A switch with an optional `=value` (written inline only, as getopt's optional
    /// arguments are).
    OptValue,
}

/// What an option does.
pub(super) enum Action {
    /// Sets its part of [`Args`] from the value (empty when it has none).
    Set(fn(&mut Args, &Value<'_>) -> Result<(), ConfigError>),
    /// A switch: turns its part of [`Args`] on.
    Switch(fn(&mut Args)),
    /// httperf has it; volley accepts it and says why it changes nothing.
    Note(&'static str),
    /// httperf has it; volley cannot honour it (yet) and refuses it: `volley does not
    /// support --NAME yet (REASON)`, with this reason.
    Refuse(&'static str),
}

/// An option's value as given, with its name for the messages.
pub(super) struct Value<'a> {
    /// The option's long name.
    pub name: &'static str,
    /// The value (empty for a switch).
    pub text: &'a str,
}

impl Value<'_> {
    /// A refusal of this value: `'--name=value'` and what is allowed.
    pub fn refuse(&self, allowed: &str) -> ConfigError {
        let given = format!("--{}={}", self.name, self.text);
        ConfigError::invalid("httperf", given, allowed.to_string())
    }

    /// A count of at least 1.
    pub(super) fn positive<T: FromStr + PartialOrd + Default>(&self) -> Result<T, ConfigError> {
        let n = self.text.parse::<T>().ok().filter(|n| *n > T::default());
        n.ok_or_else(|| self.refuse("a positive count"))
    }

    /// httperf's seconds: a number, no unit.
    pub(super) fn seconds(&self) -> Result<Duration, ConfigError> {
        match self.text.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && (0.0..=1e6).contains(&x) => Ok(Duration::from_secs_f64(x)),
            _ => Err(self.refuse("a number of seconds")),
        }
    }
}
