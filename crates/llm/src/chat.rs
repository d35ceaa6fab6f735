//! Conversations and the ChatML template the model was tuned on (the one in its metadata):
//! `<|im_start|>{role}\n{content}<|im_end|>\n` per message, then `<|im_start|>assistant\n`.

use crate::error::{Error, Result};
use crate::tokenizer::ChatTokenizer;

/// The system prompt the model's template puts first when a conversation has none.
pub const DEFAULT_SYSTEM: &str =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The application's instructions.
    System,
    /// The person (or the text pasted in their name).
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The role's name in the template.
    pub fn name(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What they say, as plain text (control tokens in it are text, see [`crate::tokenizer`]).
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Message {
        Message {
            role: Role::System,
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Message {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant message (an earlier reply).
    pub fn assistant(content: impl Into<String>) -> Message {
        Message {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// The ids of the template's control tokens.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    /// `<|im_start|>`.
    pub start: u32,
    /// `<|im_end|>`, which also ends a reply.
    pub end: u32,
}

impl Template {
    /// The template's control tokens, looked up in `tokenizer`.
    pub fn new(tokenizer: &ChatTokenizer) -> Result<Template> {
        Ok(Template {
            start: tokenizer.control_id("<|im_start|>")?,
            end: tokenizer.control_id("<|im_end|>")?,
        })
    }

    /// The tokens of one message, with the newline that follows it.
    pub fn message(&self, tokenizer: &ChatTokenizer, message: &Message) -> Result<Vec<u32>> {
        let mut ids = vec![self.start];
        ids.extend(tokenizer.encode(&format!("{}\n{}", message.role.name(), message.content))?);
        ids.push(self.end);
        ids.extend(tokenizer.encode("\n")?);
        Ok(ids)
    }

    /// The prompt for the model's next reply to `messages`, split in two: the system message
    /// (the template's default one if the conversation has none), and the rest with the
    /// opening of the assistant's turn. Conversations that share a system prompt share the
    /// first part, which [`crate::ChatModel`] computes once.
    pub fn prompt(
        &self,
        tokenizer: &ChatTokenizer,
        messages: &[Message],
    ) -> Result<(Vec<u32>, Vec<u32>)> {
        let mut chunks = self.chunks(tokenizer, messages)?;
        let tail = chunks.split_off(1).concat();
        Ok((chunks.concat(), tail))
    }

    /// The prompt for the model's next reply to `messages`, one chunk per message: the system
    /// message (the template's default one if the conversation has none), each later message,
    /// and the last one together with the opening of the assistant's turn. The model reads a
    /// prompt chunk by chunk, so a conversation's next turn reuses the chunks of its earlier
    /// turns, and a reply depends only on the conversation, never on what was read before it.
    pub fn chunks(&self, tokenizer: &ChatTokenizer, messages: &[Message]) -> Result<Vec<Vec<u32>>> {
        if messages.is_empty() {
            return Err(Error::Prompt(
                "a conversation needs at least one message".into(),
            ));
        }
        if messages[1..].iter().any(|m| m.role == Role::System) {
            return Err(Error::Prompt(
                "only the first message may be a system message".into(),
            ));
        }
        let (system, rest) = match messages[0].role {
            Role::System => (messages[0].clone(), &messages[1..]),
            _ => (Message::system(DEFAULT_SYSTEM), messages),
        };
        let mut chunks = vec![self.message(tokenizer, &system)?];
        for message in rest {
            chunks.push(self.message(tokenizer, message)?);
        }
        let mut opening = vec![self.start];
        opening.extend(tokenizer.encode("assistant\n")?);
        match chunks.len() {
            1 => chunks.push(opening),
            _ => chunks
                .last_mut()
                .map(|last| last.extend(opening))
                .unwrap_or(()),
        }
        Ok(chunks)
    }
}
