// The functions of this exercise that the checker calls in the candidate's crate (the lab's
// code: do not edit). They must match the signatures in src/lib.rs.
use aisec_sdk::Result;

exercise_api! {
    fn defend(question: &str, chunks: &[String]) -> Result<Vec<String>>;
}
