//! The work of one loop turn: slots whose ramp-up time came, the queued starts and the
//! due timers (each within the turn's budget), when to look again, and the end of the
//! run.

use volley_scoreboard::{Counter, now_ns};

use crate::event_loop::{TURN_BUDGET_NS, Worker};
use crate::slot::Phase;
use crate::wake::STOP_CHECK_NS;

impl Worker<'_> {
    pub(crate) fn start_due_slots(&mut self, start_ns: u64, now: u64) {
        while let Some(&(off, s)) = self.ramp.get(self.ramp_next) {
            if start_ns.saturating_add(off) > now {
                break;
            }
            self.ramp_next += 1;
            self.stats.add(Counter::ThreadsStarted, 1);
            self.stats.add(Counter::ThreadsActive, 1);
            self.slots[s as usize].phase = Phase::Ready;
            self.observe_slot_start(s);
            self.enqueue(s);
        }
    }

    /// Starts the next request of the slots queued before this turn, each at the time
    /// it is started (so a long batch does not date its last requests early), for at most
    /// [`TURN_BUDGET_NS`]; returns the time after the last. Slots not reached stay queued,
    /// ahead of the others, for the next turn.
    pub(crate) fn start_ready(&mut self, turn_ns: u64) -> u64 {
        // Slots queued while this batch runs (a connect that failed at once) wait for the
        // next turn, so a persistent failure cannot spin inside one turn.
        // Two vectors swap roles, so queueing during the batch never allocates.
        let mut batch = std::mem::replace(&mut self.ready, std::mem::take(&mut self.spare));
        let mut now = turn_ns;
        let mut done = 0;
        for &s in &batch {
            self.slots[s as usize].queued = false;
            self.start_request(s, now);
            done += 1;
            now = now_ns();
            if now.saturating_sub(turn_ns) > TURN_BUDGET_NS {
                break;
            }
        }
        if done < batch.len() {
            // Still queued (`queued` is set): first in line next turn. Capacity covers
            // every slot once, so this does not allocate.
            let rest = batch.len() - done;
            self.ready.extend_from_slice(&batch[done..]);
            self.ready.rotate_right(rest);
        }
        batch.clear();
        self.spare = batch;
        now
    }

    /// Fires the timers due at `turn_ns`, for at most [`TURN_BUDGET_NS`] (a pre-delay's
    /// end starts a request, maybe a connect); returns the time after the last. Timers not
    /// reached fire next turn.
    pub(crate) fn fire_timers(&mut self, turn_ns: u64) -> u64 {
        let mut now = turn_ns;
        while let Some(entry) = self.timers.pop_due(turn_ns) {
            now = now_ns();
            if now.saturating_sub(turn_ns) > TURN_BUDGET_NS {
                // Over budget: back in the heap, due as before.
                self.timers.push(entry.slot, entry.at_ns);
                break;
            }
            let slot = &mut self.slots[entry.slot as usize];
            if slot.timer_ns == entry.at_ns {
                slot.timer_ns = 0;
            }
            let deadline = slot.deadline_ns;
            if deadline == 0 {
                continue; // the request it was armed for has ended: stale
            }
            if deadline <= now {
                self.deadline_reached(entry.slot, now);
            } else {
                self.arm(entry.slot, deadline);
            }
        }
        now
    }

    /// Sets the slot's watchdog deadline, pushing a timer only if none fires earlier.
    pub(crate) fn arm(&mut self, s: u32, deadline_ns: u64) {
        let slot = &mut self.slots[s as usize];
        slot.deadline_ns = deadline_ns;
        if slot.timer_ns == 0 || slot.timer_ns > deadline_ns {
            slot.timer_ns = deadline_ns;
            self.timers.push(s, deadline_ns);
        }
    }

    pub(crate) fn enqueue(&mut self, s: u32) {
        let slot = &mut self.slots[s as usize];
        if !slot.queued {
            slot.queued = true;
            self.ready.push(s);
        }
    }

    /// When the loop must look again: the next timer, ramp-up step or end, at the latest
    /// after [`STOP_CHECK_NS`].
    pub(crate) fn wake_at(&self, start_ns: u64, end_ns: Option<u64>, now: u64) -> u64 {
        let mut wake = now.saturating_add(STOP_CHECK_NS);
        if let Some(t) = self.timers.next_ns() {
            wake = wake.min(t);
        }
        if let Some(&(off, _)) = self.ramp.get(self.ramp_next) {
            wake = wake.min(start_ns.saturating_add(off));
        }
        if let Some(end) = end_ns {
            wake = wake.min(end);
        }
        wake
    }

    /// Ends the run: requests in flight are counted as aborted, every connection closed,
    /// every started slot done.
    pub(crate) fn abort_all(&mut self, now: u64) {
        self.stopping = true;
        for s in 0..self.slots.len() as u32 {
            if s % 1024 == 1023 {
                // Closing tens of thousands of connections takes a while: still alive.
                self.stats.slot().beat(now_ns());
            }
            let slot = &mut self.slots[s as usize];
            match slot.phase {
                Phase::Done | Phase::Waiting => continue,
                ref p if p.in_request() || slot.sched.retrying => {
                    self.stats.add(Counter::RequestsAborted, 1);
                    self.record_abort(s, now);
                    self.abort_burst(s, now);
                }
                _ => {}
            }
            self.close_conn(s, now);
            self.finish_slot(s);
        }
    }
}
