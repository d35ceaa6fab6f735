//! The LLM crate's error type: what went wrong, and with which file or prompt.

use std::path::PathBuf;

/// Everything that can go wrong loading or running the chat model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("reading", "opening", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// The model file is not the shipped one, or not a GGUF file of the expected kind.
    #[error("model {path}: {reason}")]
    Model {
        /// The offending model file.
        path: PathBuf,
        /// What is wrong with it, and what to do.
        reason: String,
    },

    /// The GGUF file's metadata or tensors do not describe a model this crate runs.
    #[error("{0}")]
    Malformed(String),

    /// The tokenizer in the model's metadata is unusable, or text could not be encoded.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// A prompt does not fit: too long for the context, or empty where text is needed.
    #[error("prompt: {0}")]
    Prompt(String),

    /// An error raised inside candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
