// The functions of this exercise that the checker calls in the candidate's crate (the lab's
// code: do not edit). They must match the signatures in src/lib.rs.
use aisec_sdk::{Cnn, Result, Tensor};

exercise_api! {
    fn membership_scores(model: &Cnn, images: &Tensor, labels: &[u32]) -> Result<Vec<f64>>;
    fn choose_threshold(known_non_member_scores: &[f64], max_fpr: f64) -> f64;
    fn defend(probabilities: &Tensor) -> Result<Tensor>;
}
