//! LoadGen's option names in a run file: `NWorker`, `RampUpStart`, `RampUpMax`,
//! `RampUpDuration`, `InitURLs` and `URLList`, spelled as its manual does.
//!
//! Each is an alias of a volley key (`workers`, `ramp_up.*`, `iterator`, `[[request]]`);
//! a setting given in both spellings is refused with both places named. A file that uses
//! any of them is read with LoadGen's defaults for what it leaves out (the builder's
//! [`crate::builder::FileInputs::loadgen`]: one worker, `RampUpStart` = `NWorker`,
//! `RampUpMax` = `RampUpStart`, a 300 s ramp). A `URLList` entry's params have LoadGen's
//! meanings ([`Dialect::LoadGen`]): `timeout` is the inactivity timeout, `headers` a flat
//! list of names and values, and keep-alive is off unless asked for.

use std::ops::Range;

use toml::Spanned;

use super::Locator;
use super::entry::Dialect;
use super::schema::{File, HeaderValue, Params, PortValue, UrlListEntry};
use crate::error::ConfigError;

/// The file names at least one of LoadGen's options.
pub(super) fn used(file: &File) -> bool {
    file.n_worker.is_some()
        || file.ramp_up_start.is_some()
        || file.ramp_up_max.is_some()
        || file.ramp_up_duration.is_some()
        || file.init_urls.is_some()
        || file.url_list.is_some()
}

/// A setting's value and the key that gave it: LoadGen's spelling `lg` or volley's `vo`.
///
/// # Errors
///
/// Both given: a refusal at LoadGen's key that names volley's key and its place.
pub(super) fn pick<'a, T>(
    at: &Locator<'_>,
    lg: (&'static str, Option<&'a Spanned<T>>),
    vo: (&'static str, Option<&'a Spanned<T>>),
) -> Result<Option<(&'static str, &'a Spanned<T>)>, ConfigError> {
    match (lg, vo) {
        ((l, Some(a)), (v, Some(b))) => Err(both(at, (l, a.span()), (v, b.span()))),
        ((l, Some(a)), _) => Ok(Some((l, a))),
        (_, (v, Some(b))) => Ok(Some((v, b))),
        _ => Ok(None),
    }
}

/// A refusal at `lg`'s place: the same setting is given at `vo` too.
fn both(
    at: &Locator<'_>,
    (lg, lg_span): (&str, Range<usize>),
    (vo, vo_span): (&str, Range<usize>),
) -> ConfigError {
    let p = at.place(vo_span);
    let why = format!(
        "{lg} and {vo} (at {}:{}:{}) are the same setting in LoadGen's and volley's \
         spelling; give one",
        p.path, p.line, p.column
    );
    at.error(lg_span, why)
}

/// The URL list: the `[[request]]` entries (over `defaults`) or the `URLList` entries,
/// each with the meaning its keys are read in.
///
/// # Errors
///
/// `URLList` together with `[[request]]` or `defaults` (named with both places), or a
/// `URLList` entry whose port or headers do not read.
pub(super) fn url_list(
    file: &mut File,
    at: &Locator<'_>,
) -> Result<Vec<(Spanned<Params>, Dialect)>, ConfigError> {
    let Some(list) = file.url_list.take() else {
        let defaults = file.defaults.take().map(Spanned::into_inner);
        let defaults = defaults.unwrap_or_default();
        let entries = std::mem::take(&mut file.request).into_iter();
        return Ok(entries
            .map(|e| {
                let span = e.span();
                let p = e.into_inner().or(&defaults);
                (Spanned::new(span, p), Dialect::Volley)
            })
            .collect());
    };
    if let Some(r) = file.request.first() {
        return Err(both(
            at,
            ("URLList", list.span()),
            ("[[request]]", r.span()),
        ));
    }
    if let Some(d) = &file.defaults {
        // `defaults` fills `[[request]]` entries, in volley's meanings.
        return Err(both(at, ("URLList", list.span()), ("defaults", d.span())));
    }
    let mut entries = Vec::new();
    for e in list.into_inner() {
        let span = e.span();
        entries.push((
            Spanned::new(span, params(e.into_inner(), at)?),
            Dialect::LoadGen,
        ));
    }
    Ok(entries)
}

/// A `URLList` entry as request params: `timeout` goes to `idle_timeout` (the entry is
/// read as [`Dialect::LoadGen`], whose messages call it `timeout` again).
fn params(e: UrlListEntry, at: &Locator<'_>) -> Result<Params, ConfigError> {
    let port_span = e.port.span();
    let port = match e.port.into_inner() {
        PortValue::Number(n) => n,
        PortValue::Text(t) => t.trim().parse().map_err(|_| {
            let why = format!("port '{t}' is not a number; expected 1 to 65535");
            at.error(port_span.clone(), why)
        })?,
    };
    let lg = e.params.unwrap_or_default();
    let headers = match lg.headers {
        Some(list) => Some(flat_headers(list, at)?),
        None => None,
    };
    Ok(Params {
        method: Some(e.method),
        scheme: Some(e.scheme),
        host: Some(e.host),
        port: Some(Spanned::new(port_span, port)),
        uri: Some(e.uri),
        keepalive: lg.keepalive,
        predelay: lg.predelay,
        prejitter: lg.prejitter,
        postdelay: lg.postdelay,
        postjitter: lg.postjitter,
        headers,
        body: lg.body,
        idle_timeout: lg.timeout,
        conn_timeout: lg.conn_timeout,
        ..Params::default()
    })
}

/// LoadGen's `headers => [Name => value, …]`: names and values in turn.
fn flat_headers(
    list: Spanned<Vec<Spanned<String>>>,
    at: &Locator<'_>,
) -> Result<Spanned<Vec<Spanned<HeaderValue>>>, ConfigError> {
    let span = list.span();
    let items = list.into_inner();
    if !items.len().is_multiple_of(2) {
        let why = format!(
            "headers: a URLList entry lists names and values in turn \
             ([\"Name\", \"value\", …]); this one has {} items",
            items.len()
        );
        return Err(at.error(span, why));
    }
    let pairs = items
        .chunks(2)
        .map(|kv| {
            let (k, v) = (&kv[0], &kv[1]);
            let pair = HeaderValue::Pair(vec![k.get_ref().clone(), v.get_ref().clone()]);
            Spanned::new(k.span().start..v.span().end, pair)
        })
        .collect();
    Ok(Spanned::new(span, pairs))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::{err, load_text, ok};
    use crate::builder::{DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT, LOADGEN_RAMP_DURATION};
    use crate::cli::RunArgs;
    use crate::spec::{IteratorKind, KeepAlive, RampUp};

    /// The manual's EXAMPLE CONFIGURATION in LoadGen's names.
    const MANUAL: &str = r#"
NWorker = 3
RampUpStart = 2
RampUpMax = 13
RampUpDuration = 5
times = 3
InitURLs = "random_start"
dnscache = { "foertsch.name" = "127.0.0.1", "www.kabatinte.net" = "127.0.0.1" }
URLList = [
  ["GET", "http", "foertsch.name", 80, "/-redir",
   { keepalive = 3, predelay = 0.05, prejitter = 0.1, postdelay = 0.5, postjitter = 1,
     headers = ["Authorization", "Basic YmxhOmJsdWI=", "Host", "foertsch.name"] }],
  ["HUGO", "https", "www.kabatinte.net", "443", "/", { body = "blablub", timeout = 2 }],
]
"#;

    #[test]
    fn loadgens_names_read_as_volleys_keys() {
        let spec = ok(MANUAL);
        assert_eq!((spec.workers, spec.concurrency), (3, 13));
        assert_eq!(
            spec.ramp,
            RampUp {
                start: 2,
                duration: Duration::from_secs(5)
            }
        );
        assert_eq!(spec.rounds, Some(3));
        assert_eq!(spec.iterator, IteratorKind::RandomStart);
        let [a, b] = &spec.requests[..] else {
            panic!("{:?}", spec.requests)
        };
        assert_eq!(a.target.url(), "http://foertsch.name/-redir");
        assert_eq!(a.keepalive, KeepAlive::BOTH);
        assert_eq!(a.post.delay, Duration::from_millis(500));
        assert_eq!(a.headers[1], ("Host".into(), "foertsch.name".into()));
        assert_eq!((b.method.as_str(), b.target.tls), ("HUGO", true));
        assert_eq!(b.target.port, 443);
        assert_eq!(b.body, b"blablub");
    }

    #[test]
    fn urllist_params_have_loadgens_meanings() {
        let spec = ok(MANUAL);
        let [a, b] = &spec.requests[..] else { panic!() };
        // No timeout given: LoadGen's 300 s of inactivity, no hard deadline, and the
        // connect bounded by the same 300 s.
        let t = a.timeouts;
        assert_eq!(t.inactivity, Some(Duration::from_secs(300)));
        assert_eq!((t.reply, t.first_byte, t.send), (None, None, None));
        assert_eq!(t.connect, Some(Duration::from_secs(300)));
        // `timeout = 2` is the inactivity timeout; keep-alive is off unless asked for.
        assert_eq!(b.timeouts.inactivity, Some(Duration::from_secs(2)));
        assert_eq!(b.timeouts.reply, None);
        assert_eq!(b.keepalive, KeepAlive::NONE);
        let spec = ok("URLList = [[\"GET\", \"http\", \"127.0.0.1\", 1, \"/\", \
                       { timeout = 0, conn_timeout = \"250ms\" }]]\n");
        let t = spec.requests[0].timeouts;
        assert_eq!(
            t.inactivity, None,
            "0: no inactivity timeout, as in LoadGen"
        );
        assert_eq!(t.connect, Some(Duration::from_millis(250)));
    }

    #[test]
    fn a_request_entry_keeps_volleys_timeout_and_may_add_idle_timeout() {
        let spec = ok("defaults = { idle_timeout = \"500ms\" }\n\
                       [[request]]\nurl = \"http://127.0.0.1:1/\"\n\
                       [[request]]\nurl = \"http://127.0.0.1:1/b\"\nidle_timeout = \"never\"\n\
                       timeout = \"2s\"\n");
        let [a, b] = &spec.requests[..] else { panic!() };
        assert_eq!(a.timeouts.inactivity, Some(Duration::from_millis(500)));
        assert_eq!(
            a.timeouts.reply,
            Some(DEFAULT_TIMEOUT),
            "hard deadline kept"
        );
        assert_eq!(b.timeouts.inactivity, None);
        assert_eq!(b.timeouts.reply, Some(Duration::from_secs(2)));
        let (line, _, msg) =
            err("[[request]]\nurl = \"http://127.0.0.1/\"\nidle_timeout = \"soon\"\n");
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains("idle_timeout"), "{msg}");
        let (line, _, msg) = err("URLList = [[\"GET\", \"http\", \"127.0.0.1\", 1, \"/\",\n\
                                  { timeout = \"soon\" }]]\n");
        assert_eq!(line, 2, "{msg}");
        assert!(msg.starts_with("timeout"), "{msg}");
    }

    #[test]
    fn loadgens_ramp_defaults_apply_when_its_names_are_used() {
        let list = "URLList = [[\"GET\", \"http\", \"127.0.0.1\", 1, \"/\"]]\n";
        // Only NWorker: RampUpStart = NWorker, RampUpMax = RampUpStart, 300 s.
        let spec = ok(&format!("NWorker = 3\n{list}"));
        assert_eq!((spec.workers, spec.concurrency), (3, 3));
        assert_eq!(
            (spec.ramp.start, spec.ramp.duration),
            (3, LOADGEN_RAMP_DURATION)
        );
        // Nothing: one worker, one slot.
        let spec = ok(list);
        assert_eq!((spec.workers, spec.concurrency, spec.ramp.start), (1, 1, 1));
        // RampUpMax alone: a slot per worker at once, the rest over 300 s.
        let spec = ok(&format!("NWorker = 2\nRampUpMax = 10\n{list}"));
        assert_eq!(
            (spec.workers, spec.concurrency, spec.ramp.start),
            (2, 10, 2)
        );
        assert_eq!(spec.ramp.duration, LOADGEN_RAMP_DURATION);
        // LoadGen's names over [[request]] entries: the same defaults.
        let spec = ok("RampUpStart = 4\n[[request]]\nurl = \"http://127.0.0.1:1/\"\n");
        assert_eq!((spec.workers, spec.concurrency, spec.ramp.start), (1, 4, 4));
        // -w moves the start with it, as NWorker would.
        let args = RunArgs {
            workers: Some(2),
            ..RunArgs::default()
        };
        let spec = load_text(list, args).unwrap();
        assert_eq!((spec.workers, spec.concurrency, spec.ramp.start), (2, 2, 2));
        // volley's keys keep volley's defaults.
        let spec = ok("workers = 2\n[[request]]\nurl = \"http://127.0.0.1:1/\"\n");
        assert_eq!(spec.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(spec.ramp.duration, Duration::ZERO);
    }

    #[test]
    fn one_setting_in_both_spellings_names_both_places() {
        let url = "[[request]]\nurl = \"http://127.0.0.1:1/\"\n";
        let cases = [
            (
                format!("workers = 2\nNWorker = 2\n{url}"),
                "NWorker and workers",
                (2, 11),
            ),
            (
                format!("ramp_up = {{ start = 1 }}\nRampUpStart = 2\n{url}"),
                "RampUpStart and ramp_up.start",
                (2, 15),
            ),
            (
                format!("ramp_up = {{ max = 5 }}\nRampUpMax = 5\n{url}"),
                "RampUpMax and ramp_up.max",
                (2, 13),
            ),
            (
                format!("ramp_up = {{ duration = 1 }}\nRampUpDuration = 1\n{url}"),
                "RampUpDuration and ramp_up.duration",
                (2, 18),
            ),
            (
                format!("iterator = \"follow\"\nInitURLs = \"follow\"\n{url}"),
                "InitURLs and iterator",
                (2, 12),
            ),
            (
                format!("URLList = [[\"GET\", \"http\", \"h\", 1, \"/\"]]\n{url}"),
                "URLList and [[request]]",
                (1, 11),
            ),
            (
                "defaults = { port = 1 }\nURLList = [[\"GET\", \"http\", \"h\", 1, \"/\"]]\n"
                    .to_string(),
                "URLList and defaults",
                (2, 11),
            ),
        ];
        for (text, names, place) in cases {
            let (line, col, msg) = err(&text);
            assert_eq!((line, col), place, "{msg}");
            assert!(msg.starts_with(names), "{msg}");
            assert!(msg.contains("(at /") && msg.contains("run.toml:"), "{msg}");
        }
    }

    #[test]
    fn bad_urllist_entries_name_their_place() {
        let (line, _, msg) = err("URLList = [\n[\"GET\", \"http\", \"h\", 1]]\n");
        assert_eq!(line, 2, "{msg}");
        assert!(msg.contains("method, scheme, host, port, uri"), "{msg}");
        let (line, col, msg) =
            err("URLList = [[\"GET\", \"http\", \"127.0.0.1\", \"eighty\", \"/\"]]\n");
        assert_eq!((line, col), (1, 41), "{msg}");
        assert!(msg.contains("eighty"), "{msg}");
        let (line, _, msg) = err("URLList = [[\"GET\", \"http\", \"127.0.0.1\", 1, \"/\",\n\
                                  { headers = [\"X-A\", \"1\", \"X-B\"] }]]\n");
        assert_eq!(line, 2, "{msg}");
        assert!(msg.contains("3 items"), "{msg}");
        let (line, _, msg) = err("URLList = [[\"GET\", \"http\", \"127.0.0.1\", 1, \"/\",\n\
                                  { tls_ctx = \"x\" }]]\n");
        assert_eq!(line, 2, "{msg}");
        assert!(msg.contains("tls_ctx"), "{msg}");
        let (line, _, msg) = err("URLList = [[\"GET\", \"ftp\", \"127.0.0.1\", 1, \"/\"]]\n");
        assert_eq!(line, 1, "{msg}");
        assert!(msg.contains("ftp"), "{msg}");
    }
}
