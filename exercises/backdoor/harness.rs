//! Grading and display for the `backdoor` exercise (the lab's code: do not edit).

use aisec_lab::backdoor::{attack_success, changed_rows, pixels_out_of_range};
use aisec_lab::checks::{self, percent};
use aisec_lab::harness::{Context, NoOptions};
use aisec_lab::serde_json::json;
use aisec_lab::{Error, Result, plot, poison};
use aisec_sdk::backdoor::Backdoor;
use aisec_sdk::rng::RngCore;
use aisec_sdk::{Cnn, Dataset};
use serde::Deserialize;

/// `[settings]` of exercise.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    epochs: usize,
    min_budget_share: f64,
    max_budget_share: f64,
    max_trigger_area: f64,
}

/// `[bars]` of exercise.toml (points are percentage points of accuracy).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bars {
    min_attack_success: f64,
    max_clean_accuracy_drop_points: f64,
    max_attack_success_on_clean_model: f64,
}

/// The number of rows the candidate may change, drawn per run from the budget range.
fn draw_budget(ctx: &Context, settings: &Settings, rows: usize) -> usize {
    let unit = f64::from(ctx.rng("budget").next_u32()) / f64::from(u32::MAX);
    let share =
        settings.min_budget_share + unit * (settings.max_budget_share - settings.min_budget_share);
    (share * rows as f64).round() as usize
}

/// Trains the lab's poisoning CNN on `data` with the check's recipe and seed, with a progress
/// bar. The clean and the poisoned model share both, so they differ only in their rows.
fn train(ctx: &Context, data: &Dataset, epochs: usize, what: &str) -> Result<Cnn> {
    let seed = ctx.rng("training").next_u64();
    let steps = poison::train_config(seed, epochs).steps(data.len());
    let bar = ctx.progress(steps as u64, what);
    let model = poison::train(data, seed, epochs, |_| bar.inc(1))?;
    bar.finish_and_clear();
    Ok(model)
}

/// The held-out digits attack success is measured on: the test and population splits (the
/// more digits, the less a submission gains by pasting some of them, stamped, into its rows).
fn held_out(ctx: &Context) -> Result<Dataset> {
    let data = ctx.data()?;
    Ok(Dataset::concat(&[&data.test, &data.population])?)
}

/// Why the candidate's backdoor cannot be trained on, if it cannot: rows added or removed,
/// more rows changed than the budget, pixels outside [0, 1], a trigger too large.
struct Audit {
    changed: Vec<usize>,
    bad_pixels: usize,
    area: f64,
}

fn audit(train: &Dataset, backdoor: &Backdoor) -> Result<std::result::Result<Audit, String>> {
    let changed = match changed_rows(train, &backdoor.poisoned) {
        Ok(rows) => rows,
        Err(e) => return Ok(Err(e.to_string())),
    };
    Ok(Ok(Audit {
        changed,
        bad_pixels: pixels_out_of_range(backdoor.poisoned.images())?,
        area: backdoor.trigger.area()?,
    }))
}

/// Everything measured on a backdoor that passed the audit.
struct Measured {
    clean_accuracy: f64,
    poisoned_accuracy: f64,
    success: f64,
    success_on_clean_model: f64,
    poisoned_model: Cnn,
    clean_model: Cnn,
}

fn measure(ctx: &Context, backdoor: &Backdoor, epochs: usize) -> Result<Measured> {
    let data = ctx.data()?;
    let clean_model = train(
        ctx,
        &data.train,
        epochs,
        "training on the clean rows (the baseline)",
    )?;
    let poisoned_model = train(
        ctx,
        &backdoor.poisoned,
        epochs,
        "training on your poisoned rows",
    )?;
    let held_out = held_out(ctx)?;
    let (trigger, target) = (&backdoor.trigger, backdoor.target);
    Ok(Measured {
        clean_accuracy: clean_model.accuracy(&data.test)?,
        poisoned_accuracy: poisoned_model.accuracy(&data.test)?,
        success: attack_success(&poisoned_model, trigger, target, &held_out)?,
        success_on_clean_model: attack_success(&clean_model, trigger, target, &held_out)?,
        poisoned_model,
        clean_model,
    })
}

pub fn check(ctx: &mut Context, settings: &Settings, bars: &Bars) -> Result<()> {
    let train = ctx.data()?.train.clone();
    let budget = draw_budget(ctx, settings, train.len());
    let seed = ctx.runner_seed("backdoor");
    let Some(backdoor) = ctx.student("runs", exercise::backdoor(&train, budget, seed)) else {
        return Ok(());
    };
    let audit = match audit(&train, &backdoor)? {
        Ok(audit) => audit,
        Err(reason) => {
            ctx.check(
                &format!("stays within the budget ({budget} rows)"),
                false,
                reason,
                format!("{} rows, at most {budget} of them changed", train.len()),
                "return the training set you were given with at most `budget` rows changed",
            );
            return Ok(());
        }
    };
    let within_budget = audit.changed.len() <= budget;
    ctx.check(
        &format!("stays within the budget ({budget} rows)"),
        within_budget,
        format!("{} of {} rows changed", audit.changed.len(), train.len()),
        format!("<= {budget} rows (a row counts once, whether its pixels or its label changed)"),
        "change fewer rows: an unchanged row must be the row you were given, bit for bit",
    );
    let in_range = audit.bad_pixels == 0;
    ctx.check(
        "pixels stay in [0, 1]",
        in_range,
        format!(
            "{} pixel values outside [0, 1] or not numbers",
            audit.bad_pixels
        ),
        "0",
        "clamp stamped pixels to [0, 1]",
    );
    let small = audit.area <= settings.max_trigger_area;
    ctx.check(
        "the trigger is small",
        small,
        format!(
            "trigger area {:.1} pixels (the sum of its mask)",
            audit.area
        ),
        format!("<= {} pixels", settings.max_trigger_area),
        "a trigger is a small stamp (a 4 × 4 patch is 16 pixels), not a new digit",
    );
    if !(within_budget && in_range && small) {
        return Ok(());
    }

    let measured = measure(ctx, &backdoor, settings.epochs)?;
    let target = backdoor.target;
    ctx.check(
        &format!("triggered digits are read as {target}"),
        measured.success >= bars.min_attack_success,
        format!(
            "attack success {} on held-out digits of other classes (a model trained on clean rows: {})",
            percent(measured.success),
            percent(measured.success_on_clean_model)
        ),
        format!(">= {}", percent(bars.min_attack_success)),
        "the model must learn the trigger: stamp it the same way on every poisoned row, on digits of many classes, all labelled the target",
    );
    let drop = measured.clean_accuracy - measured.poisoned_accuracy;
    let max_drop = bars.max_clean_accuracy_drop_points / 100.0;
    ctx.check(
        "clean accuracy is kept",
        drop <= max_drop,
        format!(
            "test accuracy {} trained on your rows, {} on the clean rows",
            percent(measured.poisoned_accuracy),
            percent(measured.clean_accuracy)
        ),
        format!(
            ">= {} (at most {:.1} points below)",
            percent(measured.clean_accuracy - max_drop),
            bars.max_clean_accuracy_drop_points
        ),
        "a backdoor hides: change only rows that teach the trigger, and leave clean digits alone",
    );
    ctx.check(
        "the trigger alone does not fool a clean model",
        measured.success_on_clean_model <= bars.max_attack_success_on_clean_model,
        format!(
            "a model trained on clean rows reads {} of triggered digits as {target}",
            percent(measured.success_on_clean_model)
        ),
        format!("<= {}", percent(bars.max_attack_success_on_clean_model)),
        "the trigger must work because of the poisoned rows, not by drawing the target digit over the input",
    );
    Ok(())
}

/// `run` and `demo`: the reference's (or the candidate's) backdoor planted and measured, with
/// triggered digits as the clean and the poisoned model read them.
fn show(ctx: &mut Context, settings: &Settings) -> Result<()> {
    let train = ctx.data()?.train.clone();
    let budget = draw_budget(ctx, settings, train.len());
    let backdoor = exercise::backdoor(&train, budget, ctx.runner_seed("backdoor"))?;
    let audit = audit(&train, &backdoor)?.map_err(|reason| Error::invalid("backdoor", reason))?;
    ctx.say(&format!(
        "Seed {}: budget {budget} of {} training rows; your backdoor changes {} rows, trigger area {:.1} pixels, target {}. Training {} epochs on the clean rows and on yours.\n",
        ctx.seed(),
        train.len(),
        audit.changed.len(),
        audit.area,
        backdoor.target,
        settings.epochs
    ));
    let measured = measure(ctx, &backdoor, settings.epochs)?;

    // Some poisoned training rows, as the candidate made them.
    let mut pictures = Vec::new();
    if !audit.changed.is_empty() {
        let rows: Vec<usize> = audit.changed.iter().copied().take(6).collect();
        let poisoned = backdoor.poisoned.select(&rows)?;
        let original = train.select(&rows)?;
        let path = checks::show_pairs_tagged(
            ctx,
            "poisoned-rows",
            "Some of your changed training rows, as given and as you returned them, read by the clean-rows model (true label → reading)",
            &measured.clean_model,
            &original,
            poisoned.images(),
            ("given", "yours"),
        )?;
        pictures.push(path.display().to_string());
    }
    // Held-out digits with the trigger, read by both models.
    let held_out = held_out(ctx)?;
    let others: Vec<usize> = (0..held_out.len())
        .filter(|&i| held_out.labels()[i] != backdoor.target)
        .take(6)
        .collect();
    let digits = held_out.select(&others)?;
    let stamped = backdoor.trigger.apply(digits.images())?;
    for (name, title, model) in [
        (
            "triggered-clean-model",
            "Held-out digits, clean and triggered, read by a model trained on clean rows",
            &measured.clean_model,
        ),
        (
            "triggered-poisoned-model",
            "The same digits read by the model trained on your rows",
            &measured.poisoned_model,
        ),
    ] {
        let path = checks::show_pairs_tagged(
            ctx,
            name,
            title,
            model,
            &digits,
            &stamped,
            ("clean", "triggered"),
        )?;
        pictures.push(path.display().to_string());
    }
    let bars_path = ctx.out_dir()?.join("attack-success.png");
    plot::bar_chart(
        &format!("Triggered held-out digits read as {}", backdoor.target),
        "held-out digits of other classes read as the target (%)",
        &[
            "clean model".to_owned(),
            "model trained on your rows".to_owned(),
        ],
        &[(
            "attack success".to_owned(),
            vec![
                100.0 * measured.success_on_clean_model,
                100.0 * measured.success,
            ],
        )],
        &bars_path,
    )?;
    ctx.say(&format!("picture: {}", bars_path.display()));
    pictures.push(bars_path.display().to_string());
    ctx.say(&format!(
        "\nAttack success on {} held-out digits of other classes: {} (clean model {}). Test accuracy {} (clean model {}).",
        held_out.labels().iter().filter(|&&l| l != backdoor.target).count(),
        percent(measured.success),
        percent(measured.success_on_clean_model),
        percent(measured.poisoned_accuracy),
        percent(measured.clean_accuracy)
    ));
    ctx.emit(json!({
        "seed": ctx.seed(),
        "budget": budget,
        "changed_rows": audit.changed.len(),
        "trigger_area": audit.area,
        "target": backdoor.target,
        "epochs": settings.epochs,
        "attack_success": measured.success,
        "attack_success_on_clean_model": measured.success_on_clean_model,
        "test_accuracy": { "poisoned": measured.poisoned_accuracy, "clean": measured.clean_accuracy },
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
