//! Grading end to end: isolation, verdicts, integrity, the dependency rule, reproducible reports.

use crate::support::{
    aisec, aisec_in, assert_exit, check_of, copy_of_lab, json_report, stdout, verdict,
    write_student,
};

const FGSM_SIGNATURE: &str = "use aisec_sdk::{Cnn, Result, Tensor};\npub fn fgsm(model: &Cnn, images: &Tensor, labels: &[u32], eps: f32) -> Result<Tensor> {";
const PGD_SIGNATURE: &str = "use aisec_sdk::rng::Rng;\nuse aisec_sdk::{Cnn, Result, Tensor};\npub fn pgd(model: &Cnn, images: &Tensor, labels: &[u32], eps: f32, step: f32, steps: usize, rng: &mut Rng) -> Result<Tensor> {";

/// Asserts that exercise `id` got the verdict `expected` with a message mentioning `part`.
fn assert_verdict(report: &serde_json::Value, id: &str, expected: &str, part: &str) {
    assert_eq!(verdict(report, id), expected, "{report}");
    let exercise = report["exercises"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap();
    let message = exercise["message"].as_str().unwrap_or_default();
    assert!(message.contains(part), "{id}: {message:?} lacks {part:?}");
}

#[test]
fn every_failure_mode_gets_its_own_verdict_and_never_stops_the_others() {
    let lab = copy_of_lab();
    let lab = lab.path();
    let check = |extra: &[&str]| {
        let mut args = vec![
            "check",
            "fgsm",
            "pgd",
            "--seed",
            "3",
            "--format",
            "json",
            "--time-limit",
            "8",
        ];
        args.extend_from_slice(extra);
        aisec_in(lab, &args)
    };

    // A compile error in one exercise, an infinite loop in the other.
    write_student(
        lab,
        "fgsm",
        &format!("{FGSM_SIGNATURE}\n    this is not rust\n}}\n"),
    );
    write_student(
        lab,
        "pgd",
        &format!(
            "{PGD_SIGNATURE}\n    let _ = (model, images, labels, eps, step, steps, rng);\n    loop {{ std::hint::spin_loop(); }}\n}}\n"
        ),
    );
    let out = check(&[]);
    assert_exit(&out, 1);
    let report = json_report(&out);
    assert_verdict(&report, "fgsm", "build-error", "error");
    assert_eq!(verdict(&report, "pgd"), "timed-out");
    // Now that it is built, the loop is stopped at its limit. The text report shows the time
    // of the harness run alone, not of the build or the integrity check, which a busy machine
    // slows down.
    let out = aisec_in(lab, &["check", "pgd", "--seed", "3", "--time-limit", "5"]);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("pgd ("))
        .unwrap_or_else(|| panic!("no pgd line in:\n{text}"));
    assert!(line.contains("timed out"), "{line}");
    let seconds: f64 = line
        .rsplit_once('[')
        .and_then(|(_, t)| t.strip_suffix(" s]"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no run time in {line:?}"));
    assert!(
        (5.0..8.0).contains(&seconds),
        "the looping harness ran {seconds} s with a 5 s limit"
    );

    // A panic, and a runaway allocation (1 GiB of address space at a time: the cap stops it
    // at once, however busy the machine is).
    write_student(
        lab,
        "fgsm",
        &format!(
            "{FGSM_SIGNATURE}\n    let _ = (model, images, labels, eps);\n    panic!(\"boom\")\n}}\n"
        ),
    );
    write_student(
        lab,
        "pgd",
        &format!(
            "{PGD_SIGNATURE}\n    let _ = (model, images, labels, eps, step, steps, rng);\n    let mut hog: Vec<Vec<u8>> = Vec::new();\n    loop {{ hog.push(std::hint::black_box(Vec::with_capacity(1 << 30))); }}\n}}\n"
        ),
    );
    let out = check(&[]);
    let report = json_report(&out);
    assert_verdict(&report, "fgsm", "crashed", "boom");
    assert_verdict(&report, "pgd", "crashed", "memory");

    // An extra dependency is refused, with the reason.
    let manifest = lab.join("exercises/fgsm/Cargo.toml");
    let original = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{original}rand = \"0.9\"\n")).unwrap();
    let out = aisec_in(lab, &["check", "fgsm", "--seed", "3"]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    assert!(
        text.contains("refused") && text.contains("dependency \"rand\" is not allowed"),
        "{text}"
    );
    std::fs::write(&manifest, original).unwrap();
}

#[test]
fn a_tampered_lab_names_the_files_and_nothing_passes() {
    let lab = copy_of_lab();
    let lab = lab.path();
    for id in ["fgsm", "pgd"] {
        let solution =
            std::fs::read_to_string(lab.join("solutions").join(id).join("src/lib.rs")).unwrap();
        write_student(lab, id, &solution);
    }
    // A model, a data file and a harness, each edited.
    let model = lab.join("models/standard.safetensors");
    let mut bytes = std::fs::read(&model).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 1;
    std::fs::write(&model, bytes).unwrap();
    let harness = lab.join("exercises/pgd/harness.rs");
    let text = std::fs::read_to_string(&harness)
        .unwrap()
        .replace("theirs <= reference + margin", "true");
    std::fs::write(&harness, text).unwrap();
    std::fs::write(lab.join("datasets/mnist-10k/extra.idx"), b"x").unwrap();

    let out = aisec_in(lab, &["check", "--all", "--seed", "1", "--format", "json"]);
    assert_exit(&out, 1);
    let report = json_report(&out);
    assert_eq!(report["integrity"]["ok"], false);
    let tampered: Vec<&str> = report["integrity"]["tampered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        tampered,
        [
            "datasets/mnist-10k/extra.idx",
            "exercises/pgd/harness.rs",
            "models/standard.safetensors"
        ]
    );
    for id in ["fgsm", "pgd"] {
        assert_eq!(verdict(&report, id), "tampered");
    }
    assert_eq!(report["summary"]["passed"], 0);
}

#[test]
fn stubs_as_shipped_are_not_started() {
    let out = aisec(&["check", "--all", "--seed", "11", "--format", "json"]);
    assert_exit(&out, 1);
    let report = json_report(&out);
    let exercises = report["exercises"].as_array().unwrap();
    assert!(exercises.len() >= 3, "{report}");
    for exercise in exercises {
        assert_eq!(exercise["verdict"], "not-started", "{exercise}");
    }
    assert_eq!(report["schema"], "aisec-report/2");
    assert_eq!(report["seed"], 11);
    assert_eq!(
        report["exercises"][0]["student_files"]["src/lib.rs"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
}

#[test]
fn the_same_seed_gives_the_same_report_and_junit_has_one_testcase_per_check() {
    let lab = copy_of_lab();
    let lab = lab.path();
    for id in ["fgsm", "pgd"] {
        let solution =
            std::fs::read_to_string(lab.join("solutions").join(id).join("src/lib.rs")).unwrap();
        write_student(lab, id, &solution);
    }
    let first = aisec_in(
        lab,
        &["check", "fgsm", "pgd", "--seed", "5", "--format", "json"],
    );
    assert_exit(&first, 0);
    let second = aisec_in(
        lab,
        &["check", "fgsm", "pgd", "--seed", "5", "--format", "json"],
    );
    assert_eq!(
        stdout(&first),
        stdout(&second),
        "same seed, same files, different JSON"
    );
    let report = json_report(&first);
    let checks: usize = report["exercises"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["checks"].as_array().unwrap().len())
        .sum();
    assert!(checks >= 10, "{report}");
    let other = aisec_in(
        lab,
        &["check", "fgsm", "pgd", "--seed", "6", "--format", "json"],
    );
    assert_ne!(
        stdout(&first),
        stdout(&other),
        "another seed should draw other digits"
    );

    let junit = aisec_in(
        lab,
        &["check", "fgsm", "pgd", "--seed", "5", "--format", "junit"],
    );
    assert_exit(&junit, 0);
    let xml = stdout(&junit);
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut depth, mut cases, mut failures) = (0i32, 0, 0);
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("malformed XML: {e}\n{xml}"))
        {
            quick_xml::events::Event::Start(e) => {
                depth += 1;
                cases += usize::from(e.name().as_ref() == b"testcase");
                failures += usize::from(e.name().as_ref() == b"failure");
            }
            quick_xml::events::Event::Empty(e) => {
                cases += usize::from(e.name().as_ref() == b"testcase")
            }
            quick_xml::events::Event::End(_) => depth -= 1,
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unbalanced XML");
    assert_eq!(
        (cases, failures),
        (checks, 0),
        "one test case per check:\n{xml}"
    );
}

#[test]
fn dev_check_passes_stubs_not_started_solutions_passing() {
    let out = aisec(&["dev", "check"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("dev check passed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn json_reports_conform_to_the_documented_schema() {
    let text = std::fs::read_to_string(crate::support::lab_root().join("docs/report-schema.json"))
        .unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    // Every verdict the stubs and a tampered lab give, and a passing, fully checked report.
    let lab = copy_of_lab();
    let lab = lab.path();
    let solution = std::fs::read_to_string(lab.join("solutions/fgsm/src/lib.rs")).unwrap();
    write_student(lab, "fgsm", &solution);
    let graded = json_report(&aisec_in(
        lab,
        &["check", "fgsm", "pgd", "--seed", "2", "--format", "json"],
    ));
    assert_eq!(verdict(&graded, "fgsm"), "passed");
    std::fs::write(lab.join("models/README.md"), "edited").unwrap();
    let tampered = json_report(&aisec_in(
        lab,
        &["check", "fgsm", "--seed", "2", "--format", "json"],
    ));
    for report in [&graded, &tampered] {
        let errors: Vec<String> = validator
            .iter_errors(report)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:?}\n{report}");
    }
    // And the schema is not vacuous: a report missing its seed is rejected.
    let mut broken = graded.clone();
    broken.as_object_mut().unwrap().remove("seed");
    assert!(!validator.is_valid(&broken));
}

/// Regression: identity FGSM and PGD, a detector that flags nothing, random membership scores
/// and a verifier that calls every file OK collected 48 of 110 points from side checks such as
/// "stays in the eps-ball". Points now hang on each exercise's core checks.
#[test]
fn submissions_that_do_nothing_useful_score_zero() {
    let lab = copy_of_lab();
    let lab = lab.path();
    write_student(
        lab,
        "fgsm",
        &format!(
            "{FGSM_SIGNATURE}\n    let _ = (model, labels, eps);\n    Ok(images.clone())\n}}\n"
        ),
    );
    write_student(
        lab,
        "pgd",
        &format!(
            "{PGD_SIGNATURE}\n    let _ = (model, labels, eps, step, steps, rng);\n    Ok(images.clone())\n}}\n"
        ),
    );
    write_student(
        lab,
        "poison-ac",
        "use aisec_sdk::{Cnn, Dataset, Result};\npub fn detect(model: &Cnn, train: &Dataset, seed: u64) -> Result<Vec<usize>> {\n    let _ = (model, train, seed);\n    Ok(Vec::new())\n}\n",
    );
    write_student(
        lab,
        "membership-inference",
        "use aisec_sdk::{Cnn, Result, Tensor};\npub fn membership_scores(model: &Cnn, images: &Tensor, labels: &[u32]) -> Result<Vec<f64>> {\n    let _ = (model, images);\n    let mut rng = aisec_sdk::rng::rng(labels.len() as u64, \"random\");\n    Ok(aisec_sdk::rng::uniform(labels.len(), 0.0, 1.0, &mut rng).into_iter().map(f64::from).collect())\n}\npub fn choose_threshold(scores: &[f64], max_fpr: f64) -> f64 {\n    let _ = (scores, max_fpr);\n    0.95\n}\npub fn defend(probabilities: &Tensor) -> Result<Tensor> {\n    Ok(probabilities.clone())\n}\n",
    );
    write_student(
        lab,
        "safetensors-verify",
        "use std::path::Path;\nuse aisec_sdk::Result;\nuse aisec_sdk::supply_chain::{FileVerdict, ManifestEntry, Verdict};\npub fn verify(dir: &Path, manifest: &[ManifestEntry]) -> Result<Vec<FileVerdict>> {\n    let _ = dir;\n    Ok(manifest.iter().map(|e| FileVerdict { path: e.path.clone(), verdict: Verdict::Ok }).collect())\n}\n",
    );
    // The LLM track: rails that refuse every message, an attack that sends nothing, a
    // defence that passes retrieved text through.
    write_student(
        lab,
        "prompt-guard",
        "use aisec_sdk::Result;\nuse aisec_sdk::llm::{Deployment, Message, Verdict};\npub fn screen_input(_: &Deployment, _: &[Message]) -> Result<Verdict> {\n    Ok(Verdict::Block)\n}\npub fn screen_output(_: &Deployment, _: &[Message], _: &str) -> Result<Verdict> {\n    Ok(Verdict::Block)\n}\n",
    );
    write_student(
        lab,
        "prompt-attack",
        "use aisec_sdk::Result;\nuse aisec_sdk::llm::{GuardLevel, Login, Message};\npub fn next_message(_: GuardLevel, _: &[Vec<Message>], _: &[Message]) -> Result<Option<String>> {\n    Ok(None)\n}\npub fn recover_login(_: GuardLevel, _: &[Vec<Message>]) -> Result<Login> {\n    Ok(Login { user: String::new(), pin: String::new() })\n}\n",
    );
    write_student(
        lab,
        "rag-injection",
        "use aisec_sdk::Result;\npub fn defend(_: &str, chunks: &[String]) -> Result<Vec<String>> {\n    Ok(chunks.to_vec())\n}\n",
    );
    // The poisoning track's backdoor: a trigger, but no row stamped with it.
    write_student(
        lab,
        "backdoor",
        "use aisec_sdk::backdoor::{Backdoor, Trigger};\nuse aisec_sdk::{Dataset, Result};\npub fn backdoor(train: &Dataset, _: usize, _: u64) -> Result<Backdoor> {\n    Backdoor::new(train.clone(), Trigger::patch(23, 23, &vec![vec![1.0; 4]; 4])?, 0)\n}\n",
    );
    // A backdoor detector that flags nothing: no false alarm, and no poison found.
    write_student(
        lab,
        "backdoor-detect",
        "use aisec_sdk::{Cnn, Dataset, Result};\npub fn detect(model: &Cnn, train: &Dataset, seed: u64) -> Result<Vec<usize>> {\n    let _ = (model, train, seed);\n    Ok(Vec::new())\n}\n",
    );
    // A federated server that never moves: well formed, and useless with or without attack.
    write_student(
        lab,
        "robust-aggregation",
        "use aisec_sdk::{DType, Device, Result, Tensor};\npub fn aggregate(updates: &Tensor, byzantine: usize) -> Result<Tensor> {\n    let _ = byzantine;\n    Ok(Tensor::zeros(updates.dim(1)?, DType::F32, &Device::Cpu)?)\n}\n",
    );
    // The model-theft track: an extraction that asks nothing, a detector that flags no one,
    // and a watermark never trained in, with a verifier that claims nothing.
    write_student(
        lab,
        "extraction",
        "use aisec_sdk::rng::Rng;\nuse aisec_sdk::theft::Answers;\nuse aisec_sdk::{Cnn, Result, Tensor};\npub fn next_queries(_: Answers, _: usize, _: &Tensor, _: &Tensor, _: &Tensor, _: &mut Rng) -> Result<Option<Tensor>> {\n    Ok(None)\n}\npub fn train_copy(_: Answers, _: &Tensor, _: &Tensor, _: &mut Rng) -> Result<Cnn> {\n    Cnn::init(1)\n}\n",
    );
    write_student(
        lab,
        "extraction-detect",
        "use aisec_sdk::theft::ClientLog;\nuse aisec_sdk::{Cnn, Dataset, Result};\npub fn is_extracting(_: &ClientLog, _: &Cnn, _: &Dataset) -> Result<bool> {\n    Ok(false)\n}\n",
    );
    write_student(
        lab,
        "watermark",
        "use aisec_sdk::rng::Rng;\nuse aisec_sdk::{Cnn, Dataset, Result, Tensor};\npub fn trigger_set(_: &mut Rng) -> Result<Dataset> {\n    let images = Tensor::zeros((20, 1, 28, 28), aisec_sdk::DType::F32, &aisec_sdk::Device::Cpu)?;\n    Dataset::new(images, (0..20).map(|i| i % 10).collect())\n}\npub fn train_watermarked(_: &Dataset, _: &Dataset, seed: u64) -> Result<Cnn> {\n    Cnn::init(seed)\n}\npub fn claims_ownership(_: &Cnn, _: &Dataset, _: f64) -> Result<bool> {\n    Ok(false)\n}\n",
    );
    let out = aisec_in(lab, &["check", "--all", "--seed", "4", "--format", "json"]);
    assert_exit(&out, 1);
    let report = json_report(&out);
    for exercise in report["exercises"].as_array().unwrap() {
        assert_eq!(exercise["verdict"], "failed", "{exercise}");
        let side_passed = exercise["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["passed"] == true);
        assert!(
            side_passed,
            "no side check passed, so the test shows nothing: {exercise}"
        );
        assert_eq!(exercise["score"], 0, "{exercise}");
    }
    // Passing retrieved text through unchanged: the injected documents do what they say.
    let injections = check_of(&report, "rag-injection", "injected documents");
    assert_eq!(injections["passed"], false, "{injections}");
    assert_eq!(report["summary"]["score"], 0);
}

#[test]
fn dev_new_writes_an_exercise_that_dev_check_grades_at_once() {
    let lab = copy_of_lab();
    let new = aisec_in(lab.path(), &["dev", "new", "demo-x", "--track", "evasion"]);
    assert_exit(&new, 0);
    let exercise = lab.path().join("exercises/demo-x");
    for file in [
        "exercise.toml",
        "README.md",
        "api.rs",
        "harness.rs",
        "src/lib.rs",
        "stub/lib.rs",
    ] {
        assert!(exercise.join(file).is_file(), "{file} not written");
    }
    // As written: the stub is not started and the solution, still a todo!(), does not pass.
    let first = aisec_in(lab.path(), &["dev", "check", "demo-x"]);
    assert_exit(&first, 1);
    let text = stdout(&first);
    assert!(
        text.contains("demo-x") && text.contains("not started"),
        "{text}"
    );
    assert!(
        text.contains("the reference solution is not started"),
        "{text}"
    );
    // With a solution written, the new exercise passes its own check.
    std::fs::write(
        lab.path().join("solutions/demo-x/src/lib.rs"),
        "use aisec_sdk::{Cnn, Result, Tensor};\n\
         pub fn attack(model: &Cnn, images: &Tensor, labels: &[u32], eps: f32) -> Result<Tensor> {\n    \
             let gradient = model.input_gradient(images, labels)?;\n    \
             Ok((images + (gradient.sign()? * f64::from(eps))?)?.clamp(0f32, 1f32)?)\n}\n",
    )
    .unwrap();
    assert_exit(&aisec_in(lab.path(), &["dev", "manifest"]), 0);
    let second = aisec_in(lab.path(), &["dev", "check", "demo-x"]);
    assert_exit(&second, 0);
    assert!(
        stdout(&second).contains("dev check passed"),
        "{}",
        stdout(&second)
    );
}
