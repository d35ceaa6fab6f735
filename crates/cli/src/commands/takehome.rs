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

/// Seeds below this are short enough to try one by one: every draw is keyed by a slow hash of
/// the seed (about 0.1 s per seed), so a submission could try some thousands of seeds within
/// its time limit.
const SHORT_SEED: u64 = 1_000_000_000_000;

/// How `aisec grade` was asked to grade.
pub struct GradeSettings {
    pub seed: Option<u64>,
    pub format: ReportFormat,
    pub time_limit: Option<u64>,
    pub expect_manifest: Option<String>,
    pub allow_unsandboxed: bool,
}

pub fn grade(lab: &LabRoot, returned: &Path, settings: &GradeSettings) -> anyhow::Result<Outcome> {
    let level = aisec_sandbox::probe();
    if level != aisec_sandbox::Level::Full && !settings.allow_unsandboxed {
        anyhow::bail!(
            "this machine confines the candidate's code only to sandbox level {level} (full needs \
             Linux with Landlock ABI 6 or later and seccomp): grade on such a machine, or pass \
             --allow-unsandboxed to grade anyway (the report will say {level})"
        );
    }
    if let Some(seed) = settings.seed.filter(|&s| s < SHORT_SEED) {
        crate::style::note(&format!(
            "--seed {seed} is short: a submission that replays the draws of every seed below it \
             could find it within its time limit; use a random number of 12 or more digits \
             (e.g. `od -An -N8 -tu8 /dev/urandom`)"
        ));
    }
    let seed = super::seed_or_random(settings.seed);
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let mut on_step = |step: aisec_grader::grade::Step<'_>| super::check::show_step(&spinner, step);
    // Harnesses of the copy build in this lab's target folder, so candle is not compiled again.
    let mut options = aisec_grader::grade::GradeOptions {
        seed,
        target: aisec_grader::harness::target_dir(lab),
        time_limit: settings.time_limit.map(std::time::Duration::from_secs),
        variant: aisec_grader::harness::Variant::Exercise,
        expected_manifest: settings.expect_manifest.clone(),
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
    super::check::print_report(&graded.report, settings.format, &exercises)
}
