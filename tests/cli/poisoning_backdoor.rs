//! The `backdoor` exercise end to end: a backdoor must be planted within its budget, with a
//! small trigger and clean pixels, and must open because of the poisoned rows.

use crate::support::{check_named, grade_edited_solution, grade_failing, passed};

const SEED: &str = "4";

/// The reference's line that stamps the chosen rows.
const STAMP: &str = "let stamped = trigger.apply(train.select(&chosen)?.images())?;";

#[test]
fn a_backdoor_over_its_budget_fails_and_is_not_trained_on() {
    let report = grade_edited_solution(
        "backdoor",
        SEED,
        &[(
            "let mut rng = rng::rng(seed, \"backdoor\");",
            "let budget = budget + 50;\n    let mut rng = rng::rng(seed, \"backdoor\");",
        )],
    );
    let budget = check_named(&report, "stays within the budget");
    assert_eq!(budget["passed"], false, "{report}");
    let measured = budget["measured"].as_str().unwrap();
    assert!(measured.contains("of 8000 rows changed"), "{measured}");
    // Nothing is trained on a set over its budget: the attack is not measured at all.
    assert!(
        report["exercises"][0]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| !c["name"].as_str().unwrap().starts_with("triggered digits")),
        "{report}"
    );
}

#[test]
fn relabelling_alone_counts_against_the_budget() {
    // The reference, plus 60 rows relabelled without a stamp: each is a changed row.
    let report = grade_edited_solution(
        "backdoor",
        SEED,
        &[(
            "let images = Tensor::from_vec(",
            "for row in 0..60 { if !chosen.contains(&row) { labels[row] = (labels[row] + 1) % 10; } }\n    let images = Tensor::from_vec(",
        )],
    );
    assert!(!passed(&report, "stays within the budget"), "{report}");
}

#[test]
fn pixels_out_of_range_and_a_large_trigger_fail() {
    let bright = grade_edited_solution(
        "backdoor",
        SEED,
        &[(
            "labels[*row] = target;",
            "labels[*row] = target;\n        images[row * PIXELS] = 2.0;",
        )],
    );
    assert!(!passed(&bright, "pixels stay in [0, 1]"), "{bright}");
    assert!(passed(&bright, "the trigger is small"), "{bright}");

    let large = grade_edited_solution(
        "backdoor",
        SEED,
        &[("const SIDE: usize = 4;", "const SIDE: usize = 5;")],
    );
    assert!(!passed(&large, "the trigger is small"), "{large}");
    assert!(passed(&large, "pixels stay in [0, 1]"), "{large}");
}

#[test]
fn a_set_of_another_size_is_refused_with_the_reason() {
    let source = "use aisec_sdk::backdoor::{Backdoor, Trigger};\nuse aisec_sdk::{Dataset, Result};\n\
        pub fn backdoor(train: &Dataset, budget: usize, seed: u64) -> Result<Backdoor> {\n    \
        let _ = (budget, seed);\n    \
        let trigger = Trigger::patch(23, 23, &vec![vec![1.0; 4]; 4])?;\n    \
        Backdoor::new(train.head(train.len() - 1)?, trigger, 3)\n}\n";
    let report = grade_failing("backdoor", source, SEED);
    let budget = check_named(&report, "stays within the budget");
    assert_eq!(budget["passed"], false, "{report}");
    let measured = budget["measured"].as_str().unwrap();
    assert!(
        measured.contains("7999 rows returned for the 8000 given"),
        "{measured}"
    );
}

#[test]
fn a_trigger_without_poisoned_rows_does_not_open_anything() {
    // The reference's trigger and target, with no row stamped: the model trained on the rows
    // has nothing to learn, and the attack fails although every side check passes.
    let report = grade_edited_solution(
        "backdoor",
        SEED,
        &[(
            STAMP,
            "chosen.clear();\n    let stamped = trigger.apply(train.select(&chosen)?.images())?;",
        )],
    );
    assert!(passed(&report, "stays within the budget"), "{report}");
    assert!(!passed(&report, "triggered digits are read as"), "{report}");
    assert!(passed(&report, "clean accuracy is kept"), "{report}");
    assert!(
        passed(&report, "the trigger alone does not fool"),
        "{report}"
    );
}
