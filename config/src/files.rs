//! Bounded reads of the files a command line or run file names.
//!
//! volley reads a few files whole before a run: a request body (`--body @FILE`, a run
//! file's `body = "@FILE"`), the run file itself, and httperf's `--wlog` and `--wsesslog`
//! logs. A name can point at anything: `/dev/zero` or `/dev/urandom` never end, a FIFO
//! may stream without end, a file may simply be huge. An unbounded `std::fs::read` of such
//! a file grows until the kernel kills the process, so every one of these reads goes
//! through [`read_capped`], which refuses a file over its cap with a message that says
//! which cap and what to do.

use std::io::{self, Read};
use std::path::Path;

/// Largest request body (`--body @FILE`, a run file's `body = "@FILE"`), 64 MiB.
///
/// A body is held in memory and written from there for every request that carries it
/// (volley does not stream bodies from their file); 64 MiB is far above any upload a load
/// test repeats, yet leaves room for several such bodies on a small machine.
pub const MAX_BODY_BYTES: u64 = 64 << 20;

/// Largest run file (`volley run FILE`), 16 MiB.
///
/// A run file describes a workload: even its longest URL list ([`crate::runfile::MAX_REQUESTS`]
/// entries of a hundred bytes or so) stays near 10 MiB. Large bodies belong in files of
/// their own, named by `body = "@FILE"`.
pub const MAX_RUN_FILE_BYTES: u64 = 16 << 20;

/// Largest httperf URI log (`--wlog`) or session log (`--wsesslog`), 256 MiB.
///
/// These logs are replayed from memory and may be long (millions of URIs recorded from a
/// server's access log), so their cap is the largest; beyond it, split the log into parts
/// and give each part its own run.
pub const MAX_LOG_BYTES: u64 = 256 << 20;

/// How the refusal of a body over [`MAX_BODY_BYTES`] names it.
pub const BODY: &str = "a request body (sent from memory, not streamed)";
/// How the refusal of a run file over [`MAX_RUN_FILE_BYTES`] names it.
pub const RUN_FILE: &str =
    "a run file (large bodies belong in files of their own: body = \"@FILE\")";
/// How the refusal of a `--wlog` file over [`MAX_LOG_BYTES`] names it.
pub const URI_LOG: &str = "an httperf URI log (split a longer log into parts, one run each)";
/// How the refusal of a `--wsesslog` file over [`MAX_LOG_BYTES`] names it.
pub const SESSION_LOG: &str =
    "an httperf session log (split a longer log into parts, one run each)";

/// How the refusal of a `--call-stats-file` over [`MAX_LOG_BYTES`] names it.
pub const SIZES_FILE: &str = "a file of expected sizes for --call-stats";

/// Reads the whole file at `path`, refusing one larger than `cap` bytes.
///
/// At most `cap + 1` bytes are ever read, so `/dev/zero`, a FIFO that never ends or a
/// huge file are refused quickly and without using more than about twice `cap` of memory.
/// A regular file whose size is known to be over the cap is refused before any read.
/// `what` names the content in the message (`"a request body"`).
///
/// # Errors
///
/// The I/O error of opening or reading the file, or, for a file over the cap, an error of
/// kind [`io::ErrorKind::FileTooLarge`] whose message names the cap and what to do.
pub fn read_capped(path: &Path, cap: u64, what: &str) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let too_large = || {
        io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "it is larger than {}, volley's cap on {what}; give a smaller file",
                format_size(cap)
            ),
        )
    };
    // A device or FIFO reports a length of 0: only the capped read below catches those.
    if file.metadata().is_ok_and(|m| m.is_file() && m.len() > cap) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(too_large());
    }
    Ok(bytes)
}

/// `64 MiB`, `16 KiB` or `100 bytes`: a cap as the messages show it.
pub fn format_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh file path in the temp dir, unique per process and test.
    fn scratch(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("volley-files-{}-{name}", std::process::id()))
    }

    #[test]
    fn a_file_up_to_the_cap_is_read_whole() {
        let path = scratch("exact");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_capped(&path, 10, "a test").unwrap(), b"0123456789");
        let err = read_capped(&path, 9, "a test").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(err.to_string().contains("9 bytes"), "{err}");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn an_endless_device_is_refused_at_the_cap() {
        let started = std::time::Instant::now();
        let err =
            read_capped(Path::new("/dev/zero"), MAX_BODY_BYTES, "a request body").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        let msg = err.to_string();
        assert!(
            msg.contains("64 MiB") && msg.contains("a request body"),
            "{msg}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn a_sparse_file_over_the_cap_is_refused_before_reading() {
        let path = scratch("sparse");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_LOG_BYTES + 1).unwrap();
        let err = read_capped(&path, MAX_LOG_BYTES, SESSION_LOG).unwrap_err();
        assert!(err.to_string().contains("256 MiB"), "{err}");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_missing_file_keeps_its_io_error() {
        let err = read_capped(Path::new("/nonexistent/volley"), 10, "a test").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn sizes() {
        assert_eq!(format_size(MAX_BODY_BYTES), "64 MiB");
        assert_eq!(format_size(16 << 10), "16 KiB");
        assert_eq!(format_size(1000), "1000 bytes");
    }
}
