// The functions of this exercise that the checker calls in the candidate's crate (the lab's
// code: do not edit). They must match the signatures in src/lib.rs.
use aisec_sdk::Result;
use aisec_sdk::llm::{Deployment, Message, Verdict};

exercise_api! {
    fn screen_input(deployment: &Deployment, conversation: &[Message]) -> Result<Verdict>;
    fn screen_output(deployment: &Deployment, conversation: &[Message], reply: &str) -> Result<Verdict>;
}
