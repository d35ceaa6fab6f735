//! The vocabulary of model-folder verification: what a hash manifest lists per file, the
//! verdicts a verifier gives, and listing a folder's files. The verifying is the exercise's.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What a manifest lists for one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Path relative to the folder, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the whole file, lower-case hex.
    pub sha256: String,
    /// For a safetensors file: tensor name → sha256 over the dtype, a NUL byte, the shape as
    /// comma-separated decimals, a NUL byte, then the tensor's bytes (lower-case hex). Empty for
    /// other files.
    pub tensors: BTreeMap<String, String>,
}

/// A verifier's verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Listed, present, identical.
    Ok,
    /// Listed but absent.
    Missing,
    /// Present but not listed.
    Unexpected,
    /// Listed and differs; `tensors` names the tensors whose digests differ (sorted; empty for
    /// a file that has no tensors).
    HashMismatch {
        /// The tensors at fault.
        tensors: Vec<String>,
    },
    /// Listed, differs, and is not a well-formed safetensors file.
    Malformed {
        /// What is wrong, in a sentence.
        reason: String,
    },
    /// A format that can run code when loaded (a pickle, or a PyTorch zip archive), whatever
    /// the file is called.
    RefusedFormat {
        /// What the file is.
        reason: String,
    },
}

impl Verdict {
    /// The verdict's name as reports print it (`HASH_MISMATCH`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Missing => "MISSING",
            Verdict::Unexpected => "UNEXPECTED",
            Verdict::HashMismatch { .. } => "HASH_MISMATCH",
            Verdict::Malformed { .. } => "MALFORMED",
            Verdict::RefusedFormat { .. } => "REFUSED_FORMAT",
        }
    }
}

/// One file's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileVerdict {
    /// Path relative to the folder, `/`-separated.
    pub path: String,
    /// The verdict.
    pub verdict: Verdict,
}

/// Every regular file under `dir` (recursively), as sorted `/`-separated relative paths.
pub fn list_files(dir: &Path) -> Result<Vec<String>> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
        let listing = |e| Error::io("listing", dir, e);
        for entry in std::fs::read_dir(dir).map_err(listing)? {
            let entry = entry.map_err(listing)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let relative = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if entry.file_type().map_err(listing)?.is_dir() {
                walk(&entry.path(), &relative, out)?;
            } else {
                out.push(relative);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, "", &mut files)?;
    files.sort();
    Ok(files)
}
