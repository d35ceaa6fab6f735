//! Grading and display for the `fgsm` exercise (the lab's code: do not edit).

use aisec_lab::Result;
use aisec_lab::checks::{self, AttackDemo, percent};
use aisec_lab::harness::Context;
use aisec_lab::serde_json;
use aisec_sdk::Tensor;
use serde::Deserialize;

/// `[settings]` of exercise.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    batch: usize,
}

/// `[bars]` of exercise.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bars {
    min_exact_fraction: f64,
    min_prediction_agreement: f64,
}

/// Budgets every check run tries, plus one drawn from the seed.
const FIXED_EPS: [f32; 3] = [0.05, 0.1, 0.2];

/// A budget in [0.15, 0.35], rounded to two decimals, drawn from the seed, and never one of
/// the fixed budgets (check names must stay unique).
fn draw_eps(ctx: &Context) -> f32 {
    let drawn = aisec_sdk::rng::uniform(1, 0.15, 0.35, &mut ctx.rng("eps"))[0];
    let mut eps = (drawn * 100.0).round() / 100.0;
    if FIXED_EPS.iter().any(|&f| (f - eps).abs() < 1e-6) {
        eps += 0.01;
    }
    eps
}

/// clip(x + eps · sign(g), 0, 1) computed by the grader, with sign(0) = 0.
fn expected(x: &Tensor, gradient: &Tensor, eps: f32) -> Result<Tensor> {
    Ok((x + (gradient.sign()? * f64::from(eps))?)?.clamp(0f32, 1f32)?)
}

pub fn check(ctx: &mut Context, settings: &Settings, bars: &Bars) -> Result<()> {
    let model = ctx.model("standard")?;
    let n = settings.batch;
    let batch = checks::draw(&ctx.data()?.test, n, &mut ctx.rng("batch"))?;
    let (x, y) = (batch.images(), batch.labels());
    let gradient = model.input_gradient(x, y)?;
    let (exact_bar, agree_bar) = (bars.min_exact_fraction, bars.min_prediction_agreement);
    let mut eps_list = FIXED_EPS.to_vec();
    eps_list.push(draw_eps(ctx));
    for eps in eps_list {
        let Some(adv) = ctx.student(
            &format!("eps {eps:.2}: runs"),
            exercise::fgsm(&model, x, y, eps),
        ) else {
            return Ok(());
        };
        if checks::check_in_ball(
            ctx,
            &format!("eps {eps:.2}"),
            x,
            &adv,
            eps,
            "clip to [0, 1] after the step; a step of exactly eps never leaves the ball",
        )
        .is_none()
        {
            return Ok(());
        }
        let want = checks::values(&expected(x, &gradient, eps)?)?;
        let got = checks::values(&adv)?;
        let exact = got
            .iter()
            .zip(&want)
            .filter(|(g, w)| (*g - *w).abs() <= 1e-6)
            .count() as f64
            / want.len() as f64;
        ctx.check(
            &format!("eps {eps:.2}: equals clip(x + eps * sign(grad), 0, 1)"),
            exact >= exact_bar,
            format!("{} of pixels match", percent(exact)),
            format!(">= {}", percent(exact_bar)),
            "step by eps * sign of the input gradient of the loss; sign(0) must be 0 (f32::signum(0.0) is 1)",
        );
        let reference = model.predict(&expected(x, &gradient, eps)?)?;
        let theirs = model.predict(&adv)?;
        let agree = reference
            .iter()
            .zip(&theirs)
            .filter(|(a, b)| a == b)
            .count() as f64
            / n as f64;
        ctx.check(
            &format!("eps {eps:.2}: the model reads your images as it reads FGSM's"),
            agree >= agree_bar,
            format!(
                "{} of predictions agree (accuracy {} vs {})",
                percent(agree),
                percent(aisec_sdk::metrics::accuracy(&theirs, y)),
                percent(aisec_sdk::metrics::accuracy(&reference, y))
            ),
            format!(">= {}", percent(agree_bar)),
            "an attack that perturbs differently from FGSM changes the accuracy differently",
        );
    }
    Ok(())
}

fn show(ctx: &mut Context, options: &AttackDemo) -> Result<()> {
    options.validate()?;
    let data = ctx.data()?.test.head(options.n)?;
    let sample = checks::draw(&ctx.data()?.test, 6, &mut ctx.rng("sample"))?;
    let mut models = serde_json::Map::new();
    for name in &options.models {
        let model = ctx.model(name)?;
        let eps = 0.25;
        let adv = exercise::fgsm(&model, sample.images(), sample.labels(), eps)?;
        let title = format!("FGSM at eps {eps} against the {name} model:");
        checks::show_pairs(
            ctx,
            &format!("fgsm-{name}-eps{eps}"),
            &title,
            &model,
            &sample,
            &adv,
        )?;
        let mut rows = Vec::new();
        for &eps in &options.eps {
            let mut correct = 0.0;
            for piece in data.batches(256) {
                let (x, y) = piece?;
                let adv = exercise::fgsm(&model, &x, y, eps)?;
                correct += checks::accuracy(&model, &adv, y)? * y.len() as f64;
            }
            rows.push(serde_json::json!({ "eps": checks::decimal(eps), "fgsm": correct / data.len() as f64, "n": data.len() }));
        }
        if !ctx.json() {
            ctx.say(&format!(
                "Accuracy of the {name} model under your FGSM, first {} test digits:",
                data.len()
            ));
            for row in &rows {
                ctx.say(&format!(
                    "  eps {:.2}  {}",
                    row["eps"].as_f64().unwrap_or(0.0),
                    percent(row["fgsm"].as_f64().unwrap_or(0.0))
                ));
            }
            ctx.say("");
        }
        models.insert(name.clone(), serde_json::Value::Array(rows));
    }
    ctx.emit(serde_json::json!({ "seed": ctx.seed(), "models": models }));
    Ok(())
}

pub fn run(ctx: &mut Context, _: &Settings) -> Result<()> {
    let options = AttackDemo {
        models: vec!["standard".into()],
        n: 200,
        eps: vec![0.0, 0.1, 0.2, 0.3],
    };
    show(ctx, &options)
}

pub fn demo(ctx: &mut Context, _: &Settings, options: &AttackDemo) -> Result<()> {
    show(ctx, options)
}
