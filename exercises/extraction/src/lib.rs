//! Model extraction: steal a digit classifier through its prediction API, under a query
//! budget. Your code goes here.
//!
//! See README.md for the API, the budgets and how it is graded.

use aisec_sdk::rng::Rng;
use aisec_sdk::theft::Answers;
use aisec_sdk::{Cnn, Result, Tensor};

/// The next batch of images to send to the victim's API, or `None` when you are done asking.
///
/// - `answers`: what the API returns (full probabilities, or the label only as a one-hot row);
/// - `remaining`: queries left in your budget (a batch larger than this is refused, and the
///   extraction stops there);
/// - `population`: unlabelled natural digits you may use as they are or as seeds for synthetic
///   queries, (1001, 1, 28, 28);
/// - `asked` and `replies`: every query answered so far, (n, 1, 28, 28), and the API's answer
///   to each, (n, 10); both have no rows in the first round.
///
/// A batch is (m, 1, 28, 28), f32 pixels in [0, 1]. You get at most 16 rounds.
pub fn next_queries(
    answers: Answers,
    remaining: usize,
    population: &Tensor,
    asked: &Tensor,
    replies: &Tensor,
    rng: &mut Rng,
) -> Result<Option<Tensor>> {
    let _ = (answers, remaining, population, asked, replies, rng);
    todo!("choose what to ask the victim")
}

/// Your copy of the victim, trained from the queries you asked and the API's replies.
pub fn train_copy(
    answers: Answers,
    asked: &Tensor,
    replies: &Tensor,
    rng: &mut Rng,
) -> Result<Cnn> {
    let _ = (answers, asked, replies, rng);
    todo!("train a model that answers as the victim does")
}
