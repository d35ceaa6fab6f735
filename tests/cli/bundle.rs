//! Take-home bundles end to end: issue, build and grade offline, return, grade in the issuer's
//! lab — where nothing but the student files counts.

use std::path::Path;
use std::process::Command;

use crate::support::{aisec, assert_exit, json_report, lab_root, stderr, stdout, verdict};

fn sha256(path: &Path) -> String {
    aisec_lab::manifest::sha256_file(path).unwrap().1
}

#[test]
fn a_bundle_is_built_and_graded_offline_and_only_student_files_count() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("take-home");
    let out = aisec(&[
        "assign",
        "--exercises",
        "fgsm,pgd",
        "--out",
        bundle.to_str().unwrap(),
        "--title",
        "Evasion",
    ]);
    assert_exit(&out, 0);

    // No reference solution travels, under any name.
    let shipped = aisec_sdk::supply_chain::list_files(&bundle).unwrap();
    assert!(
        shipped.iter().all(|f| !f.starts_with("solutions")),
        "{shipped:?}"
    );
    let digests: Vec<String> = shipped.iter().map(|f| sha256(&bundle.join(f))).collect();
    let solutions = aisec_sdk::supply_chain::list_files(&lab_root().join("solutions")).unwrap();
    for f in solutions.iter().filter(|f| f.ends_with(".rs")) {
        let digest = sha256(&lab_root().join("solutions").join(f));
        assert!(!digests.contains(&digest), "solutions/{f} is in the bundle");
    }

    // The chat model travels only with an exercise that needs it; the bundle's models
    // manifest then does not list it, and still verifies.
    assert!(
        !bundle
            .join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
            .exists()
    );
    let models_manifest = std::fs::read_to_string(bundle.join("models/MANIFEST")).unwrap();
    assert!(!models_manifest.contains(".gguf"), "{models_manifest}");
    assert!(models_manifest.contains("standard.safetensors"));
    let verify = aisec(&[
        "manifest",
        "verify",
        bundle.join("models").to_str().unwrap(),
    ]);
    assert_exit(&verify, 0);

    // The candidate builds it offline and checks: every exercise not started.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = Command::new(&cargo)
        .args(["build", "--release", "--offline", "--quiet"])
        .current_dir(&bundle)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let check = Command::new(bundle.join("target/release/aisec"))
        .args(["check", "--all", "--seed", "1", "--format", "json"])
        .current_dir(&bundle)
        .env_remove("CARGO_TARGET_DIR")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_exit(&check, 1);
    let report = json_report(&check);
    assert_eq!(report["integrity"]["ok"], true, "{report}");
    for id in ["fgsm", "pgd"] {
        assert_eq!(verdict(&report, id), "not-started");
    }

    // The candidate solves fgsm; the interviewer grades the returned folder.
    let student = bundle.join("exercises/fgsm/src/lib.rs");
    std::fs::copy(lab_root().join("solutions/fgsm/src/lib.rs"), &student).unwrap();
    let grade = |seed: &str| {
        let out = aisec(&[
            "grade",
            bundle.to_str().unwrap(),
            "--seed",
            seed,
            "--format",
            "json",
        ]);
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        json_report(&out)
    };
    let report = grade("5");
    assert_eq!(verdict(&report, "fgsm"), "passed", "{report}");
    assert_eq!(verdict(&report, "pgd"), "not-started");
    assert_eq!(report["bundle_changes"], serde_json::json!([]), "{report}");

    // A wrong answer, with the bundle's bar lowered and a model edited to hide it: graded with
    // the issuer's own files, it fails, and the changed files are named.
    std::fs::write(
        &student,
        "use aisec_sdk::{Cnn, Result, Tensor};\npub fn fgsm(model: &Cnn, images: &Tensor, labels: &[u32], eps: f32) -> Result<Tensor> {\n    let _ = (model, labels, eps);\n    Ok(images.clone())\n}\n",
    )
    .unwrap();
    let manifest = bundle.join("exercises/fgsm/exercise.toml");
    let loosened = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("min_exact_fraction = 0.999", "min_exact_fraction = 0.0")
        .replace(
            "min_prediction_agreement = 0.99",
            "min_prediction_agreement = 0.0",
        );
    std::fs::write(&manifest, loosened).unwrap();
    let model = bundle.join("models/standard.safetensors");
    let mut bytes = std::fs::read(&model).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&model, bytes).unwrap();
    let report = grade("5");
    assert_eq!(verdict(&report, "fgsm"), "failed", "{report}");
    assert_eq!(
        report["integrity"]["ok"], true,
        "the issuer's lab itself is intact: {report}"
    );
    assert_eq!(
        report["bundle_changes"],
        serde_json::json!([
            "exercises/fgsm/exercise.toml",
            "models/standard.safetensors"
        ]),
        "{report}"
    );
    let text = stdout(&aisec(&[
        "grade",
        bundle.to_str().unwrap(),
        "--seed",
        "5",
        "--format",
        "md",
    ]));
    assert!(
        text.contains("exercises/fgsm/exercise.toml") && text.contains("Talking points"),
        "{text}"
    );
}

#[test]
fn a_bundle_with_an_llm_exercise_carries_the_chat_model() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("take-home");
    let out = aisec(&[
        "assign",
        "--exercises",
        "prompt-guard",
        "--out",
        bundle.to_str().unwrap(),
        "--title",
        "LLM guard",
    ]);
    assert_exit(&out, 0);
    let model = bundle.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert_eq!(
        sha256(&model),
        sha256(&lab_root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    );
    let models_manifest = std::fs::read_to_string(bundle.join("models/MANIFEST")).unwrap();
    assert!(
        models_manifest.contains("SmolLM2-135M-Instruct.Q4_1.gguf"),
        "{models_manifest}"
    );
    let verify = aisec(&[
        "manifest",
        "verify",
        bundle.join("models").to_str().unwrap(),
    ]);
    assert_exit(&verify, 0);
}
