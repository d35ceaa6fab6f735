// The functions of this exercise that the checker calls in the candidate's crate (the lab's
// code: do not edit). They must match the signatures in src/lib.rs.
use aisec_sdk::backdoor::Backdoor;
use aisec_sdk::{Dataset, Result};

exercise_api! {
    fn backdoor(train: &Dataset, budget: usize, seed: u64) -> Result<Backdoor>;
}
