//! The lab crate's error type.

use std::path::PathBuf;

/// What can go wrong in the lab's own machinery.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error from the SDK (data, model, tensors).
    #[error(transparent)]
    Sdk(#[from] aisec_sdk::Error),

    /// An error from the chat model (its file, its tokenizer, a prompt).
    #[error(transparent)]
    Llm(#[from] aisec_llm::Error),

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

    /// A file the lab reads (a manifest, a recipe, a model header) is malformed.
    #[error("{path}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A user-supplied value is not acceptable.
    #[error("{what}: {reason}")]
    Invalid {
        /// The value at fault.
        what: String,
        /// Why, and what is accepted.
        reason: String,
    },
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`Error::Malformed`].
    pub fn malformed(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Malformed {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Sdk(aisec_sdk::Error::Candle(e))
    }
}

/// The lab crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
