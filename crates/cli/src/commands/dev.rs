//! `aisec dev`: checks for the people who write exercises.

use aisec_grader::dev::{self, Stage};
use aisec_grader::{Verdict, integrity};
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
    let verbose = seeds.is_some();
    let mut on_stage = |stage: Stage<'_>| match stage {
        Stage::Shipped(report) => {
            anstream::println!(
                "{}",
                style::paint(
                    "grading the exercises as shipped (expect: not started)",
                    style::HEAD
                )
            );
            for e in &report.exercises {
                let ok = e.verdict == Verdict::NotStarted;
                anstream::println!("  {:<24} {}", e.id, mark(ok, e.verdict.label()));
            }
        }
        Stage::Solutions(seed, report) => {
            anstream::println!(
                "{}",
                style::paint(
                    format!("grading the reference solutions (expect: passed), seed {seed}"),
                    style::HEAD
                )
            );
            for e in &report.exercises {
                let ok = e.verdict == Verdict::Passed;
                anstream::println!(
                    "  {:<24} seed {seed:<4} {} [{:.1} s]",
                    e.id,
                    mark(ok, e.verdict.label()),
                    e.elapsed_ms as f64 / 1000.0
                );
                if verbose || !ok {
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
            }
        }
    };
    let problems = dev::check(
        lab,
        &registry,
        &exercises,
        seeds.unwrap_or(1),
        &mut on_stage,
    )?;
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
