//! Joining the workers' per-request log parts into one file, ordered by start time.
//!
//! Each worker writes `FILE.part-W`: one record per line, prefixed with its start time
//! (16 hex digits of ns since the run's start) and a tab. Records are written when a
//! request ends, so a part is only roughly ordered; the join sorts every line by that
//! key (stably: ties keep worker order), strips it, writes `FILE` (with the CSV header
//! line) and removes the parts. Memory: the parts' bytes plus 24 bytes per record.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};

use volley_config::{LogFormat, LogSpec};
use volley_worker::record::{csv_header, part_path};

/// What the join produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// Records written to the joined file.
    pub records: u64,
    /// Lines that were not whole records (a worker killed mid-write), dropped.
    pub dropped: u64,
}

/// Joins the parts of `workers` workers into `spec.path` and removes them. A missing part
/// (a worker that died before creating it) counts as empty.
///
/// # Errors
///
/// The I/O error of reading a part or writing the joined file, with its path.
pub fn join(spec: &LogSpec, workers: u32) -> Result<Joined, String> {
    let mut parts = Vec::with_capacity(workers as usize);
    for w in 0..workers {
        let path = part_path(&spec.path, w);
        match fs::read(&path) {
            Ok(bytes) => parts.push(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => parts.push(Vec::new()),
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        }
    }
    let mut index: Vec<(u64, usize, usize, usize)> = Vec::new();
    let mut dropped = 0u64;
    for (p, bytes) in parts.iter().enumerate() {
        let mut at = 0;
        while at < bytes.len() {
            let Some(len) = bytes[at..].iter().position(|&b| b == b'\n') else {
                dropped += 1; // a partial last line
                break;
            };
            let line = &bytes[at..at + len];
            let key = line
                .get(..16)
                .and_then(|k| std::str::from_utf8(k).ok())
                .and_then(|k| u64::from_str_radix(k, 16).ok());
            match (key, line.get(16)) {
                (Some(key), Some(b'\t')) => index.push((key, p, at + 17, at + len + 1)),
                _ => dropped += 1,
            }
            at += len + 1;
        }
    }
    index.sort_by_key(|e| e.0);
    let write = || -> io::Result<()> {
        let mut out = BufWriter::with_capacity(256 * 1024, File::create(&spec.path)?);
        if spec.format == LogFormat::Csv {
            out.write_all(csv_header().as_bytes())?;
        }
        for &(_, p, from, to) in &index {
            out.write_all(&parts[p][from..to])?;
        }
        out.flush()
    };
    write().map_err(|e| format!("writing {}: {e}", spec.path.display()))?;
    for w in 0..workers {
        let _ = fs::remove_file(part_path(&spec.path, w));
    }
    Ok(Joined {
        records: index.len() as u64,
        dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_joined_in_start_order_and_removed() {
        let dir = std::env::temp_dir().join(format!("volley-logjoin-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let spec = LogSpec {
            path: dir.join("log.csv"),
            format: LogFormat::Csv,
        };
        fs::write(
            part_path(&spec.path, 0),
            "0000000000000003\tc\n0000000000000001\ta\n",
        )
        .unwrap();
        fs::write(
            part_path(&spec.path, 1),
            "0000000000000002\tb\n0000000000000003\td\n000000000000000",
        )
        .unwrap();
        let j = join(&spec, 3).unwrap();
        assert_eq!(
            j,
            Joined {
                records: 4,
                dropped: 1
            }
        );
        let text = fs::read_to_string(&spec.path).unwrap();
        assert_eq!(text, format!("{}a\nb\nc\nd\n", csv_header()));
        assert!(!part_path(&spec.path, 0).exists());
        assert!(!part_path(&spec.path, 1).exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
