//! Trigger-set watermarking (Adi et al., 2018): embed a secret set of abstract images with
//! random labels while training, then claim a suspect model by a binomial test on how many of
//! them it still labels as the owner chose (reference solution).

use aisec_sdk::data::{N_CLASSES, SIDE};
use aisec_sdk::rng::{Rng, RngCore};
use aisec_sdk::train::{TrainConfig, Trainer};
use aisec_sdk::{Cnn, Dataset, Device, Error, Result, Tensor};

/// Triggers in the set: the most the checker accepts; more triggers give the test more power.
const N_TRIGGERS: usize = 100;

/// Side of the coarse random grid each trigger is drawn from (each cell 4×4 pixels).
const CELLS: usize = 7;

/// Copies of the trigger set in the training data: 3,000 trigger rows beside the 8,000 digits,
/// so every batch holds a few triggers. Fewer copies learn the triggers less firmly, and
/// fine-tuning then erases more of them.
const REPEATS: usize = 30;

/// Epochs over the training digits and the repeated triggers.
const EPOCHS: usize = 3;

/// The owner's secret key: abstract images no digit resembles, each with a label drawn
/// uniformly at random and independently of the image.
///
/// Each image is a 7×7 grid of random black and white cells scaled up to 28×28. The labels
/// are what makes the test sound: a model that never saw the triggers agrees with each label
/// with probability 1/10, whatever it predicts on the image, because the label was drawn after
/// and apart from it.
pub fn trigger_set(rng: &mut Rng) -> Result<Dataset> {
    let cell = SIDE / CELLS;
    let mut pixels = Vec::with_capacity(N_TRIGGERS * SIDE * SIDE);
    let mut labels = Vec::with_capacity(N_TRIGGERS);
    for _ in 0..N_TRIGGERS {
        let grid: Vec<f32> = (0..CELLS * CELLS)
            .map(|_| f32::from(u8::from(rng.next_u32() & 1 == 1)))
            .collect();
        for row in 0..SIDE {
            for column in 0..SIDE {
                pixels.push(grid[(row / cell) * CELLS + column / cell]);
            }
        }
        labels.push(uniform_class(rng));
    }
    let images = Tensor::from_vec(pixels, (N_TRIGGERS, 1, SIDE, SIDE), &Device::Cpu)?;
    Dataset::new(images, labels)
}

/// A class drawn uniformly from `0..10` (rejection sampling, so no class is favoured).
fn uniform_class(rng: &mut Rng) -> u32 {
    let classes = N_CLASSES as u32;
    let limit = u32::MAX - u32::MAX % classes;
    loop {
        let value = rng.next_u32();
        if value < limit {
            return value % classes;
        }
    }
}

/// Trains a model on `train` with the watermark embedded: the triggers are mixed into the
/// training data ([`REPEATS`] copies of each), so the network learns their random labels
/// beside the digits. Adam, batch 64, learning rate 1e-3 decayed to 1e-5 by a cosine; initial
/// weights and batch order from `seed`.
pub fn train_watermarked(train: &Dataset, triggers: &Dataset, seed: u64) -> Result<Cnn> {
    if train.is_empty() || triggers.is_empty() {
        return Err(Error::invalid(
            "training data",
            format!(
                "{} digits and {} triggers: both must be non-empty",
                train.len(),
                triggers.len()
            ),
        ));
    }
    let copies = vec![triggers; REPEATS];
    let mut parts = vec![train];
    parts.extend(copies);
    let data = Dataset::concat(&parts)?;
    let config = TrainConfig {
        epochs: EPOCHS,
        batch_size: 64,
        learning_rate: 1e-3,
        final_learning_rate: Some(1e-5),
        seed,
    };
    Trainer::new(config).fit(&Cnn::init(seed)?, &data)
}

/// Whether `suspect` carries the watermark of `triggers`: a one-sided binomial test of the
/// number of triggers it labels as the owner did, against the 1/10 a model that never saw
/// them would reach by chance. Claims when that many agreements or more would happen by
/// chance with probability at most `alpha`.
pub fn claims_ownership(suspect: &Cnn, triggers: &Dataset, alpha: f64) -> Result<bool> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(Error::invalid(
            "alpha",
            format!("{alpha} is not a probability in (0, 1)"),
        ));
    }
    if triggers.is_empty() {
        return Err(Error::invalid("triggers", "the trigger set is empty"));
    }
    let predicted = suspect.predict(triggers.images())?;
    let agree = predicted
        .iter()
        .zip(triggers.labels())
        .filter(|(p, l)| p == l)
        .count();
    let chance = 1.0 / N_CLASSES as f64;
    Ok(binomial_tail(triggers.len(), agree, chance) <= alpha)
}

/// P(X >= k) for X ~ Binomial(n, p), summed in log space so large n does not underflow.
fn binomial_tail(n: usize, k: usize, p: f64) -> f64 {
    let ln_choose = |i: usize| -> f64 {
        (1..=i)
            .map(|j| ((n - i + j) as f64).ln() - (j as f64).ln())
            .sum()
    };
    (k..=n)
        .map(|i| (ln_choose(i) + i as f64 * p.ln() + (n - i) as f64 * (1.0 - p).ln()).exp())
        .sum::<f64>()
        .min(1.0)
}
