//! A connection: the socket, its remembered readiness, and its owner slot.

use std::net::SocketAddr;

use mio::net::TcpStream;

/// One TCP connection of a thread slot.
///
/// Readiness is edge-triggered: an edge seen while the slot does not need it is remembered
/// here (`readable`, `writable`) and cleared only when an operation reports `WouldBlock`
/// (or a read comes back short, which on Linux TCP means the receive queue was drained).
#[derive(Debug)]
pub struct Conn {
    /// The socket (registered for both readable and writable once, at connect).
    pub stream: TcpStream,
    /// Index of the slot that owns the connection (in the worker's slot table).
    pub slot: u32,
    /// A readable edge has not been consumed yet.
    pub readable: bool,
    /// The socket can take more bytes.
    pub writable: bool,
    /// The peer's FIN (or an error) was reported. From then on a short read does not mean
    /// the queue is drained: the end-of-file is still to be read, and no new edge will
    /// announce it.
    pub read_closed: bool,
    /// A first write succeeded: the connect is done.
    pub established: bool,
    /// Replies completed on this connection.
    pub completed: u64,
    /// When the connect started (monotonic ns), for the connection's lifetime.
    pub opened_ns: u64,
    /// The address it was opened to: a kept connection only carries requests to it.
    pub addr: SocketAddr,
}

impl Conn {
    /// A new, not yet connected connection for `slot`.
    pub fn new(stream: TcpStream, addr: SocketAddr, slot: u32, opened_ns: u64) -> Self {
        Conn {
            stream,
            slot,
            readable: false,
            writable: false,
            read_closed: false,
            established: false,
            completed: 0,
            opened_ns,
            addr,
        }
    }
}
