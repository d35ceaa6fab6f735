//! The lab's integrity manifest: the sha256 of every file the grade depends on — the crates,
//! each exercise's manifest, harness and stub, the models and the data — but not the student
//! files. `LAB_MANIFEST` at the lab root lists them (same format as `models/MANIFEST`, see
//! `aisec_lab::manifest`); before grading, the lab is checked against it, and any difference
//! names the files and stops every exercise from passing.

use std::path::Path;

use aisec_lab::LabRoot;
use aisec_lab::manifest::{Manifest, Verification};
use serde::Serialize;

use crate::error::{Error, Result};

/// The lab manifest's file name, at the lab root.
pub const LAB_MANIFEST: &str = "LAB_MANIFEST";

/// Top-level files and folders the grade depends on.
const COVERED: [&str; 6] = [
    "Cargo.toml",
    "Cargo.lock",
    "crates",
    "exercises",
    "models",
    "datasets",
];

/// Folders never covered, wherever they are (build output, pictures, version control).
const SKIPPED_DIRS: [&str; 3] = ["target", "out", ".git"];

/// The result of checking a lab against its manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Integrity {
    /// sha256 root digest of the lab manifest (identifies the issued lab).
    pub manifest_sha256: String,
    /// True when every covered file matches.
    pub ok: bool,
    /// Files that differ, are missing or are unexpected, sorted.
    pub tampered: Vec<String>,
}

/// The student's area of an exercise folder: `src/` plus the listed student files.
fn student_area(exercise_dir: &Path) -> Vec<String> {
    let mut area = vec!["src".to_owned(), "Cargo.lock".to_owned()];
    // An unreadable manifest still leaves `src/` as the student's: the manifest file itself
    // is covered, so its damage shows as tampering.
    if let Ok(manifest) = aisec_lab::exercise::ExerciseManifest::load(exercise_dir) {
        area.extend(manifest.student_files);
    }
    area
}

fn walk(root: &Path, relative: &str, skip: &[String], out: &mut Vec<String>) -> Result<()> {
    let path = root.join(relative);
    if path.is_file() {
        out.push(relative.to_owned());
        return Ok(());
    }
    if !path.is_dir() {
        return Ok(());
    }
    let entries = std::fs::read_dir(&path).map_err(|e| Error::io("listing", &path, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("listing", &path, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = format!("{relative}/{name}");
        let is_dir = entry
            .file_type()
            .map_err(|e| Error::io("listing", entry.path(), e))?
            .is_dir();
        if (is_dir && SKIPPED_DIRS.contains(&name.as_str())) || skip.contains(&child) {
            continue;
        }
        walk(root, &child, skip, out)?;
    }
    Ok(())
}

/// Every file of `lab` the lab manifest covers, sorted.
pub fn covered_files(lab: &LabRoot) -> Result<Vec<String>> {
    let root = lab.path();
    let mut skip = vec![LAB_MANIFEST.to_owned()];
    if let Ok(entries) = std::fs::read_dir(lab.exercises()) {
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            for part in student_area(&entry.path()) {
                skip.push(format!("exercises/{id}/{part}"));
            }
        }
    }
    let mut files = Vec::new();
    for top in COVERED {
        walk(root, top, &skip, &mut files)?;
    }
    files.sort();
    Ok(files)
}

/// Hashes the covered files and writes `LAB_MANIFEST`.
pub fn write_manifest(lab: &LabRoot) -> Result<Manifest> {
    let manifest = Manifest::create_for(lab.path(), &covered_files(lab)?)?;
    let path = lab.path().join(LAB_MANIFEST);
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| Error::Tool(e.to_string()))?;
    std::fs::write(&path, text + "\n").map_err(|e| Error::io("writing", &path, e))?;
    Ok(manifest)
}

/// Reads `LAB_MANIFEST`.
pub fn read_manifest(lab: &LabRoot) -> Result<Manifest> {
    let path = lab.path().join(LAB_MANIFEST);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io("reading the lab manifest", &path, e))?;
    Manifest::parse(&text).map_err(|reason| Error::manifest(&path, reason))
}

/// Checks `lab` against its manifest. A missing or unreadable manifest counts as tampering
/// (of the manifest itself), so it can never yield a pass.
pub fn verify(lab: &LabRoot) -> Result<Integrity> {
    let manifest = match read_manifest(lab) {
        Ok(m) => m,
        Err(_) => {
            return Ok(Integrity {
                manifest_sha256: String::new(),
                ok: false,
                tampered: vec![LAB_MANIFEST.to_owned()],
            });
        }
    };
    let verification: Verification = manifest.verify_files(lab.path(), covered_files(lab)?)?;
    Ok(Integrity {
        manifest_sha256: manifest.root_sha256.clone(),
        ok: verification.is_ok(),
        tampered: verification.paths(),
    })
}
