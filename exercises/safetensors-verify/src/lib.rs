//! A model-folder verifier: your code goes here.
//!
//! See README.md for the task, the verdict rules and how it is graded.

use std::path::Path;

use aisec_sdk::Result;
use aisec_sdk::supply_chain::{FileVerdict, ManifestEntry};

/// One verdict per file that is listed in `manifest` or present under `dir` (recursively,
/// `/`-separated paths relative to `dir`), in any order.
///
/// Verdicts: `Ok`, `Missing`, `Unexpected`, `HashMismatch { tensors }` (naming the tensors whose
/// digests differ), `Malformed { reason }`, `RefusedFormat { reason }` (a pickle or a zip
/// archive, recognised by its first bytes). Read files in pieces: memory must not grow with
/// their size.
pub fn verify(dir: &Path, manifest: &[ManifestEntry]) -> Result<Vec<FileVerdict>> {
    let _ = (dir, manifest);
    todo!("verify every file against the manifest")
}
