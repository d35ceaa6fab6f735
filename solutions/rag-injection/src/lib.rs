//! Reference defence for `rag-injection`: retrieved documents are data, so any sentence in
//! them that addresses the model, gives it orders, asks about the staff login or carries a
//! link is cut out before the model reads them; the sentences that state facts stay.

use aisec_sdk::Result;

/// Signs that a sentence speaks to the model rather than stating a fact.
const INSTRUCTION_SIGNS: &[&str] = &[
    "assistant",
    " ai ",
    "tell customers",
    "tell the customer",
    "always",
    "must",
    "answer is",
    "answer with",
    "the answer",
    "ignore",
    "instruction",
    "login",
    "log-in",
    "password",
    " pin",
    "credential",
    "http",
    "www.",
    "link",
    "visit",
    "sent to",
    "listed at",
    "question from",
    "reply",
    "out of date",
    "correction",
    "changed",
    "moved",
];

pub fn defend(_question: &str, chunks: &[String]) -> Result<Vec<String>> {
    Ok(chunks
        .iter()
        .map(|chunk| {
            sentences(chunk)
                .filter(|s| {
                    let lower = format!(" {} ", s.to_lowercase());
                    !INSTRUCTION_SIGNS.iter().any(|sign| lower.contains(sign))
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|kept| !kept.is_empty())
        .collect())
}

/// The sentences of `text`: split after '.', '?' or '!' followed by a space (so "07:30" and
/// "0471 22 318" stay whole), and a trailing fragment without an end mark.
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text.trim();
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .char_indices()
            .find(|&(i, c)| matches!(c, '.' | '?' | '!') && rest[i + 1..].starts_with(' '))
            .map(|(i, _)| i + 1)
            .unwrap_or(rest.len());
        let (sentence, after) = rest.split_at(end);
        rest = after.trim_start();
        Some(sentence.trim())
    })
}
