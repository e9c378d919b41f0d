//! The built-in target: an HTTP/1.1 server for load tests on loopback, run as
//! `volley serve` on its own and by `volley demo` behind its run.
//!
//! It is several processes (`Pool`, in `pool`), each a single-threaded mio event loop
//! (`event_loop`) accepting on its own socket of one `SO_REUSEPORT` group; connections are kept alive and
//! pipelined requests answered in order (`conn`). A request is parsed by httparse, its
//! body read to its end and dropped (`request`); the path picks the reply (`routes`),
//! which is framed and written without copying large bodies (`reply`).
//!
//! It lives in the binary's crate, not in the supervisor or the workers: it shares no
//! state with a run, and `volley demo` starts it as separate processes.

mod conn;
mod event_loop;
mod pool;
mod reply;
mod request;
mod routes;

use std::io::{self, Write};
use std::os::fd::AsFd;

use anyhow::Context;
use nix::sys::signal::{SigSet, Signal};

use volley_config::ServeSpec;

pub use pool::Pool;

/// `volley serve`: starts the processes, prints the address as the first line of stdout,
/// and serves until SIGINT or SIGTERM (exit code 0) or until a process dies (1).
///
/// # Errors
///
/// When the address cannot be bound or the processes cannot be started.
pub fn serve(spec: &ServeSpec) -> anyhow::Result<u8> {
    // Blocked before any child exists, so none of these can be missed; `sigwait` takes
    // them below. The children start with no signal blocked (std resets the mask).
    let signals: SigSet = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGCHLD]
        .into_iter()
        .collect();
    signals.thread_block().context("cannot block signals")?;
    let mut pool = Pool::start(spec.listen, spec.workers)?;
    let addr = pool.addr();
    // A reader that went away (`| head -1`) is no reason to stop serving.
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{addr}").and_then(|()| out.flush());
    drop(out);
    let pids: Vec<String> = pool.pids().iter().map(u32::to_string).collect();
    eprintln!(
        "volley serve: http://{addr}/ ({} processes, pids {}); routes: volley serve --help; \
         Ctrl-C stops",
        pids.len(),
        pids.join(" ")
    );
    loop {
        match signals.wait().context("sigwait")? {
            Signal::SIGCHLD => {
                if let Some((pid, status)) = pool.exited()? {
                    eprintln!("volley serve: server process {pid} ended ({status}); stopping");
                    pool.stop();
                    return Ok(1);
                }
            }
            _ => {
                pool.stop();
                return Ok(0);
            }
        }
    }
}

/// `volley serve-worker`: one serving process; its stdin is the listener, its stdout the
/// pipe to its parent (see `pool`).
///
/// # Errors
///
/// When stdin is not a listening socket (it was not started by [`Pool`]), or the event
/// loop cannot be set up or fails.
pub fn serve_worker() -> anyhow::Result<u8> {
    let fd = io::stdin().as_fd().try_clone_to_owned()?;
    let listener = std::net::TcpListener::from(fd);
    let listening = socket2::SockRef::from(&listener).is_listener();
    if !matches!(listening, Ok(true)) {
        anyhow::bail!(
            "serve-worker is started by `volley serve` (its stdin must be a listening socket)"
        );
    }
    // Each connection is a descriptor: take all the hard limit allows (a load test of
    // 10,000 connections meets the usual soft limit of 1024 otherwise).
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    let stdout = io::stdout();
    let mut server = event_loop::Server::new(listener, &stdout)?;
    let mut out = stdout.lock();
    out.write_all(pool::READY)
        .and_then(|()| out.flush())
        .context("cannot tell volley serve that this process is ready")?;
    drop(out);
    server.run()?;
    Ok(0)
}
