//! The lab's chat model: SmolLM2-135M-Instruct read from its GGUF file (`models/`), its
//! tokenizer built from the file's metadata, the ChatML template, and greedy decoding that
//! gives the same reply to the same conversation every time.
//!
//! ```no_run
//! use aisec_llm::{ChatModel, Message};
//! let mut model = ChatModel::load(std::path::Path::new("models/SmolLM2-135M-Instruct.Q4_1.gguf"))?;
//! let reply = model.reply(&[Message::system("Answer briefly."), Message::user("What is 2+2?")], 32)?;
//! println!("{}", reply.text);
//! # Ok::<(), aisec_llm::Error>(())
//! ```

pub mod chat;
pub mod error;
pub mod kernels;
pub mod model;
pub mod tokenizer;
pub mod transformer;

pub use chat::{Message, Role};
pub use error::{Error, Result};
pub use model::{ChatModel, MODEL_FILE, Reply};
pub use tokenizer::ChatTokenizer;
