//! End-to-end tests: the real `aisec` binary on the real lab and on temporary copies of it.

// libtest starts tests in the order of their names. The take-home bundle test builds a fresh
// workspace in a target folder of its own (several minutes), so its module is named to start
// it among the first, beside the others rather than after them.
#[path = "cli/bundle.rs"]
mod bundle;
#[path = "cli/grading.rs"]
mod grading;
#[path = "cli/hostile.rs"]
mod hostile;
#[path = "cli/llm.rs"]
mod llm;
#[path = "cli/poisoning.rs"]
mod poisoning;
#[path = "cli/poisoning_backdoor.rs"]
mod poisoning_backdoor;
#[path = "cli/poisoning_backdoor_detect.rs"]
mod poisoning_backdoor_detect;
#[path = "cli/poisoning_robust_aggregation.rs"]
mod poisoning_robust_aggregation;
#[path = "cli/privacy.rs"]
mod privacy;
#[path = "cli/supply_chain.rs"]
mod supply_chain;
#[path = "cli/support.rs"]
mod support;
#[path = "cli/theft_extraction.rs"]
mod theft_extraction;
#[path = "cli/theft_extraction_detect.rs"]
mod theft_extraction_detect;
#[path = "cli/theft_watermark.rs"]
mod theft_watermark;

use std::path::Path;

use support::{aisec, assert_exit, lab_root, stderr, stdout};

#[test]
fn training_is_bit_reproducible_for_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let train = |preset: &str, seed: &str, name: &str| -> Vec<u8> {
        let path = dir.path().join(name);
        let out = aisec(&[
            "train",
            "--preset",
            preset,
            "--seed",
            seed,
            "--epochs",
            "1",
            "--out",
            path.to_str().unwrap(),
        ]);
        assert_exit(&out, 0);
        std::fs::read(path).unwrap()
    };
    let first = train("standard", "7", "a.safetensors");
    assert_eq!(
        first,
        train("standard", "7", "b.safetensors"),
        "same seed, different weights"
    );
    assert_ne!(
        first,
        train("standard", "8", "c.safetensors"),
        "different seeds, same weights"
    );
    // The adversarial preset also draws attack noise from the seed.
    assert_eq!(
        train("adversarial", "7", "d.safetensors"),
        train("adversarial", "7", "e.safetensors")
    );
    let recipe = std::fs::read_to_string(dir.path().join("d.recipe.toml")).unwrap();
    assert!(
        recipe.contains("seed = 7") && recipe.contains("test_accuracy_pgd40"),
        "{recipe}"
    );
}

#[test]
fn shipped_models_and_data_match_their_manifests() {
    for dir in ["models", "datasets/mnist-10k"] {
        let out = aisec(&["manifest", "verify", lab_root().join(dir).to_str().unwrap()]);
        assert_exit(&out, 0);
    }
}

#[test]
fn standard_model_scores_at_least_97_5_percent_on_test() {
    let out = aisec(&["eval", "--model", "standard", "--json"]);
    assert_exit(&out, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["n"], 999);
    let accuracy = report["accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.975, "standard model test accuracy {accuracy}");
    assert_eq!(report["per_class"].as_array().unwrap().len(), 10);
}

#[test]
fn manifest_verify_names_the_tampered_file_and_tensor() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        lab_root().join("models/standard.safetensors"),
        dir.path().join("standard.safetensors"),
    )
    .unwrap();
    assert_exit(
        &aisec(&["manifest", "create", dir.path().to_str().unwrap()]),
        0,
    );
    let path = dir.path().join("standard.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 3; // inside the last tensor in the file
    bytes[last] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    std::fs::write(dir.path().join("extra.pkl"), b"\x80\x04.").unwrap();
    let out = aisec(&["manifest", "verify", dir.path().to_str().unwrap()]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("changed     standard.safetensors (tensors: "),
        "{text}"
    );
    assert!(text.contains("unexpected  extra.pkl"), "{text}");
}

fn write_idx(path: &Path, dims: &[u32], data: &[u8]) {
    let mut bytes = vec![0, 0, 8, dims.len() as u8];
    dims.iter()
        .for_each(|d| bytes.extend_from_slice(&d.to_be_bytes()));
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn bad_idx_files_are_reported_with_the_file_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_idx(
        &d.join("train-images-idx3-ubyte"),
        &[2, 28, 28],
        &[0; 2 * 784],
    );
    write_idx(&d.join("train-labels-idx1-ubyte"), &[2], &[1, 2]);
    write_idx(&d.join("t10k-images-idx3-ubyte"), &[2, 28, 28], &[0; 784]); // truncated
    write_idx(&d.join("t10k-labels-idx1-ubyte"), &[2], &[1, 2]);
    let out = aisec(&["eval", "--model", "standard", "--data", d.to_str().unwrap()]);
    assert_exit(&out, 2);
    let message = stderr(&out);
    assert!(
        message.contains("t10k-images-idx3-ubyte") && message.contains("truncated"),
        "{message}"
    );

    std::fs::write(
        d.join("t10k-images-idx3-ubyte"),
        b"PK\x03\x04 not an idx file",
    )
    .unwrap();
    let out = aisec(&["eval", "--model", "standard", "--data", d.to_str().unwrap()]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("bad magic number"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_model_files_and_unknown_presets_exit_2_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.safetensors");
    let tensors = [(
        "conv1.weight".to_owned(),
        candle_core::Tensor::zeros(
            (16, 1, 5, 5),
            candle_core::DType::F32,
            &candle_core::Device::Cpu,
        )
        .unwrap(),
    )];
    candle_core::safetensors::save(&tensors.into_iter().collect(), &path).unwrap();
    let out = aisec(&["eval", "--model", path.to_str().unwrap()]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("short.safetensors") && stderr(&out).contains("is missing"),
        "{}",
        stderr(&out)
    );

    let out = aisec(&["train", "--preset", "huge", "--out", "/tmp/x.safetensors"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("huge"), "{}", stderr(&out));

    let out = aisec(&["eval", "--model", "no-such-model"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("no-such-model"), "{}", stderr(&out));
}

#[test]
fn bench_json_reports_the_cnn_and_the_chat_model() {
    let out = aisec(&["bench", "--json", "--repetitions", "1"]);
    assert_exit(&out, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    for key in [
        "train_images_per_s",
        "forward_images_per_s",
        "input_grad_images_per_s",
    ] {
        assert!(
            report["cnn"][key].as_f64().unwrap() > 0.0,
            "{key} in {report}"
        );
    }
    for key in ["prompt_tokens_per_s", "generation_tokens_per_s"] {
        assert!(
            report["llm"][key].as_f64().unwrap() > 0.0,
            "{key} in {report}"
        );
    }
    assert!(report["cnn"]["threads"].as_u64().unwrap() >= 1);

    let only = aisec(&["bench", "--json", "--repetitions", "1", "--only", "llm"]);
    assert_exit(&only, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout(&only)).unwrap();
    assert!(
        report["cnn"].is_null() && report["llm"].is_object(),
        "{report}"
    );
}

#[test]
fn demo_runs_offline_and_shows_digits() {
    let out = aisec(&["demo"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("standard") && text.contains("label "),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "colour codes with NO_COLOR set");
}

#[test]
fn demo_options_come_from_each_exercise_and_bad_ones_say_what_is_accepted() {
    let out = aisec(&[
        "demo",
        "evasion",
        "--set",
        "models=standard",
        "--set",
        "n=20",
        "--set",
        "eps=0,0.2",
        "--seed",
        "3",
        "--json",
    ]);
    assert_exit(&out, 0);
    let value: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rows = &value["exercises"]["fgsm"]["models"]["standard"];
    let eps: Vec<f64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["eps"].as_f64().unwrap())
        .collect();
    assert_eq!(eps, [0.0, 0.2], "{value}");
    assert!(
        rows.as_array().unwrap().iter().all(|r| r["n"] == 20),
        "{value}"
    );
    assert!(value["exercises"]["fgsm"]["models"]["adversarial"].is_null());

    let unknown = aisec(&["demo", "evasion", "--set", "epochs=3"]);
    assert_exit(&unknown, 2);
    assert!(
        stderr(&unknown).contains("--set epochs") && stderr(&unknown).contains("eps, models, n"),
        "{}",
        stderr(&unknown)
    );
    let mistyped = aisec(&["demo", "evasion", "--set", "n=many"]);
    assert_exit(&mistyped, 2);
    assert!(
        stderr(&mistyped).contains("not a whole number"),
        "{}",
        stderr(&mistyped)
    );
    let bad_model = aisec(&["demo", "evasion", "--set", "models=overfit", "--set", "n=5"]);
    assert_ne!(bad_model.status.code(), Some(0));
    assert!(
        stderr(&bad_model).contains("standard and/or adversarial"),
        "{}",
        stderr(&bad_model)
    );
}
