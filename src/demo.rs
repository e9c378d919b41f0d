//! The built-in demo target: a small HTTP/1.1 server on 127.0.0.1 (port 0) that answers
//! every request with a fixed small body, so `volley demo` needs nothing installed.
//!
//! It runs as its own process (`volley demo-server`, started by `volley demo`), never in
//! the supervisor, whose forks need it single-threaded. It prints its port on stdout and
//! exits when its stdin closes, that is when the `volley demo` that started it is gone.

use std::io::{self, BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

/// The body the demo target serves (the size of the reference benchmark's `/small`).
pub const BODY: &[u8] =
    b"volley demo body: small static reply served on loopback. 0123456789abcdefghijklmnopqrstu\n";

/// Serves until stdin closes. Prints the port as the first line of stdout.
///
/// # Errors
///
/// The I/O error when the listener cannot be bound or the port not printed.
pub fn serve() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let mut out = io::stdout().lock();
    writeln!(out, "{port}")?;
    out.flush()?;
    drop(out);
    std::thread::spawn(|| {
        // Our parent holds the other end of stdin: EOF means it is gone.
        let mut sink = [0u8; 64];
        while matches!(io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        std::thread::spawn(move || {
            let _ = serve_conn(stream);
        });
    }
    Ok(())
}

fn serve_conn(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reply = format!(
        "HTTP/1.1 200 OK\r\nServer: volley-demo\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        BODY.len()
    )
    .into_bytes();
    reply.extend_from_slice(BODY);
    let mut writer = stream.try_clone()?;
    let mut reader = io::BufReader::with_capacity(16 * 1024, stream);
    let mut line = String::new();
    loop {
        // Request head: lines up to the empty one.
        let mut length = 0usize;
        let mut close = false;
        let mut first = true;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let l = line.trim_end();
            if l.is_empty() {
                if first {
                    continue; // stray CRLF between requests
                }
                break;
            }
            first = false;
            if let Some((name, value)) = l.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                }
            }
        }
        io::copy(&mut (&mut reader).take(length as u64), &mut io::sink())?;
        writer.write_all(&reply)?;
        if close {
            return Ok(());
        }
    }
}

/// A running demo target process.
#[derive(Debug)]
pub struct DemoTarget {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl DemoTarget {
    /// Starts `volley demo-server` from this executable and reads its port.
    ///
    /// # Errors
    ///
    /// The I/O error when the process cannot be started or does not print a port.
    pub fn start() -> io::Result<DemoTarget> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg("demo-server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let port = read_port(child.stdout.take());
        match port {
            Some(port) => Ok(DemoTarget { child, port }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::other("the demo target did not report its port"))
            }
        }
    }
}

fn read_port(stdout: Option<ChildStdout>) -> Option<u16> {
    let mut line = String::new();
    io::BufReader::new(stdout?).read_line(&mut line).ok()?;
    line.trim().parse().ok()
}

impl Drop for DemoTarget {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
