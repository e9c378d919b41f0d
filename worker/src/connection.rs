//! A slot's connection: opening it (the connect tried at once, dated around the call),
//! watching it while idle, and closing it.

use std::io;

use mio::net::TcpStream;
use volley_scoreboard::Counter;

use crate::conn::{Conn, Transport, enable_rx_stamps};
use crate::event_loop::Worker;
use crate::outcome::{Failure, NO_TLS_CONFIG, Stage, classify_io};
use crate::stats::record_ns;
use crate::tls::TlsStream;

impl Worker<'_> {
    /// Whether slot `s`'s kept connection, idle (no request outstanding), may carry its
    /// next request. RFC 9112 §9.2 and §9.6: anything readable on it while no request is
    /// outstanding means it is not reusable. When the kernel reported it readable or
    /// closed since its last reply, one read tells: nothing to read (an edge left from
    /// the reply) keeps it; bytes (a reply's tail after its framed end, a `408` sent to
    /// an idle connection) or its end (FIN, RST, TLS `close_notify`) close it and count
    /// an anomaly, not a request error, and the slot's next request opens a new
    /// connection. False when the slot has no usable connection (any more).
    pub(crate) fn idle_conn_usable(&mut self, s: u32, now: u64) -> bool {
        let slot = &mut self.slots[s as usize];
        let Some(conn) = slot.conn.and_then(|h| self.conns.get_mut(h)) else {
            return false;
        };
        if !conn.readable && !conn.read_closed {
            return true;
        }
        // The slot reads no reply now: its buffer is free.
        let mut unsolicited = 0u64;
        let closed = loop {
            match std::io::Read::read(&mut conn.io, &mut slot.buf.bytes) {
                Ok(0) => break true,
                Ok(n) => {
                    // Closed either way; one read is enough to know (a server that keeps
                    // sending must not hold the loop here).
                    unsolicited = n as u64;
                    break false;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.readable = false;
                    break false;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break true,
            }
        };
        if unsolicited == 0 && !closed {
            return true;
        }
        self.stats.add(Counter::BytesReceived, unsolicited);
        let a = &mut self.stats.anomalies;
        if unsolicited > 0 {
            a.unsolicited_data += 1;
            a.unsolicited_bytes += unsolicited;
        } else {
            a.closed_while_idle += 1;
        }
        self.close_conn(s, now);
        false
    }

    pub(crate) fn connect(
        &mut self,
        s: u32,
        addr: std::net::SocketAddr,
        tls: bool,
    ) -> Result<(), Failure> {
        let sock = self.plan.spec.socket;
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
            if self.waiter.sleeps() {
                // Replies may be read well after they arrive: date them by the kernel.
                enable_rx_stamps(&stream).map_err(|e| self.connect_failure(&e))?;
            }
            Transport::Plain(stream)
        };
        let h = self.conns.insert(Conn::new(
            io,
            addr,
            s,
            opened_ns,
            volley_scoreboard::now_ns(),
        ));
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
        let Some(h) = self.slots[s as usize].conn.take() else {
            return;
        };
        if let Some(mut conn) = self.conns.remove(h) {
            if let Some(tls) = conn.io.tls_mut()
                && conn.established
            {
                tls.close();
            }
            self.stats.sub(Counter::ConnsOpen, 1);
            if conn.completed > 0 {
                record_ns(
                    &mut self.stats.conn_life,
                    now.saturating_sub(conn.opened_ns),
                );
            }
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
