//! The model-theft track end to end: `extraction-detect`. Detectors that judge a client by how
//! much or how fast it asks, or that flag everyone or no one, fail; so does the reference
//! without its PRADA test, which misses the Jacobian attackers.

use crate::support::{check_named, grade_edited_solution, grade_failing};

/// The first line of the reference detector's body, where an edit can return early.
const BODY: &str = "    if log.is_empty() {\n        return Ok(false);\n    }\n";

/// A student file whose detector answers `verdict` (an expression over `log`).
fn detector(verdict: &str) -> String {
    format!(
        "use aisec_sdk::theft::ClientLog;\n\
         use aisec_sdk::{{Cnn, Dataset, Result}};\n\
         pub fn is_extracting(log: &ClientLog, model: &Cnn, natural: &Dataset) -> Result<bool> {{\n    \
         let _ = (log, model, natural);\n    \
         Ok({verdict})\n\
         }}\n"
    )
}

#[test]
fn a_detector_that_flags_by_volume_flags_the_benign_heavy_users_and_fails() {
    // Every attacker makes 150 queries or more, and so does every benign heavy user.
    let report = grade_edited_solution(
        "extraction-detect",
        "2",
        &[(BODY, &format!("{BODY}    return Ok(log.len() >= 150);\n"))],
    );
    let recall = check_named(&report, "catches the attackers");
    assert_eq!(recall["passed"], true, "{recall}");
    let precision = check_named(&report, "leaves benign clients alone");
    assert_eq!(precision["passed"], false, "{precision}");
    let measured = precision["measured"].as_str().unwrap();
    // "... (8 of 8 benign heavy users)": every heavy user was flagged.
    let heavy = measured
        .rsplit_once('(')
        .and_then(|(_, tail)| tail.split_once(" benign heavy users"))
        .map(|(counts, _)| counts.to_owned())
        .unwrap();
    let (flagged, of) = heavy.split_once(" of ").unwrap();
    assert_eq!(flagged, of, "{measured}");
}

#[test]
fn a_detector_that_flags_fast_clients_fails() {
    // Flag a client whose queries come more often than one every 20 s on average: schedules
    // are drawn alike for attackers and benign clients, so this is a coin toss.
    let report = grade_failing(
        "extraction-detect",
        &detector(
            "{ let t = log.times(); t.len() >= 2 && (t[t.len() - 1] - t[0]) / ((t.len() - 1) as f64) < 20.0 }",
        ),
        "3",
    );
    let core_failed = ["catches the attackers", "leaves benign clients alone"]
        .iter()
        .any(|name| check_named(&report, name)["passed"] == false);
    assert!(core_failed, "{report}");
}

#[test]
fn flagging_everyone_fails_on_precision_and_flagging_no_one_on_recall() {
    let everyone = grade_failing("extraction-detect", &detector("true"), "4");
    assert_eq!(
        check_named(&everyone, "catches the attackers")["passed"],
        true
    );
    let precision = check_named(&everyone, "leaves benign clients alone");
    assert_eq!(precision["passed"], false, "{precision}");
    // Every attacker was flagged at the first checkpoint.
    assert_eq!(
        check_named(&everyone, "flags attackers early")["passed"],
        true
    );

    let no_one = grade_failing("extraction-detect", &detector("false"), "4");
    let recall = check_named(&no_one, "catches the attackers");
    assert_eq!(recall["passed"], false, "{recall}");
    assert!(
        recall["measured"]
            .as_str()
            .unwrap()
            .starts_with("flagged 0 of"),
        "{recall}"
    );
    let early = check_named(&no_one, "flags attackers early");
    assert_eq!(early["passed"], false, "{early}");
    assert_eq!(early["measured"], "no attacker flagged", "{early}");
}

#[test]
fn without_its_prada_test_the_reference_misses_the_jacobian_attackers() {
    let report = grade_edited_solution(
        "extraction-detect",
        "5",
        &[(
            "Ok(distances.len() >= MIN_DISTANCES && normality(&distances) < MIN_NORMALITY)",
            "let _ = distances;\n    Ok(false)",
        )],
    );
    let kinds = check_named(&report, "catches every kind of attack");
    assert_eq!(kinds["passed"], false, "{kinds}");
    assert!(
        kinds["measured"]
            .as_str()
            .unwrap()
            .starts_with("Jacobian-augmented synthetic: 0 of"),
        "{kinds}"
    );
}
