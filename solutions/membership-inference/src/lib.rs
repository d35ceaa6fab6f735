//! Membership inference by a confidence threshold, and a defence at the model's output
//! (reference solution).

use aisec_sdk::{Cnn, DType, Result, Tensor};

/// A membership score for each record: higher means "more likely in the training set".
///
/// The score is the log-odds of the true label, `log p_y − log(1 − p_y)`, computed from the
/// logits as `z_y − log Σ_{j≠y} exp z_j`. It ranks records as the confidence on the true label
/// does, but does not saturate: an overfit model gives its members probabilities that round to
/// exactly 1.0 in f32, and the log-odds still tell them apart.
pub fn membership_scores(model: &Cnn, images: &Tensor, labels: &[u32]) -> Result<Vec<f64>> {
    let logits = model
        .logits(images)?
        .to_dtype(DType::F64)?
        .to_vec2::<f64>()?;
    let scores = logits
        .iter()
        .zip(labels)
        .map(|(row, &label)| {
            let label = label as usize;
            let others = row
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != label)
                .map(|(_, &z)| z);
            let max = others.clone().fold(f64::NEG_INFINITY, f64::max);
            let log_sum = max + others.map(|z| (z - max).exp()).sum::<f64>().ln();
            row[label] - log_sum
        })
        .collect();
    Ok(scores)
}

/// The threshold above which a score is called "member": the smallest value that calls at most
/// `max_fpr` of the known non-members members, ties included.
pub fn choose_threshold(known_non_member_scores: &[f64], max_fpr: f64) -> f64 {
    let mut sorted = known_non_member_scores.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let allowed = (max_fpr.clamp(0.0, 1.0) * sorted.len() as f64).floor() as usize;
    sorted.get(allowed).copied().unwrap_or(f64::NEG_INFINITY)
}

/// The defence: answer with the predicted label only, as a one-hot row. Every confidence an
/// attacker could threshold is gone; the prediction, and so the accuracy, is unchanged.
pub fn defend(probabilities: &Tensor) -> Result<Tensor> {
    let (n, classes) = probabilities.dims2()?;
    let predicted = probabilities.argmax(1)?.to_vec1::<u32>()?;
    let mut one_hot = vec![0f32; n * classes];
    for (row, &class) in predicted.iter().enumerate() {
        one_hot[row * classes + class as usize] = 1.0;
    }
    Ok(Tensor::from_vec(
        one_hot,
        (n, classes),
        probabilities.device(),
    )?)
}
