//! Helpers the exercises' harnesses share: seeded draws, L-inf ball checks, accuracy, and
//! showing clean and perturbed digits side by side.

use aisec_sdk::rng::{self, Rng};
use aisec_sdk::{Cnn, Dataset, Tensor};

use crate::error::{Error, Result};
use crate::harness::Context;
use crate::{plot, render};

/// `n` distinct rows of `data`, drawn with `rng` (all rows if there are fewer).
pub fn draw(data: &Dataset, n: usize, rng: &mut Rng) -> Result<Dataset> {
    let mut rows = rng::permutation(data.len(), rng);
    rows.truncate(n.min(data.len()));
    Ok(data.select(&rows)?)
}

/// How a perturbed batch sits relative to the eps-ball around the original.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ball {
    /// Largest |adv - x| over all pixels.
    pub max_distance: f32,
    /// Pixels outside [0, 1].
    pub out_of_range: usize,
    /// NaN or infinite pixels.
    pub non_finite: usize,
}

impl Ball {
    /// True when every pixel is finite, in [0, 1] and within `eps` (plus float slack).
    pub fn holds(&self, eps: f32) -> bool {
        self.non_finite == 0 && self.out_of_range == 0 && self.max_distance <= eps + 1e-6
    }

    /// A one-line description for check output.
    pub fn describe(&self) -> String {
        format!(
            "max |adv - x| = {:.4}, {} pixels outside [0, 1], {} not finite",
            self.max_distance, self.out_of_range, self.non_finite
        )
    }
}

/// Flattens a tensor to its values.
pub fn values(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?
        .to_dtype(aisec_sdk::DType::F32)?
        .to_vec1::<f32>()?)
}

/// Measures `adv` against the eps-ball around `x`; an error if the shapes differ.
pub fn ball(x: &Tensor, adv: &Tensor) -> Result<Ball> {
    if x.dims() != adv.dims() {
        return Err(Error::invalid(
            "adversarial batch",
            format!("shape {:?}, expected {:?}", adv.dims(), x.dims()),
        ));
    }
    let (xs, advs) = (values(x)?, values(adv)?);
    let mut result = Ball {
        max_distance: 0.0,
        out_of_range: 0,
        non_finite: 0,
    };
    for (a, b) in xs.iter().zip(&advs) {
        if !b.is_finite() {
            result.non_finite += 1;
            continue;
        }
        if !(0.0..=1.0).contains(b) {
            result.out_of_range += 1;
        }
        result.max_distance = result.max_distance.max((a - b).abs());
    }
    Ok(result)
}

/// Records the two checks every L-inf attack's output faces, named `"<label>: output shape"`
/// (recorded only when it fails) and `"<label>: stays in the eps-ball and in [0, 1]"`, with
/// `hint` for the second. Returns `None` when the shape is wrong: nothing else can be measured.
pub fn check_in_ball(
    ctx: &mut Context,
    label: &str,
    x: &Tensor,
    adv: &Tensor,
    eps: f32,
    hint: &str,
) -> Option<Ball> {
    let ball = match ball(x, adv) {
        Ok(ball) => ball,
        Err(e) => {
            ctx.check(
                &format!("{label}: output shape"),
                false,
                e.to_string(),
                "same shape as the input",
                "return one image per input image",
            );
            return None;
        }
    };
    ctx.check(
        &format!("{label}: stays in the eps-ball and in [0, 1]"),
        ball.holds(eps),
        ball.describe(),
        format!("max |adv - x| <= {eps}, every pixel in [0, 1] and finite"),
        hint,
    );
    Some(ball)
}

/// The `[demo]` options of an L-inf attack's harness (fgsm, pgd), with `aisec demo --set` on
/// top.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackDemo {
    /// Shipped models to attack (`standard`, `adversarial`).
    pub models: Vec<String>,
    /// Test digits evaluated (the first n of the test split).
    pub n: usize,
    /// L-inf budgets.
    pub eps: Vec<f32>,
}

impl AttackDemo {
    /// Refuses options the demo cannot use: an unknown model or a budget outside [0, 1].
    pub fn validate(&self) -> Result<()> {
        if let Some(unknown) = self
            .models
            .iter()
            .find(|m| !["standard", "adversarial"].contains(&m.as_str()))
        {
            return Err(Error::invalid(
                format!("demo option models = {unknown:?}"),
                "use standard and/or adversarial, e.g. --set models=standard,adversarial",
            ));
        }
        if self.models.is_empty() {
            return Err(Error::invalid(
                "demo option models",
                "name at least one model",
            ));
        }
        if let Some(bad) = self.eps.iter().find(|e| !(0.0..=1.0).contains(*e)) {
            return Err(Error::invalid(
                format!("demo option eps = {bad}"),
                "budgets are in [0, 1], e.g. --set eps=0,0.1,0.3",
            ));
        }
        Ok(())
    }
}

/// Fraction of `x` that `model` classifies as `labels`.
pub fn accuracy(model: &Cnn, x: &Tensor, labels: &[u32]) -> Result<f64> {
    Ok(aisec_sdk::metrics::accuracy(&model.predict(x)?, labels))
}

/// An f32 setting (an eps) as the f64 its decimal reads as, so JSON shows 0.05, not
/// 0.05000000074505806.
pub fn decimal(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

/// A fraction as a percentage with one decimal: `0.4321` → `43.2%`.
pub fn percent(fraction: f64) -> String {
    format!("{:.1}%", 100.0 * fraction)
}

/// Shows up to 6 digits clean and perturbed in the terminal, with the model's reading of each,
/// and writes both rows as one PNG (clean above, perturbed below) to `out/<exercise>/<name>.png`.
/// Returns the PNG's path.
pub fn show_pairs(
    ctx: &Context,
    name: &str,
    title: &str,
    model: &Cnn,
    clean: &Dataset,
    adv: &Tensor,
) -> Result<std::path::PathBuf> {
    show_pairs_tagged(ctx, name, title, model, clean, adv, ("clean", "adv"))
}

/// [`show_pairs`] with the captions' tags of the two rows named, e.g. ("clean", "triggered").
pub fn show_pairs_tagged(
    ctx: &Context,
    name: &str,
    title: &str,
    model: &Cnn,
    clean: &Dataset,
    adv: &Tensor,
    tags: (&str, &str),
) -> Result<std::path::PathBuf> {
    let n = clean.len().min(6);
    let clean = clean.head(n)?;
    let adv = adv.narrow(0, 0, n)?;
    let clean_pixels = clean.images().flatten_from(1)?.to_vec2::<f32>()?;
    let adv_pixels = adv.flatten_from(1)?.to_vec2::<f32>()?;
    let clean_guess = model.predict(clean.images())?;
    let adv_guess = model.predict(&adv)?;
    let path = ctx.out_dir()?.join(format!("{name}.png"));
    let grid: Vec<&[f32]> = clean_pixels
        .iter()
        .chain(&adv_pixels)
        .map(Vec::as_slice)
        .collect();
    plot::digit_grid(&grid, n, 4, &path)?;
    if !ctx.json() {
        let row = |pixels: &[Vec<f32>], guesses: &[u32], tag: &str| -> String {
            let digits: Vec<(&[f32], String)> = pixels
                .iter()
                .zip(clean.labels().iter().zip(guesses))
                .map(|(p, (label, guess))| {
                    let mark = if label == guess { "" } else { " ✗" };
                    (p.as_slice(), format!("{tag} {label} → {guess}{mark}"))
                })
                .collect();
            render::digits_row(&digits, ctx.color())
        };
        ctx.say(&format!("{title}\n"));
        ctx.say(&row(&clean_pixels, &clean_guess, tags.0));
        ctx.say(&row(&adv_pixels, &adv_guess, tags.1));
        ctx.say(&format!("picture: {}\n", path.display()));
    }
    Ok(path)
}
