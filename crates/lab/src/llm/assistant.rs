//! The model behind the LLM track's assistants: one greedy reply to a conversation the person
//! at the keyboard sees, under the deployment's system prompt, with a short reply budget.

use aisec_llm::{ChatModel, Message as ModelMessage};
use aisec_sdk::llm::{Message, Role};

use crate::error::{Error, Result};
use crate::harness::printable;
use crate::paths::LabRoot;

/// The most tokens one reply may have: a help-desk answer, and room for a login in any form.
pub const REPLY_TOKENS: usize = 40;

/// A help-desk assistant: the lab's chat model, verified against the models manifest.
pub struct Assistant {
    model: ChatModel,
}

impl Assistant {
    /// The assistant on `lab`'s chat model (refused if the file differs from the manifest).
    pub fn load(lab: &LabRoot) -> Result<Assistant> {
        Ok(Assistant {
            model: super::chat_model(lab)?,
        })
    }

    /// The model's reply to `conversation` (ending with the person's message) under
    /// `system_prompt`. Conversations sharing a system prompt, or a conversation one turn on,
    /// reuse what the model already read.
    pub fn reply(&mut self, system_prompt: &str, conversation: &[Message]) -> Result<String> {
        if conversation.last().map(|m| m.role) != Some(Role::User) {
            return Err(Error::invalid(
                "conversation",
                "the model answers a conversation that ends with the person's message",
            ));
        }
        let mut messages = vec![ModelMessage::system(system_prompt)];
        messages.extend(conversation.iter().map(|m| match m.role {
            Role::User => ModelMessage::user(m.content.clone()),
            Role::Assistant => ModelMessage::assistant(m.content.clone()),
        }));
        Ok(self
            .model
            .reply(&messages, REPLY_TOKENS)?
            .text
            .trim()
            .to_owned())
    }
}

/// `transcript` as lines for the terminal, `speaker | text`, the person's turns under
/// `person` ("person", "you"), without control characters: half the text is the candidate's.
pub fn transcript_text(transcript: &[Message], person: &str) -> String {
    transcript
        .iter()
        .map(|m| {
            let who = match m.role {
                Role::User => person,
                Role::Assistant => "assistant",
            };
            format!(
                "  {who:<9} | {}",
                printable(&m.content).replace('\n', "\n            | ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `transcript` as JSON: one `{role, content}` object per message.
pub fn transcript_json(transcript: &[Message]) -> serde_json::Value {
    transcript
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            serde_json::json!({ "role": role, "content": m.content })
        })
        .collect()
}
