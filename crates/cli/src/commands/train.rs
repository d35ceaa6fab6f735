//! `aisec train`: a preset, a seed, a model file and its recipe.

use aisec_lab::LabRoot;
use aisec_lab::presets::{self, Preset};
use anyhow::Context;

use crate::Outcome;
use crate::cli::{PresetArg, TrainArgs};
use crate::style;

pub fn run(lab: &LabRoot, args: &TrainArgs) -> anyhow::Result<Outcome> {
    let preset = match args.preset {
        PresetArg::Standard => Preset::Standard,
        PresetArg::Adversarial => Preset::Adversarial,
        PresetArg::Overfit => Preset::Overfit,
    };
    let seed = args.seed.unwrap_or_else(aisec_sdk::rng::random_seed);
    style::note(&format!("seed {seed}"));
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        anyhow::ensure!(
            parent.is_dir(),
            "cannot write {}: folder {} does not exist",
            args.out.display(),
            parent.display()
        );
    }
    let (data, source) = super::load_data(lab, args.data.data.as_deref())?;
    let mut command = format!(
        "aisec train --preset {} --seed {seed} --out {}",
        preset.name(),
        args.out.display()
    );
    if let Some(epochs) = args.epochs {
        command.push_str(&format!(" --epochs {epochs}"));
    }
    if let Some(dir) = &args.data.data {
        command.push_str(&format!(" --data {}", dir.display()));
    }
    let config = preset.config(seed, args.epochs);
    let n_rows = preset.member_rows(&data.train, seed).len();
    let bar = super::progress_bar(
        config.steps(n_rows) as u64,
        "{prefix} [{bar:30}] {pos}/{len} steps  {msg}  ({elapsed}, eta {eta})",
    );
    bar.set_prefix(format!("training {}", preset.name()));
    let trained = presets::train(preset, seed, args.epochs, &data, &source, &command, |p| {
        bar.inc(1);
        if p.batch + 1 == p.n_batches || p.batch % 20 == 0 {
            bar.set_message(format!(
                "epoch {}/{}  loss {:.4}",
                p.epoch + 1,
                config.epochs,
                p.loss
            ));
        }
    })?;
    bar.finish_and_clear();
    trained
        .model
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let recipe_path = presets::recipe_path(&args.out);
    trained.recipe.save(&recipe_path)?;
    let r = &trained.recipe;
    anstream::println!(
        "{} {} ({} rows, {} epochs, {:.1} s)",
        style::paint("trained", style::GOOD),
        args.out.display(),
        r.n_members,
        r.epochs,
        r.train_seconds
    );
    anstream::println!(
        "  train accuracy {:.4}   test accuracy {:.4}",
        r.train_accuracy,
        r.test_accuracy
    );
    if let Some(robust) = r.test_accuracy_pgd40 {
        anstream::println!("  test accuracy under PGD-40 (eps 0.3) {robust:.4}");
    }
    anstream::println!("  recipe: {}", recipe_path.display());
    Ok(Outcome::Success)
}
