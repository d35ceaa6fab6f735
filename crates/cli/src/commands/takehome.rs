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
    let ids = bundle::exercise_ids(returned)?;
    if ids.is_empty() {
        anyhow::bail!("{} holds no exercises to grade", returned.display());
    }
    let changes = bundle::changed_files(lab, returned, &ids)?;
    let scratch = tempfile::tempdir()?;
    let copy = aisec_grader::sandbox::copy_lab(lab, scratch.path())?;
    let registry = super::registry(&copy)?;
    bundle::transplant(&registry, returned, &ids)?;
    let exercises = super::check::select(&registry, &ids, false)?;
    let seed = super::seed_or_random(seed);
    // Harnesses of the copy build in this lab's target folder, so candle is not compiled again.
    let target = aisec_grader::harness::target_dir(lab);
    let mut report = super::check::grade_in(&copy, target, &exercises, seed, time_limit)?;
    report.bundle_changes = Some(changes);
    super::check::print_report(&report, format, &exercises)
}
