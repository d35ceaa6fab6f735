//! Grade reports: the data, and its renderings (text, JSON, Markdown, JUnit XML).
//!
//! The JSON form is versioned ([`SCHEMA`]) and documented in `docs/report-schema.md`. It holds
//! nothing that varies between runs of the same seed on the same files (no times, no paths),
//! so re-running a grade reproduces it byte for byte.
//!
//! Much of a report is written by the candidate: compiler output and panic messages, check
//! fields (a harness runs the candidate's code and may carry its error text), the names of
//! files under `src/`, the paths of a returned bundle. Every renderer therefore passes every
//! string through [`sanitize`] first, and each format then escapes what is special to it, so
//! candidate text can neither drive the reader's terminal nor forge a verdict.

use std::collections::BTreeMap;

use aisec_lab::harness::CheckResult;
use serde::{Deserialize, Serialize};

/// Version tag of the JSON report.
pub const SCHEMA: &str = "aisec-report/2";

/// The most bytes [`sanitize`] keeps of one field, its truncation note included.
pub const MAX_FIELD_BYTES: usize = 8 * 1024;

/// Room kept for the truncation note (`… (N more characters)` is at most 42 bytes), so that a
/// cut field, note included, fits in [`MAX_FIELD_BYTES`] and a second pass leaves it alone.
const NOTE_RESERVE: usize = 64;

/// The verdict on one exercise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every check passed.
    Passed,
    /// It ran; at least one check failed.
    Failed,
    /// The candidate's code still reaches a `todo!()`.
    NotStarted,
    /// The exercise does not compile.
    BuildError,
    /// It ran past its time limit.
    TimedOut,
    /// It panicked, aborted or was killed (out of memory, signal).
    Crashed,
    /// Its Cargo.toml breaks the dependency rule, or its manifest is unreadable.
    Refused,
    /// The lab differs from its integrity manifest: nothing is graded.
    Tampered,
}

impl Verdict {
    /// The verdict as written in reports.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::NotStarted => "not started",
            Verdict::BuildError => "build error",
            Verdict::TimedOut => "timed out",
            Verdict::Crashed => "crashed",
            Verdict::Refused => "refused",
            Verdict::Tampered => "tampered",
        }
    }
}

/// How tightly the candidate's code was confined while it was built and run. A report states
/// it because a grade earned under weaker confinement is weaker evidence: the candidate's code
/// had more chances to read hidden data or tamper with the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxLevel {
    /// Landlock filesystem, network and scope rules plus seccomp confine the candidate's code
    /// at build and run time.
    Full,
    /// Some of those are missing (an older kernel, a container that forbids them): the
    /// candidate's code is confined only partly, beyond process isolation and resource limits.
    Partial,
    /// Process isolation only: the candidate's code runs with the grader's own access.
    None,
}

impl SandboxLevel {
    /// The level as written in reports.
    pub fn label(self) -> &'static str {
        match self {
            SandboxLevel::Full => "full",
            SandboxLevel::Partial => "partial",
            SandboxLevel::None => "none",
        }
    }
}

impl From<aisec_sandbox::Level> for SandboxLevel {
    fn from(level: aisec_sandbox::Level) -> SandboxLevel {
        match level {
            aisec_sandbox::Level::Full => SandboxLevel::Full,
            aisec_sandbox::Level::Partial => SandboxLevel::Partial,
            aisec_sandbox::Level::None => SandboxLevel::None,
        }
    }
}

/// One exercise's grade.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExerciseReport {
    /// Exercise id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Track.
    pub track: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Points available.
    pub points: u32,
    /// Points awarded: all of them for a pass, a share proportional to passed checks for a
    /// failure, none otherwise.
    pub score: u32,
    /// sha256 of every student file, by path relative to the exercise folder.
    pub student_files: BTreeMap<String, String>,
    /// The checks, in order.
    pub checks: Vec<CheckResult>,
    /// Why the verdict is what it is, when the checks do not say (compiler errors, panic
    /// message, tampered files...).
    pub message: Option<String>,
    /// Wall time of the check run, milliseconds (text output only: it varies between runs).
    #[serde(skip)]
    pub elapsed_ms: u64,
}

/// Whether the lab matched its integrity manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntegrityReport {
    /// True when every covered file matched.
    pub ok: bool,
    /// The files that did not.
    pub tampered: Vec<String>,
}

/// Totals.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// Exercises graded.
    pub total: usize,
    /// Exercises passed.
    pub passed: usize,
    /// Points awarded.
    pub score: u32,
    /// Points available.
    pub max_score: u32,
}

/// A whole grade.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The aisec version that graded.
    pub tool_version: String,
    /// The seed of the hidden draws.
    pub seed: u64,
    /// Root digest of the lab's integrity manifest (identifies the issued lab).
    pub lab_manifest_sha256: String,
    /// The root digest a course required with `--expect-manifest`, if it passed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_manifest: Option<String>,
    /// The integrity check.
    pub integrity: IntegrityReport,
    /// How the candidate's code was confined. No default: a report read back without one must
    /// fail rather than claim a level nobody measured.
    pub sandbox: SandboxLevel,
    /// One entry per exercise, in teaching order.
    pub exercises: Vec<ExerciseReport>,
    /// Totals.
    pub summary: Summary,
    /// For a returned take-home bundle graded with `aisec grade`: the bundle's non-student
    /// files that differ from the issuer's lab (they did not affect the grade). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_changes: Option<Vec<String>>,
}

impl Report {
    /// A report of `exercises` with its summary filled in, no expected manifest and no bundle
    /// changes (set those fields afterwards when they apply).
    pub fn new(
        tool_version: impl Into<String>,
        seed: u64,
        lab_manifest_sha256: impl Into<String>,
        integrity: IntegrityReport,
        exercises: Vec<ExerciseReport>,
        sandbox: SandboxLevel,
    ) -> Report {
        let mut report = Report {
            schema: SCHEMA.to_owned(),
            tool_version: tool_version.into(),
            seed,
            lab_manifest_sha256: lab_manifest_sha256.into(),
            expected_manifest: None,
            integrity,
            sandbox,
            exercises,
            summary: Summary {
                total: 0,
                passed: 0,
                score: 0,
                max_score: 0,
            },
            bundle_changes: None,
        };
        report.summarise();
        report
    }

    /// Passes every string of the report through [`sanitize`] (file paths through its visible
    /// variant, see [`ExerciseReport::sanitize`]). Idempotent. The renderers do this on a copy
    /// themselves; call it before using the fields directly.
    pub fn sanitize(&mut self) {
        for field in [
            &mut self.schema,
            &mut self.tool_version,
            &mut self.lab_manifest_sha256,
        ] {
            *field = sanitize(field);
        }
        if let Some(expected) = &mut self.expected_manifest {
            *expected = sanitize(expected);
        }
        // Unexpected files in the lab and a returned bundle's paths are named by the candidate.
        for path in self.integrity.tampered.iter_mut() {
            *path = sanitize_path(path);
        }
        for path in self.bundle_changes.iter_mut().flatten() {
            *path = sanitize_path(path);
        }
        for exercise in &mut self.exercises {
            exercise.sanitize();
        }
    }

    /// A sanitized copy, for the renderers.
    fn sanitized(&self) -> Report {
        let mut report = self.clone();
        report.sanitize();
        report
    }

    /// True when every exercise passed (and there was at least one).
    pub fn all_passed(&self) -> bool {
        !self.exercises.is_empty() && self.exercises.iter().all(|e| e.verdict == Verdict::Passed)
    }

    /// Fills `summary` from the exercises.
    pub fn summarise(&mut self) {
        self.summary = Summary {
            total: self.exercises.len(),
            passed: self
                .exercises
                .iter()
                .filter(|e| e.verdict == Verdict::Passed)
                .count(),
            score: self.exercises.iter().map(|e| e.score).sum(),
            max_score: self.exercises.iter().map(|e| e.points).sum(),
        };
    }

    /// The JSON form (pretty-printed, stable, sanitized).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.sanitized())
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

impl ExerciseReport {
    /// Passes every string through [`sanitize`]. Student file names are made visible rather
    /// than stripped (a reviewer must be able to find the file the digest belongs to, and a
    /// bidi override in a file name is evidence worth seeing), and names that still collide
    /// get a ` (2)`, ` (3)`... suffix so that no digest drops out of the attestation. Names
    /// that needed no change keep theirs: a hostile name cannot take over a real file's entry.
    /// Idempotent.
    pub fn sanitize(&mut self) {
        for field in [&mut self.id, &mut self.title, &mut self.track] {
            *field = sanitize(field);
        }
        for check in &mut self.checks {
            for field in [
                &mut check.name,
                &mut check.measured,
                &mut check.bar,
                &mut check.hint,
            ] {
                *field = sanitize(field);
            }
        }
        if let Some(message) = &mut self.message {
            *message = sanitize(message);
        }
        let files = std::mem::take(&mut self.student_files);
        let (clean, dirty): (Vec<_>, Vec<_>) = files
            .into_iter()
            .partition(|(path, _)| sanitize_path(path) == *path);
        for (path, digest) in clean.into_iter().chain(dirty) {
            let base = sanitize_path(&path);
            let mut key = base.clone();
            let mut n = 2;
            while self.student_files.contains_key(&key) {
                key = format!("{base} ({n})");
                n += 1;
            }
            self.student_files.insert(key, sanitize(&digest));
        }
    }
}

/// True for the characters [`sanitize`] removes: control characters but newline and tab
/// (terminal escapes, NUL, carriage returns that overwrite a line), bidi controls that reorder
/// what is displayed ("Trojan Source"), invisible characters (zero-width spaces and joiners,
/// word joiners, the byte-order mark, Unicode tags that smuggle text past a human to a
/// language model), and the two noncharacters XML 1.0 forbids.
fn is_stripped(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFFE}'
                | '\u{FFFF}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

/// `text` safe to show anywhere: without control characters other than `\n` and `\t` (a
/// carriage return goes too, so `\r\n` becomes `\n`), bidi overrides and isolates, and
/// zero-width and other invisible characters; and at most [`MAX_FIELD_BYTES`] long, a cut
/// text ending in `… (N more characters)`. Idempotent: `sanitize(&sanitize(t)) == sanitize(t)`.
pub fn sanitize(text: &str) -> String {
    cap(text.chars().filter(|&c| !is_stripped(c)).collect())
}

/// [`sanitize`] for file paths: each removed character shows as `\u{…}` instead, so the name
/// stays recognisable and the trick visible.
fn sanitize_path(path: &str) -> String {
    let mut visible = String::with_capacity(path.len());
    for c in path.chars() {
        if is_stripped(c) {
            visible.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            visible.push(c);
        }
    }
    cap(visible)
}

/// Cuts `text` to [`MAX_FIELD_BYTES`], note included.
fn cap(text: String) -> String {
    if text.len() <= MAX_FIELD_BYTES {
        return text;
    }
    let mut cut = MAX_FIELD_BYTES - NOTE_RESERVE;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let n_cut = text[cut..].chars().count();
    format!("{}… ({n_cut} more characters)", &text[..cut])
}

/// One line of sanitized text: a newline inside a single-line field would let it start a line
/// of its own, where it could pass for a verdict.
fn one_line(text: &str) -> String {
    text.replace('\n', " ")
}

/// Points for a verdict and its checks: all of them for a pass; for a failure, a share
/// proportional to the passed checks, but only when the exercise's core checks were reached
/// and all passed (side checks such as "stays in the eps-ball" earn nothing on their own, so
/// an identity attack or an empty detector scores 0); none otherwise.
pub fn score(verdict: Verdict, points: u32, checks: &[CheckResult]) -> u32 {
    let core_held = checks.iter().any(|c| c.core) && checks.iter().all(|c| !c.core || c.passed);
    match verdict {
        Verdict::Passed => points,
        Verdict::Failed if core_held => {
            let passed = checks.iter().filter(|c| c.passed).count() as u32;
            points * passed / checks.len() as u32
        }
        _ => 0,
    }
}

/// Colours for [`to_text`]: ANSI escapes, or nothing.
pub struct Palette {
    good: &'static str,
    bad: &'static str,
    warn: &'static str,
    dim: &'static str,
    bold: &'static str,
    reset: &'static str,
}

impl Palette {
    /// ANSI colours when `color`, plain text otherwise.
    pub fn new(color: bool) -> Palette {
        if color {
            Palette {
                good: "\x1b[1;32m",
                bad: "\x1b[1;31m",
                warn: "\x1b[1;33m",
                dim: "\x1b[2m",
                bold: "\x1b[1m",
                reset: "\x1b[0m",
            }
        } else {
            Palette {
                good: "",
                bad: "",
                warn: "",
                dim: "",
                bold: "",
                reset: "",
            }
        }
    }

    fn verdict(&self, v: Verdict) -> String {
        let color = match v {
            Verdict::Passed => self.good,
            Verdict::NotStarted => self.warn,
            _ => self.bad,
        };
        format!("{color}{}{}", v.label(), self.reset)
    }
}

/// The human-readable report. Candidate text is sanitized, single-line fields stay on one
/// line and message lines are indented, so nothing the candidate wrote starts a line of its
/// own or reaches the terminal as an escape.
pub fn to_text(report: &Report, color: bool) -> String {
    let report = &report.sanitized();
    let p = Palette::new(color);
    let mut out = String::new();
    if !report.integrity.ok {
        out.push_str(&format!(
            "{}tampered lab:{} these files differ from the lab manifest, so nothing can pass:\n",
            p.bad, p.reset
        ));
        for f in &report.integrity.tampered {
            out.push_str(&format!("  {}\n", one_line(f)));
        }
        out.push_str(
            "  restore them (git checkout, or a fresh copy of the lab) and check again\n\n",
        );
    }
    if let Some(changes) = report.bundle_changes.as_ref().filter(|c| !c.is_empty()) {
        out.push_str(
            "the returned bundle changed files that are not the candidate's (graded with this lab's own instead):\n",
        );
        for path in changes {
            out.push_str(&format!("  {}\n", one_line(path)));
        }
        out.push('\n');
    }
    for e in &report.exercises {
        out.push_str(&format!(
            "{}{}{} ({}) — {} — {}/{} points{}\n",
            p.bold,
            one_line(&e.id),
            p.reset,
            one_line(&e.track),
            p.verdict(e.verdict),
            e.score,
            e.points,
            if e.elapsed_ms > 0 {
                format!(
                    " {}[{:.1} s]{}",
                    p.dim,
                    e.elapsed_ms as f64 / 1000.0,
                    p.reset
                )
            } else {
                String::new()
            }
        ));
        for c in &e.checks {
            let mark = if c.passed {
                format!("{}ok  {}", p.good, p.reset)
            } else {
                format!("{}FAIL{}", p.bad, p.reset)
            };
            out.push_str(&format!(
                "  {mark} {}: {} (bar: {})\n",
                one_line(&c.name),
                one_line(&c.measured),
                one_line(&c.bar)
            ));
            if !c.passed {
                out.push_str(&format!(
                    "       {}hint: {}{}\n",
                    p.dim,
                    one_line(&c.hint),
                    p.reset
                ));
            }
        }
        if let Some(message) = &e.message {
            for line in message.lines() {
                out.push_str(&format!("  {}{line}{}\n", p.dim, p.reset));
            }
        }
    }
    let s = &report.summary;
    let lab: String = report.lab_manifest_sha256.chars().take(16).collect();
    out.push_str(&format!(
        "\n{}{}/{} exercises passed, {}/{} points{}   seed {}   lab {}   sandbox {}\n",
        p.bold,
        s.passed,
        s.total,
        s.score,
        s.max_score,
        p.reset,
        report.seed,
        if lab.is_empty() {
            "unknown".to_owned()
        } else {
            format!("{lab}…")
        },
        report.sandbox.label()
    ));
    out
}

/// Markdown-escaped inline text, for table cells, headings and prose: `&`, `<` and `>` as HTML
/// entities (no raw HTML), the punctuation that starts emphasis, links, images, code spans,
/// strikethrough, math, cell breaks or a heading's closing sequence backslash-escaped, and
/// newlines as spaces (a newline would end the table row or start a block of its own).
fn md_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '!' | '|' | '~' | '#' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The longest run of `tick` in `text`.
fn longest_run(text: &str, tick: char) -> usize {
    let (mut longest, mut run) = (0, 0);
    for c in text.chars() {
        run = if c == tick { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// A CommonMark code span of `text` on one line: delimited by a backtick run longer than any
/// inside, padded with a space each side when the text starts or ends with a backtick (or
/// with spaces, which CommonMark would otherwise strip). Code spans show HTML literally, so
/// nothing inside is entity-escaped. Not for table cells (see [`md_cell_code`]).
fn md_code(text: &str) -> String {
    let text = one_line(text);
    let ticks = "`".repeat(longest_run(&text, '`') + 1);
    let pad = text.starts_with('`')
        || text.ends_with('`')
        || (text.starts_with(' ') && text.ends_with(' ') && !text.trim().is_empty());
    let space = if pad { " " } else { "" };
    format!("{ticks}{space}{text}{space}{ticks}")
}

/// [`md_code`] inside a table cell: GFM splits cells on `|` before it sees code spans.
fn md_cell_code(text: &str) -> String {
    md_code(text).replace('|', "\\|")
}

/// A fenced code block of `text`: its fence is a backtick run longer than any inside (at least
/// three), so no line of the text can close it early and be read as Markdown — a forged
/// `## fgsm — passed` heading stays code.
fn md_fence(text: &str) -> String {
    let fence = "`".repeat(longest_run(text, '`').max(2) + 1);
    format!("{fence}\n{text}\n{fence}\n")
}

/// The Markdown form, for a person: the grade, every check with what it measured and its bar,
/// the attestation (seed, student-file digests, lab manifest digest, tool version, sandbox
/// level), wall times, and each exercise's talking points for the follow-up interview
/// (`talking_points`: id → points). The same seed and files give the same text except the
/// wall-time lines. Candidate text is sanitized and escaped (inline text) or put in code spans
/// and fences it cannot close, so it renders as text and never as a heading, HTML or a link.
pub fn to_markdown(report: &Report, talking_points: &BTreeMap<String, Vec<String>>) -> String {
    let report = &report.sanitized();
    let s = &report.summary;
    let mut out = format!(
        "# aisec grade report\n\n**{}/{} exercises passed, {}/{} points.**\n\n\
         | | |\n| --- | --- |\n| seed | `{}` |\n| lab manifest sha256 | {} |\n",
        s.passed,
        s.total,
        s.score,
        s.max_score,
        report.seed,
        md_cell_code(&report.lab_manifest_sha256),
    );
    if let Some(expected) = &report.expected_manifest {
        out.push_str(&format!(
            "| expected lab manifest | {} |\n",
            md_cell_code(expected)
        ));
    }
    out.push_str(&format!(
        "| tool version | {} |\n| sandbox | {} |\n| lab integrity | {} |\n",
        md_inline(&report.tool_version),
        report.sandbox.label(),
        if report.integrity.ok {
            "ok".to_owned()
        } else {
            format!("TAMPERED: {}", join_inline(&report.integrity.tampered))
        }
    ));
    if let Some(changes) = &report.bundle_changes {
        out.push_str(&format!(
            "| returned bundle | {} |\n",
            if changes.is_empty() {
                "no non-student file changed".to_owned()
            } else {
                format!(
                    "non-student files changed (not used for the grade): {}",
                    join_inline(changes)
                )
            }
        ));
    }
    let wall: u64 = report.exercises.iter().map(|e| e.elapsed_ms).sum();
    out.push_str(&format!("| wall time | {:.1} s |\n", wall as f64 / 1000.0));
    for e in &report.exercises {
        out.push_str(&format!(
            "\n## {} — {}\n\n{} ({}), **{}**, {}/{} points, wall time {:.1} s\n\n",
            md_inline(&e.id),
            md_inline(&e.title),
            md_inline(&e.track),
            md_inline(&e.id),
            e.verdict.label(),
            e.score,
            e.points,
            e.elapsed_ms as f64 / 1000.0
        ));
        for (path, digest) in &e.student_files {
            out.push_str(&format!(
                "- student file {}: sha256 {}\n",
                md_code(path),
                md_code(digest)
            ));
        }
        if !e.checks.is_empty() {
            out.push_str("\n| check | result | measured | bar |\n| --- | --- | --- | --- |\n");
            for c in &e.checks {
                out.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    md_inline(&c.name),
                    if c.passed { "ok" } else { "FAIL" },
                    md_inline(&c.measured),
                    md_inline(&c.bar)
                ));
            }
        }
        if let Some(message) = &e.message {
            out.push('\n');
            out.push_str(&md_fence(message.trim_end()));
        }
        if let Some(points) = talking_points.get(&e.id).filter(|p| !p.is_empty()) {
            out.push_str("\n**Talking points for the follow-up:**\n\n");
            for point in points {
                // The lab's own Markdown (briefs are covered by the integrity manifest), so
                // it keeps its code spans and emphasis; only cleaned and kept on its line.
                out.push_str(&format!("- {}\n", one_line(&sanitize(point))));
            }
        }
    }
    out
}

/// `items` as escaped inline text, comma-separated.
fn join_inline(items: &[String]) -> String {
    items
        .iter()
        .map(|item| md_inline(item))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The bullet points under a brief's `## Talking points` heading (continuation lines joined).
pub fn talking_points(brief: &str) -> Vec<String> {
    let mut points: Vec<String> = Vec::new();
    let mut inside = false;
    for line in brief.lines() {
        if line.starts_with("## ") {
            inside = line.trim() == "## Talking points";
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(point) = line.strip_prefix("- ") {
            points.push(point.trim().to_owned());
        } else if line.starts_with("  ") && !line.trim().is_empty() {
            if let Some(last) = points.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        }
    }
    points
}

/// The JUnit XML form: one test suite per exercise, one test case per check (or one test case
/// named after the verdict when the exercise never reached its checks).
///
/// Every test suite carries the attestation as properties. Text is sanitized, which also keeps
/// out every character XML 1.0 forbids (quick-xml escapes markup but passes those through).
pub fn to_junit(report: &Report) -> String {
    use quick_xml::Writer;
    use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

    let report = &report.sanitized();
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    let total_cases: usize = report.exercises.iter().map(|e| e.checks.len().max(1)).sum();
    let failures: usize = report
        .exercises
        .iter()
        .map(|e| {
            if e.checks.is_empty() {
                usize::from(e.verdict != Verdict::Passed)
            } else {
                e.checks.iter().filter(|c| !c.passed).count()
            }
        })
        .sum();
    let _ = writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let mut suites = BytesStart::new("testsuites");
    suites.push_attribute(("name", "aisec"));
    suites.push_attribute(("tests", total_cases.to_string().as_str()));
    suites.push_attribute(("failures", failures.to_string().as_str()));
    let _ = writer.write_event(Event::Start(suites));
    for e in &report.exercises {
        let mut suite = BytesStart::new("testsuite");
        let cases = e.checks.len().max(1);
        let failed = if e.checks.is_empty() {
            usize::from(e.verdict != Verdict::Passed)
        } else {
            e.checks.iter().filter(|c| !c.passed).count()
        };
        suite.push_attribute(("name", e.id.as_str()));
        suite.push_attribute(("tests", cases.to_string().as_str()));
        suite.push_attribute(("failures", failed.to_string().as_str()));
        let _ = writer.write_event(Event::Start(suite));
        let mut properties = vec![
            ("verdict", e.verdict.label().to_owned()),
            ("seed", report.seed.to_string()),
            ("sandbox", report.sandbox.label().to_owned()),
            ("lab_manifest_sha256", report.lab_manifest_sha256.clone()),
        ];
        if let Some(expected) = &report.expected_manifest {
            properties.push(("expected_manifest", expected.clone()));
        }
        properties.push((
            "integrity",
            if report.integrity.ok {
                "ok".to_owned()
            } else {
                format!("tampered: {}", report.integrity.tampered.join(", "))
            },
        ));
        properties.push(("tool_version", report.tool_version.clone()));
        properties.extend(
            e.student_files
                .iter()
                .map(|(k, v)| ("sha256", format!("{k}={v}"))),
        );
        let _ = writer.write_event(Event::Start(BytesStart::new("properties")));
        for (name, value) in properties {
            let mut property = BytesStart::new("property");
            property.push_attribute(("name", name));
            property.push_attribute(("value", value.as_str()));
            let _ = writer.write_event(Event::Empty(property));
        }
        let _ = writer.write_event(Event::End(BytesEnd::new("properties")));
        let classname = format!("aisec.{}", e.id);
        let mut case = |name: &str, failure: Option<(String, String)>| {
            let mut tc = BytesStart::new("testcase");
            tc.push_attribute(("classname", classname.as_str()));
            tc.push_attribute(("name", name));
            match failure {
                None => {
                    let _ = writer.write_event(Event::Empty(tc));
                }
                Some((message, body)) => {
                    let _ = writer.write_event(Event::Start(tc));
                    let mut f = BytesStart::new("failure");
                    f.push_attribute(("message", message.as_str()));
                    let _ = writer.write_event(Event::Start(f));
                    let _ = writer.write_event(Event::Text(BytesText::new(&body)));
                    let _ = writer.write_event(Event::End(BytesEnd::new("failure")));
                    let _ = writer.write_event(Event::End(BytesEnd::new("testcase")));
                }
            }
        };
        if e.checks.is_empty() {
            let failure = (e.verdict != Verdict::Passed).then(|| {
                (
                    e.verdict.label().to_owned(),
                    e.message.clone().unwrap_or_default(),
                )
            });
            case(e.verdict.label(), failure);
        } else {
            for c in &e.checks {
                let failure = (!c.passed).then(|| {
                    (
                        format!("{} (bar: {})", c.measured, c.bar),
                        format!("measured: {}\nbar: {}\nhint: {}", c.measured, c.bar, c.hint),
                    )
                });
                case(&c.name, failure);
            }
        }
        let _ = writer.write_event(Event::End(BytesEnd::new("testsuite")));
    }
    let _ = writer.write_event(Event::End(BytesEnd::new("testsuites")));
    let mut xml = String::from_utf8_lossy(&writer.into_inner()).into_owned();
    xml.push('\n');
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    const PALETTE: [&str; 6] = [
        "\x1b[1;32m",
        "\x1b[1;31m",
        "\x1b[1;33m",
        "\x1b[2m",
        "\x1b[1m",
        "\x1b[0m",
    ];

    /// The message of the bug this pins: a panic message whose fence closed the report's own
    /// and whose next line rendered as a heading saying the exercise had passed.
    const FORGED_HEADING: &str = "boom\n```\n## fgsm — passed\n```\nall good";
    const ANSI: &str = "\x1b[2J\x1b[32mpassed";
    const SCRIPT: &str = "<script>alert(1)</script>";
    const HOSTILE_FILE: &str = "src/a`b``|c\u{202E}sr.rs";

    fn check(name: &str, passed: bool, measured: &str) -> CheckResult {
        CheckResult {
            name: name.to_owned(),
            passed,
            measured: measured.to_owned(),
            bar: format!("bar {SCRIPT} &amp;"),
            hint: format!("hint\0with NUL {ANSI}"),
            core: false,
        }
    }

    #[test]
    fn a_failure_earns_points_only_when_its_core_checks_held() {
        let side = |passed| CheckResult {
            core: false,
            ..check("side", passed, "")
        };
        let core = |passed| CheckResult {
            core: true,
            ..check("core", passed, "")
        };
        // Side checks alone (an identity attack that stays in the ball) earn nothing.
        assert_eq!(score(Verdict::Failed, 10, &[side(true), side(false)]), 0);
        assert_eq!(
            score(Verdict::Failed, 10, &[core(false), side(true), side(true)]),
            0
        );
        assert_eq!(
            score(
                Verdict::Failed,
                10,
                &[core(true), side(true), side(false), side(false)]
            ),
            5
        );
        assert_eq!(score(Verdict::Passed, 10, &[core(true)]), 10);
        assert_eq!(score(Verdict::Crashed, 10, &[core(true)]), 0);
    }

    fn exercise(id: &str, verdict: Verdict, message: Option<&str>) -> ExerciseReport {
        ExerciseReport {
            id: id.to_owned(),
            title: format!("{id} title"),
            track: "evasion".to_owned(),
            verdict,
            points: 10,
            score: 0,
            student_files: BTreeMap::from([
                ("src/lib.rs".to_owned(), "ab".repeat(32)),
                (HOSTILE_FILE.to_owned(), "cd".repeat(32)),
            ]),
            checks: Vec::new(),
            message: message.map(str::to_owned),
            elapsed_ms: 0,
        }
    }

    /// Two exercises, every candidate-reachable field hostile, nothing sanitized yet.
    fn hostile_report() -> Report {
        let mut crashed = exercise(
            "fgsm",
            Verdict::Crashed,
            Some(&format!(
                "{FORGED_HEADING}\n{ANSI}\n{SCRIPT}\r\nnul\0here \u{202E}drow"
            )),
        );
        crashed.checks = vec![
            check("eps 0.05 | in ball\n## pgd — passed", false, SCRIPT),
            check(&format!("name {ANSI}"), true, "max |adv - x| = 0.05"),
        ];
        let failed = exercise("pgd", Verdict::BuildError, Some("error[E0308]: `Vec<f32>`"));
        let mut report = Report::new(
            "0.1.0",
            5,
            "0123abcd".repeat(8),
            IntegrityReport {
                ok: false,
                tampered: vec![format!("exercises/x\x1b[2J{SCRIPT}")],
            },
            vec![crashed, failed],
            SandboxLevel::Full,
        );
        report.bundle_changes = Some(vec![format!("notes\n## fgsm — passed\u{200B}.md")]);
        report
    }

    /// Every string (keys included) of a JSON value.
    fn strings(value: &serde_json::Value) -> Vec<String> {
        match value {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(items) => items.iter().flat_map(strings).collect(),
            serde_json::Value::Object(map) => map
                .iter()
                .flat_map(|(k, v)| std::iter::once(k.clone()).chain(strings(v)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The level-2 ATX headings a CommonMark reader sees, outside fenced code blocks (a fence
    /// closes on a run of its character at least as long as the opening one, nothing after).
    fn md_headings(markdown: &str) -> Vec<String> {
        let mut headings = Vec::new();
        let mut fence: Option<(char, usize)> = None;
        for line in markdown.lines() {
            let trimmed = line.trim_start_matches(' ');
            let indented = line.len() - trimmed.len() > 3;
            let run = |c: char| trimmed.chars().take_while(|&t| t == c).count();
            match fence {
                Some((c, n)) => {
                    if !indented && run(c) >= n && trimmed[run(c)..].trim().is_empty() {
                        fence = None;
                    }
                }
                None if indented => {}
                None => {
                    if let Some(c) = ['`', '~'].into_iter().find(|&c| run(c) >= 3) {
                        fence = Some((c, run(c)));
                    } else if trimmed.starts_with("## ") {
                        headings.push(trimmed.to_owned());
                    }
                }
            }
        }
        assert!(fence.is_none(), "unclosed fence:\n{markdown}");
        headings
    }

    /// Parses `xml` to the end (well-formed, balanced) and returns every attribute value and
    /// text node, unescaped.
    fn xml_values(xml: &str) -> Vec<String> {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(xml);
        let (mut values, mut text, mut depth) = (Vec::new(), String::new(), 0i32);
        loop {
            let event = reader.read_event().unwrap_or_else(|e| panic!("{e}\n{xml}"));
            if !matches!(event, Event::Text(_) | Event::GeneralRef(_)) && !text.is_empty() {
                values.push(std::mem::take(&mut text));
            }
            depth += i32::from(matches!(event, Event::Start(_)));
            match event {
                Event::Start(e) | Event::Empty(e) => {
                    for attribute in e.attributes() {
                        values.push(attribute.unwrap().unescape_value().unwrap().into_owned());
                    }
                }
                Event::End(_) => depth -= 1,
                Event::Text(t) => text.push_str(&t.decode().unwrap()),
                Event::GeneralRef(r) => {
                    let name = r.decode().unwrap();
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name);
                    text.push_str(resolved.unwrap_or_else(|| panic!("entity &{name};")));
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(depth, 0, "unbalanced XML:\n{xml}");
        values
    }

    #[test]
    fn sanitize_strips_controls_bidi_and_invisibles_and_keeps_newlines_and_tabs() {
        let hostile = "a\x1b[2Jb\0c\r\nd\te\u{7f}f\u{9b}g\u{202E}h\u{2067}i\u{200B}j\u{FEFF}k\u{E0041}l\u{FFFF}m\rn";
        assert_eq!(sanitize(hostile), "a[2Jbc\nd\tefghijklmn");
        assert_eq!(
            sanitize("plain — unicode stays: é, ∞, 数"),
            "plain — unicode stays: é, ∞, 数"
        );
    }

    #[test]
    fn sanitize_caps_long_fields_with_a_count_of_what_was_cut() {
        // 'é' is two bytes: the cut must land on a character boundary.
        let long = "é".repeat(10_000);
        let capped = sanitize(&long);
        assert!(capped.len() <= MAX_FIELD_BYTES, "{} bytes", capped.len());
        let kept = capped.chars().take_while(|&c| c == 'é').count();
        assert!(kept > 4000, "kept only {kept}");
        assert_eq!(
            &capped[kept * 2..],
            format!("… ({} more characters)", 10_000 - kept)
        );
        let exactly = "x".repeat(MAX_FIELD_BYTES);
        assert_eq!(sanitize(&exactly), exactly, "a field at the cap is not cut");
    }

    #[test]
    fn sanitize_is_idempotent() {
        let long_hostile = format!("{ANSI}{}", "\u{202E}ab".repeat(5_000));
        let long = "x".repeat(3 * MAX_FIELD_BYTES);
        for text in [
            FORGED_HEADING,
            ANSI,
            SCRIPT,
            HOSTILE_FILE,
            "\r\r\n\0",
            &long_hostile,
            &long,
        ] {
            let once = sanitize(text);
            assert_eq!(sanitize(&once), once, "{text:?}");
            let path = sanitize_path(text);
            assert_eq!(sanitize_path(&path), path, "{text:?}");
        }
        let mut report = hostile_report();
        report.sanitize();
        let once = report.to_json();
        report.sanitize();
        assert_eq!(report.to_json(), once);
    }

    #[test]
    fn report_sanitize_reaches_every_string_field() {
        let mut report = hostile_report();
        report.expected_manifest = Some("ef\x1b".repeat(21));
        report.sanitize();
        let value = serde_json::to_value(&report).unwrap();
        let all = strings(&value);
        assert!(all.len() > 25, "the walk missed the fields: {all:?}");
        for s in &all {
            assert!(
                !s.chars().any(is_stripped),
                "{s:?} kept a stripped character"
            );
        }
        let fgsm = &report.exercises[0];
        assert_eq!(
            fgsm.student_files.keys().collect::<Vec<_>>(),
            ["src/a`b``|c\\u{202e}sr.rs", "src/lib.rs"],
            "file names show the bidi override instead of obeying it"
        );
        assert_eq!(fgsm.checks[1].name, "name [2J[32mpassed");
    }

    #[test]
    fn student_files_that_collide_once_cleaned_keep_every_digest() {
        let mut e = exercise("fgsm", Verdict::Passed, None);
        e.student_files = BTreeMap::from([
            ("src/lib.rs".to_owned(), "real".to_owned()),
            // A file really named with a backslash, and one that shows as the same name; the
            // hostile one sorts first, so without care it would take the real name's key.
            ("\\u{1}src/lib.rs".to_owned(), "literal".to_owned()),
            ("\u{1}src/lib.rs".to_owned(), "hostile".to_owned()),
            ("src/lib.rs\u{200B}".to_owned(), "zero-width".to_owned()),
        ]);
        e.sanitize();
        let files: Vec<(&str, &str)> = e
            .student_files
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            files,
            [
                ("\\u{1}src/lib.rs", "literal"),
                ("\\u{1}src/lib.rs (2)", "hostile"),
                ("src/lib.rs", "real"),
                ("src/lib.rs\\u{200b}", "zero-width"),
            ]
        );
        let once = e.student_files.clone();
        e.sanitize();
        assert_eq!(e.student_files, once);
    }

    #[test]
    fn markdown_cannot_forge_headings_html_or_escapes() {
        let markdown = to_markdown(&hostile_report(), &BTreeMap::new());
        assert_eq!(
            md_headings(&markdown),
            ["## fgsm — fgsm title", "## pgd — pgd title"],
            "\n{markdown}"
        );
        assert!(!markdown.contains(['\x1b', '\0', '\r', '\u{202E}', '\u{200B}']));
        // The message is in a fence longer than its own, whole and unescaped (code shows
        // HTML literally), with only the sanitizer's changes.
        assert!(
            markdown.contains(&format!(
                "\n````\n{FORGED_HEADING}\n[2J[32mpassed\n{SCRIPT}\nnulhere drow\n````\n"
            )),
            "{markdown}"
        );
        assert!(
            markdown.contains("\n```\nerror[E0308]: `Vec<f32>`\n```\n"),
            "{markdown}"
        );
        // Outside code, markup is escaped: the only raw `<script>` is inside the fence.
        assert_eq!(markdown.matches(SCRIPT).count(), 1, "{markdown}");
        // A candidate's own entity stays text: `&amp;` must not render as `&`.
        assert!(markdown.contains("bar &lt;script&gt;alert(1)&lt;/script&gt; &amp;amp;"));
        // A check name cannot end its table row, and its `|` stays in its cell.
        let row = markdown
            .lines()
            .find(|l| l.starts_with("| eps 0.05"))
            .unwrap();
        assert_eq!(
            row,
            "| eps 0.05 \\| in ball \\#\\# pgd — passed | FAIL | &lt;script&gt;alert(1)&lt;/script&gt; | bar &lt;script&gt;alert(1)&lt;/script&gt; &amp;amp; |"
        );
        assert_eq!(row.matches('|').count() - row.matches("\\|").count(), 5);
        // Backticks in a file name get a longer delimiter, so the span holds the whole name.
        assert!(
            markdown.contains("- student file ```src/a`b``|c\\u{202e}sr.rs```: sha256 `cdcd"),
            "{markdown}"
        );
        assert!(markdown.contains(
            "| returned bundle | non-student files changed (not used for the grade): notes \\#\\# fgsm — passed\\\\u{200b}.md |"
        ));
    }

    #[test]
    fn markdown_code_spans_and_fences_outlast_the_backticks_inside() {
        assert_eq!(md_code("src/lib.rs"), "`src/lib.rs`");
        assert_eq!(md_code("a``b"), "```a``b```");
        // Padded, or CommonMark would read the edge backtick as part of the delimiter.
        assert_eq!(md_code("`x.rs"), "`` `x.rs ``");
        assert_eq!(md_code(" x "), "`  x  `");
        assert_eq!(md_code("a\nb"), "`a b`");
        assert_eq!(md_cell_code("a|b"), "`a\\|b`");
        assert_eq!(md_fence("no ticks"), "```\nno ticks\n```\n");
        assert_eq!(md_fence("x\n`````\ny"), "``````\nx\n`````\ny\n``````\n");
    }

    #[test]
    fn markdown_states_the_sandbox_and_the_expected_manifest() {
        let mut report = hostile_report();
        let markdown = to_markdown(&report, &BTreeMap::new());
        assert!(markdown.contains("\n| sandbox | full |\n"), "{markdown}");
        assert!(!markdown.contains("expected lab manifest"));
        report.expected_manifest = Some("fe".repeat(32));
        report.sandbox = SandboxLevel::Partial;
        let markdown = to_markdown(&report, &BTreeMap::new());
        assert!(markdown.contains(&format!(
            "\n| expected lab manifest | `{}` |\n",
            "fe".repeat(32)
        )));
        assert!(markdown.contains("\n| sandbox | partial |\n"));
    }

    #[test]
    fn text_has_no_candidate_escapes_and_no_forged_lines() {
        let report = hostile_report();
        let plain = to_text(&report, false);
        assert!(
            !plain.contains(['\x1b', '\0', '\r', '\u{202E}']),
            "{plain:?}"
        );
        let mut colored = to_text(&report, true);
        for code in PALETTE {
            colored = colored.replace(code, "");
        }
        assert!(!colored.contains('\x1b'), "{colored:?}");
        assert_eq!(colored, plain, "colour adds nothing but the palette");
        // Candidate text never starts a line: the forged "## pgd — passed" stays indented.
        let unindented: Vec<&str> = plain
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with(' '))
            .collect();
        assert_eq!(
            unindented,
            [
                "tampered lab: these files differ from the lab manifest, so nothing can pass:",
                "the returned bundle changed files that are not the candidate's (graded with this lab's own instead):",
                "fgsm (evasion) — crashed — 0/10 points",
                "pgd (evasion) — build error — 0/10 points",
                "0/2 exercises passed, 0/20 points   seed 5   lab 0123abcd0123abcd…   sandbox full",
            ]
        );
    }

    #[test]
    fn junit_is_legal_xml_with_the_attestation_on_every_suite() {
        let mut report = hostile_report();
        report.expected_manifest = Some("fe".repeat(32));
        let xml = to_junit(&report);
        // XML 1.0 `Char`: quick-xml does not check it, so check every character here.
        let legal = |c: char| {
            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
                || c >= '\u{10000}'
        };
        assert!(xml.chars().all(legal), "{xml:?}");
        assert!(
            !xml.contains("&#"),
            "no character references to smuggle them back in"
        );
        assert!(!xml.contains("<script"), "{xml}");
        let values = xml_values(&xml);
        assert!(
            values
                .iter()
                .any(|v| v.contains("bar: bar <script>alert(1)</script> &amp;")),
            "{values:?}"
        );
        assert!(
            !values
                .iter()
                .any(|v| v.contains(['\x1b', '\0', '\u{202E}']))
        );
        let suites = xml.matches("<testsuite ").count();
        assert_eq!(suites, 2);
        for property in [
            "<property name=\"sandbox\" value=\"full\"/>".to_owned(),
            format!(
                "<property name=\"lab_manifest_sha256\" value=\"{}\"/>",
                "0123abcd".repeat(8)
            ),
            format!(
                "<property name=\"expected_manifest\" value=\"{}\"/>",
                "fe".repeat(32)
            ),
            "<property name=\"integrity\" value=\"tampered: exercises/x\\u{1b}[2J&lt;script&gt;alert(1)&lt;/script&gt;\"/>".to_owned(),
            "<property name=\"tool_version\" value=\"0.1.0\"/>".to_owned(),
        ] {
            assert_eq!(xml.matches(&property).count(), suites, "{property}\n{xml}");
        }
    }

    #[test]
    fn json_is_sanitized_and_round_trips_with_the_sandbox_level() {
        let json = hostile_report().to_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        for s in strings(&value) {
            assert!(!s.chars().any(is_stripped), "{s:?}");
        }
        assert_eq!(value["schema"], SCHEMA);
        assert_eq!(value["sandbox"], "full");
        assert!(
            value.get("expected_manifest").is_none(),
            "absent when unset"
        );
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back.sandbox, SandboxLevel::Full);
        assert_eq!(back.to_json(), json);

        let mut with_expected = hostile_report();
        with_expected.expected_manifest = Some("fe".repeat(32));
        let value: serde_json::Value = serde_json::from_str(&with_expected.to_json()).unwrap();
        assert_eq!(value["expected_manifest"], "fe".repeat(32));

        // A report without a sandbox level is refused, not given one.
        let mut unknown = value.clone();
        unknown.as_object_mut().unwrap().remove("sandbox");
        assert!(serde_json::from_value::<Report>(unknown).is_err());
    }

    #[test]
    fn sandbox_levels_are_written_as_their_labels() {
        for level in [
            SandboxLevel::Full,
            SandboxLevel::Partial,
            SandboxLevel::None,
        ] {
            let json = serde_json::to_value(level).unwrap();
            assert_eq!(json, level.label());
            assert_eq!(serde_json::from_value::<SandboxLevel>(json).unwrap(), level);
        }
    }

    #[test]
    fn sandbox_levels_keep_the_probed_level() {
        use aisec_sandbox::Level;
        for (probed, level) in [
            (Level::Full, SandboxLevel::Full),
            (Level::Partial, SandboxLevel::Partial),
            (Level::None, SandboxLevel::None),
        ] {
            assert_eq!(SandboxLevel::from(probed), level);
            assert_eq!(probed.to_string(), level.label());
        }
    }

    #[test]
    fn new_fills_the_summary() {
        let mut passed = exercise("fgsm", Verdict::Passed, None);
        passed.score = 10;
        let report = Report::new(
            "0.1.0",
            1,
            "",
            IntegrityReport {
                ok: true,
                tampered: Vec::new(),
            },
            vec![passed, exercise("pgd", Verdict::Failed, None)],
            SandboxLevel::None,
        );
        assert_eq!(report.schema, SCHEMA);
        assert_eq!(
            (report.summary.total, report.summary.passed),
            (2, 1),
            "{report:?}"
        );
        assert_eq!((report.summary.score, report.summary.max_score), (10, 20));
        assert!(to_text(&report, false).ends_with("   lab unknown   sandbox none\n"));
    }
}
