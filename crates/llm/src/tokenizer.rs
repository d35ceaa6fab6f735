//! The model's tokenizer, built from the GGUF file's own metadata: a GPT-2 byte-level BPE whose
//! pre-tokenizer (`smollm`) splits every digit on its own, with the control tokens
//! (`<|im_start|>`, `<|im_end|>`, ...) as special tokens.
//!
//! Text from people (a system prompt, a user's message, a retrieved document) is always
//! encoded as plain text: a message that spells `<|im_end|>` gets the tokens of those
//! characters, never the control token, so no message can close its own turn and open a
//! forged one. Only the chat template puts control tokens in a prompt (see [`crate::chat`]).

use candle_core::quantized::gguf_file;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::{Error, Result};

/// GGUF `tokenizer.ggml.token_type` of a control token.
const CONTROL: i32 = 3;

/// A byte-level BPE tokenizer and the ids of its control tokens.
#[derive(Clone)]
pub struct ChatTokenizer {
    /// Encodes every character as text (control tokens are never recognised).
    plain: Tokenizer,
    /// The vocabulary, by id.
    tokens: Vec<String>,
    /// Which ids are control tokens.
    control: Vec<bool>,
}

impl std::fmt::Debug for ChatTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTokenizer")
            .field("vocabulary", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

fn metadata<'c>(content: &'c gguf_file::Content, key: &str) -> Result<&'c gguf_file::Value> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| Error::Tokenizer(format!("the model file has no {key} in its metadata")))
}

fn strings(content: &gguf_file::Content, key: &str) -> Result<Vec<String>> {
    metadata(content, key)?
        .to_vec()
        .map_err(|e| Error::Tokenizer(format!("{key}: {e}")))?
        .iter()
        .map(|v| {
            v.to_string()
                .cloned()
                .map_err(|e| Error::Tokenizer(format!("{key}: {e}")))
        })
        .collect()
}

impl ChatTokenizer {
    /// The tokenizer described by a GGUF file's metadata; only the `gpt2` model with the
    /// `smollm` pre-tokenizer is accepted, since that is the split implemented here.
    pub fn from_gguf(content: &gguf_file::Content) -> Result<ChatTokenizer> {
        let kind = metadata(content, "tokenizer.ggml.model")?
            .to_string()
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        let pre = metadata(content, "tokenizer.ggml.pre")?
            .to_string()
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        if kind != "gpt2" || pre != "smollm" {
            return Err(Error::Tokenizer(format!(
                "tokenizer {kind:?} with pre-tokenizer {pre:?}: only gpt2 with smollm (the \
                 shipped SmolLM2 model's) is supported"
            )));
        }
        let tokens = strings(content, "tokenizer.ggml.tokens")?;
        let merges = strings(content, "tokenizer.ggml.merges")?;
        let types = metadata(content, "tokenizer.ggml.token_type")?
            .to_vec()
            .map_err(|e| Error::Tokenizer(format!("tokenizer.ggml.token_type: {e}")))?
            .iter()
            .map(|v| v.to_i32().unwrap_or(1))
            .collect::<Vec<i32>>();
        if types.len() != tokens.len() {
            return Err(Error::Tokenizer(format!(
                "{} token types for {} tokens",
                types.len(),
                tokens.len()
            )));
        }
        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(id, token)| (token.clone(), id as u32))
            .collect();
        let merges = merges
            .iter()
            .map(|merge| {
                merge
                    .split_once(' ')
                    .map(|(a, b)| (a.to_owned(), b.to_owned()))
                    .ok_or_else(|| Error::Tokenizer(format!("merge {merge:?} has no space")))
            })
            .collect::<Result<Vec<_>>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| Error::Tokenizer(format!("building the BPE: {e}")))?;
        let mut plain = Tokenizer::new(bpe);
        plain.with_pre_tokenizer(Some(Sequence::new(vec![
            PreTokenizerWrapper::Digits(Digits::new(true)),
            PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
        ])));
        plain.with_decoder(Some(ByteLevelDecoder::default()));
        let control: Vec<bool> = types.iter().map(|&t| t == CONTROL).collect();
        let specials: Vec<AddedToken> = tokens
            .iter()
            .zip(&control)
            .filter(|(_, is_control)| **is_control)
            .map(|(token, _)| AddedToken::from(token.clone(), true))
            .collect();
        plain
            .add_special_tokens(specials)
            .map_err(|e| Error::Tokenizer(format!("adding the control tokens: {e}")))?;
        // Control tokens are known (so decoding can drop them) but never matched in text.
        plain.set_encode_special_tokens(true);
        Ok(ChatTokenizer {
            plain,
            tokens,
            control,
        })
    }

    /// The tokens of `text`, every character as text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.plain
            .encode_fast(text, false)
            .map(|encoding| encoding.get_ids().to_vec())
            .map_err(|e| Error::Tokenizer(format!("encoding: {e}")))
    }

    /// The text of `ids`, control tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let text: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|&id| !self.is_control(id))
            .collect();
        self.plain
            .decode(&text, false)
            .map_err(|e| Error::Tokenizer(format!("decoding: {e}")))
    }

    /// The id of the control token spelt `token` (`"<|im_end|>"`).
    pub fn control_id(&self, token: &str) -> Result<u32> {
        self.tokens
            .iter()
            .position(|t| t == token)
            .filter(|&id| self.control[id])
            .map(|id| id as u32)
            .ok_or_else(|| Error::Tokenizer(format!("the vocabulary has no control token {token}")))
    }

    /// Whether `id` is a control token.
    pub fn is_control(&self, id: u32) -> bool {
        self.control.get(id as usize).copied().unwrap_or(false)
    }

    /// The vocabulary's size.
    pub fn vocabulary_size(&self) -> usize {
        self.tokens.len()
    }
}
