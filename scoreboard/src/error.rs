//! Why creating or attaching a scoreboard failed.
#![forbid(unsafe_code)]

use nix::errno::Errno;

/// An error from creating, attaching or unlinking a scoreboard segment.
///
/// Every message starts with `scoreboard NAME:` so it says which segment it is about.
/// `Os` carries the errno as its `source()` and leaves it out of its own message, so
/// `{:#}` (anyhow's chain) prints it exactly once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScoreboardError {
    /// A segment with this name already exists (`EEXIST` from `O_CREAT|O_EXCL`).
    #[error("scoreboard {name}: a segment with this name already exists")]
    Exists {
        /// The segment name.
        name: String,
    },
    /// No segment with this name exists (the run ended, or the name is wrong).
    #[error("scoreboard {name}: no such segment (has the run ended?)")]
    NotFound {
        /// The segment name.
        name: String,
    },
    /// The kernel refused access (`EACCES`/`EPERM`).
    #[error("scoreboard {name}: permission denied")]
    Permission {
        /// The segment name.
        name: String,
    },
    /// The segment belongs to another user or is not mode 0600, so it is not trusted.
    #[error(
        "scoreboard {name}: owned by uid {uid} with mode {mode:04o}; \
         a scoreboard must be owned by you with mode 0600"
    )]
    Insecure {
        /// The segment name.
        name: String,
        /// The owner's uid.
        uid: u32,
        /// The permission bits found.
        mode: u32,
    },
    /// The name is not a valid scoreboard name.
    #[error("scoreboard {name:?}: bad name: {why}")]
    BadName {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A user-counter name a hook program declared breaks the rules (see
    /// [`crate::validate_user_counter_names`]).
    #[error("scoreboard user counter {name:?}: {why}")]
    BadUserCounter {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The segment does not start with volley's magic: not a scoreboard, or not yet
    /// initialised by its creator.
    #[error("scoreboard {name}: not a volley scoreboard (bad magic)")]
    BadMagic {
        /// The segment name.
        name: String,
    },
    /// The segment was written by a volley with a different layout.
    #[error("scoreboard {name}: layout version {found}, this build reads version {expected}")]
    VersionMismatch {
        /// The segment name.
        name: String,
        /// The version in the segment.
        found: u32,
        /// [`crate::LAYOUT_VERSION`].
        expected: u32,
    },
    /// A size in the segment does not match this build's layout.
    #[error("scoreboard {name}: {what} is {found} bytes, this build expects {expected}")]
    SizeMismatch {
        /// The segment name.
        name: String,
        /// Which size: `"header"`, `"slot"` or `"segment"`.
        what: &'static str,
        /// The size found.
        found: u64,
        /// The size this build expects (for `"segment"`, the minimum).
        expected: u64,
    },
    /// A system call failed for another reason.
    #[error("scoreboard {name}: {op} failed")]
    Os {
        /// The call that failed (`"shm_open"`, `"mmap"`, …).
        op: &'static str,
        /// The segment name.
        name: String,
        /// The errno.
        #[source]
        source: Errno,
    },
}

impl ScoreboardError {
    /// Maps an errno from `op` on segment `name` to the most specific variant.
    pub(crate) fn from_errno(op: &'static str, name: &str, errno: Errno) -> ScoreboardError {
        let name = name.to_owned();
        match errno {
            Errno::EEXIST => ScoreboardError::Exists { name },
            Errno::ENOENT => ScoreboardError::NotFound { name },
            Errno::EACCES | Errno::EPERM => ScoreboardError::Permission { name },
            source => ScoreboardError::Os { op, name, source },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_maps_to_variants() {
        let e = ScoreboardError::from_errno("shm_open", "volley-x", Errno::ENOENT);
        assert_eq!(
            e.to_string(),
            "scoreboard volley-x: no such segment (has the run ended?)"
        );
        let e = ScoreboardError::from_errno("mmap", "volley-x", Errno::ENOMEM);
        assert_eq!(e.to_string(), "scoreboard volley-x: mmap failed");
        assert!(std::error::Error::source(&e).is_some());
    }
}
