//! The one peer that is not scripted: [`BacklogNeverAccepted`], a listener that never
//! accepts (S22).

use std::net::SocketAddr;

use socket2::{Domain, SockAddr, Socket, Type};

/// A listener with a backlog of 1 that never calls `accept` (S22): the first connects
/// complete in the kernel and sit in the accept queue with their requests unread; once
/// the queue is full, SYNs are dropped and connects hang until the client gives up.
/// Exercises volley's connect and first-byte deadlines; the requests count as
/// `client-timo/connect` or `client-timo/first-byte`. Dropping it closes the listener.
#[derive(Debug)]
pub struct BacklogNeverAccepted {
    addr: SocketAddr,
    _socket: Socket,
}

impl BacklogNeverAccepted {
    /// Binds `127.0.0.1:0` and listens with a backlog of 1.
    ///
    /// # Panics
    ///
    /// If the socket cannot be bound.
    pub fn bind() -> BacklogNeverAccepted {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let any: SocketAddr = "127.0.0.1:0".parse().expect("loopback address");
        socket.bind(&SockAddr::from(any)).expect("bind 127.0.0.1:0");
        socket.listen(1).expect("listen(1)");
        let addr = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .expect("an IPv4 local address");
        BacklogNeverAccepted {
            addr,
            _socket: socket,
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        crate::url_of(self.addr, path)
    }
}
