//! Hooks around every phase of a run (HTTP::LoadGen's ParentInit … ReqDone), custom URL
//! iterators, and the context a hook sees.
//!
//! A program that needs more than a run file implements [`Hooks`] and passes it to
//! `volley::loadgen` (or `volley::main_with`, which also gives it volley's whole command
//! line). The supervisor calls the parent hooks; each worker process gets its own copy of
//! the hooks object (the fork copies it) and calls the process, thread and request hooks.
//!
//! **Hooks run inside the worker's event loop and must not block**: no sleeping, no
//! blocking I/O, no waiting on locks. Every slot of the worker waits while a hook runs,
//! and the time it takes shows up in the latencies of requests in flight. Keep them short:
//! count, edit the request, choose the next one. A hook that must write (a log) should
//! buffer, as the per-request log does.
//!
//! With hooks, volley copies each request's description before `req_start` (so the hook
//! can edit it) and serializes it again when it changed: hook runs allocate per request,
//! runs without hooks do not.
//!
//! What a hook sees of a reply and may do about it (LoadGen's `$rc`, `req_done` and
//! `SbSlotsz`/`SbExtra`):
//!
//! - [`Record::headers`]: the final reply head's fields as received, borrowed from a
//!   per-slot copy of the head (no allocation once the buffer has grown to the heads seen);
//! - [`Record::payload`]: the first [`Hooks::capture_body`] bytes of the body's payload,
//!   kept only when the hooks ask (a per-slot buffer of that size);
//!   [`Record::payload_truncated`] says there was more (`body_bytes` counts every byte);
//! - [`Ctx::reject`] in [`Hooks::req_done`]: the hook's verdict that a reply is no
//!   success (LoadGen's `req_done` success flag). The reply then counts as a failed
//!   request of class `other` with the hook's detail, not as a reply;
//! - [`Ctx::count`]: adds to one of the [`Hooks::user_counters`] in the worker's
//!   scoreboard slot, which `volley top`, `/metrics` and the JSON report show by name.

use rand_chacha::ChaCha8Rng;
use rand_core::Rng;
use volley_config::{RequestSpec, RunSpec};
use volley_scoreboard::{Counter, ErrorClass, WorkerSlot};

use crate::outcome::Failure;
use crate::record::Record;

/// The detail of a reply a hook rejected without naming a reason (and of one whose
/// reason would read as volley's own `other/errno`).
pub const REJECT_DETAIL: &str = "hook";

/// The largest [`Hooks::capture_body`] honoured (larger asks are cut to it): each slot
/// keeps a buffer of this size.
pub const MAX_CAPTURE_BODY: usize = 16 * 1024 * 1024;

/// What a custom iterator hands out next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The URL list's entry at this index (serialized once: the cheap way).
    Entry(usize),
    /// A request made up on the spot (serialized when it is sent).
    Request(Box<RequestSpec>),
}

/// The previous request of a slot and its result, as an iterator sees them.
#[derive(Debug, Clone, Copy)]
pub struct Prev<'a> {
    /// The request as it was sent.
    pub request: &'a RequestSpec,
    /// Its result record.
    pub result: &'a Record<'a>,
}

/// A URL iterator (LoadGen's InitURLs): made fresh for every round of every slot by
/// [`Hooks::iterator`]; each call gives the slot's next request, `None` ending the round.
pub trait UrlIterator<D> {
    /// The next request, knowing the previous one and its result (`None` at the start of
    /// the slot's first round).
    fn next(&mut self, ctx: &mut Ctx<'_>, data: &mut D, prev: Option<Prev<'_>>) -> Option<Next>;
}

/// Hooks around every phase; every method has a default that does nothing.
pub trait Hooks {
    /// Per-slot user data (LoadGen's `userdata`), made by [`Hooks::thread_init`].
    type Data: Default;

    /// False only for [`NoHooks`]: a run without hooks skips every hook call and the
    /// request copies hooks need.
    const ACTIVE: bool = true;

    /// In the supervisor, after the spec is checked and before the workers are forked.
    fn parent_init(&mut self, spec: &RunSpec) {
        let _ = spec;
    }

    /// In the supervisor, after every worker was reaped.
    fn parent_exit(&mut self) {}

    /// In worker process `proc` (0-based) before it waits for the release.
    fn proc_init(&mut self, proc: u32) {
        let _ = proc;
    }

    /// In worker process `proc` after its load is over; the return value is the worker's
    /// exit code (nonzero makes the run invalid, as any failed worker does).
    fn proc_exit(&mut self, proc: u32) -> i32 {
        let _ = proc;
        0
    }

    /// When a slot starts (ramp-up); returns its user data.
    fn thread_init(&mut self, ctx: &mut Ctx<'_>) -> Self::Data {
        let _ = ctx;
        Self::Data::default()
    }

    /// When a slot is done (its rounds are over, `done` was set, or the run stops).
    fn thread_exit(&mut self, ctx: &mut Ctx<'_>, data: &mut Self::Data) {
        let _ = (ctx, data);
    }

    /// Before each request is sent (after its pre-delay); may edit the request. Setting
    /// `ctx.done` ends the slot after this request (without its post-delay).
    fn req_start(&mut self, ctx: &mut Ctx<'_>, data: &mut Self::Data, req: &mut RequestSpec) {
        let _ = (ctx, data, req);
    }

    /// After each request, with its result record (the per-request log's fields, the
    /// reply's header fields and, with [`Hooks::capture_body`], the start of its body).
    /// Setting `ctx.done` ends the slot now (without the post-delay). For a reply,
    /// [`Ctx::reject`] makes it count as a failed request (class `other`, the given
    /// detail); it is called before the reply is counted, so its record has no post-delay
    /// yet.
    fn req_done(
        &mut self,
        ctx: &mut Ctx<'_>,
        data: &mut Self::Data,
        result: &Record<'_>,
        req: &RequestSpec,
    ) {
        let _ = (ctx, data, result, req);
    }

    /// The names of this program's user counters (at most 8, each 1 to 15 bytes of
    /// `A-Z a-z 0-9 _ - .`), in the order [`Ctx::count`] numbers them. Asked once, in
    /// the supervisor before the fork; the names go into the scoreboard's header.
    fn user_counters(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// How many bytes of each reply body's payload [`Hooks::req_done`] and iterators see
    /// in [`Record::payload`] (0, the default: none, and nothing is copied). Asked once per
    /// worker; each slot keeps a buffer of this size (at most [`MAX_CAPTURE_BODY`]).
    fn capture_body(&self) -> usize {
        0
    }

    /// The custom iterators this program defines, by name (a run file's `iterator` may
    /// name one of them).
    fn iterator_names(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// A fresh iterator called `name` for a slot's new round (`None` if unknown; the
    /// slot then ends). `ctx` gives the slot's RNG and the URL list, to build on the
    /// built-ins in [`crate::iterators`].
    fn iterator(
        &mut self,
        name: &str,
        ctx: &mut Ctx<'_>,
    ) -> Option<Box<dyn UrlIterator<Self::Data>>> {
        let _ = (name, ctx);
        None
    }
}

/// The hooks of a run without hooks.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHooks;

impl Hooks for NoHooks {
    type Data = ();
    const ACTIVE: bool = false;
}

/// LoadGen's ScoreBoard API over volley's scoreboard: totals over every worker, read
/// live (relaxed, so a snapshot may be a few requests behind).
#[derive(Debug, Clone)]
pub struct Board<'a> {
    slots: Vec<&'a WorkerSlot>,
}

impl<'a> Board<'a> {
    /// A board over every worker's slot.
    pub fn new(slots: Vec<&'a WorkerSlot>) -> Self {
        Board { slots }
    }

    fn sum(&self, counters: &[Counter]) -> u64 {
        self.slots
            .iter()
            .map(|s| counters.iter().map(|&c| s.get(c)).sum::<u64>())
            .sum()
    }

    /// Slots running now, over all workers.
    pub fn thread_count(&self) -> u64 {
        self.sum(&[Counter::ThreadsActive])
    }

    /// Requests started.
    pub fn req_started(&self) -> u64 {
        self.sum(&[Counter::RequestsStarted])
    }

    /// Requests that got a 1xx-3xx reply (LoadGen's example counts 2xx and 3xx).
    pub fn req_success(&self) -> u64 {
        self.sum(&[
            Counter::Replies1xx,
            Counter::Replies2xx,
            Counter::Replies3xx,
        ])
    }

    /// Requests that failed or got a 4xx/5xx reply.
    pub fn req_failed(&self) -> u64 {
        self.sum(&[
            Counter::RequestsFailed,
            Counter::Replies4xx,
            Counter::Replies5xx,
        ])
    }

    /// Reply header fields received.
    pub fn header_count(&self) -> u64 {
        self.sum(&[Counter::HeaderCount])
    }

    /// Reply head bytes received.
    pub fn header_bytes(&self) -> u64 {
        self.sum(&[Counter::HeaderBytes])
    }

    /// Reply body bytes received.
    pub fn body_bytes(&self) -> u64 {
        self.sum(&[Counter::BodyBytes])
    }

    /// User counter `i` (see [`Hooks::user_counters`]) over every worker.
    pub fn user(&self, i: usize) -> u64 {
        self.slots.iter().map(|s| s.user(i)).sum()
    }
}

/// What a hook sees of its slot (LoadGen's threadnr, rng/rnd, options, scoreboard, done).
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Worker process number.
    pub proc: u32,
    /// Global slot (thread) number.
    pub slot: u32,
    /// Index of the slot within its worker.
    pub local: u32,
    /// Round of the URL list (1-based; 0 before the first).
    pub round: u64,
    /// The slot's random stream (seeded: the same per-slot sequence whatever the worker
    /// count).
    pub rng: &'a mut ChaCha8Rng,
    /// The run's options.
    pub spec: &'a RunSpec,
    /// Totals over every worker.
    pub board: &'a Board<'a>,
    /// Set to end the slot (see [`Hooks::req_start`] and [`Hooks::req_done`]).
    pub done: bool,
    /// Set by [`Ctx::reject`]: the reply is no success, for this reason.
    pub rejected: Option<&'static str>,
}

impl Ctx<'_> {
    /// LoadGen's `rnd`: a uniform number in `[0, max)` from the slot's RNG.
    pub fn rnd(&mut self, max: f64) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * max
    }

    /// The URL list.
    pub fn url_list(&self) -> &[RequestSpec] {
        &self.spec.requests
    }

    /// In [`Hooks::req_done`]: the reply is no success (LoadGen's `req_done` with a false
    /// flag). It counts as a failed request of class `other` with detail `detail` (a
    /// short fixed name such as `no-token`; empty or `errno` become
    /// [`REJECT_DETAIL`]), is logged with status 599, and its post-delay is drawn as
    /// for a failure. The connection stays as the reply's framing allows. Has no effect
    /// on a request that already failed, or in other hooks.
    pub fn reject(&mut self, detail: &'static str) {
        self.rejected = Some(detail);
    }

    /// Adds `n` to this worker's user counter `i` (numbered as
    /// [`Hooks::user_counters`] names them; an index past the last is ignored). The
    /// counter lives in the worker's scoreboard slot: `volley top`, `/metrics` and the
    /// report see it.
    pub fn count(&self, i: usize, n: u64) {
        if let Some(own) = self.board.slots.get(self.proc as usize) {
            own.add_user(i, n);
        }
    }
}

/// The failure a rejected reply counts as.
pub(crate) fn rejection(detail: &'static str) -> Failure {
    let detail = match detail {
        "" | "errno" => REJECT_DETAIL,
        d => d,
    };
    Failure::new(ErrorClass::Other, detail)
}

/// The worker's type-erased handle on a [`Hooks`] object and its per-slot state.
pub trait SlotHooks: std::fmt::Debug {
    /// See [`Hooks::thread_init`].
    fn thread_init(&mut self, ctx: &mut Ctx<'_>);
    /// See [`Hooks::thread_exit`].
    fn thread_exit(&mut self, ctx: &mut Ctx<'_>);
    /// See [`Hooks::req_start`].
    fn req_start(&mut self, ctx: &mut Ctx<'_>, req: &mut RequestSpec);
    /// See [`Hooks::req_done`].
    fn req_done(&mut self, ctx: &mut Ctx<'_>, result: &Record<'_>, req: &RequestSpec);
    /// See [`Hooks::capture_body`] (asked once, when attached).
    fn capture_body(&self) -> usize;
    /// True when a custom iterator picks the requests.
    fn iterates(&self) -> bool;
    /// Starts a new round of the slot's custom iterator.
    fn new_round(&mut self, ctx: &mut Ctx<'_>);
    /// The custom iterator's next request of the round.
    fn next(&mut self, ctx: &mut Ctx<'_>, prev: Option<Prev<'_>>) -> Option<Next>;
}

/// A [`Hooks`] object attached to one worker's slots.
pub struct Attached<'h, H: Hooks> {
    hooks: &'h mut H,
    capture_body: usize,
    data: Vec<H::Data>,
    iterator: Option<String>,
    iters: Vec<Option<Box<dyn UrlIterator<H::Data>>>>,
}

impl<H: Hooks> std::fmt::Debug for Attached<'_, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attached")
            .field("slots", &self.data.len())
            .field("iterator", &self.iterator)
            .finish()
    }
}

impl<'h, H: Hooks> Attached<'h, H> {
    /// Attaches `hooks` to `slots` slots; `iterator` names the custom iterator, if the run
    /// uses one.
    pub fn new(hooks: &'h mut H, slots: usize, iterator: Option<String>) -> Self {
        Attached {
            capture_body: hooks.capture_body().min(MAX_CAPTURE_BODY),
            hooks,
            data: (0..slots).map(|_| H::Data::default()).collect(),
            iterator,
            iters: (0..slots).map(|_| None).collect(),
        }
    }
}

impl<H: Hooks> SlotHooks for Attached<'_, H> {
    fn thread_init(&mut self, ctx: &mut Ctx<'_>) {
        self.data[ctx.local as usize] = self.hooks.thread_init(ctx);
    }

    fn thread_exit(&mut self, ctx: &mut Ctx<'_>) {
        self.hooks
            .thread_exit(ctx, &mut self.data[ctx.local as usize]);
    }

    fn req_start(&mut self, ctx: &mut Ctx<'_>, req: &mut RequestSpec) {
        self.hooks
            .req_start(ctx, &mut self.data[ctx.local as usize], req);
    }

    fn req_done(&mut self, ctx: &mut Ctx<'_>, result: &Record<'_>, req: &RequestSpec) {
        self.hooks
            .req_done(ctx, &mut self.data[ctx.local as usize], result, req);
    }

    fn capture_body(&self) -> usize {
        self.capture_body
    }

    fn iterates(&self) -> bool {
        self.iterator.is_some()
    }

    fn new_round(&mut self, ctx: &mut Ctx<'_>) {
        let name = self.iterator.as_deref().unwrap_or_default();
        self.iters[ctx.local as usize] = self.hooks.iterator(name, ctx);
    }

    fn next(&mut self, ctx: &mut Ctx<'_>, prev: Option<Prev<'_>>) -> Option<Next> {
        let local = ctx.local as usize;
        let iter = self.iters[local].as_mut()?;
        iter.next(ctx, &mut self.data[local], prev)
    }
}
