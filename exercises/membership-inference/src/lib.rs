//! Membership inference by a confidence threshold, and a defence at the model's output: your
//! code goes here.
//!
//! See README.md for the task, the signatures and how it is graded.

use aisec_sdk::{Cnn, Result, Tensor};

/// A membership score for each record: higher means "more likely in the training set".
///
/// - `model`: the target model (you may read its logits or probabilities);
/// - `images`: (n, 1, 28, 28) records; `labels`: their n true labels.
///
/// Return n finite scores.
pub fn membership_scores(model: &Cnn, images: &Tensor, labels: &[u32]) -> Result<Vec<f64>> {
    let _ = (model, images, labels);
    todo!("score each record")
}

/// The threshold above which a score is called "member", chosen from the scores of records
/// known not to be members so that at most `max_fpr` of them would be called members.
pub fn choose_threshold(known_non_member_scores: &[f64], max_fpr: f64) -> f64 {
    let _ = (known_non_member_scores, max_fpr);
    todo!("pick the threshold")
}

/// The defence: what the model's API returns instead of its full probabilities.
///
/// `probabilities`: (n, 10), each row a softmax output. Return an (n, 10) tensor whose rows the
/// API would answer with. The model's predicted class (the arg-max of each row) must survive.
pub fn defend(probabilities: &Tensor) -> Result<Tensor> {
    let _ = probabilities;
    todo!("reduce what the output reveals")
}
