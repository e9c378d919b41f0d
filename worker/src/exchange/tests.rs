//! The exchange state machine driven in process against a scripted peer: no sockets.

use std::collections::VecDeque;
use std::io;

/// A scripted peer: what each read returns, in order, and everything written.
#[derive(Debug, Default)]
pub struct Script {
    /// What the next reads return: bytes (`Ok`), end of file (empty `Ok`), or an error.
    pub reads: VecDeque<io::Result<Vec<u8>>>,
    /// Bytes written by the exchange.
    pub written: Vec<u8>,
    /// Most bytes a write takes (`None`: all); 0 makes writes block.
    pub write_room: Option<usize>,
    /// An error every write returns from now on.
    pub write_error: Option<io::ErrorKind>,
    /// The peer ended TLS without `close_notify` (reads as an unclean end).
    pub unclean_eof: bool,
    /// Receive date handed with the next read (`SO_TIMESTAMPNS`).
    pub stamp: Option<u64>,
}

impl Script {
    pub fn read_stamped(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
        match self.reads.pop_front() {
            None => Err(io::ErrorKind::WouldBlock.into()),
            Some(Err(e)) => Err(e),
            Some(Ok(bytes)) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                if n < bytes.len() {
                    self.reads.push_front(Ok(bytes[n..].to_vec()));
                }
                Ok((n, self.stamp))
            }
        }
    }

    /// A short read drained the peer's queue unless more reads are scripted.
    pub fn drained(&self) -> bool {
        self.reads.is_empty()
    }

    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(kind) = self.write_error {
            return Err(kind.into());
        }
        let n = self.write_room.map_or(buf.len(), |r| r.min(buf.len()));
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if let Some(r) = self.write_room.as_mut() {
            *r -= n;
        }
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

use std::net::SocketAddr;
use std::time::Duration;

use volley_config::{ReplyLimits, Timeouts};
use volley_scoreboard::{Counter, ErrorClass, Scoreboard};

use super::{Capture, Exchange, Io, Outcome, RecvBuf, ReplyTap, Request, State};
use crate::conn::{Conn, Transport};
use crate::http::ReplyHead;
use crate::outcome::{Failure, STALE, TimeoutPhase, UNSOLICITED};
use crate::stats::Stats;

mod dating;

use dating::turn_clock;

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

/// A scoreboard of its own for each test (unlinked when dropped).
fn board() -> Scoreboard {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Scoreboard::create(&format!("volley-ex-{}-{n}", std::process::id()), 1, 1).expect("board")
}

/// One exchange against a scripted peer.
struct Peer {
    conn: Conn,
    buf: RecvBuf,
    ex: Exchange,
    req: Vec<u8>,
    head_len: usize,
    is_head: bool,
    more: bool,
    limits: ReplyLimits,
    capture: Capture,
    /// The clock the exchange reads (see [`Io::fresh`]); [`turn_clock`] by default.
    clock: fn() -> u64,
}

impl Peer {
    /// A new connection (its connect returned at 10) for `req`, started at 5.
    fn fresh(req: &[u8]) -> Peer {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let conn = Conn::new(Transport::Script(Box::default()), addr, 0, 5, 10);
        let mut p = Peer {
            conn,
            buf: RecvBuf::default(),
            ex: Exchange::default(),
            req: req.to_vec(),
            head_len: head_len(req),
            is_head: req.starts_with(b"HEAD"),
            more: false,
            limits: ReplyLimits::default(),
            capture: Capture::default(),
            clock: turn_clock,
        };
        p.ex.begin(5, false, false);
        p
    }

    /// A kept-alive connection that already carried a reply, for `req`, started at 5.
    fn reused(req: &[u8]) -> Peer {
        let mut p = Peer::fresh(req);
        p.conn.established = true;
        p.ex.begin(5, true, false);
        p
    }

    /// [`Peer::reused`] with its request written out at 6.
    fn reused_sent(req: &[u8], stats: &mut Stats<'_>) -> Peer {
        let mut p = Peer::reused(req);
        assert_eq!(p.advance(stats, 6), Outcome::Wait);
        assert_eq!(p.script().written, req);
        p
    }

    fn script(&mut self) -> &mut Script {
        match &mut self.conn.io {
            Transport::Script(s) => s,
            _ => unreachable!(),
        }
    }

    /// The peer sends `bytes` (one read each) and the socket turns readable.
    fn sends(&mut self, chunks: &[&[u8]]) {
        for c in chunks {
            self.script().reads.push_back(Ok(c.to_vec()));
        }
        self.conn.readable = true;
    }

    /// The peer closes (after what it sent).
    fn closes(&mut self) {
        self.script().reads.push_back(Ok(Vec::new()));
        self.conn.readable = true;
        self.conn.read_closed = true;
    }

    fn advance(&mut self, stats: &mut Stats<'_>, now: u64) -> Outcome {
        self.advance_tap(stats, now, None)
    }

    fn advance_tap(&mut self, stats: &mut Stats<'_>, now: u64, tap: Option<&mut Seen>) -> Outcome {
        let limits = &self.limits;
        let mut io = Io {
            conn: &mut self.conn,
            buf: &mut self.buf,
            req: Request {
                bytes: &self.req,
                head_len: self.head_len,
                is_head: self.is_head,
            },
            limits,
            stats,
            now,
            clock: self.clock,
            turn: 1,
            dating: None,
            tap: tap.map(|t| t as &mut dyn ReplyTap),
            idle_deadline: false,
            more: self.more,
            details: (true, true),
            capture: self.capture,
        };
        self.ex.advance(&mut io)
    }
}

fn head_len(req: &[u8]) -> usize {
    req.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(req.len(), |i| i + 4)
}

fn reply(status: u16, reusable: bool, at: u64, rest: (usize, usize)) -> Outcome {
    Outcome::Reply {
        status,
        reusable,
        at,
        rest,
    }
}

#[test]
fn a_reply_on_a_new_connection_is_timed_and_counted() {
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let mut p = Peer::fresh(GET);
    assert!(matches!(p.ex.state, State::Connecting));
    // The write goes through at once: connected by the end of the connect call (10).
    assert_eq!(p.advance(&mut st, 20), Outcome::Wait);
    assert_eq!(p.script().written, GET);
    assert!(matches!(p.ex.state, State::AwaitHead { interim: 0 }));
    assert_eq!((p.ex.times.connected, p.ex.times.written), (10, 20));
    assert_eq!(st.get(Counter::ConnsOpened), 1);
    assert_eq!(st.connect.moments.min, 1, "5 ns -> clamped to 1 µs");
    let r = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: x\r\n\r\nok";
    p.sends(&[r]);
    assert_eq!(
        p.advance(&mut st, 30),
        reply(200, true, 30, (r.len(), r.len()))
    );
    assert_eq!(p.ex.times.first_byte, 30);
    assert_eq!(p.ex.result.body_bytes, 2);
    assert_eq!(p.ex.result.reason, "OK");
    assert_eq!(st.get(Counter::HeaderCount), 2);
    assert_eq!(st.get(Counter::BodyBytes), 2);
    assert_eq!(st.get(Counter::BytesSent), GET.len() as u64);
}

#[test]
fn hooks_get_the_final_head_and_the_body_up_to_the_cap() {
    let whole: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-Token: t1\r\n\
        Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
    for (cap, kept, truncated) in [(5, &b"abcde"[..], true), (7, b"abcdefg", false)] {
        for split in 1..whole.len() {
            let sb = board();
            let mut st = Stats::new(sb.slot(0));
            let mut p = Peer::reused_sent(GET, &mut st);
            p.capture = Capture {
                head: true,
                body: cap,
            };
            p.sends(&[&whole[..split], &whole[split..]]);
            assert!(matches!(p.advance(&mut st, 7), Outcome::Reply { .. }));
            let r = &p.ex.result;
            let head = crate::http::Headers::new(&r.head);
            assert_eq!(head.get_str("x-token"), Some("t1"), "split at {split}");
            assert!(r.head.starts_with(b"HTTP/1.1 200"), "the final head only");
            assert_eq!((&r.body[..], r.body_truncated), (kept, truncated));
            assert_eq!(r.body_bytes, 7, "every byte counted");
            let capacity = r.body.capacity();
            // The next request reuses the buffers.
            p.ex.begin(8, true, false);
            assert!(p.ex.result.head.is_empty() && p.ex.result.body.is_empty());
            assert_eq!(p.ex.result.body.capacity(), capacity);
        }
    }
}

#[test]
fn a_reply_split_at_every_byte_ends_the_same() {
    let whole: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    for split in 1..whole.len() {
        let sb = board();
        let mut st = Stats::new(sb.slot(0));
        let mut p = Peer::reused_sent(GET, &mut st);
        p.sends(&[&whole[..split], &whole[split..]]);
        let Outcome::Reply {
            status, reusable, ..
        } = p.advance(&mut st, 7)
        else {
            panic!("split at {split}: no reply");
        };
        assert_eq!((status, reusable), (200, true), "split at {split}");
        assert_eq!(p.ex.result.body_bytes, 3);
        assert_eq!(p.ex.result.header_bytes, 25 + 47);
    }
}

#[test]
fn more_than_sixteen_interim_replies_fail() {
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let mut p = Peer::reused_sent(GET, &mut st);
    let interim = b"HTTP/1.1 103 Early Hints\r\n\r\n".repeat(17);
    p.sends(&[&interim]);
    let f = Failure::new(ErrorClass::Protocol, "too-many-1xx");
    assert_eq!(p.advance(&mut st, 9), Outcome::Failed(f, 9));
}

#[test]
fn a_close_before_any_reply_byte_is_stale_only_on_a_reused_connection() {
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let mut p = Peer::reused(GET);
    p.closes();
    assert_eq!(p.advance(&mut st, 9), Outcome::Failed(STALE, 9));
    let mut p = Peer::fresh(GET);
    p.closes();
    let out = p.advance(&mut st, 9);
    assert_eq!(
        out,
        Outcome::Failed(Failure::new(ErrorClass::ConnReset, "no-reply"), 9)
    );
}

#[test]
fn a_close_ends_a_close_delimited_body_and_cuts_a_framed_one() {
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let mut p = Peer::reused_sent(GET, &mut st);
    p.sends(&[b"HTTP/1.1 200 OK\r\n\r\nuntil close"]);
    p.closes();
    assert_eq!(p.advance(&mut st, 9), reply(200, false, 9, (0, 0)));
    assert_eq!(p.ex.result.body_bytes, 11);
    let mut p = Peer::reused_sent(GET, &mut st);
    p.sends(&[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"]);
    p.closes();
    let incomplete = Failure::new(ErrorClass::Protocol, "incomplete");
    assert_eq!(p.advance(&mut st, 9), Outcome::Failed(incomplete, 9));
}

#[test]
fn bytes_that_are_no_status_line_on_a_reused_connection_are_unsolicited() {
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let mut p = Peer::reused_sent(GET, &mut st);
    p.sends(&[b"hello"]);
    assert_eq!(p.advance(&mut st, 9), Outcome::Failed(UNSOLICITED, 9));
    assert_eq!(st.anomalies.unsolicited_data, 1);
    let mut p = Peer::fresh(GET);
    p.advance(&mut st, 9);
    p.sends(&[b"hello"]);
    let bad = Failure::new(ErrorClass::Protocol, "bad-status");
    assert_eq!(p.advance(&mut st, 9), Outcome::Failed(bad, 9));
}

#[test]
fn a_head_reply_has_no_body_whatever_it_says() {
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let mut p = Peer::reused_sent(b"HEAD / HTTP/1.1\r\n\r\n", &mut st);
    let r = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    p.sends(&[r]);
    assert_eq!(
        p.advance(&mut st, 9),
        reply(200, true, 9, (r.len(), r.len()))
    );
}

#[test]
fn bytes_past_the_framed_end_make_the_connection_unreusable_unless_pipelined() {
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let first = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na";
    let second = b"HTTP/1.1 204 No Content\r\n\r\n";
    let two = [&first[..], &second[..]].concat();
    let (a, b) = (first.len(), two.len());
    let mut p = Peer::reused_sent(GET, &mut st);
    p.sends(&[&two]);
    assert_eq!(p.advance(&mut st, 9), reply(200, false, 9, (a, b)));
    let mut p = Peer::reused_sent(GET, &mut st);
    p.more = true;
    p.sends(&[&two]);
    assert_eq!(p.advance(&mut st, 9), reply(200, true, 9, (a, b)));
    // The next pipelined reply is parsed from what was read, without a read.
    p.more = false;
    p.ex.next_pipelined(&mut p.buf, a, b, 11);
    p.conn.readable = false;
    let n = second.len();
    assert_eq!(p.advance(&mut st, 11), reply(204, true, 11, (n, n)));
}

#[test]
fn a_head_over_the_cap_is_a_limit() {
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let mut p = Peer::reused_sent(GET, &mut st);
    let mut big = b"HTTP/1.1 200 OK\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 70_000));
    p.sends(&[&big]);
    let f = Failure::new(ErrorClass::Limit, "head-too-large");
    assert_eq!(p.advance(&mut st, 9), Outcome::Failed(f, 9));
}

#[test]
fn a_new_connection_whose_write_blocks_is_still_connecting_and_dated_by_its_edge() {
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let mut p = Peer::fresh(GET);
    p.script().write_room = Some(0);
    assert_eq!(p.advance(&mut st, 20), Outcome::Wait);
    assert!(matches!(p.ex.state, State::Connecting));
    assert_eq!(p.conn.up_by_ns, 0);
    assert!(
        p.ex.take_watch(),
        "the loop must wake for the writable edge"
    );
    p.script().write_room = None;
    p.conn.writable = true;
    assert_eq!(p.advance(&mut st, 50), Outcome::Wait);
    assert_eq!(p.ex.times.connected, 50, "dated by the edge");
    assert_eq!(st.connect.moments.min, 1);
}

#[test]
fn an_early_reply_while_sending_is_the_reply_and_the_connection_is_not_kept() {
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let body = vec![b'x'; 4096];
    let mut req = b"POST / HTTP/1.1\r\nContent-Length: 4096\r\n\r\n".to_vec();
    req.extend_from_slice(&body);
    let mut p = Peer::reused(&req);
    p.script().write_room = Some(100);
    assert_eq!(p.advance(&mut st, 9), Outcome::Wait);
    assert_eq!(p.ex.sent, 100);
    let r = b"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n";
    p.sends(&[r]);
    assert_eq!(
        p.advance(&mut st, 12),
        reply(413, false, 12, (r.len(), r.len()))
    );
}

#[test]
fn expect_continue_holds_the_body_until_100_continue() {
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let req = b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody";
    let mut p = Peer::reused(req);
    p.ex.begin(5, true, true);
    assert_eq!(p.advance(&mut st, 9), Outcome::Wait);
    assert_eq!(p.script().written.len(), req.len() - 4, "the head only");
    let t = Timeouts::default();
    assert_eq!(
        p.ex.deadline(&t),
        Some((9 + super::EXPECT_WAIT_NS, TimeoutPhase::ExpectWait))
    );
    p.sends(&[b"HTTP/1.1 100 Continue\r\n\r\n"]);
    assert_eq!(p.advance(&mut st, 11), Outcome::Wait);
    assert_eq!(p.script().written, req, "the body followed");
    let r = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    p.sends(&[r]);
    assert_eq!(
        p.advance(&mut st, 12),
        reply(201, true, 12, (r.len(), r.len()))
    );
}

#[test]
fn deadlines_follow_the_state_and_never_move_with_data() {
    let ms = |n: u64| Some(Duration::from_millis(n));
    let t = Timeouts {
        connect: ms(1),
        send: ms(2),
        first_byte: ms(3),
        idle: ms(4),
        inactivity: None,
        reply: ms(10),
    };
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let mut p = Peer::fresh(GET);
    p.script().write_room = Some(0);
    p.advance(&mut st, 20);
    assert_eq!(
        p.ex.deadline(&t),
        Some((5 + 1_000_000, TimeoutPhase::Connect))
    );
    p.script().write_room = Some(3);
    p.conn.writable = true;
    p.advance(&mut st, 30);
    // Partly written: the send deadline counts from the first byte out.
    assert_eq!(
        p.ex.deadline(&t),
        Some((30 + 2_000_000, TimeoutPhase::Send))
    );
    p.script().write_room = None;
    p.conn.writable = true;
    p.advance(&mut st, 40);
    assert_eq!(
        p.ex.deadline(&t),
        Some((40 + 3_000_000, TimeoutPhase::FirstByte))
    );
    p.sends(&[b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab"]);
    p.advance(&mut st, 50);
    assert_eq!(
        p.ex.deadline(&t),
        Some((50 + 4_000_000, TimeoutPhase::Idle))
    );
    let long = Timeouts { idle: ms(20), ..t };
    assert_eq!(
        p.ex.deadline(&long),
        Some((40 + 10_000_000, TimeoutPhase::Reply)),
        "the reply deadline is absolute from the request's end"
    );
}

#[test]
fn the_inactivity_deadline_moves_with_every_byte_written_or_read() {
    let ms = |n: u64| Some(Duration::from_millis(n));
    let t = Timeouts {
        inactivity: ms(5),
        ..Timeouts::default()
    };
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let mut p = Peer::fresh(GET);
    p.script().write_room = Some(0);
    p.advance(&mut st, 20);
    assert_eq!(p.ex.deadline(&t), None, "a connect is conn_timeout's");
    p.script().write_room = Some(3);
    p.conn.writable = true;
    p.advance(&mut st, 30);
    assert_eq!(
        p.ex.deadline(&t),
        Some((30 + 5_000_000, TimeoutPhase::Idle))
    );
    p.script().write_room = None;
    p.conn.writable = true;
    p.advance(&mut st, 40);
    assert_eq!(
        p.ex.deadline(&t),
        Some((40 + 5_000_000, TimeoutPhase::Idle)),
        "waiting for the first byte counts from the last write"
    );
    p.sends(&[b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab"]);
    p.advance(&mut st, 50);
    assert_eq!(
        p.ex.deadline(&t),
        Some((50 + 5_000_000, TimeoutPhase::Idle))
    );
    p.sends(&[b"cd"]);
    p.advance(&mut st, 4_000_000);
    assert_eq!(
        p.ex.deadline(&t),
        Some((9_000_000, TimeoutPhase::Idle)),
        "a trickle keeps it alive"
    );
}

/// A tap that records what it saw.
#[derive(Default)]
struct Seen {
    heads: Vec<u16>,
    body: Vec<u8>,
}

impl ReplyTap for Seen {
    fn head(&mut self, _bytes: &[u8], head: &ReplyHead) {
        self.heads.push(head.status);
    }
    fn wants_body(&self) -> bool {
        true
    }
    fn body(&mut self, data: &[u8]) {
        self.body.extend_from_slice(data);
    }
}

#[test]
fn a_tap_sees_every_head_and_the_payload_without_framing() {
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let mut p = Peer::reused_sent(GET, &mut st);
    let body = b"2\r\nab\r\n1\r\nc\r\n0\r\n\r\n";
    p.sends(&[
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        body,
    ]);
    let mut seen = Seen::default();
    let out = p.advance_tap(&mut st, 9, Some(&mut seen));
    assert_eq!(out, reply(200, true, 9, (body.len(), body.len())));
    assert_eq!(seen.heads, [100, 200]);
    assert_eq!(seen.body, b"abc");
}

#[test]
fn a_readable_edge_with_nothing_to_read_goes_back_to_writing() {
    let sb = board();
    let mut st = Stats::new(sb.slot(0));
    let mut req = b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n".to_vec();
    req.extend_from_slice(&[b'y'; 100]);
    let mut p = Peer::reused(&req);
    p.script().write_room = Some(10);
    assert_eq!(p.advance(&mut st, 9), Outcome::Wait);
    p.conn.readable = true; // nothing scripted: the read says WouldBlock
    p.conn.writable = true;
    p.script().write_room = None;
    assert_eq!(p.advance(&mut st, 10), Outcome::Wait);
    assert_eq!(p.script().written, req, "the rest went out");
    assert!(matches!(p.ex.state, State::AwaitHead { .. }));
}
