//! The `backdoor-detect` exercise end to end: the check tells real detectors from lazy and
//! malformed ones.

use crate::support::{check_named, check_results, grade_failing, lab_root, passed};

const SIGNATURE: &str = "use aisec_sdk::{Cnn, Dataset, Result};\npub fn detect(model: &Cnn, train: &Dataset, seed: u64) -> Result<Vec<usize>> {\n    let _ = (model, seed);";

/// Grades `backdoor-detect` with `source` as the candidate's file; returns the JSON report.
fn grade(source: &str) -> serde_json::Value {
    grade_failing("backdoor-detect", source, "4")
}

#[test]
fn flagging_everything_or_nothing_fails() {
    let everything = grade(&format!(
        "{SIGNATURE}\n    Ok((0..train.len()).collect())\n}}\n"
    ));
    assert!(
        !passed(&everything, "finds the poisoned rows"),
        "{everything}"
    );
    assert!(!passed(&everything, "few false alarms"), "{everything}");
    assert!(
        !passed(&everything, "repair closes the backdoor"),
        "{everything}"
    );
    assert!(
        !passed(&everything, "the repaired model stays accurate"),
        "{everything}"
    );

    let nothing = grade(&format!(
        "{SIGNATURE}\n    let _ = train;\n    Ok(Vec::new())\n}}\n"
    ));
    assert!(!passed(&nothing, "finds the poisoned rows"), "{nothing}");
    assert!(!passed(&nothing, "repair closes the backdoor"), "{nothing}");
    assert!(passed(&nothing, "few false alarms"), "{nothing}");
}

#[test]
fn rows_out_of_range_fail_with_a_clear_message() {
    let report = grade(&format!(
        "{SIGNATURE}\n    Ok(vec![3, train.len(), usize::MAX])\n}}\n"
    ));
    let checks = check_results(&report);
    for name in [
        "flagged rows are training rows (clean set)",
        "flagged rows are training rows",
    ] {
        assert!(
            checks.iter().any(|(n, ok)| n == name && !ok),
            "{name} should fail: {report}"
        );
    }
    let measured = check_named(&report, "flagged rows are training rows (clean set)")["measured"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        measured.contains("row 8000 is out of range") && measured.contains("8000 rows"),
        "{measured}"
    );
    // Nothing downstream is graded on rows that are not there.
    assert!(
        !checks
            .iter()
            .any(|(n, _)| n.starts_with("finds the poisoned rows")),
        "{report}"
    );
}

#[test]
fn false_alarms_on_a_clean_set_fail_even_when_the_poison_is_found() {
    // The reference detector, its answer repeated (repeats count once), plus 3% of the rows
    // whenever it finds nothing.
    let reference =
        std::fs::read_to_string(lab_root().join("solutions/backdoor-detect/src/lib.rs")).unwrap();
    let source = format!(
        "{}\n\npub fn detect(model: &Cnn, train: &Dataset, seed: u64) -> Result<Vec<usize>> {{\n    \
         let rows = reference_detect(model, train, seed)?;\n    \
         if rows.is_empty() {{ Ok((0..train.len() * 3 / 100).collect()) }} else {{ Ok(rows.repeat(20)) }}\n}}\n",
        reference.replace("pub fn detect(", "fn reference_detect(")
    );
    let report = grade(&source);
    assert!(passed(&report, "finds the poisoned rows"), "{report}");
    assert!(passed(&report, "repair closes the backdoor"), "{report}");
    assert!(!passed(&report, "few false alarms"), "{report}");
}
