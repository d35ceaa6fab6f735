//! The training presets behind `aisec train`, and the recipe file written beside each model.
//!
//! | preset        | data                       | recipe |
//! | ---           | ---                        | --- |
//! | `standard`    | the `train` split          | Adam, 10 epochs, batch 64 |
//! | `adversarial` | the `train` split          | FGSM with random start at eps 0.3 on every batch (Wong et al., 2020), 15 epochs |
//! | `overfit`     | a small member set drawn from `train` | many epochs on few rows: a target for membership inference |

use std::path::Path;
use std::time::Instant;

use aisec_sdk::train::{Progress, TrainConfig, Trainer};
use aisec_sdk::{Cnn, Dataset, Mnist, rng};
use serde::{Deserialize, Serialize};

use crate::adversary::{self, Pgd};
use crate::error::{Error, Result};

/// A named training recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The model the evasion lab attacks.
    Standard,
    /// Adversarially trained: what the evasion lab compares against.
    Adversarial,
    /// Deliberately overfit on a small member set: the membership-inference target.
    Overfit,
}

/// Eps of the adversarial preset's training attack and of its robustness figure.
pub const ADVERSARIAL_EPS: f32 = 0.3;

/// Rows in the overfit preset's member set.
pub const OVERFIT_MEMBERS: usize = 50;

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 3] = [Preset::Standard, Preset::Adversarial, Preset::Overfit];

    /// The preset's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Standard => "standard",
            Preset::Adversarial => "adversarial",
            Preset::Overfit => "overfit",
        }
    }

    /// Parses a preset name.
    pub fn parse(name: &str) -> Result<Preset> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                Error::invalid(
                    "preset",
                    format!("unknown preset {name:?}: use standard, adversarial or overfit"),
                )
            })
    }

    /// The preset's hyper-parameters for `seed`, with `epochs` overriding the default.
    pub fn config(self, seed: u64, epochs: Option<usize>) -> TrainConfig {
        let (default_epochs, batch_size, learning_rate, final_learning_rate) = match self {
            Preset::Standard => (10, 64, 1e-3, None),
            Preset::Adversarial => (15, 64, 1e-3, None),
            Preset::Overfit => (200, 10, 1e-3, None),
        };
        TrainConfig {
            epochs: epochs.unwrap_or(default_epochs),
            batch_size,
            learning_rate,
            final_learning_rate,
            seed,
        }
    }

    /// The rows of `train` this preset fits: all of them, or (overfit) the member set — the
    /// first [`OVERFIT_MEMBERS`] rows of a permutation drawn from `(seed, "members")`.
    pub fn member_rows(self, train: &Dataset, seed: u64) -> Vec<usize> {
        match self {
            Preset::Overfit => {
                let mut rows = rng::permutation(train.len(), &mut rng::rng(seed, "members"));
                rows.truncate(OVERFIT_MEMBERS.min(train.len()));
                rows
            }
            _ => (0..train.len()).collect(),
        }
    }
}

/// What a training run did and reached, written as `<model>.recipe.toml` beside the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// The command that made the model.
    pub command: String,
    /// The preset.
    pub preset: Preset,
    /// The seed (weights: stream "init"; batch order: "shuffle"; attacks: "perturb").
    pub seed: u64,
    /// Where the data came from.
    pub data: String,
    /// Epochs over the member rows.
    pub epochs: usize,
    /// Rows per step.
    pub batch_size: usize,
    /// Adam's learning rate (no weight decay).
    pub learning_rate: f64,
    /// Rows of the `train` split the model was fitted on (all of them, or the member set).
    pub n_members: usize,
    /// For the overfit preset: the member rows, as indices into the `train` split.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_rows: Vec<usize>,
    /// Accuracy on the fitted rows.
    pub train_accuracy: f64,
    /// Accuracy on the held-out `test` split.
    pub test_accuracy: f64,
    /// Per-class accuracy on `test`, classes 0 to 9.
    pub test_accuracy_per_class: Vec<f64>,
    /// For the adversarial and standard presets: accuracy on `test` under PGD-40 (eps 0.3,
    /// step 0.01, random start from stream "pgd-eval").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy_pgd40: Option<f64>,
    /// For the overfit preset: AUC of a loss-threshold membership attack, the member rows
    /// against the whole `population` split (a lower score for a lower loss).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership_auc_loss_threshold: Option<f64>,
    /// Wall time of training, seconds (not reproducible; for information).
    pub train_seconds: f64,
    /// Worker threads used.
    pub threads: usize,
}

/// A finished training run.
pub struct Trained {
    /// The model.
    pub model: Cnn,
    /// Its recipe.
    pub recipe: Recipe,
}

/// Trains `preset` on `data` with `seed`; `on_step` sees every optimiser step.
pub fn train(
    preset: Preset,
    seed: u64,
    epochs: Option<usize>,
    data: &Mnist,
    data_source: &str,
    command: &str,
    on_step: impl FnMut(&Progress),
) -> Result<Trained> {
    let config = preset.config(seed, epochs);
    let rows = preset.member_rows(&data.train, seed);
    let members = data.train.select(&rows)?;
    let started = Instant::now();
    let mut trainer = Trainer::new(config.clone()).on_step(on_step);
    if preset == Preset::Adversarial {
        // FGSM with a random start and step 1.25 eps ("Fast is better than free", Wong et al.).
        trainer = trainer.perturb(|model, x, y, rng| {
            let start = adversary::random_start(x, ADVERSARIAL_EPS, rng)?;
            let step = Pgd {
                eps: ADVERSARIAL_EPS,
                step: 1.25 * ADVERSARIAL_EPS,
                steps: 1,
                random_start: false,
            };
            let adv = adversary::pgd(model, &start, y, &step, rng)?;
            adversary::project(&adv, x, ADVERSARIAL_EPS)
        });
    }
    let model = trainer.fit(&Cnn::init(seed)?, &members)?;
    let train_seconds = started.elapsed().as_secs_f64();

    let predicted = model.predict(data.test.images())?;
    let per_class = aisec_sdk::metrics::per_class_accuracy(&predicted, data.test.labels());
    let test_accuracy_pgd40 = match preset {
        Preset::Overfit => None,
        _ => Some(pgd40_accuracy(&model, &data.test, seed)?),
    };
    let membership_auc_loss_threshold = match preset {
        Preset::Overfit => Some(loss_threshold_auc(&model, &members, &data.population)?),
        _ => None,
    };
    let recipe = Recipe {
        command: command.to_owned(),
        preset,
        seed,
        data: data_source.to_owned(),
        epochs: config.epochs,
        batch_size: config.batch_size,
        learning_rate: config.learning_rate,
        n_members: rows.len(),
        member_rows: if preset == Preset::Overfit {
            rows
        } else {
            Vec::new()
        },
        train_accuracy: model.accuracy(&members)?,
        test_accuracy: aisec_sdk::metrics::accuracy(&predicted, data.test.labels()),
        test_accuracy_per_class: per_class.iter().map(|a| a.unwrap_or(0.0)).collect(),
        test_accuracy_pgd40,
        membership_auc_loss_threshold,
        train_seconds,
        threads: rayon::current_num_threads(),
    };
    Ok(Trained { model, recipe })
}

/// Accuracy on `data` under PGD-40 at eps 0.3 (step 0.01, random start from `(seed, "pgd-eval")`).
pub fn pgd40_accuracy(model: &Cnn, data: &Dataset, seed: u64) -> Result<f64> {
    let mut rng = rng::rng(seed, "pgd-eval");
    Ok(adversary::accuracy_under(model, data, 256, |m, x, y| {
        adversary::pgd(m, x, y, &Pgd::pgd40(ADVERSARIAL_EPS), &mut rng)
    })?)
}

/// AUC of the attack "member if the loss is low" on `members` against `non_members`.
pub fn loss_threshold_auc(model: &Cnn, members: &Dataset, non_members: &Dataset) -> Result<f64> {
    let mut scores = Vec::new();
    let mut is_member = Vec::new();
    for (set, member) in [(members, true), (non_members, false)] {
        let probabilities = model.probabilities(set.images())?.to_vec2::<f32>()?;
        for (p, &label) in probabilities.iter().zip(set.labels()) {
            scores.push(f64::from(p[label as usize].max(f32::MIN_POSITIVE)).ln());
            is_member.push(member);
        }
    }
    aisec_sdk::metrics::Roc::new(&scores, &is_member)
        .map(|roc| roc.auc())
        .ok_or_else(|| {
            Error::invalid(
                "membership AUC",
                "needs at least one member and one non-member",
            )
        })
}

/// Where the recipe of the model at `model_path` lives: `<stem>.recipe.toml` beside it.
pub fn recipe_path(model_path: &Path) -> std::path::PathBuf {
    let stem = model_path
        .file_stem()
        .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    model_path.with_file_name(format!("{stem}.recipe.toml"))
}

impl Recipe {
    /// Writes the recipe as TOML.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string(self).map_err(|e| Error::malformed(path, e.to_string()))?;
        let header = "# Written by `aisec train`: how this model was made and what it scored.\n";
        std::fs::write(path, format!("{header}{text}")).map_err(|e| Error::io("writing", path, e))
    }

    /// Reads a recipe.
    pub fn load(path: &Path) -> Result<Recipe> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        toml::from_str(&text)
            .map_err(|e| Error::malformed(path, format!("not a valid recipe: {e}")))
    }
}
