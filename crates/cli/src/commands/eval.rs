//! `aisec eval`: accuracy overall and per class.

use aisec_lab::LabRoot;
use aisec_sdk::{Split, metrics};

use crate::Outcome;
use crate::cli::{EvalArgs, SplitArg};

pub fn run(lab: &LabRoot, args: &EvalArgs) -> anyhow::Result<Outcome> {
    let split = match args.split {
        SplitArg::Train => Split::Train,
        SplitArg::Test => Split::Test,
        SplitArg::Population => Split::Population,
    };
    let model = super::load_model(lab, &args.model)?;
    let (data, _) = super::load_data(lab, args.data.data.as_deref())?;
    let rows = data.split(split);
    let predicted = model.predict(rows.images())?;
    let accuracy = metrics::accuracy(&predicted, rows.labels());
    let per_class = metrics::per_class_accuracy(&predicted, rows.labels());
    if args.json {
        let report = serde_json::json!({
            "model": super::model_path(lab, &args.model),
            "split": split.name(),
            "n": rows.len(),
            "accuracy": accuracy,
            "per_class": per_class,
            "confusion": metrics::confusion_matrix(&predicted, rows.labels()),
        });
        anstream::println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        anstream::println!(
            "{} on {} ({} images): accuracy {:.4}",
            args.model,
            split.name(),
            rows.len(),
            accuracy
        );
        anstream::println!("class  accuracy  images");
        let counts = rows.class_counts();
        for (class, acc) in per_class.iter().enumerate() {
            let acc = acc.map_or_else(|| "-".to_owned(), |a| format!("{a:.4}"));
            anstream::println!("{class:>5}  {acc:>8}  {:>6}", counts[class]);
        }
    }
    Ok(Outcome::Success)
}
