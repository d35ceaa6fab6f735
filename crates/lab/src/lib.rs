//! The lab's own machinery, shared by the grader and the CLI: training presets and their
//! recipes, the lab's reference attacks, hash manifests, terminal pictures and benchmarks.
//! Exercises never depend on this crate; the SDK is theirs.

pub mod adversary;
pub mod backdoor;
pub mod bench;
pub mod checks;
pub mod error;
pub mod exercise;
pub mod federated;
pub mod harness;
pub mod llm;
pub mod manifest;
pub mod paths;
pub mod plot;
pub mod poison;
pub mod presets;
pub mod privacy;
pub mod render;
pub mod runtime;
pub mod tamper;

pub use error::{Error, Result};
pub use paths::LabRoot;
/// Re-exported for exercise harnesses, which emit JSON and depend on this crate only.
pub use serde_json;
/// Re-exported for exercise harnesses that build temporary folders.
pub use tempfile;
