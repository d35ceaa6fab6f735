//! `aisec list`, `show`, `hint`, `reset` and `run`: working with one exercise.

use std::io::{BufRead, Write};
use std::time::Duration;

use aisec_grader::grade::student_digests;
use aisec_grader::harness::{RunEnd, RunRequest, Variant};
use aisec_grader::state::State;
use aisec_grader::{Exercise, Verdict};
use aisec_lab::LabRoot;
use aisec_lab::harness::{Mode, Outcome as HarnessOutcome};

use crate::Outcome;
use crate::style;

/// Where the candidate stands on an exercise, without grading it.
fn status(exercise: &Exercise, state: &State) -> String {
    let digests = student_digests(exercise);
    if let Some(last) = state.last_grade.get(exercise.id()) {
        if last.student_files == digests {
            return last.verdict.label().to_owned();
        }
    }
    let pristine = exercise.manifest.student_files.iter().all(|f| {
        let now = std::fs::read(exercise.dir.join(f)).ok();
        now.is_some() && now == std::fs::read(exercise.stub_path(f)).ok()
    });
    if pristine {
        "not started".into()
    } else {
        "in progress (not checked)".into()
    }
}

pub fn list(lab: &LabRoot, json: bool) -> anyhow::Result<Outcome> {
    let registry = super::registry(lab)?;
    let state = State::load(lab);
    if json {
        let rows: Vec<_> = registry
            .exercises
            .iter()
            .map(|e| {
                let m = &e.manifest;
                serde_json::json!({
                    "id": m.id, "title": m.title, "track": m.track, "kind": m.kind, "difficulty": m.difficulty,
                    "points": m.points, "status": status(e, &state), "atlas": m.atlas, "owasp_ml": m.owasp_ml, "owasp_llm": m.owasp_llm,
                })
            })
            .collect();
        anstream::println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(Outcome::Success);
    }
    anstream::println!(
        "{}",
        style::paint(
            format!(
                "{:<22} {:<13} {:<7} {:>6}  {:<26} {}",
                "exercise", "track", "level", "points", "status", "tags"
            ),
            style::HEAD
        )
    );
    for e in &registry.exercises {
        let m = &e.manifest;
        let level = format!("{:?}", m.difficulty).to_lowercase();
        let tags = m
            .atlas
            .iter()
            .chain(&m.owasp_ml)
            .chain(&m.owasp_llm)
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        let status = status(e, &state);
        let painted = match status.as_str() {
            "passed" => style::paint(format!("{status:<26}"), style::GOOD),
            "not started" => format!("{status:<26}"),
            _ if status.starts_with("in progress") => format!("{status:<26}"),
            _ => style::paint(format!("{status:<26}"), style::BAD),
        };
        anstream::println!(
            "{:<22} {:<13} {:<7} {:>6}  {painted} {tags}",
            m.id,
            m.track,
            level,
            m.points
        );
    }
    anstream::println!(
        "\n{}",
        style::paint(
            "aisec show <id> for the brief, aisec check <id> to grade",
            style::DIM
        )
    );
    Ok(Outcome::Success)
}

pub fn show(lab: &LabRoot, id: &str) -> anyhow::Result<Outcome> {
    let registry = super::registry(lab)?;
    let exercise = registry.get(id)?;
    let m = &exercise.manifest;
    anstream::println!("{}", style::paint(&m.title, style::HEAD));
    anstream::println!(
        "{}",
        style::paint(
            format!(
                "{} · {} · {:?} · {} points · {}",
                m.id,
                m.track,
                m.difficulty,
                m.points,
                m.atlas
                    .iter()
                    .chain(&m.owasp_ml)
                    .chain(&m.owasp_llm)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            style::DIM
        )
    );
    anstream::println!(
        "edit: {}\n",
        m.student_files
            .iter()
            .map(|f| exercise.dir.join(f).display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    anstream::println!("{}", exercise.brief()?);
    Ok(Outcome::Success)
}

pub fn hint(lab: &LabRoot, id: &str, all: bool) -> anyhow::Result<Outcome> {
    let registry = super::registry(lab)?;
    let hints = &registry.get(id)?.manifest.hints;
    let mut state = State::load(lab);
    let shown = state.hints_shown.get(id).copied().unwrap_or(0);
    let upto = if all {
        hints.len()
    } else {
        (shown + 1).min(hints.len())
    };
    let from = if all { 0 } else { upto.saturating_sub(1) };
    if !all && shown >= hints.len() {
        anstream::println!(
            "{}",
            style::paint(
                format!("no more hints for {id}; aisec hint {id} --all lists them again"),
                style::DIM
            )
        );
        return Ok(Outcome::Success);
    }
    for (i, hint) in hints.iter().enumerate().take(upto).skip(from) {
        anstream::println!(
            "{} {hint}",
            style::paint(format!("hint {}/{}:", i + 1, hints.len()), style::HEAD)
        );
    }
    state.hints_shown.insert(id.to_owned(), upto.max(shown));
    state.save(lab);
    Ok(Outcome::Success)
}

pub fn reset(lab: &LabRoot, id: &str, yes: bool) -> anyhow::Result<Outcome> {
    let registry = super::registry(lab)?;
    let exercise = registry.get(id)?;
    let files = &exercise.manifest.student_files;
    if !yes {
        anstream::print!(
            "Restore {} of {id} to the shipped stub? Your changes will be lost. [y/N] ",
            files.join(", ")
        );
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            anstream::println!("left unchanged");
            return Ok(Outcome::Success);
        }
    }
    for file in files {
        let stub = exercise.stub_path(file);
        anyhow::ensure!(stub.is_file(), "no stub for {file} at {}", stub.display());
        std::fs::copy(&stub, exercise.dir.join(file))?;
        anstream::println!("restored {}", exercise.dir.join(file).display());
    }
    let mut state = State::load(lab);
    state.last_grade.remove(id);
    state.save(lab);
    Ok(Outcome::Success)
}

pub fn run(lab: &LabRoot, id: &str, seed: Option<u64>) -> anyhow::Result<Outcome> {
    let registry = super::registry(lab)?;
    let exercise = registry.get(id)?;
    let seed = super::seed_or_random(seed);
    let built = super::build_harness(lab, exercise, Variant::Exercise)?;
    let request = RunRequest {
        mode: Mode::Run,
        seed,
        time_limit: Duration::from_secs(exercise.manifest.time_limit_s * 3),
        memory_mb: exercise.manifest.memory_limit_mb,
        json: false,
        color: style::stdout_color(),
        options: serde_json::Map::new(),
        capture_stdout: false,
        capture_stderr: false,
    };
    let output = aisec_grader::harness::run(lab, &built, &request, None)?;
    match output.end {
        RunEnd::Finished(result) => match result.outcome {
            HarnessOutcome::Completed if result.message.is_none() => Ok(Outcome::Success),
            HarnessOutcome::Completed | HarnessOutcome::Refused => {
                anyhow::bail!("{}", result.message.unwrap_or_default())
            }
            HarnessOutcome::NotStarted => {
                anstream::println!(
                    "{} your code still reaches a todo!(): implement {} first (aisec show {id}, aisec hint {id})",
                    style::paint(Verdict::NotStarted.label(), style::BAD),
                    exercise.manifest.student_files.join(", ")
                );
                Ok(Outcome::Failed)
            }
            HarnessOutcome::Crashed => {
                anstream::println!(
                    "{} {}",
                    style::paint("crashed:", style::BAD),
                    result.message.unwrap_or_default()
                );
                Ok(Outcome::Failed)
            }
        },
        RunEnd::TimedOut => {
            anstream::println!(
                "{} after {} s",
                style::paint("timed out", style::BAD),
                request.time_limit.as_secs()
            );
            Ok(Outcome::Failed)
        }
        RunEnd::Died(why) => {
            anstream::println!("{} {why}", style::paint("crashed:", style::BAD));
            Ok(Outcome::Failed)
        }
    }
}
