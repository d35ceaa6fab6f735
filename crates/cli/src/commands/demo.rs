//! `aisec demo`: the labs end to end with the reference solutions and the shipped models.

use std::io::Write;
use std::time::Duration;

use aisec_grader::harness::{RunEnd, RunRequest, Variant};
use aisec_lab::harness::{Mode, Outcome as HarnessOutcome};
use aisec_lab::{LabRoot, render};
use aisec_sdk::metrics;
use anyhow::Context;

use crate::Outcome;
use crate::cli::DemoArgs;
use crate::style;

const MODELS: [&str; 3] = ["standard", "adversarial", "overfit"];

/// The shipped models on held-out digits, and six digits as the standard model reads them.
fn overview(lab: &LabRoot) -> anyhow::Result<()> {
    let (data, _) = super::load_data(lab, None)?;
    let test = &data.test;
    let mut out = anstream::stdout();
    writeln!(
        out,
        "{}",
        style::paint(
            format!(
                "The shipped models on the {} held-out test digits",
                test.len()
            ),
            style::HEAD
        )
    )?;
    let mut standard = None;
    for name in MODELS {
        let model = super::load_model(lab, name)?;
        let accuracy = metrics::accuracy(&model.predict(test.images())?, test.labels());
        writeln!(out, "  {name:<12} accuracy {accuracy:.4}")?;
        if name == "standard" {
            standard = Some(model);
        }
    }
    let model = standard.context("the standard model")?;
    let sample = test.head(6)?;
    let predicted = model.predict(sample.images())?;
    let pixels = sample.images().flatten_from(1)?.to_vec2::<f32>()?;
    let digits: Vec<(&[f32], String)> = pixels
        .iter()
        .zip(sample.labels().iter().zip(&predicted))
        .map(|(p, (label, guess))| (p.as_slice(), format!("label {label} → {guess}")))
        .collect();
    writeln!(
        out,
        "\n{}",
        style::paint("The standard model reads six test digits:", style::HEAD)
    )?;
    writeln!(
        out,
        "{}",
        render::digits_row(&digits, style::stdout_color())
    )?;
    Ok(())
}

pub fn run(lab: &LabRoot, args: &DemoArgs) -> anyhow::Result<Outcome> {
    let registry = super::registry(lab)?;
    let tracks = match &args.track {
        Some(track) => {
            registry.track(track)?;
            vec![track.clone()]
        }
        None => registry.tracks(),
    };
    // Each exercise gets the --set keys its [demo] table declares; every key must mean
    // something to at least one exercise shown.
    let mut options = std::collections::BTreeMap::new();
    let mut unused: Vec<&str> = args.set.iter().map(|(k, _)| k.as_str()).collect();
    let mut known: Vec<String> = Vec::new();
    for track in &tracks {
        for exercise in registry.track(track)? {
            let (given, taken) = exercise.demo_overrides(&args.set)?;
            unused.retain(|key| !taken.iter().any(|t| t == key));
            known.extend(exercise.manifest.demo.keys().cloned());
            options.insert(exercise.id().to_owned(), given);
        }
    }
    if let Some(key) = unused.first() {
        known.sort();
        known.dedup();
        anyhow::bail!(
            "--set {key}: no exercise shown takes it; demo options here: {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    }
    let seed = super::seed_or_random(args.seed);
    if args.track.is_none() && !args.json {
        overview(lab)?;
    }
    let mut outputs = serde_json::Map::new();
    for track in &tracks {
        let mut track_outputs = serde_json::Map::new();
        for exercise in registry.track(track)? {
            if !args.json {
                anstream::println!(
                    "{}",
                    style::paint(
                        format!(
                            "── {track} / {}: {}",
                            exercise.id(),
                            exercise.manifest.title
                        ),
                        style::HEAD
                    )
                );
            }
            let built = super::build_harness(lab, exercise, Variant::Solution)?;
            let request = RunRequest {
                mode: Mode::Demo,
                seed,
                time_limit: Duration::from_secs(3600),
                memory_mb: exercise.manifest.memory_limit_mb,
                json: args.json,
                color: style::stdout_color(),
                options: options.remove(exercise.id()).unwrap_or_default(),
                capture_stdout: args.json,
                capture_stderr: false,
            };
            let output = aisec_grader::harness::run(lab, &built, &request, None)?;
            match output.end {
                RunEnd::Finished(result)
                    if result.outcome == HarnessOutcome::Completed && result.message.is_none() =>
                {
                    track_outputs.insert(
                        exercise.id().to_owned(),
                        result.output.unwrap_or(serde_json::Value::Null),
                    );
                }
                RunEnd::Finished(result) => anyhow::bail!(
                    "the {} demo failed: {}",
                    exercise.id(),
                    result.message.unwrap_or_default()
                ),
                RunEnd::TimedOut => anyhow::bail!("the {} demo ran past an hour", exercise.id()),
                RunEnd::Died(why) => anyhow::bail!("the {} demo died: {why}", exercise.id()),
            }
            if !args.json {
                anstream::println!();
            }
        }
        outputs.insert(track.clone(), serde_json::Value::Object(track_outputs));
    }
    if args.json {
        let value = match &args.track {
            Some(track) => {
                serde_json::json!({ "track": track, "seed": seed, "exercises": outputs.remove(track) })
            }
            None => serde_json::json!({ "seed": seed, "tracks": outputs }),
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
    }
    Ok(Outcome::Success)
}
