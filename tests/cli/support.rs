//! Running the real binary, and temporary copies of the lab.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository this test was built from.
pub fn lab_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The cargo target folder the binary under test lives in; copies of the lab build their
/// harnesses there too, so candle is not compiled again.
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_aisec"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_owned()
}

/// Runs `aisec --lab <lab> args...`.
pub fn aisec_in(lab: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aisec"))
        .arg("--lab")
        .arg(lab)
        .args(args)
        .env("NO_COLOR", "1")
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("running aisec")
}

/// Runs `aisec --lab <repo> args...`.
pub fn aisec(args: &[&str]) -> Output {
    aisec_in(&lab_root(), args)
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the exit code, printing both streams when it differs.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        stdout(out),
        stderr(out)
    );
    assert!(
        !stderr(out).contains("panicked at"),
        "panic:\n{}",
        stderr(out)
    );
}

/// A copy of the lab (without build output) in a temporary folder.
pub fn copy_of_lab() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&lab_root(), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if ["target", ".git", "out"].contains(&name.to_string_lossy().as_ref()) {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// Replaces an exercise's `src/lib.rs` in `lab`.
pub fn write_student(lab: &Path, id: &str, source: &str) {
    std::fs::write(lab.join("exercises").join(id).join("src/lib.rs"), source).unwrap();
}

/// The grade report of `aisec check ... --format json`.
pub fn json_report(out: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", stdout(out), stderr(out)))
}

/// The verdict of exercise `id` in a JSON report.
pub fn verdict(report: &serde_json::Value, id: &str) -> String {
    report["exercises"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap()["verdict"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Grades exercise `id` with `source` as its student file, in a fresh copy of the lab, and
/// returns the JSON report after checking the verdict is "failed".
pub fn grade_failing(id: &str, source: &str, seed: &str) -> serde_json::Value {
    let lab = copy_of_lab();
    write_student(lab.path(), id, source);
    let out = aisec_in(
        lab.path(),
        &["check", id, "--seed", seed, "--format", "json"],
    );
    assert_exit(&out, 1);
    let report = json_report(&out);
    assert_eq!(verdict(&report, id), "failed", "{report}");
    report
}

/// Grades exercise `id` with its reference solution edited by `edits` (each `(from, to)` must
/// occur in it) as the student file, in a fresh copy of the lab, and returns the JSON report
/// after checking the verdict is "failed".
pub fn grade_edited_solution(id: &str, seed: &str, edits: &[(&str, &str)]) -> serde_json::Value {
    let path = lab_root().join("solutions").join(id).join("src/lib.rs");
    let mut source = std::fs::read_to_string(path).unwrap();
    for (from, to) in edits {
        assert!(
            source.contains(from),
            "the reference solution of {id} no longer contains {from:?}"
        );
        source = source.replace(from, to);
    }
    grade_failing(id, &source, seed)
}

/// The check of the first exercise in a report whose name starts with `prefix`; panics, naming
/// it, when there is none.
pub fn check_named(report: &serde_json::Value, prefix: &str) -> serde_json::Value {
    let id = report["exercises"][0]["id"].as_str().unwrap();
    check_of(report, id, prefix)
}

/// The check of exercise `id` in a report whose name starts with `prefix`; panics, naming it,
/// when there is none.
pub fn check_of(report: &serde_json::Value, id: &str, prefix: &str) -> serde_json::Value {
    report["exercises"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .and_then(|e| {
            e["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"].as_str().unwrap().starts_with(prefix))
        })
        .unwrap_or_else(|| panic!("no check of {id} named {prefix:?} in {report}"))
        .clone()
}

/// Whether the check of the first exercise named `prefix...` passed (see [`check_named`]).
pub fn passed(report: &serde_json::Value, prefix: &str) -> bool {
    check_named(report, prefix)["passed"].as_bool().unwrap()
}

/// The checks of the first exercise in a report: (name, passed).
pub fn check_results(report: &serde_json::Value) -> Vec<(String, bool)> {
    report["exercises"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["passed"].as_bool().unwrap(),
            )
        })
        .collect()
}
