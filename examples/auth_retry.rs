//! The HTTP::LoadGen manual's `InitURLs` example as a volley hook program: a custom URL
//! iterator that retries a request with an `Authorization` header when the server
//! answers 401.
//!
//! ```text
//! cargo build --release --example auth_retry
//! target/release/examples/auth_retry run examples/auth_retry.toml
//! ```
//!
//! The run file names the iterator (`iterator = "auth_retry"`); the program registers it
//! through [`Hooks::iterator_names`] and [`Hooks::iterator`], and gets volley's whole
//! command line from [`volley::main_with`]. As in the manual, the iterator is made fresh
//! for every round: it hands out the URL list's first entry once, and after a 401 it
//! sends the same request again with `Authorization: Basic YmxhOmJsdWI=` (once: a request
//! that already carried it is not retried).
//!
//! It also registers `follow_list`: the built-in `default` and `follow` iterators composed
//! through [`volley::iterators`] (LoadGen's `get_iterator('follow')->($it)`), to show how
//! a program builds on them.

use std::process::ExitCode;

use volley::iterators::{Follow, List};
use volley::{Ctx, Hooks, Next, Prev, UrlIterator};

/// The credentials the manual sends (`bla:blub`).
const AUTHORIZATION: &str = "Basic YmxhOmJsdWI=";

/// One round of the manual's iterator.
struct AuthRetry {
    /// The entry is still to be handed out this round (the manual's `$url`).
    pending: bool,
}

impl UrlIterator<()> for AuthRetry {
    fn next(&mut self, _ctx: &mut Ctx<'_>, _data: &mut (), prev: Option<Prev<'_>>) -> Option<Next> {
        if let Some(prev) = prev
            && prev.result.status == 401
            && !prev
                .request
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        {
            // Redo with an Authorization header.
            let mut retry = prev.request.clone();
            retry
                .headers
                .push(("Authorization".to_string(), AUTHORIZATION.to_string()));
            return Some(Next::Request(Box::new(retry)));
        }
        // The entry once, then "out of requests" for this round.
        std::mem::take(&mut self.pending).then_some(Next::Entry(0))
    }
}

/// The hooks: only the iterator.
struct Manual;

impl Hooks for Manual {
    type Data = ();

    fn iterator_names(&self) -> Vec<&'static str> {
        vec!["auth_retry", "follow_list"]
    }

    fn iterator(&mut self, name: &str, ctx: &mut Ctx<'_>) -> Option<Box<dyn UrlIterator<()>>> {
        match name {
            "auth_retry" => Some(Box::new(AuthRetry { pending: true })),
            "follow_list" => Some(Box::new(Follow::new(List::default_order(ctx), 10))),
            _ => None,
        }
    }
}

fn main() -> ExitCode {
    volley::main_with(Manual)
}
