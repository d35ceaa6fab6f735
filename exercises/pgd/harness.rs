//! Grading and display for the `pgd` exercise (the lab's code: do not edit).

use aisec_lab::adversary::{self, Pgd};
use aisec_lab::checks::{self, AttackDemo, percent};
use aisec_lab::harness::Context;
use aisec_lab::serde_json;
use aisec_lab::{Result, plot};
use aisec_sdk::Dataset;
use serde::Deserialize;

/// `[settings]` of exercise.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    batch: usize,
}

/// `[bars]` of exercise.toml (points are percentage points of accuracy).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bars {
    max_points_above_reference: f64,
    standard_min_points_below_fgsm: f64,
    adversarial_min_points_below_fgsm: f64,
    min_moved_by_random_start: f64,
}

/// PGD-40 at eps 0.3, step 0.01: the setting every figure of this lab uses.
const EPS: f32 = 0.3;
const STEP: f32 = 0.01;
const STEPS: usize = 40;

pub fn check(ctx: &mut Context, settings: &Settings, bars: &Bars) -> Result<()> {
    let n = settings.batch;
    let batch = checks::draw(&ctx.data()?.test, n, &mut ctx.rng("batch"))?;
    let (x, y) = (batch.images(), batch.labels());
    let margin = bars.max_points_above_reference / 100.0;

    for name in ["standard", "adversarial"] {
        let model = ctx.model(name)?;
        // The reference starts from the same random stream, so an attack that draws its start
        // the usual way matches it exactly; any other draw is compared within the margin.
        let start_stream = format!("start-{name}");
        let mut student_rng = ctx.runner_rng(&start_stream);
        let Some(adv) = ctx.student(
            &format!("{name}: runs"),
            exercise::pgd(&model, x, y, EPS, STEP, STEPS, &mut student_rng),
        ) else {
            return Ok(());
        };
        if checks::check_in_ball(
            ctx,
            name,
            x,
            &adv,
            EPS,
            "project after every step: clamp to [x - eps, x + eps] and to [0, 1]",
        )
        .is_none()
        {
            return Ok(());
        }
        let theirs = checks::accuracy(&model, &adv, y)?;
        let reference = {
            let mut rng = ctx.runner_rng(&start_stream);
            let adv = adversary::pgd(
                &model,
                x,
                y,
                &Pgd {
                    eps: EPS,
                    step: STEP,
                    steps: STEPS,
                    random_start: true,
                },
                &mut rng,
            )?;
            checks::accuracy(&model, &adv, y)?
        };
        let fgsm = checks::accuracy(&model, &adversary::fgsm(&model, x, y, EPS)?, y)?;
        ctx.check(
            &format!("{name}: as strong as the reference PGD-40"),
            theirs <= reference + margin,
            format!("accuracy under your attack {} (reference PGD {})", percent(theirs), percent(reference)),
            format!("<= {} (reference + {:.0} points)", percent(reference + margin), margin * 100.0),
            "use every step: gradient at the current point, signed step, projection; keep the best-effort loop going for all steps",
        );
        let gap = match name {
            "standard" => bars.standard_min_points_below_fgsm,
            _ => bars.adversarial_min_points_below_fgsm,
        } / 100.0;
        ctx.check(
            &format!("{name}: clearly stronger than FGSM"),
            theirs <= fgsm - gap,
            format!("accuracy under your attack {} vs FGSM at the same eps {}", percent(theirs), percent(fgsm)),
            format!("<= {} (FGSM - {:.0} points)", percent(fgsm - gap), gap * 100.0),
            "many small steps with projection beat one big step; check the step size and the number of steps you use",
        );
    }

    // Projection under a step larger than the budget, on a few digits.
    let model = ctx.model("standard")?;
    let few = batch.head(32)?;
    let mut rng = ctx.runner_rng("projection");
    if let Some(adv) = ctx.student(
        "projection: runs",
        exercise::pgd(&model, few.images(), few.labels(), 0.05, 0.2, 5, &mut rng),
    ) {
        let ball = checks::ball(few.images(), &adv)?;
        ctx.check(
            "projection: steps of 0.2 with eps 0.05 stay in the ball",
            ball.holds(0.05),
            ball.describe(),
            "max |adv - x| <= 0.05, every pixel in [0, 1]",
            "project onto the eps-ball around the original images, not around the previous iterate",
        );
    }

    // The random start: zero steps leaves a random point of the ball, drawn from the given rng.
    let start = |seed: &str, ctx: &mut Context| {
        let mut rng = ctx.runner_rng(seed);
        exercise::pgd(&model, few.images(), few.labels(), EPS, STEP, 0, &mut rng)
    };
    let (a, b, c) = (
        start("start-a", ctx),
        start("start-a", ctx),
        start("start-b", ctx),
    );
    if let (Some(a), Some(b), Some(c)) = (
        ctx.student("random start: runs", a),
        ctx.student("random start: runs again", b),
        ctx.student("random start: runs with another seed", c),
    ) {
        let (xs, av, bv, cv) = (
            checks::values(few.images())?,
            checks::values(&a)?,
            checks::values(&b)?,
            checks::values(&c)?,
        );
        let moved = xs
            .iter()
            .zip(&av)
            .filter(|(x, a)| (*x - *a).abs() > 1e-6)
            .count() as f64
            / xs.len() as f64;
        let same_seed_same = av == bv;
        let other_seed_differs = av != cv;
        let min_moved = bars.min_moved_by_random_start;
        ctx.check(
            "random start: uniform in the ball, from the given rng only",
            moved >= min_moved
                && same_seed_same
                && other_seed_differs
                && checks::ball(few.images(), &a)?.holds(EPS),
            format!(
                "{} of pixels moved with 0 steps; same rng state → {}; other seed → {}",
                percent(moved),
                if same_seed_same {
                    "same output"
                } else {
                    "different output"
                },
                if other_seed_differs {
                    "different output"
                } else {
                    "same output"
                }
            ),
            format!(
                ">= {} moved, same seed reproduces, another seed differs",
                percent(min_moved)
            ),
            "draw the start with aisec_sdk::rng::uniform(n, -eps, eps, rng), then clip to [0, 1]",
        );
    }
    Ok(())
}

/// Accuracy of `model` on `data` clean, under the lab's FGSM, and under `pgd` (PGD-40).
fn accuracies(
    model: &aisec_sdk::Cnn,
    data: &Dataset,
    eps: f32,
    rng: &mut aisec_sdk::rng::Rng,
) -> Result<(f64, f64, f64)> {
    let (mut clean, mut fgsm, mut pgd) = (0.0, 0.0, 0.0);
    for piece in data.batches(250) {
        let (x, y) = piece?;
        let weight = y.len() as f64;
        let clean_here = checks::accuracy(model, &x, y)?;
        clean += clean_here * weight;
        if eps == 0.0 {
            fgsm += clean_here * weight;
            pgd += clean_here * weight;
            continue;
        }
        fgsm += checks::accuracy(model, &adversary::fgsm(model, &x, y, eps)?, y)? * weight;
        pgd += checks::accuracy(
            model,
            &exercise::pgd(model, &x, y, eps, STEP, STEPS, rng)?,
            y,
        )? * weight;
    }
    let n = data.len() as f64;
    Ok((clean / n, fgsm / n, pgd / n))
}

fn show(ctx: &mut Context, options: &AttackDemo) -> Result<()> {
    options.validate()?;
    let data = ctx.data()?.test.head(options.n)?;
    let sample = checks::draw(&ctx.data()?.test, 6, &mut ctx.rng("sample"))?;
    let mut rng = ctx.runner_rng("pgd");
    let mut models = serde_json::Map::new();
    let mut series = Vec::new();
    let mut pictures = Vec::new();
    let bar = ctx.progress(
        (options.models.len() * options.eps.len()) as u64,
        "attacking",
    );
    for name in &options.models {
        let model = ctx.model(name)?;
        let adv = exercise::pgd(
            &model,
            sample.images(),
            sample.labels(),
            EPS,
            STEP,
            STEPS,
            &mut rng,
        )?;
        bar.suspend(|| -> Result<()> {
            let title = format!("PGD-40 at eps {EPS} against the {name} model:");
            pictures.push(checks::show_pairs(
                ctx,
                &format!("pgd-{name}-eps{EPS}"),
                &title,
                &model,
                &sample,
                &adv,
            )?);
            Ok(())
        })?;
        let mut rows = Vec::new();
        for &eps in &options.eps {
            let (clean, fgsm, pgd) = accuracies(&model, &data, eps, &mut rng)?;
            rows.push(serde_json::json!({ "eps": checks::decimal(eps), "clean": clean, "fgsm": fgsm, "pgd": pgd, "n": data.len() }));
            bar.inc(1);
        }
        for attack in ["fgsm", "pgd"] {
            let points = rows
                .iter()
                .map(|r| {
                    (
                        r["eps"].as_f64().unwrap_or(0.0),
                        r[attack].as_f64().unwrap_or(0.0),
                    )
                })
                .collect();
            series.push(plot::Series {
                label: format!(
                    "{name}, {}",
                    if attack == "fgsm" { "FGSM" } else { "PGD-40" }
                ),
                points,
            });
        }
        models.insert(name.clone(), serde_json::Value::Array(rows));
    }
    bar.finish_and_clear();
    let plot_path = ctx.out_dir()?.join("accuracy-vs-eps.png");
    plot::line_plot(
        &plot::LinePlot {
            title: format!(
                "Accuracy under L-inf attacks, first {} test digits",
                data.len()
            ),
            x_label: "eps".into(),
            y_label: "accuracy".into(),
            series,
            x_range: None,
            y_range: Some((0.0, 1.0)),
            log_x: false,
        },
        &plot_path,
    )?;
    if !ctx.json() {
        ctx.say(&format!("Accuracy on the first {} test digits (FGSM: the lab's; PGD-40, step {STEP}: this crate's):", data.len()));
        ctx.say(&format!(
            "{:>12} {:>6} {:>8} {:>8} {:>8}",
            "model", "eps", "clean", "FGSM", "PGD-40"
        ));
        for (name, rows) in &models {
            for r in rows.as_array().into_iter().flatten() {
                let f = |k: &str| percent(r[k].as_f64().unwrap_or(0.0));
                ctx.say(&format!(
                    "{name:>12} {:>6.2} {:>8} {:>8} {:>8}",
                    r["eps"].as_f64().unwrap_or(0.0),
                    f("clean"),
                    f("fgsm"),
                    f("pgd")
                ));
            }
        }
        ctx.say(&format!("plot: {}", plot_path.display()));
    }
    ctx.emit(serde_json::json!({ "seed": ctx.seed(), "models": models, "plot": plot_path, "pictures": pictures }));
    Ok(())
}

pub fn run(ctx: &mut Context, _: &Settings) -> Result<()> {
    let options = AttackDemo {
        models: vec!["standard".into()],
        n: 100,
        eps: vec![0.1, 0.3],
    };
    show(ctx, &options)
}

pub fn demo(ctx: &mut Context, _: &Settings, options: &AttackDemo) -> Result<()> {
    show(ctx, options)
}
