//! A slot's receive buffer, reused for every reply the slot reads.

/// Receive buffer size a slot starts with: enough for a typical small reply (head and
/// body) in one read. Memory per slot stays proportional to what its replies need: 10,000
/// idle-ish slots cost 10 MiB of buffers, not 160.
pub const INITIAL_BUFFER: usize = 1024;
/// Size a slot's buffer grows to when a reply head does not fit in it, or when a body read
/// fills it (a large body: fewer, larger reads).
pub const LARGE_BUFFER: usize = 64 * 1024;
/// A grown buffer shrinks back after this many replies in a row that fit in
/// [`INITIAL_BUFFER`] (hysteresis, so mixed workloads do not reallocate per request).
pub const SHRINK_AFTER: u32 = 64;

/// The bytes a slot reads into: a head accumulates in `bytes[..filled]`; a body streams
/// through (each read overwrites the front).
#[derive(Debug)]
pub struct RecvBuf {
    /// The buffer (its length is its usable size).
    pub bytes: Vec<u8>,
    /// Bytes of `bytes` holding an unparsed head.
    pub filled: usize,
    /// Replies in a row that fit in [`INITIAL_BUFFER`] while the buffer was grown.
    small_replies: u32,
}

impl Default for RecvBuf {
    fn default() -> Self {
        RecvBuf {
            bytes: vec![0; INITIAL_BUFFER],
            filled: 0,
            small_replies: 0,
        }
    }
}

impl RecvBuf {
    /// A rare, big head that filled the buffer: grow, up to `cap`.
    pub fn grow_for_head(&mut self, cap: usize) {
        let len = self.bytes.len();
        let grown = (len * 4).max(LARGE_BUFFER).min(cap);
        self.bytes.resize(grown.max(len + 1), 0);
    }

    /// Called at the end of each reply of `reply_bytes` bytes: shrinks a grown buffer
    /// once replies have been small for a while.
    pub fn reply_done(&mut self, reply_bytes: usize) {
        if self.bytes.len() <= INITIAL_BUFFER {
            return;
        }
        if reply_bytes > INITIAL_BUFFER {
            self.small_replies = 0;
            return;
        }
        self.small_replies += 1;
        if self.small_replies >= SHRINK_AFTER {
            self.small_replies = 0;
            self.bytes.truncate(INITIAL_BUFFER);
            self.bytes.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grown_buffer_shrinks_only_after_a_run_of_small_replies() {
        let mut b = RecvBuf::default();
        assert_eq!(b.bytes.len(), INITIAL_BUFFER);
        b.bytes.resize(LARGE_BUFFER, 0);
        for _ in 0..SHRINK_AFTER - 1 {
            b.reply_done(100);
        }
        assert_eq!(b.bytes.len(), LARGE_BUFFER, "not yet");
        // A large reply resets the count.
        b.reply_done(LARGE_BUFFER);
        for _ in 0..SHRINK_AFTER - 1 {
            b.reply_done(100);
        }
        assert_eq!(b.bytes.len(), LARGE_BUFFER);
        b.reply_done(100);
        assert_eq!(b.bytes.len(), INITIAL_BUFFER);
        assert!(b.bytes.capacity() < LARGE_BUFFER);
    }

    #[test]
    fn a_head_grows_the_buffer_up_to_the_cap() {
        let mut b = RecvBuf::default();
        b.grow_for_head(16 * 1024);
        assert_eq!(b.bytes.len(), 16 * 1024);
        b.grow_for_head(16 * 1024);
        assert_eq!(
            b.bytes.len(),
            16 * 1024 + 1,
            "one more byte to see the head is over"
        );
    }
}
