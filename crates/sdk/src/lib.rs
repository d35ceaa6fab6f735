//! The aisec SDK: everything an exercise may use — the bundled digits and their splits, the CNN
//! (forward, input gradients, penultimate activations, training, safetensors I/O), clustering and
//! PCA, and metrics. No attack or detector lives here: those are the exercises.
//!
//! ```no_run
//! use aisec_sdk::{Cnn, Mnist};
//! # fn main() -> aisec_sdk::Result<()> {
//! let data = Mnist::bundled()?;
//! let model = Cnn::load(&aisec_sdk::models_dir().join("standard.safetensors"))?;
//! let batch = data.test.head(8)?;
//! let gradient = model.input_gradient(batch.images(), batch.labels())?; // (8, 1, 28, 28)
//! # Ok(()) }
//! ```
//!
//! Everything runs on the CPU, in f32; tensors are candle tensors.

pub mod analysis;
pub mod backdoor;
pub mod data;
pub mod error;
mod kernels;
pub mod llm;
pub mod metrics;
pub mod model;
pub mod ops;
pub mod optim;
pub mod rng;
pub mod supply_chain;
pub mod theft;
pub mod train;

pub use candle_core::{self as candle, DType, Device, Tensor};
pub use data::{Dataset, Mnist, Split};
pub use error::{Error, Result};
pub use model::Cnn;
pub use ndarray;
/// JSON, hashing and deserialisation, for exercises that parse and hash files, and base64, for
/// the LLM track's rails that look for a secret in encoded replies (exercises may depend on this
/// crate only).
pub use {base64, serde, serde_json, sha2};

/// The folder of the shipped models, `models/` in the lab this SDK was built in.
pub fn models_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
}
