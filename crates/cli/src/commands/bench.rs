//! `aisec bench`: throughput figures comparable with the PyTorch reference script.

use aisec_lab::{LabRoot, bench};

use crate::Outcome;
use crate::cli::{BenchArgs, BenchPart};
use crate::style;

pub fn run(lab: &LabRoot, args: &BenchArgs) -> anyhow::Result<Outcome> {
    let spinner = indicatif::ProgressBar::new_spinner();
    let cnn = if args.only != Some(BenchPart::Llm) {
        let model = super::load_model(lab, &args.model)?;
        Some(bench::run(&model, args.repetitions, |figure| {
            spinner.set_message(format!("measuring {figure}"))
        })?)
    } else {
        None
    };
    let llm = if args.only != Some(BenchPart::Cnn) {
        let model = aisec_lab::llm::chat_model(lab)?;
        Some(bench::run_llm(&model, args.repetitions, |figure| {
            spinner.set_message(format!("measuring the chat model's {figure}"))
        })?)
    } else {
        None
    };
    spinner.finish_and_clear();
    if args.json {
        let report = serde_json::json!({ "cnn": cnn, "llm": llm });
        anstream::println!("{}", serde_json::to_string(&report)?);
        return Ok(Outcome::Success);
    }
    if let Some(report) = cnn {
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
    if let Some(report) = llm {
        anstream::println!(
            "{}",
            style::paint(
                format!(
                    "chat model (SmolLM2-135M Q4_1), {} threads (median of {})",
                    report.threads, report.repetitions
                ),
                style::HEAD
            )
        );
        anstream::println!(
            "{:>26}  {:>8.1} tokens/s",
            "prompt (512 tokens)",
            report.prompt_tokens_per_s
        );
        anstream::println!(
            "{:>26}  {:>8.1} tokens/s",
            "generation (128 tokens)",
            report.generation_tokens_per_s
        );
    }
    Ok(Outcome::Success)
}
