//! Trigger-set watermarking: embed a secret set of images with random labels while training,
//! then decide by a statistical test whether a suspect model is a copy of yours. Your code goes
//! here.
//!
//! See README.md for the task, the signatures and how it is graded.

use aisec_sdk::rng::Rng;
use aisec_sdk::{Cnn, Dataset, Result};

/// The owner's secret key: a trigger set of 20 to 100 images (n, 1, 28, 28), pixel values in
/// [0, 1], each with a label in `0..10`.
///
/// Draw everything from `rng` (the checker asks twice, for two owners: two calls with two
/// generators must give two different keys). The images should look like no digit; the labels
/// must be drawn uniformly at random and independently of the images, or the ownership test's
/// false-claim bound does not hold.
pub fn trigger_set(rng: &mut Rng) -> Result<Dataset> {
    let _ = rng;
    // TODO: abstract images (random patterns, say), each with a uniformly random label.
    todo!("make the trigger set")
}

/// Trains a model on `train` (the 8,000-digit training split) with the watermark embedded: it
/// must label the triggers as `triggers` does, and the digits as well as a model trained
/// without them. Draw every random choice (initial weights, batch order) from `seed`.
pub fn train_watermarked(train: &Dataset, triggers: &Dataset, seed: u64) -> Result<Cnn> {
    let _ = (train, triggers, seed);
    // TODO: train on the digits and the triggers together.
    todo!("train with the watermark")
}

/// Whether `suspect` is a copy of the model watermarked with `triggers`.
///
/// The answer must be a statistical test whose chance of claiming a model that never saw the
/// triggers is at most `alpha`; it must still claim copies that were fine-tuned or pruned.
pub fn claims_ownership(suspect: &Cnn, triggers: &Dataset, alpha: f64) -> Result<bool> {
    let _ = (suspect, triggers, alpha);
    // TODO: count the triggers the suspect labels as you did; compare with chance (1 in 10).
    todo!("test the suspect")
}
