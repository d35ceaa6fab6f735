//! An exercise as the grader sees it: its folder and its checked `exercise.toml`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The `exercise.toml` format this grader reads.
pub const FORMAT: u32 = 1;

/// The tracks, in the order they are taught; exercises of other tracks come after, by name.
pub const TRACKS: [&str; 4] = ["evasion", "poisoning", "privacy", "supply-chain"];

/// What kind of work the exercise asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Implement functions against the SDK; graded by property checks.
    Code,
    /// Analyse artefacts and answer in `answers.toml`; graded against salted digests.
    Investigate,
}

/// How hard the exercise is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Difficulty {
    /// An hour or less.
    Easy,
    /// A few hours.
    Medium,
    /// A day.
    Hard,
}

/// The calibration that set the thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// The command that measured it.
    pub command: String,
    /// What it measured, and how the bars follow from it.
    pub notes: String,
}

/// The contents of `exercise.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExerciseManifest {
    /// Format version; must be [`FORMAT`].
    pub format: u32,
    /// Identifier; equals the folder name (lower-case letters, digits and `-`).
    pub id: String,
    /// One-line title.
    pub title: String,
    /// The track (`evasion`, `poisoning`, ...).
    pub track: String,
    /// Position within the track.
    pub order: u32,
    /// Code or investigation.
    pub kind: Kind,
    /// How hard.
    pub difficulty: Difficulty,
    /// Points for passing every check.
    pub points: u32,
    /// The interview topics the exercise backs, in our own words.
    pub topics: Vec<String>,
    /// MITRE ATLAS technique ids (`AML.T0043`).
    pub atlas: Vec<String>,
    /// OWASP Machine Learning Security Top 10 ids (`ML01`).
    pub owasp_ml: Vec<String>,
    /// The files the candidate edits, relative to the exercise folder.
    pub student_files: Vec<String>,
    /// Wall-clock limit for one check run, seconds.
    pub time_limit_s: u64,
    /// Address-space limit of the check process, MiB.
    pub memory_limit_mb: u64,
    /// Hints, in the order `aisec hint` gives them.
    pub hints: Vec<String>,
    /// Bars the checks hold the candidate to (read by the harness).
    pub thresholds: toml::Table,
    /// How the thresholds were set.
    pub calibration: Calibration,
}

/// An exercise found in the lab.
#[derive(Debug, Clone)]
pub struct Exercise {
    /// Its folder, `exercises/<id>/`.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: ExerciseManifest,
}

/// True for an id the registry reads: lower-case letters, digits and `-`, not starting with `-`.
pub fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

fn is_atlas(s: &str) -> bool {
    let rest = s.strip_prefix("AML.T").unwrap_or("");
    let (main, sub) = rest.split_once('.').unwrap_or((rest, ""));
    main.len() == 4
        && main.bytes().all(|b| b.is_ascii_digit())
        && (sub.is_empty() || (sub.len() == 3 && sub.bytes().all(|b| b.is_ascii_digit())))
}

fn is_owasp_ml(s: &str) -> bool {
    s.len() == 4 && s.starts_with("ML") && s[2..].bytes().all(|b| b.is_ascii_digit())
}

/// True for a plain relative path (no `..`, not absolute, `/`-separated).
pub fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
}

impl ExerciseManifest {
    /// Parses and validates `text`, read from `path` in folder `folder_name`.
    pub fn parse(text: &str, path: &Path, folder_name: &str) -> Result<ExerciseManifest> {
        let m: ExerciseManifest = toml::from_str(text)
            .map_err(|e| Error::manifest(path, format!("not a valid exercise manifest: {e}")))?;
        let bad = |reason: String| Err(Error::manifest(path, reason));
        if m.format != FORMAT {
            return bad(format!(
                "format {} is not supported (this aisec reads format {FORMAT})",
                m.format
            ));
        }
        if !is_id(&m.id) || m.id != folder_name {
            return bad(format!(
                "id {:?} must equal the folder name {folder_name:?} and use a-z, 0-9 and -",
                m.id
            ));
        }
        if m.title.trim().is_empty() || m.track.trim().is_empty() {
            return bad("title and track must not be empty".into());
        }
        if m.points == 0 {
            return bad("points must be at least 1".into());
        }
        if let Some(bad_id) = m.atlas.iter().find(|a| !is_atlas(a)) {
            return bad(format!(
                "atlas id {bad_id:?} is not a MITRE ATLAS technique id like AML.T0043"
            ));
        }
        if let Some(bad_id) = m.owasp_ml.iter().find(|a| !is_owasp_ml(a)) {
            return bad(format!(
                "owasp_ml id {bad_id:?} is not an OWASP ML Top 10 id like ML01"
            ));
        }
        if m.student_files.is_empty() || !m.student_files.iter().all(|f| is_plain_relative(f)) {
            return bad("student_files must list one or more plain relative paths".into());
        }
        if !(1..=3600).contains(&m.time_limit_s) {
            return bad(format!(
                "time_limit_s {} must be between 1 and 3600",
                m.time_limit_s
            ));
        }
        if m.memory_limit_mb < 256 {
            return bad(format!(
                "memory_limit_mb {} is below the 256 MiB minimum",
                m.memory_limit_mb
            ));
        }
        if m.hints.is_empty() || m.topics.is_empty() {
            return bad("hints and topics must not be empty".into());
        }
        Ok(m)
    }
}

impl Exercise {
    /// Reads `dir/exercise.toml`.
    pub fn load(dir: &Path) -> Result<Exercise> {
        let path = dir.join("exercise.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
        let folder = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let manifest = ExerciseManifest::parse(&text, &path, &folder)?;
        for file in &manifest.student_files {
            if !dir.join(file).is_file() {
                return Err(Error::manifest(
                    &path,
                    format!("student file {file} does not exist"),
                ));
            }
        }
        Ok(Exercise {
            dir: dir.to_owned(),
            manifest,
        })
    }

    /// The exercise id.
    pub fn id(&self) -> &str {
        &self.manifest.id
    }

    /// The brief, `README.md`.
    pub fn brief(&self) -> Result<String> {
        let path = self.dir.join("README.md");
        std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))
    }

    /// The pristine copy of a student file, kept in `stub/` for `aisec reset`.
    pub fn stub_path(&self, student_file: &str) -> PathBuf {
        self.dir
            .join("stub")
            .join(Path::new(student_file).file_name().unwrap_or_default())
    }

    /// The grading code, `harness.rs`.
    pub fn harness_path(&self) -> PathBuf {
        self.dir.join("harness.rs")
    }

    /// Every student file present: the listed ones plus anything else under `src/`, sorted,
    /// relative to the exercise folder.
    pub fn student_paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self.manifest.student_files.clone();
        let src = self.dir.join("src");
        if let Ok(files) = aisec_lab::manifest::list_files(&src) {
            paths.extend(files.into_iter().map(|f| format!("src/{f}")));
        }
        paths.sort();
        paths.dedup();
        paths
    }

    /// Position of this exercise's track in [`TRACKS`] (unknown tracks last).
    pub fn track_rank(&self) -> usize {
        TRACKS
            .iter()
            .position(|t| *t == self.manifest.track)
            .unwrap_or(TRACKS.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_tags_are_checked() {
        assert!(is_id("poison-ac") && !is_id("Poison") && !is_id("a/b") && !is_id(""));
        assert!(
            is_atlas("AML.T0043")
                && is_atlas("AML.T0018.001")
                && !is_atlas("T0043")
                && !is_atlas("AML.T43")
        );
        assert!(is_owasp_ml("ML01") && !is_owasp_ml("LLM01") && !is_owasp_ml("ML1"));
        assert!(
            is_plain_relative("src/lib.rs")
                && !is_plain_relative("../x")
                && !is_plain_relative("/etc/passwd")
        );
    }
}
