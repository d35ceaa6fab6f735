// The functions of this exercise that the checker calls in the candidate's crate (the lab's
// code: do not edit). They must match the signatures in src/lib.rs.
use aisec_sdk::rng::Rng;
use aisec_sdk::{Cnn, Result, Tensor};

exercise_api! {
    fn pgd(
        model: &Cnn,
        images: &Tensor,
        labels: &[u32],
        eps: f32,
        step: f32,
        steps: usize,
        rng: &mut Rng,
    ) -> Result<Tensor>;
}
