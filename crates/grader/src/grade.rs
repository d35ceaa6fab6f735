//! Grading: integrity first, then each exercise on its own — dependency rule, build, run with
//! limits — each ending in a verdict, whatever happened to the others.

use std::collections::BTreeMap;
use std::time::Duration;

use aisec_lab::LabRoot;
use aisec_lab::harness::Outcome;
use aisec_lab::manifest::sha256_file;

use crate::error::Result;
use crate::exercise::Exercise;
use crate::harness::{Build, Harness, RunEnd, RunRequest, Variant};
use crate::integrity::{self, Integrity};
use crate::policy;
use crate::report::{self, ExerciseReport, IntegrityReport, Report, Summary, Verdict};

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
    let integrity = integrity::verify(lab)?;
    let mut reports = Vec::new();
    for exercise in exercises {
        let report = grade_one(lab, exercise, &integrity, options)?;
        (options.on_step)(Step::Done(exercise.id(), report.verdict));
        reports.push(report);
    }
    let mut report = Report {
        schema: report::SCHEMA.to_owned(),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        seed: options.seed,
        lab_manifest_sha256: integrity.manifest_sha256.clone(),
        integrity: IntegrityReport {
            ok: integrity.ok,
            tampered: integrity.tampered.clone(),
        },
        exercises: reports,
        summary: Summary {
            total: 0,
            passed: 0,
            score: 0,
            max_score: 0,
        },
        bundle_changes: None,
    };
    report.summarise();
    Ok(report)
}

fn grade_one(
    lab: &LabRoot,
    exercise: &Exercise,
    integrity: &Integrity,
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
    if !integrity.ok {
        report.verdict = Verdict::Tampered;
        report.message = Some(format!(
            "not graded: the lab differs from its manifest ({})",
            integrity.tampered.join(", ")
        ));
        return Ok(report);
    }
    (options.on_step)(Step::Building(exercise.id()));
    let harness = Harness::locate(lab, exercise, Variant::Exercise, &options.target);
    harness.write(lab, exercise, Variant::Exercise)?;
    let harness = match harness.build()? {
        Build::Ready(h) => h,
        Build::Failed(messages) => {
            report.verdict = Verdict::BuildError;
            report.message = Some(messages);
            return Ok(report);
        }
    };
    (options.on_step)(Step::Running(exercise.id()));
    let request = RunRequest {
        mode: "check",
        seed: options.seed,
        time_limit: options
            .time_limit
            .unwrap_or(Duration::from_secs(m.time_limit_s)),
        memory_mb: m.memory_limit_mb,
        json: false,
        color: false,
        options: None,
        capture_stdout: true,
        capture_stderr: true,
    };
    let output = harness.run(lab, &request)?;
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
                Outcome::Completed => Verdict::Failed,
            };
            report.message = match result.outcome {
                Outcome::NotStarted => Some(
                    "a todo!() is still in the way: implement the functions in src/lib.rs".into(),
                ),
                Outcome::Crashed => {
                    Some(format!("panicked: {}", result.message.unwrap_or_default()))
                }
                Outcome::Completed => None,
            };
        }
    }
    report.score = report::score(report.verdict, report.points, &report.checks);
    Ok(report)
}
