//! Fitting the CNN: mini-batch Adam on cross-entropy, seeded and reproducible.
//!
//! The lab's presets (standard, adversarial, overfit) live in the lab crate; this is the loop
//! they share, and what an exercise uses to train a shadow model. A `perturb` hook may replace
//! each batch's images before the step (adversarial training does this).

use candle_core::Tensor;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kernels;
use crate::model::Cnn;
use crate::ops::{self, Reduction};
use crate::optim::Adam;
use crate::rng::{self, Rng};

/// Hyper-parameters of one training run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Rows per optimiser step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Adam's step size at the start.
    pub learning_rate: f64,
    /// If set, the learning rate follows a cosine from `learning_rate` down to this at the end.
    pub final_learning_rate: Option<f64>,
    /// Seeds the batch order (stream "shuffle") and the perturbation hook (stream "perturb").
    pub seed: u64,
}

impl TrainConfig {
    /// Checks the values are usable.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.batch_size == 0 {
            return Err(Error::invalid(
                "training",
                "epochs and batch size must be at least 1",
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(Error::invalid(
                "training",
                format!(
                    "learning rate {} is not a positive number",
                    self.learning_rate
                ),
            ));
        }
        Ok(())
    }

    /// Optimiser steps of a run over `rows` rows: `epochs × ⌈rows / batch_size⌉` (the last
    /// batch of each epoch may be smaller).
    pub fn steps(&self, rows: usize) -> usize {
        self.epochs * rows.div_ceil(self.batch_size)
    }

    fn learning_rate_at(&self, step: usize, n_steps: usize) -> f64 {
        match self.final_learning_rate {
            None => self.learning_rate,
            Some(end) => {
                let progress = step as f64 / n_steps.max(1) as f64;
                end + (self.learning_rate - end)
                    * 0.5
                    * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}

/// Where training is, reported after every step.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Epoch, from 0.
    pub epoch: usize,
    /// Batch within the epoch, from 0.
    pub batch: usize,
    /// Batches per epoch.
    pub n_batches: usize,
    /// The batch's mean cross-entropy.
    pub loss: f32,
}

/// Replaces a batch's images before the step: `(current model, images, labels, rng) → images`.
pub type PerturbFn<'a> = dyn FnMut(&Cnn, &Tensor, &[u32], &mut Rng) -> Result<Tensor> + 'a;

/// Called after every optimiser step.
pub type StepFn<'a> = dyn FnMut(&Progress) + 'a;

/// A training run: a config plus optional hooks.
pub struct Trainer<'a> {
    config: TrainConfig,
    perturb: Option<Box<PerturbFn<'a>>>,
    on_step: Option<Box<StepFn<'a>>>,
}

impl<'a> Trainer<'a> {
    /// A run with `config` and no hooks.
    pub fn new(config: TrainConfig) -> Self {
        Trainer {
            config,
            perturb: None,
            on_step: None,
        }
    }

    /// Replace each batch's images (see [`PerturbFn`]) before the optimiser step.
    pub fn perturb(
        mut self,
        f: impl FnMut(&Cnn, &Tensor, &[u32], &mut Rng) -> Result<Tensor> + 'a,
    ) -> Self {
        self.perturb = Some(Box::new(f));
        self
    }

    /// Called after every step (for progress bars and logs).
    pub fn on_step(mut self, f: impl FnMut(&Progress) + 'a) -> Self {
        self.on_step = Some(Box::new(f));
        self
    }

    /// Trains a copy of `initial` on `data` and returns it; `initial` is untouched.
    pub fn fit(self, initial: &Cnn, data: &Dataset) -> Result<Cnn> {
        if data.is_empty() {
            return Err(Error::invalid("training data", "no rows to train on"));
        }
        self.run(
            initial,
            data.images(),
            Targets::Labels(std::borrow::Cow::Borrowed(data.labels())),
        )
    }

    /// Trains a copy of `initial` to match a probability vector per image (distillation: the
    /// loss is the cross-entropy `-sum_k target_k ln softmax(logits)_k`, averaged over the
    /// batch). `images` (n, 1, 28, 28); `targets` (n, 10), each row non-negative and summing
    /// to 1 (a one-hot row is a hard label). The perturbation hook, if set, sees each batch's
    /// arg-max labels.
    pub fn fit_soft(self, initial: &Cnn, images: &Tensor, targets: &Tensor) -> Result<Cnn> {
        let n = images.dim(0)?;
        if n == 0 {
            return Err(Error::invalid("training data", "no rows to train on"));
        }
        check_soft_targets(targets, n)?;
        self.run(
            initial,
            images,
            Targets::Soft(std::borrow::Cow::Borrowed(targets)),
        )
    }

    fn run(mut self, initial: &Cnn, images: &Tensor, targets: Targets) -> Result<Cnn> {
        self.config.validate()?;
        let n = images.dim(0)?;
        let (model, vars) = initial.trainable()?;
        let mut optimiser = Adam::new(vars, self.config.learning_rate)?;
        let mut shuffle_rng = rng::rng(self.config.seed, "shuffle");
        let mut perturb_rng = rng::rng(self.config.seed, "perturb");
        let n_batches = n.div_ceil(self.config.batch_size);
        let n_steps = self.config.steps(n);
        for epoch in 0..self.config.epochs {
            let order = rng::permutation(n, &mut shuffle_rng);
            for (batch, rows) in order.chunks(self.config.batch_size).enumerate() {
                optimiser.set_learning_rate(
                    self.config
                        .learning_rate_at(epoch * n_batches + batch, n_steps),
                );
                let index = Tensor::from_vec(
                    rows.iter().map(|&r| r as u32).collect::<Vec<_>>(),
                    rows.len(),
                    images.device(),
                )?;
                let mut batch_images = images.index_select(&index, 0)?;
                let batch_targets = targets.select(rows, &index)?;
                if let Some(perturb) = self.perturb.as_mut() {
                    let labels = batch_targets.labels()?;
                    batch_images =
                        perturb(&model, &batch_images, &labels, &mut perturb_rng)?.detach();
                }
                let loss = kernels::on_worker(|| -> Result<Tensor> {
                    let logits = model.forward(&batch_images)?;
                    let loss = match &batch_targets {
                        Targets::Labels(labels) => {
                            ops::cross_entropy(&logits, labels, Reduction::Mean)?
                        }
                        Targets::Soft(probabilities) => {
                            let log_p = candle_nn::ops::log_softmax(&logits, 1)?;
                            (probabilities.mul(&log_p)?.sum_all()? / -(rows.len() as f64))?
                        }
                    };
                    optimiser.backward_step(&loss)?;
                    Ok(loss)
                })?;
                if let Some(on_step) = self.on_step.as_mut() {
                    on_step(&Progress {
                        epoch,
                        batch,
                        n_batches,
                        loss: loss.to_scalar::<f32>()?,
                    });
                }
            }
        }
        Ok(model.frozen())
    }
}

/// What a training run fits: a class per row, or a probability vector per row.
enum Targets<'t> {
    Labels(std::borrow::Cow<'t, [u32]>),
    Soft(std::borrow::Cow<'t, Tensor>),
}

impl Targets<'_> {
    /// The targets of `rows` (whose indices are also in the u32 tensor `index`).
    fn select(&self, rows: &[usize], index: &Tensor) -> Result<Targets<'static>> {
        Ok(match self {
            Targets::Labels(labels) => Targets::Labels(std::borrow::Cow::Owned(
                rows.iter().map(|&r| labels[r]).collect(),
            )),
            Targets::Soft(p) => Targets::Soft(std::borrow::Cow::Owned(p.index_select(index, 0)?)),
        })
    }

    /// The class of each row: the label, or the arg-max of its probabilities.
    fn labels(&self) -> Result<Vec<u32>> {
        Ok(match self {
            Targets::Labels(labels) => labels.to_vec(),
            Targets::Soft(p) => p.argmax(1)?.to_vec1::<u32>()?,
        })
    }
}

/// Checks soft targets are (n, 10) f32 rows of non-negative values that sum to 1.
fn check_soft_targets(targets: &Tensor, n: usize) -> Result<()> {
    let bad = |reason: String| Error::invalid("training targets", reason);
    if targets.dims() != [n, crate::data::N_CLASSES] {
        return Err(bad(format!(
            "shape {:?}, expected [{n}, 10] (one probability row per image)",
            targets.dims()
        )));
    }
    if targets.dtype() != candle_core::DType::F32 {
        return Err(bad(format!("dtype {:?}, expected f32", targets.dtype())));
    }
    for (i, row) in targets.to_vec2::<f32>()?.iter().enumerate() {
        let sum: f32 = row.iter().sum();
        if row.iter().any(|v| !v.is_finite() || *v < 0.0) || (sum - 1.0).abs() > 1e-3 {
            return Err(bad(format!(
                "row {i} is not a probability vector (values must be >= 0 and sum to 1; it sums to {sum})"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_count_the_short_last_batch_of_each_epoch() {
        let config = TrainConfig {
            epochs: 3,
            batch_size: 64,
            learning_rate: 1e-3,
            final_learning_rate: None,
            seed: 0,
        };
        assert_eq!(config.steps(128), 6);
        assert_eq!(config.steps(130), 9);
        assert_eq!(config.steps(0), 0);
    }

    #[test]
    fn soft_targets_must_be_probability_rows() {
        let images = Tensor::zeros(
            (2, 1, 28, 28),
            candle_core::DType::F32,
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let trainer = || {
            Trainer::new(TrainConfig {
                epochs: 1,
                batch_size: 2,
                learning_rate: 1e-3,
                final_learning_rate: None,
                seed: 0,
            })
        };
        let model = Cnn::init(0).unwrap();
        let halves = Tensor::full(0.5f32, (2, 10), &candle_core::Device::Cpu).unwrap();
        let wrong_shape = Tensor::full(0.1f32, (3, 10), &candle_core::Device::Cpu).unwrap();
        assert!(trainer().fit_soft(&model, &images, &halves).is_err());
        assert!(trainer().fit_soft(&model, &images, &wrong_shape).is_err());
        let uniform = Tensor::full(0.1f32, (2, 10), &candle_core::Device::Cpu).unwrap();
        assert!(trainer().fit_soft(&model, &images, &uniform).is_ok());
    }

    #[test]
    fn soft_training_fits_its_targets() {
        // Eight random images, each taught its own class as a one-hot row: the loss must fall
        // until the model predicts them.
        let device = candle_core::Device::Cpu;
        let mut rng = rng::rng(7, "images");
        let images = Tensor::from_vec(
            rng::uniform(8 * 784, 0.0, 1.0, &mut rng),
            (8, 1, 28, 28),
            &device,
        )
        .unwrap();
        let classes: Vec<u32> = (0..8).collect();
        let one_hot = Tensor::from_vec(
            (0..80)
                .map(|i| f32::from(u8::from(i % 10 == (i / 10) as usize)))
                .collect::<Vec<_>>(),
            (8, 10),
            &device,
        )
        .unwrap();
        let model = Trainer::new(TrainConfig {
            epochs: 60,
            batch_size: 8,
            learning_rate: 1e-3,
            final_learning_rate: None,
            seed: 0,
        })
        .fit_soft(&Cnn::init(0).unwrap(), &images, &one_hot)
        .unwrap();
        assert_eq!(model.predict(&images).unwrap(), classes);
    }
}
