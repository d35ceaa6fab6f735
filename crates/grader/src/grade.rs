//! Grading: each exercise on its own — integrity, dependency rule, build, integrity again, run
//! with limits, integrity again — each ending in a verdict, whatever happened to the others.
//!
//! The lab is verified before every exercise's build and after its run (not once for the
//! whole grade), so nothing one exercise's code might have changed can pass another.

use std::collections::BTreeMap;
use std::time::Duration;

use aisec_lab::LabRoot;
use aisec_lab::harness::{Mode, Outcome};
use aisec_lab::manifest::sha256_file;

use crate::error::{Error, Result};
use crate::exercise::Exercise;
use crate::harness::{self, Build, RunEnd, RunRequest, Variant};
use crate::integrity::{self, Integrity};
use crate::policy;
use crate::report::{self, ExerciseReport, IntegrityReport, Report, SandboxLevel, Verdict};

/// What the grader is doing, for progress display.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// Checking the lab against its manifest.
    Integrity,
    /// Compiling an exercise.
    Building(&'a str),
    /// Running an exercise's checks.
    Running(&'a str),
    /// An exercise got its verdict.
    Done(&'a str, Verdict),
}

/// Settings of a grade.
pub struct GradeOptions<'a> {
    /// Seed of the hidden draws.
    pub seed: u64,
    /// The cargo target folder harnesses are built in (see [`crate::harness::target_dir`]).
    pub target: std::path::PathBuf,
    /// Overrides every exercise's own time limit.
    pub time_limit: Option<Duration>,
    /// Whose crate fills each exercise: the candidate's, or (for `aisec dev check`) the
    /// reference solution.
    pub variant: Variant,
    /// The root digest the lab's manifest must have (`--expect-manifest`); a lab with any other
    /// grades as tampered, however well it matches its own manifest.
    pub expected_manifest: Option<String>,
    /// Told about each step.
    pub on_step: &'a mut dyn FnMut(Step<'_>),
}

/// sha256 of every student file of `exercise`.
pub fn student_digests(exercise: &Exercise) -> BTreeMap<String, String> {
    exercise
        .student_paths()
        .into_iter()
        .filter_map(|p| {
            sha256_file(&exercise.dir.join(&p))
                .ok()
                .map(|(_, digest)| (p, digest))
        })
        .collect()
}

/// Grades `exercises` of `lab`.
pub fn grade(
    lab: &LabRoot,
    exercises: &[&Exercise],
    options: &mut GradeOptions<'_>,
) -> Result<Report> {
    (options.on_step)(Step::Integrity);
    let mut integrity = integrity::verify(lab)?;
    if let Some(expected) = &options.expected_manifest {
        if &integrity.manifest_sha256 != expected {
            integrity.ok = false;
            integrity.tampered.insert(
                0,
                format!(
                    "LAB_MANIFEST (root {}, expected {expected})",
                    if integrity.manifest_sha256.is_empty() {
                        "unreadable"
                    } else {
                        &integrity.manifest_sha256
                    }
                ),
            );
        }
    }
    let mut reports = Vec::new();
    for exercise in exercises {
        let report = grade_one(lab, exercise, &mut integrity, options)?;
        (options.on_step)(Step::Done(exercise.id(), report.verdict));
        reports.push(report);
    }
    let sandbox = match aisec_sandbox::probe() {
        aisec_sandbox::Level::Full => SandboxLevel::Full,
        aisec_sandbox::Level::Partial => SandboxLevel::Partial,
        aisec_sandbox::Level::None => SandboxLevel::None,
    };
    let mut report = Report::new(
        env!("CARGO_PKG_VERSION"),
        options.seed,
        integrity.manifest_sha256.clone(),
        IntegrityReport {
            ok: integrity.ok,
            tampered: integrity.tampered.clone(),
        },
        reports,
        sandbox,
    );
    report.expected_manifest = options.expected_manifest.clone();
    Ok(report)
}

/// Verifies the lab again; once it has differed from its manifest it stays tampered for the
/// rest of the grade, with every file that ever differed.
fn reverify(lab: &LabRoot, integrity: &mut Integrity) -> Result<()> {
    let now = integrity::verify(lab)?;
    if !now.ok {
        integrity.ok = false;
        for file in now.tampered {
            if !integrity.tampered.contains(&file) {
                integrity.tampered.push(file);
            }
        }
        integrity.tampered.sort();
    }
    Ok(())
}

fn tampered(report: &mut ExerciseReport, integrity: &Integrity) {
    report.verdict = Verdict::Tampered;
    report.checks.clear();
    report.message = Some(format!(
        "not graded: the lab differs from its manifest ({})",
        integrity.tampered.join(", ")
    ));
    report.score = 0;
}

fn grade_one(
    lab: &LabRoot,
    exercise: &Exercise,
    integrity: &mut Integrity,
    options: &mut GradeOptions<'_>,
) -> Result<ExerciseReport> {
    let m = &exercise.manifest;
    let mut report = ExerciseReport {
        id: m.id.clone(),
        title: m.title.clone(),
        track: m.track.clone(),
        verdict: Verdict::Refused,
        points: m.points,
        score: 0,
        student_files: student_digests(exercise),
        checks: Vec::new(),
        message: None,
        elapsed_ms: 0,
    };
    if let Err(e) = policy::check_manifest(&exercise.dir, exercise.id()) {
        report.message = Some(format!("refused: {e}"));
        return Ok(report);
    }
    reverify(lab, integrity)?;
    if !integrity.ok {
        tampered(&mut report, integrity);
        return Ok(report);
    }
    (options.on_step)(Step::Building(exercise.id()));
    let built = match harness::build(lab, exercise, options.variant, &options.target)? {
        Build::Ready(built) => built,
        Build::Failed(messages) => {
            report.verdict = Verdict::BuildError;
            report.message = Some(messages);
            return Ok(report);
        }
    };
    reverify(lab, integrity)?;
    if !integrity.ok {
        tampered(&mut report, integrity);
        return Ok(report);
    }
    (options.on_step)(Step::Running(exercise.id()));
    let request = RunRequest {
        mode: Mode::Check,
        seed: options.seed,
        time_limit: options
            .time_limit
            .unwrap_or(Duration::from_secs(m.time_limit_s)),
        memory_mb: m.memory_limit_mb,
        json: false,
        color: false,
        options: serde_json::Map::new(),
        capture_stdout: true,
        capture_stderr: true,
    };
    let output = harness::run(lab, &built, &request, None)?;
    report.elapsed_ms = output.elapsed.as_millis() as u64;
    match output.end {
        RunEnd::TimedOut => {
            report.verdict = Verdict::TimedOut;
            report.message = Some(format!(
                "stopped after the {} s limit",
                request.time_limit.as_secs()
            ));
        }
        RunEnd::Died(why) => {
            report.verdict = Verdict::Crashed;
            report.message = Some(why);
        }
        RunEnd::Finished(result) if result.outcome == Outcome::Refused => {
            return Err(Error::Tool(format!(
                "the checker of {} refused to grade: {}",
                exercise.id(),
                result.message.unwrap_or_default()
            )));
        }
        RunEnd::Finished(result) => {
            report.checks = result.checks;
            report.verdict = match result.outcome {
                Outcome::NotStarted => Verdict::NotStarted,
                Outcome::Crashed => Verdict::Crashed,
                Outcome::Completed
                    if !report.checks.is_empty() && report.checks.iter().all(|c| c.passed) =>
                {
                    Verdict::Passed
                }
                Outcome::Completed | Outcome::Refused => Verdict::Failed,
            };
            report.message = match result.outcome {
                Outcome::NotStarted => Some(
                    "a todo!() is still in the way: implement the functions in src/lib.rs".into(),
                ),
                Outcome::Crashed => Some(result.message.unwrap_or_default()),
                Outcome::Completed | Outcome::Refused => None,
            };
        }
    }
    report.score = report::score(report.verdict, report.points, &report.checks);
    // Whatever the run did, the lab must still be the lab, and the student files the ones
    // graded.
    reverify(lab, integrity)?;
    if !integrity.ok {
        tampered(&mut report, integrity);
    } else if student_digests(exercise) != report.student_files {
        report.verdict = Verdict::Tampered;
        report.checks.clear();
        report.score = 0;
        report.message =
            Some("not graded: the student files changed while they were graded".into());
    }
    Ok(report)
}
