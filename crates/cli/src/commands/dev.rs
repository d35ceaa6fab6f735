//! `aisec dev`: checks for the people who write exercises.

use aisec_grader::grade::{self, GradeOptions};
use aisec_grader::harness::Variant;
use aisec_grader::{Exercise, Verdict, integrity};
use aisec_lab::LabRoot;

use crate::Outcome;
use crate::style;

/// Proves the content: manifests readable, stubs pristine and "not started", solutions pass.
pub fn check(lab: &LabRoot, ids: &[String], seeds: Option<u64>) -> anyhow::Result<Outcome> {
    let registry = super::registry(lab)?;
    let exercises = if ids.is_empty() {
        registry.exercises.iter().collect()
    } else {
        super::check::select(&registry, ids, false)?
    };
    let mut problems: Vec<String> = registry
        .broken
        .iter()
        .map(|b| format!("{}: unreadable manifest: {}", b.id, b.reason))
        .collect();
    let target = aisec_grader::harness::target_dir(lab);

    let integrity = integrity::verify(lab)?;
    if !integrity.ok {
        problems.push(format!(
            "LAB_MANIFEST is stale or the lab was changed ({}): run `aisec dev manifest`",
            integrity.tampered.join(", ")
        ));
    }
    for exercise in &exercises {
        problems.extend(static_problems(lab, exercise));
    }

    anstream::println!(
        "{}",
        style::paint(
            "grading the exercises as shipped (expect: not started)",
            style::HEAD
        )
    );
    let mut quiet = |_: grade::Step<'_>| {};
    let shipped = grade::grade(
        lab,
        &exercises,
        &mut GradeOptions {
            seed: 1,
            target: target.clone(),
            time_limit: None,
            variant: Variant::Exercise,
            expected_manifest: None,
            on_step: &mut quiet,
        },
    )?;
    for e in &shipped.exercises {
        let ok = e.verdict == Verdict::NotStarted;
        anstream::println!("  {:<24} {}", e.id, mark(ok, e.verdict.label()));
        if !ok {
            problems.push(format!(
                "{}: as shipped it is {}, not \"not started\" {}",
                e.id,
                e.verdict.label(),
                e.message.clone().unwrap_or_default()
            ));
        }
    }

    let seed_list: Vec<u64> = (1..=seeds.unwrap_or(1)).collect();
    anstream::println!(
        "{}",
        style::paint(
            format!("grading the reference solutions (expect: passed), seeds {seed_list:?}"),
            style::HEAD
        )
    );
    for seed in seed_list {
        // Solutions build as the lab's own code, in the lab's target folder, never where a
        // candidate's build could read them; their runs are confined like any other.
        let report = grade::grade(
            lab,
            &exercises,
            &mut GradeOptions {
                seed,
                target: target.clone(),
                time_limit: None,
                variant: Variant::Solution,
                expected_manifest: None,
                on_step: &mut quiet,
            },
        )?;
        for e in &report.exercises {
            let ok = e.verdict == Verdict::Passed;
            anstream::println!(
                "  {:<24} seed {seed:<4} {} [{:.1} s]",
                e.id,
                mark(ok, e.verdict.label()),
                e.elapsed_ms as f64 / 1000.0
            );
            if seeds.is_some() || !ok {
                for c in &e.checks {
                    anstream::println!(
                        "      {} {}: {} (bar: {})",
                        if c.passed { "ok  " } else { "FAIL" },
                        c.name,
                        c.measured,
                        c.bar
                    );
                }
                if let Some(message) = &e.message {
                    anstream::println!("      {message}");
                }
            }
            if !ok {
                problems.push(format!(
                    "{}: the reference solution is {} with seed {seed}",
                    e.id,
                    e.verdict.label()
                ));
            }
        }
    }
    if problems.is_empty() {
        anstream::println!(
            "{}",
            style::paint(
                format!("dev check passed ({} exercises)", exercises.len()),
                style::GOOD
            )
        );
        Ok(Outcome::Success)
    } else {
        anstream::println!("{}", style::paint("dev check failed:", style::BAD));
        problems.iter().for_each(|p| anstream::println!("  - {p}"));
        Ok(Outcome::Failed)
    }
}

fn mark(ok: bool, label: &str) -> String {
    style::paint(label, if ok { style::GOOD } else { style::BAD })
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
        Err(_) => style::note("rustfmt not found: formatting not checked"),
    }
    problems
}

/// Rewrites LAB_MANIFEST, or (with `check`) verifies that it is current.
pub fn manifest(lab: &LabRoot, check: bool) -> anyhow::Result<Outcome> {
    if check {
        let integrity = integrity::verify(lab)?;
        if integrity.ok {
            anstream::println!(
                "{} LAB_MANIFEST is current (root {}: give it to `--expect-manifest`)",
                style::paint("ok", style::GOOD),
                integrity.manifest_sha256
            );
            return Ok(Outcome::Success);
        }
        anstream::println!(
            "{} LAB_MANIFEST differs for: {}",
            style::paint("stale", style::BAD),
            integrity.tampered.join(", ")
        );
        return Ok(Outcome::Failed);
    }
    let manifest = integrity::write_manifest(lab)?;
    anstream::println!(
        "wrote LAB_MANIFEST ({} files, root {})",
        manifest.files.len(),
        &manifest.root_sha256[..16]
    );
    Ok(Outcome::Success)
}

/// Writes a new exercise and its solution, and says what to do next.
pub fn new(lab: &LabRoot, id: &str, track: &str) -> anyhow::Result<Outcome> {
    let scaffold = aisec_grader::scaffold::new_exercise(lab, id, track)?;
    for file in &scaffold.files {
        anstream::println!("  wrote {}", file.display());
    }
    anstream::println!(
        "{} exercise {id} ({track}); LAB_MANIFEST rewritten. Next: write solutions/{id}/src/lib.rs, \
         then `aisec dev check {id}` (and `--seeds 10` to calibrate the bars in exercise.toml)",
        style::paint("new", style::GOOD)
    );
    Ok(Outcome::Success)
}
