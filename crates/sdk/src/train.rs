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
    pub fn fit(mut self, initial: &Cnn, data: &Dataset) -> Result<Cnn> {
        self.config.validate()?;
        if data.is_empty() {
            return Err(Error::invalid("training data", "no rows to train on"));
        }
        let (model, vars) = initial.trainable()?;
        let mut optimiser = Adam::new(vars, self.config.learning_rate)?;
        let mut shuffle_rng = rng::rng(self.config.seed, "shuffle");
        let mut perturb_rng = rng::rng(self.config.seed, "perturb");
        let n_batches = data.len().div_ceil(self.config.batch_size);
        let n_steps = self.config.steps(data.len());
        for epoch in 0..self.config.epochs {
            let order = rng::permutation(data.len(), &mut shuffle_rng);
            for (batch, rows) in order.chunks(self.config.batch_size).enumerate() {
                optimiser.set_learning_rate(
                    self.config
                        .learning_rate_at(epoch * n_batches + batch, n_steps),
                );
                let batch_data = data.select(rows)?;
                let mut images = batch_data.images().clone();
                if let Some(perturb) = self.perturb.as_mut() {
                    images =
                        perturb(&model, &images, batch_data.labels(), &mut perturb_rng)?.detach();
                }
                let loss = kernels::on_worker(|| -> Result<Tensor> {
                    let loss = ops::cross_entropy(
                        &model.forward(&images)?,
                        batch_data.labels(),
                        Reduction::Mean,
                    )?;
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
}
