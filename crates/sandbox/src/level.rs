//! How much of the confinement a machine enforces, and the probe that finds out.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How much of the confinement this machine enforces. Ordered: `None < Partial < Full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Neither Landlock nor seccomp filters: only rlimits and the parent-death signal.
    None,
    /// One of the two layers, or Landlock older than ABI 6 (no TCP rules or no scopes).
    Partial,
    /// Landlock ABI 6 or later (filesystem, TCP and scopes) and seccomp filters.
    Full,
}

impl Level {
    /// Combines the Landlock layer's own level with whether seccomp filters are in force.
    pub(crate) fn from_layers(landlock: Level, seccomp: bool) -> Level {
        match (landlock, seccomp) {
            (Level::Full, true) => Level::Full,
            (Level::None, false) => Level::None,
            _ => Level::Partial,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::None => "none",
            Level::Partial => "partial",
            Level::Full => "full",
        })
    }
}

/// Probes the running kernel without confining anything: [`Level::Full`] when Landlock ABI 6
/// or later and seccomp filters are available, [`Level::Partial`] when only one of them or an
/// older Landlock ABI, [`Level::None`] otherwise (or not Linux).
///
/// The probe asks for exactly the Landlock rights the launcher enforces, so a launcher on the
/// same machine reaches the level probed here.
pub fn probe() -> Level {
    crate::confine::probe()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_from_none_to_full() {
        assert!(Level::None < Level::Partial && Level::Partial < Level::Full);
    }

    #[test]
    fn display_and_json_use_the_same_lowercase_names() {
        for (level, name) in [
            (Level::None, "none"),
            (Level::Partial, "partial"),
            (Level::Full, "full"),
        ] {
            assert_eq!(level.to_string(), name);
            assert_eq!(
                serde_json::to_string(&level).unwrap(),
                format!("\"{name}\"")
            );
            assert_eq!(
                serde_json::from_str::<Level>(&format!("\"{name}\"")).unwrap(),
                level
            );
        }
        assert!(serde_json::from_str::<Level>("\"Full\"").is_err());
    }

    #[test]
    fn full_needs_both_layers_and_none_needs_neither() {
        assert_eq!(Level::from_layers(Level::Full, true), Level::Full);
        assert_eq!(Level::from_layers(Level::Full, false), Level::Partial);
        assert_eq!(Level::from_layers(Level::Partial, true), Level::Partial);
        assert_eq!(Level::from_layers(Level::None, true), Level::Partial);
        assert_eq!(Level::from_layers(Level::Partial, false), Level::Partial);
        assert_eq!(Level::from_layers(Level::None, false), Level::None);
    }
}
