//! The privacy track end to end: an attack that guesses at random fails the check.

use crate::support::{check_named, grade_edited_solution};

#[test]
fn a_random_score_attack_fails_with_auc_near_one_half() {
    // The reference solution with its scores replaced by seeded noise.
    let report = grade_edited_solution(
        "membership-inference",
        "2",
        &[(
            "pub fn membership_scores(model: &Cnn, images: &Tensor, labels: &[u32]) -> Result<Vec<f64>> {",
            "pub fn membership_scores(model: &Cnn, images: &Tensor, labels: &[u32]) -> Result<Vec<f64>> {\n    \
             let _ = (model, images);\n    \
             let noise = aisec_sdk::rng::uniform(labels.len(), 0.0, 1.0, &mut aisec_sdk::rng::rng(9, \"noise\"));\n    \
             return Ok(noise.into_iter().map(f64::from).collect());\n    #[allow(unreachable_code)]",
        )],
    );
    let separate = check_named(&report, "the scores separate");
    assert_eq!(separate["passed"], false, "{separate}");
    let measured = separate["measured"].as_str().unwrap();
    let auc: f64 = measured
        .trim_start_matches("AUC ")
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (0.35..0.65).contains(&auc),
        "random scores gave AUC {auc}: {measured}"
    );
}
