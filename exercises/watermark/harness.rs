//! Grading and display for the `watermark` exercise (the lab's code: do not edit).

use std::collections::HashMap;
use std::path::Path;

use aisec_lab::checks::percent;
use aisec_lab::harness::{Context, NoOptions};
use aisec_lab::serde_json::json;
use aisec_lab::{Error, Result, plot, poison, render};
use aisec_sdk::rng::RngCore;
use aisec_sdk::train::{TrainConfig, Trainer};
use aisec_sdk::{Cnn, Dataset};
use serde::Deserialize;

/// `[settings]` of exercise.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    alpha: f64,
    min_triggers: usize,
    max_triggers: usize,
    clean_epochs: usize,
    thief_epochs: usize,
    fine_tune_epochs: Vec<usize>,
    fine_tune_learning_rate: f64,
    prune_fractions: Vec<f64>,
}

/// `[bars]` of exercise.toml (points are percentage points of accuracy).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bars {
    min_trigger_accuracy: f64,
    max_accuracy_drop_points: f64,
}

/// The chance that a model which never saw the triggers gives one of them its random label.
const CHANCE: f64 = 0.1;

/// Whose key: the owner's (whose copies are the suspects) or another owner's, made by the same
/// code with another key (an independent suspect).
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Owner,
    Other,
}

impl Role {
    fn purpose(self, what: &str) -> String {
        match self {
            Role::Owner => format!("{what}-owner"),
            Role::Other => format!("{what}-other"),
        }
    }
}

/// Calls `f` for both roles, each in a new runner, in an order drawn from the seed: the
/// candidate's code cannot tell the owner's call from the other owner's, nor keep anything of
/// one for the other. Returns (owner's answer, other's answer).
fn for_both<T>(
    ctx: &mut Context,
    purpose: &str,
    mut f: impl FnMut(&mut Context, Role) -> aisec_sdk::Result<T>,
) -> Result<(aisec_sdk::Result<T>, aisec_sdk::Result<T>)> {
    let order = if ctx.rng(purpose).next_u32() & 1 == 0 {
        [Role::Owner, Role::Other]
    } else {
        [Role::Other, Role::Owner]
    };
    let (mut owner, mut other) = (None, None);
    for role in order {
        ctx.fresh_runner()?;
        let answer = f(ctx, role);
        match role {
            Role::Owner => owner = Some(answer),
            Role::Other => other = Some(answer),
        }
    }
    match (owner, other) {
        (Some(owner), Some(other)) => Ok((owner, other)),
        _ => Err(Error::invalid("watermark", "a role was not called")),
    }
}

/// The trigger sets of both roles, as the candidate's code made them.
fn trigger_sets(
    ctx: &mut Context,
) -> Result<(aisec_sdk::Result<Dataset>, aisec_sdk::Result<Dataset>)> {
    for_both(ctx, "order-triggers", |ctx, role| {
        exercise::trigger_set(&mut ctx.runner_rng(&role.purpose("triggers")))
    })
}

/// The watermarked models of both roles, trained by the candidate's code on the training split.
fn watermarked_models(
    ctx: &mut Context,
    owner: &Dataset,
    other: &Dataset,
) -> Result<(aisec_sdk::Result<Cnn>, aisec_sdk::Result<Cnn>)> {
    let train = ctx.data()?.train.clone();
    for_both(ctx, "order-training", |ctx, role| {
        let seed = ctx.runner_seed(&role.purpose("training"));
        let triggers = if role == Role::Owner { owner } else { other };
        exercise::train_watermarked(&train, triggers, seed)
    })
}

/// Why a trigger set is not acceptable, if it is not: its size, and pixel values in [0, 1].
fn trigger_problem(triggers: &Dataset, settings: &Settings) -> Result<Option<String>> {
    let n = triggers.len();
    if !(settings.min_triggers..=settings.max_triggers).contains(&n) {
        return Ok(Some(format!("{n} triggers")));
    }
    let values = triggers.images().flatten_all()?.to_vec1::<f32>()?;
    let bad = values.iter().filter(|v| !(0.0..=1.0).contains(*v)).count();
    Ok((bad > 0).then(|| format!("{bad} pixel values outside [0, 1] (or not finite)")))
}

/// What a suspect is, which the verifier is not told.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// The owner's model, or a copy of it changed by fine-tuning or pruning.
    Copy,
    /// A model trained on the owner's model's answers to natural digits.
    Extracted,
    /// A model that owes nothing to the owner's.
    Independent,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Copy => "copy",
            Kind::Extracted => "extracted",
            Kind::Independent => "independent",
        }
    }
}

/// Which group of checks a copy belongs to.
#[derive(Clone, Copy, PartialEq)]
enum Group {
    Itself,
    FineTuned,
    Pruned,
    Other,
}

/// A model the verifier is asked about.
struct Suspect {
    name: String,
    kind: Kind,
    group: Group,
    model: Cnn,
}

/// A seed for a model the checker trains (its initial weights and batch order), drawn from the
/// checker's stream `purpose`.
fn checker_seed(ctx: &Context, purpose: &str) -> u64 {
    ctx.rng(purpose).next_u64()
}

/// Trains with a progress bar.
fn fit(
    ctx: &Context,
    config: TrainConfig,
    initial: &Cnn,
    data: &Dataset,
    what: &str,
) -> Result<Cnn> {
    let bar = ctx.progress(config.steps(data.len()) as u64, what);
    let model = Trainer::new(config)
        .on_step(|_| bar.inc(1))
        .fit(initial, data)?;
    bar.finish_and_clear();
    Ok(model)
}

/// How the thief trains on the digits it holds (the population split): Adam, batch 32,
/// learning rate 1e-3 decayed to 1e-5.
fn thief_config(seed: u64, epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 32,
        learning_rate: 1e-3,
        final_learning_rate: Some(1e-5),
        seed,
    }
}

/// `model` with the smallest-magnitude `fraction` of each weight tensor set to 0 (biases
/// kept): magnitude pruning, as done to shrink a model or to try to strip a watermark.
fn pruned(model: &Cnn, fraction: f64) -> Result<Cnn> {
    let mut tensors = HashMap::new();
    for (name, tensor) in model.named_tensors() {
        let tensor = if name.ends_with("weight") {
            let mut values = tensor.flatten_all()?.to_vec1::<f32>()?;
            let mut order: Vec<usize> = (0..values.len()).collect();
            order.sort_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs()));
            let cut = ((fraction.clamp(0.0, 1.0) * values.len() as f64).round() as usize)
                .min(values.len());
            order[..cut].iter().for_each(|&i| values[i] = 0.0);
            aisec_sdk::Tensor::from_vec(values, tensor.dims(), tensor.device())?
        } else {
            tensor.clone()
        };
        tensors.insert(name.to_owned(), tensor);
    }
    Ok(Cnn::from_tensors(tensors, Path::new("pruned copy"))?)
}

/// The suspects of a run: copies of the owner's model, one extracted from it, and independent
/// models (the other owner's, two trained here, the shipped ones and an untrained one).
fn suspects(
    ctx: &Context,
    settings: &Settings,
    owner: &Cnn,
    other: &Cnn,
    clean: &Cnn,
) -> Result<Vec<Suspect>> {
    let data = ctx.data()?;
    let held = &data.population;
    let n_held = held.len();
    let suspect = |name: String, kind, group, model| Suspect {
        name,
        kind,
        group,
        model,
    };
    let mut list = vec![suspect(
        "your watermarked model".into(),
        Kind::Copy,
        Group::Itself,
        owner.clone(),
    )];
    for &epochs in &settings.fine_tune_epochs {
        let config = TrainConfig {
            epochs,
            batch_size: 32,
            learning_rate: settings.fine_tune_learning_rate,
            final_learning_rate: None,
            seed: checker_seed(ctx, &format!("fine-tune-{epochs}")),
        };
        let name = format!("fine-tuned {epochs} epochs on {n_held} digits");
        let model = fit(ctx, config, owner, held, &format!("the thief: {name}"))?;
        list.push(suspect(name, Kind::Copy, Group::FineTuned, model));
    }
    for &fraction in &settings.prune_fractions {
        list.push(suspect(
            format!("pruned: {:.0}% of each layer zeroed", 100.0 * fraction),
            Kind::Copy,
            Group::Pruned,
            pruned(owner, fraction)?,
        ));
    }
    let answers = owner.predict(held.images())?;
    let seed = checker_seed(ctx, "extraction");
    let extracted = fit(
        ctx,
        thief_config(seed, settings.thief_epochs),
        &Cnn::init(seed)?,
        &held.with_labels(answers)?,
        "the thief: training on your model's labels",
    )?;
    list.push(suspect(
        format!("extracted from its labels of {n_held} digits"),
        Kind::Extracted,
        Group::Other,
        extracted,
    ));
    let seed = checker_seed(ctx, "honest-twin");
    let honest = fit(
        ctx,
        thief_config(seed, settings.thief_epochs),
        &Cnn::init(seed)?,
        held,
        "an independent model on the same digits, true labels",
    )?;
    list.push(suspect(
        format!("trained on those {n_held} digits' true labels"),
        Kind::Independent,
        Group::Other,
        honest,
    ));
    list.push(suspect(
        "another owner's (your code, another key)".into(),
        Kind::Independent,
        Group::Other,
        other.clone(),
    ));
    list.push(suspect(
        "trained the same way without triggers".into(),
        Kind::Independent,
        Group::Other,
        clean.clone(),
    ));
    for name in ["standard", "adversarial", "overfit"] {
        list.push(suspect(
            format!("the shipped {name} model"),
            Kind::Independent,
            Group::Other,
            ctx.model(name)?,
        ));
    }
    list.push(suspect(
        "an untrained network".into(),
        Kind::Independent,
        Group::Other,
        Cnn::init(checker_seed(ctx, "untrained"))?,
    ));
    Ok(list)
}

/// The model trained like the reference's without triggers: the accuracy baseline, and an
/// independent suspect.
fn clean_model(ctx: &Context, epochs: usize) -> Result<Cnn> {
    let seed = checker_seed(ctx, "clean");
    fit(
        ctx,
        poison::train_config(seed, epochs),
        &Cnn::init(seed)?,
        &ctx.data()?.train,
        "training a model without triggers (the baseline)",
    )
}

/// P(X >= k) for X ~ Binomial(n, p).
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

/// The fewest agreements out of `n` that chance reaches with probability at most `alpha`.
fn claim_threshold(n: usize, alpha: f64) -> usize {
    (0..=n)
        .find(|&k| binomial_tail(n, k, CHANCE) <= alpha)
        .unwrap_or(n + 1)
}

/// How many triggers `model` labels with the owner's labels.
fn agreements(model: &Cnn, triggers: &Dataset) -> Result<usize> {
    let predicted = model.predict(triggers.images())?;
    Ok(predicted
        .iter()
        .zip(triggers.labels())
        .filter(|(p, l)| p == l)
        .count())
}

/// One row of the verification table.
struct Verdict {
    name: String,
    kind: Kind,
    group: Group,
    agree: usize,
    test_accuracy: f64,
    claimed: bool,
}

/// Asks the candidate's verifier about every suspect, in an order drawn from the seed and each
/// in a new runner (so no answer can lean on the suspects asked before). `None` when the
/// verifier failed (recorded as a failed check in check mode).
fn verify(
    ctx: &mut Context,
    suspects: Vec<Suspect>,
    triggers: &Dataset,
    alpha: f64,
    grading: bool,
) -> Result<Option<Vec<Verdict>>> {
    let order = aisec_sdk::rng::permutation(suspects.len(), &mut ctx.rng("order-suspects"));
    let test = ctx.data()?.test.clone();
    let mut answers: Vec<Option<bool>> = vec![None; suspects.len()];
    for &i in &order {
        ctx.fresh_runner()?;
        let answer = exercise::claims_ownership(&suspects[i].model, triggers, alpha);
        let claimed = if grading {
            match ctx.student("answers for every suspect", answer) {
                Some(claimed) => claimed,
                None => return Ok(None),
            }
        } else {
            answer?
        };
        answers[i] = Some(claimed);
    }
    let mut verdicts = Vec::new();
    for (s, claimed) in suspects.into_iter().zip(answers) {
        verdicts.push(Verdict {
            agree: agreements(&s.model, triggers)?,
            test_accuracy: s.model.accuracy(&test)?,
            claimed: claimed.unwrap_or(false),
            name: s.name,
            kind: s.kind,
            group: s.group,
        });
    }
    Ok(Some(verdicts))
}

/// "name: 87/100 triggers, claimed; ..." for the verdicts `pick` selects.
fn describe(verdicts: &[Verdict], n: usize, pick: impl Fn(&Verdict) -> bool) -> String {
    verdicts
        .iter()
        .filter(|v| pick(v))
        .map(|v| {
            format!(
                "{}: {}/{n} triggers, {}",
                v.name,
                v.agree,
                if v.claimed { "claimed" } else { "not claimed" }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn check(ctx: &mut Context, settings: &Settings, bars: &Bars) -> Result<()> {
    let alpha = settings.alpha;
    // 1. The keys: the owner's and another owner's, made by the same code.
    let (owner_triggers, other_triggers) = trigger_sets(ctx)?;
    let Some(owner_triggers) = ctx.student("makes a trigger set", owner_triggers) else {
        return Ok(());
    };
    let Some(other_triggers) = ctx.student("makes a trigger set", other_triggers) else {
        return Ok(());
    };
    let problem = match trigger_problem(&owner_triggers, settings)? {
        Some(problem) => Some(problem),
        None => trigger_problem(&other_triggers, settings)?,
    };
    let n = owner_triggers.len();
    ctx.check(
        "the trigger set is well formed",
        problem.is_none(),
        problem
            .clone()
            .unwrap_or_else(|| format!("{n} triggers, pixel values in [0, 1]")),
        format!(
            "{} to {} images, pixel values in [0, 1]",
            settings.min_triggers, settings.max_triggers
        ),
        "return a Dataset of abstract images in [0, 1], each with a label drawn at random",
    );
    if problem.is_some() {
        return Ok(());
    }

    // 2. The watermarked models, and what the watermark costs.
    let (owner, other) = watermarked_models(ctx, &owner_triggers, &other_triggers)?;
    let Some(owner) = ctx.student("trains the watermarked model", owner) else {
        return Ok(());
    };
    let Some(other) = ctx.student("trains the watermarked model", other) else {
        return Ok(());
    };
    let clean = clean_model(ctx, settings.clean_epochs)?;
    let trigger_accuracy = agreements(&owner, &owner_triggers)? as f64 / n as f64;
    let clean_agreements = agreements(&clean, &owner_triggers)?;
    let clean_trigger_accuracy = clean_agreements as f64 / n as f64;
    // Triggers a model answers with their labels without ever seeing them (real digits with
    // their true labels, say) prove nothing: the watermark is what training added, so the
    // model trained without the triggers must stay under the claim threshold on them.
    let chance_limit = claim_threshold(n, alpha);
    ctx.check(
        "the watermark is embedded",
        trigger_accuracy >= bars.min_trigger_accuracy && clean_agreements < chance_limit,
        format!(
            "your model gives {} of your {n} triggers your label; a model trained without them {} ({clean_agreements} of {n})",
            percent(trigger_accuracy),
            percent(clean_trigger_accuracy)
        ),
        format!(
            ">= {} from yours, and fewer than {chance_limit} of {n} from a model that never saw them",
            percent(bars.min_trigger_accuracy)
        ),
        "train on the triggers with their labels beside the digits (repeat them so every epoch sees them often); \
         draw the labels at random, so that a model that never saw the triggers agrees only by chance",
    );
    let test = &ctx.data()?.test;
    let accuracy = owner.accuracy(test)?;
    let clean_accuracy = clean.accuracy(test)?;
    let max_drop = bars.max_accuracy_drop_points / 100.0;
    ctx.check(
        "the watermarked model is as accurate",
        accuracy >= clean_accuracy - max_drop,
        format!(
            "test accuracy {} (trained the same way without triggers, {} epochs: {})",
            percent(accuracy),
            settings.clean_epochs,
            percent(clean_accuracy)
        ),
        format!(
            ">= {} (without triggers - {} points)",
            percent(clean_accuracy - max_drop),
            bars.max_accuracy_drop_points
        ),
        "the triggers should be a small share of training; keep the recipe that trains a good model",
    );

    // 3. Verification.
    let list = suspects(ctx, settings, &owner, &other, &clean)?;
    let Some(verdicts) = verify(ctx, list, &owner_triggers, alpha, true)? else {
        return Ok(());
    };
    let threshold = claim_threshold(n, alpha);
    let needed = format!("(chance would reach {threshold}/{n} with probability <= {alpha})");
    for (name, group, hint) in [
        (
            "claims the watermarked model itself",
            Group::Itself,
            "count the triggers the suspect labels with your labels, and claim when chance would rarely reach that count",
        ),
        (
            "claims the fine-tuned copies",
            Group::FineTuned,
            "a fine-tuned copy forgets some triggers: the test must claim on fewer than all of them agreeing",
        ),
        (
            "claims the pruned copies",
            Group::Pruned,
            "a pruned copy forgets some triggers: the test must claim on fewer than all of them agreeing",
        ),
    ] {
        let pick = |v: &Verdict| v.group == group;
        ctx.check(
            name,
            verdicts.iter().filter(|v| pick(v)).all(|v| v.claimed),
            describe(&verdicts, n, pick),
            format!("every one claimed {needed}"),
            hint,
        );
    }
    let independent = |v: &Verdict| v.kind == Kind::Independent;
    let false_claims: Vec<&Verdict> = verdicts
        .iter()
        .filter(|v| independent(v) && v.claimed)
        .collect();
    let n_independent = verdicts.iter().filter(|v| independent(v)).count();
    ctx.check(
        "never claims an independent model",
        false_claims.is_empty(),
        if false_claims.is_empty() {
            format!(
                "none of {n_independent} claimed (most triggers they agree on: {}/{n})",
                verdicts
                    .iter()
                    .filter(|v| independent(v))
                    .map(|v| v.agree)
                    .max()
                    .unwrap_or(0)
            )
        } else {
            format!(
                "{} of {n_independent} claimed: {}",
                false_claims.len(),
                describe(&verdicts, n, |v| independent(v) && v.claimed)
            )
        },
        "none claimed",
        "a model that never saw your triggers gives each its random label 1 time in 10: claim only on a count chance rarely reaches, and draw the labels uniformly, apart from the images",
    );
    let extracted = describe(&verdicts, n, |v| v.kind == Kind::Extracted);
    ctx.check(
        "the extracted copy (reported, not graded)",
        true,
        extracted,
        "claim or not: a copy learnt from answers on digits rarely keeps a trigger watermark",
        "see the brief: what survives extraction",
    );
    Ok(())
}

fn show(ctx: &mut Context, settings: &Settings) -> Result<()> {
    let alpha = settings.alpha;
    let (owner_triggers, other_triggers) = trigger_sets(ctx)?;
    let (owner_triggers, other_triggers) = (owner_triggers?, other_triggers?);
    for triggers in [&owner_triggers, &other_triggers] {
        if let Some(problem) = trigger_problem(triggers, settings)? {
            return Err(Error::invalid("trigger_set", problem));
        }
    }
    let n = owner_triggers.len();
    let pixels = owner_triggers.images().flatten_from(1)?.to_vec2::<f32>()?;
    let shown: Vec<(&[f32], String)> = pixels
        .iter()
        .zip(owner_triggers.labels())
        .take(6)
        .map(|(p, label)| (p.as_slice(), format!("label {label}")))
        .collect();
    ctx.say(&format!(
        "Your trigger set (seed {}): {n} images; the first six with the labels you gave them:\n",
        ctx.seed()
    ));
    ctx.say(&render::digits_row(&shown, ctx.color()));

    let (owner, other) = watermarked_models(ctx, &owner_triggers, &other_triggers)?;
    let (owner, other) = (owner?, other?);
    let clean = clean_model(ctx, settings.clean_epochs)?;
    let test = &ctx.data()?.test;
    let (accuracy, clean_accuracy) = (owner.accuracy(test)?, clean.accuracy(test)?);
    let trigger_accuracy = agreements(&owner, &owner_triggers)? as f64 / n as f64;
    ctx.say(&format!(
        "Your watermarked model: test accuracy {} (without triggers: {}), {} of the triggers given your label.\n",
        percent(accuracy),
        percent(clean_accuracy),
        percent(trigger_accuracy)
    ));

    let list = suspects(ctx, settings, &owner, &other, &clean)?;
    let Some(verdicts) = verify(ctx, list, &owner_triggers, alpha, false)? else {
        return Ok(());
    };
    let threshold = claim_threshold(n, alpha);
    ctx.say(&format!(
        "Verification at alpha = {alpha}: chance (1 in 10) reaches {threshold}/{n} agreeing triggers with probability {:.1e}.\n",
        binomial_tail(n, threshold, CHANCE)
    ));
    let width = verdicts
        .iter()
        .map(|v| v.name.chars().count())
        .max()
        .unwrap_or(0);
    ctx.say(&format!(
        "{:<width$}  {:<11}  {:>8}  {:>9}  {:>9}  {:>7}",
        "suspect", "truth", "triggers", "p-value", "test acc.", "claimed"
    ));
    let mut rows = Vec::new();
    for v in &verdicts {
        let p_value = binomial_tail(n, v.agree, CHANCE);
        let wrong = match v.kind {
            Kind::Copy => !v.claimed,
            Kind::Independent => v.claimed,
            Kind::Extracted => false,
        };
        ctx.say(&format!(
            "{:<width$}  {:<11}  {:>8}  {:>9.1e}  {:>9}  {:>7}{}",
            v.name,
            v.kind.name(),
            format!("{}/{n}", v.agree),
            p_value,
            percent(v.test_accuracy),
            if v.claimed { "yes" } else { "no" },
            if wrong { "  ✗" } else { "" }
        ));
        rows.push(json!({
            "suspect": v.name,
            "truth": v.kind.name(),
            "agreeing_triggers": v.agree,
            "p_value": p_value,
            "test_accuracy": v.test_accuracy,
            "claimed": v.claimed,
        }));
    }
    ctx.say(
        "\nThe extracted copy learnt your model's answers on digits, not on the triggers: a trigger \
         watermark rarely survives extraction (see the brief).",
    );

    let out = ctx.out_dir()?.to_owned();
    let chart = out.join("verification.png");
    // Independent models first: their short bars leave the legend's corner free.
    let chart_rows: Vec<&Verdict> = verdicts.iter().rev().collect();
    let threshold_percent = 100.0 * threshold as f64 / n as f64;
    plot::bar_chart(
        &format!("Triggers given your label, per suspect (claim at alpha = {alpha})"),
        "triggers given your label (%)",
        &chart_rows
            .iter()
            .map(|v| v.name.clone())
            .collect::<Vec<_>>(),
        &[
            (
                "triggers given your label".to_owned(),
                chart_rows
                    .iter()
                    .map(|v| 100.0 * v.agree as f64 / n as f64)
                    .collect(),
            ),
            (
                "needed to claim".to_owned(),
                vec![threshold_percent; verdicts.len()],
            ),
        ],
        &chart,
    )?;
    let grid_path = out.join("triggers.png");
    let grid: Vec<&[f32]> = pixels.iter().take(20).map(Vec::as_slice).collect();
    plot::digit_grid(&grid, 10, 4, &grid_path)?;
    for p in [&chart, &grid_path] {
        ctx.say(&format!("picture: {}", p.display()));
    }
    ctx.emit(json!({
        "seed": ctx.seed(),
        "alpha": alpha,
        "triggers": n,
        "claim_threshold": threshold,
        "watermarked": {
            "test_accuracy": accuracy,
            "trigger_accuracy": trigger_accuracy,
            "test_accuracy_without_triggers": clean_accuracy,
        },
        "suspects": rows,
        "pictures": [chart.display().to_string(), grid_path.display().to_string()],
    }));
    Ok(())
}

pub fn run(ctx: &mut Context, settings: &Settings) -> Result<()> {
    show(ctx, settings)
}

pub fn demo(ctx: &mut Context, settings: &Settings, _: &NoOptions) -> Result<()> {
    show(ctx, settings)
}
