//! Grading and display for the `extraction` exercise (the lab's code: do not edit).
//!
//! The checker plays the victim's prediction API: it holds the standard model, answers each
//! batch of queries the candidate's code sends (probabilities, or one-hot labels), counts them
//! against the budget and refuses a batch that would go over it. The candidate's code sees
//! only the answers, never the weights, and trains its copy from them; the copy is then
//! compared with the victim on the held-out test split.

use aisec_lab::checks::percent;
use aisec_lab::harness::Context;
use aisec_lab::serde_json::json;
use aisec_lab::{Result, plot, render};
use aisec_sdk::rng::Rng;
use aisec_sdk::theft::Answers;
use aisec_sdk::{Cnn, DType, Device, Tensor};
use serde::Deserialize;

/// `[settings]` of exercise.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    small_budget: usize,
    large_budget: usize,
    max_rounds: usize,
}

/// `[bars]` of exercise.toml (percent of the test split).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bars {
    min_agreement_small: f64,
    min_accuracy_small: f64,
    min_agreement_large: f64,
    min_accuracy_large: f64,
    min_agreement_labels: f64,
    min_accuracy_labels: f64,
}

/// `[demo]` of exercise.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demo {
    largest_budget: usize,
}

/// Why the API stopped answering before the candidate's code said it was done.
enum Refusal {
    /// A batch would have taken the total past the budget.
    OverBudget { asked: usize, remaining: usize },
    /// A batch that is not (m, 1, 28, 28) finite pixels in [0, 1].
    Malformed(String),
}

impl Refusal {
    fn describe(&self) -> String {
        match self {
            Refusal::OverBudget { asked, remaining } => format!(
                "a batch of {asked} queries was refused with {remaining} left in the budget"
            ),
            Refusal::Malformed(why) => format!("a batch was refused: {why}"),
        }
    }
}

/// One extraction: what was asked and answered, how it ended, and the copy.
struct Theft {
    answers: Answers,
    budget: usize,
    asked: Tensor,
    replies: Tensor,
    rounds: usize,
    refusal: Option<Refusal>,
    /// The copy `train_copy` returned, or why it failed.
    copy: std::result::Result<Cnn, String>,
}

impl Theft {
    /// The copy, or an error naming the failure (for run and demo, which need one).
    fn copy(&self) -> Result<&Cnn> {
        self.copy
            .as_ref()
            .map_err(|why| aisec_lab::Error::invalid("your extraction", why.clone()))
    }
}

/// How the copy compares with the victim on the test split.
struct Fidelity {
    agreement: f64,
    accuracy: f64,
}

/// The victim behind the API: the shipped standard model, whose classes the API reports as
/// product codes in an order drawn per seed (`codes[digit]`). A model trained on the lab's own
/// labelled digits (or the victim's file pasted into a submission) answers digits, not codes:
/// agreement with the API has to be learnt from its answers.
struct Victim {
    model: Cnn,
    codes: Vec<u32>,
}

impl Victim {
    fn load(ctx: &Context) -> Result<Victim> {
        let order = aisec_sdk::rng::permutation(10, &mut ctx.rng("class codes"));
        Ok(Victim {
            model: ctx.model("standard")?,
            codes: order.into_iter().map(|c| c as u32).collect(),
        })
    }

    /// The code the API reports for each image.
    fn predict(&self, images: &Tensor) -> Result<Vec<u32>> {
        Ok(self.to_codes(&self.model.predict(images)?))
    }

    fn to_codes(&self, digits: &[u32]) -> Vec<u32> {
        digits.iter().map(|&d| self.codes[d as usize]).collect()
    }

    /// The API's answer to each query of `batch`: probabilities per code, or the one-hot code.
    fn answer(&self, answers: Answers, batch: &Tensor) -> Result<Tensor> {
        let probabilities = self.model.probabilities(batch)?;
        Ok(match answers {
            Answers::Probabilities => {
                // Column `codes[d]` of the answer holds the probability of digit d.
                let mut digit_of_code = vec![0u32; 10];
                for (digit, &code) in self.codes.iter().enumerate() {
                    digit_of_code[code as usize] = digit as u32;
                }
                let index = Tensor::from_vec(digit_of_code, 10, &Device::Cpu)?;
                probabilities.index_select(&index, 1)?
            }
            Answers::Labels => {
                let predicted = probabilities.argmax(1)?.to_vec1::<u32>()?;
                one_hot(&self.to_codes(&predicted))?
            }
        })
    }

    /// The victim's accuracy on the test split.
    fn accuracy(&self, ctx: &Context) -> Result<f64> {
        Ok(self.model.accuracy(&ctx.data()?.test)?)
    }
}

fn one_hot(classes: &[u32]) -> Result<Tensor> {
    let mut rows = vec![0f32; classes.len() * 10];
    for (i, &c) in classes.iter().enumerate() {
        rows[i * 10 + c as usize] = 1.0;
    }
    Ok(Tensor::from_vec(rows, (classes.len(), 10), &Device::Cpu)?)
}

/// Why `batch` is not a batch of images the API answers, if it is not.
fn malformed(batch: &Tensor) -> Result<Option<String>> {
    let dims = batch.dims();
    if dims.len() != 4 || dims[1..] != [1, 28, 28] {
        return Ok(Some(format!("shape {dims:?}, not (m, 1, 28, 28)")));
    }
    let values = batch.flatten_all()?.to_vec1::<f32>()?;
    let outside = values.iter().filter(|v| !(0.0..=1.0).contains(*v)).count();
    Ok((outside > 0).then(|| {
        format!("{outside} pixel values are not numbers in [0, 1] (clamp your synthetic queries)")
    }))
}

/// Runs the candidate's extraction against the API with `budget` queries: rounds of
/// `next_queries` answered by the victim, then `train_copy`. `Ok(Err(why))` when
/// `next_queries` failed (a failure of `train_copy` is kept in the theft). The runner is fresh, so nothing carries over from another budget.
fn steal(
    ctx: &mut Context,
    victim: &Victim,
    answers: Answers,
    budget: usize,
    max_rounds: usize,
) -> Result<std::result::Result<Theft, String>> {
    ctx.fresh_runner()?;
    let population = ctx.data()?.population.images().clone();
    let mut rng: Rng = ctx.runner_rng(&format!("extraction {} {budget}", answers.name()));
    let mut asked = Tensor::zeros((0, 1, 28, 28), DType::F32, &Device::Cpu)?;
    let mut replies = Tensor::zeros((0, 10), DType::F32, &Device::Cpu)?;
    let mut refusal = None;
    let mut rounds = 0;
    while rounds < max_rounds {
        let remaining = budget - asked.dim(0)?;
        let batch = match exercise::next_queries(
            answers,
            remaining,
            &population,
            &asked,
            &replies,
            &mut rng,
        ) {
            Ok(Some(batch)) => batch,
            Ok(None) => break,
            Err(e) => return Ok(Err(format!("next_queries: {e}"))),
        };
        rounds += 1;
        if let Some(why) = malformed(&batch)? {
            refusal = Some(Refusal::Malformed(why));
            break;
        }
        let m = batch.dim(0)?;
        if m > remaining {
            refusal = Some(Refusal::OverBudget {
                asked: m,
                remaining,
            });
            break;
        }
        if m == 0 {
            continue;
        }
        let reply = victim.answer(answers, &batch)?;
        asked = Tensor::cat(&[&asked, &batch], 0)?;
        replies = Tensor::cat(&[&replies, &reply], 0)?;
    }
    let copy = exercise::train_copy(answers, &asked, &replies, &mut rng)
        .map_err(|e| format!("train_copy: {e}"));
    Ok(Ok(Theft {
        answers,
        budget,
        asked,
        replies,
        rounds,
        refusal,
        copy,
    }))
}

/// The copy's agreement with the API and its accuracy (its code against the code of the true
/// digit), on the test split.
fn fidelity(ctx: &Context, victim: &Victim, copy: &Cnn) -> Result<Fidelity> {
    let test = &ctx.data()?.test;
    let theirs = copy.predict(test.images())?;
    let ours = victim.predict(test.images())?;
    Ok(Fidelity {
        agreement: aisec_sdk::metrics::accuracy(&theirs, &ours),
        accuracy: aisec_sdk::metrics::accuracy(&theirs, &victim.to_codes(test.labels())),
    })
}

/// The three extractions a check runs: (answers, budget, agreement bar, accuracy bar).
fn graded(settings: &Settings, bars: &Bars) -> [(Answers, usize, f64, f64); 3] {
    [
        (
            Answers::Probabilities,
            settings.small_budget,
            bars.min_agreement_small,
            bars.min_accuracy_small,
        ),
        (
            Answers::Probabilities,
            settings.large_budget,
            bars.min_agreement_large,
            bars.min_accuracy_large,
        ),
        (
            Answers::Labels,
            settings.large_budget,
            bars.min_agreement_labels,
            bars.min_accuracy_labels,
        ),
    ]
}

/// "1 round", "2 rounds".
fn rounds(n: usize) -> String {
    format!("{n} round{}", if n == 1 { "" } else { "s" })
}

/// What the checks call one extraction: "probabilities, 1000 queries".
fn setting_name(answers: Answers, budget: usize) -> String {
    format!("{}, {budget} queries", answers.name())
}

pub fn check(ctx: &mut Context, settings: &Settings, bars: &Bars) -> Result<()> {
    let victim = Victim::load(ctx)?;
    let mut thefts = Vec::new();
    let plan = graded(settings, bars);
    let progress = ctx.progress(plan.len() as u64, "stealing");
    for &(answers, budget, agreement_bar, accuracy_bar) in &plan {
        let theft = match steal(ctx, &victim, answers, budget, settings.max_rounds)? {
            Ok(theft) => theft,
            Err(why) => {
                ctx.check(
                    "your extraction runs",
                    false,
                    format!("{} — {why}", setting_name(answers, budget)),
                    "next_queries and train_copy return Ok",
                    "your functions must not fail on valid input",
                );
                return Ok(());
            }
        };
        progress.inc(1);
        thefts.push((theft, agreement_bar, accuracy_bar));
    }
    progress.finish_and_clear();
    let failures: Vec<String> = thefts
        .iter()
        .filter_map(|(t, _, _)| {
            let why = t.copy.as_ref().err()?;
            Some(format!("{} — {why}", setting_name(t.answers, t.budget)))
        })
        .collect();
    ctx.check(
        "your extraction runs",
        failures.is_empty(),
        if failures.is_empty() {
            format!("{} extractions", thefts.len())
        } else {
            failures.join("; ")
        },
        "next_queries and train_copy return Ok",
        "your functions must not fail on valid input",
    );

    let refused: Vec<String> = thefts
        .iter()
        .filter_map(|(t, _, _)| {
            let r = t.refusal.as_ref()?;
            Some(format!(
                "{}: {}",
                setting_name(t.answers, t.budget),
                r.describe()
            ))
        })
        .collect();
    let used: Vec<String> = thefts
        .iter()
        .map(|(t, _, _)| {
            format!(
                "{} of {} in {}",
                t.asked.dim(0).unwrap_or(0),
                t.budget,
                rounds(t.rounds)
            )
        })
        .collect();
    ctx.check(
        "every batch of queries is answered (within the budget, well formed)",
        refused.is_empty(),
        if refused.is_empty() {
            format!("queries used: {}", used.join("; "))
        } else {
            refused.join("; ")
        },
        "no batch refused",
        "ask for at most `remaining` queries per batch; keep every pixel in [0, 1]",
    );

    let victim_accuracy = victim.accuracy(ctx)?;
    for (theft, agreement_bar, accuracy_bar) in &thefts {
        let name = setting_name(theft.answers, theft.budget);
        let answered = theft.asked.dim(0)?;
        let (agreement, accuracy) = match &theft.copy {
            Ok(copy) => {
                let f = fidelity(ctx, &victim, copy)?;
                (
                    (
                        f.agreement,
                        format!(
                            "agreement {} on the test split ({answered} queries answered)",
                            percent(f.agreement)
                        ),
                    ),
                    (
                        f.accuracy,
                        format!(
                            "accuracy {} on the test split (the victim's {})",
                            percent(f.accuracy),
                            percent(victim_accuracy)
                        ),
                    ),
                )
            }
            Err(_) => (
                (
                    0.0,
                    format!("no copy: train_copy failed ({answered} queries answered)"),
                ),
                (0.0, "no copy: train_copy failed".to_owned()),
            ),
        };
        ctx.check(
            &format!("{name}: the copy agrees with the victim"),
            100.0 * agreement.0 >= *agreement_bar,
            agreement.1.clone(),
            format!(">= {agreement_bar}%"),
            "ask about more than the natural digits: shifted, turned or blended ones probe the \
             victim's decision boundary; fit the copy to the whole answer, not just its arg-max",
        );
        ctx.check(
            &format!("{name}: the copy is accurate"),
            100.0 * accuracy.0 >= *accuracy_bar,
            accuracy.1.clone(),
            format!(">= {accuracy_bar}%"),
            "train the copy longer on few queries (many epochs), with a decaying learning rate",
        );
    }
    Ok(())
}

/// Steals at each budget for both kinds of answers and reports the copies.
fn sweep(
    ctx: &mut Context,
    victim: &Victim,
    budgets: &[usize],
    max_rounds: usize,
) -> Result<Vec<(Answers, usize, Fidelity, usize)>> {
    let mut rows = Vec::new();
    let progress = ctx.progress((2 * budgets.len()) as u64, "stealing");
    for answers in [Answers::Probabilities, Answers::Labels] {
        for &budget in budgets {
            let theft = steal(ctx, victim, answers, budget, max_rounds)?
                .map_err(|why| aisec_lab::Error::invalid("your extraction", why))?;
            let f = fidelity(ctx, victim, theft.copy()?)?;
            if let Some(r) = &theft.refusal {
                ctx.say(&format!(
                    "{}: {}",
                    setting_name(answers, budget),
                    r.describe()
                ));
            }
            rows.push((answers, budget, f, theft.asked.dim(0)?));
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    Ok(rows)
}

/// Shows queries a theft asked — the first four and the last four, so both natural and
/// synthetic ones when it made both — with the victim's answer and the copy's: two of each in
/// the terminal (two to a row, to fit 80 columns), all eight in a picture.
fn show_queries(ctx: &Context, victim: &Victim, theft: &Theft) -> Result<std::path::PathBuf> {
    let n = theft.asked.dim(0)?;
    let mut picks: Vec<usize> = (0..4.min(n)).chain(n.saturating_sub(4)..n).collect();
    picks.dedup();
    let index = Tensor::from_vec(
        picks.iter().map(|&i| i as u32).collect::<Vec<_>>(),
        picks.len(),
        &Device::Cpu,
    )?;
    let chosen = theft.asked.index_select(&index, 0)?;
    let pixels = chosen.flatten_from(1)?.to_vec2::<f32>()?;
    let theirs = victim.predict(&chosen)?;
    let copy = theft.copy()?.predict(&chosen)?;
    let confidence = theft
        .replies
        .index_select(&index, 0)?
        .max(1)?
        .to_vec1::<f32>()?;
    let digits: Vec<(&[f32], String)> = pixels
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                p.as_slice(),
                format!(
                    "#{} API {} {:.0}%, copy {}",
                    picks[i] + 1,
                    theirs[i],
                    100.0 * confidence[i],
                    copy[i]
                ),
            )
        })
        .collect();
    let shown: Vec<usize> = if digits.len() > 4 {
        vec![0, 1, digits.len() - 2, digits.len() - 1]
    } else {
        (0..digits.len()).collect()
    };
    for pair in shown.chunks(2) {
        let row: Vec<(&[f32], String)> = pair.iter().map(|&i| digits[i].clone()).collect();
        ctx.say(&render::digits_row(&row, ctx.color()));
    }
    let path = ctx.out_dir()?.join("queries.png");
    let grid: Vec<&[f32]> = pixels.iter().map(Vec::as_slice).collect();
    plot::digit_grid(&grid, grid.len().clamp(1, 4), 4, &path)?;
    Ok(path)
}

pub fn run(ctx: &mut Context, settings: &Settings) -> Result<()> {
    let victim = Victim::load(ctx)?;
    let budget = settings.large_budget;
    let theft = steal(
        ctx,
        &victim,
        Answers::Probabilities,
        budget,
        settings.max_rounds,
    )?
    .map_err(|why| aisec_lab::Error::invalid("your extraction", why))?;
    let f = fidelity(ctx, &victim, theft.copy()?)?;
    ctx.say(&format!(
        "Seed {}: stole the standard model through its probabilities,\n{} of {budget} queries in {}.",
        ctx.seed(),
        theft.asked.dim(0)?,
        rounds(theft.rounds)
    ));
    if let Some(r) = &theft.refusal {
        ctx.say(&format!("The API refused to go on: {}.", r.describe()));
    }
    ctx.say(&format!(
        "Your copy agrees with the victim on {} of the test split\nand is {} accurate (the victim: {}).\n",
        percent(f.agreement),
        percent(f.accuracy),
        percent(victim.accuracy(ctx)?)
    ));
    ctx.say(
        "Your first queries and your last: the API's answer (a class code), its confidence,\nand your copy's.\n",
    );
    let picture = show_queries(ctx, &victim, &theft)?;
    ctx.say(&format!(
        "picture: {} (the first four queries above, the last four below)",
        picture.display()
    ));
    ctx.emit(json!({
        "seed": ctx.seed(),
        "answers": theft.answers.name(),
        "budget": budget,
        "queries": theft.asked.dim(0)?,
        "rounds": theft.rounds,
        "refused": theft.refusal.as_ref().map(Refusal::describe),
        "agreement": f.agreement,
        "accuracy": f.accuracy,
        "pictures": [picture.display().to_string()],
    }));
    Ok(())
}

pub fn demo(ctx: &mut Context, settings: &Settings, demo: &Demo) -> Result<()> {
    let victim = Victim::load(ctx)?;
    let victim_accuracy = victim.accuracy(ctx)?;
    let budgets: Vec<usize> = [250, 1000, 2000, 4000, 5000]
        .into_iter()
        .filter(|&b| b <= demo.largest_budget)
        .collect();
    ctx.say(&format!(
        "Seed {}: stealing the standard model (test accuracy {}) through its API, at each budget, \
         with probabilities and with labels only.\n",
        ctx.seed(),
        percent(victim_accuracy)
    ));
    let rows = sweep(ctx, &victim, &budgets, settings.max_rounds)?;
    ctx.say("answers         budget  used   agreement  accuracy");
    for (answers, budget, f, used) in &rows {
        ctx.say(&format!(
            "{:<14} {budget:>7} {used:>5}   {:>9}  {:>8}",
            answers.name(),
            percent(f.agreement),
            percent(f.accuracy)
        ));
    }
    let out = ctx.out_dir()?.to_owned();
    let path = out.join("queries-vs-fidelity.png");
    // Errors rather than agreement and accuracy: they fall as the queries grow, so the lines
    // end at the bottom right, clear of the legend.
    let series = |answers: Answers, what: &str, value: fn(&Fidelity) -> f64| plot::Series {
        label: format!("{what}, {}", answers.name()),
        points: rows
            .iter()
            .filter(|r| r.0 == answers)
            .map(|(_, b, f, _)| (*b as f64, 100.0 * (1.0 - value(f))))
            .collect(),
    };
    let worst = rows
        .iter()
        .map(|(_, _, f, _)| 100.0 * (1.0 - f.accuracy.min(f.agreement)))
        .fold(0.0, f64::max);
    plot::line_plot(
        &plot::LinePlot {
            title: "Model extraction: the copy's errors against the queries it cost".into(),
            x_label: "queries to the victim's API (log scale)".into(),
            y_label: "% of the test split".into(),
            series: vec![
                series(Answers::Probabilities, "disagrees with the victim", |f| {
                    f.agreement
                }),
                series(Answers::Probabilities, "wrong", |f| f.accuracy),
                series(Answers::Labels, "disagrees with the victim", |f| {
                    f.agreement
                }),
                series(Answers::Labels, "wrong", |f| f.accuracy),
                plot::Series {
                    label: "the victim is wrong".into(),
                    points: budgets
                        .iter()
                        .map(|&b| (b as f64, 100.0 * (1.0 - victim_accuracy)))
                        .collect(),
                },
            ],
            x_range: None,
            y_range: Some((0.0, (worst * 1.6).max(5.0))),
            log_x: true,
        },
        &path,
    )?;
    ctx.say(&format!("\npicture: {}", path.display()));
    ctx.emit(json!({
        "seed": ctx.seed(),
        "victim_accuracy": victim_accuracy,
        "rows": rows.iter().map(|(a, b, f, used)| json!({
            "answers": a.name(), "budget": b, "queries": used,
            "agreement": f.agreement, "accuracy": f.accuracy,
        })).collect::<Vec<_>>(),
        "pictures": [path.display().to_string()],
    }));
    Ok(())
}
