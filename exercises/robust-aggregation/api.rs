// The functions of this exercise that the checker calls in the candidate's crate (the lab's
// code: do not edit). They must match the signatures in src/lib.rs.
use aisec_sdk::{Result, Tensor};

exercise_api! {
    fn aggregate(updates: &Tensor, byzantine: usize) -> Result<Tensor>;
}
