//! The dependency rule: an exercise crate may depend on the SDK and nothing else.
//!
//! The grader reads the exercise's `Cargo.toml` before building it and refuses, with the reason,
//! any manifest that adds a dependency, a build script, a proc-macro, extra targets or patches.

use std::path::Path;

use crate::error::{Error, Result};

/// Crates an exercise may depend on, and the path each must come from (relative to the
/// exercise folder).
pub const ALLOWED_DEPENDENCIES: [(&str, &str); 1] = [("aisec-sdk", "../../crates/sdk")];

const ALLOWED_SECTIONS: [&str; 4] = ["package", "lib", "dependencies", "lints"];
const ALLOWED_PACKAGE_KEYS: [&str; 7] = [
    "name",
    "version",
    "edition",
    "publish",
    "description",
    "license",
    "rust-version",
];

/// Checks `exercise_dir/Cargo.toml` for package `expected_name`; the error says what to undo.
pub fn check_manifest(exercise_dir: &Path, expected_name: &str) -> Result<()> {
    let path = exercise_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
    let refuse = |reason: String| Err(Error::manifest(&path, reason));
    let table: toml::Table = match toml::from_str(&text) {
        Ok(t) => t,
        Err(e) => return refuse(format!("not valid TOML: {e}")),
    };
    if exercise_dir.join("build.rs").exists() {
        return refuse(
            "build.rs is not allowed: exercises may not run build scripts; delete it".into(),
        );
    }
    for key in table.keys() {
        if !ALLOWED_SECTIONS.contains(&key.as_str()) {
            return refuse(format!(
                "[{key}] is not allowed in an exercise manifest (allowed: {}); exercises may depend on aisec-sdk only",
                ALLOWED_SECTIONS.join(", ")
            ));
        }
    }
    let package = table.get("package").and_then(|p| p.as_table());
    let Some(package) = package else {
        return refuse("[package] is missing".into());
    };
    if let Some(key) = package
        .keys()
        .find(|k| !ALLOWED_PACKAGE_KEYS.contains(&k.as_str()))
    {
        return refuse(format!(
            "package.{key} is not allowed in an exercise manifest"
        ));
    }
    if package.get("name").and_then(|n| n.as_str()) != Some(expected_name) {
        return refuse(format!("package.name must be {expected_name:?}"));
    }
    if let Some(lib) = table.get("lib").and_then(|l| l.as_table()) {
        if let Some(key) = lib.keys().find(|k| k.as_str() != "path") {
            return refuse(format!("lib.{key} is not allowed in an exercise manifest"));
        }
        if lib
            .get("path")
            .and_then(|p| p.as_str())
            .is_some_and(|p| p != "src/lib.rs")
        {
            return refuse("lib.path must be src/lib.rs".into());
        }
    }
    let dependencies = table
        .get("dependencies")
        .and_then(|d| d.as_table())
        .cloned()
        .unwrap_or_default();
    for (name, spec) in &dependencies {
        let Some((_, allowed_path)) = ALLOWED_DEPENDENCIES
            .iter()
            .find(|(allowed, _)| allowed == name)
        else {
            return refuse(format!(
                "dependency {name:?} is not allowed: exercises may depend on aisec-sdk only; remove it and use what the SDK provides"
            ));
        };
        let spec = spec.as_table();
        let path_ok =
            spec.and_then(|s| s.get("path")).and_then(|p| p.as_str()) == Some(*allowed_path);
        let only_path = spec.is_some_and(|s| s.len() == 1);
        if !(path_ok && only_path) {
            return refuse(format!(
                "dependency {name:?} must be exactly {{ path = \"{allowed_path}\" }}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(manifest: &str) -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
        check_manifest(dir.path(), "fgsm")
    }

    const GOOD: &str = "[package]\nname = \"fgsm\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\naisec-sdk = { path = \"../../crates/sdk\" }\n";

    #[test]
    fn the_sdk_alone_is_accepted() {
        check(GOOD).unwrap();
    }

    #[test]
    fn extra_dependencies_and_escape_hatches_are_refused_with_a_reason() {
        let added = format!("{GOOD}rand = \"0.9\"\n");
        assert!(
            check(&added)
                .unwrap_err()
                .to_string()
                .contains("dependency \"rand\" is not allowed")
        );
        let build = GOOD.replace(
            "edition = \"2024\"",
            "edition = \"2024\"\nbuild = \"evil.rs\"",
        );
        assert!(
            check(&build)
                .unwrap_err()
                .to_string()
                .contains("package.build")
        );
        let dev = format!("{GOOD}\n[dev-dependencies]\nrand = \"0.9\"\n");
        assert!(
            check(&dev)
                .unwrap_err()
                .to_string()
                .contains("[dev-dependencies] is not allowed")
        );
        let moved = GOOD.replace("../../crates/sdk", "/elsewhere/sdk");
        assert!(
            check(&moved)
                .unwrap_err()
                .to_string()
                .contains("must be exactly")
        );
        let renamed = GOOD.replace("name = \"fgsm\"", "name = \"other\"");
        assert!(
            check(&renamed)
                .unwrap_err()
                .to_string()
                .contains("package.name")
        );
    }
}
