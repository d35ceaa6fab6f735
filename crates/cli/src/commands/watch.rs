//! `aisec watch`: re-check the exercise whose files were just saved.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use aisec_grader::report;
use aisec_lab::LabRoot;
use notify::{RecursiveMode, Watcher};

use crate::Outcome;
use crate::style;

/// The exercise a changed path belongs to, if it is a student's source file.
fn exercise_of(lab: &LabRoot, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(lab.exercises()).ok()?;
    let mut parts = relative.components();
    let id = parts.next()?.as_os_str().to_string_lossy().into_owned();
    let is_source = path.extension().is_some_and(|e| e == "rs" || e == "toml");
    is_source.then_some(id)
}

pub fn run(lab: &LabRoot, ids: &[String]) -> anyhow::Result<Outcome> {
    let registry = super::registry(lab)?;
    for id in ids {
        registry.get(id)?;
    }
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            if event.kind.is_modify() || event.kind.is_create() {
                for path in event.paths {
                    let _ = tx.send(path);
                }
            }
        }
    })?;
    watcher.watch(&lab.exercises(), RecursiveMode::Recursive)?;
    anstream::println!(
        "{}",
        style::paint(
            "watching exercises/ — save a file to re-check its exercise (Ctrl-C to stop)",
            style::DIM
        )
    );
    loop {
        let Ok(first) = rx.recv() else {
            return Ok(Outcome::Success);
        };
        // Editors write a file in several events: wait for them to settle, then check once.
        let mut changed = vec![first];
        while let Ok(path) = rx.recv_timeout(Duration::from_millis(400)) {
            changed.push(path);
        }
        let mut touched: Vec<String> = changed.iter().filter_map(|p| exercise_of(lab, p)).collect();
        touched.sort();
        touched.dedup();
        touched.retain(|id| ids.is_empty() || ids.contains(id));
        let registry = super::registry(lab)?;
        let exercises: Vec<_> = touched
            .iter()
            .filter_map(|id| registry.get(id).ok())
            .collect();
        if exercises.is_empty() {
            continue;
        }
        let seed = aisec_sdk::rng::random_seed();
        anstream::println!(
            "{}",
            style::paint(
                format!("checking {} (seed {seed})", touched.join(", ")),
                style::HEAD
            )
        );
        match super::check::grade(lab, &exercises, seed, None, None) {
            Ok(report) => anstream::print!("{}", report::to_text(&report, style::stdout_color())),
            Err(e) => style::error(&format!("{e:#}")),
        }
    }
}
