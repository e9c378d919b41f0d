//! A hook program that looks into replies (HTTP::LoadGen's `RC_HEADERS` and `RC_BODY`),
//! decides which ones are a success (LoadGen's `req_done` flag) and keeps counts of its
//! own in the scoreboard (LoadGen's `SbSlotsz`/`SbExtra`); the workload is
//! `examples/token_check.toml`.
//!
//! ```text
//! cargo build --release --example token_check
//! target/release/examples/token_check run examples/token_check.toml --json
//! ```
//!
//! - [`Hooks::user_counters`] names two counters: `tokens` (replies that carried an
//!   `X-Token` header field) and `rejected` (replies this program refused). `volley top`,
//!   `/metrics` (`volley_user_total{name="tokens"}`) and the report
//!   (`"user_counters": {"tokens": n}`) show them by name.
//! - [`Hooks::capture_body`] asks for the first `CAPTURE` bytes (default 64) of every
//!   body: [`Record::payload`] holds them, [`Record::payload_truncated`] says the body was
//!   longer.
//! - [`Hooks::req_done`] reads the header field with [`Record::headers`], and when
//!   `MUST_CONTAIN` is set rejects every reply whose captured body lacks that text with
//!   [`Ctx::reject`]: such a reply counts as a failed request, error `other/no-marker`.
//! - With `SHOW_BODY=1`, a line per reply (`body <bytes kept> <truncated> <text>`) is
//!   buffered and written to stderr at `proc_exit` (hooks must not block).

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use volley::{Ctx, Hooks, Record, RequestSpec};

/// The user counters, in [`Hooks::user_counters`]' order.
const TOKENS: usize = 0;
const REJECTED: usize = 1;

#[derive(Debug, Default)]
struct TokenCheck {
    capture: usize,
    must_contain: Option<String>,
    show_body: bool,
    log: String,
}

impl Hooks for TokenCheck {
    type Data = ();

    fn user_counters(&self) -> Vec<&'static str> {
        vec!["tokens", "rejected"]
    }

    fn capture_body(&self) -> usize {
        self.capture
    }

    fn req_done(&mut self, ctx: &mut Ctx<'_>, _: &mut (), rc: &Record<'_>, _: &RequestSpec) {
        if rc.error.is_some() {
            return; // no reply to look at
        }
        if rc.headers.get("x-token").is_some() {
            ctx.count(TOKENS, 1);
        }
        if let Some(marker) = &self.must_contain
            && !contains(rc.payload, marker.as_bytes())
        {
            ctx.reject("no-marker");
            ctx.count(REJECTED, 1);
        }
        if self.show_body {
            let _ = writeln!(
                self.log,
                "body {} {} {}",
                rc.payload.len(),
                rc.payload_truncated,
                String::from_utf8_lossy(rc.payload)
            );
        }
    }

    fn proc_exit(&mut self, _proc: u32) -> i32 {
        let _ = std::io::stderr().write_all(self.log.as_bytes());
        0
    }
}

/// Whether `needle` occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn main() -> ExitCode {
    let env = |k: &str| std::env::var(k).ok();
    volley::main_with(TokenCheck {
        capture: env("CAPTURE").and_then(|v| v.parse().ok()).unwrap_or(64),
        must_contain: env("MUST_CONTAIN"),
        show_body: env("SHOW_BODY").is_some_and(|v| v == "1"),
        log: String::new(),
    })
}
