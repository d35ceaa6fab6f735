//! The `robust-aggregation` exercise end to end: the check tells a robust rule from the plain
//! mean and from a rule that ignores its input, and refuses replies that are not aggregates
//! with a reason instead of crashing.

use crate::support::{check_named, grade_failing, passed};

/// Grades `robust-aggregation` at seed 4 (f = 3 of 20) with `body` as the rule's body (it sees
/// `updates` and `byzantine`); returns the JSON report.
fn grade(body: &str) -> serde_json::Value {
    grade_at(body, "4")
}

fn grade_at(body: &str, seed: &str) -> serde_json::Value {
    let source = format!(
        "use aisec_sdk::{{DType, Device, Result, Tensor}};\n\
         pub fn aggregate(updates: &Tensor, byzantine: usize) -> Result<Tensor> {{\n    \
         let _ = (byzantine, DType::F32, Device::Cpu);\n{body}\n}}\n"
    );
    grade_failing("robust-aggregation", &source, seed)
}

const ATTACKS: [&str; 3] = ["sign-flip", "scaled", "gaussian"];

#[test]
fn fedavg_passes_without_attack_and_fails_under_attack() {
    // The plain mean of the rows: FedAvg, the rule the exercise asks to beat.
    let report = grade("    Ok(updates.mean(0)?)");
    assert!(
        passed(&report, "every aggregate is well formed"),
        "{report}"
    );
    assert!(passed(&report, "accuracy with no attack"), "{report}");
    for attack in ATTACKS {
        assert!(
            !passed(&report, &format!("accuracy under {attack}")),
            "{report}"
        );
    }
}

#[test]
fn a_rule_that_ignores_the_updates_fails_without_attack() {
    // Zeros are a valid aggregate (0 is always in range) that never moves the model.
    let report = grade("    Ok(Tensor::zeros(updates.dim(1)?, DType::F32, &Device::Cpu)?)");
    assert!(
        passed(&report, "every aggregate is well formed"),
        "{report}"
    );
    assert!(!passed(&report, "accuracy with no attack"), "{report}");
}

#[test]
fn replies_that_are_not_aggregates_fail_with_a_reason() {
    let refused = |body: &str, reason: &str| {
        let report = grade(body);
        let check = check_named(&report, "every aggregate is well formed");
        assert_eq!(check["passed"], false, "{report}");
        let measured = check["measured"].as_str().unwrap();
        assert!(measured.contains(reason), "{reason:?} not in {measured:?}");
    };
    // The whole matrix back: (n, d), not (d,).
    refused("    Ok(updates.clone())", "shape");
    // One NaN among finite values.
    refused(
        "    let mut values = updates.mean(0)?.to_vec1::<f32>()?;\n    \
         values[7] = f32::NAN;\n    \
         Ok(Tensor::from_vec(values, updates.dim(1)?, &Device::Cpu)?)",
        "finite",
    );
    // A step of the rule's own choosing: far outside what any client sent.
    refused("    Ok((updates.mean(0)? * 1000.0)?)", "outside");
}

#[test]
fn the_coordinate_wise_median_survives_loud_attacks_but_not_one_sided_ones() {
    // Seed 2 draws f = 6 of 20. Sign-flip rows all lie on one side of every coordinate, so the
    // median lands f places into the honest values' order; on non-IID shards the honest values
    // of a coordinate spread wider than their mean, and that shift undoes most of each step
    // (61% against the bar's 86%, calibrated). "A little is enough" rows sit near the centre,
    // on one side, and pull the median 2 points below FedAvg, which they barely move.
    let median = "    let rows = updates.to_vec2::<f32>()?;\n    \
                  let mut column = vec![0f32; rows.len()];\n    \
                  let values: Vec<f32> = (0..updates.dim(1)?)\n        \
                  .map(|j| {\n            \
                  column.iter_mut().zip(&rows).for_each(|(c, row)| *c = row[j]);\n            \
                  column.sort_unstable_by(f32::total_cmp);\n            \
                  let n = column.len();\n            \
                  if n % 2 == 1 { column[n / 2] } else { 0.5 * (column[n / 2 - 1] + column[n / 2]) }\n        \
                  })\n        \
                  .collect();\n    \
                  Ok(Tensor::from_vec(values, updates.dim(1)?, &Device::Cpu)?)";
    let report = grade_at(median, "2");
    assert!(passed(&report, "accuracy with no attack"), "{report}");
    assert!(passed(&report, "accuracy under scaled"), "{report}");
    assert!(passed(&report, "accuracy under gaussian"), "{report}");
    assert!(!passed(&report, "accuracy under sign-flip"), "{report}");
    assert!(
        !passed(&report, "accuracy under a little is enough"),
        "{report}"
    );
}

#[test]
fn a_step_of_the_rules_own_choosing_fails_even_inside_the_rows_range() {
    // Screens the long rows away like a robust rule, then, whenever it saw an attacker, makes
    // its own step: 20 times the screened mean, clamped into the range all rows span. That
    // range is huge under the loud attacks, so the reply is well formed; the honest rows'
    // range is not, and the scenario fails whatever accuracy the step reaches (a pretrained
    // model can be written into the server the same way).
    let report = grade(
        "    let rows = updates.to_vec2::<f32>()?;\n    \
         let (n, d) = (rows.len(), rows[0].len());\n    \
         let length = |r: &Vec<f32>| r.iter().map(|v| v * v).sum::<f32>().sqrt();\n    \
         let mut lengths: Vec<f32> = rows.iter().map(length).collect();\n    \
         lengths.sort_by(f32::total_cmp);\n    \
         let median = lengths[n / 2];\n    \
         let keep: Vec<&Vec<f32>> = rows.iter().filter(|r| length(r) <= 2.0 * median).collect();\n    \
         let gain = if keep.len() < n { 20.0 } else { 1.0 };\n    \
         let values: Vec<f32> = (0..d).map(|j| {\n        \
             let low = rows.iter().map(|r| r[j]).fold(0f32, f32::min);\n        \
             let high = rows.iter().map(|r| r[j]).fold(0f32, f32::max);\n        \
             (gain * keep.iter().map(|r| r[j]).sum::<f32>() / keep.len() as f32).clamp(low, high)\n    \
         }).collect();\n    \
         Ok(Tensor::from_vec(values, d, &Device::Cpu)?)",
    );
    assert!(
        passed(&report, "every aggregate is well formed"),
        "{report}"
    );
    assert!(passed(&report, "accuracy with no attack"), "{report}");
    for attack in ["scaled", "gaussian"] {
        let check = check_named(&report, &format!("accuracy under {attack}"));
        assert_eq!(check["passed"], false, "{report}");
        let measured = check["measured"].as_str().unwrap();
        assert!(
            measured.contains("steered off the honest updates"),
            "{measured}"
        );
    }
}
