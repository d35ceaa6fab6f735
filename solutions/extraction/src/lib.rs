//! Model extraction through a prediction API (reference solution): natural digits first, then
//! synthetic queries made from them, and a copy trained to match every answer.
//!
//! The natural digits teach the copy what the victim says on the data it was built for; the
//! synthetic ones — digits shifted, turned and scaled a little, and blends of two digits — ask
//! about the regions between and around them, where the victim's decision boundary lies. With
//! probabilities the copy is fitted to the whole answer (distillation), which carries far more
//! than the label per query; with labels only, the same loss on one-hot rows.

use aisec_sdk::rng::{self, Rng, RngCore, permutation};
use aisec_sdk::theft::Answers;
use aisec_sdk::train::{TrainConfig, Trainer};
use aisec_sdk::{Cnn, Device, Result, Tensor};

const SIDE: usize = 28;
const PIXELS: usize = SIDE * SIDE;

/// Natural digits in the first round (as many as the budget allows), every remaining query as
/// synthetic ones in the second, then done.
pub fn next_queries(
    answers: Answers,
    remaining: usize,
    population: &Tensor,
    asked: &Tensor,
    replies: &Tensor,
    rng: &mut Rng,
) -> Result<Option<Tensor>> {
    let _ = (answers, replies);
    let n_population = population.dim(0)?;
    if remaining == 0 || n_population == 0 {
        return Ok(None);
    }
    if asked.dim(0)? == 0 {
        let order = permutation(n_population, rng);
        let rows: Vec<u32> = order[..remaining.min(n_population)]
            .iter()
            .map(|&i| i as u32)
            .collect();
        let index = Tensor::from_vec(rows.clone(), rows.len(), &Device::Cpu)?;
        return Ok(Some(population.index_select(&index, 0)?));
    }
    let digits = population.flatten_from(1)?.to_vec2::<f32>()?;
    let mut pixels = Vec::with_capacity(remaining * PIXELS);
    for i in 0..remaining {
        let a = &digits[pick(n_population, rng)];
        let query = if i % 2 == 0 {
            jitter(a, rng)
        } else {
            let b = &digits[pick(n_population, rng)];
            let share = between(0.3, 0.7, rng);
            a.iter()
                .zip(b)
                .map(|(x, y)| share * x + (1.0 - share) * y)
                .collect()
        };
        pixels.extend(query);
    }
    Ok(Some(Tensor::from_vec(
        pixels,
        (remaining, 1, SIDE, SIDE),
        &Device::Cpu,
    )?))
}

/// A number drawn uniformly from `[low, high)`.
fn between(low: f32, high: f32, rng: &mut Rng) -> f32 {
    rng::uniform(1, low, high, rng)[0]
}

/// An index drawn from `0..n` (n > 0).
fn pick(n: usize, rng: &mut Rng) -> usize {
    (rng.next_u64() % n as u64) as usize
}

/// `digit` moved by a random affine map: turned up to 15°, scaled by 0.9 to 1.1, shifted up to
/// 2.5 pixels, sampled bilinearly (pixels from outside the image are 0).
fn jitter(digit: &[f32], rng: &mut Rng) -> Vec<f32> {
    let angle = between(-15.0, 15.0, rng).to_radians();
    let scale = between(0.9, 1.1, rng);
    let (dx, dy) = (between(-2.5, 2.5, rng), between(-2.5, 2.5, rng));
    let (sin, cos) = angle.sin_cos();
    let centre = (SIDE as f32 - 1.0) / 2.0;
    let at = |x: isize, y: isize| -> f32 {
        if (0..SIDE as isize).contains(&x) && (0..SIDE as isize).contains(&y) {
            digit[y as usize * SIDE + x as usize]
        } else {
            0.0
        }
    };
    let mut out = vec![0.0; PIXELS];
    for row in 0..SIDE {
        for col in 0..SIDE {
            // Where this output pixel comes from: the inverse of the map.
            let (u, v) = (col as f32 - centre - dx, row as f32 - centre - dy);
            let x = (cos * u + sin * v) / scale + centre;
            let y = (-sin * u + cos * v) / scale + centre;
            let (x0, y0) = (x.floor(), y.floor());
            let (fx, fy) = (x - x0, y - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            out[row * SIDE + col] = (1.0 - fy) * ((1.0 - fx) * at(x0, y0) + fx * at(x0 + 1, y0))
                + fy * ((1.0 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1));
        }
    }
    out
}

/// A fresh CNN fitted to the replies: the probabilities themselves, or the one-hot labels. The
/// fewer the queries, the more passes over them (about 20,000 rows seen in all).
pub fn train_copy(
    answers: Answers,
    asked: &Tensor,
    replies: &Tensor,
    rng: &mut Rng,
) -> Result<Cnn> {
    let _ = answers;
    let n = asked.dim(0)?;
    let seed = rng.next_u64();
    let config = TrainConfig {
        epochs: (20_000 / n.max(1)).clamp(5, 40),
        batch_size: 64,
        learning_rate: 2e-3,
        final_learning_rate: Some(1e-4),
        seed,
    };
    Trainer::new(config).fit_soft(&Cnn::init(seed)?, asked, replies)
}
