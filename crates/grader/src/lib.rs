//! The aisec grader: the exercise registry, the dependency rule, the lab's integrity manifest,
//! isolated harness builds and runs, verdicts, and reports (text, JSON, JUnit XML).

mod build_cache;
pub mod bundle;
pub mod dev;
pub mod error;
pub mod exercise;
pub mod grade;
pub mod harness;
pub mod integrity;
pub mod policy;
pub mod registry;
pub mod report;
pub mod sandbox;
pub mod scaffold;
pub mod state;

pub use error::{Error, Result};
pub use exercise::Exercise;
pub use registry::Registry;
pub use report::{Report, Verdict};
