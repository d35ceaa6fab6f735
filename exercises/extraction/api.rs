// The functions of this exercise that the checker calls in the candidate's crate (the lab's
// code: do not edit). They must match the signatures in src/lib.rs.
use aisec_sdk::rng::Rng;
use aisec_sdk::theft::Answers;
use aisec_sdk::{Cnn, Result, Tensor};

exercise_api! {
    fn next_queries(answers: Answers, remaining: usize, population: &Tensor, asked: &Tensor, replies: &Tensor, rng: &mut Rng) -> Result<Option<Tensor>>;
    fn train_copy(answers: Answers, asked: &Tensor, replies: &Tensor, rng: &mut Rng) -> Result<Cnn>;
}
