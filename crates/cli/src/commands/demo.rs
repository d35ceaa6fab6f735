//! `aisec demo`: the shipped models on the held-out digits, and a few digits as pictures.

use std::io::Write;

use aisec_lab::{LabRoot, render};
use aisec_sdk::metrics;
use anyhow::Context;

use crate::Outcome;
use crate::cli::DemoArgs;
use crate::style;

const MODELS: [&str; 3] = ["standard", "adversarial", "overfit"];

pub fn run(lab: &LabRoot, args: &DemoArgs) -> anyhow::Result<Outcome> {
    let (data, _) = super::load_data(lab, None)?;
    let test = data.test.head(args.n)?;
    let mut rows = Vec::new();
    for name in MODELS {
        let model = super::load_model(lab, name)?;
        let predicted = model.predict(test.images())?;
        rows.push((name, model, metrics::accuracy(&predicted, test.labels())));
    }
    if args.json {
        let models: Vec<_> = rows.iter().map(|(name, _, acc)| serde_json::json!({"model": name, "test_accuracy": acc, "n": test.len()})).collect();
        anstream::println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "models": models }))?
        );
        return Ok(Outcome::Success);
    }
    let mut out = anstream::stdout();
    writeln!(
        out,
        "{}",
        style::paint(
            format!(
                "Shipped models on the first {} held-out test digits",
                test.len()
            ),
            style::HEAD
        )
    )?;
    for (name, _, acc) in &rows {
        writeln!(out, "  {name:<12} accuracy {acc:.4}")?;
    }
    let sample = test.head(6)?;
    let predicted = rows[0].1.predict(sample.images())?;
    let pixels = sample
        .images()
        .flatten_from(1)?
        .to_vec2::<f32>()
        .context("reading digits")?;
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
    write!(
        out,
        "{}",
        render::digits_row(&digits, style::stdout_color())
    )?;
    Ok(Outcome::Success)
}
