//! A defence for retrieved text: what a retrieval-augmented assistant shows its model. Your
//! code goes here.
//!
//! See README.md for the assistant, the injections, the rules and how it is graded.

use aisec_sdk::Result;

/// The chunks the model will read with `question`, from the `chunks` the retriever found for
/// it (best first).
///
/// Drop chunks, cut sentences out of them, or mark them as data; every word you return must
/// come from `chunks` (or be one of the marker words the brief lists), and the result may not
/// grow past twice the retrieved text.
pub fn defend(question: &str, chunks: &[String]) -> Result<Vec<String>> {
    let _ = (question, chunks);
    todo!("keep what answers the question, lose what instructs the model")
}
