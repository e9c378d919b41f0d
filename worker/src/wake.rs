//! How the event loop waits: epoll, a precise timer for open-loop starts, and the wake
//! policy.
//!
//! [`Waiter`] owns the `mio::Poll` and its events. Its [`Policy`] is a value chosen once
//! per run:
//!
//! - a loop wakes for every event ([`Policy::EveryEvent`]);
//! - an open loop of single requests sleeps through reply arrivals
//!   ([`Policy::SleepThroughReplies`]): while its next start is at most [`LAZY_NS`] away
//!   and no slot waits on a connect, a write or the rest of a reply it has begun, it
//!   sleeps on the clock until that start, then takes the events that came without
//!   waiting. This halves the wake-ups of an open loop (one per request instead of two),
//!   and waking is most of its cost;
//! - a closed loop naps between batches of replies ([`Policy::Nap`]): when its last wait
//!   brought events and no slot waits on a connect, a write or the rest of a reply, it
//!   sleeps on the clock for a [`Nap`] (a sixteenth of the replies' round trip, 10–50 µs)
//!   and takes what came, and waits on epoll only when nothing did. A loop that waits on
//!   epoll while replies flow is woken by each reply, and the waking is paid by the
//!   server's CPU (on a VM an inter-processor interrupt per wake-up): against a saturated
//!   server the nap gives more replies per second for less client CPU.
//!
//! `--spin` (open loop only) replaces all of this with polling without ever sleeping until
//! an event or the next start: a full core, for starts that do not wait for a wake-up.
//!
//! While sleeping, replies are read with their kernel receive dates ([`Dating`]), so
//! reading them late does not make them late. Both sleeping policies fall back to
//! [`Policy::EveryEvent`] for good when the dates do not come or a reply is too large to
//! sleep through.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use nix::time::{ClockId as Clock, ClockNanosleepFlags, clock_gettime, clock_nanosleep};
use volley_scoreboard::now_ns;

use crate::exchange::Dating;

/// Longest the loop sleeps without looking at the stop flag.
pub(crate) const STOP_CHECK_NS: u64 = 50_000_000;
/// Token of the open loop's precise timer (never a connection's: slab indexes stay far
/// below `u32::MAX`).
pub(crate) const TIMER_TOKEN: Token = Token(usize::MAX);
/// How long after the precise timer epoll's own timeout ends the wait, should the timer
/// not fire.
const PRECISE_BACKSTOP: Duration = Duration::from_millis(2);
/// Events taken from the kernel per poll.
pub(crate) const EVENTS_CAPACITY: usize = 1024;
/// An open loop whose next start is at most this far away sleeps through reply arrivals
/// and reads the replies when it wakes for that start.
pub(crate) const LAZY_NS: u64 = 5_000_000;
/// A closed loop's shortest and longest nap.
const NAP_MIN_NS: u64 = 10_000;
const NAP_MAX_NS: u64 = 50_000;

/// Which way a run's loop may sleep through replies (chosen once, see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sleep {
    /// Wake for every event.
    Never,
    /// An open loop: until the next start.
    UntilStart,
    /// A closed loop: a nap between batches of replies.
    Nap,
}

/// How the loop waits; see the module doc.
#[derive(Debug)]
pub(crate) enum Policy {
    /// Wake for every event.
    EveryEvent,
    /// An open loop of single requests: sleep through reply arrivals.
    SleepThroughReplies(Sleeper),
    /// A closed loop: nap between batches of replies.
    Nap(Sleeper, Nap),
}

/// How long a closed loop naps: a sixteenth of the replies' smoothed round trip, so a
/// reply that arrives during a nap waits for its next request on average well under 3%
/// of a round trip; at most [`NAP_MAX_NS`]. Below [`NAP_MIN_NS`] it does not nap (a
/// round trip under 160 µs: few connections, or a fast server that is not saturated),
/// since shorter sleeps cost more than they save. A nap that brought nothing (replies
/// that come one at a time, each after the nap) is not tried again for 2, 4, … 64 waits,
/// so such a loop pays for almost none.
#[derive(Debug, Default)]
pub(crate) struct Nap {
    /// Round trip (request written → first byte), smoothed over the last ~16 replies.
    rtt_ns: u64,
    /// Naps in a row that brought nothing.
    misses: u32,
    /// Waits left before the next nap is tried.
    skip: u32,
    /// The last wait began with a nap: what it took is read with receive dates (a wait
    /// on epoll alone reads at once, dated by the clock, with a plain read).
    napped: bool,
}

impl Nap {
    /// Whether to nap before this wait.
    fn due(&mut self) -> bool {
        if self.skip == 0 {
            return true;
        }
        self.skip -= 1;
        false
    }

    /// A nap brought events (`caught`) or none.
    fn result(&mut self, caught: bool) {
        if caught {
            self.misses = 0;
        } else {
            self.misses = (self.misses + 1).min(6);
            self.skip = 1 << self.misses;
        }
    }

    /// Takes one reply's round trip into the average.
    fn note(&mut self, rtt_ns: u64) {
        let rtt = rtt_ns.min(1_000_000_000);
        self.rtt_ns = if self.rtt_ns == 0 {
            rtt
        } else {
            self.rtt_ns - self.rtt_ns / 16 + rtt / 16
        };
    }

    /// The nap's length now (0: none).
    pub(crate) fn length_ns(&self) -> u64 {
        let ns = self.rtt_ns / 16;
        if ns < NAP_MIN_NS {
            0
        } else {
            ns.min(NAP_MAX_NS)
        }
    }
}

/// The state of a loop that sleeps through replies.
#[derive(Debug)]
pub(crate) struct Sleeper {
    /// The receive dating of replies.
    pub dating: Dating,
    /// Slots that may be waiting for a connect, a write or the rest of a reply (see
    /// `Slot::io_watch`).
    io_wait: Vec<u32>,
    /// Events were taken (without waiting) since the loop last slept.
    polled: bool,
    /// A socket with receive dating on, open for the whole run. Linux turns dating on
    /// system-wide a moment after the first socket asks (and off after the last one
    /// closes); this one asks before the release, so the first replies are dated.
    _socket: Option<socket2::Socket>,
}

/// The loop's poll instance, its events, its precise timer and its wake policy.
#[derive(Debug)]
pub(crate) struct Waiter {
    poll: Poll,
    /// The events the last wait took.
    pub events: Events,
    /// Open loop: a timer with ns resolution for the next start (epoll's timeout has
    /// 1 ms), and the instant it is armed for.
    precise: Option<(TimerFd, u64)>,
    /// How the loop waits.
    pub policy: Policy,
    /// A closed loop's naps so far (each is also a wake-up).
    pub naps: u64,
    /// `--spin`: poll without sleeping until an event or the next start.
    spin: bool,
}

impl Waiter {
    /// A waiter; `open` for an open loop (a precise timer for its starts), `sleep` for
    /// how it may sleep through replies, `slots` to size its lists.
    ///
    /// # Errors
    ///
    /// The kernel refused an epoll instance or a timer.
    pub fn new(open: bool, sleep: Sleep, slots: usize, spin: bool) -> io::Result<Waiter> {
        let poll = Poll::new()?;
        if open || sleep == Sleep::Nap {
            // Wake within a few µs of a scheduled start or a nap's end rather than the
            // default 50 µs slack.
            let _ = nix::sys::prctl::set_timerslack(1_000);
        }
        let precise = if open {
            let fd = TimerFd::new(
                ClockId::CLOCK_MONOTONIC,
                TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
            )?;
            poll.registry().register(
                &mut SourceFd(&fd.as_fd().as_raw_fd()),
                TIMER_TOKEN,
                Interest::READABLE,
            )?;
            Some((fd, 0))
        } else {
            None
        };
        let sleeper = || Sleeper {
            dating: Dating::default(),
            io_wait: Vec::with_capacity(slots),
            polled: false,
            _socket: socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
                .ok()
                .filter(|s| crate::conn::enable_rx_stamps(s).is_ok()),
        };
        let policy = match sleep {
            Sleep::Never => Policy::EveryEvent,
            Sleep::UntilStart => Policy::SleepThroughReplies(sleeper()),
            Sleep::Nap => Policy::Nap(sleeper(), Nap::default()),
        };
        Ok(Waiter {
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            precise,
            policy,
            naps: 0,
            spin,
        })
    }

    /// Where sockets are registered.
    pub fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// The receive dating of replies, when the loop sleeps through them.
    pub fn dating(&mut self) -> Option<&mut Dating> {
        match &mut self.policy {
            Policy::SleepThroughReplies(s) => Some(&mut s.dating),
            Policy::Nap(s, nap) if nap.napped => Some(&mut s.dating),
            Policy::Nap(..) | Policy::EveryEvent => None,
        }
    }

    /// The loop sleeps through replies (until a start, or for a nap).
    pub fn sleeps(&self) -> bool {
        !matches!(self.policy, Policy::EveryEvent)
    }

    /// A reply's round trip (request written → first byte), for the length of a closed
    /// loop's nap.
    #[inline]
    pub fn note_round_trip(&mut self, rtt_ns: u64) {
        if let Policy::Nap(_, nap) = &mut self.policy {
            nap.note(rtt_ns);
        }
    }

    /// From now on the loop wakes for every event.
    pub fn wake_for_every_event(&mut self) {
        self.policy = Policy::EveryEvent;
    }

    /// Takes the realtime offset of the receive dates anew (after each wait).
    pub fn refresh_dating(&mut self) {
        if let Some(d) = self.dating() {
            // Back to back, so that a preemption between them cannot skew the offset.
            d.rt_offset = realtime_ns().wrapping_sub(now_ns()) as i64;
        }
    }

    /// Slot `s` waits on its socket for a connect, a write or the rest of a reply:
    /// while it does, a sleeping loop wakes for socket events. `listed` is the slot's
    /// flag that it is in the list.
    #[inline]
    pub fn watch(&mut self, s: u32, listed: &mut bool) {
        if let Policy::SleepThroughReplies(sl) | Policy::Nap(sl, _) = &mut self.policy
            && !*listed
        {
            *listed = true;
            sl.io_wait.push(s);
        }
    }

    /// Waits for events until `wake` (monotonic ns): on epoll (with the precise timer
    /// for a near start), or, when `may_sleep` says no slot waits on its socket and a
    /// start is due within [`LAZY_NS`], asleep on the clock through reply arrivals and
    /// then without waiting. `still_waiting(s)` tells whether a listed slot still waits
    /// on its socket. Counts the waits in `wakeups`.
    ///
    /// # Errors
    ///
    /// The poll failed for a reason other than a signal.
    pub fn wait(
        &mut self,
        wake: u64,
        now: u64,
        start_near: bool,
        still_waiting: impl FnMut(u32) -> bool,
        wakeups: &mut u64,
    ) -> io::Result<()> {
        if self.spin {
            // `--spin`: the CPU never halts, so it never has to be woken (late, on some
            // VMs); one wait, however many polls it takes.
            *wakeups += 1;
            loop {
                self.poll(Duration::ZERO, wakeups)?;
                if !self.events.is_empty() || now_ns() >= wake {
                    return Ok(());
                }
                std::hint::spin_loop();
            }
        }
        if let Policy::Nap(sl, nap) = &mut self.policy {
            // The last wait brought events: replies are flowing, more come during a nap.
            let ns = nap.length_ns().min(wake.saturating_sub(now));
            nap.napped = false;
            if !self.events.is_empty() && ns > 0 && nap.due() && sl.io_idle(still_waiting) {
                nap.napped = true;
                *wakeups += 1;
                self.naps += 1;
                let nap = TimeSpec::from_duration(Duration::from_nanos(ns));
                // EINTR (a signal) only ends the nap early.
                let _ = clock_nanosleep(Clock::CLOCK_MONOTONIC, ClockNanosleepFlags::empty(), &nap);
                self.poll(Duration::ZERO, wakeups)?;
                let caught = !self.events.is_empty();
                if let Policy::Nap(_, nap) = &mut self.policy {
                    nap.result(caught);
                }
                if caught {
                    return Ok(());
                }
            }
            let timeout = self.poll_timeout(wake, now);
            return self.poll(timeout, wakeups);
        }
        let sleep_until = match &mut self.policy {
            Policy::SleepThroughReplies(sl)
                if start_near && wake > now && wake - now <= LAZY_NS =>
            {
                if sl.io_idle(still_waiting) {
                    let polled = std::mem::replace(&mut sl.polled, true);
                    polled.then_some(wake)
                } else {
                    sl.polled = false;
                    let timeout = self.poll_timeout(wake, now);
                    return self.poll(timeout, wakeups);
                }
            }
            Policy::SleepThroughReplies(sl) => {
                sl.polled = false;
                let timeout = self.poll_timeout(wake, now);
                return self.poll(timeout, wakeups);
            }
            Policy::EveryEvent | Policy::Nap(..) => {
                let timeout = self.poll_timeout(wake, now);
                return self.poll(timeout, wakeups);
            }
        };
        if let Some(at) = sleep_until {
            // The next start is near and no slot waits on a connect, a write or the rest
            // of a reply: sleep until that start, however many replies arrive meanwhile,
            // then take what came (before the start: a server's close of a kept
            // connection is seen before a request is written into it).
            *wakeups += 1;
            let at = TimeSpec::from_duration(Duration::from_nanos(at));
            // EINTR (a signal) only ends the sleep early: the loop looks again.
            let _ = clock_nanosleep(
                Clock::CLOCK_MONOTONIC,
                ClockNanosleepFlags::TIMER_ABSTIME,
                &at,
            );
        }
        self.poll(Duration::ZERO, wakeups)
    }

    /// Takes the events that come within `timeout`.
    fn poll(&mut self, timeout: Duration, wakeups: &mut u64) -> io::Result<()> {
        if !timeout.is_zero() {
            *wakeups += 1;
        }
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            r => r,
        }
    }

    /// Takes the events that came, without waiting (at the end of the run: replies that
    /// came while the loop slept are replies, not aborts).
    pub fn poll_now(&mut self) -> io::Result<()> {
        self.poll(Duration::ZERO, &mut 0)
    }

    /// The precise timer fired: its expiry need not be read, arming it again resets its
    /// count, and its next expiry brings a new edge.
    pub fn timer_fired(&mut self) {
        if let Some((_, armed)) = self.precise.as_mut() {
            *armed = 0;
        }
    }

    /// How long to wait for events before `wake`.
    fn poll_timeout(&mut self, wake: u64, now: u64) -> Duration {
        if wake <= now {
            return Duration::ZERO;
        }
        let left = Duration::from_nanos(wake - now);
        if let Some((fd, armed)) = self.precise.as_mut()
            && wake < now.saturating_add(STOP_CHECK_NS)
        {
            if *armed == wake {
                return left + PRECISE_BACKSTOP;
            }
            let at = TimeSpec::from_duration(Duration::from_nanos(wake));
            if fd
                .set(
                    Expiration::OneShot(at),
                    TimerSetTimeFlags::TFD_TIMER_ABSTIME,
                )
                .is_ok()
            {
                *armed = wake;
                // epoll's own timeout is only the backstop.
                return left + PRECISE_BACKSTOP;
            }
        }
        left
    }
}

impl Sleeper {
    /// No listed slot still waits on its socket (those that moved on leave the list).
    /// A reply begun is read as it comes: sleeping through it would let a large body
    /// fill the receive window and stall the server.
    fn io_idle(&mut self, mut still_waiting: impl FnMut(u32) -> bool) -> bool {
        self.io_wait.retain(|&s| still_waiting(s));
        self.io_wait.is_empty()
    }
}

/// `CLOCK_REALTIME` in ns (the clock of kernel receive timestamps).
pub(crate) fn realtime_ns() -> u64 {
    clock_gettime(Clock::CLOCK_REALTIME).map_or(0, |ts| {
        (ts.tv_sec() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(ts.tv_nsec() as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nap_is_a_sixteenth_of_the_round_trip_within_its_bounds() {
        let mut nap = Nap::default();
        assert_eq!(nap.length_ns(), 0, "no reply yet: no nap");
        nap.note(100_000);
        assert_eq!(
            nap.length_ns(),
            0,
            "a 100 µs round trip is too short to nap"
        );
        let mut nap = Nap::default();
        nap.note(400_000);
        assert_eq!(nap.length_ns(), 25_000);
        for _ in 0..200 {
            nap.note(10_000_000);
        }
        assert_eq!(nap.length_ns(), NAP_MAX_NS);
        for _ in 0..200 {
            nap.note(40_000);
        }
        assert_eq!(
            nap.length_ns(),
            0,
            "the average follows the round trip down"
        );
    }

    #[test]
    fn naps_that_bring_nothing_are_tried_ever_more_rarely() {
        let mut nap = Nap::default();
        let mut tried = 0;
        for _ in 0..1000 {
            if nap.due() {
                tried += 1;
                nap.result(false);
            }
        }
        // 2, 4, … 64 waits between tries: about one wait in 65 once backed off.
        assert!(
            (15..=25).contains(&tried),
            "{tried} naps tried in 1000 waits"
        );
        assert!(!nap.due());
        let mut nap = Nap::default();
        for _ in 0..1000 {
            assert!(nap.due());
            nap.result(true);
        }
    }
}
