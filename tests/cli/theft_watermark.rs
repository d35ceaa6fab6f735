//! The model-theft track end to end: `watermark`.

use crate::support::{check_named, grade_edited_solution};

const VERIFIER: &str =
    "pub fn claims_ownership(suspect: &Cnn, triggers: &Dataset, alpha: f64) -> Result<bool> {";

/// The reference verifier, answering `answer` before it looks at anything.
fn verifier_answering(answer: bool) -> String {
    format!("{VERIFIER}\n    if true {{\n        return Ok({answer});\n    }}")
}

#[test]
fn a_verifier_that_claims_every_suspect_fails() {
    let report = grade_edited_solution("watermark", "3", &[(VERIFIER, &verifier_answering(true))]);
    let never = check_named(&report, "never claims an independent model");
    assert_eq!(never["passed"], false, "{never}");
    assert_eq!(never["core"], true, "{never}");
    let measured = never["measured"].as_str().unwrap();
    assert!(
        measured.starts_with("7 of 7 claimed") && measured.contains("another owner's"),
        "{measured}"
    );
    for copies in ["claims the fine-tuned copies", "claims the pruned copies"] {
        let check = check_named(&report, copies);
        assert_eq!(check["passed"], true, "{check}");
    }
    assert_eq!(report["exercises"][0]["score"], 0, "{report}");
}

#[test]
fn a_verifier_that_claims_nothing_fails() {
    let report = grade_edited_solution("watermark", "3", &[(VERIFIER, &verifier_answering(false))]);
    for copies in [
        "claims the watermarked model itself",
        "claims the fine-tuned copies",
        "claims the pruned copies",
    ] {
        let check = check_named(&report, copies);
        assert_eq!(check["passed"], false, "{check}");
    }
    let never = check_named(&report, "never claims an independent model");
    assert_eq!(never["passed"], true, "{never}");
}

#[test]
fn training_without_the_triggers_fails_the_embedding_check() {
    // Plain training: the trigger set is made but never trained in.
    let report = grade_edited_solution(
        "watermark",
        "3",
        &[(
            "let copies = vec![triggers; REPEATS];",
            "let copies: Vec<&Dataset> = Vec::new();",
        )],
    );
    let embedded = check_named(&report, "the watermark is embedded");
    assert_eq!(embedded["passed"], false, "{embedded}");
    let measured = embedded["measured"].as_str().unwrap();
    let share: f64 = measured
        .trim_start_matches("your model gives ")
        .split('%')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        share < 30.0,
        "an unwatermarked model agreed on {share}%: {measured}"
    );
    // The reference verifier stays sound: without a watermark it claims nothing.
    let never = check_named(&report, "never claims an independent model");
    assert_eq!(never["passed"], true, "{never}");
    let copies = check_named(&report, "claims the fine-tuned copies");
    assert_eq!(copies["passed"], false, "{copies}");
}

#[test]
fn a_key_that_ignores_its_generator_is_found_in_another_owners_model() {
    // Every owner who runs this code gets the same trigger set, labels included: the other
    // owner's model carries "your" watermark, and claiming it is a false claim.
    let report = grade_edited_solution(
        "watermark",
        "3",
        &[(
            "pub fn trigger_set(rng: &mut Rng) -> Result<Dataset> {",
            "pub fn trigger_set(rng: &mut Rng) -> Result<Dataset> {\n    \
             let _ = rng;\n    \
             let rng = &mut aisec_sdk::rng::rng(7, \"the same key for everyone\");",
        )],
    );
    let never = check_named(&report, "never claims an independent model");
    assert_eq!(never["passed"], false, "{never}");
    let measured = never["measured"].as_str().unwrap();
    assert!(
        measured.starts_with("1 of 7 claimed: another owner's"),
        "{measured}"
    );
}

#[test]
fn real_digits_with_their_true_labels_are_no_watermark() {
    // A "key" every good model answers already: 100 test digits with their true labels,
    // pasted into the source. The owner's model agrees on nearly all of them, and so does the
    // model trained without them: nothing was embedded.
    let data = aisec_sdk::Mnist::bundled().unwrap();
    let digits = data.test.head(100).unwrap();
    let pixels: Vec<String> = digits
        .images()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|v| ((v * 255.0).round() as u8).to_string())
        .collect();
    let labels: Vec<String> = digits.labels().iter().map(u32::to_string).collect();
    let key = format!(
        "pub fn trigger_set(rng: &mut Rng) -> Result<Dataset> {{\n    \
         let _ = &rng;\n    \
         const PIXELS: &[u8] = &[{}];\n    \
         return Dataset::from_bytes(PIXELS, vec![{}]);\n    \
         #[allow(unreachable_code)]",
        pixels.join(","),
        labels.join(",")
    );
    let report = grade_edited_solution(
        "watermark",
        "6",
        &[(
            "pub fn trigger_set(rng: &mut Rng) -> Result<Dataset> {",
            key.as_str(),
        )],
    );
    let embedded = check_named(&report, "the watermark is embedded");
    assert_eq!(embedded["passed"], false, "{embedded}");
    let measured = embedded["measured"].as_str().unwrap();
    assert!(
        measured.contains("a model trained without them"),
        "{measured}"
    );
}
