//! SIGINT/SIGTERM for the supervisor: each signal writes a byte to a self-pipe that the wait
//! loop polls, so the loop counts them (first: stop the workers, second: kill them) without
//! any work inside a signal handler.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::{SigId, low_level};

/// Installed stop-signal handlers and the read end of their self-pipe.
#[derive(Debug)]
pub struct StopSignals {
    reader: UnixStream,
    ids: Vec<SigId>,
    /// Stop signals received so far.
    pub count: usize,
}

impl StopSignals {
    /// Installs the handlers for SIGINT and SIGTERM.
    ///
    /// # Errors
    ///
    /// The I/O error when the socket pair or a handler cannot be made.
    pub fn install() -> io::Result<Self> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        let mut ids = Vec::with_capacity(2);
        for sig in [SIGINT, SIGTERM] {
            ids.push(low_level::pipe::register(sig, writer.try_clone()?)?);
        }
        Ok(StopSignals {
            reader,
            ids,
            count: 0,
        })
    }

    /// The fd to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.reader.as_fd()
    }

    /// Takes the signals that arrived; returns the total received so far.
    pub fn drain(&mut self) -> usize {
        let mut buf = [0u8; 64];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.count += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        self.count
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            low_level::unregister(id);
        }
    }
}
