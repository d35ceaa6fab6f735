//! The poisoning track end to end: the check tells real detectors from lazy ones.

use crate::support::{grade_failing, passed};

const SIGNATURE: &str = "use aisec_sdk::{Cnn, Dataset, Result};\npub fn detect(model: &Cnn, train: &Dataset, seed: u64) -> Result<Vec<usize>> {\n    let _ = (model, seed);";

/// Grades `poison-ac` with `source` as the candidate's file; returns the JSON report.
fn grade(source: &str) -> serde_json::Value {
    grade_failing("poison-ac", source, "4")
}

#[test]
fn flagging_everything_or_nothing_fails() {
    let everything = grade(&format!(
        "{SIGNATURE}\n    Ok((0..train.len()).collect())\n}}\n"
    ));
    assert!(
        !passed(&everything, "finds the flipped labels"),
        "{everything}"
    );
    assert!(!passed(&everything, "few false alarms"), "{everything}");
    assert!(!passed(&everything, "repair recovers"), "{everything}");

    let nothing = grade(&format!(
        "{SIGNATURE}\n    let _ = train;\n    Ok(Vec::new())\n}}\n"
    ));
    assert!(!passed(&nothing, "finds the flipped labels"), "{nothing}");
    assert!(passed(&nothing, "few false alarms"), "{nothing}");
}

#[test]
fn false_alarms_on_a_clean_set_fail_even_when_the_poison_is_found() {
    // The reference detector, plus 3% of the rows whenever it finds nothing.
    let lab = crate::support::lab_root();
    let reference = std::fs::read_to_string(lab.join("solutions/poison-ac/src/lib.rs")).unwrap();
    let source = format!(
        "{}\n\npub fn detect(model: &Cnn, train: &Dataset, seed: u64) -> Result<Vec<usize>> {{\n    \
         let rows = reference_detect(model, train, seed)?;\n    \
         if rows.is_empty() {{ Ok((0..train.len() * 3 / 100).collect()) }} else {{ Ok(rows) }}\n}}\n",
        reference.replace("pub fn detect(", "fn reference_detect(")
    );
    let report = grade(&source);
    assert!(passed(&report, "finds the flipped labels"), "{report}");
    assert!(!passed(&report, "few false alarms"), "{report}");
}
