//! An exercise as the grader sees it: its folder and its checked `exercise.toml`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub use aisec_lab::exercise::{
    Calibration, DeclaredCheck, Difficulty, ExerciseManifest, FORMAT, Kind, is_id,
    is_plain_relative,
};

/// The tracks, in the order they are taught; exercises of other tracks come after, by name.
pub const TRACKS: [&str; 6] = [
    "evasion",
    "poisoning",
    "privacy",
    "supply-chain",
    "llm",
    "model-theft",
];

/// An exercise found in the lab.
#[derive(Debug, Clone)]
pub struct Exercise {
    /// Its folder, `exercises/<id>/`.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: ExerciseManifest,
}

impl Exercise {
    /// Reads `dir/exercise.toml`.
    pub fn load(dir: &Path) -> Result<Exercise> {
        let path = dir.join("exercise.toml");
        let manifest = ExerciseManifest::load(dir).map_err(|e| match e {
            aisec_lab::Error::Malformed { path, reason } => Error::manifest(path, reason),
            other => Error::Lab(other),
        })?;
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

/// A `--set key=value` value read as the type of the `[demo]` default it replaces: a list
/// (comma-separated), an integer, a float, a boolean or text.
fn demo_value(default: &toml::Value, text: &str) -> std::result::Result<serde_json::Value, String> {
    use serde_json::Value as Json;
    let scalar = |like: &toml::Value, text: &str| -> std::result::Result<Json, String> {
        let text = text.trim();
        match like {
            toml::Value::Integer(_) => text
                .parse::<i64>()
                .map(Json::from)
                .map_err(|_| format!("{text:?} is not a whole number")),
            toml::Value::Float(_) => text
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Json::from)
                .ok_or_else(|| format!("{text:?} is not a number")),
            toml::Value::Boolean(_) => text
                .parse::<bool>()
                .map(Json::from)
                .map_err(|_| format!("{text:?} is not true or false")),
            _ => Ok(Json::from(text)),
        }
    };
    match default {
        toml::Value::Array(items) => {
            let like = items
                .first()
                .cloned()
                .unwrap_or(toml::Value::String(String::new()));
            text.split(',')
                .filter(|part| !part.trim().is_empty())
                .map(|part| scalar(&like, part))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Json::Array)
        }
        other => scalar(other, text),
    }
}

impl Exercise {
    /// The demo options among `sets` (`key=value` pairs from `aisec demo --set`) that this
    /// exercise's `[demo]` table declares, typed like its defaults; the keys it took.
    pub fn demo_overrides(
        &self,
        sets: &[(String, String)],
    ) -> Result<(serde_json::Map<String, serde_json::Value>, Vec<String>)> {
        let mut options = serde_json::Map::new();
        let mut taken = Vec::new();
        for (key, text) in sets {
            let Some(default) = self.manifest.demo.get(key) else {
                continue;
            };
            let value = demo_value(default, text).map_err(|why| {
                Error::Usage(format!("--set {key}={text} for {}: {why}", self.id()))
            })?;
            options.insert(key.clone(), value);
            taken.push(key.clone());
        }
        Ok((options, taken))
    }
}
