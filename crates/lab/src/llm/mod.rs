//! The LLM track's machinery: the shipped chat model, loaded only once its file matches the
//! models manifest (a model changed by one byte is refused before it is read), and what its
//! exercises draw and measure.

pub mod assistant;
pub mod deployment;
pub mod guards;
pub mod leak;
pub mod rag;
pub mod suites;

use aisec_llm::ChatModel;
pub use aisec_llm::MODEL_FILE;

use aisec_sdk::rng::Rng;
use rand::seq::IndexedRandom;

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::paths::LabRoot;

/// Shipped models too large to carry in every take-home bundle: a bundle holds one only when
/// a chosen exercise lists it under `models` in its `exercise.toml`.
pub const ON_DEMAND_MODELS: &[&str] = &[MODEL_FILE];

/// The lab's chat model (`models/SmolLM2-135M-Instruct.Q4_1.gguf`), checked against the
/// sha256 that `models/MANIFEST` records for it.
pub fn chat_model(lab: &LabRoot) -> Result<ChatModel> {
    let models = lab.models();
    let manifest = Manifest::read(&models)?;
    let entry = manifest
        .files
        .iter()
        .find(|entry| entry.path == MODEL_FILE)
        .ok_or_else(|| {
            Error::malformed(
                models.join("MANIFEST"),
                format!(
                    "{MODEL_FILE} is not listed: the manifest must record the chat model's \
                     sha256 (see models/README.md)"
                ),
            )
        })?;
    Ok(ChatModel::load_verified(
        &models.join(MODEL_FILE),
        &entry.sha256,
    )?)
}

/// One of `options`, drawn from `rng` (empty for no options).
fn pick<'a>(rng: &mut Rng, options: &[&'a str]) -> &'a str {
    options.choose(rng).copied().unwrap_or("")
}
