//! The worker's keep-alive cache (LoadGen's KEEPALIVE_USE and KEEPALIVE_STORE): idle
//! connections kept after their reply, keyed by address, shared by the worker's slots.
//!
//! A run file's request with `store` puts its connection here after a reply that allows
//! it; a request with `use` takes the most recently stored idle connection to its address
//! (the most recent: the oldest are the likeliest to have been closed by the server, and
//! the first to be evicted). A connection's key is its address, its scheme and, for TLS,
//! the server name its certificate was checked for.
//!
//! The cache holds at most `cap` connections; storing one more closes the one that has
//! been idle longest. Every operation is O(1) but eviction, which looks at the oldest
//! connection of each key (a URL list has few addresses). The lists are threaded through
//! a table indexed by the connection's slab index, so storing and taking allocate nothing
//! once the table covers the slab.
//!
//! What the cache does not do is I/O: the worker watches the connections in it (a
//! readable edge on an idle connection ends it) and closes what the cache gives back.

use std::net::SocketAddr;

use nix::sys::resource::{Resource, getrlimit};
use volley_config::RunSpec;

use crate::handle::Handle;

/// Descriptors left free besides the slots' connections and the cache: the log, the
/// epoll and timer descriptors, the scoreboard, a hook's files.
pub const FD_MARGIN: usize = 64;

/// Most distinct keys the cache tells apart. A URL list has a handful of addresses;
/// redirects and hooks may add more, and past this many a new address's connections are
/// simply not kept (bounded memory whatever the hooks do).
pub const MAX_KEYS: usize = 1024;

/// No entry (end of a list).
const NIL: u32 = u32::MAX;

/// Where a connection goes: it carries requests to this key only.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    addr: SocketAddr,
    tls: bool,
    /// The server name the certificate was checked for (TLS only; empty for plain TCP).
    host: Box<str>,
}

impl Key {
    fn is(&self, addr: SocketAddr, tls: bool, host: &str) -> bool {
        self.addr == addr && self.tls == tls && (!tls || *self.host == *host)
    }
}

/// An idle connection in the cache, linked into its key's list (oldest first).
#[derive(Debug, Clone, Copy)]
struct Node {
    handle: Handle,
    key: u16,
    /// When it was stored, in store order (smaller = idle longer).
    stamp: u64,
    prev: u32,
    next: u32,
}

/// A doubly linked list of nodes: `head` the oldest, `tail` the newest.
#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };
}

/// Idle kept-alive connections by key, at most `cap` of them.
///
/// INVARIANT: `len` is the number of `Some` nodes, and each `Some` node is on exactly
/// the list of its key.
#[derive(Debug)]
pub struct ConnCache {
    keys: Vec<Key>,
    lists: Vec<List>,
    /// Indexed by the connection's slab index.
    nodes: Vec<Option<Node>>,
    len: usize,
    cap: usize,
    stamps: u64,
}

impl ConnCache {
    /// The cache of a worker with `slots` slots running `spec`: for a run file only (a
    /// command line's slots each keep their one connection, at no cost per request).
    ///
    /// It holds up to one idle connection per slot and address of the URL list (what a
    /// slot can leave behind on each address before it comes back to it), less what the
    /// open-file limit leaves after the slots' own connections and [`FD_MARGIN`].
    pub fn for_run(spec: &RunSpec, slots: usize) -> Option<ConnCache> {
        spec.run_file.as_ref()?;
        let mut cache = ConnCache::new(0, 2 * slots);
        for r in &spec.requests {
            let t = &r.target;
            cache.key(t.addr, t.tls, &t.host);
        }
        let wanted = slots.saturating_mul(cache.keys.len().max(1));
        let room = match getrlimit(Resource::RLIMIT_NOFILE) {
            Ok((soft, _)) => usize::try_from(soft)
                .unwrap_or(usize::MAX)
                .saturating_sub(slots)
                .saturating_sub(FD_MARGIN),
            Err(_) => wanted,
        };
        cache.cap = wanted.min(room);
        Some(cache)
    }

    /// An empty cache that holds at most `cap` connections, with room for `slab` slab
    /// entries before it allocates.
    pub fn new(cap: usize, slab: usize) -> Self {
        ConnCache {
            keys: Vec::new(),
            lists: Vec::new(),
            nodes: vec![None; slab],
            len: 0,
            cap,
            stamps: 0,
        }
    }

    /// Most connections it holds.
    #[cfg(test)]
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Connections it holds now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// The key of connections to `addr` (with TLS, for server name `host`), if known.
    pub fn find(&self, addr: SocketAddr, tls: bool, host: &str) -> Option<u16> {
        self.keys
            .iter()
            .position(|k| k.is(addr, tls, host))
            .map(|i| i as u16)
    }

    /// The key of connections to `addr`/`host`, made if new; `None` when [`MAX_KEYS`] are
    /// known already.
    pub fn key(&mut self, addr: SocketAddr, tls: bool, host: &str) -> Option<u16> {
        if let Some(k) = self.find(addr, tls, host) {
            return Some(k);
        }
        if self.keys.len() >= MAX_KEYS {
            return None;
        }
        self.keys.push(Key {
            addr,
            tls,
            host: if tls { host.into() } else { "".into() },
        });
        self.lists.push(List::EMPTY);
        Some((self.keys.len() - 1) as u16)
    }

    /// Stores idle connection `h` under `key` (made by [`ConnCache::key`]). Returns the
    /// connection that must be closed to keep the cap: the one idle longest (`h` itself
    /// when the cap is 0), or none.
    pub fn store(&mut self, key: u16, h: Handle) -> Option<Handle> {
        let i = h.index as usize;
        if key as usize >= self.lists.len() {
            // Not a key of this cache: nothing to keep it under.
            return Some(h);
        }
        if self.nodes.len() <= i {
            // The slab grew past the table (more connections than ever before).
            self.nodes.resize(i + 1, None);
        }
        if let Some(old) = self.nodes[i] {
            // Not expected (a connection is stored once); keep the invariant anyway.
            self.unlink(old.handle.index);
        }
        self.stamps += 1;
        let list = &mut self.lists[key as usize];
        self.nodes[i] = Some(Node {
            handle: h,
            key,
            stamp: self.stamps,
            prev: list.tail,
            next: NIL,
        });
        match list.tail {
            NIL => list.head = h.index,
            t => {
                if let Some(n) = self.nodes[t as usize].as_mut() {
                    n.next = h.index;
                }
            }
        }
        list.tail = h.index;
        self.len += 1;
        if self.len > self.cap {
            return self.take_oldest();
        }
        None
    }

    /// Takes the most recently stored connection of `key`.
    pub fn take(&mut self, key: u16) -> Option<Handle> {
        match self.lists.get(key as usize)?.tail {
            NIL => None,
            tail => self.unlink(tail),
        }
    }

    /// Takes any connection (to close every one at the end of the run).
    pub fn take_any(&mut self) -> Option<Handle> {
        let tail = self.lists.iter().map(|l| l.tail).find(|&t| t != NIL)?;
        self.unlink(tail)
    }

    /// Takes the connection that has been idle longest (to evict it).
    pub fn take_oldest(&mut self) -> Option<Handle> {
        let oldest = self
            .lists
            .iter()
            .filter(|l| l.head != NIL)
            .filter_map(|l| self.nodes[l.head as usize].map(|n| (n.stamp, l.head)))
            .min()?;
        self.unlink(oldest.1)
    }

    /// Takes `h` out of the cache (its server closed it); false when it is not there.
    pub fn remove(&mut self, h: Handle) -> bool {
        match self.nodes.get(h.index as usize) {
            Some(Some(n)) if n.handle == h => self.unlink(h.index).is_some(),
            _ => false,
        }
    }

    /// Unlinks node `i` from its key's list.
    fn unlink(&mut self, i: u32) -> Option<Handle> {
        let n = self.nodes.get_mut(i as usize)?.take()?;
        self.len -= 1;
        let list = &mut self.lists[n.key as usize];
        match n.prev {
            NIL => list.head = n.next,
            p => {
                if let Some(p) = self.nodes[p as usize].as_mut() {
                    p.next = n.next;
                }
            }
        }
        match n.next {
            NIL => list.tail = n.prev,
            x => {
                if let Some(x) = self.nodes[x as usize].as_mut() {
                    x.prev = n.prev;
                }
            }
        }
        Some(n.handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(index: u32) -> Handle {
        Handle {
            index,
            generation: 7,
        }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn keys_tell_address_scheme_and_tls_name_apart() {
        let mut c = ConnCache::new(4, 4);
        let a = c.key(addr(1), false, "a").unwrap();
        assert_eq!(
            c.key(addr(1), false, "b"),
            Some(a),
            "plain: the name plays no part"
        );
        let t = c.key(addr(1), true, "a").unwrap();
        let u = c.key(addr(1), true, "b").unwrap();
        let b = c.key(addr(2), false, "a").unwrap();
        assert_eq!([a, t, u, b], [0, 1, 2, 3]);
        assert_eq!(c.find(addr(1), true, "b"), Some(u));
        assert_eq!(c.find(addr(3), false, ""), None);
    }

    #[test]
    fn take_gives_the_newest_of_the_key_and_eviction_the_oldest_of_all() {
        let mut c = ConnCache::new(3, 2);
        let (a, b) = (
            c.key(addr(1), false, "").unwrap(),
            c.key(addr(2), false, "").unwrap(),
        );
        assert_eq!(c.store(a, h(0)), None);
        assert_eq!(c.store(b, h(1)), None);
        assert_eq!(c.store(a, h(2)), None);
        // Full: the fourth evicts the one idle longest (the table grows past 2).
        assert_eq!(c.store(b, h(3)), Some(h(0)));
        assert_eq!(c.len(), 3);
        assert_eq!(c.take(a), Some(h(2)));
        assert_eq!(c.take(a), None);
        assert_eq!(c.take(b), Some(h(3)));
        assert_eq!(c.take_oldest(), Some(h(1)));
        assert_eq!((c.len(), c.take_oldest(), c.take_any()), (0, None, None));
        c.store(b, h(4));
        c.store(a, h(5));
        assert_eq!(c.take_any(), Some(h(5)));
        assert_eq!(c.take_any(), Some(h(4)));
    }

    #[test]
    fn a_removed_connection_leaves_its_list_whole() {
        let mut c = ConnCache::new(8, 8);
        let a = c.key(addr(1), false, "").unwrap();
        for i in 0..4 {
            c.store(a, h(i));
        }
        assert!(c.remove(h(1)));
        assert!(!c.remove(h(1)), "only once");
        assert!(
            !c.remove(Handle {
                index: 2,
                generation: 8
            }),
            "a stale handle is not the stored one"
        );
        assert!(c.remove(h(3)));
        assert_eq!(c.take(a), Some(h(2)));
        assert_eq!(c.take(a), Some(h(0)));
        assert_eq!((c.take(a), c.len()), (None, 0));
    }

    #[test]
    fn a_zero_cap_keeps_nothing() {
        let mut c = ConnCache::new(0, 0);
        let a = c.key(addr(1), false, "").unwrap();
        assert_eq!(c.store(a, h(5)), Some(h(5)));
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn keys_are_bounded() {
        let mut c = ConnCache::new(1, 1);
        for port in 0..MAX_KEYS as u16 {
            assert!(c.key(addr(port), false, "").is_some());
        }
        assert_eq!(c.key(addr(u16::MAX), false, ""), None);
    }

    #[test]
    fn random_operations_keep_the_lists_consistent() {
        // A model: per key, the stored handles in store order.
        let mut c = ConnCache::new(6, 0);
        let keys: Vec<u16> = (0..3).map(|p| c.key(addr(p), false, "").unwrap()).collect();
        let mut model: Vec<Vec<u32>> = vec![Vec::new(); 3];
        let mut stored_at = vec![0u64; 32];
        let mut clock = 0u64;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = (x % 3) as usize;
            let i = ((x >> 8) % 32) as u32;
            let in_cache = model.iter().any(|l| l.contains(&i));
            match (x >> 16) % 3 {
                0 if !in_cache => {
                    clock += 1;
                    stored_at[i as usize] = clock;
                    model[k].push(i);
                    if let Some(ev) = c.store(keys[k], h(i)) {
                        let oldest = model
                            .iter()
                            .flatten()
                            .min_by_key(|&&j| stored_at[j as usize])
                            .copied()
                            .unwrap();
                        assert_eq!(ev, h(oldest));
                        model.iter_mut().for_each(|l| l.retain(|&j| j != oldest));
                    }
                }
                1 => assert_eq!(c.take(keys[k]), model[k].pop().map(h)),
                _ => {
                    assert_eq!(c.remove(h(i)), in_cache);
                    model.iter_mut().for_each(|l| l.retain(|&j| j != i));
                }
            }
            assert_eq!(c.len(), model.iter().map(Vec::len).sum::<usize>());
            assert!(c.len() <= c.cap());
        }
    }
}
