//! A connection: the socket (plain or TLS), its remembered readiness, and its owner: a
//! slot, or the worker's keep-alive cache.

use std::io::IoSliceMut;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};

use mio::net::TcpStream;

use crate::tls::TlsStream;

/// What a connection carries bytes over: one I/O contract for plain TCP and TLS, so the
/// slot machine reads and writes without knowing which it has.
#[derive(Debug)]
pub enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: the rustls state is large, plain connections stay small).
    Tls(Box<TlsStream>),
    /// Tests: a scripted peer, no socket (see `exchange::tests`).
    #[cfg(test)]
    Script(Box<crate::exchange::tests::Script>),
}

impl Transport {
    /// The socket (for registration and socket options).
    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &mut t.tcp,
            #[cfg(test)]
            Transport::Script(_) => unreachable!("a scripted peer has no socket"),
        }
    }

    /// Turns Nagle's algorithm off (best effort: a request still goes out without it).
    pub fn set_nodelay(&mut self) {
        match self {
            Transport::Plain(s) => drop(s.set_nodelay(true)),
            Transport::Tls(t) => drop(t.tcp.set_nodelay(true)),
            #[cfg(test)]
            Transport::Script(_) => {}
        }
    }

    /// The TLS stream, if this is one.
    pub fn tls_mut(&mut self) -> Option<&mut TlsStream> {
        match self {
            Transport::Plain(_) => None,
            Transport::Tls(t) => Some(t),
            #[cfg(test)]
            Transport::Script(_) => None,
        }
    }

    /// Encrypted bytes wait to be written (never for plain TCP).
    #[inline]
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.wants_write(),
            #[cfg(test)]
            Transport::Script(_) => false,
        }
    }

    /// A read that returned `n` of `space` bytes left nothing to read: the next byte
    /// brings a new readable edge. For plain TCP on Linux, a short read drained the
    /// receive queue. With TLS, the plaintext must have run out (a short read), and
    /// [`TlsStream::drained`] must hold: the last socket read was short, and rustls
    /// keeps neither plaintext nor a `close_notify` still to be reported.
    #[inline]
    pub fn drained_after(&self, n: usize, space: usize) -> bool {
        n < space
            && match self {
                Transport::Plain(_) => true,
                Transport::Tls(t) => t.drained(),
                #[cfg(test)]
                Transport::Script(s) => s.drained(),
            }
    }

    /// Reads like [`Read::read`] and also returns the kernel's receive timestamp of the
    /// last segment read (`CLOCK_REALTIME` ns), when the socket has `SO_TIMESTAMPNS` on
    /// (see [`enable_rx_stamps`]); over TLS, the date of the socket read that brought the
    /// plaintext. One `recvmsg` per socket read either way.
    #[inline]
    pub fn read_stamped(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
        match self {
            Transport::Plain(s) => recv_stamped(s.as_raw_fd(), buf),
            Transport::Tls(t) => t.read_stamped(buf),
            #[cfg(test)]
            Transport::Script(s) => s.read_stamped(buf),
        }
    }

    /// The peer ended a TLS connection without `close_notify` (never for plain TCP).
    pub fn unclean_eof(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.unclean_eof,
            #[cfg(test)]
            Transport::Script(s) => s.unclean_eof,
        }
    }
}

impl Read for Transport {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) => t.read(buf),
            #[cfg(test)]
            Transport::Script(s) => s.read_stamped(buf).map(|(n, _)| n),
        }
    }
}

impl Write for Transport {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(t) => t.write(buf),
            #[cfg(test)]
            Transport::Script(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(t) => TlsStream::flush(t),
            #[cfg(test)]
            Transport::Script(_) => Ok(()),
        }
    }
}

/// Who holds a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A slot (its index in the worker's slot table): carrying its request, or kept by
    /// it between requests (a command line's one connection per slot).
    Slot(u32),
    /// The worker's keep-alive cache: idle, waiting for any slot's next request to its
    /// address (a run file's; see [`crate::cache`]).
    Cache,
}

/// One TCP connection of a thread slot.
///
/// Readiness is edge-triggered: an edge seen while the slot does not need it is remembered
/// here (`readable`, `writable`) and cleared only when an operation reports `WouldBlock`
/// (or a plain read comes back short, which on Linux TCP means the receive queue was
/// drained).
#[derive(Debug)]
pub struct Conn {
    /// The socket (registered for both readable and writable once, at connect).
    pub io: Transport,
    /// Who holds it: what its events are for.
    pub owner: Owner,
    /// A readable edge has not been consumed yet.
    pub readable: bool,
    /// The socket can take more bytes.
    pub writable: bool,
    /// The peer's FIN (or an error) was reported. From then on a short read does not mean
    /// the queue is drained: the end-of-file is still to be read, and no new edge will
    /// announce it.
    pub read_closed: bool,
    /// A first write succeeded (and, with TLS, the handshake is over): the connection
    /// is established.
    pub established: bool,
    /// Replies completed on this connection.
    pub completed: u64,
    /// The last loop turn whose events said it was readable: what a read in that turn
    /// finds was there when the turn began (see `Exchange::read_date`).
    pub edge_turn: u64,
    /// When the connect started (monotonic ns, read just before the `connect` call): the
    /// connect time and the connection's lifetime count from here.
    pub opened_ns: u64,
    /// When the `connect` call had returned (monotonic ns), while the first attempt to
    /// write has not yet been refused with `EAGAIN`. A write that then succeeds at once
    /// proves the connection was up by this instant (on loopback the handshake completes
    /// inside the call). 0 once the connect had to wait for its writable edge: it is dated
    /// by that edge instead.
    pub up_by_ns: u64,
    /// The address it was opened to: a kept connection only carries requests to it.
    pub addr: SocketAddr,
    /// `--call-stats`: its number (see [`crate::calls`]; 0 without the option).
    pub number: u64,
    /// `SO_TIMESTAMPNS` was asked for (see [`Conn::read_dated`]).
    stamps: bool,
}

impl Conn {
    /// A new, not yet connected connection for `slot`, whose `connect` call started at
    /// `opened_ns` and returned at `up_by_ns`. It is tried for writing at once (see
    /// [`Conn::up_by_ns`]): a connect still under way refuses the write with `EAGAIN`.
    pub fn new(io: Transport, addr: SocketAddr, slot: u32, opened_ns: u64, up_by_ns: u64) -> Self {
        Conn {
            io,
            owner: Owner::Slot(slot),
            readable: false,
            writable: true,
            read_closed: false,
            established: false,
            completed: 0,
            edge_turn: 0,
            opened_ns,
            up_by_ns,
            addr,
            number: 0,
            stamps: false,
        }
    }

    /// Reads like [`Transport::read_stamped`], turning on receive timestamps for the
    /// socket first if it has not got them yet. They can be turned on late: the kernel
    /// dates each segment as it arrives while any socket of the system asks for dates
    /// (the sleeping loop keeps one open), and hands the date over at the read of a
    /// socket that asks. So only connections read after a sleep pay the `setsockopt`.
    #[inline]
    pub fn read_dated(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
        if !self.stamps {
            self.stamps = true;
            // Refused (never seen): the reads come without dates, and a loop that gets too
            // many of those wakes for every reply from then on.
            let _ = match &self.io {
                Transport::Plain(s) => enable_rx_stamps(s),
                Transport::Tls(t) => enable_rx_stamps(&t.tcp),
                #[cfg(test)]
                Transport::Script(_) => Ok(()),
            };
        }
        self.io.read_stamped(buf)
    }
}

/// Turns on receive timestamps (`SO_TIMESTAMPNS`) for a socket: the kernel then dates
/// every segment as it arrives, and [`Transport::read_stamped`] hands that date over. An
/// open loop reads replies when it wakes for its next start, not when they arrive; the
/// dates keep its reply times true.
pub fn enable_rx_stamps(socket: &impl AsFd) -> io::Result<()> {
    setsockopt(socket, sockopt::ReceiveTimestampns, &true).map_err(io::Error::from)
}

/// Room for one `SCM_TIMESTAMPNS` control message (a `timespec`) and then some, aligned
/// for `cmsghdr`.
#[repr(C, align(8))]
struct ControlBuf([u8; 64]);

/// `recv` into `buf`, returning the receive timestamp of the last segment read, if the
/// kernel attached one.
pub(crate) fn recv_stamped(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    let mut control = ControlBuf([0; 64]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(fd, &mut iov, Some(&mut control.0), MsgFlags::empty())?;
    let mut stamp = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmTimestampns(ts) = c {
                stamp = Some(
                    (ts.tv_sec() as u64)
                        .saturating_mul(1_000_000_000)
                        .saturating_add(ts.tv_nsec() as u64),
                );
            }
        }
    }
    Ok((msg.bytes, stamp))
}
