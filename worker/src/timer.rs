//! Deadlines for thread slots: a min-heap of `(when, slot, armed_for)` entries.
//!
//! Timers target thread slots, which are never recycled during a run, and every entry
//! records the deadline it was armed for. A slot keeps its current deadline itself; when an
//! entry fires, the event loop compares it with the slot's current state and drops it if
//! the slot has moved on (stale), or re-arms it when the slot's deadline moved later. So a
//! timer can never act on a request or connection it was not armed for. Arming a later
//! deadline while an earlier entry is pending pushes nothing, so with one deadline length
//! the heap holds about one entry per slot however many requests are made; an earlier
//! deadline under a pending later one (a first-byte or idle deadline shorter than the
//! reply deadline) pushes an entry, and the later one stays until it expires: at most
//! about (longest deadline / shortest deadline) entries per slot.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One pending timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerEntry {
    /// When it fires (monotonic ns).
    pub at_ns: u64,
    /// Index of the slot (in this worker's slot table).
    pub slot: u32,
}

/// The timer heap.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<TimerEntry>>,
}

impl Timers {
    /// A heap with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Timers {
            heap: BinaryHeap::with_capacity(capacity),
        }
    }

    /// Arms a timer for `slot` at `at_ns`.
    pub fn push(&mut self, slot: u32, at_ns: u64) {
        self.heap.push(Reverse(TimerEntry { at_ns, slot }));
    }

    /// When the earliest entry fires.
    pub fn next_ns(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(e)| e.at_ns)
    }

    /// Removes and returns the earliest entry if it is due at `now_ns`.
    pub fn pop_due(&mut self, now_ns: u64) -> Option<TimerEntry> {
        match self.heap.peek() {
            Some(Reverse(e)) if e.at_ns <= now_ns => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Number of pending entries.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_only_when_due() {
        let mut t = Timers::with_capacity(4);
        t.push(1, 30);
        t.push(2, 10);
        t.push(3, 20);
        assert_eq!(t.next_ns(), Some(10));
        assert_eq!(t.pop_due(5), None);
        assert_eq!(t.pop_due(25).map(|e| e.slot), Some(2));
        assert_eq!(t.pop_due(25).map(|e| e.slot), Some(3));
        assert_eq!(t.pop_due(25), None);
        assert_eq!(t.len(), 1);
    }
}
