//! Copies of a lab in temporary folders, to grade returned take-home work in a clean lab that
//! holds no reference solutions.

use std::path::Path;

use aisec_lab::LabRoot;

use crate::error::{Error, Result};

/// Folders never copied: build output, pictures, version control, fuzzing corpora.
const NOT_COPIED: [&str; 4] = ["target", "out", ".git", "fuzz"];

/// Copies the lab at `lab` into `dest` (which must exist), leaving out build output, pictures,
/// version control and the reference solutions (graded code must never find them beside it),
/// and returns the copy.
pub fn copy_lab(lab: &LabRoot, dest: &Path) -> Result<LabRoot> {
    for entry in std::fs::read_dir(lab.path()).map_err(|e| Error::io("listing", lab.path(), e))? {
        let entry = entry.map_err(|e| Error::io("listing", lab.path(), e))?;
        let name = entry.file_name();
        let kind = entry
            .file_type()
            .map_err(|e| Error::io("listing", entry.path(), e))?;
        if name == "solutions" || NOT_COPIED.contains(&name.to_string_lossy().as_ref()) {
            continue;
        }
        if kind.is_dir() || kind.is_file() {
            copy_tree(&entry.path(), &dest.join(&name))?;
        }
    }
    Ok(LabRoot::at(dest))
}

/// Copies a file, or a folder recursively, to `to` (creating its parent folders), skipping
/// [`NOT_COPIED`] folders at any depth and anything that is neither a file nor a folder
/// (symbolic links are never followed).
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let kind = std::fs::symlink_metadata(from).map_err(|e| Error::io("reading", from, e))?;
    if kind.file_type().is_symlink() {
        return Ok(());
    }
    if kind.is_file() {
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
