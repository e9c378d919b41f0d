//! `WorkerError`: setup failures that end a worker (request outcomes are never errors here;
//! they are counted by class).

use std::io;

/// Why a worker could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The epoll instance could not be created or waited on.
    #[error("event loop: {0}")]
    Poll(#[source] io::Error),
    /// The per-request log's part file could not be created.
    #[error("per-request log {path}: {source}")]
    Log {
        /// The part file.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}
