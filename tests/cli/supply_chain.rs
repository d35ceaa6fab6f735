//! The supply-chain track end to end: verifiers that trust names, sizes or memory fail.

use crate::support::{check_results, grade_edited_solution, passed};

/// Grades `safetensors-verify` with the reference solution edited by `edits` (each `(from, to)`
/// must occur); returns the JSON report.
fn grade_edited(edits: &[(&str, &str)]) -> serde_json::Value {
    grade_edited_solution("safetensors-verify", "3", edits)
}

fn failed(checks: &[(String, bool)]) -> Vec<&str> {
    checks
        .iter()
        .filter(|(_, passed)| !passed)
        .map(|(name, _)| name.as_str())
        .collect()
}

#[test]
fn a_verifier_that_trusts_file_names_fails() {
    let report = grade_edited(&[
        // Refuse pickles only when they are called .pkl or .pt ...
        (
            "if let Some(reason) = refused_format(path)? {",
            "if let Some(reason) = refused_format(path)?.filter(|_| path.extension().is_some_and(|e| e == \"pkl\" || e == \"pt\")) {",
        ),
        // ... and parse only files called .safetensors.
        (
            "if entry.tensors.is_empty() {",
            "if !path.to_string_lossy().ends_with(\".safetensors\") {",
        ),
    ]);
    let checks = check_results(&report);
    let failed = failed(&checks);
    for case in [
        "pickle disguised as safetensors",
        "PyTorch zip disguised as safetensors",
        "pickle added under a harmless name",
        "flipped byte in a model not named .safetensors",
    ] {
        assert!(failed.contains(&case), "{case} passed: {checks:?}");
    }
    assert!(passed(&report, "flipped byte in a tensor"), "{checks:?}");
}

#[test]
fn a_verifier_that_trusts_file_sizes_fails() {
    let report = grade_edited(&[(
        "if size == entry.size && sha256 == entry.sha256 {",
        "if size == entry.size {",
    )]);
    let checks = check_results(&report);
    let failed = failed(&checks);
    assert!(failed.contains(&"flipped byte in a tensor"), "{checks:?}");
    assert!(
        failed.contains(&"streams: a large file is verified in bounded memory"),
        "{checks:?}"
    );
    assert!(passed(&report, "file deleted"), "{checks:?}");
}

#[test]
fn a_verifier_that_reads_whole_files_fails_the_memory_bound() {
    let checks = check_results(&grade_edited(&[(
        "    let mut buffer = vec![0u8; PIECE];\n    let mut size = 0u64;\n    loop {",
        "    let whole = std::fs::read(path).map_err(|e| io(path, e))?;\n    hasher.update(&whole);\n    let _ = &mut file;\n    return Ok((whole.len() as u64, hex(&hasher.finalize())));\n    #[allow(unreachable_code)]\n    let mut buffer = vec![0u8; PIECE];\n    let mut size = 0u64;\n    loop {",
    )]));
    assert_eq!(
        failed(&checks),
        ["streams: a large file is verified in bounded memory"],
        "{checks:?}"
    );
}
