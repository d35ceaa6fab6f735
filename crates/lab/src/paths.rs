//! Where the lab is: its root folder and the well-known places in it.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The root of a lab checkout (or of a take-home bundle): the folder holding `Cargo.toml`,
/// `crates/sdk/` and `exercises/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabRoot(PathBuf);

impl LabRoot {
    /// True if `dir` looks like a lab root.
    pub fn is_lab(dir: &Path) -> bool {
        dir.join("Cargo.toml").is_file()
            && dir.join("crates/sdk").is_dir()
            && dir.join("exercises").is_dir()
    }

    /// `explicit` if given (it must be a lab), else the nearest lab at or above the current
    /// folder, else the lab this binary was built from.
    pub fn find(explicit: Option<&Path>) -> Result<LabRoot> {
        if let Some(dir) = explicit {
            return if LabRoot::is_lab(dir) {
                Ok(LabRoot(
                    dir.canonicalize()
                        .map_err(|e| Error::io("resolving", dir, e))?,
                ))
            } else {
                Err(Error::invalid(
                    format!("lab folder {}", dir.display()),
                    "it has no Cargo.toml, crates/sdk/ and exercises/: point --lab at the root of an aisec lab",
                ))
            };
        }
        let cwd =
            std::env::current_dir().map_err(|e| Error::io("reading", "the current folder", e))?;
        if let Some(dir) = cwd.ancestors().find(|d| LabRoot::is_lab(d)) {
            return Ok(LabRoot(dir.to_owned()));
        }
        let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        if LabRoot::is_lab(&built_from) {
            return Ok(LabRoot(
                built_from
                    .canonicalize()
                    .map_err(|e| Error::io("resolving", &built_from, e))?,
            ));
        }
        Err(Error::invalid(
            "lab folder",
            "no aisec lab here or above; run inside a lab or pass --lab DIR",
        ))
    }

    /// A lab rooted at `dir`, unchecked (for tests and tools that create labs).
    pub fn at(dir: impl Into<PathBuf>) -> LabRoot {
        LabRoot(dir.into())
    }

    /// The root folder.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `models/`.
    pub fn models(&self) -> PathBuf {
        self.0.join("models")
    }

    /// A shipped model by name (`standard` → `models/standard.safetensors`).
    pub fn model(&self, name: &str) -> PathBuf {
        self.models().join(format!("{name}.safetensors"))
    }

    /// `datasets/`.
    pub fn datasets(&self) -> PathBuf {
        self.0.join("datasets")
    }

    /// The bundled digits, `datasets/mnist-10k/`.
    pub fn mnist(&self) -> PathBuf {
        self.datasets().join("mnist-10k")
    }

    /// `exercises/`.
    pub fn exercises(&self) -> PathBuf {
        self.0.join("exercises")
    }

    /// `solutions/`.
    pub fn solutions(&self) -> PathBuf {
        self.0.join("solutions")
    }

    /// `out/`, where runs and demos write pictures.
    pub fn out(&self) -> PathBuf {
        self.0.join("out")
    }
}
