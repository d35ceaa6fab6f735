//! Grade reports: the data, and its three renderings (text, JSON, JUnit XML).
//!
//! The JSON form is versioned ([`SCHEMA`]) and documented in `docs/report-schema.md`. It holds
//! nothing that varies between runs of the same seed on the same files (no times, no paths),
//! so re-running a grade reproduces it byte for byte.

use std::collections::BTreeMap;

use aisec_lab::harness::CheckResult;
use serde::{Deserialize, Serialize};

/// Version tag of the JSON report.
pub const SCHEMA: &str = "aisec-report/1";

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
    /// The integrity check.
    pub integrity: IntegrityReport,
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

    /// The JSON form (pretty-printed, stable).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// Points for a verdict and its checks.
pub fn score(verdict: Verdict, points: u32, checks: &[CheckResult]) -> u32 {
    match verdict {
        Verdict::Passed => points,
        Verdict::Failed if !checks.is_empty() => {
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

/// The human-readable report.
pub fn to_text(report: &Report, color: bool) -> String {
    let p = Palette::new(color);
    let mut out = String::new();
    if !report.integrity.ok {
        out.push_str(&format!(
            "{}tampered lab:{} these files differ from the lab manifest, so nothing can pass:\n",
            p.bad, p.reset
        ));
        for f in &report.integrity.tampered {
            out.push_str(&format!("  {f}\n"));
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
            out.push_str(&format!("  {path}\n"));
        }
        out.push('\n');
    }
    for e in &report.exercises {
        out.push_str(&format!(
            "{}{}{} ({}) — {} — {}/{} points{}\n",
            p.bold,
            e.id,
            p.reset,
            e.track,
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
                c.name, c.measured, c.bar
            ));
            if !c.passed {
                out.push_str(&format!("       {}hint: {}{}\n", p.dim, c.hint, p.reset));
            }
        }
        if let Some(message) = &e.message {
            for line in message.lines() {
                out.push_str(&format!("  {}{line}{}\n", p.dim, p.reset));
            }
        }
    }
    let s = &report.summary;
    out.push_str(&format!(
        "\n{}{}/{} exercises passed, {}/{} points{}   seed {}   lab {}\n",
        p.bold,
        s.passed,
        s.total,
        s.score,
        s.max_score,
        p.reset,
        report.seed,
        if report.lab_manifest_sha256.is_empty() {
            "unknown".to_owned()
        } else {
            report.lab_manifest_sha256[..16].to_owned()
        }
    ));
    out
}

/// The Markdown form, for a person: the grade, every check with what it measured and its bar,
/// the attestation (seed, student-file digests, lab manifest digest, tool version), wall times,
/// and each exercise's talking points for the follow-up interview (`talking_points`: id →
/// points). The same seed and files give the same text except the wall-time lines.
pub fn to_markdown(report: &Report, talking_points: &BTreeMap<String, Vec<String>>) -> String {
    let s = &report.summary;
    let mut out = format!(
        "# aisec grade report\n\n**{}/{} exercises passed, {}/{} points.**\n\n\
         | | |\n| --- | --- |\n| seed | `{}` |\n| lab manifest sha256 | `{}` |\n| tool version | {} |\n| lab integrity | {} |\n",
        s.passed,
        s.total,
        s.score,
        s.max_score,
        report.seed,
        report.lab_manifest_sha256,
        report.tool_version,
        if report.integrity.ok {
            "ok".to_owned()
        } else {
            format!("TAMPERED: {}", report.integrity.tampered.join(", "))
        }
    );
    if let Some(changes) = &report.bundle_changes {
        out.push_str(&format!(
            "| returned bundle | {} |\n",
            if changes.is_empty() {
                "no non-student file changed".to_owned()
            } else {
                format!(
                    "non-student files changed (not used for the grade): {}",
                    changes.join(", ")
                )
            }
        ));
    }
    let wall: u64 = report.exercises.iter().map(|e| e.elapsed_ms).sum();
    out.push_str(&format!("| wall time | {:.1} s |\n", wall as f64 / 1000.0));
    for e in &report.exercises {
        out.push_str(&format!(
            "\n## {} — {}\n\n{} ({}), **{}**, {}/{} points, wall time {:.1} s\n\n",
            e.id,
            e.title,
            e.track,
            e.id,
            e.verdict.label(),
            e.score,
            e.points,
            e.elapsed_ms as f64 / 1000.0
        ));
        for (path, digest) in &e.student_files {
            out.push_str(&format!("- student file `{path}`: sha256 `{digest}`\n"));
        }
        if !e.checks.is_empty() {
            out.push_str("\n| check | result | measured | bar |\n| --- | --- | --- | --- |\n");
            for c in &e.checks {
                let cell = |t: &str| t.replace('|', "\\|").replace('\n', " ");
                out.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    cell(&c.name),
                    if c.passed { "ok" } else { "FAIL" },
                    cell(&c.measured),
                    cell(&c.bar)
                ));
            }
        }
        if let Some(message) = &e.message {
            out.push_str(&format!("\n```\n{}\n```\n", message.trim_end()));
        }
        if let Some(points) = talking_points.get(&e.id).filter(|p| !p.is_empty()) {
            out.push_str("\n**Talking points for the follow-up:**\n\n");
            for point in points {
                out.push_str(&format!("- {point}\n"));
            }
        }
    }
    out
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
pub fn to_junit(report: &Report) -> String {
    use quick_xml::Writer;
    use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

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
        ];
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
