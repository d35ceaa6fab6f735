//! Grading and display for the `membership-inference` exercise (the lab's code: do not edit).

use aisec_lab::checks::percent;
use aisec_lab::harness::{Context, NoOptions};
use aisec_lab::privacy::{self, AttackResult, Target};
use aisec_lab::serde_json::json;
use aisec_lab::{Error, Result, plot};
use aisec_sdk::{Dataset, Tensor};
use serde::Deserialize;

/// `[settings]` of exercise.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    non_members: usize,
}

/// `[bars]` of exercise.toml (points are percentage points).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bars {
    min_auc: f64,
    max_fpr_above_target_points: f64,
    max_advantage_above_label_only: f64,
    max_accuracy_drop_points: f64,
}

/// The false-positive rate the candidate's threshold aims at.
const TARGET_FPR: f64 = 0.05;

/// The target, and an evaluation set of its members and unseen non-members in a seeded order
/// (so a record's position says nothing about its membership).
struct Setup {
    target: Target,
    eval: Dataset,
    is_member: Vec<bool>,
    known_non_members: Dataset,
}

fn setup(ctx: &Context, n_non_members: usize) -> Result<Setup> {
    let data = ctx.data()?;
    let config = aisec_lab::presets::Preset::Overfit.config(ctx.draw_seed(), None);
    let steps = config.steps(aisec_lab::presets::OVERFIT_MEMBERS);
    let bar = ctx.progress(steps as u64, "training the target on its members");
    let target = privacy::train_target(data, ctx.draw_seed(), |_| bar.inc(1))?;
    bar.finish_and_clear();
    let non_members = privacy::non_members(
        &target,
        &data.train,
        n_non_members,
        ctx.draw_seed(),
        "non-members",
    )?;
    let both = Dataset::concat(&[&target.members, &non_members])?;
    let order = aisec_sdk::rng::permutation(both.len(), &mut ctx.rng("order"));
    let is_member = order.iter().map(|&i| i < target.members.len()).collect();
    Ok(Setup {
        eval: both.select(&order)?,
        is_member,
        target,
        known_non_members: data.population.clone(),
    })
}

/// Splits per-record values into (members, non-members).
fn split(values: &[f64], is_member: &[bool]) -> (Vec<f64>, Vec<f64>) {
    let (mut members, mut others) = (Vec::new(), Vec::new());
    for (&v, &m) in values.iter().zip(is_member) {
        if m { members.push(v) } else { others.push(v) }
    }
    (members, others)
}

fn describe(r: &AttackResult) -> String {
    format!(
        "AUC {:.3}, best advantage {:.3}, TPR at 1% FPR {:.3}",
        r.auc, r.max_advantage, r.tpr_at_1pct
    )
}

/// (TPR, FPR) of the candidate's rule "member if the score is above `threshold`" (no ties
/// broken: scores equal to it are not called members).
fn candidate_rates(members: &[f64], others: &[f64], threshold: f64) -> (f64, f64) {
    let rule = privacy::Threshold {
        value: threshold,
        tie_share: 0.0,
    };
    privacy::expected_rates(members, others, rule)
}

/// The reference attack's score of each evaluation record (the log-odds of its true label),
/// from the target's answers to the evaluation records.
fn eval_scores(s: &Setup, answers: &Tensor) -> Result<Vec<f64>> {
    privacy::true_label_log_odds(answers, s.eval.labels())
}

/// The reference attack's result over every threshold, from its scores of the evaluation
/// records.
fn reference_attack(s: &Setup, scores: &[f64]) -> Result<AttackResult> {
    let (members, others) = split(scores, &s.is_member);
    privacy::evaluate(&members, &others)
}

/// The reference attack's scores for one way of answering: on the evaluation records, and on
/// the known non-members an attacker sets thresholds from.
struct Scored {
    eval: Vec<f64>,
    known: Vec<f64>,
}

impl Scored {
    /// From the answers to the evaluation records and to the known non-members.
    fn new(s: &Setup, eval_answers: &Tensor, known_answers: &Tensor) -> Result<Scored> {
        Ok(Scored {
            eval: eval_scores(s, eval_answers)?,
            known: privacy::true_label_log_odds(known_answers, s.known_non_members.labels())?,
        })
    }
}

/// The reference attack at a false-positive budget an attacker can actually set: the threshold
/// comes from the known non-members, ties broken at random (counted in expectation).
/// Returns (TPR, FPR) on the evaluation records.
fn reference_attack_at(s: &Setup, scored: &Scored, budget: f64) -> (f64, f64) {
    let (members, others) = split(&scored.eval, &s.is_member);
    privacy::expected_rates(
        &members,
        &others,
        privacy::threshold_at_fpr(&scored.known, budget),
    )
}

/// What an attacker who sees only the predicted label gains: "member if the model is right"
/// has TPR = accuracy on members and FPR = accuracy on non-members. No output defence that
/// keeps the predictions can take this away. `probabilities` are the target's answers to the
/// evaluation records.
fn label_only_advantage(s: &Setup, probabilities: &Tensor) -> Result<f64> {
    let predicted = predictions(probabilities)?;
    let right: Vec<f64> = predicted
        .iter()
        .zip(s.eval.labels())
        .map(|(p, y)| f64::from(u8::from(p == y)))
        .collect();
    let (members, others) = split(&right, &s.is_member);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok(mean(&members) - mean(&others))
}

/// The class each row of answers predicts: its arg-max.
fn predictions(answers: &Tensor) -> Result<Vec<u32>> {
    Ok(answers.argmax(1)?.to_vec1::<u32>()?)
}

/// The share of rows whose answers predict their label.
fn accuracy(answers: &Tensor, labels: &[u32]) -> Result<f64> {
    Ok(aisec_sdk::metrics::accuracy(&predictions(answers)?, labels))
}

/// Checks an answer is one row of ten finite values per record.
fn well_formed(answer: &Tensor, n: usize) -> std::result::Result<(), String> {
    if answer.dims() != [n, 10] {
        return Err(format!("shape {:?}, expected [{n}, 10]", answer.dims()));
    }
    let values = answer
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|e| e.to_string())?;
    match values.iter().filter(|v| !v.is_finite()).count() {
        0 => Ok(()),
        bad => Err(format!("{bad} values are not finite")),
    }
}

pub fn check(ctx: &mut Context, settings: &Settings, bars: &Bars) -> Result<()> {
    let n_non_members = settings.non_members;
    let min_auc = bars.min_auc;
    let fpr_slack = bars.max_fpr_above_target_points / 100.0;
    let slack = bars.max_advantage_above_label_only;
    let max_drop = bars.max_accuracy_drop_points / 100.0;
    let s = setup(ctx, n_non_members)?;
    let model = &s.target.model;

    // 1. The attack's scores, and how well they separate members.
    let Some(scores) = ctx.student(
        "scores the records",
        exercise::membership_scores(model, s.eval.images(), s.eval.labels()),
    ) else {
        return Ok(());
    };
    let n = s.eval.len();
    let finite = scores.iter().filter(|v| v.is_finite()).count();
    let shaped = scores.len() == n && finite == n;
    ctx.check(
        "one finite score per record",
        shaped,
        format!("{} scores for {n} records, {finite} finite", scores.len()),
        format!("{n} finite scores"),
        "score every record you are given, in order; guard logs and divisions against 0",
    );
    if !shaped {
        return Ok(());
    }
    let (members, others) = split(&scores, &s.is_member);
    let result = privacy::evaluate(&members, &others)?;
    ctx.check(
        "the scores separate members from non-members",
        result.auc >= min_auc,
        format!("{} ({} members, {} non-members)", describe(&result), members.len(), others.len()),
        format!("AUC >= {min_auc}"),
        "members get more confident, lower-loss answers than records the model never saw; score by that",
    );

    // 2. The threshold, chosen from known non-members only.
    let Some(known) = ctx.student(
        "scores the known non-members",
        exercise::membership_scores(
            model,
            s.known_non_members.images(),
            s.known_non_members.labels(),
        ),
    ) else {
        return Ok(());
    };
    let Some(threshold) = ctx.student(
        "chooses a threshold",
        Ok(exercise::choose_threshold(&known, TARGET_FPR)),
    ) else {
        return Ok(());
    };
    let (tpr, fpr) = candidate_rates(&members, &others, threshold);
    ctx.check(
        "the threshold keeps its false-positive promise on unseen non-members",
        threshold.is_finite() && fpr <= TARGET_FPR + fpr_slack,
        format!("threshold {threshold:.4}: FPR {} (asked for {}), TPR {}", percent(fpr), percent(TARGET_FPR), percent(tpr)),
        format!("FPR <= {}", percent(TARGET_FPR + fpr_slack)),
        "sort the known non-members' scores; the threshold is the score that only the allowed share exceeds",
    );

    // 3. The defence, against the reference attack.
    let probabilities = model.probabilities(s.eval.images())?;
    let Some(defended) = ctx.student("defends the output", exercise::defend(&probabilities)) else {
        return Ok(());
    };
    if let Err(reason) = well_formed(&defended, n) {
        ctx.check(
            "the defended answers are well formed",
            false,
            reason,
            "(n, 10), finite",
            "return one row of ten values per record",
        );
        return Ok(());
    }
    let plain = reference_attack(&s, &eval_scores(&s, &probabilities)?)?;
    let after = reference_attack(&s, &eval_scores(&s, &defended)?)?;
    let label_only = label_only_advantage(&s, &probabilities)?;
    ctx.check(
        "the defence leaves the reference attack no more than the predicted label gives away",
        after.max_advantage <= label_only + slack,
        format!(
            "best advantage (TPR - FPR) {:.3} against your answers, {:.3} against the full probabilities; a label-only attacker gets {:.3}",
            after.max_advantage, plain.max_advantage, label_only
        ),
        format!("<= {:.3} (label only + {slack})", label_only + slack),
        "confidence is what leaks beyond the label: answer with less of it (the label only, or coarsely rounded probabilities); temperature keeps the order and leaks as much",
    );
    let test = &ctx.data()?.test;
    let full = model.probabilities(test.images())?;
    let plain_accuracy = accuracy(&full, test.labels())?;
    let answered = exercise::defend(&full)?;
    let defended_accuracy = match well_formed(&answered, test.len()) {
        Ok(()) => accuracy(&answered, test.labels())?,
        Err(_) => 0.0,
    };
    ctx.check(
        "the defended model is as accurate",
        defended_accuracy >= plain_accuracy - max_drop,
        format!(
            "test accuracy {} (undefended {})",
            percent(defended_accuracy),
            percent(plain_accuracy)
        ),
        format!(
            ">= {} (undefended - {:.0} point)",
            percent(plain_accuracy - max_drop),
            max_drop * 100.0
        ),
        "keep each row's largest value the largest: the prediction must survive the defence",
    );
    Ok(())
}

fn show(ctx: &mut Context, settings: &Settings) -> Result<()> {
    let n_non_members = settings.non_members;
    let s = setup(ctx, n_non_members)?;
    let model = &s.target.model;
    let train_accuracy = model.accuracy(&s.target.members)?;
    let test = &ctx.data()?.test;
    let test_probabilities = model.probabilities(test.images())?;
    let test_accuracy = accuracy(&test_probabilities, test.labels())?;
    ctx.say(&format!(
        "Target (seed {}): trained on {} members; accuracy {} on them, {} on the test split.\n",
        ctx.seed(),
        s.target.members.len(),
        percent(train_accuracy),
        percent(test_accuracy)
    ));

    let scores = exercise::membership_scores(model, s.eval.images(), s.eval.labels())?;
    if scores.len() != s.eval.len() {
        return Err(Error::invalid(
            "membership_scores",
            format!("{} scores for {} records", scores.len(), s.eval.len()),
        ));
    }
    let (members, others) = split(&scores, &s.is_member);
    let yours = privacy::evaluate(&members, &others)?;
    let known = exercise::membership_scores(
        model,
        s.known_non_members.images(),
        s.known_non_members.labels(),
    )?;
    let threshold = exercise::choose_threshold(&known, TARGET_FPR);
    let (tpr, fpr) = candidate_rates(&members, &others, threshold);

    let probabilities = model.probabilities(s.eval.images())?;
    let known_probabilities = model.probabilities(s.known_non_members.images())?;
    let plain_scores = Scored::new(&s, &probabilities, &known_probabilities)?;
    let defended_scores = Scored::new(
        &s,
        &exercise::defend(&probabilities)?,
        &exercise::defend(&known_probabilities)?,
    )?;
    let plain = reference_attack(&s, &plain_scores.eval)?;
    let defended = reference_attack(&s, &defended_scores.eval)?;
    let label_only = label_only_advantage(&s, &probabilities)?;
    let (pm, po) = split(&plain_scores.eval, &s.is_member);
    let (dm, d_o) = split(&defended_scores.eval, &s.is_member);
    let defended_accuracy = accuracy(
        &exercise::defend(&test_probabilities)?,
        ctx.data()?.test.labels(),
    )?;

    ctx.say(&format!(
        "{} members against {} unseen non-members:\n",
        members.len(),
        others.len()
    ));
    ctx.say("attack                                   AUC    best adv.  TPR@1%FPR  TPR@0.1%FPR");
    for (name, r) in [
        ("your scores", &yours),
        ("reference (true-label log-odds)", &plain),
        ("reference, after your defence", &defended),
    ] {
        ctx.say(&format!(
            "{name:<38}  {:.3}  {:>9.3}  {:>9.3}  {:>11.3}",
            r.auc, r.max_advantage, r.tpr_at_1pct, r.tpr_at_01pct
        ));
    }
    ctx.say(&format!(
        "\nYour threshold {threshold:.4} (chosen for {} FPR on known non-members): TPR {}, FPR {} on the unseen ones.",
        percent(TARGET_FPR),
        percent(tpr),
        percent(fpr)
    ));
    ctx.say(&format!(
        "Best advantage of the reference attack: {:.3} with full outputs, {:.3} after your defence; a label-only attacker gets {label_only:.3}. Test accuracy {} → {}.",
        plain.max_advantage,
        defended.max_advantage,
        percent(test_accuracy),
        percent(defended_accuracy)
    ));

    ctx.say("\nThe reference attack with a threshold set from known non-members (advantage = TPR - FPR):");
    let mut budgets = Vec::new();
    for budget in [0.01, 0.05, 0.1, 0.25, 0.5] {
        let (plain_tpr, plain_fpr) = reference_attack_at(&s, &plain_scores, budget);
        let (after_tpr, after_fpr) = reference_attack_at(&s, &defended_scores, budget);
        let (plain, after) = (plain_tpr - plain_fpr, after_tpr - after_fpr);
        ctx.say(&format!(
            "  FPR {:>5}: full outputs TPR {:>6} (advantage {plain:.3}); after your defence TPR {:>6} (advantage {after:.3})",
            percent(budget),
            percent(plain_tpr),
            percent(after_tpr)
        ));
        budgets.push(json!({ "fpr": budget, "undefended_tpr": plain_tpr, "undefended_advantage": plain, "defended_tpr": after_tpr, "defended_advantage": after }));
    }
    let out = ctx.out_dir()?.to_owned();
    let roc_path = out.join("roc.png");
    let curve = |label: &str, r: &AttackResult| plot::Series {
        label: label.to_owned(),
        points: r
            .roc
            .fpr
            .iter()
            .zip(&r.roc.tpr)
            .map(|(&f, &t)| (f.max(1e-3), t))
            .collect(),
    };
    plot::line_plot(
        &plot::LinePlot {
            title: "Membership inference: ROC (log-scale FPR)".into(),
            x_label: "false-positive rate".into(),
            y_label: "true-positive rate".into(),
            series: vec![
                curve("your scores", &yours),
                curve("reference: true-label log-odds", &plain),
                curve("reference, after your defence", &defended),
                plot::Series {
                    label: "chance".into(),
                    points: vec![(1e-3, 1e-3), (1e-2, 1e-2), (1e-1, 1e-1), (1.0, 1.0)],
                },
            ],
            x_range: Some((1e-3, 1.0)),
            y_range: Some((0.0, 1.0)),
            log_x: true,
        },
        &roc_path,
    )?;
    let hist_path = out.join("log-odds.png");
    plot::histogram(
        "Log-odds of the true label: members vs non-members",
        "ln p(true label) - ln p(any other label)",
        &[
            ("members".to_owned(), pm.clone()),
            ("non-members".to_owned(), po.clone()),
        ],
        20,
        &hist_path,
    )?;
    let defended_hist_path = out.join("log-odds-defended.png");
    plot::histogram(
        "After your defence",
        "the same, from your defended answers",
        &[("members".to_owned(), dm), ("non-members".to_owned(), d_o)],
        20,
        &defended_hist_path,
    )?;
    for p in [&roc_path, &hist_path, &defended_hist_path] {
        ctx.say(&format!("picture: {}", p.display()));
    }
    let summary = |r: &AttackResult| json!({ "auc": r.auc, "max_advantage": r.max_advantage, "tpr_at_1pct_fpr": r.tpr_at_1pct, "tpr_at_0_1pct_fpr": r.tpr_at_01pct });
    ctx.emit(json!({
        "seed": ctx.seed(),
        "members": members.len(),
        "non_members": others.len(),
        "target": { "train_accuracy": train_accuracy, "test_accuracy": test_accuracy },
        "your_attack": summary(&yours),
        "your_threshold": { "threshold": threshold, "target_fpr": TARGET_FPR, "tpr": tpr, "fpr": fpr },
        "reference_attack": summary(&plain),
        "reference_attack_defended": summary(&defended),
        "label_only_advantage": label_only,
        "reference_attack_by_budget": budgets,
        "defended_test_accuracy": defended_accuracy,
        "pictures": [roc_path.display().to_string(), hist_path.display().to_string(), defended_hist_path.display().to_string()],
    }));
    Ok(())
}

pub fn run(ctx: &mut Context, settings: &Settings) -> Result<()> {
    show(ctx, settings)
}

pub fn demo(ctx: &mut Context, settings: &Settings, _: &NoOptions) -> Result<()> {
    show(ctx, settings)
}
