//! What the CLI remembers between runs, under `target/aisec/state.json`: hints already shown
//! and the last verdict of each exercise (with the student-file digests it was given for).

use std::collections::BTreeMap;
use std::path::PathBuf;

use aisec_lab::LabRoot;
use serde::{Deserialize, Serialize};

use crate::harness::target_dir;
use crate::report::Verdict;

/// The last grade of an exercise.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastGrade {
    /// Its verdict.
    pub verdict: Verdict,
    /// The student-file digests it was given for.
    pub student_files: BTreeMap<String, String>,
}

/// The remembered state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Hints shown so far, per exercise.
    #[serde(default)]
    pub hints_shown: BTreeMap<String, usize>,
    /// Last grade, per exercise.
    #[serde(default)]
    pub last_grade: BTreeMap<String, LastGrade>,
}

fn path(lab: &LabRoot) -> PathBuf {
    target_dir(lab).join("aisec/state.json")
}

impl State {
    /// Reads the state (empty if there is none or it is unreadable).
    pub fn load(lab: &LabRoot) -> State {
        std::fs::read_to_string(path(lab))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Writes the state (best effort: state is a convenience, never a reason to fail).
    pub fn save(&self, lab: &LabRoot) {
        let path = path(lab);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Ok(text) = serde_json::to_string_pretty(self) {
            let _ = std::fs::write(path, text);
        }
    }
}
