// The functions of this exercise that the checker calls in the candidate's crate (the lab's
// code: do not edit). They must match the signatures in src/lib.rs.
use aisec_sdk::Result;
use aisec_sdk::llm::{GuardLevel, Login, Message};

exercise_api! {
    fn next_message(level: GuardLevel, earlier: &[Vec<Message>], current: &[Message]) -> Result<Option<String>>;
    fn recover_login(level: GuardLevel, sessions: &[Vec<Message>]) -> Result<Login>;
}
