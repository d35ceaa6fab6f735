//! Poisoned-label detection by activation clustering: your code goes here.
//!
//! See README.md for the task, the signatures and how it is graded.

use aisec_sdk::{Cnn, Dataset, Result};

/// The training rows (indices into `train`) whose labels look poisoned.
///
/// - `model`: the model trained on `train`, labels and all;
/// - `train`: the training set as the model saw it (some labels of one class may have been
///   flipped to another class, or none at all);
/// - `seed`: use it for every random choice (k-means starts, any training), so a seed
///   reproduces your answer.
///
/// Return the rows you flag, in any order. Flagging nothing is a valid answer for a clean set.
pub fn detect(model: &Cnn, train: &Dataset, seed: u64) -> Result<Vec<usize>> {
    let _ = (model, train, seed);
    todo!("flag the rows whose labels were flipped")
}
