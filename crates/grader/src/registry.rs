//! The exercises of a lab: every `exercises/<id>/exercise.toml`, in teaching order.

use aisec_lab::LabRoot;

use crate::error::{Error, Result};
use crate::exercise::Exercise;

/// A folder under `exercises/` whose manifest could not be read, and why.
#[derive(Debug, Clone)]
pub struct Broken {
    /// The folder name.
    pub id: String,
    /// What is wrong.
    pub reason: String,
}

/// All exercises of a lab.
#[derive(Debug, Clone)]
pub struct Registry {
    /// Readable exercises, by track, then order, then id.
    pub exercises: Vec<Exercise>,
    /// Folders with an unreadable `exercise.toml`.
    pub broken: Vec<Broken>,
}

impl Registry {
    /// Reads every exercise folder of `lab` (folders without `exercise.toml` are ignored).
    pub fn load(lab: &LabRoot) -> Result<Registry> {
        let dir = lab.exercises();
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io("listing", &dir, e))?;
        let mut exercises = Vec::new();
        let mut broken = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("listing", &dir, e))?;
            let path = entry.path();
            if !path.join("exercise.toml").is_file() {
                continue;
            }
            match Exercise::load(&path) {
                Ok(exercise) => exercises.push(exercise),
                Err(e) => broken.push(Broken {
                    id: entry.file_name().to_string_lossy().into_owned(),
                    reason: e.to_string(),
                }),
            }
        }
        exercises.sort_by(|a, b| {
            (a.track_rank(), &a.manifest.track, a.manifest.order, a.id()).cmp(&(
                b.track_rank(),
                &b.manifest.track,
                b.manifest.order,
                b.id(),
            ))
        });
        broken.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Registry { exercises, broken })
    }

    /// The exercise `id`, or an error listing the known ones.
    pub fn get(&self, id: &str) -> Result<&Exercise> {
        self.exercises.iter().find(|e| e.id() == id).ok_or_else(|| {
            if let Some(b) = self.broken.iter().find(|b| b.id == id) {
                return Error::Usage(format!("exercise {id:?} cannot be read: {}", b.reason));
            }
            let known: Vec<&str> = self.exercises.iter().map(Exercise::id).collect();
            Error::Usage(format!(
                "no exercise {id:?}; known exercises: {}",
                known.join(", ")
            ))
        })
    }

    /// The exercises of `track`, in order; an error naming the known tracks if there are none.
    pub fn track(&self, track: &str) -> Result<Vec<&Exercise>> {
        let found: Vec<&Exercise> = self
            .exercises
            .iter()
            .filter(|e| e.manifest.track == track)
            .collect();
        if found.is_empty() {
            return Err(Error::Usage(format!(
                "no track {track:?}; known tracks: {}",
                self.tracks().join(", ")
            )));
        }
        Ok(found)
    }

    /// Track names, in teaching order.
    pub fn tracks(&self) -> Vec<String> {
        let mut tracks: Vec<String> = Vec::new();
        for e in &self.exercises {
            if !tracks.contains(&e.manifest.track) {
                tracks.push(e.manifest.track.clone());
            }
        }
        tracks
    }
}
