//! The grader's error type.

use std::path::PathBuf;

/// What can stop the grader itself (as opposed to an exercise failing, which is a verdict).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error from the lab crate.
    #[error(transparent)]
    Lab(#[from] aisec_lab::Error),

    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// An exercise manifest or Cargo.toml breaks the rules.
    #[error("{path}: {reason}")]
    Manifest {
        /// The offending file.
        path: PathBuf,
        /// What is wrong, and what to do.
        reason: String,
    },

    /// A user request cannot be served (unknown exercise id, ...).
    #[error("{0}")]
    Usage(String),

    /// Running cargo or a harness failed in a way that is not the exercise's fault.
    #[error("{0}")]
    Tool(String),
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn manifest(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Manifest {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// The grader's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
