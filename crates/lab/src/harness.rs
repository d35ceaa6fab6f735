//! The runtime of an exercise harness: the small program the grader generates per exercise,
//! which links the candidate's crate with the exercise's grading code (`exercises/<id>/harness.rs`)
//! and runs it in its own process.
//!
//! Protocol: `harness <check|run|demo> --seed N --lab DIR --result FILE [--out DIR]
//! [--memory-mb N] [--json] [--color] [--options JSON]`. The harness caps its own address space,
//! runs the mode, and writes a [`HarnessResult`] as JSON to FILE (stdout stays free for the
//! candidate's prints and for pictures). A `todo!()` reached in the candidate's code means
//! "not started"; any other panic means "crashed"; the grader turns a missing result file, a
//! signal or a timeout into a verdict of its own.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use aisec_sdk::rng::{self, Rng};
use aisec_sdk::{Cnn, Mnist};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::paths::LabRoot;

/// Version tag of [`HarnessResult`].
pub const RESULT_SCHEMA: &str = "aisec-harness/1";

/// The panic message `todo!()` produces: reaching one means the candidate has not started.
const TODO_MESSAGE: &str = "not yet implemented";

/// One graded property: what was measured, against which bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Short name, unique within the exercise.
    pub name: String,
    /// Whether the bar was met.
    pub passed: bool,
    /// What was measured, with units.
    pub measured: String,
    /// The bar it was held to.
    pub bar: String,
    /// What to look at when it fails.
    pub hint: String,
}

/// How the harness run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The mode ran to the end (checks may still have failed).
    Completed,
    /// The candidate's code reached a `todo!()`.
    NotStarted,
    /// The candidate's code panicked.
    Crashed,
}

/// What a harness writes to its result file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HarnessResult {
    /// Always [`RESULT_SCHEMA`].
    pub schema: String,
    /// The exercise id.
    pub exercise: String,
    /// The seed the run used.
    pub seed: u64,
    /// How the run ended.
    pub outcome: Outcome,
    /// Checks recorded (check mode), in order.
    pub checks: Vec<CheckResult>,
    /// For a crash: the panic message and where it happened.
    pub message: Option<String>,
    /// Machine-readable output of run and demo modes.
    pub output: Option<serde_json::Value>,
}

/// Which part of the harness to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Grade: record checks.
    Check,
    /// Show what the candidate's code does on a sample.
    Run,
    /// The same, with the reference solution and more detail.
    Demo,
}

/// The functions every `harness.rs` provides.
pub struct Entry {
    /// Records the exercise's checks.
    pub check: fn(&mut Context) -> Result<()>,
    /// Shows what the code does on a sample.
    pub run: fn(&mut Context) -> Result<()>,
    /// The demo (run with the reference solution).
    pub demo: fn(&mut Context) -> Result<()>,
}

/// What a harness function works with: the seed, the lab's data and models, the exercise's
/// thresholds, and where checks and output go.
pub struct Context {
    exercise: String,
    thresholds: toml::Table,
    seed: u64,
    lab: LabRoot,
    out_dir: PathBuf,
    json: bool,
    color: bool,
    options: serde_json::Map<String, serde_json::Value>,
    checks: Vec<CheckResult>,
    output: Option<serde_json::Value>,
    data: OnceCell<Mnist>,
}

impl Context {
    /// A context for exercise `exercise` with `thresholds`, outside any harness process (tests).
    pub fn new(exercise: &str, thresholds: toml::Table, seed: u64, lab: LabRoot) -> Context {
        let out_dir = lab.out().join(exercise);
        Context {
            exercise: exercise.to_owned(),
            thresholds,
            seed,
            lab,
            out_dir,
            json: false,
            color: false,
            options: serde_json::Map::new(),
            checks: Vec::new(),
            output: None,
            data: OnceCell::new(),
        }
    }

    /// The exercise id.
    pub fn exercise(&self) -> &str {
        &self.exercise
    }

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A generator on stream `purpose` of this run's seed.
    pub fn rng(&self, purpose: &str) -> Rng {
        rng::rng(self.seed, purpose)
    }

    /// The lab.
    pub fn lab(&self) -> &LabRoot {
        &self.lab
    }

    /// A number from the `[thresholds]` table of `exercise.toml`.
    pub fn threshold(&self, key: &str) -> Result<f64> {
        match self.thresholds.get(key) {
            Some(toml::Value::Float(v)) => Ok(*v),
            Some(toml::Value::Integer(v)) => Ok(*v as f64),
            _ => Err(Error::invalid(
                format!("threshold {key:?} of exercise {}", self.exercise),
                "missing from [thresholds] in exercise.toml, or not a number",
            )),
        }
    }

    /// The bundled digits (loaded once).
    pub fn data(&self) -> Result<&Mnist> {
        if self.data.get().is_none() {
            let mnist = Mnist::load(&self.lab.mnist())?;
            let _ = self.data.set(mnist);
        }
        self.data
            .get()
            .ok_or_else(|| Error::invalid("data", "could not be loaded"))
    }

    /// A shipped model by name (`standard`, `adversarial`, `overfit`).
    pub fn model(&self, name: &str) -> Result<Cnn> {
        Ok(Cnn::load(&self.lab.model(name))?)
    }

    /// Records a check.
    pub fn check(
        &mut self,
        name: &str,
        passed: bool,
        measured: impl Into<String>,
        bar: impl Into<String>,
        hint: &str,
    ) {
        self.checks.push(CheckResult {
            name: name.to_owned(),
            passed,
            measured: measured.into(),
            bar: bar.into(),
            hint: hint.to_owned(),
        });
    }

    /// Unwraps what the candidate's function returned; an `Err` becomes a failed check named
    /// `name` (and `None`, so the caller stops checking what depends on it).
    pub fn student<T>(&mut self, name: &str, result: aisec_sdk::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.check(
                    name,
                    false,
                    format!("returned an error: {e}"),
                    "returns Ok",
                    "your function must not fail on valid input",
                );
                None
            }
        }
    }

    /// Checks recorded so far.
    pub fn checks(&self) -> &[CheckResult] {
        &self.checks
    }

    /// Whether output should be JSON (run and demo modes).
    pub fn json(&self) -> bool {
        self.json
    }

    /// Whether stdout may carry colour.
    pub fn color(&self) -> bool {
        self.color
    }

    /// Where pictures go: `out/<exercise>/`, created on first use.
    pub fn out_dir(&self) -> Result<&Path> {
        std::fs::create_dir_all(&self.out_dir)
            .map_err(|e| Error::io("creating", &self.out_dir, e))?;
        Ok(&self.out_dir)
    }

    /// An option passed on the command line (demo settings such as `models` or `n`).
    pub fn option(&self, key: &str) -> Option<&serde_json::Value> {
        self.options.get(key)
    }

    /// Prints `text` to stdout unless the output is JSON.
    pub fn say(&self, text: &str) {
        if !self.json {
            println!("{text}");
        }
    }

    /// Sets the machine-readable output of a run or demo.
    pub fn emit(&mut self, value: serde_json::Value) {
        self.output = Some(value);
    }

    /// A progress bar on stderr for long loops (hidden when stderr is not a terminal).
    pub fn progress(&self, len: u64, what: &str) -> indicatif::ProgressBar {
        let bar = indicatif::ProgressBar::new(len);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} ({elapsed}, eta {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(what.to_owned());
        bar
    }
}

/// Demo settings passed on the command line (`--model`, `--n`, `--eps`), with defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOptions {
    /// Shipped models to use, by name.
    pub models: Vec<String>,
    /// Test digits to evaluate on (the first n of the test split).
    pub n: usize,
    /// L-inf budgets.
    pub eps: Vec<f32>,
}

impl Context {
    /// The demo options, falling back to the given defaults for those not passed.
    pub fn demo_options(&self, models: &[&str], n: usize, eps: &[f32]) -> Result<DemoOptions> {
        let bad = |what: &str| Error::invalid(format!("demo option {what}"), "has the wrong type");
        let models = match self.option("models") {
            None => models.iter().map(|m| (*m).to_owned()).collect(),
            Some(v) => v
                .as_array()
                .ok_or_else(|| bad("models"))?
                .iter()
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect(),
        };
        let n = match self.option("n") {
            None => n,
            Some(v) => v.as_u64().ok_or_else(|| bad("n"))? as usize,
        };
        let eps = match self.option("eps") {
            None => eps.to_vec(),
            Some(v) => v
                .as_array()
                .ok_or_else(|| bad("eps"))?
                .iter()
                .filter_map(|e| e.as_f64().map(|e| e as f32))
                .collect(),
        };
        Ok(DemoOptions { models, n, eps })
    }
}

/// The last panic's message and location, recorded by the panic hook.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn panic_text(info: &std::panic::PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-text payload".to_owned());
    match info.location() {
        Some(at) => format!("{message} (at {}:{})", at.file(), at.line()),
        None => message,
    }
}

struct Args {
    mode: Mode,
    seed: u64,
    lab: PathBuf,
    result: PathBuf,
    out: Option<PathBuf>,
    memory_mb: Option<u64>,
    json: bool,
    color: bool,
    options: serde_json::Map<String, serde_json::Value>,
}

fn parse_args(args: &[String]) -> std::result::Result<Args, String> {
    let mode = match args.first().map(String::as_str) {
        Some("check") => Mode::Check,
        Some("run") => Mode::Run,
        Some("demo") => Mode::Demo,
        other => {
            return Err(format!(
                "first argument must be check, run or demo, not {other:?}"
            ));
        }
    };
    let mut parsed = Args {
        mode,
        seed: 0,
        lab: PathBuf::new(),
        result: PathBuf::new(),
        out: None,
        memory_mb: None,
        json: false,
        color: false,
        options: serde_json::Map::new(),
    };
    let mut rest = args[1..].iter();
    while let Some(flag) = rest.next() {
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--seed" => parsed.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--lab" => parsed.lab = PathBuf::from(value()?),
            "--result" => parsed.result = PathBuf::from(value()?),
            "--out" => parsed.out = Some(PathBuf::from(value()?)),
            "--memory-mb" => {
                parsed.memory_mb = Some(value()?.parse().map_err(|e| format!("--memory-mb: {e}"))?)
            }
            "--options" => {
                parsed.options =
                    serde_json::from_str(&value()?).map_err(|e| format!("--options: {e}"))?;
            }
            "--json" => parsed.json = true,
            "--color" => parsed.color = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if parsed.result.as_os_str().is_empty() || parsed.lab.as_os_str().is_empty() {
        return Err("--result and --lab are required".into());
    }
    Ok(parsed)
}

fn limit_memory(megabytes: u64) {
    #[cfg(unix)]
    {
        let bytes = megabytes.saturating_mul(1 << 20);
        // Failing to set the limit only weakens isolation; the grader still enforces time.
        let _ = rlimit::setrlimit(rlimit::Resource::AS, bytes, bytes);
    }
    #[cfg(not(unix))]
    let _ = megabytes;
}

fn exercise_parts(exercise_toml: &str) -> (String, toml::Table) {
    let table: toml::Table = toml::from_str(exercise_toml).unwrap_or_default();
    let id = table
        .get("id")
        .and_then(|v| v.as_str())
        .unwrap_or("unknown")
        .to_owned();
    let thresholds = table
        .get("thresholds")
        .and_then(|v| v.as_table())
        .cloned()
        .unwrap_or_default();
    (id, thresholds)
}

/// The harness program's `main`: parses the protocol arguments, runs `entry`'s function for
/// the mode, and writes the result file. Exit code 0 when a result was written, 2 otherwise.
pub fn main(exercise_toml: &str, entry: Entry) -> ExitCode {
    // SAFETY: the generated `main` calls this first, before any thread starts.
    #[allow(unsafe_code)]
    unsafe {
        crate::runtime::configure_threads(None);
    }
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&raw) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("harness: {message}");
            return ExitCode::from(2);
        }
    };
    if let Some(mb) = args.memory_mb {
        limit_memory(mb);
    }
    let (id, thresholds) = exercise_parts(exercise_toml);
    let mut context = Context::new(&id, thresholds, args.seed, LabRoot::at(&args.lab));
    context.json = args.json;
    context.color = args.color;
    context.options = args.options;
    if let Some(out) = args.out {
        context.out_dir = out;
    }

    std::panic::set_hook(Box::new(|info| {
        let text = panic_text(info);
        if !text.starts_with(TODO_MESSAGE) {
            eprintln!("panicked: {text}");
        }
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(text);
        }
    }));
    let function = match args.mode {
        Mode::Check => entry.check,
        Mode::Run => entry.run,
        Mode::Demo => entry.demo,
    };
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| function(&mut context)));
    let (outcome, message) = match ran {
        Ok(Ok(())) => (Outcome::Completed, None),
        Ok(Err(e)) => {
            context.check(
                "grading",
                false,
                format!("could not be graded: {e}"),
                "gradable output",
                "see the message",
            );
            (Outcome::Completed, Some(e.to_string()))
        }
        Err(_) => {
            let text = LAST_PANIC
                .lock()
                .ok()
                .and_then(|mut p| p.take())
                .unwrap_or_else(|| "unknown panic".into());
            if text.starts_with(TODO_MESSAGE) {
                (Outcome::NotStarted, Some(text))
            } else {
                (Outcome::Crashed, Some(text))
            }
        }
    };
    let result = HarnessResult {
        schema: RESULT_SCHEMA.to_owned(),
        exercise: id,
        seed: args.seed,
        outcome,
        checks: context.checks,
        message,
        output: context.output,
    };
    let written = serde_json::to_string(&result)
        .map_err(|e| e.to_string())
        .and_then(|text| std::fs::write(&args.result, text).map_err(|e| e.to_string()));
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("harness: could not write {}: {e}", args.result.display());
            ExitCode::from(2)
        }
    }
}
