//! Grading and display for the `poison-ac` exercise (the lab's code: do not edit).

use aisec_lab::checks::percent;
use aisec_lab::harness::{Context, NoOptions};
use aisec_lab::poison::{self, FlipPlan, Poisoned};
use aisec_lab::serde_json::json;
use aisec_lab::{Error, Result, plot, render};
use aisec_sdk::analysis::{self, KMeans, Pca};
use aisec_sdk::data::N_CLASSES;
use aisec_sdk::ndarray::Axis;
use aisec_sdk::{Cnn, Dataset};
use serde::Deserialize;

/// `[settings]` of exercise.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    epochs: usize,
}

/// `[bars]` of exercise.toml (points are percentage points of accuracy).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bars {
    min_f1: f64,
    max_flagged_share_on_clean: f64,
    max_points_below_clean_after_repair: f64,
}

/// A poisoned training run: the plan, the poisoned rows and the model trained on them.
struct Run {
    poisoned: Poisoned,
    model: Cnn,
}

/// Draws a plan from the seed, applies it to the training split and trains on the result.
fn poisoned_run(ctx: &Context, epochs: usize) -> Result<Run> {
    let plan = FlipPlan::draw(&mut ctx.rng("plan"));
    let poisoned = poison::flip_labels(&ctx.data()?.train, &plan, &mut ctx.rng("flip"))?;
    let model = train(
        ctx,
        &poisoned.data,
        epochs,
        &format!("training on poisoned labels ({})", plan.describe()),
    )?;
    Ok(Run { poisoned, model })
}

/// Trains the lab's poisoning CNN on `data`, with a progress bar.
fn train(ctx: &Context, data: &Dataset, epochs: usize, what: &str) -> Result<Cnn> {
    let steps = poison::train_config(ctx.draw_seed(), epochs).steps(data.len());
    let bar = ctx.progress(steps as u64, what);
    let model = poison::train(data, ctx.draw_seed(), epochs, |_| bar.inc(1))?;
    bar.finish_and_clear();
    Ok(model)
}

/// Held-out accuracy on the source class: the poisoned model, the model retrained without
/// the flagged rows, and a model trained on clean labels.
struct Repair {
    held_out: usize,
    before: f64,
    after: f64,
    clean: f64,
}

/// Retrains without `flagged` and on clean labels, and reads the source class with all three.
fn repair(ctx: &Context, run: &Run, flagged: &[usize], epochs: usize) -> Result<Repair> {
    let repaired = train(
        ctx,
        &poison::without_rows(&run.poisoned.data, flagged)?,
        epochs,
        "retraining without the flagged rows",
    )?;
    let clean = train(
        ctx,
        &ctx.data()?.train,
        epochs,
        "training on clean labels (for comparison)",
    )?;
    let source = held_out_class(ctx, run.poisoned.plan.source)?;
    Ok(Repair {
        held_out: source.len(),
        before: run.model.accuracy(&source)?,
        after: repaired.accuracy(&source)?,
        clean: clean.accuracy(&source)?,
    })
}

/// Held-out digits of `class`: every row of the test and population splits with that label.
fn held_out_class(ctx: &Context, class: u32) -> Result<Dataset> {
    let data = ctx.data()?;
    let test = data.test.select(&data.test.indices_of_class(class))?;
    let population = data
        .population
        .select(&data.population.indices_of_class(class))?;
    Ok(Dataset::concat(&[&test, &population])?)
}

pub fn check(ctx: &mut Context, settings: &Settings, bars: &Bars) -> Result<()> {
    let epochs = settings.epochs;
    let min_f1 = bars.min_f1;
    let max_false_alarms = bars.max_flagged_share_on_clean;
    let max_gap = bars.max_points_below_clean_after_repair / 100.0;
    let data = ctx.data()?.clone();
    // The candidate's seed is derived from the run's, never the run's itself: with the run's
    // seed, the flip plan and the flipped rows could be recomputed from the lab's code.
    let seed = ctx.runner_seed("detect");
    // 1. False alarms on a clean training set, with the model trained on it
    //    (first: it needs no training, so an unstarted stub is reported at once).
    let clean_model = ctx.model("standard")?;
    let Some(false_alarms) = ctx.student(
        "runs on a clean training set",
        exercise::detect(&clean_model, &data.train, seed),
    ) else {
        return Ok(());
    };
    if let Some(reason) = poison::out_of_range(&false_alarms, data.train.len()) {
        ctx.check(
            "flagged rows are training rows (clean set)",
            false,
            reason,
            "every index < the number of training rows",
            "return indices into the training set you were given",
        );
        return Ok(());
    }
    let distinct: std::collections::BTreeSet<usize> = false_alarms.iter().copied().collect();
    let share = distinct.len() as f64 / data.train.len() as f64;
    ctx.check(
        "few false alarms on a clean training set",
        share <= max_false_alarms,
        format!(
            "{} of {} clean rows flagged ({})",
            distinct.len(),
            data.train.len(),
            percent(share)
        ),
        format!("<= {}", percent(max_false_alarms)),
        "a class whose two clusters are both its own digit is not poisoned: flag nothing there",
    );

    // The poisoned set is the clean one with some labels changed: a runner that kept the
    // clean call's labels would find the flips by comparing. The next call starts a new one.
    ctx.fresh_runner()?;
    let run = poisoned_run(ctx, epochs)?;
    let plan = run.poisoned.plan;

    // 2. Detection on the poisoned run.
    let Some(flagged) = ctx.student(
        "detects on the poisoned run",
        exercise::detect(&run.model, &run.poisoned.data, seed),
    ) else {
        return Ok(());
    };
    if let Some(reason) = poison::out_of_range(&flagged, data.train.len()) {
        ctx.check(
            "flagged rows are training rows",
            false,
            reason,
            "every index < the number of training rows",
            "return indices into the training set you were given",
        );
        return Ok(());
    }
    let detection = poison::score(&flagged, &run.poisoned.flipped, run.poisoned.data.len());
    ctx.check(
        &format!("finds the flipped labels ({})", plan.describe()),
        detection.f1() >= min_f1,
        poison::describe_detection(&detection),
        format!("F1 >= {min_f1}"),
        "small clusters exist in every class; decide per class whether its suspect cluster is read as another class by a model that never saw it",
    );

    // 3. Repair: retrain without the flagged rows; the source class must come back.
    let kept = data.train.len() - poison::flagged_count(&detection);
    if kept < data.train.len() / 2 {
        ctx.check(
            "repair recovers the source class",
            false,
            format!(
                "only {kept} of {} rows left to retrain on",
                data.train.len()
            ),
            "flag few enough rows that a model can be retrained on the rest",
            "flag the poison, not whole classes",
        );
        return Ok(());
    }
    let repair = repair(ctx, &run, &flagged, epochs)?;
    ctx.check(
        "repair recovers the source class",
        repair.after >= repair.clean - max_gap,
        format!(
            "held-out {}s ({}): poisoned model {}, repaired {}, trained on clean labels {}",
            plan.source,
            repair.held_out,
            percent(repair.before),
            percent(repair.after),
            percent(repair.clean)
        ),
        format!(">= {} (clean - {:.0} points)", percent(repair.clean - max_gap), max_gap * 100.0),
        "the flagged rows are removed before retraining: missed poison keeps teaching the wrong label",
    );
    Ok(())
}

/// The lab's own look at one class: its activations reduced to 10 dimensions and split in two.
struct ClassClusters {
    rows: Vec<usize>,
    reduced: aisec_sdk::ndarray::Array2<f32>,
    labels: Vec<usize>,
    sizes: Vec<usize>,
    silhouette: f64,
}

fn cluster_class(
    activations: &aisec_sdk::ndarray::Array2<f32>,
    data: &Dataset,
    class: u32,
    seed: u64,
) -> Result<ClassClusters> {
    let rows = data.indices_of_class(class);
    let x = activations.select(Axis(0), &rows);
    let reduced = Pca::fit(x.view(), 10)?.transform(x.view())?;
    let clusters = KMeans::fit(reduced.view(), 2, 4, seed)?;
    let silhouette = analysis::silhouette_score(reduced.view(), &clusters.labels)?;
    let sizes = clusters.sizes();
    Ok(ClassClusters {
        rows,
        reduced,
        labels: clusters.labels,
        sizes,
        silhouette,
    })
}

fn show(ctx: &mut Context, epochs: usize) -> Result<()> {
    let data = ctx.data()?.clone();
    // The poisoned set is the clean one with some labels changed: a runner that kept the
    // clean call's labels would find the flips by comparing. The next call starts a new one.
    ctx.fresh_runner()?;
    let run = poisoned_run(ctx, epochs)?;
    let plan = run.poisoned.plan;
    let train_set = &run.poisoned.data;
    ctx.say(&format!(
        "Poisoned run (seed {}): {} — {} of {} training labels flipped; model trained {epochs} epochs.\n",
        ctx.seed(),
        plan.describe(),
        run.poisoned.flipped.len(),
        train_set.len()
    ));

    let flagged = exercise::detect(&run.model, train_set, ctx.runner_seed("detect"))?;
    if let Some(reason) = poison::out_of_range(&flagged, train_set.len()) {
        return Err(Error::invalid("detect", reason));
    }
    let detection = poison::score(&flagged, &run.poisoned.flipped, run.poisoned.data.len());
    let is_flagged = {
        let mut marks = vec![false; train_set.len()];
        flagged.iter().for_each(|&r| marks[r] = true);
        marks
    };
    let is_poison = {
        let mut marks = vec![false; train_set.len()];
        run.poisoned.flipped.iter().for_each(|&r| marks[r] = true);
        marks
    };

    // Per-class clusters, as activation clustering sees them.
    let activations = analysis::to_array(&run.model.penultimate(train_set.images())?)?;
    let mut classes = Vec::new();
    ctx.say("label  rows  clusters     silhouette  poisoned  flagged");
    let mut target_clusters = None;
    for class in 0..N_CLASSES as u32 {
        let c = cluster_class(&activations, train_set, class, ctx.draw_seed())?;
        let poisoned = c.rows.iter().filter(|&&r| is_poison[r]).count();
        let flagged_here = c.rows.iter().filter(|&&r| is_flagged[r]).count();
        ctx.say(&format!(
            "{class:>5}  {:>4}  {:>5} {:>5}  {:>10.3}  {:>8}  {:>7}",
            c.rows.len(),
            c.sizes[0].max(c.sizes[1]),
            c.sizes[0].min(c.sizes[1]),
            c.silhouette,
            poisoned,
            flagged_here
        ));
        classes.push(json!({
            "label": class,
            "rows": c.rows.len(),
            "cluster_sizes": [c.sizes[0].max(c.sizes[1]), c.sizes[0].min(c.sizes[1])],
            "silhouette": c.silhouette,
            "poisoned": poisoned,
            "flagged": flagged_here,
        }));
        if class == plan.target {
            target_clusters = Some(c);
        }
    }
    ctx.say(&format!(
        "\nYour detector: {}\n",
        poison::describe_detection(&detection)
    ));

    // Some flagged digits, with their label and (where poisoned) what they really were.
    let shown: Vec<usize> = flagged.iter().copied().take(6).collect();
    let mut pictures = Vec::new();
    if !shown.is_empty() {
        let pixels = train_set
            .select(&shown)?
            .images()
            .flatten_from(1)?
            .to_vec2::<f32>()?;
        let captions: Vec<String> = shown
            .iter()
            .map(|&r| {
                if is_poison[r] {
                    format!(
                        "label {} (was {})",
                        train_set.labels()[r],
                        data.train.labels()[r]
                    )
                } else {
                    format!("label {} (clean)", train_set.labels()[r])
                }
            })
            .collect();
        let digits: Vec<(&[f32], String)> =
            pixels.iter().map(Vec::as_slice).zip(captions).collect();
        ctx.say("Some rows you flagged:\n");
        ctx.say(&render::digits_row(&digits, ctx.color()));
        let path = ctx.out_dir()?.join("flagged-digits.png");
        let grid: Vec<&[f32]> = pixels.iter().map(Vec::as_slice).collect();
        plot::digit_grid(&grid, grid.len(), 4, &path)?;
        pictures.push(path.display().to_string());
    }

    // The poisoned class in two dimensions, by cluster and by ground truth.
    if let Some(c) = target_clusters {
        let xy = Pca::fit(c.reduced.view(), 2)?.transform(c.reduced.view())?;
        let by_cluster: Vec<(f64, f64, usize)> = (0..c.rows.len())
            .map(|i| {
                (
                    f64::from(xy[[i, 0]]),
                    f64::from(xy[[i, 1]]),
                    usize::from(c.sizes[c.labels[i]] < c.rows.len() / 2),
                )
            })
            .collect();
        let by_truth: Vec<(f64, f64, usize)> = c
            .rows
            .iter()
            .enumerate()
            .map(|(i, &r)| {
                (
                    f64::from(xy[[i, 0]]),
                    f64::from(xy[[i, 1]]),
                    usize::from(is_poison[r]),
                )
            })
            .collect();
        let cluster_path = ctx.out_dir()?.join("clusters-by-kmeans.png");
        plot::scatter(
            &format!(
                "Label {}: activations (PCA), by 2-means cluster",
                plan.target
            ),
            "component 1",
            "component 2",
            &by_cluster,
            &["larger cluster".to_owned(), "smaller cluster".to_owned()],
            &cluster_path,
        )?;
        let truth_path = ctx.out_dir()?.join("clusters-by-truth.png");
        plot::scatter(
            &format!("Label {}: activations (PCA), by ground truth", plan.target),
            "component 1",
            "component 2",
            &by_truth,
            &[
                format!("really {}", plan.target),
                format!("flipped from {}", plan.source),
            ],
            &truth_path,
        )?;
        pictures.push(cluster_path.display().to_string());
        pictures.push(truth_path.display().to_string());
    }

    // Repair.
    let repair = repair(ctx, &run, &flagged, epochs)?;
    ctx.say(&format!(
        "Held-out {}s ({} digits) read correctly: poisoned model {}, after repair {}, clean labels {}.",
        plan.source,
        repair.held_out,
        percent(repair.before),
        percent(repair.after),
        percent(repair.clean)
    ));
    for p in &pictures {
        ctx.say(&format!("picture: {p}"));
    }
    ctx.emit(json!({
        "seed": ctx.seed(),
        "plan": { "source": plan.source, "target": plan.target, "fraction": plan.fraction },
        "epochs": epochs,
        "rows": train_set.len(),
        "poisoned": run.poisoned.flipped.len(),
        "classes": classes,
        "detection": {
            "flagged": poison::flagged_count(&detection),
            "true_positives": detection.true_positives,
            "precision": detection.precision(),
            "recall": detection.recall(),
            "f1": detection.f1(),
        },
        "source_accuracy": { "n": repair.held_out, "poisoned": repair.before, "repaired": repair.after, "clean": repair.clean },
        "pictures": pictures,
    }));
    Ok(())
}

pub fn run(ctx: &mut Context, settings: &Settings) -> Result<()> {
    show(ctx, settings.epochs)
}

pub fn demo(ctx: &mut Context, settings: &Settings, _: &NoOptions) -> Result<()> {
    show(ctx, settings.epochs)
}
