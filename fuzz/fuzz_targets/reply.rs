//! Fuzz target `reply`: the HTTP/1.1 reply codec must give the same verdict however a
//! reply is cut into reads.
//!
//! Input layout: byte 0 holds flags (bit 0: the request was HEAD; bits 1-3: how many read
//! sizes follow, 0-7; bit 4: caps other than the defaults follow), then that many read
//! sizes (one byte each, 0 = an empty read; they cycle), then with bit 4 five cap bytes
//! (head bytes: two, little-endian, 1 + n % 8192; header fields: 1 + 4n; chunk extension
//! bytes: 4n; trailer bytes: 4n), then the stream. The stream is read once in one piece,
//! once in the given sizes and once one byte at a time by the same reader model the
//! property tests use (`worker/tests/codec_props.rs`, module `reader`); any difference in
//! verdict, a head buffer over the head cap, a broken `feed` contract or a panic is a
//! crash.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley_config::ReplyLimits;

#[allow(dead_code)]
#[path = "../../worker/tests/codec_props.rs"]
mod codec_props;

use codec_props::reader::check_splits_limited;

fn split_limits(data: &[u8]) -> Option<(ReplyLimits, &[u8])> {
    let (caps, rest) = data.split_first_chunk::<5>()?;
    let [h0, h1, headers, ext, trailers] = caps.map(usize::from);
    let limits = ReplyLimits {
        head_bytes: 1 + (h0 | h1 << 8) % 8192,
        headers: 1 + headers * 4,
        chunk_ext_bytes: ext * 4,
        trailer_bytes: trailers * 4,
    };
    Some((limits, rest))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let request_was_head = flags & 1 != 0;
    let count = usize::from((flags >> 1) & 0x7).min(rest.len());
    let (sizes, rest) = rest.split_at(count);
    let sizes: Vec<usize> = sizes.iter().map(|&b| usize::from(b)).collect();
    let (limits, stream) = if flags & 0x10 != 0 {
        match split_limits(rest) {
            Some((limits, stream)) => (Some(limits), stream),
            None => return,
        }
    } else {
        (None, rest)
    };
    check_splits_limited(stream, request_was_head, limits, &[&sizes, &[1]]);
});
