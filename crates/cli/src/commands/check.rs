//! `aisec check`: grade, report, remember the verdicts.

use std::time::Duration;

use aisec_grader::grade::{self, GradeOptions, Step};
use aisec_grader::report::{self, Report};
use aisec_grader::state::{LastGrade, State};
use aisec_grader::{Exercise, Registry};
use aisec_lab::LabRoot;

use crate::Outcome;
use crate::cli::{CheckArgs, ReportFormat};
use crate::style;

/// The exercises `ids` names (all of them for `all`), in teaching order.
pub fn select<'a>(
    registry: &'a Registry,
    ids: &[String],
    all: bool,
) -> anyhow::Result<Vec<&'a Exercise>> {
    if all {
        return Ok(registry.exercises.iter().collect());
    }
    if ids.is_empty() {
        let known: Vec<&str> = registry.exercises.iter().map(Exercise::id).collect();
        anyhow::bail!(
            "name the exercises to check, or pass --all (exercises: {})",
            known.join(", ")
        );
    }
    let mut chosen: Vec<&Exercise> = ids
        .iter()
        .map(|id| registry.get(id))
        .collect::<Result<_, _>>()?;
    chosen.dedup_by_key(|e| e.id().to_owned());
    Ok(chosen)
}

/// Grades `exercises`, with a spinner on stderr, and remembers each verdict.
pub fn grade(
    lab: &LabRoot,
    exercises: &[&Exercise],
    seed: u64,
    time_limit: Option<u64>,
    expected_manifest: Option<String>,
) -> anyhow::Result<Report> {
    let target = aisec_grader::harness::target_dir(lab);
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.enable_steady_tick(Duration::from_millis(120));
    let mut on_step = |step: Step<'_>| show_step(&spinner, step);
    let mut options = GradeOptions {
        seed,
        target,
        time_limit: time_limit.map(Duration::from_secs),
        variant: aisec_grader::harness::Variant::Exercise,
        expected_manifest,
        on_step: &mut on_step,
    };
    let report = grade::grade(lab, exercises, &mut options);
    spinner.finish_and_clear();
    let report = report?;
    let mut state = State::load(lab);
    for e in &report.exercises {
        state.last_grade.insert(
            e.id.clone(),
            LastGrade {
                verdict: e.verdict,
                student_files: e.student_files.clone(),
            },
        );
    }
    state.save(lab);
    Ok(report)
}

/// Shows what the grader is doing on the spinner.
pub fn show_step(spinner: &indicatif::ProgressBar, step: Step<'_>) {
    match step {
        Step::Integrity => spinner.set_message("checking the lab's integrity"),
        Step::Building(id) => spinner.set_message(format!("building {id}")),
        Step::Running(id) => spinner.set_message(format!("running {id}")),
        Step::Done(..) => {}
    }
}

pub fn run(lab: &LabRoot, args: &CheckArgs) -> anyhow::Result<Outcome> {
    let registry = super::registry(lab)?;
    let exercises = select(&registry, &args.ids, args.all)?;
    let seed = super::seed_or_random(args.seed);
    let report = grade(
        lab,
        &exercises,
        seed,
        args.time_limit,
        args.expect_manifest.clone(),
    )?;
    print_report(&report, args.format, &exercises)
}

/// Prints `report` in `format` (Markdown takes each exercise's talking points from its brief)
/// and turns it into the exit outcome.
pub fn print_report(
    report: &Report,
    format: ReportFormat,
    exercises: &[&Exercise],
) -> anyhow::Result<Outcome> {
    match format {
        ReportFormat::Text => {
            anstream::print!("{}", report::to_text(report, style::stdout_color()))
        }
        ReportFormat::Json => println!("{}", report.to_json()),
        ReportFormat::Junit => print!("{}", report::to_junit(report)),
        ReportFormat::Md => {
            let points = exercises
                .iter()
                .map(|e| {
                    let brief = e.brief().unwrap_or_default();
                    (e.id().to_owned(), report::talking_points(&brief))
                })
                .collect();
            print!("{}", report::to_markdown(report, &points));
        }
    }
    Ok(if report.all_passed() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
