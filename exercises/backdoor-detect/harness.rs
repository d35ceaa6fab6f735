//! Grading and display for the `backdoor-detect` exercise (the lab's code: do not edit).

use std::collections::BTreeSet;

use aisec_lab::backdoor::{self, Plan};
use aisec_lab::checks::percent;
use aisec_lab::harness::{Context, NoOptions};
use aisec_lab::serde_json::json;
use aisec_lab::{Error, Result, plot, poison, render};
use aisec_sdk::analysis::{self, Pca};
use aisec_sdk::backdoor::Trigger;
use aisec_sdk::data::N_CLASSES;
use aisec_sdk::ndarray::Axis;
use aisec_sdk::rng::{self, RngCore};
use aisec_sdk::{Cnn, Dataset};
use serde::Deserialize;

/// `[settings]` of exercise.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    epochs: usize,
    min_strength: f64,
    min_planted_attack_success: f64,
    plan_draws: usize,
}

/// `[bars]` of exercise.toml (points are percentage points of accuracy).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bars {
    min_f1: f64,
    max_flagged_share_on_clean: f64,
    max_attack_success_after_repair: f64,
    max_points_below_clean_after_repair: f64,
}

/// A training set the candidate is shown, in a row order drawn for it, and the model trained
/// on it.
struct Shown {
    data: Dataset,
    model: Cnn,
}

/// The backdoored run: the plan, the shown set and model, the poisoned rows (indices into the
/// shown set) and how well the backdoor took.
struct Backdoored {
    plan: Plan,
    trigger: Trigger,
    shown: Shown,
    poisoned: Vec<usize>,
    attack_success: f64,
    plans_drawn: usize,
}

/// Trains the lab's poisoning CNN on `data` (the recipe of every model here), with a progress
/// bar.
fn train(ctx: &Context, data: &Dataset, epochs: usize, what: &str) -> Result<Cnn> {
    let steps = poison::train_config(ctx.draw_seed(), epochs).steps(data.len());
    let bar = ctx.progress(steps as u64, what);
    let model = poison::train(data, ctx.draw_seed(), epochs, |_| bar.inc(1))?;
    bar.finish_and_clear();
    Ok(model)
}

/// `data`'s rows in an order drawn from stream `purpose`, and the order (row `i` shown is row
/// `order[i]` of `data`). Each call gets its own order, so a candidate who kept the bundled
/// labels cannot find the stamped rows by their position.
fn shuffled(ctx: &Context, data: &Dataset, purpose: &str) -> Result<(Dataset, Vec<usize>)> {
    let order = rng::permutation(data.len(), &mut ctx.rng(purpose));
    Ok((data.select(&order)?, order))
}

/// The clean training set, shuffled, and a model trained on it with the recipe of the
/// backdoored one (not a shipped model, which a candidate could recognise).
fn clean_run(ctx: &Context, epochs: usize) -> Result<Shown> {
    let (data, _) = shuffled(ctx, &ctx.data()?.train, "order-clean")?;
    let model = train(ctx, &data, epochs, "training on a clean training set")?;
    Ok(Shown { data, model })
}

/// The number of white pixels of `plan`'s trigger times the rows it stamps: how strongly the
/// training set teaches the backdoor.
fn strength(plan: &Plan, n_rows: usize) -> Result<f64> {
    let white = f64::from(plan.trigger()?.pattern().sum_all()?.to_scalar::<f32>()?);
    Ok(white * (plan.rate * n_rows as f64).round())
}

/// Plants a backdoor drawn from the seed, shuffles the set and trains on it. A plan too weak
/// to plant a backdoor in a model trained this briefly (a 3-pixel diagonal on 1% of the rows)
/// is drawn again: first by its strength, then by the trained model's attack success on
/// held-out digits, up to `plan_draws` trained plans.
fn backdoored_run(ctx: &Context, settings: &Settings) -> Result<Backdoored> {
    let clean = &ctx.data()?.train;
    let test = &ctx.data()?.test;
    let mut plans = ctx.rng("plan");
    let mut last = None;
    for attempt in 1..=settings.plan_draws.max(1) {
        let plan = (0..1000)
            .map(|_| Plan::draw(&mut plans))
            .find(|plan| strength(plan, clean.len()).is_ok_and(|s| s >= settings.min_strength))
            .ok_or_else(|| Error::invalid("backdoor plan", "no plan strong enough was drawn"))?;
        let planted = backdoor::plant(clean, &plan, &mut ctx.rng(&format!("stamp-{attempt}")))?;
        let (data, order) = shuffled(ctx, &planted.data, &format!("order-backdoored-{attempt}"))?;
        let mut is_poisoned = vec![false; clean.len()];
        planted
            .poisoned
            .iter()
            .for_each(|&row| is_poisoned[row] = true);
        let poisoned: Vec<usize> = (0..order.len())
            .filter(|&i| is_poisoned[order[i]])
            .collect();
        let model = train(
            ctx,
            &data,
            settings.epochs,
            &format!("training on a backdoored set ({})", plan.describe()),
        )?;
        let trigger = plan.trigger()?;
        let attack_success = backdoor::attack_success(&model, &trigger, plan.target, test)?;
        let run = Backdoored {
            plan,
            trigger,
            shown: Shown { data, model },
            poisoned,
            attack_success,
            plans_drawn: attempt,
        };
        if attack_success >= settings.min_planted_attack_success {
            return Ok(run);
        }
        last = Some(run);
    }
    last.ok_or_else(|| Error::invalid("backdoor plan", "no plan was drawn"))
}

/// The plan in a check's name: "5x5 checker → 1 on 9.8%" (placeholders take no commas).
fn short(plan: &Plan) -> String {
    format!(
        "{0}x{0} {1} → {2} on {3:.1}%",
        plan.size,
        format!("{:?}", plan.shape).to_lowercase(),
        plan.target,
        100.0 * plan.rate
    )
}

/// Attack success and test accuracy of the backdoored, repaired and clean models.
struct Repair {
    attack_success: [f64; 3],
    accuracy: [f64; 3],
}

/// Retrains without `flagged` and measures the three models on the test split.
fn repair(
    ctx: &Context,
    run: &Backdoored,
    clean: &Cnn,
    flagged: &[usize],
    epochs: usize,
) -> Result<Repair> {
    let repaired = train(
        ctx,
        &poison::without_rows(&run.shown.data, flagged)?,
        epochs,
        "retraining without the flagged rows",
    )?;
    let test = &ctx.data()?.test;
    let (trigger, target) = (&run.trigger, run.plan.target);
    Ok(Repair {
        attack_success: [
            run.attack_success,
            backdoor::attack_success(&repaired, trigger, target, test)?,
            backdoor::attack_success(clean, trigger, target, test)?,
        ],
        accuracy: [
            run.shown.model.accuracy(test)?,
            repaired.accuracy(test)?,
            clean.accuracy(test)?,
        ],
    })
}

/// Which call comes first, drawn from the seed, so the candidate cannot tell the clean set
/// from the backdoored one by the order of the calls.
fn clean_first(ctx: &Context) -> bool {
    ctx.rng("order-calls").next_u32() & 1 == 0
}

pub fn check(ctx: &mut Context, settings: &Settings, bars: &Bars) -> Result<()> {
    let epochs = settings.epochs;
    let n = ctx.data()?.train.len();
    // The candidate's seed is derived from the run's, never the run's itself: with the run's
    // seed, the plan and the stamped rows could be recomputed from the lab's code.
    let seed = ctx.runner_seed("detect");
    // Both calls, each in a new runner (nothing of the first is left for the second), in a
    // drawn order; each model is trained just before its call, so an unstarted stub is
    // reported after one training, not two.
    let (mut clean, mut backdoored) = (None, None);
    let mut order = [true, false];
    if !clean_first(ctx) {
        order.reverse();
    }
    for is_clean in order {
        ctx.fresh_runner()?;
        if is_clean {
            let run = clean_run(ctx, epochs)?;
            let answer = exercise::detect(&run.model, &run.data, seed);
            clean = Some((run, answer));
        } else {
            let run = backdoored_run(ctx, settings)?;
            let answer = exercise::detect(&run.shown.model, &run.shown.data, seed);
            backdoored = Some((run, answer));
        }
    }
    let (Some((clean, clean_answer)), Some((run, answer))) = (clean, backdoored) else {
        return Err(Error::invalid("backdoor-detect", "a call was not made"));
    };

    // 1. False alarms on the clean set.
    if let Some(flagged) = ctx.student("runs on a clean training set", clean_answer) {
        if let Some(reason) = poison::out_of_range(&flagged, n) {
            ctx.check(
                "flagged rows are training rows (clean set)",
                false,
                reason,
                "every index < the number of training rows",
                "return indices into the training set you were given",
            );
        } else {
            let distinct: BTreeSet<usize> = flagged.iter().copied().collect();
            let share = distinct.len() as f64 / n as f64;
            let max_share = bars.max_flagged_share_on_clean;
            ctx.check(
                "few false alarms on a clean training set",
                share <= max_share,
                format!("{} of {n} clean rows flagged ({})", distinct.len(), percent(share)),
                format!("<= {}", percent(max_share)),
                "every label's activations split somewhere (writing styles): flag a label only on evidence that a trigger opens the model",
            );
        }
    }

    // 2. Detection on the backdoored set.
    let plan = run.plan;
    let Some(flagged) = ctx.student("detects on the backdoored run", answer) else {
        return Ok(());
    };
    if let Some(reason) = poison::out_of_range(&flagged, n) {
        ctx.check(
            "flagged rows are training rows",
            false,
            reason,
            "every index < the number of training rows",
            "return indices into the training set you were given",
        );
        return Ok(());
    }
    let detection = poison::score(&flagged, &run.poisoned, n);
    let min_f1 = bars.min_f1;
    ctx.check(
        &format!("finds the poisoned rows ({})", short(&plan)),
        detection.f1() >= min_f1,
        format!(
            "{}; backdoor {}, opening the model for {} of held-out digits",
            poison::describe_detection(&detection),
            plan.describe(),
            percent(run.attack_success)
        ),
        format!("F1 >= {min_f1}"),
        "per label, split the activations along their top singular directions; the rate is unknown, so decide from what a side's rows share (a stamp that makes other digits read as the label), not from a fixed share of top scores",
    );

    // 3. Repair: retrain without the flagged rows; the trigger must stop working.
    let n_flagged = poison::flagged_count(&detection);
    let kept = n - n_flagged;
    let max_attack = bars.max_attack_success_after_repair;
    let max_gap = bars.max_points_below_clean_after_repair / 100.0;
    if kept < n / 2 {
        for name in [
            "repair closes the backdoor",
            "the repaired model stays accurate",
        ] {
            ctx.check(
                name,
                false,
                format!("only {kept} of {n} rows left to retrain on"),
                "flag few enough rows that a model can be retrained on the rest",
                "flag the poisoned rows, not whole labels",
            );
        }
        return Ok(());
    }
    let repair = repair(ctx, &run, &clean.model, &flagged, epochs)?;
    let [before, after, baseline] = repair.attack_success;
    ctx.check(
        "repair closes the backdoor",
        after <= max_attack,
        format!(
            "trigger on held-out digits read as {}: retrained without your {n_flagged} rows {}, backdoored model {}, model trained on the clean set {}",
            plan.target,
            percent(after),
            percent(before),
            percent(baseline)
        ),
        format!("<= {}", percent(max_attack)),
        "a few dozen stamped rows left in are enough to teach the trigger again: recall matters more than precision here",
    );
    let [_, accuracy, clean_accuracy] = repair.accuracy;
    ctx.check(
        "the repaired model stays accurate",
        accuracy >= clean_accuracy - max_gap,
        format!(
            "test accuracy {} (model trained on the clean set: {})",
            percent(accuracy),
            percent(clean_accuracy)
        ),
        format!(
            ">= {} (clean - {} points)",
            percent(clean_accuracy - max_gap),
            bars.max_points_below_clean_after_repair
        ),
        "every clean row flagged is a training row lost",
    );
    Ok(())
}

/// The digits of `rows` of `data`, flattened.
fn digits(data: &Dataset, rows: &[usize]) -> Result<Vec<Vec<f32>>> {
    Ok(data
        .select(rows)?
        .images()
        .flatten_from(1)?
        .to_vec2::<f32>()?)
}

fn show(ctx: &mut Context, settings: &Settings) -> Result<()> {
    let epochs = settings.epochs;
    let run = backdoored_run(ctx, settings)?;
    let plan = run.plan;
    let data = &run.shown.data;
    let n = data.len();
    ctx.say(&format!(
        "Backdoored run (seed {}): {} — {} of {n} rows stamped and labelled {}; model trained {epochs} epochs; \
         the trigger opens it for {} of held-out digits.\n",
        ctx.seed(),
        plan.describe(),
        run.poisoned.len(),
        plan.target,
        percent(run.attack_success)
    ));

    ctx.fresh_runner()?;
    let flagged = exercise::detect(&run.shown.model, data, ctx.runner_seed("detect"))?;
    if let Some(reason) = poison::out_of_range(&flagged, n) {
        return Err(Error::invalid("detect", reason));
    }
    let detection = poison::score(&flagged, &run.poisoned, n);
    let mut is_poisoned = vec![false; n];
    run.poisoned.iter().for_each(|&r| is_poisoned[r] = true);
    let mut is_flagged = vec![false; n];
    flagged.iter().for_each(|&r| is_flagged[r] = true);

    // Per label: rows, poisoned, flagged; and the target label's spectral scores.
    let activations = analysis::to_array(&run.shown.model.penultimate(data.images())?)?;
    ctx.say("label  rows  poisoned  flagged  of them poisoned");
    let mut labels = Vec::new();
    let mut target_scores = None;
    for label in 0..N_CLASSES as u32 {
        let rows = data.indices_of_class(label);
        let poisoned = rows.iter().filter(|&&r| is_poisoned[r]).count();
        let flagged_here = rows.iter().filter(|&&r| is_flagged[r]).count();
        let hits = rows
            .iter()
            .filter(|&&r| is_flagged[r] && is_poisoned[r])
            .count();
        ctx.say(&format!(
            "{label:>5}  {:>4}  {poisoned:>8}  {flagged_here:>7}  {hits:>16}",
            rows.len()
        ));
        labels.push(json!({"label": label, "rows": rows.len(), "poisoned": poisoned, "flagged": flagged_here, "flagged_poisoned": hits}));
        if label == plan.target && rows.len() > 2 {
            let x = activations.select(Axis(0), &rows);
            let projected = Pca::fit(x.view(), 1)?.transform(x.view())?;
            let scores: Vec<(usize, f64)> = rows
                .iter()
                .zip(projected.column(0))
                .map(|(&r, &s)| (r, f64::from(s)))
                .collect();
            target_scores = Some(scores);
        }
    }
    ctx.say(&format!(
        "\nYour detector: {}\n",
        poison::describe_detection(&detection)
    ));

    let mut pictures = Vec::new();
    // The spectral signature of the target label, by ground truth.
    if let Some(scores) = &target_scores {
        let group = |poisoned: bool| -> Vec<f64> {
            scores
                .iter()
                .filter(|&&(r, _)| is_poisoned[r] == poisoned)
                .map(|&(_, s)| s)
                .collect()
        };
        let path = ctx.out_dir()?.join("spectral-scores.png");
        plot::histogram(
            &format!(
                "Label {}: projection on the top singular direction",
                plan.target
            ),
            "projection of the centred activations",
            &[
                (format!("really {}", plan.target), group(false)),
                ("stamped with the trigger".to_owned(), group(true)),
            ],
            40,
            &path,
        )?;
        pictures.push(path.display().to_string());
    }

    // The trigger on held-out digits, and some rows you flagged.
    let test = &ctx.data()?.test;
    let sample: Vec<usize> = (0..test.len())
        .filter(|&i| test.labels()[i] != plan.target)
        .take(4)
        .collect();
    let stamped = run.trigger.apply(test.select(&sample)?.images())?;
    let read = run.shown.model.predict(&stamped)?;
    let stamped = stamped.flatten_from(1)?.to_vec2::<f32>()?;
    let captions: Vec<String> = sample
        .iter()
        .zip(&read)
        .map(|(&i, p)| format!("a {} read as {p}", test.labels()[i]))
        .collect();
    let shown: Vec<(&[f32], String)> = stamped.iter().map(Vec::as_slice).zip(captions).collect();
    ctx.say("The trigger on held-out digits, as the backdoored model reads them:\n");
    ctx.say(&render::digits_row(&shown, ctx.color()));

    let some: Vec<usize> = flagged
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .take(6)
        .collect();
    if !some.is_empty() {
        let pixels = digits(data, &some)?;
        let captions: Vec<String> = some
            .iter()
            .map(|&r| {
                let state = if is_poisoned[r] { "stamped" } else { "clean" };
                format!("label {} ({state})", data.labels()[r])
            })
            .collect();
        let row: Vec<(&[f32], String)> = pixels.iter().map(Vec::as_slice).zip(captions).collect();
        ctx.say("Some rows you flagged:\n");
        ctx.say(&render::digits_row(&row, ctx.color()));
        let path = ctx.out_dir()?.join("flagged-digits.png");
        let grid: Vec<&[f32]> = pixels.iter().map(Vec::as_slice).collect();
        plot::digit_grid(&grid, grid.len(), 4, &path)?;
        pictures.push(path.display().to_string());
    }

    // Repair.
    let kept = n - (poison::flagged_count(&detection));
    let mut repaired = None;
    if kept >= n / 2 {
        let clean = clean_run(ctx, epochs)?;
        let repair = repair(ctx, &run, &clean.model, &flagged, epochs)?;
        let [before, after, baseline] = repair.attack_success;
        let [acc_before, acc_after, acc_clean] = repair.accuracy;
        ctx.say(&format!(
            "Trigger on held-out digits read as {}: backdoored model {}, retrained without your rows {}, trained on the clean set {}.\n\
             Test accuracy: {}, {}, {}.",
            plan.target,
            percent(before),
            percent(after),
            percent(baseline),
            percent(acc_before),
            percent(acc_after),
            percent(acc_clean)
        ));
        repaired = Some(json!({
            "attack_success": {"backdoored": before, "repaired": after, "clean": baseline},
            "accuracy": {"backdoored": acc_before, "repaired": acc_after, "clean": acc_clean},
        }));
    } else {
        ctx.say(&format!(
            "Only {kept} of {n} rows would be left: no repair attempted."
        ));
    }
    for p in &pictures {
        ctx.say(&format!("picture: {p}"));
    }
    ctx.emit(json!({
        "seed": ctx.seed(),
        "plan": {
            "describe": plan.describe(),
            "size": plan.size,
            "top": plan.top,
            "left": plan.left,
            "target": plan.target,
            "rate": plan.rate,
        },
        "plans_drawn": run.plans_drawn,
        "epochs": epochs,
        "rows": n,
        "poisoned": run.poisoned.len(),
        "labels": labels,
        "detection": {
            "flagged": poison::flagged_count(&detection),
            "true_positives": detection.true_positives,
            "precision": detection.precision(),
            "recall": detection.recall(),
            "f1": detection.f1(),
        },
        "repair": repaired,
        "pictures": pictures,
    }));
    Ok(())
}

pub fn run(ctx: &mut Context, settings: &Settings) -> Result<()> {
    show(ctx, settings)
}

pub fn demo(ctx: &mut Context, settings: &Settings, _: &NoOptions) -> Result<()> {
    show(ctx, settings)
}
