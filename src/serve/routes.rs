//! The built-in target's routes: a request head → its [`Reply`].
//!
//! Every method is answered alike (the LoadGen manual sends `HUGO /`), HEAD gets the
//! head only, and a request body is read and dropped before the reply. The fixed bodies
//! have the sizes of `bench/`'s nginx files, so a run against `volley serve` and one
//! against nginx move the same bytes. `volley serve --help` and README "Built-in target"
//! list the routes; keep the three in step.

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use super::reply::{Body, Reply, reason};
use super::request::Head;

/// `/` and `/small`: 95 bytes, as `bench/nginx-start.sh`'s `/small`.
pub(crate) const SMALL: &[u8] =
    b"volley serve body: small static reply of the built-in target on loopback. 0123456789abcdefghij\n";
static ONE_K: [u8; 1024] = [b'a'; 1024];
static SIXTEEN_K: [u8; 16 * 1024] = [b'b'; 16 * 1024];
/// Made on first use, not kept in the binary.
static ONE_M: LazyLock<Vec<u8>> = LazyLock::new(|| vec![b'c'; MAX_BYTES]);

/// Largest `/bytes/N` and `/chunked/N`.
const MAX_BYTES: usize = 1 << 20;
/// Longest `/redirect/N` chain.
const MAX_REDIRECTS: u64 = 100;
/// Longest `/delay/MS`.
const MAX_DELAY_MS: u64 = 10_000;
/// `bla:blub` in Basic form: the credentials of the LoadGen manual and
/// `examples/auth_retry.rs`.
const CREDENTIALS: &[u8] = b"YmxhOmJsdWI=";

/// The reply to `head`; `local` is the address the request came in on (for absolute
/// redirects to a client that sent no `Host`).
pub(crate) fn route(head: &Head<'_>, local: SocketAddr) -> Reply {
    let path = head.path.split(['?', '#']).next().unwrap_or("/");
    match path {
        "/" | "/small" => Ok(Reply::ok(Body::Static(SMALL))),
        "/1k" => Ok(Reply::ok(Body::Static(&ONE_K))),
        "/16k" => Ok(Reply::ok(Body::Static(&SIXTEEN_K))),
        "/1m" => Ok(Reply::ok(Body::Static(&ONE_M))),
        "/auth" => auth(head),
        "/-redir" if head.x_auth => auth(head),
        "/-redir" => redirect("/small".into()),
        _ => match path.rsplit_once('/') {
            Some((prefix, arg)) => numbered(prefix, arg, head, local),
            None => not_found(),
        },
    }
    .unwrap_or_else(|refused| refused)
}

/// The routes that end in a number: `/bytes/N`, `/status/NNN`, ….
fn numbered(prefix: &str, arg: &str, head: &Head<'_>, local: SocketAddr) -> Result<Reply, Reply> {
    match prefix {
        "/bytes" => Ok(Reply::ok(Body::Static(bytes(arg)?))),
        "/chunked" => Ok(Reply::ok(Body::Chunked(bytes(arg)?))),
        "/redirect" => {
            let n = number(arg, 1, MAX_REDIRECTS)?;
            redirect(hop(n, "/redirect/"))
        }
        "/relative-redirect" => {
            let n = number(arg, 1, MAX_REDIRECTS)?;
            redirect(hop(n, ""))
        }
        "/absolute-redirect" => {
            let n = number(arg, 1, MAX_REDIRECTS)?;
            let next = hop(n, "/absolute-redirect/");
            redirect(format!("http://{}{next}", authority(head, local)))
        }
        "/status" => status(u16::try_from(number(arg, 200, 599)?).unwrap_or(500)),
        "/delay" => {
            let ms = number(arg, 0, MAX_DELAY_MS)?;
            let mut reply = Reply::ok(Body::Static(SMALL));
            reply.delay = Duration::from_millis(ms);
            Ok(reply)
        }
        _ => not_found(),
    }
}

/// `arg` as a number from `min` to `max`, or the 400 that says so.
fn number(arg: &str, min: u64, max: u64) -> Result<u64, Reply> {
    match arg.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Reply::text(
            400,
            format!("400 Bad Request: the number must be {min} to {max}\n"),
        )),
    }
}

fn bytes(arg: &str) -> Result<&'static [u8], Reply> {
    let n = number(arg, 0, MAX_BYTES as u64)?;
    Ok(&ONE_M[..usize::try_from(n).unwrap_or(MAX_BYTES)])
}

/// Where hop `n` of a chain goes: `{prefix}{n-1}`, and `/small` after the last.
fn hop(n: u64, prefix: &str) -> String {
    if n <= 1 {
        "/small".into()
    } else {
        format!("{prefix}{}", n - 1)
    }
}

fn redirect(location: String) -> Result<Reply, Reply> {
    let mut reply = Reply::text(302, format!("302 Found: {location}\n"));
    reply.location = Some(location);
    Ok(reply)
}

/// The request's `Host` when it is a plain authority, else the address it came in on.
fn authority(head: &Head<'_>, local: SocketAddr) -> String {
    match head.host {
        Some(host)
            if !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b)) =>
        {
            host.to_string()
        }
        _ => local.to_string(),
    }
}

fn status(code: u16) -> Result<Reply, Reply> {
    let mut reply = Reply::text(code, format!("{code} {}\n", reason(code)));
    if (300..400).contains(&code) && code != 304 {
        reply.location = Some("/small".into());
    }
    reply.challenge = code == 401;
    Ok(reply)
}

/// 200 with the credentials of [`CREDENTIALS`], else 401 asking for them.
fn auth(head: &Head<'_>) -> Result<Reply, Reply> {
    let given = head.authorization.map(<[u8]>::trim_ascii).and_then(|v| {
        let (scheme, token) = v.split_at(v.iter().position(|&b| b == b' ')?);
        Some((scheme, token.trim_ascii()))
    });
    match given {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case(b"basic") && token == CREDENTIALS => {
            Ok(Reply::text(200, "200 OK: authorized as bla\n"))
        }
        _ => {
            let mut reply = Reply::text(
                401,
                "401 Unauthorized: send Authorization: Basic YmxhOmJsdWI= (bla:blub)\n",
            );
            reply.challenge = true;
            Ok(reply)
        }
    }
}

fn not_found() -> Result<Reply, Reply> {
    Ok(Reply::text(
        404,
        "404 Not Found: not a route of volley serve (volley serve --help lists them)\n",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::request::Framing;

    const LOCAL: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9);

    fn get(path: &str) -> Reply {
        with(path, |_| {})
    }

    fn with(path: &str, edit: impl FnOnce(&mut Head<'_>)) -> Reply {
        let mut head = Head {
            head_only: false,
            http10: false,
            path,
            host: Some("h:1"),
            authorization: None,
            x_auth: false,
            keep_alive: true,
            expect_continue: false,
            body: Framing::Empty,
        };
        edit(&mut head);
        route(&head, LOCAL)
    }

    fn body_len(reply: &Reply) -> usize {
        match &reply.body {
            Body::Static(b) | Body::Chunked(b) => b.len(),
            Body::Text(t) => t.len(),
        }
    }

    #[test]
    fn fixed_bodies_have_the_bench_sizes() {
        for (path, len) in [
            ("/", 95),
            ("/small", 95),
            ("/1k", 1024),
            ("/16k", 16384),
            ("/1m", 1 << 20),
        ] {
            let reply = get(path);
            assert_eq!((reply.status, body_len(&reply)), (200, len), "{path}");
        }
        assert_eq!(body_len(&get("/small?x=1")), 95);
        assert_eq!(body_len(&get("/bytes/7")), 7);
        assert_eq!(get("/chunked/5000").body, Body::Chunked(&ONE_M[..5000]));
        assert_eq!(get("/bytes/1048577").status, 400);
    }

    #[test]
    fn redirect_chains_end_at_small() {
        let location = |path: &str| {
            let reply = get(path);
            assert_eq!(reply.status, 302, "{path}");
            reply.location.unwrap()
        };
        assert_eq!(location("/redirect/3"), "/redirect/2");
        assert_eq!(location("/redirect/1"), "/small");
        assert_eq!(location("/relative-redirect/3"), "2");
        assert_eq!(location("/relative-redirect/1"), "/small");
        assert_eq!(
            location("/absolute-redirect/2"),
            "http://h:1/absolute-redirect/1"
        );
        assert_eq!(location("/absolute-redirect/1"), "http://h:1/small");
        let no_host = with("/absolute-redirect/1", |h| h.host = None);
        assert_eq!(
            no_host.location.as_deref(),
            Some("http://127.0.0.1:9/small")
        );
        let odd_host = with("/absolute-redirect/1", |h| h.host = Some("a b"));
        assert_eq!(
            odd_host.location.as_deref(),
            Some("http://127.0.0.1:9/small")
        );
        assert_eq!(location("/-redir"), "/small");
        for bad in ["/redirect/0", "/redirect/101", "/redirect/x", "/redirect/"] {
            assert_eq!(get(bad).status, 400, "{bad}");
        }
    }

    #[test]
    fn statuses_and_delays() {
        assert_eq!(get("/status/418").status, 418);
        let moved = get("/status/301");
        assert_eq!(moved.location.as_deref(), Some("/small"));
        assert_eq!(get("/status/304").location, None);
        assert!(get("/status/401").challenge);
        assert_eq!(get("/status/199").status, 400);
        assert_eq!(get("/status/600").status, 400);
        assert_eq!(get("/delay/250").delay, Duration::from_millis(250));
        assert_eq!(get("/delay/10001").status, 400);
        assert_eq!(get("/nope").status, 404);
        assert_eq!(get("/bytes/1/x").status, 404);
        assert_eq!(get("").status, 404);
    }

    #[test]
    fn the_manuals_auth_flow() {
        let basic = |v: &'static [u8]| {
            move |h: &mut Head<'_>| {
                h.x_auth = true;
                h.authorization = Some(v);
            }
        };
        let asked = with("/-redir", |h| h.x_auth = true);
        assert_eq!((asked.status, asked.challenge), (401, true));
        assert_eq!(with("/-redir", basic(b"Basic YmxhOmJsdWI=")).status, 200);
        assert_eq!(with("/-redir", basic(b" basic  YmxhOmJsdWI= ")).status, 200);
        assert_eq!(with("/-redir", basic(b"Basic Zm9vOmJhcg==")).status, 401);
        assert_eq!(with("/-redir", basic(b"Bearer YmxhOmJsdWI=")).status, 401);
        assert_eq!(get("/auth").status, 401);
        assert_eq!(with("/auth", basic(b"Basic YmxhOmJsdWI=")).status, 200);
    }
}
