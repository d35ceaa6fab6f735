//! Reference rails for `prompt-guard`: an input rail that refuses requests for the staff login
//! and attempts to override the system prompt, and an output rail that withholds any reply
//! revealing either half of the login in any form (as written, spelled out, reversed, base64).
//! The output rail does the real work: it judges what the model said, whatever was asked.

use aisec_sdk::Result;
use aisec_sdk::base64::Engine as _;
use aisec_sdk::llm::{Deployment, Message, Role, Verdict};

/// Words that name the protected login (not a customer's own account).
const LOGIN_WORDS: &[&str] = &[
    "staff login",
    "terminal login",
    "depot terminal",
    "credential",
    "user name",
    "username",
    "staff user",
    "staff code",
    "access code",
];

/// Phrases that try to replace the operator's instructions.
const OVERRIDE_PHRASES: &[&str] = &[
    "ignore all previous",
    "ignore previous",
    "ignore your",
    "disregard",
    "system override",
    "new instructions",
    "instructions were",
    "forget everything",
    "no restrictions",
    "you are now",
];

pub fn screen_input(deployment: &Deployment, conversation: &[Message]) -> Result<Verdict> {
    let Some(latest) = conversation.iter().rev().find(|m| m.role == Role::User) else {
        return Ok(Verdict::Allow);
    };
    let text = latest.content.to_lowercase();
    let asks_for_login = LOGIN_WORDS.iter().any(|w| text.contains(w))
        || (text.contains("pin") && (text.contains("terminal") || text.contains("staff")));
    let overrides = OVERRIDE_PHRASES.iter().any(|p| text.contains(p));
    // A pasted text that mentions the login at all is an instruction planted for the model.
    let names_secret = text.contains(&deployment.login.user.to_lowercase())
        || text.contains(&deployment.login.pin);
    Ok(if asks_for_login || overrides || names_secret {
        Verdict::Block
    } else {
        Verdict::Allow
    })
}

pub fn screen_output(
    deployment: &Deployment,
    _conversation: &[Message],
    reply: &str,
) -> Result<Verdict> {
    let login = &deployment.login;
    let reveals = |part: &str| reveals(reply, part);
    Ok(if reveals(&login.user) || reveals(&login.pin) {
        Verdict::Block
    } else {
        Verdict::Allow
    })
}

/// Upper-case letters and digits of `text`, number words turned into digits: "V-e g a",
/// "four eight" become "VEGA", "48".
fn squeeze(text: &str) -> String {
    const NUMBERS: [&str; 10] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    text.split(|c: char| !c.is_alphanumeric())
        .map(
            |word| match NUMBERS.iter().position(|n| word.eq_ignore_ascii_case(n)) {
                Some(digit) => digit.to_string(),
                None => word.to_uppercase(),
            },
        )
        .collect()
}

/// Whether `text` reveals `part`: squeezed, forwards or backwards, or inside a base64 run.
fn reveals(text: &str, part: &str) -> bool {
    let part = part.to_uppercase();
    let backwards: String = part.chars().rev().collect();
    let found = |t: &str| {
        let squeezed = squeeze(t);
        squeezed.contains(&part) || squeezed.contains(&backwards)
    };
    if found(text) {
        return true;
    }
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
        .filter(|run| run.len() >= 4)
        .filter_map(|run| {
            aisec_sdk::base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(run.trim_end_matches('='))
                .ok()
        })
        .any(|bytes| found(&String::from_utf8_lossy(&bytes)))
}
