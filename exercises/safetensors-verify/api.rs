// The functions of this exercise that the checker calls in the candidate's crate (the lab's
// code: do not edit). They must match the signatures in src/lib.rs.
use std::path::Path;

use aisec_sdk::Result;
use aisec_sdk::supply_chain::{FileVerdict, ManifestEntry};

exercise_api! {
    fn verify(dir: &Path, manifest: &[ManifestEntry]) -> Result<Vec<FileVerdict>>;
}
