//! Detecting model extraction from a prediction API's query logs: your code goes here.
//!
//! See README.md (or `aisec show extraction-detect`) for the task, the signature and how it is
//! graded. Check your work with `aisec check extraction-detect`.

use aisec_sdk::theft::ClientLog;
use aisec_sdk::{Cnn, Dataset, Result};

/// Whether the client whose queries so far are `log` is extracting the model.
///
/// - `log`: the client's first queries, oldest first: `log.times()` (seconds), `log.images()`
///   (n, 1, 28, 28) in [0, 1], `log.predicted()` (the class the API answered);
/// - `model`: the model behind the API (the one that answered);
/// - `natural`: natural digits of the task, for reference (not from any client).
///
/// Called for each client after 25, 50, 75, 100, 150, ... of its queries, until it first
/// returns `true`; the earlier you say so, the better.
pub fn is_extracting(log: &ClientLog, model: &Cnn, natural: &Dataset) -> Result<bool> {
    let _ = (log, model, natural);
    // TODO: tell an extraction attack from a benign client by what it asks.
    todo!("decide whether this client is extracting the model")
}
