//! The workload: the URL list serialized once, how a slot walks it (LoadGen's iterators),
//! the delays drawn before and after each request, and redirects for `follow`.
//!
//! Every random choice is drawn from the slot's own RNG, in an order that depends only on
//! the slot's requests and their replies, never on timing or on the worker the slot runs
//! in: a seeded run repeats its per-slot sequences with any worker count.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use rand_chacha::ChaCha8Rng;
use rand_core::Rng;
use volley_config::{Delay, IteratorKind, RequestSpec, Target};

use crate::http::request::{WireRequest, serialize};

/// A URL-list entry ready to send.
#[derive(Debug)]
pub struct Prepared {
    /// The entry as configured.
    pub spec: RequestSpec,
    /// Its bytes on the wire.
    pub wire: WireRequest,
    /// Its URL, for the per-request log.
    pub url: String,
}

impl Prepared {
    /// Serializes `spec`.
    pub fn new(spec: &RequestSpec) -> Prepared {
        Prepared {
            wire: serialize(spec),
            url: spec.target.url(),
            spec: spec.clone(),
        }
    }
}

/// A request made up on the way: a redirect hop, a custom iterator's request, or a
/// request a `req_start` hook edited. Serialized when it is made.
#[derive(Debug)]
pub struct Dynamic {
    /// The request.
    pub spec: RequestSpec,
    /// Its bytes on the wire.
    pub wire: WireRequest,
    /// Its URL (for the log).
    pub url: String,
    /// Why it cannot be sent ([`RequestSpec::check_sendable`]): only a hook can make
    /// such a request (a redirect's target is checked when it is read). It then fails
    /// as `other/hook-request` without being sent.
    pub refused: Option<String>,
}

impl Dynamic {
    /// Checks and serializes `spec`.
    pub fn new(spec: RequestSpec) -> Dynamic {
        Dynamic {
            wire: serialize(&spec),
            url: spec.target.url(),
            refused: spec.check_sendable().err(),
            spec,
        }
    }
}

/// Where a slot is in its walk over the URL list.
#[derive(Debug, Clone, Copy, Default)]
pub struct Walk {
    /// Rounds begun (1 during the first round; 0 before it).
    pub round: u64,
    /// Entries taken in the current round.
    pub taken: u32,
    /// The current round's first entry.
    pub offset: u32,
}

impl Walk {
    /// The next entry to run, starting a new round when the current one is over; `None`
    /// when `rounds` rounds are done.
    pub fn next(
        &mut self,
        len: u32,
        kind: IteratorKind,
        rounds: Option<u64>,
        rng: &mut ChaCha8Rng,
    ) -> Option<u32> {
        if self.round == 0 || self.taken == len {
            if rounds.is_some_and(|r| self.round >= r) {
                return None;
            }
            self.round += 1;
            self.taken = 0;
            self.offset = if kind.random_start() && len > 1 {
                below(rng, u64::from(len)) as u32
            } else {
                0
            };
        }
        let entry = (self.offset + self.taken) % len;
        self.taken += 1;
        Some(entry)
    }
}

/// A uniform draw in `0..n` (`n > 0`), by multiply-shift: one 64-bit draw, bias below
/// 2^-32 for any `n` a run can have.
pub fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

/// LoadGen's `delay - jitter + rand(2 * jitter)`, clamped at zero, in ns. Draws from the
/// RNG only when there is jitter.
pub fn draw_delay(d: Delay, rng: &mut ChaCha8Rng) -> u64 {
    let delay = u64::try_from(d.delay.as_nanos()).unwrap_or(u64::MAX);
    let jitter = u64::try_from(d.jitter.as_nanos()).unwrap_or(u64::MAX / 4);
    if jitter == 0 {
        return delay;
    }
    let spread = below(rng, jitter.saturating_mul(2));
    (delay.saturating_add(spread)).saturating_sub(jitter)
}

/// True for the statuses a `follow` iterator follows.
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The path a `Location` value points to when it stays on `target`'s origin (absolute
/// http URL with the same host and port, network-path or path reference), resolved
/// against `base_path`. `None` for another origin or scheme (not followed).
#[cfg(test)]
pub fn same_origin_path(location: &str, target: &Target, base_path: &str) -> Option<String> {
    resolve_location(location, target, base_path, None).map(|t| t.path)
}

/// Where a `Location` value points, resolved against `target` and `base_path`: on the
/// same origin (scheme, host and port) always; on another http or https origin only
/// when `others` is given and the host is an IP literal or one of its names (names are
/// never resolved during a run).
pub fn resolve_location(
    location: &str,
    target: &Target,
    base_path: &str,
    others: Option<&BTreeMap<String, IpAddr>>,
) -> Option<Target> {
    let location = location.split('#').next().unwrap_or("");
    if location.is_empty() || location.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return None;
    }
    let same = |path: String| {
        Some(Target {
            path,
            ..target.clone()
        })
    };
    let authority_path = |rest: &str, tls: bool| -> Option<Target> {
        let default_port = if tls { 443 } else { 80 };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                if h.contains(':') && !h.starts_with('[') {
                    (authority, default_port)
                } else {
                    (h, p.parse().ok()?)
                }
            }
            _ => (authority, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        if host.eq_ignore_ascii_case(&target.host) && port == target.port && tls == target.tls {
            return same(path);
        }
        let others = others?;
        if host.is_empty() {
            return None;
        }
        let (ip, dns_cached) = match host.parse::<IpAddr>() {
            Ok(ip) => (ip, false),
            Err(_) => (*others.get(&host.to_ascii_lowercase())?, true),
        };
        Some(Target {
            host: host.to_string(),
            port,
            addr: SocketAddr::new(ip, port),
            path,
            dns_cached,
            tls,
        })
    };
    if let Some((scheme, rest)) = location.split_once("://")
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return if scheme.eq_ignore_ascii_case("http") {
            authority_path(rest, false)
        } else if scheme.eq_ignore_ascii_case("https") {
            authority_path(rest, true)
        } else {
            None
        };
    }
    if let Some(rest) = location.strip_prefix("//") {
        return authority_path(rest, target.tls);
    }
    if location.starts_with('/') {
        return same(location.to_string());
    }
    // A relative reference: against the base path's directory (RFC 3986 §5.2, without
    // dot-segment removal).
    let base = base_path.split('?').next().unwrap_or("/");
    if let Some(query) = location.strip_prefix('?') {
        return same(format!("{base}?{query}"));
    }
    let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
    let dir = if dir.is_empty() { "/" } else { dir };
    same(format!("{dir}{location}"))
}

/// The next hop of a redirect chain after a `status` reply to `from`: GET without a body
/// (the method and body are kept for 307 and 308) to `to`, with only the `Host`,
/// `User-Agent` and `Referer` fields of `from` (LoadGen's follow_3XX), and its keep-alive,
/// delays and timeouts; on another origin the `Host` field of `from` is not kept
/// (the new one comes from the target).
pub fn redirect_to(from: &RequestSpec, status: u16, to: Target) -> Dynamic {
    let same_origin = to.addr == from.target.addr && to.host == from.target.host;
    let mut spec = from.clone();
    spec.target = to;
    spec.headers.retain(|(n, _)| {
        ["user-agent", "referer"]
            .iter()
            .any(|k| n.eq_ignore_ascii_case(k))
            || (same_origin && n.eq_ignore_ascii_case("host"))
    });
    if !matches!(status, 307 | 308) {
        spec.method = "GET".to_string();
        spec.body = Vec::new();
    }
    Dynamic::new(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::slot_rng;
    use std::net::SocketAddr;
    use std::time::Duration;

    fn target() -> Target {
        Target {
            host: "app.test".into(),
            port: 8080,
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            path: "/a/b?q=1".into(),
            dns_cached: true,
            tls: false,
        }
    }

    #[test]
    fn default_walk_goes_in_order_round_after_round() {
        let mut rng = slot_rng(1, 0);
        let mut w = Walk::default();
        let got: Vec<_> =
            std::iter::from_fn(|| w.next(3, IteratorKind::Default, Some(2), &mut rng)).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2]);
        assert_eq!(w.round, 2);
    }

    #[test]
    fn random_start_takes_each_entry_once_per_round_from_a_drawn_offset() {
        let mut rng = slot_rng(7, 3);
        let mut w = Walk::default();
        let got: Vec<u32> =
            std::iter::from_fn(|| w.next(5, IteratorKind::RandomStart, Some(40), &mut rng))
                .collect();
        assert_eq!(got.len(), 200);
        let mut offsets = std::collections::BTreeSet::new();
        for round in got.chunks(5) {
            let mut sorted = round.to_vec();
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2, 3, 4]);
            for k in 1..5 {
                assert_eq!(round[k], (round[0] + k as u32) % 5, "wraps around");
            }
            offsets.insert(round[0]);
        }
        assert_eq!(offsets.len(), 5, "every offset drawn in 40 rounds");
        // Same seed and slot: same walk.
        let mut rng2 = slot_rng(7, 3);
        let mut w2 = Walk::default();
        let again: Vec<u32> =
            std::iter::from_fn(|| w2.next(5, IteratorKind::RandomStart, Some(40), &mut rng2))
                .collect();
        assert_eq!(got, again);
    }

    #[test]
    fn delays_stay_within_jitter_and_never_go_negative() {
        let mut rng = slot_rng(1, 1);
        let d = Delay {
            delay: Duration::from_millis(100),
            jitter: Duration::from_millis(50),
        };
        let draws: Vec<u64> = (0..2000).map(|_| draw_delay(d, &mut rng)).collect();
        assert!(
            draws
                .iter()
                .all(|&ns| (50_000_000..150_000_000).contains(&ns))
        );
        let mean = draws.iter().sum::<u64>() / draws.len() as u64;
        assert!((95_000_000..105_000_000).contains(&mean), "{mean}");
        let wide = Delay {
            delay: Duration::from_millis(10),
            jitter: Duration::from_millis(100),
        };
        let zeros = (0..1000)
            .filter(|_| draw_delay(wide, &mut rng) == 0)
            .count();
        assert!(zeros > 300, "negative intervals clamp to no wait: {zeros}");
        let fixed = Delay {
            delay: Duration::from_millis(3),
            jitter: Duration::ZERO,
        };
        let before = rng.clone().next_u64();
        assert_eq!(draw_delay(fixed, &mut rng), 3_000_000);
        assert_eq!(rng.next_u64(), before, "no jitter, no draw");
    }

    #[test]
    fn locations() {
        let t = target();
        let p = |l: &str| same_origin_path(l, &t, "/a/b?q=1");
        assert_eq!(p("/x?y").as_deref(), Some("/x?y"));
        assert_eq!(p("c").as_deref(), Some("/a/c"));
        assert_eq!(p("?z=2").as_deref(), Some("/a/b?z=2"));
        assert_eq!(p("http://app.test:8080/d").as_deref(), Some("/d"));
        assert_eq!(p("HTTP://APP.TEST:8080").as_deref(), Some("/"));
        assert_eq!(p("//app.test:8080/e#frag").as_deref(), Some("/e"));
        assert_eq!(p("http://other.test:8080/d"), None);
        assert_eq!(p("http://app.test/d"), None, "port 80 is another origin");
        assert_eq!(p("https://app.test:8080/d"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("/a b"), None);
        let others: BTreeMap<String, IpAddr> =
            [("other.test".to_string(), IpAddr::from([127, 0, 0, 2]))].into();
        let o = |l: &str| resolve_location(l, &t, "/", Some(&others));
        let to = o("http://Other.Test:9/x").unwrap();
        assert_eq!(
            (to.addr.to_string().as_str(), to.path.as_str()),
            ("127.0.0.2:9", "/x")
        );
        assert!(to.dns_cached);
        assert_eq!(
            o("http://127.0.0.3/").unwrap().addr.to_string(),
            "127.0.0.3:80"
        );
        assert_eq!(
            o("http://unknown.test/"),
            None,
            "names are not resolved mid-run"
        );
        let tls = o("https://other.test/").unwrap();
        assert_eq!((tls.tls, tls.port, tls.dns_cached), (true, 443, true));
        assert_eq!(o("ftp://other.test/"), None);
        assert_eq!(o("/same").unwrap().addr, t.addr);
    }
}
