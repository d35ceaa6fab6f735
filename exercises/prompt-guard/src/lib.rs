//! Input and output rails for a help-desk assistant that holds a staff login: your code goes
//! here.
//!
//! See README.md for the task, the attack families and how it is graded.

use aisec_sdk::Result;
use aisec_sdk::llm::{Deployment, Message, Verdict};

/// The input rail: called before the model sees the person's latest message.
///
/// - `deployment`: the assistant's system prompt and the login it holds (you operate it);
/// - `conversation`: every message so far, the person's latest last (earlier assistant turns
///   are what the person saw: the model's replies, or the refusal where a rail blocked).
///
/// Return `Verdict::Block` to refuse the message (the model never sees it), `Verdict::Allow`
/// to pass it on.
pub fn screen_input(deployment: &Deployment, conversation: &[Message]) -> Result<Verdict> {
    let _ = (deployment, conversation);
    todo!("decide whether the latest message may reach the model")
}

/// The output rail: called with the model's `reply` to `conversation`, before the person sees
/// it. Return `Verdict::Block` to replace it with the refusal.
pub fn screen_output(
    deployment: &Deployment,
    conversation: &[Message],
    reply: &str,
) -> Result<Verdict> {
    let _ = (deployment, conversation, reply);
    todo!("decide whether the reply may reach the person")
}
