//! When the exchange dates what it reads and writes: receive dates within the request, the
//! turn's start only when the turn's events prove it, the clock read at a late read or
//! write.

use volley_config::ReplyLimits;

use super::{GET, Peer, Stats, board};
use crate::exchange::{Capture, Dating, Io, Outcome, Request};

/// A clock that never reads past the turn's start (`Io::fresh` is then `now`).
pub(super) fn turn_clock() -> u64 {
    0
}

/// A clock that reads 500: the turn, begun earlier, ran on before the read.
fn late_clock() -> u64 {
    500
}

#[test]
fn a_sleeping_loop_dates_replies_by_their_receive_stamp_within_the_request() {
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let limits = ReplyLimits::default();
    // The request was written at 6 and the turn that reads the reply began at 90: dates
    // are kept between the two, or between 6 and the read itself when the turn ran on
    // (to 500) before the read. A reply that came after the turn began is not dated
    // before it came.
    let turn: fn() -> u64 = turn_clock;
    let late: fn() -> u64 = late_clock;
    for (stamp, clock, want) in [
        (1_000_040, turn, 40),
        (1_000_003, turn, 6),
        (2_000_000, turn, 90),
        (1_000_300, late, 300),
        (1_000_040, late, 40),
        (2_000_000, late, 500),
    ] {
        let mut p = Peer::reused_sent(GET, &mut st);
        p.clock = clock;
        p.script().stamp = Some(stamp);
        p.sends(&[b"HTTP/1.1 204 No Content\r\n\r\n"]);
        // Realtime is 1,000,000 ns ahead of the loop's clock.
        let mut dating = Dating {
            rt_offset: 1_000_000,
            ..Default::default()
        };
        let mut io = Io {
            conn: &mut p.conn,
            buf: &mut p.buf,
            req: Request {
                bytes: GET,
                head_len: GET.len(),
                is_head: false,
            },
            limits: &limits,
            stats: &mut st,
            now: 90,
            clock: p.clock,
            turn: 1,
            dating: Some(&mut dating),
            tap: None,
            idle_deadline: false,
            more: false,
            details: (false, false),
            capture: Capture::default(),
        };
        let out = p.ex.advance(&mut io);
        assert!(
            matches!(out, Outcome::Reply { at, .. } if at == want),
            "{stamp}: {out:?}"
        );
        assert_eq!(
            p.ex.times.first_byte, want,
            "stamp {stamp}: clamped to 6..=the read"
        );
    }
}

#[test]
fn a_reply_without_a_receive_date_is_dated_by_the_turn_start_only_when_proven() {
    // Waking for every reply (no receive dates): the turn (1) began at 90, but other
    // events (or a preemption) kept it until 500 before this reply was read. For a
    // request written at 6:
    // - without the turn's readable edge, the reply may have come at any time up to 500:
    //   dated 500 (dated 90, it would read shorter than it was);
    // - with it, the reply was there by 90, however late in the turn it is read;
    // - a second read of the reply in the same turn may take bytes that came since.
    const WHOLE: &[&[u8]] = &[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"];
    const SPLIT: &[&[u8]] = &[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no", b"k"];
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    for (edge_turn, reads, first_byte, at) in [
        (0, WHOLE, 500, 500),
        (1, WHOLE, 90, 90),
        (1, SPLIT, 90, 500),
    ] {
        let mut p = Peer::reused_sent(GET, &mut st);
        p.clock = late_clock;
        p.conn.edge_turn = edge_turn;
        p.sends(reads);
        let out = p.advance(&mut st, 90);
        assert!(
            matches!(out, Outcome::Reply { status: 200, at: got, .. } if got == at),
            "edge in turn {edge_turn}, {} reads: {out:?}",
            reads.len()
        );
        assert_eq!(p.ex.times.first_byte, first_byte);
    }
}

#[test]
fn a_request_on_a_new_connection_is_sent_when_written_not_at_the_turn_start() {
    // The connect's writable edge was taken by a turn that began at 20; the write went out
    // when the turn reached it (500): the reply's time counts from there.
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let mut p = Peer::fresh(GET);
    p.clock = late_clock;
    p.conn.up_by_ns = 0;
    p.conn.writable = true;
    assert_eq!(p.advance(&mut st, 20), Outcome::Wait);
    assert_eq!(p.script().written, GET);
    assert_eq!(p.ex.times.sent, 500);
    // The reply watchdogs count from the write too, not from the turn's start.
    assert_eq!(p.ex.times.written, 500);
}
