//! The script runner: one accepted connection running its [`Step`]s, with every read,
//! write and sleep done in slices so a stop is seen.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use socket2::SockRef;

use super::{IO_TIMEOUT, MAX_RECORDED_HEADS, SLICE, Shared, Step};

/// How long [`Step::Close`] drains what the peer still sends after the FIN, so that the
/// close does not turn into a reset.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// A request head longer than this ends the connection.
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// What one read slice gave.
enum Got {
    /// Bytes were appended to the buffer.
    Bytes,
    /// The peer closed its side.
    Eof,
    /// An error, a stop, or the deadline.
    Over,
}

/// One accepted connection running its script.
pub(super) struct Conn<'a> {
    stream: TcpStream,
    shared: &'a Shared,
    /// Received bytes not yet consumed by a request.
    buf: Vec<u8>,
    /// Body bytes of the last head read by `ReadHead` still unread.
    pending_body: usize,
}

impl<'a> Conn<'a> {
    pub(super) fn new(stream: TcpStream, shared: &'a Shared) -> Conn<'a> {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(SLICE));
        let _ = stream.set_write_timeout(Some(SLICE));
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            shared,
            buf: Vec::new(),
            pending_body: 0,
        }
    }

    pub(super) fn run(mut self, script: &[Step]) {
        let mut at = 0;
        let mut read_since_start = false;
        loop {
            let Some(step) = script.get(at) else {
                self.close();
                return;
            };
            let go_on = match step {
                Step::ReadRequest => {
                    read_since_start = true;
                    self.read_request()
                }
                Step::ReadHead => {
                    read_since_start = true;
                    match self.read_head() {
                        Some(length) => {
                            self.pending_body = length;
                            true
                        }
                        None => false,
                    }
                }
                Step::ReadBody => {
                    let length = std::mem::take(&mut self.pending_body);
                    self.skip_body(length)
                }
                Step::Write(bytes) => self.write_all(bytes),
                Step::WriteSlowly { bytes, every } => bytes
                    .iter()
                    .enumerate()
                    .all(|(i, b)| (i == 0 || self.sleep(*every)) && self.write_all(&[*b])),
                Step::WriteForever { bytes, every } => {
                    while self.write_all(bytes) && (every.is_zero() || self.sleep(*every)) {}
                    false
                }
                Step::Sleep(d) => self.sleep(*d),
                Step::Close => {
                    self.close();
                    false
                }
                Step::Reset => {
                    // SO_LINGER with a zero timeout: close(2) sends RST and drops the
                    // send queue.
                    let _ = SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
                    false
                }
                Step::Hang => {
                    self.hang();
                    false
                }
                Step::Repeat if read_since_start => {
                    read_since_start = false;
                    at = 0;
                    continue;
                }
                Step::Repeat => {
                    self.close();
                    false
                }
            };
            if !go_on || self.shared.stopping() {
                return;
            }
            at += 1;
        }
    }

    /// Reads one slice into `buf`, waiting up to `deadline` (or forever) for a byte.
    fn fill(&mut self, deadline: Option<Instant>) -> Got {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.shared.stopping() {
                return Got::Over;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Got::Eof,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Got::Bytes;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Got::Over;
                    }
                }
                Err(_) => return Got::Over,
            }
        }
    }

    fn read_request(&mut self) -> bool {
        match self.read_head() {
            Some(length) => self.skip_body(length),
            None => false,
        }
    }

    /// Reads and records one request head; returns its `Content-Length` (0 if none).
    fn read_head(&mut self) -> Option<usize> {
        let head_end = loop {
            if let Some(pos) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            if self.buf.len() > MAX_REQUEST_HEAD {
                return None;
            }
            if !matches!(self.fill(Some(Instant::now() + IO_TIMEOUT)), Got::Bytes) {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end);
        let length = content_length(&head)?;
        {
            let mut heads = self
                .shared
                .heads
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if heads.len() < MAX_RECORDED_HEADS {
                heads.push(head);
            }
        }
        self.shared.requests.fetch_add(1, Ordering::SeqCst);
        Some(length)
    }

    /// Reads and discards `remaining` body bytes.
    fn skip_body(&mut self, mut remaining: usize) -> bool {
        loop {
            let take = remaining.min(self.buf.len());
            self.buf.drain(..take);
            remaining -= take;
            if remaining == 0 {
                return true;
            }
            if !matches!(self.fill(Some(Instant::now() + IO_TIMEOUT)), Got::Bytes) {
                return false;
            }
        }
    }

    /// Writes all of `bytes`; false if the peer is gone, the server stops, or no byte
    /// could be written for [`IO_TIMEOUT`].
    fn write_all(&mut self, bytes: &[u8]) -> bool {
        let mut written = 0;
        let mut progress = Instant::now();
        while written < bytes.len() {
            if self.shared.stopping() {
                return false;
            }
            match self.stream.write(&bytes[written..]) {
                Ok(0) => return false,
                Ok(n) => {
                    written += n;
                    progress = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if progress.elapsed() >= IO_TIMEOUT {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        true
    }

    /// Sleeps `d` in slices; false if the server stopped meanwhile.
    fn sleep(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            if self.shared.stopping() {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            thread::sleep(SLICE.min(until - now));
        }
    }

    /// FIN, then drain until the peer closes (or a second passes), so unread bytes do
    /// not turn the close into a reset.
    fn close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let until = Instant::now() + CLOSE_LINGER;
        while let Got::Bytes = self.fill(Some(until)) {
            self.buf.clear();
        }
    }

    /// Reads and discards until the peer closes or the server stops.
    fn hang(&mut self) {
        while let Got::Bytes = self.fill(None) {
            self.buf.clear();
        }
    }
}

/// The request's `Content-Length` (0 if absent); `None` if it is not a number.
fn content_length(head: &str) -> Option<usize> {
    let field = head
        .split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"));
    match field {
        Some((_, value)) => value.trim().parse().ok(),
        None => Some(0),
    }
}
