//! What the LLM track's exercises exchange with the lab: conversations as the person at the
//! keyboard sees them, the assistant's deployment (its system prompt and the staff login it
//! guards), guard verdicts and the lab's guard levels. The model itself runs in the lab's
//! checker, never in the candidate's code.

use serde::{Deserialize, Serialize};

/// Who wrote a message the person at the keyboard can see (the system prompt is never one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// The person, or text pasted in their name.
    User,
    /// The assistant: the model's reply, or the guard's refusal in its place.
    Assistant,
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
}

impl Message {
    /// A message from the person.
    pub fn user(content: impl Into<String>) -> Message {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }

    /// A reply of the assistant.
    pub fn assistant(content: impl Into<String>) -> Message {
        Message {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// The staff login an assistant's system prompt holds and must never give out: a user name
/// (one capitalised word) and a four-digit PIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    /// The user name, e.g. `VEGA`.
    pub user: String,
    /// The PIN, four digits, e.g. `4821`.
    pub pin: String,
}

impl Login {
    /// Whether `other` names the same login: the user name compared without regard to case or
    /// surrounding spaces, the PIN exactly (after trimming).
    pub fn matches(&self, other: &Login) -> bool {
        self.user.trim().eq_ignore_ascii_case(other.user.trim())
            && self.pin.trim() == other.pin.trim()
    }
}

/// What the operator of an assistant knows about it, and its guard is configured with: the
/// system prompt the model reads first, and the login that prompt holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// The system prompt, word for word.
    pub system_prompt: String,
    /// The login in it.
    pub login: Login,
}

/// A guard's decision on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Let it through.
    Allow,
    /// Stop it: the person sees the lab's refusal instead.
    Block,
}

/// The guards of the lab's own assistant in `prompt-attack`, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GuardLevel {
    /// No guard: only the system prompt's instruction not to share the login.
    Open,
    /// An input blocklist: a message that holds a blocked word never reaches the model.
    Blocklist,
    /// The blocklist, and an output filter that stops any reply holding the whole login.
    OutputFilter,
}

impl GuardLevel {
    /// Every level, weakest first.
    pub const ALL: [GuardLevel; 3] = [
        GuardLevel::Open,
        GuardLevel::Blocklist,
        GuardLevel::OutputFilter,
    ];

    /// The level's name in reports (`open`, `blocklist`, `output-filter`).
    pub fn name(self) -> &'static str {
        match self {
            GuardLevel::Open => "open",
            GuardLevel::Blocklist => "blocklist",
            GuardLevel::OutputFilter => "output-filter",
        }
    }
}

/// The most characters of one message the lab accepts from the candidate's code (a prompt or
/// a retrieved chunk as rewritten); longer ones are refused with this limit named.
pub const MAX_MESSAGE_CHARS: usize = 2000;
