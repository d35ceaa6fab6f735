//! The chat model: loading the GGUF file (checked against its sha256 first), and greedy
//! decoding, with the state after each message of the last prompt kept for the next prompt
//! that starts with the same messages (the same system prompt, or the same conversation one
//! turn further).

use std::path::Path;
use std::sync::Arc;

use candle_core::quantized::gguf_file;
use sha2::{Digest, Sha256};

use crate::chat::{Message, Template};
use crate::error::{Error, Result};
use crate::tokenizer::ChatTokenizer;
use crate::transformer::{KvCache, Transformer};

/// The shipped model's file name, under the lab's `models/`.
pub const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// What a reply holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply's text, control tokens left out.
    pub text: String,
    /// The tokens generated, the closing `<|im_end|>` included when it came.
    pub tokens: Vec<u32>,
    /// Whether the model closed its turn (rather than reaching the token limit).
    pub finished: bool,
    /// How many prompt tokens the model read for this reply (the cached prefix excluded).
    pub prompt_tokens_read: usize,
}

/// SmolLM2-135M-Instruct, ready to answer. Decoding is greedy: the same conversation always
/// gets the same reply, token for token.
/// Cloning gives another handle on the same weights, with a cache of its own.
#[derive(Clone)]
pub struct ChatModel {
    transformer: Arc<Transformer>,
    tokenizer: ChatTokenizer,
    template: Template,
    /// Tokens that end a reply.
    stops: Vec<u32>,
    /// The keys and values of the last prompt read.
    cache: KvCache,
    /// The chunks whose positions open `cache`, in order.
    cached_chunks: Vec<Vec<u32>>,
}

impl std::fmt::Debug for ChatModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatModel")
            .field("config", self.transformer.config())
            .field("cached_chunks", &self.cached_chunks.len())
            .finish_non_exhaustive()
    }
}

/// The sha256 of a file, in lower-case hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|source| Error::Io {
        action: "opening",
        path: path.to_owned(),
        source,
    })?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(|source| Error::Io {
            action: "reading",
            path: path.to_owned(),
            source,
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

impl ChatModel {
    /// Loads the model at `path` after checking that its sha256 is `sha256` (from the models
    /// manifest): a file that differs by one byte is refused before it is parsed.
    pub fn load_verified(path: &Path, sha256: &str) -> Result<ChatModel> {
        let actual = file_sha256(path)?;
        if actual != sha256 {
            return Err(Error::Model {
                path: path.to_owned(),
                reason: format!(
                    "sha256 {actual} is not the manifest's {sha256}: the file was changed or \
                     replaced; restore it (git checkout, or see models/README.md)"
                ),
            });
        }
        ChatModel::load(path)
    }

    /// Loads the model at `path` without checking its hash (tests on copies, benchmarks).
    pub fn load(path: &Path) -> Result<ChatModel> {
        let malformed = |reason: String| Error::Model {
            path: path.to_owned(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            action: "reading",
            path: path.to_owned(),
            source,
        })?;
        let content = gguf_file::Content::read(&mut std::io::Cursor::new(&bytes[..]))
            .map_err(|e| malformed(format!("not a readable GGUF file: {e}")))?;
        let architecture = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if architecture != "llama" {
            return Err(malformed(format!(
                "architecture {architecture:?}: only llama models are supported"
            )));
        }
        let tokenizer = ChatTokenizer::from_gguf(&content)?;
        let template = Template::new(&tokenizer)?;
        let transformer = Transformer::from_gguf(&content, &bytes).map_err(|e| match e {
            Error::Malformed(reason) => malformed(reason),
            other => other,
        })?;
        let mut stops = vec![template.end];
        if let Ok(end_of_text) = tokenizer.control_id("<|endoftext|>") {
            stops.push(end_of_text);
        }
        Ok(ChatModel {
            cache: transformer.new_cache(),
            transformer: Arc::new(transformer),
            tokenizer,
            template,
            stops,
            cached_chunks: Vec::new(),
        })
    }

    /// The transformer itself, for raw forward passes (benchmarks, logits).
    pub fn transformer(&self) -> &Transformer {
        &self.transformer
    }

    /// The model's tokenizer.
    pub fn tokenizer(&self) -> &ChatTokenizer {
        &self.tokenizer
    }

    /// The chat template's control tokens.
    pub fn template(&self) -> Template {
        self.template
    }

    /// The most tokens a prompt and its reply may hold together.
    pub fn context_length(&self) -> usize {
        self.transformer.config().context
    }

    /// The model's greedy reply to `messages` (ChatML), at most `max_tokens` long. The prompt
    /// is read message by message (see [`Template::chunks`]); the messages it shares with the
    /// last prompt read are not read again.
    pub fn reply(&mut self, messages: &[Message], max_tokens: usize) -> Result<Reply> {
        let chunks = self.template.chunks(&self.tokenizer, messages)?;
        self.complete_chunks(&chunks, max_tokens)
    }

    /// The greedy continuation of the tokens `prefix` then `tail`, at most `max_tokens` long,
    /// stopping at `<|im_end|>`: [`ChatModel::complete_chunks`] of the two.
    pub fn complete(&mut self, prefix: &[u32], tail: &[u32], max_tokens: usize) -> Result<Reply> {
        self.complete_chunks(&[prefix.to_vec(), tail.to_vec()], max_tokens)
    }

    /// The greedy continuation of `chunks`, read in order one chunk per forward pass, at most
    /// `max_tokens` long, stopping at `<|im_end|>`. The model's state after each chunk is
    /// kept, and the leading chunks the next call shares are not read again; since every chunk
    /// is read as one pass whether it came from the cache or not, a reply depends only on the
    /// chunks.
    pub fn complete_chunks(&mut self, chunks: &[Vec<u32>], max_tokens: usize) -> Result<Reply> {
        if chunks.len() < 2 || chunks.iter().any(Vec::is_empty) {
            return Err(Error::Prompt(
                "a prompt needs at least two non-empty chunks (a prefix and a tail)".into(),
            ));
        }
        let prompt_tokens: usize = chunks.iter().map(Vec::len).sum();
        let context = self.context_length();
        if prompt_tokens + max_tokens > context {
            return Err(Error::Prompt(format!(
                "{prompt_tokens} prompt tokens and up to {max_tokens} reply tokens exceed the \
                 model's {context}-token context: shorten the prompt"
            )));
        }
        let vocabulary = self.tokenizer.vocabulary_size();
        if let Some(&bad) = chunks
            .iter()
            .flatten()
            .find(|&&id| id as usize >= vocabulary)
        {
            return Err(Error::Prompt(format!(
                "token id {bad} is outside the vocabulary"
            )));
        }
        let transformer = self.transformer.clone();
        // The last chunk is always read: its logits give the first reply token.
        let mut shared = self
            .cached_chunks
            .iter()
            .zip(&chunks[..chunks.len() - 1])
            .take_while(|(cached, wanted)| cached == wanted)
            .count();
        let shared_tokens: usize = chunks[..shared].iter().map(Vec::len).sum();
        if shared > 0 && self.cache.len() >= shared_tokens {
            transformer.truncate(&mut self.cache, shared_tokens);
        } else {
            self.cache = transformer.new_cache();
            shared = 0;
        }
        self.cached_chunks.truncate(shared);
        let mut read = 0;
        let mut logits = Vec::new();
        for chunk in &chunks[shared..] {
            logits = transformer.forward(chunk, &mut self.cache)?;
            self.cached_chunks.push(chunk.clone());
            read += chunk.len();
        }
        let mut tokens = Vec::new();
        let mut finished = false;
        while tokens.len() < max_tokens {
            let next = greedy(&logits);
            tokens.push(next);
            if self.stops.contains(&next) {
                finished = true;
                break;
            }
            if tokens.len() == max_tokens {
                break;
            }
            logits = transformer.forward(&[next], &mut self.cache)?;
        }
        Ok(Reply {
            text: self.tokenizer.decode(&tokens)?,
            tokens,
            finished,
            prompt_tokens_read: read,
        })
    }
}

/// The id of the largest logit (the first of equal ones).
fn greedy(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}
