//! The runtime of an exercise's checker: the trusted program the grader generates per
//! exercise, which links the exercise's grading code (`exercises/<id>/harness.rs`) with this
//! crate and calls the candidate's functions in a separate, sandboxed runner process (see
//! `aisec_wire`). The checker holds the seed, the draws, the ground truth and the bars; the
//! runner holds the candidate's code and receives only each call's inputs.
//!
//! Protocol: the grader starts the checker with a Unix socket as its standard input, writes one
//! [`Request`] (JSON, one line) on it, and reads one [`HarnessResult`] (JSON) back on the same
//! socket. Nothing about the run is in the checker's arguments or environment, and the runner
//! never sees the socket. Stdout stays free for pictures (run and demo modes). A `todo!()`
//! reached in the candidate's code means "not started"; any other panic means "crashed"; the
//! grader turns a missing result, a signal or a timeout into a verdict of its own.

use std::cell::OnceCell;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use aisec_sdk::rng::Rng;
use aisec_sdk::{Cnn, Mnist};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::exercise::{self, DeclaredCheck, ExerciseManifest, GRADING_CHECK, Section};
use crate::paths::LabRoot;

/// Version tag of [`HarnessResult`].
pub const RESULT_SCHEMA: &str = "aisec-harness/2";

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
    /// A check of the exercise's core property (FGSM's exact step, PGD's strength, detection,
    /// separation): a failed exercise earns points only if it recorded core checks and passed
    /// them all, so a submission that does nothing useful scores 0.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub core: bool,
}

impl CheckResult {
    /// The failed [`GRADING_CHECK`] a checker records when it could not grade.
    fn grading_failure(measured: String, bar: &str, hint: &str) -> CheckResult {
        CheckResult {
            name: GRADING_CHECK.to_owned(),
            passed: false,
            measured,
            bar: bar.to_owned(),
            hint: hint.to_owned(),
            core: false,
        }
    }
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
    /// The checker could not serve the request, before any candidate code ran: the
    /// exercise's own files are at fault, or the demo options are not acceptable (the message
    /// says which).
    Refused,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Grade: record checks.
    Check,
    /// Show what the candidate's code does on a sample.
    Run,
    /// The same, with the reference solution and more detail.
    Demo,
}

/// The functions every `harness.rs` provides, with the types it reads `exercise.toml` as:
/// `S` from `[settings]`, `B` from `[bars]`, `D` from `[demo]` with the command line's
/// `--set` on top. Each is a serde struct that denies unknown fields, so a misspelt key stops
/// the checker before any candidate code runs.
pub struct Entry<S, B, D> {
    /// Records the exercise's checks.
    pub check: fn(&mut Context, &S, &B) -> Result<()>,
    /// Shows what the code does on a sample.
    pub run: fn(&mut Context, &S) -> Result<()>,
    /// The demo (run with the reference solution).
    pub demo: fn(&mut Context, &S, &D) -> Result<()>,
}

/// The demo options of an exercise whose demo takes none.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

/// What a harness function works with: the seed, the lab's data and models, the exercise's
/// declared checks, and where checks and output go.
pub struct Context {
    exercise: String,
    declared: Vec<DeclaredCheck>,
    seed: u64,
    lab: LabRoot,
    out_dir: PathBuf,
    json: bool,
    color: bool,
    checks: Vec<CheckResult>,
    output: Option<serde_json::Value>,
    data: OnceCell<Mnist>,
    input_dir: Option<PathBuf>,
    runner_work_dir: Option<PathBuf>,
    printed_by_earlier_runners: String,
    run_key: OnceCell<[u8; 32]>,
}

impl Context {
    /// A context for the exercise `manifest` describes, on `seed`, with `lab`'s data and
    /// models.
    pub fn new(manifest: &ExerciseManifest, seed: u64, lab: LabRoot) -> Context {
        let out_dir = lab.out().join(&manifest.id);
        Context {
            exercise: manifest.id.clone(),
            declared: manifest.checks.clone(),
            seed,
            lab,
            out_dir,
            json: false,
            color: false,
            checks: Vec::new(),
            output: None,
            data: OnceCell::new(),
            input_dir: None,
            runner_work_dir: None,
            printed_by_earlier_runners: String::new(),
            run_key: OnceCell::new(),
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

    /// A generator on stream `purpose` of this run's hidden draws (which digits, which plan,
    /// which case is where). It is keyed by a slow hash of the run's seed (see [`run_key`]),
    /// so the candidate's code, which sees the drawn inputs, cannot find the seed by replaying
    /// the draws of candidate seeds faster than one key derivation per seed, within its time
    /// limit.
    pub fn rng(&self, purpose: &str) -> Rng {
        use rand::SeedableRng;
        Rng::from_seed(self.keyed_digest("draw", purpose))
    }

    /// The seed that lab functions taking a number (training a target or a poisoned model,
    /// generating tamper cases) draw from: keyed like [`Context::rng`], never the run's seed.
    pub fn draw_seed(&self) -> u64 {
        let digest = self.keyed_digest("draw-seed", "");
        u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8]))
    }

    /// A seed for the candidate's code (`purpose` names its use), derived from the run's seed
    /// by a slow keyed hash: the same run seed gives the same value, but neither the value nor
    /// the draws it feeds lead back to the run's seed, even a short one (see [`run_key`]).
    pub fn runner_seed(&self, purpose: &str) -> u64 {
        let digest = self.keyed_digest("seed", purpose);
        u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8]))
    }

    /// A generator for the candidate's code (its random starts), keyed like
    /// [`Context::runner_seed`]; the checker's reference attack draws from an identical one.
    pub fn runner_rng(&self, purpose: &str) -> Rng {
        use rand::SeedableRng;
        Rng::from_seed(self.keyed_digest("rng", purpose))
    }

    fn keyed_digest(&self, kind: &str, purpose: &str) -> [u8; 32] {
        use hmac::Mac;
        let key = self
            .run_key
            .get_or_init(|| run_key(self.seed, &self.exercise));
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key)
            .expect("HMAC takes any key length");
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The folder whose files the candidate's code may read, for inputs passed by path; `None`
    /// outside a checker process.
    pub fn input_dir(&self) -> Result<&Path> {
        self.input_dir
            .as_deref()
            .ok_or_else(|| Error::invalid("input folder", "this run has no runner"))
    }

    /// Ends the runner and empties its folder, so that the next call into the candidate's
    /// code starts a new runner that remembers nothing of the calls before: for a harness
    /// whose earlier inputs would give away a later answer (a clean data set, then the same
    /// set with labels flipped).
    pub fn fresh_runner(&mut self) -> Result<()> {
        self.printed_by_earlier_runners += &aisec_wire::client::shutdown();
        let Some(dir) = &self.runner_work_dir else {
            return Ok(());
        };
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
        for entry in entries {
            let path = entry.map_err(|e| Error::io("listing", dir, e))?.path();
            let removed = if path.is_dir() && !path.is_symlink() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(|e| Error::io("removing", &path, e))?;
        }
        Ok(())
    }

    /// The runner's resident memory now and its peak since the last [`Context::reset_runner_peak`],
    /// in KiB, read from outside it (Linux `/proc`); `None` before the first call or elsewhere.
    pub fn runner_memory_kib(&self) -> Option<(u64, u64)> {
        let pid = aisec_wire::client::runner_pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |key: &str| -> Option<u64> {
            let line = status.lines().find(|l| l.starts_with(key))?;
            line.split_whitespace().nth(1)?.parse().ok()
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// Resets the runner's peak-memory mark to its current use (Linux 4.0+); false if it
    /// could not.
    pub fn reset_runner_peak(&self) -> bool {
        aisec_wire::client::runner_pid()
            .is_some_and(|pid| std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok())
    }

    /// The lab.
    pub fn lab(&self) -> &LabRoot {
        &self.lab
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

    /// Records a check. Its name must be one `[[checks]]` in `exercise.toml` declares (which
    /// also says whether it is a core check); an undeclared one is recorded as a failed
    /// `grading` check instead, since the grader would refuse the result.
    pub fn check(
        &mut self,
        name: &str,
        passed: bool,
        measured: impl Into<String>,
        bar: impl Into<String>,
        hint: &str,
    ) {
        let Some(declared) = exercise::declared(&self.declared, name) else {
            self.checks.push(CheckResult::grading_failure(
                format!("the harness recorded an undeclared check {name:?}"),
                "every check declared in [[checks]] of exercise.toml",
                "a fault of the lab, not of your code: declare the check",
            ));
            return;
        };
        let core = declared.core;
        self.checks.push(CheckResult {
            name: name.to_owned(),
            passed,
            measured: measured.into(),
            bar: bar.into(),
            hint: hint.to_owned(),
            core,
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

/// PBKDF2 rounds for [`run_key`]: about a tenth of a second here, so trying every seed of a
/// short range from what the runner sees costs a tenth of a second per seed.
const RUN_KEY_ROUNDS: u32 = 600_000;

/// The key of every draw of a run, the checker's and the candidate's: PBKDF2-HMAC-SHA256 of
/// the run's seed, salted with the exercise id.
fn run_key(seed: u64, exercise: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    let salt = format!("aisec-lab run draws v2 {exercise}");
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
        seed.to_string().as_bytes(),
        salt.as_bytes(),
        RUN_KEY_ROUNDS,
        &mut key,
    );
    key
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

/// What the grader asks of the checker, sent on the checker's socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Which part of the harness to run.
    pub mode: Mode,
    /// The seed of the hidden draws.
    pub seed: u64,
    /// The lab (its models and data), trusted: verified before the build.
    pub lab: PathBuf,
    /// Where pictures go (default `out/<exercise>/` in the lab).
    pub out_dir: Option<PathBuf>,
    /// Address-space limit of the checker itself, MiB.
    pub memory_mib: u64,
    /// Print JSON instead of tables (run and demo modes).
    pub json: bool,
    /// Colour on stdout.
    pub color: bool,
    /// Demo options given on the command line, over the `[demo]` table's defaults.
    #[serde(default)]
    pub options: serde_json::Map<String, serde_json::Value>,
    /// How to start the runner that holds the candidate's code.
    pub runner: RunnerSpec,
}

/// How the checker starts the runner: a trusted launcher applies `policy` to itself, then
/// executes `binary`, with a clean environment and `work_dir` as its current folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerSpec {
    /// The trusted binary that confines and then executes the runner (the `aisec` binary).
    pub launcher: PathBuf,
    /// The runner binary (the candidate's crate, the SDK and the generated adapter).
    pub binary: PathBuf,
    /// What the runner may do.
    pub policy: aisec_sandbox::Policy,
    /// The runner's current folder, `HOME` and `TMPDIR`: the one folder it may write.
    pub work_dir: PathBuf,
    /// Files the checker hands the candidate's code by path (readable by the runner).
    pub input_dir: PathBuf,
    /// Worker threads for the runner's numeric kernels.
    pub threads: usize,
}

/// The longest request the checker reads.
const MAX_REQUEST_BYTES: u64 = 1 << 20;

fn read_request(
    socket: &mut std::os::unix::net::UnixStream,
) -> std::result::Result<Request, String> {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(std::io::Read::take(&mut *socket, MAX_REQUEST_BYTES))
        .read_line(&mut line)
        .map_err(|e| format!("reading the request: {e}"))?;
    serde_json::from_str(&line).map_err(|e| format!("the request is not valid: {e}"))
}

fn limit_memory(megabytes: u64) {
    let bytes = megabytes.saturating_mul(1 << 20);
    // Failing to set the limit only weakens the checker's own guard; the grader still
    // enforces time.
    let _ = rlimit::setrlimit(rlimit::Resource::AS, bytes, bytes);
}

/// The demo options: the `[demo]` table with the command line's values on top, as `D`.
fn demo_options<D: DeserializeOwned>(
    manifest: &ExerciseManifest,
    given: &serde_json::Map<String, serde_json::Value>,
) -> Result<D> {
    let mut options = serde_json::to_value(&manifest.demo)
        .map_err(|e| Error::invalid("the [demo] table", e.to_string()))?;
    if let Some(table) = options.as_object_mut() {
        table.extend(given.clone());
    }
    serde_json::from_value(options).map_err(|e| {
        Error::invalid(
            format!("demo options of {}", manifest.id),
            format!("{e} (set them with --set key=value)"),
        )
    })
}

/// What the checker of the exercise reads from `exercise.toml`, typed; an error stops it
/// before any candidate code runs.
struct Loaded<S, B, D> {
    manifest: ExerciseManifest,
    settings: S,
    bars: B,
    demo: Option<D>,
}

fn load<S: DeserializeOwned, B: DeserializeOwned, D: DeserializeOwned>(
    exercise_toml: &str,
    request: &Request,
) -> Result<Loaded<S, B, D>> {
    let toml: toml::Table = toml::from_str(exercise_toml)
        .map_err(|e| Error::malformed("exercise.toml", e.message().to_owned()))?;
    let id = toml
        .get("id")
        .and_then(toml::Value::as_str)
        .unwrap_or_default();
    let manifest = ExerciseManifest::parse(exercise_toml, Path::new("exercise.toml"), id)?;
    Ok(Loaded {
        settings: manifest.section(Section::Settings)?,
        bars: manifest.section(Section::Bars)?,
        demo: match request.mode {
            Mode::Demo => Some(demo_options(&manifest, &request.options)?),
            Mode::Check | Mode::Run => None,
        },
        manifest,
    })
}

/// Sets up how the runner is started, on the first call into the candidate's code.
fn install_runner(spec: RunnerSpec) {
    let memory = spec.policy.address_space_mib.unwrap_or(0);
    let spawn = move || -> std::io::Result<std::process::Child> {
        let mut command = aisec_sandbox::command(&spec.launcher, &spec.policy, &spec.binary, &[])
            .map_err(std::io::Error::other)?;
        command
            .current_dir(&spec.work_dir)
            .env("HOME", &spec.work_dir)
            .env("TMPDIR", &spec.work_dir)
            .env("RAYON_NUM_THREADS", spec.threads.to_string())
            .env("CANDLE_NUM_THREADS", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command.spawn()
    };
    aisec_wire::client::install(Box::new(spawn), memory);
}

/// The checker program's `main`: reads the [`Request`] from the socket on stdin, runs
/// `entry`'s function for the mode with the candidate's functions in a sandboxed runner, and
/// writes the result back on the socket. Exit code 0 when a result was written, 2 otherwise.
pub fn main<S: DeserializeOwned, B: DeserializeOwned, D: DeserializeOwned>(
    exercise_toml: &str,
    entry: Entry<S, B, D>,
) -> ExitCode {
    // SAFETY: the generated `main` calls this first, before any thread starts.
    #[allow(unsafe_code)]
    unsafe {
        crate::runtime::configure_threads(None);
    }
    let socket = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(std::os::unix::net::UnixStream::from);
    let mut socket = match socket {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!("checker: standard input is not the grader's socket: {e}");
            return ExitCode::from(2);
        }
    };
    let request = match read_request(&mut socket) {
        Ok(request) => request,
        Err(message) => {
            eprintln!("checker: {message}");
            return ExitCode::from(2);
        }
    };
    limit_memory(request.memory_mib);
    let loaded: Loaded<S, B, D> = match load(exercise_toml, &request) {
        Ok(loaded) => loaded,
        Err(e) => {
            let refusal = HarnessResult {
                schema: RESULT_SCHEMA.to_owned(),
                exercise: toml::from_str::<toml::Table>(exercise_toml)
                    .ok()
                    .and_then(|t| t.get("id")?.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                seed: request.seed,
                outcome: Outcome::Refused,
                checks: Vec::new(),
                message: Some(e.to_string()),
                output: None,
            };
            return send(&mut socket, &refusal);
        }
    };
    let mut context = Context::new(&loaded.manifest, request.seed, LabRoot::at(&request.lab));
    let id = loaded.manifest.id.clone();
    context.json = request.json;
    context.color = request.color;
    context.input_dir = Some(request.runner.input_dir.clone());
    context.runner_work_dir = Some(request.runner.work_dir.clone());
    if let Some(out) = &request.out_dir {
        context.out_dir = out.clone();
    }
    install_runner(request.runner.clone());

    std::panic::set_hook(Box::new(|info| {
        let text = panic_text(info);
        eprintln!("checker panicked: {text}");
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(text);
        }
    }));
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let (settings, context) = (&loaded.settings, &mut context);
        match (request.mode, &loaded.demo) {
            (Mode::Check, _) => (entry.check)(context, settings, &loaded.bars),
            (Mode::Run, _) => (entry.run)(context, settings),
            (Mode::Demo, Some(options)) => (entry.demo)(context, settings, options),
            (Mode::Demo, None) => Err(Error::invalid("demo", "the options were not loaded")),
        }
    }));
    let (outcome, message) = match ran {
        Ok(Ok(())) => (Outcome::Completed, None),
        Ok(Err(e)) => {
            context.checks.push(CheckResult::grading_failure(
                format!("could not be graded: {e}"),
                "gradable output",
                "see the message",
            ));
            (Outcome::Completed, Some(e.to_string()))
        }
        Err(payload) => match payload.downcast::<aisec_wire::client::Failure>() {
            Ok(failure) => match *failure {
                aisec_wire::client::Failure::NotStarted(text) => (Outcome::NotStarted, Some(text)),
                other => (Outcome::Crashed, Some(other.to_string())),
            },
            Err(_) => {
                let text = LAST_PANIC
                    .lock()
                    .ok()
                    .and_then(|mut p| p.take())
                    .unwrap_or_else(|| "unknown panic".into());
                (
                    Outcome::Crashed,
                    Some(format!("the checker itself panicked: {text}")),
                )
            }
        },
    };
    let printed = context.printed_by_earlier_runners.clone() + &aisec_wire::client::shutdown();
    if request.mode != Mode::Check && !printed.trim().is_empty() {
        eprintln!("your code printed:\n{}", printable(&printed));
    }
    let result = HarnessResult {
        schema: RESULT_SCHEMA.to_owned(),
        exercise: id,
        seed: request.seed,
        outcome,
        checks: context.checks,
        message,
        output: context.output,
    };
    send(&mut socket, &result)
}

/// Writes `result` on the grader's socket; the checker's exit code.
fn send(socket: &mut std::os::unix::net::UnixStream, result: &HarnessResult) -> ExitCode {
    let written = serde_json::to_string(result)
        .map_err(|e| e.to_string())
        .and_then(|text| {
            use std::io::Write;
            socket
                .write_all(text.as_bytes())
                .and_then(|()| socket.shutdown(std::net::Shutdown::Write))
                .map_err(|e| e.to_string())
        });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("checker: could not send the result: {e}");
            ExitCode::from(2)
        }
    }
}

/// `text` without control characters other than newlines and tabs, so text the candidate's
/// code wrote (its prints, its prompts, a model's reply to them) cannot drive the terminal.
pub fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}
