//! A slot's connection: opening it (the connect tried at once, dated around the call),
//! watching it while idle, storing it in and taking it from the worker's keep-alive
//! cache, and closing it.

use std::io;

use mio::net::TcpStream;
use volley_scoreboard::Counter;

use crate::cache::ConnCache;
use crate::conn::{Conn, Owner, Transport};
use crate::event_loop::Worker;
use crate::handle::Handle;
use crate::outcome::{Failure, NO_TLS_CONFIG, Stage, classify_io};
use crate::stats::record_ns;
use crate::tls::TlsStream;

impl Worker<'_> {
    /// Whether slot `s`'s kept connection, idle (no request outstanding), may carry its
    /// next request (see [`look_idle`]). One that may not is closed and its anomaly
    /// counted, not a request error, and the slot's next request opens a new connection.
    /// False when the slot has no usable connection (any more).
    pub(crate) fn idle_conn_usable(&mut self, s: u32, now: u64) -> bool {
        let slot = &mut self.slots[s as usize];
        let Some(conn) = slot.conn.and_then(|h| self.conns.get_mut(h)) else {
            return false;
        };
        // The slot reads no reply now: its buffer is free.
        let look = look_idle(conn, &mut slot.buf.bytes);
        if look == IdleLook::Usable {
            return true;
        }
        self.count_idle_end(look);
        self.close_conn(s, now);
        false
    }

    /// Counts how an idle connection ended: bytes nobody asked for, or a close.
    fn count_idle_end(&mut self, look: IdleLook) {
        let a = &mut self.stats.anomalies;
        match look {
            IdleLook::Usable => {}
            IdleLook::Unsolicited(n) => {
                a.unsolicited_data += 1;
                a.unsolicited_bytes += n;
                self.stats.add(Counter::BytesReceived, n);
            }
            IdleLook::Closed => a.closed_while_idle += 1,
        }
    }

    /// Slot `s`'s connection, its reply read and allowed to stay, goes to the worker's
    /// keep-alive cache for any slot's next request to its address (a run file's; see
    /// [`crate::cache`]). Closed instead when the cache cannot take it; the connection
    /// idle longest is closed when the cache is full.
    pub(crate) fn store_conn(&mut self, s: u32, now: u64) {
        let Some(h) = self.slots[s as usize].conn.take() else {
            return;
        };
        let (Some(cache), Some(conn)) = (self.cache.as_mut(), self.conns.get_mut(h)) else {
            return self.close_handle(h, now);
        };
        let (tls, host) = match conn.io.tls_mut() {
            Some(t) => (true, t.host.as_str()),
            None => (false, ""),
        };
        let Some(key) = cache.key(conn.addr, tls, host) else {
            return self.close_handle(h, now);
        };
        conn.owner = Owner::Cache;
        if let Some(evicted) = cache.store(key, h) {
            self.close_handle(evicted, now);
        }
    }

    /// Gives slot `s` (which holds no connection) an idle connection to its current
    /// request's address from the keep-alive cache, if there is a usable one: the most
    /// recently stored; any the server closed or wrote to meanwhile are closed on the way
    /// (see [`look_idle`]). True when the slot got one.
    pub(crate) fn take_cached(&mut self, s: u32, now: u64) -> bool {
        let key = {
            let t = &self.slots[s as usize].sched.spec(&self.plan).target;
            match self.cache.as_ref() {
                Some(cache) => cache.find(t.addr, t.tls, &t.host),
                None => None,
            }
        };
        let Some(key) = key else {
            return false;
        };
        while let Some(h) = self.cache.as_mut().and_then(|c| c.take(key)) {
            let slot = &mut self.slots[s as usize];
            let Some(conn) = self.conns.get_mut(h) else {
                continue;
            };
            let look = look_idle(conn, &mut slot.buf.bytes);
            if look == IdleLook::Usable {
                conn.owner = Owner::Slot(s);
                slot.conn = Some(h);
                return true;
            }
            self.count_idle_end(look);
            self.close_handle(h, now);
        }
        false
    }

    /// A readiness event for connection `h`, idle in the keep-alive cache: anything
    /// readable ends it (see [`look_idle`]); it leaves the cache and is closed.
    pub(crate) fn cached_conn_event(&mut self, h: Handle, now: u64) {
        let Some(conn) = self.conns.get_mut(h) else {
            return;
        };
        // No slot reads for it: one small read is enough to know.
        let mut scratch = [0u8; IDLE_READ];
        let look = look_idle(conn, &mut scratch);
        if look == IdleLook::Usable {
            return;
        }
        if let Some(cache) = self.cache.as_mut() {
            cache.remove(h);
        }
        self.count_idle_end(look);
        self.close_handle(h, now);
    }

    /// Closes every connection idle in the keep-alive cache (the run is over).
    pub(crate) fn close_cached(&mut self, now: u64) {
        let mut closed = 0u32;
        while let Some(h) = self.cache.as_mut().and_then(ConnCache::take_any) {
            self.close_handle(h, now);
            closed += 1;
            if closed.is_multiple_of(1024) {
                // Closing tens of thousands of connections takes a while: still alive.
                self.stats.slot().beat(volley_scoreboard::now_ns());
            }
        }
    }

    pub(crate) fn connect(
        &mut self,
        s: u32,
        addr: std::net::SocketAddr,
        tls: bool,
    ) -> Result<(), Failure> {
        let sock = self.plan.spec.socket;
        // Numbered before the attempt: a connect that fails is a connection too.
        let number = self.obs.calls.as_mut().map_or(0, |c| c.next_conn());
        self.slots[s as usize].exchange.conn_no = number;
        // Connect times are measured around the call, not from the loop turn's clock.
        let opened_ns = volley_scoreboard::now_ns();
        let opened = if sock == Default::default() {
            TcpStream::connect(addr)
        } else {
            connect_with(addr, sock)
        };
        let stream = match opened {
            Ok(stream) => stream,
            Err(e) => return Err(self.connect_failure(&e)),
        };
        let io = if tls {
            let Some(config) = self.tls.as_ref() else {
                return Err(NO_TLS_CONFIG);
            };
            let host = &self.slots[s as usize].sched.spec(&self.plan).target.host;
            match TlsStream::new(stream, config, host) {
                Ok(t) => Transport::Tls(Box::new(t)),
                Err(e) => return Err(self.connect_failure(&e)),
            }
        } else {
            Transport::Plain(stream)
        };
        let mut conn = Conn::new(io, addr, s, opened_ns, volley_scoreboard::now_ns());
        conn.number = number;
        let h = self.conns.insert(conn);
        self.stats.add(Counter::ConnsOpen, 1);
        let burst = &mut self.stats.connect_burst;
        if burst.0 != self.turn {
            *burst = (self.turn, 0);
        }
        burst.1 += 1;
        self.stats.max_connect_burst = self.stats.max_connect_burst.max(burst.1);
        if let Some(sess) = self.slots[s as usize].sched.session.as_mut() {
            sess.conns += 1;
        }
        self.stats.max_open = self.stats.max_open.max(self.conns.len() as u64);
        self.stats
            .open_timeline
            .set(opened_ns, self.conns.len() as u64);
        self.slots[s as usize].conn = Some(h);
        // The request (or the ClientHello) is tried at once (`Conn::new` marks the socket
        // writable): a connect that is already done (loopback, often) then needs no
        // wake-up of its own; one still under way makes the write return EAGAIN, and the
        // writable edge follows.
        self.register(h).map_err(|e| classify_io(&e, Stage::Send))?;
        Ok(())
    }

    /// The failure of a connect that could not even start.
    fn connect_failure(&mut self, e: &io::Error) -> Failure {
        let f = classify_io(e, Stage::Send);
        self.stats.note_errno(f, e);
        f
    }

    pub(crate) fn conn_mut(&mut self, s: u32) -> Option<&mut Conn> {
        let h = self.slots[s as usize].conn?;
        self.conns.get_mut(h)
    }
    /// Closes the slot's connection, if any. Its handle goes stale at once, so events the
    /// kernel already queued for it are dropped.
    pub(crate) fn close_conn(&mut self, s: u32, now: u64) {
        if let Some(h) = self.slots[s as usize].conn.take() {
            self.close_handle(h, now);
        }
    }

    /// Closes connection `h` (if still current), whoever held it.
    fn close_handle(&mut self, h: Handle, now: u64) {
        if let Some(mut conn) = self.conns.remove(h) {
            if let Some(tls) = conn.io.tls_mut()
                && conn.established
            {
                tls.close();
            }
            self.stats.sub(Counter::ConnsOpen, 1);
            self.stats.open_timeline.set(now, self.conns.len() as u64);
            if conn.completed > 0 {
                record_ns(
                    &mut self.stats.conn_life,
                    now.saturating_sub(conn.opened_ns),
                );
            }
        }
    }
}

/// Bytes read at most from an idle connection in the cache to tell what came.
const IDLE_READ: usize = 1024;

/// What one look at an idle kept connection found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdleLook {
    /// Nothing to read (an edge left from the reply): it may carry a request.
    Usable,
    /// Bytes nobody asked for (a reply's tail after its framed end, a `408` sent to an
    /// idle connection): not reusable.
    Unsolicited(u64),
    /// Its end (FIN, RST, TLS `close_notify`): not reusable.
    Closed,
}

/// Whether an idle kept connection (no request outstanding) may carry a request.
/// RFC 9112 §9.2 and §9.6: anything readable on it while no request is outstanding means
/// it is not reusable. Only when the kernel reported it readable or closed since its last
/// reply, one read into `buf` tells.
pub(crate) fn look_idle(conn: &mut Conn, buf: &mut [u8]) -> IdleLook {
    if !conn.readable && !conn.read_closed {
        return IdleLook::Usable;
    }
    loop {
        match std::io::Read::read(&mut conn.io, buf) {
            Ok(0) => return IdleLook::Closed,
            // Not reusable either way; one read is enough to know (a server that keeps
            // sending must not hold the loop here).
            Ok(n) => return IdleLook::Unsolicited(n as u64),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                conn.readable = false;
                return IdleLook::Usable;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return IdleLook::Closed,
        }
    }
}

/// A non-blocking connect to `addr` with socket options set before it (the receive buffer
/// must be sized before the handshake for the window scale to follow it).
fn connect_with(
    addr: std::net::SocketAddr,
    opts: volley_config::SocketOptions,
) -> io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    if let Some(n) = opts.send_buffer {
        socket.set_send_buffer_size(n as usize)?;
    }
    if let Some(n) = opts.recv_buffer {
        socket.set_recv_buffer_size(n as usize)?;
    }
    if opts.reset_on_close {
        // Closed with RST, leaving no TIME_WAIT (httperf's --close-with-reset).
        socket.set_linger(Some(std::time::Duration::ZERO))?;
    }
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc_einprogress()) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(std::net::TcpStream::from(socket)))
}

/// `EINPROGRESS`: a non-blocking connect under way.
fn libc_einprogress() -> i32 {
    nix::errno::Errno::EINPROGRESS as i32
}
