//! `exercise.toml`, the one description of an exercise that the grader, the exercise's checker
//! and the integrity check all read: parsed and validated here, in one place.
//!
//! The tables an exercise's checker reads are kept apart by what they mean: `[settings]` sizes
//! the work (digits per batch, epochs), `[bars]` is what the candidate is held to, `[demo]` the
//! demo's defaults, and `[[checks]]` names every check the checker may record. Each harness
//! reads `[settings]`, `[bars]` and `[demo]` as its own serde structs, so a misspelt key fails
//! when the checker loads them, before any candidate code runs.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The `exercise.toml` format this version reads.
pub const FORMAT: u32 = 2;

/// The name of the check a checker records when it could not grade (a harness error); every
/// exercise may record it, failed, without declaring it.
pub const GRADING_CHECK: &str = "grading";

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

/// The calibration that set the bars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// The command that measured it.
    pub command: String,
    /// What it measured, and how the bars follow from it.
    pub notes: String,
}

/// A check the exercise's checker may record, as `exercise.toml` declares it.
///
/// A name may hold placeholders such as `{eps}` for a part the checker fills in at run time
/// (a budget, a poisoning plan); a placeholder stands for 1 to [`PLACEHOLDER_MAX`] characters
/// of letters, digits, spaces and `. % + - →`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredCheck {
    /// The check's name, or a pattern of names with placeholders.
    pub name: String,
    /// A check of the exercise's core property (FGSM's exact step, PGD's strength, detection,
    /// separation): a failed exercise earns points only if it recorded core checks and passed
    /// them all, so a submission that does nothing useful scores 0.
    #[serde(default)]
    pub core: bool,
}

/// The longest text one placeholder of a check name stands for.
pub const PLACEHOLDER_MAX: usize = 40;

/// Literal characters a pattern must have beyond its placeholders, so that no pattern
/// matches nearly anything.
const MIN_LITERAL_CHARS: usize = 4;

enum Piece<'a> {
    Literal(&'a str),
    Placeholder,
}

/// `pattern` split into literals and placeholders; `None` for a malformed pattern (an
/// unclosed or empty brace, or two placeholders side by side).
fn pieces(pattern: &str) -> Option<Vec<Piece<'_>>> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            None => {
                out.push(Piece::Literal(rest));
                break;
            }
            Some(at) if rest.as_bytes()[at] == b'}' => return None,
            Some(at) => {
                if at > 0 {
                    out.push(Piece::Literal(&rest[..at]));
                }
                let close = rest[at..].find('}')? + at;
                let label = &rest[at + 1..close];
                let well_named =
                    !label.is_empty() && label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
                if !well_named || matches!(out.last(), Some(Piece::Placeholder)) {
                    return None;
                }
                out.push(Piece::Placeholder);
                rest = &rest[close + 1..];
            }
        }
    }
    Some(out)
}

fn placeholder_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '%' | '+' | '-' | '→')
}

fn matches_pieces(pieces: &[Piece<'_>], name: &str) -> bool {
    match pieces.split_first() {
        None => name.is_empty(),
        Some((Piece::Literal(literal), rest)) => name
            .strip_prefix(literal)
            .is_some_and(|tail| matches_pieces(rest, tail)),
        Some((Piece::Placeholder, rest)) => {
            // Every length the placeholder may take, shortest first.
            for (taken, (at, c)) in name.char_indices().enumerate() {
                if taken == PLACEHOLDER_MAX || !placeholder_char(c) {
                    break;
                }
                if matches_pieces(rest, &name[at + c.len_utf8()..]) {
                    return true;
                }
            }
            false
        }
    }
}

impl DeclaredCheck {
    /// Whether `name` is this check (equal to it, or an instance of its pattern).
    pub fn matches(&self, name: &str) -> bool {
        pieces(&self.name).is_some_and(|p| matches_pieces(&p, name))
    }
}

/// The declared check that `name` is, if any.
pub fn declared<'a>(checks: &'a [DeclaredCheck], name: &str) -> Option<&'a DeclaredCheck> {
    checks.iter().find(|c| c.matches(name))
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
    /// OWASP Top 10 for LLM Applications (2025) ids (`LLM01`), for the LLM track.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owasp_llm: Vec<String>,
    /// The files the candidate edits, relative to the exercise folder.
    pub student_files: Vec<String>,
    /// Wall-clock limit for one check run, seconds.
    pub time_limit_s: u64,
    /// Address-space limit of the check process, MiB.
    pub memory_limit_mb: u64,
    /// Hints, in the order `aisec hint` gives them.
    pub hints: Vec<String>,
    /// Shipped models the exercise reads that a take-home bundle carries only when a chosen
    /// exercise names them (file names under `models/`, from [`crate::llm::ON_DEMAND_MODELS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// How much work a check run does (counts, epochs); read by the harness as its `Settings`.
    #[serde(default)]
    pub settings: toml::Table,
    /// What the candidate is held to; read by the harness as its `Bars`.
    #[serde(default)]
    pub bars: toml::Table,
    /// The demo's defaults, which `aisec demo --set key=value` overrides; read by the harness
    /// as its `Demo`.
    #[serde(default)]
    pub demo: toml::Table,
    /// Every check the checker may record; a result with any other is refused.
    pub checks: Vec<DeclaredCheck>,
    /// How the bars were set.
    pub calibration: Calibration,
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

fn is_owasp_llm(s: &str) -> bool {
    s.len() == 5 && s.starts_with("LLM") && s[3..].bytes().all(|b| b.is_ascii_digit())
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

/// Why the declared checks are not acceptable, if they are not.
fn checks_problem(checks: &[DeclaredCheck]) -> Option<String> {
    if checks.is_empty() {
        return Some("[[checks]] must declare at least one check".into());
    }
    if !checks.iter().any(|c| c.core) {
        return Some("[[checks]] must mark the exercise's core property with core = true".into());
    }
    for (i, check) in checks.iter().enumerate() {
        let Some(parts) = pieces(&check.name) else {
            return Some(format!(
                "check {:?}: a placeholder is written {{name}} (a-z and _), one at a time",
                check.name
            ));
        };
        let literal: usize = parts
            .iter()
            .map(|p| match p {
                Piece::Literal(l) => l.chars().count(),
                Piece::Placeholder => 0,
            })
            .sum();
        if literal < MIN_LITERAL_CHARS || check.name.chars().any(char::is_control) {
            return Some(format!(
                "check {:?} needs at least {MIN_LITERAL_CHARS} characters besides its \
                 placeholders and no control characters",
                check.name
            ));
        }
        if check.name == GRADING_CHECK {
            return Some(format!("check name {GRADING_CHECK:?} is reserved"));
        }
        if checks[..i].iter().any(|c| c.name == check.name) {
            return Some(format!("check {:?} is declared twice", check.name));
        }
    }
    None
}

/// Which typed table of `exercise.toml` a harness reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `[settings]`.
    Settings,
    /// `[bars]`.
    Bars,
    /// `[demo]`.
    Demo,
}

impl Section {
    /// The table's name in `exercise.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Section::Settings => "settings",
            Section::Bars => "bars",
            Section::Demo => "demo",
        }
    }
}

impl ExerciseManifest {
    /// Parses and validates `text`, read from `path` in folder `folder_name`.
    pub fn parse(text: &str, path: &Path, folder_name: &str) -> Result<ExerciseManifest> {
        let bad = |reason: String| Err(Error::malformed(path, reason));
        // The format is read first, so that an older file is told what changed rather than
        // which field it lacks.
        let format = toml::from_str::<toml::Table>(text)
            .ok()
            .and_then(|t| t.get("format").and_then(toml::Value::as_integer));
        if let Some(format) = format.filter(|f| *f != i64::from(FORMAT)) {
            return bad(format!(
                "format {format} is not supported (this aisec reads format {FORMAT}: \
                 [thresholds] became [settings] for counts and [bars] for what is graded, \
                 and [[checks]] declares every check)"
            ));
        }
        let m: ExerciseManifest = toml::from_str(text)
            .map_err(|e| Error::malformed(path, format!("not a valid exercise manifest: {e}")))?;
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
        if let Some(bad_id) = m.owasp_llm.iter().find(|a| !is_owasp_llm(a)) {
            return bad(format!(
                "owasp_llm id {bad_id:?} is not an OWASP Top 10 for LLM Applications id like LLM01"
            ));
        }
        if let Some(model) = m
            .models
            .iter()
            .find(|model| !crate::llm::ON_DEMAND_MODELS.contains(&model.as_str()))
        {
            return bad(format!(
                "models lists {model:?}; only {:?} are carried on demand",
                crate::llm::ON_DEMAND_MODELS
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
        if let Some(problem) = checks_problem(&m.checks) {
            return bad(problem);
        }
        Ok(m)
    }

    /// Reads and validates `dir/exercise.toml`.
    pub fn load(dir: &Path) -> Result<ExerciseManifest> {
        let path = dir.join("exercise.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
        let folder = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        ExerciseManifest::parse(&text, &path, &folder)
    }

    /// The table `section` as the harness's type `T`; a missing, misspelt or mistyped key
    /// is an error naming the table and the key.
    pub fn section<T: DeserializeOwned>(&self, section: Section) -> Result<T> {
        let table = match section {
            Section::Settings => &self.settings,
            Section::Bars => &self.bars,
            Section::Demo => &self.demo,
        };
        T::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
            Error::malformed(
                PathBuf::from(format!("exercises/{}/exercise.toml", self.id)),
                format!("[{}]: {}", section.name(), e.message()),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str) -> DeclaredCheck {
        DeclaredCheck {
            name: name.into(),
            core: false,
        }
    }

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
        assert!(is_owasp_llm("LLM01") && !is_owasp_llm("ML01") && !is_owasp_llm("LLM1"));
        assert!(
            is_plain_relative("src/lib.rs")
                && !is_plain_relative("../x")
                && !is_plain_relative("/etc/passwd")
        );
    }

    #[test]
    fn check_patterns_match_their_instances_only() {
        let eps = check("eps {eps}: runs");
        assert!(eps.matches("eps 0.27: runs") && eps.matches("eps 0.05: runs"));
        assert!(!eps.matches("eps : runs") && !eps.matches("eps 0.27: runs twice"));
        assert!(!eps.matches("eps 0.27\n: runs") && !eps.matches("eps 0.2: runs!"));
        let long = format!("eps {}: runs", "9".repeat(PLACEHOLDER_MAX + 1));
        assert!(!eps.matches(&long));
        let plan = check("finds the flipped labels ({plan})");
        assert!(plan.matches("finds the flipped labels (10% of 3 → 8)"));
        assert!(!plan.matches("finds the flipped labels (10% of 3 → 8)) and more"));
        let plain = check("repair recovers the source class");
        assert!(plain.matches("repair recovers the source class"));
        assert!(!plain.matches("repair recovers the source class "));
        let two = check("{a} of {b} flagged");
        assert!(two.matches("3 of 10 flagged") && !two.matches("3 of  flagged"));
    }

    #[test]
    fn malformed_declarations_are_refused() {
        let core = |name: &str| DeclaredCheck {
            name: name.into(),
            core: true,
        };
        assert!(checks_problem(&[core("eps {eps}: runs")]).is_none());
        assert!(checks_problem(&[]).is_some());
        assert!(
            checks_problem(&[check("a plain check")]).is_some(),
            "no core check"
        );
        for bad in [
            "{case}",
            "x {a}{b} y",
            "open {brace",
            "close} brace",
            "{Eps} runs",
            "grading",
        ] {
            assert!(checks_problem(&[core(bad)]).is_some(), "{bad}");
        }
        assert!(checks_problem(&[core("same name"), check("same name")]).is_some());
    }
}
