//! The accept loop and the per-connection serve loop: read a request, record it, pick
//! its route or the scripted reply, apply delays and stalls, write the reply, close.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use super::record::record;
use super::reply::{encode_reply, encode_route};
use super::request::read_request;
use super::stream::{
    Stream, close_gracefully, hold_open, linger_close, tls_handshake, write_with_close_notify,
};
use super::{IO_TIMEOUT, Reply, Shared, lock};

/// Stack size of connection threads: they only hold small buffers.
const CONN_STACK: usize = 256 * 1024;

pub(super) fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut next_id = 0u64;
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) if shared.stopping() => return,
            Err(_) => {
                // EMFILE and friends: back off instead of spinning.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let id = next_id;
        next_id += 1;
        {
            // Check the flag under the lock that `shutdown` takes after
            // setting it, so no connection escapes being shut down.
            let mut live = lock(&shared.live);
            if shared.stopping() {
                return;
            }
            if let Ok(clone) = stream.try_clone() {
                live.insert(id, clone);
            }
        }
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let conn_shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name(format!("testserver-conn-{id}"))
            .stack_size(CONN_STACK)
            .spawn(move || {
                serve_connection(&conn_shared, id, stream);
                lock(&conn_shared.live).remove(&id);
            });
        if spawned.is_err() {
            lock(&shared.live).remove(&id);
        }
    }
}

/// Serves connection number `conn` (in accept order) until it ends.
fn serve_connection(shared: &Shared, conn: u64, tcp: TcpStream) {
    // A read that times out ends the connection (see `fill`).
    let _ = tcp.set_read_timeout(Some(shared.config.idle_close.unwrap_or(IO_TIMEOUT)));
    let _ = tcp.set_write_timeout(Some(IO_TIMEOUT));
    let _ = tcp.set_nodelay(true);
    let mut stream = match &shared.tls {
        None => Stream::Plain(tcp),
        Some(tls) => match tls_handshake(shared, tls, tcp) {
            Some(stream) => stream,
            None => return,
        },
    };
    let mut buf = Vec::new();
    let mut replies = 0u64;
    let mut seq_on_conn = 0u64;
    while let Some(mut request) = read_request(shared, &mut stream, &mut buf) {
        record(shared, conn, seq_on_conn, &mut request);
        seq_on_conn += 1;
        let route = shared
            .config
            .routes
            .iter()
            .find(|route| route.applies_to(&request));
        if route.is_none() && shared.config.reply == Reply::Silent {
            continue;
        }
        if let Some(delay) = shared.config.delay {
            thread::sleep(delay);
        }
        if let Some((from, length)) = shared.config.stall {
            let (begin, end) = (shared.started + from, shared.started + from + length);
            let now = Instant::now();
            if (begin..end).contains(&now) {
                thread::sleep(end - now);
            }
        }
        if let Some((period, length)) = shared.config.stall_every {
            let into = shared.started.elapsed().as_nanos() % period.as_nanos().max(1);
            let left = period.as_nanos().saturating_sub(into);
            if left <= length.as_nanos() {
                thread::sleep(Duration::from_nanos(u64::try_from(left).unwrap_or(0)));
            }
        }
        if shared.stopping() {
            return;
        }
        replies += 1;
        let last = shared.config.close_after.is_some_and(|n| replies >= n);
        let close = last || request.wants_close;
        let (bytes, payload, close) = match route {
            Some(route) => encode_route(route, &request, close),
            None => encode_reply(shared, &request, close),
        };
        shared.body_bytes.fetch_add(payload, Ordering::SeqCst);
        let hold = shared.config.tls_hold_after_notify.filter(|_| {
            close && shared.config.tls_close_notify && matches!(stream, Stream::Tls(_))
        });
        let written = match &mut stream {
            Stream::Tls(tls) if hold.is_some() => write_with_close_notify(tls, &bytes),
            _ => stream.write_all(&bytes).and_then(|()| stream.flush()),
        };
        if written.is_err() {
            shared.body_bytes.fetch_sub(payload, Ordering::SeqCst);
            return;
        }
        if let Some(hold) = hold {
            hold_open(shared, stream.tcp(), hold);
            linger_close(stream.tcp());
            return;
        }
        if close {
            close_gracefully(shared, &mut stream);
            return;
        }
    }
}
