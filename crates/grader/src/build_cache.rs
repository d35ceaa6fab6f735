//! Remembers what each generated package's binary was built from, so that grading an unchanged
//! exercise again does not hand the package to cargo at all.
//!
//! A no-op `cargo build` of a package that links candle still reads the fingerprints of some
//! three hundred crates: about 0.3–0.4 s a call on two cores, two calls per exercise, and the
//! candidate's call also starts a confined process. A record holds the sha256 of every file the
//! binary was compiled from (cargo's own dep-info file lists them: every source of every path
//! crate, and whatever `include!`/`include_str!`/`include_bytes!` read), the generated
//! package's manifests and lock file, the compiler's version and the binary's own sha256. When
//! every one of them still matches, the binary is current; the caller proves the last part by
//! hashing the binary as it copies it.
//!
//! Records live in `target/aisec/builds/`, which only the grader writes: the candidate's
//! confined build writes only its own target folder, and the candidate's code never runs with
//! write access to either.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What one binary was built from.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Record {
    /// `rustc -vV` as the build saw it.
    toolchain: String,
    /// Every input file with its sha256, sorted by path.
    inputs: Vec<(PathBuf, String)>,
    /// The binary's sha256 right after the build.
    binary_sha256: String,
}

/// The cache of one target folder's generated packages.
pub(crate) struct BuildCache {
    dir: PathBuf,
}

impl BuildCache {
    /// The cache for packages built under `target` (the lab's target folder).
    pub(crate) fn new(target: &Path) -> BuildCache {
        BuildCache {
            dir: target.join("aisec/builds"),
        }
    }

    fn record_path(&self, package: &str) -> PathBuf {
        self.dir.join(format!("{package}.json"))
    }

    /// The sha256 the binary of `package` must have if it is current: `Some` only when a record
    /// exists and every file it lists, the package's manifests and the toolchain are unchanged.
    pub(crate) fn current(&self, package: &str, package_dir: &Path) -> Option<String> {
        let text = std::fs::read_to_string(self.record_path(package)).ok()?;
        let record: Record = serde_json::from_str(&text).ok()?;
        if record.toolchain != *toolchain()? {
            return None;
        }
        let manifests = package_manifests(package_dir);
        if !manifests
            .iter()
            .all(|m| record.inputs.iter().any(|(p, _)| p == m))
        {
            return None;
        }
        for (path, sha256) in &record.inputs {
            if file_sha256(path).as_deref() != Some(sha256.as_str()) {
                return None;
            }
        }
        Some(record.binary_sha256)
    }

    /// Forgets `package`'s record, before a build that might fail.
    pub(crate) fn forget(&self, package: &str) {
        let _ = std::fs::remove_file(self.record_path(package));
    }

    /// Records what `binary` of `package` (in `package_dir`) was just built from, reading
    /// cargo's dep-info file beside it. Nothing is recorded when an input is missing, is newer
    /// than the binary (it changed during the build) or the toolchain is unknown: the next
    /// build then simply asks cargo again.
    pub(crate) fn remember(
        &self,
        package: &str,
        package_dir: &Path,
        binary: &Path,
        binary_sha256: &str,
    ) -> Result<()> {
        let Some(toolchain) = toolchain() else {
            return Ok(());
        };
        let Some(mut paths) = dep_info(&binary.with_extension("d")) else {
            return Ok(());
        };
        paths.extend(package_manifests(package_dir));
        paths.sort();
        paths.dedup();
        let Some(built) = modified(binary) else {
            return Ok(());
        };
        let mut inputs = Vec::with_capacity(paths.len());
        for path in paths {
            match (modified(&path), file_sha256(&path)) {
                (Some(changed), Some(sha256)) if changed <= built => inputs.push((path, sha256)),
                _ => return Ok(()),
            }
        }
        let record = Record {
            toolchain: toolchain.clone(),
            inputs,
            binary_sha256: binary_sha256.to_owned(),
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io("creating", &self.dir, e))?;
        let text = serde_json::to_string(&record)
            .map_err(|e| Error::Tool(format!("encoding a build record: {e}")))?;
        let fresh = tempfile::NamedTempFile::new_in(&self.dir)
            .map_err(|e| Error::io("creating a file in", &self.dir, e))?;
        std::fs::write(fresh.path(), text).map_err(|e| Error::io("writing", fresh.path(), e))?;
        let to = self.record_path(package);
        fresh
            .persist(&to)
            .map_err(|e| Error::io("writing", &to, e.error))?;
        Ok(())
    }
}

/// The files of a generated package that cargo reads but does not list in its dep-info: the
/// package's manifest and lock file, and the manifest of the crate it wraps.
fn package_manifests(package_dir: &Path) -> Vec<PathBuf> {
    ["Cargo.toml", "Cargo.lock", "exercise/Cargo.toml"]
        .iter()
        .map(|file| package_dir.join(file))
        .filter(|path| path.is_file())
        .collect()
}

/// The input paths of a make-style dep-info file (`out: in in ...`, spaces in paths escaped
/// with a backslash), as cargo writes beside each binary it links.
fn dep_info(path: &Path) -> Option<Vec<PathBuf>> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().next()?;
    let (_, rest) = split_unescaped_colon(line)?;
    let mut paths = Vec::new();
    let mut current = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some() => current.push(chars.next()?),
            ' ' => {
                if !current.is_empty() {
                    paths.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        paths.push(PathBuf::from(current));
    }
    (!paths.is_empty()).then_some(paths)
}

/// Splits a dep-info line at its first `": "` not escaped by a backslash.
fn split_unescaped_colon(line: &str) -> Option<(&str, &str)> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b':' if bytes[i + 1] == b' ' => return Some((&line[..i], &line[i + 2..])),
            _ => i += 1,
        }
    }
    None
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).ok()?.modified().ok()
}

fn file_sha256(path: &Path) -> Option<String> {
    aisec_lab::manifest::sha256_file(path)
        .ok()
        .map(|(_, sha256)| sha256)
}

/// `rustc -vV` with the environment builds see, once per process; `None` if it cannot run.
fn toolchain() -> Option<&'static String> {
    static TOOLCHAIN: OnceLock<Option<String>> = OnceLock::new();
    TOOLCHAIN
        .get_or_init(|| {
            let mut command = std::process::Command::new("rustc");
            command.arg("-vV");
            crate::harness::build_env(&mut command, &std::env::temp_dir());
            let output = command.stdin(std::process::Stdio::null()).output().ok()?;
            output
                .status
                .success()
                .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
        })
        .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_info_keeps_escaped_spaces_inside_paths() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bin.d");
        std::fs::write(
            &file,
            "/t/release/bin: /a/main.rs /b/with\\ space/lib.rs /c/x.rs\n\n/a/main.rs:\n",
        )
        .unwrap();
        assert_eq!(
            dep_info(&file).unwrap(),
            vec![
                PathBuf::from("/a/main.rs"),
                PathBuf::from("/b/with space/lib.rs"),
                PathBuf::from("/c/x.rs"),
            ]
        );
    }

    #[test]
    fn a_record_is_current_only_while_every_input_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let package = dir.path().join("pkg");
        std::fs::create_dir_all(&package).unwrap();
        std::fs::write(package.join("Cargo.toml"), "[package]\n").unwrap();
        let source = dir.path().join("lib.rs");
        std::fs::write(&source, "pub fn f() {}\n").unwrap();
        let binary = dir.path().join("bin");
        std::fs::write(&binary, b"binary").unwrap();
        std::fs::write(
            dir.path().join("bin.d"),
            format!("{}: {}\n", binary.display(), source.display()),
        )
        .unwrap();
        let cache = BuildCache::new(&dir.path().join("target"));
        assert_eq!(cache.current("pkg", &package), None, "nothing recorded yet");
        cache.remember("pkg", &package, &binary, "abc").unwrap();
        if toolchain().is_none() {
            return; // no rustc here: nothing is ever recorded, which the lines above show
        }
        assert_eq!(cache.current("pkg", &package).as_deref(), Some("abc"));

        std::fs::write(&source, "pub fn f() { loop {} }\n").unwrap();
        assert_eq!(cache.current("pkg", &package), None, "a source changed");
        std::fs::write(&source, "pub fn f() {}\n").unwrap();
        assert_eq!(cache.current("pkg", &package).as_deref(), Some("abc"));

        std::fs::write(package.join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
        assert_eq!(cache.current("pkg", &package), None, "the manifest changed");
        std::fs::write(package.join("Cargo.toml"), "[package]\n").unwrap();

        std::fs::write(package.join("Cargo.lock"), "# lock\n").unwrap();
        assert_eq!(
            cache.current("pkg", &package),
            None,
            "a lock file appeared that the record never saw"
        );
        std::fs::remove_file(package.join("Cargo.lock")).unwrap();
        assert_eq!(cache.current("pkg", &package).as_deref(), Some("abc"));

        cache.forget("pkg");
        assert_eq!(cache.current("pkg", &package), None, "forgotten");
    }

    #[test]
    fn an_input_newer_than_the_binary_is_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let package = dir.path().join("pkg");
        std::fs::create_dir_all(&package).unwrap();
        let binary = dir.path().join("bin");
        std::fs::write(&binary, b"binary").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&binary)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let source = dir.path().join("lib.rs");
        std::fs::write(&source, "pub fn f() {}\n").unwrap();
        std::fs::write(
            dir.path().join("bin.d"),
            format!("{}: {}\n", binary.display(), source.display()),
        )
        .unwrap();
        let cache = BuildCache::new(&dir.path().join("target"));
        cache.remember("pkg", &package, &binary, "abc").unwrap();
        assert_eq!(cache.current("pkg", &package), None);
    }
}
