//! One function per subcommand: turn checked arguments into calls on the lab crates, and render.

mod bench;
mod chat;
mod check;
mod demo;
mod dev;
mod eval;
mod exercises;
mod manifest;
mod takehome;
mod train;
mod watch;

use std::path::{Path, PathBuf};

use aisec_grader::Registry;
use aisec_grader::harness::{Build, Built, Variant};
use aisec_lab::LabRoot;
use aisec_sdk::Mnist;
use anyhow::Context;

use crate::Outcome;
use crate::cli::{Cli, Command, DevAction};
use crate::style;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    if let Command::Completions { shell } = cli.command {
        let mut command = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut command, "aisec", &mut std::io::stdout());
        return Ok(Outcome::Success);
    }
    let lab = LabRoot::find(cli.lab.as_deref())?;
    match cli.command {
        Command::List { json } => exercises::list(&lab, json),
        Command::Show { id } => exercises::show(&lab, &id),
        Command::Hint { id, all } => exercises::hint(&lab, &id, all),
        Command::Reset { id, yes } => exercises::reset(&lab, &id, yes),
        Command::Run { id, seed } => exercises::run(&lab, &id, seed),
        Command::Check(args) => check::run(&lab, &args),
        Command::Assign {
            exercises,
            out,
            title,
            due,
        } => takehome::assign(&lab, &exercises, &out, title, due),
        Command::Grade {
            dir,
            seed,
            format,
            time_limit,
            expect_manifest,
            allow_unsandboxed,
        } => takehome::grade(
            &lab,
            &dir,
            &takehome::GradeSettings {
                seed,
                format,
                time_limit,
                expect_manifest,
                allow_unsandboxed,
            },
        ),
        Command::Watch { ids } => watch::run(&lab, &ids),
        Command::Demo(args) => demo::run(&lab, &args),
        Command::Train(args) => train::run(&lab, &args),
        Command::Eval(args) => eval::run(&lab, &args),
        Command::Chat(args) => chat::run(&lab, &args),
        Command::Bench(args) => bench::run(&lab, &args),
        Command::Manifest { action } => manifest::run(&action),
        Command::Dev {
            action: DevAction::Check { ids, seeds },
        } => dev::check(&lab, &ids, seeds),
        Command::Dev {
            action: DevAction::Manifest { check },
        } => dev::manifest(&lab, check),
        Command::Dev {
            action: DevAction::New { id, track },
        } => dev::new(&lab, &id, &track),
        Command::Completions { .. } => unreachable!("handled above"),
    }
}

/// The lab's exercises; broken manifests are reported on stderr, not fatal.
pub fn registry(lab: &LabRoot) -> anyhow::Result<Registry> {
    let registry = Registry::load(lab)?;
    for broken in &registry.broken {
        style::error(&format!(
            "exercise {} is skipped: {}",
            broken.id, broken.reason
        ));
    }
    Ok(registry)
}

/// The seed the user gave, or a fresh one; printed to stderr either way.
pub fn seed_or_random(seed: Option<u64>) -> u64 {
    let seed = seed.unwrap_or_else(aisec_sdk::rng::random_seed);
    style::note(&format!("seed {seed} (pass --seed {seed} to repeat)"));
    seed
}

/// Builds the checker and runner of `exercise`, with a spinner; `Err` with the compiler's
/// messages if it does not compile.
pub fn build_harness(
    lab: &LabRoot,
    exercise: &aisec_grader::Exercise,
    variant: Variant,
) -> anyhow::Result<Built> {
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message(format!("building {}", exercise.id()));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let built = aisec_grader::harness::build(
        lab,
        exercise,
        variant,
        &aisec_grader::harness::target_dir(lab),
    );
    spinner.finish_and_clear();
    match built? {
        Build::Ready(built) => Ok(built),
        Build::Failed(messages) => anyhow::bail!("{} does not compile:\n{messages}", exercise.id()),
    }
}

/// The digits: `--data DIR` if given, else the lab's bundled set; also a description for logs.
pub fn load_data(lab: &LabRoot, data: Option<&Path>) -> anyhow::Result<(Mnist, String)> {
    let (dir, label) = match data {
        Some(dir) => (dir.to_owned(), dir.display().to_string()),
        None => (lab.mnist(), "datasets/mnist-10k (bundled)".to_owned()),
    };
    let mnist =
        Mnist::load(&dir).with_context(|| format!("loading digits from {}", dir.display()))?;
    Ok((mnist, label))
}

/// A model argument: a path to a file, or the name of a shipped model.
pub fn model_path(lab: &LabRoot, model: &str) -> PathBuf {
    let as_path = PathBuf::from(model);
    if as_path.exists() || model.contains('/') || model.ends_with(".safetensors") {
        as_path
    } else {
        lab.model(model)
    }
}

/// Loads a model argument, with the file named in any error.
pub fn load_model(lab: &LabRoot, model: &str) -> anyhow::Result<aisec_sdk::Cnn> {
    let path = model_path(lab, model);
    aisec_sdk::Cnn::load(&path).with_context(|| format!("loading model {model:?}"))
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(len: u64, template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template(template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}
