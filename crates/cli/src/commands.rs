//! One function per subcommand: turn checked arguments into calls on the lab crates, and render.

mod bench;
mod demo;
mod eval;
mod manifest;
mod train;

use std::path::{Path, PathBuf};

use aisec_lab::LabRoot;
use aisec_sdk::Mnist;
use anyhow::Context;

use crate::Outcome;
use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    if let Some(threads) = cli.threads {
        anyhow::ensure!(threads >= 1, "--threads must be at least 1");
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .context("setting up worker threads")?;
    }
    if let Command::Completions { shell } = cli.command {
        let mut command = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut command, "aisec", &mut std::io::stdout());
        return Ok(Outcome::Success);
    }
    let lab = LabRoot::find(cli.lab.as_deref())?;
    match cli.command {
        Command::Demo(args) => demo::run(&lab, &args),
        Command::Train(args) => train::run(&lab, &args),
        Command::Eval(args) => eval::run(&lab, &args),
        Command::Bench(args) => bench::run(&lab, &args),
        Command::Manifest { action } => manifest::run(&action),
        Command::Completions { .. } => unreachable!("handled above"),
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
