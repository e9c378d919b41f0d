//! The processes of `volley serve` (and of `volley demo`'s target): N `volley serve-worker`
//! children, each accepting on its own socket of one `SO_REUSEPORT` group on the address.
//!
//! The group is what spreads the connections: the kernel hands each new connection to one
//! of its sockets by a hash of the addresses, so 50 connections opened at once land evenly
//! on the processes. (Processes sharing one listening socket would all wake for every
//! connection and take them in bursts, by whichever ran first.)
//!
//! The children are started with `std::process::Command`, not forked, so the parent may
//! be anything (the demo's supervisor forks its own workers later and must stay
//! single-threaded; this starts no thread). Each child gets:
//!
//! - its listening socket as its stdin;
//! - as stdout, the write end of a pipe whose read end the parent keeps. The child writes
//!   `ready` on it once its event loop is set up, then watches it: when the parent closes
//!   its end ([`Pool::stop`]) or dies, the pipe reports an error and the child exits 0.
//!   So children never outlive their parent, however it ends;
//! - its own process group, so a terminal's Ctrl-C reaches only the parent, which stops
//!   them in order.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use socket2::{Domain, Socket, Type};

/// What a child writes on its pipe once it serves.
pub(crate) const READY: &[u8] = b"ready\n";
/// Pending connections the listener holds (the kernel caps it at `net.core.somaxconn`):
/// a load generator opening 10,000 connections at once should not meet SYN retries.
const BACKLOG: i32 = 16_384;
/// How long [`Pool::stop`] waits for the children to exit before it kills them.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Running server processes on one listening address.
#[derive(Debug)]
pub struct Pool {
    addr: SocketAddr,
    children: Vec<Worker>,
}

#[derive(Debug)]
struct Worker {
    child: Child,
    /// The read end of the child's watch pipe; dropping it tells the child to exit.
    watch: Option<ChildStdout>,
}

impl Pool {
    /// Listens on `listen` (port 0: a free port) and starts `workers` processes of this
    /// executable (`serve-worker`), each on its own socket of one `SO_REUSEPORT` group
    /// (at least one); returns once all of them serve.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound (in use, not local), or a process cannot be
    /// started or exits before it serves; those started are stopped.
    pub fn start(listen: SocketAddr, workers: u32) -> anyhow::Result<Pool> {
        let listeners = bind_group(listen, workers.max(1)).map_err(|e| {
            let hint = match e.kind() {
                io::ErrorKind::AddrInUse => " (--listen 127.0.0.1:0 picks a free port)",
                _ => "",
            };
            anyhow::anyhow!("cannot listen on {listen}: {e}{hint}")
        })?;
        let addr = listeners[0].local_addr()?;
        let exe = std::env::current_exe().context("cannot find this executable")?;
        let mut pool = Pool {
            addr,
            children: Vec::new(),
        };
        for listener in listeners {
            let socket = OwnedFd::from(listener);
            let child = Command::new(&exe)
                .arg("serve-worker")
                .stdin(Stdio::from(socket))
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .process_group(0)
                .spawn()
                .with_context(|| format!("cannot start {} serve-worker", exe.display()))?;
            pool.children.push(Worker { child, watch: None });
        }
        // The sockets went to the children (the parent's copies closed with `Stdio`), so the
        // port is free again as soon as they are gone.
        for i in 0..pool.children.len() {
            pool.await_ready(i)?;
        }
        Ok(pool)
    }

    /// The address the processes listen on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process ids of the children.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|w| w.child.id()).collect()
    }

    /// A child that has exited (without being asked to), with how it ended.
    ///
    /// # Errors
    ///
    /// The error of `waitpid`.
    pub fn exited(&mut self) -> io::Result<Option<(u32, ExitStatus)>> {
        for w in &mut self.children {
            if let Some(status) = w.child.try_wait()? {
                return Ok(Some((w.child.id(), status)));
            }
        }
        Ok(None)
    }

    /// Tells every child to exit (closes its pipe) and reaps it, killing those still
    /// there after [`STOP_GRACE`].
    pub fn stop(&mut self) {
        for w in &mut self.children {
            w.watch = None;
        }
        let end = Instant::now() + STOP_GRACE;
        for w in &mut self.children {
            // Polled: the child exits within milliseconds of its pipe closing, and a wait
            // with a deadline has no blocking form for a `Child`.
            while matches!(w.child.try_wait(), Ok(None)) && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(2));
            }
            if matches!(w.child.try_wait(), Ok(None)) {
                let _ = w.child.kill();
            }
            let _ = w.child.wait();
        }
        self.children.clear();
    }

    /// Reads child `i`'s `ready` line, or fails with how it ended.
    fn await_ready(&mut self, i: usize) -> anyhow::Result<()> {
        let w = &mut self.children[i];
        let mut watch = w
            .child
            .stdout
            .take()
            .context("no pipe to the server process")?;
        let mut line = [0u8; READY.len()];
        if watch.read_exact(&mut line).is_ok() && line == READY {
            w.watch = Some(watch);
            return Ok(());
        }
        let status = w.child.wait()?;
        anyhow::bail!(
            "server process {} (pid {}) did not start: {status}",
            i,
            w.child.id()
        )
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `n` listening sockets on `addr`, one `SO_REUSEPORT` group (see the module doc).
fn bind_group(addr: SocketAddr, n: u32) -> io::Result<Vec<TcpListener>> {
    // A socket bound without SO_REUSEPORT conflicts with any other on the port, so this
    // finds a port already served (even by another `volley serve` of this user, whose
    // group the sockets below would otherwise join without a word), and picks the port
    // for port 0. Bound only, never listening, it takes no connection.
    let probe = socket(addr)?;
    probe.bind(&addr.into())?;
    let port = probe
        .local_addr()?
        .as_socket()
        .map_or(addr.port(), |a| a.port());
    drop(probe);
    let addr = SocketAddr::new(addr.ip(), port);
    (0..n)
        .map(|_| {
            let socket = socket(addr)?;
            socket.set_reuse_port(true)?;
            socket.bind(&addr.into())?;
            socket.listen(BACKLOG)?;
            Ok(socket.into())
        })
        .collect()
}

/// A TCP socket for `addr` with address reuse: a restarted server must not wait for its
/// old connections' TIME_WAIT.
fn socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    Ok(socket)
}
