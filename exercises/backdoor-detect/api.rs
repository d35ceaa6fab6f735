// The functions of this exercise that the checker calls in the candidate's crate (the lab's
// code: do not edit). They must match the signatures in src/lib.rs.
use aisec_sdk::{Cnn, Dataset, Result};

exercise_api! {
    fn detect(model: &Cnn, train: &Dataset, seed: u64) -> Result<Vec<usize>>;
}
