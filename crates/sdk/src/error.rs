//! The SDK's error type: what went wrong, and where.

use std::path::PathBuf;

/// Everything that can go wrong in the SDK. Each variant names the thing at fault (a file, an
/// argument, a tensor) so the message can say what to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("reading", "writing", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// A data-set file is not a valid IDX file of the expected kind.
    #[error("{path}: {reason}")]
    Idx {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it, and what was expected.
        reason: String,
    },

    /// A model file is unreadable or does not hold this architecture's tensors.
    #[error("model {path}: {reason}")]
    Model {
        /// The offending model file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// An argument (a tensor shape, a label, a parameter) is out of range.
    #[error("{what}: {reason}")]
    InvalidArgument {
        /// The argument at fault.
        what: String,
        /// What is wrong, and what is accepted.
        reason: String,
    },

    /// An error raised inside candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            what: what.into(),
            reason: reason.into(),
        }
    }

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
}

/// The SDK's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
