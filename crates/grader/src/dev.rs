//! `aisec dev check`: proves an exercise's content before it ships — manifests readable, stubs
//! pristine and "not started", reference solutions passing on every seed asked for.

use aisec_lab::LabRoot;

use crate::error::Result;
use crate::exercise::Exercise;
use crate::grade::{self, GradeOptions};
use crate::harness::Variant;
use crate::integrity;
use crate::registry::Registry;
use crate::report::{Report, Verdict};

/// A stage of [`check`] that has a report to show.
pub enum Stage<'a> {
    /// The exercises graded as shipped (each should be "not started").
    Shipped(&'a Report),
    /// The reference solutions graded with `seed` (each should pass).
    Solutions(u64, &'a Report),
}

/// Checks `exercises` of `registry` (all of them when empty) with the reference solutions on
/// seeds `1..=seeds`; `on_stage` sees each report as it is made. Returns the problems found,
/// empty when the content is ready to ship.
pub fn check(
    lab: &LabRoot,
    registry: &Registry,
    exercises: &[&Exercise],
    seeds: u64,
    on_stage: &mut dyn FnMut(Stage<'_>),
) -> Result<Vec<String>> {
    let mut problems: Vec<String> = registry
        .broken
        .iter()
        .map(|b| format!("{}: unreadable manifest: {}", b.id, b.reason))
        .collect();
    let target = crate::harness::target_dir(lab);
    let integrity = integrity::verify(lab)?;
    if !integrity.ok {
        problems.push(format!(
            "LAB_MANIFEST is stale or the lab was changed ({}): run `aisec dev manifest`",
            integrity.tampered.join(", ")
        ));
    }
    for exercise in exercises {
        problems.extend(static_problems(lab, exercise));
    }
    let mut quiet = |_: grade::Step<'_>| {};
    let shipped = grade::grade(
        lab,
        exercises,
        &mut GradeOptions {
            seed: 1,
            target: target.clone(),
            time_limit: None,
            variant: Variant::Exercise,
            expected_manifest: None,
            on_step: &mut quiet,
        },
    )?;
    on_stage(Stage::Shipped(&shipped));
    for e in &shipped.exercises {
        if e.verdict != Verdict::NotStarted {
            problems.push(format!(
                "{}: as shipped it is {}, not \"not started\" {}",
                e.id,
                e.verdict.label(),
                e.message.clone().unwrap_or_default()
            ));
        }
    }
    for seed in 1..=seeds.max(1) {
        // Solutions build as the lab's own code, in the lab's target folder, never where a
        // candidate's build could read them; their runs are confined like any other.
        let report = grade::grade(
            lab,
            exercises,
            &mut GradeOptions {
                seed,
                target: target.clone(),
                time_limit: None,
                variant: Variant::Solution,
                expected_manifest: None,
                on_step: &mut quiet,
            },
        )?;
        on_stage(Stage::Solutions(seed, &report));
        for e in &report.exercises {
            if e.verdict != Verdict::Passed {
                problems.push(format!(
                    "{}: the reference solution is {} with seed {seed}",
                    e.id,
                    e.verdict.label()
                ));
            }
        }
    }
    Ok(problems)
}

/// Problems visible without building: stubs, solutions, formatting.
fn static_problems(lab: &LabRoot, exercise: &Exercise) -> Vec<String> {
    let mut problems = Vec::new();
    let id = exercise.id();
    for file in &exercise.manifest.student_files {
        let shipped = std::fs::read(exercise.dir.join(file)).ok();
        if shipped.is_none() || shipped != std::fs::read(exercise.stub_path(file)).ok() {
            problems.push(format!(
                "{id}: {file} differs from stub/ (ship the stub, keep stub/ in step)"
            ));
        }
    }
    for required in ["README.md", "harness.rs"] {
        if !exercise.dir.join(required).is_file() {
            problems.push(format!("{id}: {required} is missing"));
        }
    }
    let solution = lab.solutions().join(id);
    if !solution.join("Cargo.toml").is_file() || !solution.join("src/lib.rs").is_file() {
        problems.push(format!(
            "{id}: no reference solution at {}",
            solution.display()
        ));
        return problems;
    }
    let rustfmt = std::process::Command::new("rustfmt")
        .args(["--edition", "2024", "--check"])
        .arg(solution.join("src/lib.rs"))
        .arg(exercise.dir.join("src/lib.rs"))
        .arg(exercise.harness_path())
        .output();
    match rustfmt {
        Ok(out) if out.status.success() => {}
        Ok(_) => problems.push(format!("{id}: the solution, stub or harness is not rustfmt-clean (run rustfmt --edition 2024 on them)")),
        // Formatting is a courtesy: without rustfmt installed it goes unchecked.
        Err(_) => {}
    }
    problems
}
