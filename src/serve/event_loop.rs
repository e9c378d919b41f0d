//! One process of `volley serve`: a mio event loop over its listening socket (its stdin;
//! the kernel spreads connections over the processes' sockets), its connections, their
//! timers, and the pipe that tells it its parent is gone.
//!
//! A loop turn accepts at most [`ACCEPT_PER_TURN`] connections before it serves the ones
//! it has, so that a burst of 10,000 connects does not stall the requests in flight.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime};

use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::conn::{Conn, Env, Step};
use super::reply::http_date;

const LISTENER: Token = Token(usize::MAX);
const PARENT: Token = Token(usize::MAX - 1);
/// Connections accepted per loop turn (see the module doc).
const ACCEPT_PER_TURN: usize = 64;
/// Size of the read buffer all connections share; a connection keeps input of its own
/// only while a head is partial or requests wait behind a reply.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// The event loop of one serving process.
#[derive(Debug)]
pub(crate) struct Server {
    poll: Poll,
    listener: TcpListener,
    local: SocketAddr,
    /// Connections by token; `None` is a free slot.
    conns: Vec<Option<Slot>>,
    free: Vec<usize>,
    /// Slots closed this turn, freed after it (a later event of the same batch must not
    /// reach a new connection in the same slot).
    closed: Vec<usize>,
    next_id: u64,
    /// Wake-ups: `(when, slot, connection id)`; stale ones are dropped when they fire.
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// Wake-ups asked for by the step that just ran.
    wake_at: Vec<Instant>,
    date: Date,
    scratch: Box<[u8]>,
    /// Accepting may go on next turn (the last turn stopped at its limit).
    accept_more: bool,
    /// Accepting failed for want of descriptors: retry when a connection closes.
    accept_starved: bool,
}

#[derive(Debug)]
struct Slot {
    id: u64,
    conn: Conn,
}

impl Server {
    /// A loop on `listener`, watching `parent` (the write end of a pipe whose read end the
    /// parent holds: it reports an error once the parent closes it or dies).
    ///
    /// # Errors
    ///
    /// The error of creating the poll or registering the listener or the pipe.
    pub(crate) fn new(
        listener: std::net::TcpListener,
        parent: &impl AsRawFd,
    ) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let mut listener = TcpListener::from_std(listener);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        poll.registry().register(
            &mut SourceFd(&parent.as_raw_fd()),
            PARENT,
            Interest::WRITABLE,
        )?;
        Ok(Server {
            poll,
            listener,
            local,
            conns: Vec::new(),
            free: Vec::new(),
            closed: Vec::new(),
            next_id: 0,
            timers: BinaryHeap::new(),
            wake_at: Vec::new(),
            date: Date::default(),
            scratch: vec![0; READ_BUFFER_BYTES].into_boxed_slice(),
            accept_more: true,
            accept_starved: false,
        })
    }

    /// Serves until the parent is gone.
    ///
    /// # Errors
    ///
    /// The error of `epoll_wait` other than EINTR.
    pub(crate) fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = if self.accept_more {
                Some(Duration::ZERO)
            } else {
                self.timers
                    .peek()
                    .map(|Reverse((at, ..))| at.saturating_duration_since(Instant::now()))
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            self.date.tick();
            for event in &events {
                match event.token() {
                    LISTENER => self.accept_more = true,
                    PARENT if event.is_error() || event.is_write_closed() => return Ok(()),
                    PARENT => {}
                    Token(slot) => self.on_event(slot, event, now),
                }
            }
            if self.accept_more {
                self.accept(now);
            }
            self.fire_timers(now);
            self.free.append(&mut self.closed);
        }
    }

    fn on_event(&mut self, slot: usize, event: &mio::event::Event, now: Instant) {
        if let Some(Some(s)) = self.conns.get_mut(slot) {
            s.conn.on_event(event);
            self.step(slot, now, Conn::drive);
        }
    }

    /// Runs `f` on the connection in `slot`, then keeps its wake-ups or closes it.
    fn step(
        &mut self,
        slot: usize,
        now: Instant,
        f: impl FnOnce(&mut Conn, &mut [u8], &mut Env<'_>) -> Step,
    ) {
        let Some(Some(s)) = self.conns.get_mut(slot) else {
            return;
        };
        let mut env = Env {
            now,
            date: self.date.text.as_bytes(),
            local: self.local,
            wake_at: &mut self.wake_at,
        };
        let step = f(&mut s.conn, &mut self.scratch, &mut env);
        let id = s.id;
        for at in self.wake_at.drain(..) {
            self.timers.push(Reverse((at, slot, id)));
        }
        if step == Step::Close {
            // Dropping the stream closes it, which also takes it out of the epoll set.
            self.conns[slot] = None;
            self.closed.push(slot);
            if std::mem::take(&mut self.accept_starved) {
                self.accept_more = true;
            }
        }
    }

    fn accept(&mut self, now: Instant) {
        for _ in 0..ACCEPT_PER_TURN {
            match self.listener.accept() {
                Ok((stream, _)) => self.add(stream, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_more = false;
                    return;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // EMFILE/ENFILE: the connection waits in the queue until one closes.
                    if !self.accept_starved {
                        eprintln!("volley serve: accept: {e} (pid {})", std::process::id());
                    }
                    self.accept_starved = true;
                    self.accept_more = false;
                    return;
                }
            }
        }
    }

    fn add(&mut self, stream: TcpStream, now: Instant) {
        // Replies are written whole: nothing is gained by Nagle's delay.
        let _ = stream.set_nodelay(true);
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let mut conn = Conn::new(stream);
        let registered = self.poll.registry().register(
            conn.stream(),
            Token(slot),
            Interest::READABLE | Interest::WRITABLE,
        );
        if registered.is_err() {
            self.free.push(slot);
            return;
        }
        self.next_id += 1;
        self.conns[slot] = Some(Slot {
            id: self.next_id,
            conn,
        });
        self.step(slot, now, Conn::drive);
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, slot, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let live = matches!(self.conns.get(slot), Some(Some(s)) if s.id == id);
            if live {
                self.step(slot, now, Conn::on_timer);
            }
        }
    }
}

/// The `Date` field's value, made again when the second changes.
#[derive(Debug, Default)]
struct Date {
    secs: u64,
    text: String,
}

impl Date {
    fn tick(&mut self) {
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if secs != self.secs || self.text.is_empty() {
            self.secs = secs;
            self.text = http_date(secs);
        }
    }
}
