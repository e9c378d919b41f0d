//! httperf's `--call-stats=N` (an httperf 0.8.4 build's option, not stock httperf's): the
//! statistics of the first N calls (requests) a worker started, which the supervisor
//! merges over workers into the "Call Statistics:" table.
//!
//! A worker keeps the N earliest-started calls it ended in a max-heap of fixed-size
//! entries: once full, a call that started later than every kept one costs one
//! comparison, an earlier one replaces the latest. The heap is sized at start (up to
//! [`PREALLOCATED`] entries; a larger N grows it a few times, never per request past N).
//!
//! Connections are numbered `worker + k × workers` for the worker's k-th connect (as
//! `--print-request`'s call numbers): unique over workers, and httperf's own numbering
//! with one worker.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};
use volley_scoreboard::ErrorClass;

use crate::slot::Slot;

/// Entries allocated when the worker starts; a larger `--call-stats` grows the heap
/// (a handful of times) as calls come.
pub const PREALLOCATED: usize = 1 << 16;

/// Whether, and how, a call timed out (httperf's "timed out" column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimedOut {
    /// It got a reply (`no`).
    No,
    /// It timed out on an established connection (`yes-C`).
    Connected,
    /// It timed out before its connection was established (`yes-NC`).
    Unconnected,
    /// Neither a reply nor a timeout: another error, or aborted at the stop (`NA`).
    NotApplicable,
}

/// One call's statistics. Times are ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEntry {
    /// When the call started (monotonic ns, the clock every worker shares).
    pub start_ns: u64,
    /// The worker that made it.
    pub worker: u32,
    /// Its place among the worker's calls ended (orders calls that started together,
    /// such as a pipelined burst's).
    pub seq: u64,
    /// The number of its connection (see the module doc).
    pub conn: u64,
    /// Its entry in the URL list (its URI).
    pub entry: u32,
    /// Connect time: connect start to established for the first call of a new
    /// connection, to the timeout for one that timed out unconnected; 0 otherwise.
    pub connect_ns: u64,
    /// From its first byte sent to the reply's last byte, the timeout or the error (0 when
    /// nothing was sent).
    pub response_ns: u64,
    /// Reply body bytes received.
    pub body_bytes: u64,
    /// The reply's status code (0: none).
    pub status: u16,
    /// Whether it timed out.
    pub timed_out: TimedOut,
}

impl CallEntry {
    /// The order of calls: by start, then worker, then the worker's order.
    fn key(&self) -> (u64, u32, u64) {
        (self.start_ns, self.worker, self.seq)
    }
}

impl Ord for CallEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for CallEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A worker's kept calls and its connection numbering.
#[derive(Debug)]
pub(crate) struct CallLog {
    /// Most calls kept.
    cap: usize,
    /// The kept calls, the latest-started on top.
    kept: BinaryHeap<CallEntry>,
    /// This worker's index, and the number of workers.
    worker: u32,
    workers: u32,
    /// Connects made so far.
    connects: u64,
    /// Calls ended so far.
    ended: u64,
}

impl CallLog {
    /// Keeps up to `rows` calls of worker `worker` of `workers`.
    pub fn new(rows: u32, worker: u32, workers: u32) -> Self {
        let cap = rows as usize;
        CallLog {
            cap,
            kept: BinaryHeap::with_capacity(cap.min(PREALLOCATED)),
            worker,
            workers: workers.max(1),
            connects: 0,
            ended: 0,
        }
    }

    /// The number of the connection about to be opened.
    pub fn next_conn(&mut self) -> u64 {
        let n = u64::from(self.worker) + self.connects * u64::from(self.workers);
        self.connects += 1;
        n
    }

    /// Slot `slot`'s call has ended at `now`: kept if it is among the earliest started.
    pub fn ended(&mut self, slot: &mut Slot, now: u64) {
        let entry = self.entry(slot, now);
        self.ended += 1;
        self.keep(entry);
    }

    /// Keeps `entry` if it started before the latest kept call (or there is room).
    fn keep(&mut self, entry: CallEntry) {
        if self.kept.len() < self.cap {
            self.kept.push(entry);
        } else if let Some(mut latest) = self.kept.peek_mut()
            && entry < *latest
        {
            *latest = entry;
        }
    }

    /// The kept calls, earliest first.
    pub fn into_entries(self) -> Vec<CallEntry> {
        self.kept.into_sorted_vec()
    }

    /// The entry of slot `slot`'s call, ended at `now`.
    fn entry(&self, slot: &mut Slot, now: u64) -> CallEntry {
        let ex = &mut slot.exchange;
        let (t, r) = (&ex.times, &ex.result);
        // An aborted call has no end of its own: the stop is its end.
        let end = if r.end_ns != 0 { r.end_ns } else { now };
        let timed_out = match r.error {
            _ if r.aborted => TimedOut::NotApplicable,
            None if r.status != 0 => TimedOut::No,
            Some(f) if f.class == ErrorClass::ClientTimo && t.connected == 0 => {
                TimedOut::Unconnected
            }
            Some(f) if f.class == ErrorClass::ClientTimo => TimedOut::Connected,
            _ => TimedOut::NotApplicable,
        };
        // The connect time goes with the first call of a new connection only (a
        // pipelined burst's later calls share the connection and its start).
        let connect_ns = if ex.reused || ex.connect_shown {
            0
        } else if t.connected != 0 {
            t.connected.saturating_sub(t.start)
        } else if timed_out == TimedOut::Unconnected {
            end.saturating_sub(t.start)
        } else {
            0
        };
        let response_ns = if t.sent != 0 {
            end.saturating_sub(t.sent)
        } else {
            0
        };
        let entry = CallEntry {
            start_ns: t.start,
            worker: self.worker,
            seq: self.ended,
            conn: ex.conn_no,
            entry: slot.sched.cur.index,
            connect_ns,
            response_ns,
            body_bytes: r.body_bytes,
            status: r.status,
            timed_out,
        };
        ex.connect_shown = true;
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(start_ns: u64, seq: u64) -> CallEntry {
        CallEntry {
            start_ns,
            worker: 0,
            seq,
            conn: 0,
            entry: 0,
            connect_ns: 0,
            response_ns: 0,
            body_bytes: 0,
            status: 200,
            timed_out: TimedOut::No,
        }
    }

    #[test]
    fn keeps_the_earliest_started_calls_in_order() {
        let mut log = CallLog::new(3, 0, 1);
        // Calls end out of their start order (a slow first call).
        for (start, seq) in [(50, 0), (10, 1), (40, 2), (30, 3), (60, 4), (20, 5)] {
            log.keep(call(start, seq));
        }
        let starts: Vec<u64> = log.into_entries().iter().map(|c| c.start_ns).collect();
        assert_eq!(starts, [10, 20, 30]);
    }

    #[test]
    fn connection_numbers_are_unique_over_workers() {
        let mut w1 = CallLog::new(1, 1, 3);
        assert_eq!((w1.next_conn(), w1.next_conn()), (1, 4));
        let mut only = CallLog::new(1, 0, 1);
        assert_eq!((only.next_conn(), only.next_conn()), (0, 1));
    }
}
