//! The four built-in URL iterators as [`UrlIterator`]s, for hook programs that build on
//! them (LoadGen's `get_iterator`): [`List`] (`default` and `random_start`) and [`Follow`],
//! which turns any iterator into a following one.
//!
//! A run file that names a built-in iterator gets volley's native implementation, which
//! does the same walk with the same draws from the slot's RNG and allocates nothing per
//! request; these are for composing: `Follow::new(MyIterator, 10)`. One difference: the
//! native `follow` postpones the post-delay to the end of a redirect chain; through
//! [`Follow`] each hop is a request of its own, with its post-delay.

use crate::hooks::{Ctx, Next, Prev, UrlIterator};
use crate::workload::{below, is_redirect, resolve_location};

/// Walks the URL list once from an offset, wrapping around (`default`: offset 0;
/// `random_start`: drawn from the slot's RNG).
#[derive(Debug, Clone)]
pub struct List {
    len: usize,
    offset: usize,
    taken: usize,
}

impl List {
    /// The `default` iterator: the list from its first entry to its last.
    pub fn default_order(ctx: &Ctx<'_>) -> List {
        List {
            len: ctx.url_list().len(),
            offset: 0,
            taken: 0,
        }
    }

    /// The `random_start` iterator: from an entry drawn from the slot's RNG (the draw the
    /// native iterator makes), wrapping, each entry once.
    pub fn random_start(ctx: &mut Ctx<'_>) -> List {
        let len = ctx.url_list().len();
        let offset = if len > 1 {
            below(ctx.rng, len as u64) as usize
        } else {
            0
        };
        List {
            len,
            offset,
            taken: 0,
        }
    }
}

impl<D> UrlIterator<D> for List {
    fn next(&mut self, _ctx: &mut Ctx<'_>, _data: &mut D, _prev: Option<Prev<'_>>) -> Option<Next> {
        if self.taken == self.len {
            return None;
        }
        let entry = (self.offset + self.taken) % self.len;
        self.taken += 1;
        Some(Next::Entry(entry))
    }
}

/// LoadGen's `follow`: after a 3xx reply whose `Location` stays on the same origin (or
/// goes to another one the run allows: `follow_cross_origin`), the
/// next request is the redirect (GET without a body; 307/308 keep method and body; only
/// Host, User-Agent and Referer are kept), up to `max_hops` in a row; otherwise the
/// wrapped iterator's next.
#[derive(Debug, Clone)]
pub struct Follow<I> {
    inner: I,
    max_hops: u32,
    hops: u32,
    /// The previous request was handed out by this iterator (not the last round's).
    started: bool,
}

impl<I> Follow<I> {
    /// Follows redirects of the requests `inner` hands out.
    pub fn new(inner: I, max_hops: u32) -> Self {
        Follow {
            inner,
            max_hops,
            hops: 0,
            started: false,
        }
    }
}

impl<D, I: UrlIterator<D>> UrlIterator<D> for Follow<I> {
    fn next(&mut self, ctx: &mut Ctx<'_>, data: &mut D, prev: Option<Prev<'_>>) -> Option<Next> {
        let mine = std::mem::replace(&mut self.started, true);
        if let Some(p) = prev
            && mine
            && is_redirect(p.result.status)
            && self.hops < self.max_hops
            && let Some(to) = resolve_location(
                p.result.location,
                &p.request.target,
                &p.request.target.path,
                ctx.spec.follow_cross_origin.then_some(&ctx.spec.dnscache),
            )
        {
            self.hops += 1;
            let hop = crate::workload::redirect_to(p.request, p.result.status, to);
            return Some(Next::Request(Box::new(hop.spec)));
        }
        self.hops = 0;
        self.inner.next(ctx, data, prev)
    }
}
