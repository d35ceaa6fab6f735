// The functions of this exercise that the checker calls in the candidate's crate (the lab's
// code: do not edit). They must match the signatures in src/lib.rs.
use aisec_sdk::rng::Rng;
use aisec_sdk::{Cnn, Dataset, Result};

exercise_api! {
    fn trigger_set(rng: &mut Rng) -> Result<Dataset>;
    fn train_watermarked(train: &Dataset, triggers: &Dataset, seed: u64) -> Result<Cnn>;
    fn claims_ownership(suspect: &Cnn, triggers: &Dataset, alpha: f64) -> Result<bool>;
}
