//! `aisec bench`: throughput figures comparable with the PyTorch reference script.

use aisec_lab::{LabRoot, bench};

use crate::Outcome;
use crate::cli::BenchArgs;
use crate::style;

pub fn run(lab: &LabRoot, args: &BenchArgs) -> anyhow::Result<Outcome> {
    let model = super::load_model(lab, &args.model)?;
    let spinner = indicatif::ProgressBar::new_spinner();
    let report = bench::run(&model, args.repetitions, |figure| {
        spinner.set_message(format!("measuring {figure}"))
    })?;
    spinner.finish_and_clear();
    if args.json {
        anstream::println!("{}", serde_json::to_string(&report)?);
    } else {
        anstream::println!(
            "{}",
            style::paint(
                format!(
                    "CNN throughput, {} threads (median of {})",
                    report.threads, report.repetitions
                ),
                style::HEAD
            )
        );
        anstream::println!(
            "{:>26}  {:>8.0} images/s",
            "train (Adam, batch 64)",
            report.train_images_per_s
        );
        anstream::println!(
            "{:>26}  {:>8.0} images/s",
            "forward (batch 256)",
            report.forward_images_per_s
        );
        anstream::println!(
            "{:>26}  {:>8.0} images/s",
            "input gradient (256)",
            report.input_grad_images_per_s
        );
    }
    Ok(Outcome::Success)
}
