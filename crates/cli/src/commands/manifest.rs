//! `aisec manifest create|verify`.

use aisec_lab::manifest::Manifest;

use crate::Outcome;
use crate::cli::ManifestAction;
use crate::style;

pub fn run(action: &ManifestAction) -> anyhow::Result<Outcome> {
    match action {
        ManifestAction::Create { dir } => {
            let manifest = Manifest::create(dir)?;
            let path = manifest.write(dir)?;
            anstream::println!(
                "wrote {} ({} files, root {})",
                path.display(),
                manifest.files.len(),
                &manifest.root_sha256[..16]
            );
            Ok(Outcome::Success)
        }
        ManifestAction::Verify { dir, json } => {
            let manifest = Manifest::read(dir)?;
            let result = manifest.verify(dir)?;
            if *json {
                let report = serde_json::json!({
                    "dir": dir, "ok": result.is_ok(), "root_sha256": manifest.root_sha256,
                    "missing": result.missing, "unexpected": result.unexpected,
                    "changed": result.changed.iter().map(|(p, t)| serde_json::json!({"path": p, "tensors": t})).collect::<Vec<_>>(),
                });
                anstream::println!("{}", serde_json::to_string_pretty(&report)?);
            } else if result.is_ok() {
                anstream::println!(
                    "{} {} matches its manifest ({} files)",
                    style::paint("ok", style::GOOD),
                    dir.display(),
                    manifest.files.len()
                );
            } else {
                anstream::println!(
                    "{} {} differs from its manifest:",
                    style::paint("FAILED", style::BAD),
                    dir.display()
                );
                result
                    .missing
                    .iter()
                    .for_each(|p| anstream::println!("  missing     {p}"));
                result
                    .unexpected
                    .iter()
                    .for_each(|p| anstream::println!("  unexpected  {p}"));
                for (path, tensors) in &result.changed {
                    let detail = if tensors.is_empty() {
                        String::new()
                    } else {
                        format!(" (tensors: {})", tensors.join(", "))
                    };
                    anstream::println!("  changed     {path}{detail}");
                }
            }
            Ok(if result.is_ok() {
                Outcome::Success
            } else {
                Outcome::Failed
            })
        }
    }
}
