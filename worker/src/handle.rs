//! A generational slab: values addressed by [`Handle`] `(index, generation)`.
//!
//! Removing a value bumps its entry's generation, so a handle kept by a stale event or
//! timer no longer matches once the entry is reused: `get` returns `None` and the stale
//! message has no effect (the httperf hang in seed 003 came from a timer acting on a
//! connection that had taken over a recycled slot).

use mio::Token;

/// Address of a slab entry, valid only while the entry holds the value it was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle {
    /// Index in the slab.
    pub index: u32,
    /// Generation of the entry when the handle was made.
    pub generation: u32,
}

impl Handle {
    /// Packs the handle into a mio token: generation in the high 32 bits, index in the low.
    pub fn token(self) -> Token {
        Token(((self.generation as usize) << 32) | self.index as usize)
    }

    /// Unpacks a token made by [`Handle::token`].
    pub fn from_token(token: Token) -> Handle {
        Handle {
            index: (token.0 & 0xffff_ffff) as u32,
            generation: (token.0 >> 32) as u32,
        }
    }
}

// Tokens carry 64 bits; on a 32-bit target the generation would be lost.
const _: () = assert!(usize::BITS >= 64, "volley needs a 64-bit target");

#[derive(Debug)]
struct Entry<T> {
    generation: u32,
    value: Option<T>,
}

/// A slab whose handles carry generations. Freed entries are reused (LIFO), with their
/// generation bumped.
#[derive(Debug)]
pub struct Slab<T> {
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Slab<T> {
    /// An empty slab with room for `capacity` values before it allocates.
    pub fn with_capacity(capacity: usize) -> Self {
        Slab {
            entries: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            len: 0,
        }
    }

    /// Stores `value` and returns its handle.
    pub fn insert(&mut self, value: T) -> Handle {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let entry = &mut self.entries[index as usize];
            debug_assert!(entry.value.is_none(), "free list holds an occupied entry");
            entry.value = Some(value);
            return Handle {
                index,
                generation: entry.generation,
            };
        }
        let index = u32::try_from(self.entries.len()).expect("slab index fits in u32");
        self.entries.push(Entry {
            generation: 0,
            value: Some(value),
        });
        Handle {
            index,
            generation: 0,
        }
    }

    /// The value behind `h`, if `h` is still current.
    pub fn get(&self, h: Handle) -> Option<&T> {
        match self.entries.get(h.index as usize) {
            Some(e) if e.generation == h.generation => e.value.as_ref(),
            _ => None,
        }
    }

    /// The value behind `h`, if `h` is still current.
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut T> {
        match self.entries.get_mut(h.index as usize) {
            Some(e) if e.generation == h.generation => e.value.as_mut(),
            _ => None,
        }
    }

    /// Removes the value behind `h` if `h` is current; the entry's generation is bumped so
    /// every copy of `h` goes stale.
    pub fn remove(&mut self, h: Handle) -> Option<T> {
        let e = self.entries.get_mut(h.index as usize)?;
        if e.generation != h.generation {
            return None;
        }
        let value = e.value.take()?;
        e.generation = e.generation.wrapping_add(1);
        self.free.push(h.index);
        self.len -= 1;
        Some(value)
    }

    /// Number of values stored.
    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trip() {
        let h = Handle {
            index: 7,
            generation: 0xdead_beef,
        };
        assert_eq!(Handle::from_token(h.token()), h);
    }

    #[test]
    fn stale_handle_cannot_reach_the_reused_entry() {
        let mut slab = Slab::with_capacity(1);
        let old = slab.insert("first");
        assert_eq!(slab.remove(old), Some("first"));
        let new = slab.insert("second");
        // Same entry, new generation: exactly the seed-003 situation.
        assert_eq!(new.index, old.index);
        assert_ne!(new.generation, old.generation);
        assert_eq!(slab.get(old), None);
        assert_eq!(slab.get_mut(old), None);
        assert_eq!(slab.remove(old), None);
        assert_eq!(slab.get(new), Some(&"second"));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn random_interleavings_never_act_on_stale_handles() {
        // A deterministic pseudo-random model: keep every handle ever issued; only the
        // current ones may resolve, and they resolve to their own value.
        let mut slab = Slab::with_capacity(4);
        let mut live: Vec<(Handle, u64)> = Vec::new();
        let mut dead: Vec<Handle> = Vec::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for step in 0..10_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if live.is_empty() || !x.is_multiple_of(3) {
                live.push((slab.insert(step), step));
            } else {
                let (h, v) = live.swap_remove((x as usize / 3) % live.len());
                assert_eq!(slab.remove(h), Some(v));
                dead.push(h);
            }
            for &(h, v) in &live {
                assert_eq!(slab.get(h), Some(&v));
            }
            if let Some(&h) = dead.last() {
                assert_eq!(slab.get(h), None);
                assert_eq!(slab.remove(h), None);
            }
        }
        assert_eq!(slab.len(), live.len());
        assert!(dead.iter().all(|&h| slab.get(h).is_none()));
    }
}
