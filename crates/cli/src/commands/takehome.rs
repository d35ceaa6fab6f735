//! `aisec assign` and `aisec grade`: take-home bundles out, returned work graded in a fresh
//! copy of this lab.

use std::path::Path;

use aisec_grader::bundle::{self, Cover};
use aisec_lab::LabRoot;

use crate::Outcome;
use crate::cli::ReportFormat;

pub fn assign(
    lab: &LabRoot,
    ids: &[String],
    out: &Path,
    title: Option<String>,
    due: Option<String>,
) -> anyhow::Result<Outcome> {
    let registry = super::registry(lab)?;
    let written = bundle::assign(lab, &registry, ids, out, &Cover { title, due })?;
    println!(
        "wrote {}: {} files, {:.1} MB; exercises {} (no reference solutions)",
        written.dir.display(),
        written.files,
        written.bytes as f64 / 1e6,
        ids.join(", ")
    );
    println!(
        "the candidate runs `cargo run --release -- check --all` in it; grade what comes back with\n  aisec grade <returned folder> --seed <a secret number> --format md"
    );
    Ok(Outcome::Success)
}

pub fn grade(
    lab: &LabRoot,
    returned: &Path,
    seed: Option<u64>,
    format: ReportFormat,
    time_limit: Option<u64>,
) -> anyhow::Result<Outcome> {
    let seed = super::seed_or_random(seed);
    // Harnesses of the copy build in this lab's target folder, so candle is not compiled again.
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let mut on_step = |step: aisec_grader::grade::Step<'_>| super::check::show_step(&spinner, step);
    let mut options = aisec_grader::grade::GradeOptions {
        seed,
        target: aisec_grader::harness::target_dir(lab),
        time_limit: time_limit.map(std::time::Duration::from_secs),
        variant: aisec_grader::harness::Variant::Exercise,
        on_step: &mut on_step,
    };
    let graded = bundle::grade_returned(lab, returned, &mut options);
    spinner.finish_and_clear();
    let graded = graded?;
    for id in &graded.unknown {
        crate::style::error(&format!(
            "exercises/{id} of the returned bundle is not an exercise of this lab: not graded"
        ));
    }
    let exercises: Vec<&aisec_grader::Exercise> = graded
        .report
        .exercises
        .iter()
        .filter_map(|e| graded.registry.get(&e.id).ok())
        .collect();
    super::check::print_report(&graded.report, format, &exercises)
}
