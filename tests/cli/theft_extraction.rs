//! The model-theft track end to end: `extraction`. The API the checker plays refuses a batch
//! over the budget (and the extraction fails for it), a copy that was never taught anything
//! fails the fidelity checks, and the victim's weights are out of the candidate's reach.

use crate::support::{
    aisec_in, assert_exit, check_named, copy_of_lab, grade_edited_solution, grade_failing,
    json_report, verdict, write_student,
};

/// The three graded extractions, as their check names begin.
const SETTINGS: [&str; 3] = [
    "probabilities, 1000",
    "probabilities, 4000",
    "labels only, 4000",
];

/// A submission that asks the API nothing and returns the copy `train_copy_body` makes (its
/// `items` go before the functions).
fn asking_nothing(items: &str, train_copy_body: &str) -> String {
    format!(
        "use aisec_sdk::rng::Rng;\n\
         use aisec_sdk::theft::Answers;\n\
         use aisec_sdk::{{Cnn, Device, Result, Tensor}};\n\
         {items}\n\
         pub fn next_queries(_: Answers, _: usize, _: &Tensor, _: &Tensor, _: &Tensor, _: &mut Rng) -> Result<Option<Tensor>> {{ Ok(None) }}\n\
         pub fn train_copy(_: Answers, _: &Tensor, _: &Tensor, _: &mut Rng) -> Result<Cnn> {{\n    \
         let _ = Device::Cpu; // used by some bodies, not all\n    \
         {train_copy_body}\n}}\n"
    )
}

#[test]
fn an_extractor_that_asks_past_its_budget_is_refused_and_fails() {
    // The reference asks for 500 more queries than it has left, in every round.
    let report = grade_edited_solution(
        "extraction",
        "3",
        &[(
            "    let n_population = population.dim(0)?;\n",
            "    let n_population = population.dim(0)?;\n    let remaining = remaining + 500;\n",
        )],
    );
    let budget = check_named(&report, "every batch of queries is answered");
    assert_eq!(budget["passed"], false, "{budget}");
    let measured = budget["measured"].as_str().unwrap();
    assert!(
        measured.contains(
            "probabilities, 1000 queries: a batch of 1001 queries was refused with 1000 left"
        ),
        "{measured}"
    );
    // The small budget's extraction stopped at the refused batch: the copy learnt nothing.
    let small = check_named(&report, "probabilities, 1000 queries: the copy agrees");
    assert_eq!(small["passed"], false, "{small}");
    assert!(
        small["measured"]
            .as_str()
            .unwrap()
            .contains("(0 queries answered)"),
        "{small}"
    );
}

#[test]
fn a_copy_that_asks_nothing_fails_every_fidelity_check() {
    let report = grade_failing("extraction", &asking_nothing("", "Cnn::init(5)"), "4");
    assert_eq!(
        check_named(&report, "every batch of queries")["passed"],
        true
    );
    for setting in SETTINGS {
        let agrees = check_named(&report, &format!("{setting} queries: the copy agrees"));
        assert_eq!(agrees["passed"], false, "{agrees}");
    }
}

#[test]
fn the_victims_weights_cannot_be_read_from_the_candidates_code() {
    // The shortcut past the API: load the victim's file from the lab and return it as the copy.
    let lab = copy_of_lab();
    let victim = lab.path().join("models/standard.safetensors");
    write_student(
        lab.path(),
        "extraction",
        &asking_nothing("", &format!("Cnn::load(std::path::Path::new({victim:?}))")),
    );
    let out = aisec_in(
        lab.path(),
        &["check", "extraction", "--seed", "5", "--format", "json"],
    );
    assert_exit(&out, 1);
    let report = json_report(&out);
    assert_eq!(verdict(&report, "extraction"), "failed", "{report}");
    let runs = check_named(&report, "your extraction runs");
    assert_eq!(runs["passed"], false, "{runs}");
    assert!(
        runs["measured"]
            .as_str()
            .unwrap()
            .contains("Permission denied"),
        "{runs}"
    );
}

#[test]
fn the_victims_file_pasted_into_the_source_agrees_only_by_chance() {
    // The victim's weights as a byte literal, returned as the copy without a query: the API
    // answers in class codes drawn per seed, so a model that answers digits has not stolen it.
    let bytes =
        std::fs::read(crate::support::lab_root().join("models/standard.safetensors")).unwrap();
    let literal: Vec<String> = bytes.iter().map(u8::to_string).collect();
    let source = asking_nothing(
        &format!("const VICTIM: &[u8] = &[{}];", literal.join(",")),
        "let tensors = aisec_sdk::candle::safetensors::load_buffer(VICTIM, &Device::Cpu)?;\n    \
         Cnn::from_tensors(tensors, std::path::Path::new(\"pasted\"))",
    );
    let report = grade_failing("extraction", &source, "6");
    for setting in SETTINGS {
        let agrees = check_named(&report, &format!("{setting} queries: the copy agrees"));
        assert_eq!(agrees["passed"], false, "{agrees}");
        let measured = agrees["measured"].as_str().unwrap();
        let agreement: f64 = measured
            .trim_start_matches("agreement ")
            .split('%')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(agreement < 50.0, "{measured}");
    }
}

#[test]
fn queries_outside_the_pixel_range_are_refused() {
    // Every first-round query pushed above 1 (and one pixel made NaN): the API refuses the
    // batch instead of answering it.
    let report = grade_edited_solution(
        "extraction",
        "8",
        &[(
            "    if asked.dim(0)? == 0 {\n",
            "    if asked.dim(0)? == 0 {\n        \
             let mut pixels = population.narrow(0, 0, 10)?.flatten_all()?.to_vec1::<f32>()?;\n        \
             pixels.iter_mut().for_each(|p| *p += 1.5);\n        \
             pixels[0] = f32::NAN;\n        \
             return Ok(Some(Tensor::from_vec(pixels, (10, 1, 28, 28), &Device::Cpu)?));\n",
        )],
    );
    let answered = check_named(&report, "every batch of queries is answered");
    assert_eq!(answered["passed"], false, "{answered}");
    assert!(
        answered["measured"]
            .as_str()
            .unwrap()
            .contains("7840 pixel values are not numbers in [0, 1]"),
        "{answered}"
    );
}
