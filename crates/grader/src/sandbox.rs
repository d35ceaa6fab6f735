//! Copies of a lab in temporary folders: to grade solutions without touching the student's
//! files, and (for take-home bundles) to grade returned work in a clean lab.

use std::path::Path;

use aisec_lab::LabRoot;

use crate::error::{Error, Result};

/// Folders never copied: build output, pictures, version control, fuzzing corpora.
const NOT_COPIED: [&str; 4] = ["target", "out", ".git", "fuzz"];

/// Copies the lab at `lab` into `dest` (which must exist), leaving out build output, pictures
/// and version control, and returns the copy.
pub fn copy_lab(lab: &LabRoot, dest: &Path) -> Result<LabRoot> {
    copy_tree(lab.path(), dest)?;
    Ok(LabRoot::at(dest))
}

/// Copies a file, or a folder recursively, to `to` (creating its parent folders), skipping
/// [`NOT_COPIED`] folders at any depth and anything that is neither a file nor a folder.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    if from.is_file() {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
        }
        std::fs::copy(from, to).map_err(|e| Error::io("copying", from, e))?;
        return Ok(());
    }
    std::fs::create_dir_all(to).map_err(|e| Error::io("creating", to, e))?;
    let entries = std::fs::read_dir(from).map_err(|e| Error::io("listing", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("listing", from, e))?;
        let name = entry.file_name();
        let kind = entry
            .file_type()
            .map_err(|e| Error::io("listing", entry.path(), e))?;
        let target = to.join(&name);
        if kind.is_dir() {
            if !NOT_COPIED.contains(&name.to_string_lossy().as_ref()) {
                copy_tree(&entry.path(), &target)?;
            }
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| Error::io("copying", entry.path(), e))?;
        }
    }
    Ok(())
}

/// Replaces the student files of exercise `id` in `lab` with the reference solution's
/// `src/` (the solution mirrors the exercise's layout).
pub fn swap_in_solution(lab: &LabRoot, id: &str) -> Result<()> {
    let from = lab.solutions().join(id).join("src");
    let to = lab.exercises().join(id).join("src");
    if !from.is_dir() {
        return Err(Error::Usage(format!(
            "exercise {id} has no reference solution at {}",
            from.display()
        )));
    }
    std::fs::remove_dir_all(&to).map_err(|e| Error::io("removing", &to, e))?;
    copy_tree(&from, &to)
}
