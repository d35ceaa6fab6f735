//! Throughput of the CNN on this machine, measured as `../shared/bench/torch_reference.py`
//! measures PyTorch, so the two compare as a ratio.
//!
//! - `train_images_per_s`: Adam (lr 1e-3), batch 64, 32 batches of random inputs in [0, 1);
//! - `forward_images_per_s`: 8 batches of 256, no autograd;
//! - `input_grad_images_per_s`: 8 batches of 256, gradient of the cross-entropy with respect to
//!   the input only (weights frozen).
//!
//! And of the LLM track's chat model, measured as llama.cpp's `llama-bench -p 512 -n 128`
//! measures it:
//!
//! - `prompt_tokens_per_s`: 512 tokens read in one pass from an empty cache;
//! - `generation_tokens_per_s`: 128 tokens generated one at a time from an empty cache.
//!
//! Each figure: one warm-up run, then the median of `repetitions` timed runs.

use std::time::Instant;

use aisec_sdk::train::{TrainConfig, Trainer};
use aisec_sdk::{Cnn, Dataset, Device, Tensor, rng};
use serde::Serialize;

use crate::error::Result;

/// The measured figures.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Worker threads.
    pub threads: usize,
    /// Training throughput.
    pub train_images_per_s: f64,
    /// Inference throughput.
    pub forward_images_per_s: f64,
    /// Input-gradient throughput.
    pub input_grad_images_per_s: f64,
    /// Timed runs per figure.
    pub repetitions: usize,
}

/// The chat model's figures.
#[derive(Debug, Clone, Serialize)]
pub struct LlmBenchReport {
    /// Worker threads.
    pub threads: usize,
    /// Prompt processing, 512 tokens in one pass.
    pub prompt_tokens_per_s: f64,
    /// Generation, 128 tokens one at a time.
    pub generation_tokens_per_s: f64,
    /// Timed runs per figure.
    pub repetitions: usize,
}

/// Measures prompt and generation throughput of `model`; `on_figure` as for [`run`].
pub fn run_llm(
    model: &aisec_llm::ChatModel,
    repetitions: usize,
    mut on_figure: impl FnMut(&str),
) -> Result<LlmBenchReport> {
    let transformer = model.transformer();
    let text = "The quick brown fox jumps over the lazy dog while the sea sparkles. ".repeat(48);
    let ids = model.tokenizer().encode(&text)?;
    let prompt = ids
        .get(..512)
        .ok_or_else(|| crate::Error::invalid("benchmark prompt", "fewer than 512 tokens"))?;
    on_figure("prompt processing");
    let prompt_rate = median_rate(512, repetitions, || {
        let mut cache = transformer.new_cache();
        transformer.forward(prompt, &mut cache)?;
        Ok(())
    })?;
    on_figure("generation");
    let generation_rate = median_rate(128, repetitions, || {
        let mut cache = transformer.new_cache();
        let mut token = prompt[0];
        for _ in 0..128 {
            let logits = transformer.forward(&[token], &mut cache)?;
            token = logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(id, _)| id as u32);
        }
        Ok(())
    })?;
    Ok(LlmBenchReport {
        threads: rayon::current_num_threads(),
        prompt_tokens_per_s: (prompt_rate * 10.0).round() / 10.0,
        generation_tokens_per_s: (generation_rate * 10.0).round() / 10.0,
        repetitions,
    })
}

fn random_batch(n: usize, seed: u64) -> Result<(Tensor, Vec<u32>)> {
    let mut r = rng::rng(seed, "bench");
    let x = Tensor::from_vec(
        rng::uniform(n * 784, 0.0, 1.0, &mut r),
        (n, 1, 28, 28),
        &Device::Cpu,
    )?;
    let y = (0..n)
        .map(|_| rand::Rng::random_range(&mut r, 0..10u32))
        .collect();
    Ok((x, y))
}

fn median_rate(
    images: usize,
    repetitions: usize,
    mut run: impl FnMut() -> Result<()>,
) -> Result<f64> {
    run()?;
    let mut rates = Vec::with_capacity(repetitions);
    for _ in 0..repetitions.max(1) {
        let started = Instant::now();
        run()?;
        rates.push(images as f64 / started.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}

/// Measures the three figures for `model`; `on_figure` is told each figure's name as it starts.
pub fn run(
    model: &Cnn,
    repetitions: usize,
    mut on_figure: impl FnMut(&str),
) -> Result<BenchReport> {
    let (x256, y256) = random_batch(256, 1)?;
    on_figure("forward");
    let forward = median_rate(8 * 256, repetitions, || {
        for _ in 0..8 {
            model.forward(&x256)?;
        }
        Ok(())
    })?;
    on_figure("input gradient");
    let input_grad = median_rate(8 * 256, repetitions, || {
        for _ in 0..8 {
            model.input_gradient(&x256, &y256)?;
        }
        Ok(())
    })?;
    on_figure("training");
    let (xt, yt) = random_batch(64 * 32, 2)?;
    let train_set = Dataset::new(xt, yt)?;
    let config = TrainConfig {
        epochs: 1,
        batch_size: 64,
        learning_rate: 1e-3,
        final_learning_rate: None,
        seed: 3,
    };
    let train = median_rate(train_set.len(), repetitions, || {
        Trainer::new(config.clone()).fit(model, &train_set)?;
        Ok(())
    })?;
    Ok(BenchReport {
        threads: rayon::current_num_threads(),
        train_images_per_s: train.round(),
        forward_images_per_s: forward.round(),
        input_grad_images_per_s: input_grad.round(),
        repetitions,
    })
}
