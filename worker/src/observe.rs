//! What watches the requests of a run besides the statistics: the per-request log,
//! hooks (`req_start`, `req_done`, `thread_init`, `thread_exit`, custom iterators),
//! `--print-request`/`--print-reply` and httperf's session cookies. Each is optional; the
//! rest of the worker calls the `observe_*` steps below at the points of a request's
//! life, and this file alone looks at which observers a run has.

use crate::calls::CallLog;
use crate::event_loop::Worker;
use crate::hooks::{Board, Ctx, Prev, SlotHooks, rejection};
use crate::http::request::serialize;
use crate::outcome::Failure;
use crate::print::Printer;
use crate::record::LogWriter;
use crate::record::make_record;
use crate::workload::Dynamic;

/// The observers of a worker's requests; each is optional.
#[derive(Debug, Default)]
pub(crate) struct Observers<'a> {
    /// This worker's part of the per-request log.
    pub log: Option<LogWriter>,
    /// `--print-request`/`--print-reply`.
    pub printer: Option<Printer>,
    /// The run's hooks and the totals over every worker they see.
    pub hooks: Option<(&'a mut dyn SlotHooks, Board<'a>)>,
    /// httperf's `--call-stats`: the first calls' statistics.
    pub calls: Option<CallLog>,
}

impl Observers<'_> {
    /// The hooks pick requests with a custom iterator.
    pub fn iterates(&self) -> bool {
        self.hooks.as_ref().is_some_and(|(h, _)| h.iterates())
    }
}

impl Worker<'_> {
    /// A slot starts (ramp-up): `thread_init`.
    pub(crate) fn observe_slot_start(&mut self, s: u32) {
        if self.obs.hooks.is_some() {
            self.with_ctx(s, |h, ctx, _| h.thread_init(ctx));
        }
    }

    /// A slot is done: `thread_exit`.
    pub(crate) fn observe_slot_end(&mut self, s: u32) {
        if self.obs.hooks.is_some() {
            self.with_ctx(s, |h, ctx, _| h.thread_exit(ctx));
        }
    }

    /// A new request starts: `req_start` may edit it; the session's cookie is added.
    pub(crate) fn observe_request_start(&mut self, s: u32) {
        if self.obs.hooks.is_some() {
            let mut spec = self.slots[s as usize].sched.spec(&self.plan).clone();
            self.with_ctx(s, |h, ctx, _| h.req_start(ctx, &mut spec));
            let sched = &mut self.slots[s as usize].sched;
            if spec != *sched.spec(&self.plan) {
                sched.cur.dynamic = Some(Box::new(Dynamic::new(spec)));
            }
        }
        let sched = &self.slots[s as usize].sched;
        if sched.session.as_ref().is_some_and(|s| !s.cookie.is_empty()) {
            self.add_cookie(s);
        }
    }

    /// The request (and those pipelined behind it) goes out: `--print-request`.
    pub(crate) fn observe_sending(&mut self, s: u32) {
        if self.obs.printer.is_some() {
            self.print_requests(s);
        }
    }

    /// The reply is complete: `--print-reply`'s summary line.
    pub(crate) fn observe_reply_end(&mut self, s: u32) {
        if self.obs.printer.is_some() {
            self.print_reply_end(s);
        }
    }

    /// The request failed: `--print-reply` says so.
    pub(crate) fn observe_failure(&mut self, s: u32) {
        let slot = &mut self.slots[s as usize];
        if let (Some(p), Some(call)) = (self.obs.printer.as_mut(), slot.print.as_mut()) {
            p.reply_failed(call.id, &mut call.line);
        }
    }

    /// Slot `s`'s request has ended (its result is set): written to the per-request log,
    /// kept for `--call-stats`, and shown to the `req_done` hook (unless
    /// [`Worker::judge_reply`] showed it).
    pub(crate) fn emit(&mut self, s: u32, now: u64) {
        if let Some(calls) = self.obs.calls.as_mut() {
            calls.ended(&mut self.slots[s as usize], now);
        }
        if let Some(log) = self.obs.log.as_mut() {
            let slot = &self.slots[s as usize];
            log.write(&make_record(&self.plan, slot, self.index, self.start_ns));
        }
        let judged = std::mem::take(&mut self.slots[s as usize].exchange.result.judged);
        if self.obs.hooks.is_some() && !judged {
            self.with_ctx(s, |h, ctx, prev| {
                if let Some(p) = prev {
                    h.req_done(ctx, p.result, p.request);
                }
            });
        }
    }

    /// Slot `s`'s reply is complete and not yet counted: `req_done` sees it now, and its
    /// verdict ([`crate::hooks::Ctx::reject`]) decides whether it counts as a reply or as
    /// the failure returned. [`Worker::emit`] then skips the hook for it.
    pub(crate) fn judge_reply(&mut self, s: u32) -> Option<Failure> {
        self.obs.hooks.as_ref()?;
        let rejected = self.with_ctx(s, |h, ctx, prev| {
            if let Some(p) = prev {
                h.req_done(ctx, p.result, p.request);
            }
            ctx.rejected
        });
        self.slots[s as usize].exchange.result.judged = true;
        rejected.map(rejection)
    }

    /// Calls `f` with the hooks, a context for slot `s` and its previous request and
    /// result. The slot's RNG is lent to the context and put back after.
    pub(crate) fn with_ctx<T>(
        &mut self,
        s: u32,
        f: impl FnOnce(&mut dyn SlotHooks, &mut Ctx<'_>, Option<Prev<'_>>) -> T,
    ) -> T {
        let Some((hooks, board)) = self.obs.hooks.as_mut() else {
            unreachable!("with_ctx is only called with hooks");
        };
        let mut rng = self.slots[s as usize].sched.rng.clone();
        let slot = &self.slots[s as usize];
        let record = make_record(&self.plan, slot, self.index, self.start_ns);
        let prev = Prev {
            request: slot.sched.spec(&self.plan),
            result: &record,
        };
        let mut ctx = Ctx {
            proc: self.index,
            slot: slot.global,
            local: s,
            round: slot.sched.walk.round,
            rng: &mut rng,
            spec: self.plan.spec,
            board,
            done: false,
            rejected: None,
        };
        let out = f(&mut **hooks, &mut ctx, Some(prev));
        let done = ctx.done;
        let sched = &mut self.slots[s as usize].sched;
        sched.rng = rng;
        sched.done_after |= done;
        out
    }

    /// `--session-cookies`: the request about to go out, and those pipelined behind it,
    /// carry the session's cookie (serialized anew: only runs with the option pay).
    fn add_cookie(&mut self, s: u32) {
        let sched = &mut self.slots[s as usize].sched;
        let Some(sess) = sched.session.as_ref() else {
            return;
        };
        let cookie = ("Cookie".to_string(), sess.cookie.clone());
        let mut spec = sched.spec(&self.plan).clone();
        spec.headers.push(cookie.clone());
        let current = Dynamic::new(spec);
        if let Some(b) = sched.burst.as_mut()
            && !b.queue.is_empty()
        {
            let mut bytes = current.wire.bytes.clone();
            for q in &b.queue {
                let mut spec = self.plan.requests[q.entry as usize].spec.clone();
                spec.headers.push(cookie.clone());
                bytes.extend_from_slice(&serialize(&spec).bytes);
            }
            b.bytes = bytes;
        }
        sched.cur.dynamic = Some(Box::new(current));
    }

    /// `--print-request`: the request about to go out, and those pipelined behind it,
    /// each with a new call number.
    fn print_requests(&mut self, s: u32) {
        let Some(p) = self.obs.printer.as_mut() else {
            return;
        };
        let slot = &mut self.slots[s as usize];
        let Some(call) = slot.print.as_mut() else {
            return;
        };
        call.id = p.call_id();
        call.line.clear();
        let wire = slot.sched.wire(&self.plan);
        p.request(call.id, &wire.bytes, wire.head_len);
        let cookie = slot
            .sched
            .session
            .as_ref()
            .map_or("", |s| s.cookie.as_str());
        for q in slot.sched.burst.iter().flat_map(|b| b.queue.iter()) {
            let id = p.call_id();
            if cookie.is_empty() {
                let wire = &self.plan.requests[q.entry as usize].wire;
                p.request(id, &wire.bytes, wire.head_len);
            } else {
                // As sent: with the session's cookie.
                let mut spec = self.plan.requests[q.entry as usize].spec.clone();
                spec.headers.push(("Cookie".into(), cookie.to_string()));
                let wire = serialize(&spec);
                p.request(id, &wire.bytes, wire.head_len);
            }
        }
    }

    /// `--print-reply`: the reply's summary line.
    fn print_reply_end(&mut self, s: u32) {
        let slot = &mut self.slots[s as usize];
        let (Some(p), Some(call)) = (self.obs.printer.as_mut(), slot.print.as_mut()) else {
            return;
        };
        let footer = slot.exchange.trailer_bytes() as u64;
        let r = &slot.exchange.result;
        p.reply_end(
            call.id,
            &mut call.line,
            r.header_bytes,
            r.body_bytes,
            footer,
        );
    }
}
