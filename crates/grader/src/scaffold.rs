//! `aisec dev new`: the files of a new exercise, written so that `aisec dev check <id>` runs at
//! once (the stub grades "not started"; the reference solution fails until it is written).

use std::path::PathBuf;

use aisec_lab::LabRoot;

use crate::error::{Error, Result};
use crate::exercise::{ExerciseManifest, is_id};
use crate::registry::Registry;

/// What the new exercise starts from: an L-inf attack on the shipped CNN, graded by its budget
/// and the accuracy it takes away.
const HARNESS: &str = include_str!("scaffold/harness.rs.txt");
const STUB: &str = include_str!("scaffold/lib.rs.txt");
const SOLUTION: &str = include_str!("scaffold/solution.rs.txt");
const API: &str = include_str!("scaffold/api.rs.txt");
const MANIFEST: &str = include_str!("scaffold/exercise.toml.txt");
const BRIEF: &str = include_str!("scaffold/README.md.txt");

/// The files written, relative to the lab.
pub struct Scaffold {
    /// Every file written.
    pub files: Vec<PathBuf>,
}

/// Writes exercise `id` of `track` into `lab` (its folder under `exercises/` and its solution
/// under `solutions/`), then rewrites the lab manifest. Refuses an id in use or not of the
/// form the registry reads.
pub fn new_exercise(lab: &LabRoot, id: &str, track: &str) -> Result<Scaffold> {
    if !is_id(id) {
        return Err(Error::Usage(format!(
            "exercise id {id:?}: use lower-case letters, digits and -, e.g. demo-x"
        )));
    }
    if !is_id(track) {
        return Err(Error::Usage(format!(
            "track {track:?}: use lower-case letters, digits and -, e.g. evasion"
        )));
    }
    let exercise_dir = lab.exercises().join(id);
    let solution_dir = lab.solutions().join(id);
    for dir in [&exercise_dir, &solution_dir] {
        if dir.exists() {
            return Err(Error::Usage(format!(
                "{} exists already: choose another id",
                dir.display()
            )));
        }
    }
    let registry = Registry::load(lab)?;
    let order = registry
        .exercises
        .iter()
        .filter(|e| e.manifest.track == track)
        .map(|e| e.manifest.order)
        .max()
        .unwrap_or(0)
        + 1;
    let title = format!("{id}: a new {track} exercise");
    let fill = |template: &str| {
        template
            .replace("{id}", id)
            .replace("{title}", &title)
            .replace("{track}", track)
            .replace("{order}", &order.to_string())
    };
    let manifest = fill(MANIFEST);
    // The template must stay a valid manifest: check it as the registry will read it.
    ExerciseManifest::parse(&manifest, &exercise_dir.join("exercise.toml"), id)?;
    let crate_manifest = |name: &str| {
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\naisec-sdk = {{ path = \"../../crates/sdk\" }}\n"
        )
    };
    let files: Vec<(PathBuf, String)> = vec![
        (exercise_dir.join("Cargo.toml"), crate_manifest(id)),
        (exercise_dir.join("exercise.toml"), manifest),
        (exercise_dir.join("README.md"), fill(BRIEF)),
        (exercise_dir.join("api.rs"), fill(API)),
        (exercise_dir.join("harness.rs"), fill(HARNESS)),
        (exercise_dir.join("src/lib.rs"), fill(STUB)),
        (exercise_dir.join("stub/lib.rs"), fill(STUB)),
        (
            solution_dir.join("Cargo.toml"),
            crate_manifest(&format!("{id}-solution")),
        ),
        (solution_dir.join("src/lib.rs"), fill(SOLUTION)),
    ];
    let mut written = Vec::new();
    for (path, text) in files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
        }
        std::fs::write(&path, text).map_err(|e| Error::io("writing", &path, e))?;
        written.push(path.strip_prefix(lab.path()).unwrap_or(&path).to_owned());
    }
    crate::integrity::write_manifest(lab)?;
    Ok(Scaffold { files: written })
}
