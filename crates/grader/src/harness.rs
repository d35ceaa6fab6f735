//! Building and running an exercise: two programs per exercise, generated as cargo packages
//! under the target folder (each its own `[workspace]`, so a broken exercise cannot break the
//! lab's build).
//!
//! - The *checker* (trusted): the exercise's `harness.rs` with `aisec-lab`'s runtime, and the
//!   exercise's `api.rs` expanded into functions that call the runner. It holds the seed, the
//!   draws, the ground truth and the bars. It never links the candidate's code.
//! - The *runner* (untrusted): the candidate's crate, the SDK and a generated adapter. The
//!   candidate's files are copied (regular files only) into a staging package and compiled by a
//!   cargo confined like the runner itself, so `include_str!`, `#[path]` and symbolic links
//!   cannot read the lab, the reference solutions or the system. Reference solutions (demos,
//!   `aisec dev check`) build unconfined in the lab's own target folder, never where candidate
//!   builds can read.
//!
//! Every build runs with a clean environment from a folder outside the lab, so no
//! `.cargo/config.toml`, `rust-toolchain` file or `RUSTFLAGS` of the lab can steer it. Both
//! binaries are hashed after the build and copied into a private folder per run, where the
//! hashes are checked again before they execute.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aisec_lab::LabRoot;
use aisec_lab::exercise::{DeclaredCheck, GRADING_CHECK};
use aisec_lab::harness::{HarnessResult, Mode, RESULT_SCHEMA, Request, RunnerSpec};
use aisec_sandbox::{Level, Policy, Sockets};
use sha2::{Digest, Sha256};

use crate::build_cache::BuildCache;
use crate::error::{Error, Result};
use crate::exercise::Exercise;
use crate::report;

/// Which crate fills the exercise's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The candidate's crate, `exercises/<id>/`.
    Exercise,
    /// The reference solution, `solutions/<id>/`.
    Solution,
}

/// The build folder: `CARGO_TARGET_DIR` if set, else the lab's `target/`.
pub fn target_dir(lab: &LabRoot) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| lab.path().join("target"), PathBuf::from)
}

/// Where candidates' runners are built: a target folder of their own, which holds nothing but
/// the SDK, the protocol crate and candidates' crates.
fn candidate_target(target: &Path) -> PathBuf {
    target.join("aisec/candidate")
}

/// A short tag of the lab's location, so labs sharing a target folder never share packages.
fn lab_tag(lab: &LabRoot) -> String {
    let digest = Sha256::digest(lab.path().to_string_lossy().as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// A short tag of what a generated package of `exercise` is built from: the shared crates it
/// links, the lab's profiles and lock file, and its own `sources` (name, bytes). Labs with the
/// same sources (every copy `aisec grade` makes of the issuer's lab, each temporary lab a test
/// makes) so share one package, its artefacts and its build record.
fn package_tag<'a>(
    lab: &LabRoot,
    exercise: &Exercise,
    crates: &Path,
    profiles: &str,
    sources: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> String {
    let lock = lab_lock(lab);
    let crates_path = crates.to_string_lossy();
    let mut parts: Vec<(&str, &[u8])> = vec![
        ("id", exercise.id().as_bytes()),
        ("crates", crates_path.as_bytes()),
        ("profiles", profiles.as_bytes()),
        ("Cargo.lock", &lock),
    ];
    let sources: Vec<(&str, &[u8])> = sources.collect();
    parts.extend(sources.iter().copied());
    tree_digest(parts.into_iter())[..16].to_owned()
}

/// The bytes of a file the lab must have.
fn read_lab_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io("reading", path, e))
}

/// The lab's `Cargo.lock`, or nothing if it has none.
fn lab_lock(lab: &LabRoot) -> Vec<u8> {
    std::fs::read(lab.path().join("Cargo.lock")).unwrap_or_default()
}

/// The lab's library crates that generated packages depend on, with the root manifest they
/// inherit settings from.
const SHARED_CRATES: [&str; 5] = [
    "crates/sdk",
    "crates/wire",
    "crates/sandbox",
    "crates/llm",
    "crates/lab",
];

/// A copy of the lab's library crates ([`SHARED_CRATES`] and the root `Cargo.toml`) in
/// `target/aisec/crates/<digest>/`, named by the digest of their contents.
///
/// Generated packages depend on this copy rather than on the lab's own folders, so labs with
/// the same crates (every copy `aisec grade` makes of the issuer's lab, a returned bundle
/// graded twice) compile them once per target folder instead of once per location. The copy
/// is written once, completely, then renamed into place, and checked against its name before
/// every use; the candidate's code can write neither it nor the target folder.
fn shared_crates(lab: &LabRoot, target: &Path) -> Result<PathBuf> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let root_manifest = lab.path().join("Cargo.toml");
    files.push((
        "Cargo.toml".into(),
        std::fs::read(&root_manifest).map_err(|e| Error::io("reading", &root_manifest, e))?,
    ));
    for krate in SHARED_CRATES {
        let dir = lab.path().join(krate);
        for file in aisec_lab::manifest::list_files(&dir)? {
            let path = dir.join(&file);
            let bytes = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
            files.push((format!("{krate}/{file}"), bytes));
        }
    }
    files.sort();
    let digest = tree_digest(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
    let parent = target.join("aisec/crates");
    let dir = parent.join(&digest[..16]);
    if dir.is_dir() {
        if copied_digest(&dir).as_deref() == Some(digest.as_str()) {
            return Ok(dir);
        }
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io("removing", &dir, e))?;
    }
    std::fs::create_dir_all(&parent).map_err(|e| Error::io("creating", &parent, e))?;
    let fresh = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&parent)
        .map_err(|e| Error::io("creating a folder in", &parent, e))?;
    for (file, bytes) in &files {
        let to = fresh.path().join(file);
        if let Some(folder) = to.parent() {
            std::fs::create_dir_all(folder).map_err(|e| Error::io("creating", folder, e))?;
        }
        std::fs::write(&to, bytes).map_err(|e| Error::io("writing", &to, e))?;
    }
    let staged = fresh.keep();
    if std::fs::rename(&staged, &dir).is_err() {
        // Another grader put the same crates in place first: use its copy.
        let _ = std::fs::remove_dir_all(&staged);
        if copied_digest(&dir).as_deref() != Some(digest.as_str()) {
            return Err(Error::Tool(format!(
                "could not put the lab's crates in place at {}",
                dir.display()
            )));
        }
    }
    Ok(dir)
}

/// sha256 over `(path, contents)` pairs, sorted by path, each length-prefixed.
fn tree_digest<'a>(files: impl Iterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut hasher = Sha256::new();
    for (path, bytes) in files {
        hasher.update((path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The digest of a copy made by [`shared_crates`], recomputed from its files.
fn copied_digest(dir: &Path) -> Option<String> {
    let mut files = Vec::new();
    for file in aisec_lab::manifest::list_files(dir).ok()? {
        let bytes = std::fs::read(dir.join(&file)).ok()?;
        files.push((file, bytes));
    }
    files.sort();
    Some(tree_digest(
        files.iter().map(|(p, b)| (p.as_str(), b.as_slice())),
    ))
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn path_string(p: &Path) -> String {
    toml_string(&p.to_string_lossy())
}

/// The most a candidate's files may hold, in all.
const MAX_STUDENT_BYTES: u64 = 4 << 20;
/// The most files a candidate's `src/` may hold.
const MAX_STUDENT_FILES: usize = 256;

/// The two programs of an exercise, built.
#[derive(Debug, Clone)]
pub struct Built {
    /// The checker binary.
    pub checker: PathBuf,
    /// Its sha256 right after the build.
    pub checker_sha256: String,
    /// The runner binary.
    pub runner: PathBuf,
    /// Its sha256 right after the build.
    pub runner_sha256: String,
    /// The sandbox level the run will enforce.
    pub level: Level,
    /// The exercise they grade.
    pub exercise: String,
    /// The checks its manifest declares, the only ones a result may hold.
    pub checks: Vec<DeclaredCheck>,
    /// The private folder the binaries were copied into, removed with the last clone.
    _private: std::sync::Arc<tempfile::TempDir>,
}

/// The result of building an exercise.
#[derive(Debug)]
pub enum Build {
    /// Both programs built.
    Ready(Built),
    /// The candidate's code did not compile, or its files are not acceptable; the messages.
    Failed(String),
}

/// Builds the checker and the runner of `exercise` (`variant` says whose crate fills it) in
/// `target`.
pub fn build(lab: &LabRoot, exercise: &Exercise, variant: Variant, target: &Path) -> Result<Build> {
    let level = aisec_sandbox::probe();
    let crates = shared_crates(lab, target)?;
    let cache = BuildCache::new(target);
    // The binaries that will run are private copies, taken (and hashed) right after each
    // build: nothing untrusted runs between a build and its copy, and the runner can write
    // neither the target folders nor the copies' folder.
    let private = tempfile::Builder::new()
        .prefix("aisec-bin-")
        .tempdir()
        .map_err(|e| Error::io("creating a folder in", std::env::temp_dir(), e))?;
    let checker = private.path().join("checker");
    let runner = private.path().join("runner");
    let checker_sha256 = build_checker(lab, exercise, target, &crates, &cache, &checker)?;
    let runner_sha256 = match variant {
        Variant::Solution => {
            build_solution_runner(lab, exercise, target, &crates, &cache, &runner)?
        }
        Variant::Exercise => {
            match build_candidate_runner(lab, exercise, target, &crates, level, &cache, &runner)? {
                Ok(sha256) => sha256,
                Err(messages) => return Ok(Build::Failed(messages)),
            }
        }
    };
    Ok(Build::Ready(Built {
        checker,
        checker_sha256,
        runner,
        runner_sha256,
        level,
        exercise: exercise.id().to_owned(),
        checks: exercise.manifest.checks.clone(),
        _private: std::sync::Arc::new(private),
    }))
}

/// Builds `package` in `target` by running `cargo` (unless `cache` shows its binary current)
/// and copies the binary to `to`, returning the copy's sha256; the output of a failed build.
fn build_copied(
    package: &Package,
    target: &Path,
    cache: &BuildCache,
    to: &Path,
    cargo: impl FnOnce() -> Result<std::process::Output>,
) -> Result<std::result::Result<String, std::process::Output>> {
    let binary = package.binary(target);
    if let Some(expected) = cache.current(&package.name, &package.dir) {
        if binary.is_file() {
            let sha256 = copy_hashed(&binary, to)?;
            if sha256 == expected {
                return Ok(Ok(sha256));
            }
            std::fs::remove_file(to).map_err(|e| Error::io("removing", to, e))?;
        }
    }
    cache.forget(&package.name);
    let output = cargo()?;
    if !(output.status.success() && binary.is_file()) {
        return Ok(Err(output));
    }
    let sha256 = copy_hashed(&binary, to)?;
    cache.remember(&package.name, &package.dir, &binary, &sha256)?;
    Ok(Ok(sha256))
}

/// Copies `from` to `to` (executable, read-only) and returns the sha256 of the bytes written.
fn copy_hashed(from: &Path, to: &Path) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let (_, sha256) = aisec_lab::manifest::sha256_copy(from, to)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o500))
        .map_err(|e| Error::io("protecting", to, e))?;
    Ok(sha256)
}

/// A generated cargo package: its folder, package name and binary.
struct Package {
    dir: PathBuf,
    name: String,
}

impl Package {
    fn binary(&self, target: &Path) -> PathBuf {
        target
            .join("release")
            .join(format!("{}{}", self.name, std::env::consts::EXE_SUFFIX))
    }

    fn write(&self, lab: &LabRoot, manifest: &str, main: &str) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io("creating", &self.dir, e))?;
        write_if_changed(&self.dir.join("Cargo.toml"), manifest)?;
        write_if_changed(&self.dir.join("main.rs"), main)?;
        let lock = lab.path().join("Cargo.lock");
        if lock.is_file() && !self.dir.join("Cargo.lock").is_file() {
            std::fs::copy(&lock, self.dir.join("Cargo.lock"))
                .map_err(|e| Error::io("copying", &lock, e))?;
        }
        Ok(())
    }
}

/// Builds the checker of `exercise` and copies it to `to`; its sha256.
fn build_checker(
    lab: &LabRoot,
    exercise: &Exercise,
    target: &Path,
    crates: &Path,
    cache: &BuildCache,
    to: &Path,
) -> Result<String> {
    let root = lab.path();
    // The checker is built from copies of the exercise's three lab files, in a package named
    // for their content and the crates it links, never for the lab's location.
    let sources = [
        ("api.rs", read_lab_file(&exercise.dir.join("api.rs"))?),
        ("harness.rs", read_lab_file(&exercise.harness_path())?),
        (
            "exercise.toml",
            read_lab_file(&exercise.dir.join("exercise.toml"))?,
        ),
    ];
    let profiles = lab_profiles(root)?;
    let tag = package_tag(
        lab,
        exercise,
        crates,
        &profiles,
        sources
            .iter()
            .map(|(name, bytes)| (*name, bytes.as_slice())),
    );
    let name = format!("aisec-checker-{}-{tag}", exercise.id());
    let package = Package {
        dir: target.join("aisec/checker").join(&name),
        name,
    };
    let copied = package.dir.join("sources");
    std::fs::create_dir_all(&copied).map_err(|e| Error::io("creating", &copied, e))?;
    for (file, bytes) in &sources {
        write_bytes_if_changed(&copied.join(file), bytes)?;
    }
    // The candidate-facing functions, as calls into the runner, are a crate of their own named
    // `exercise`, so the harness calls `exercise::fgsm(...)` as if it were the candidate's.
    // Its package name is unique: cargo tells path packages apart by name and relative path.
    let stubs_name = format!("aisec-stubs-{}-{tag}", exercise.id());
    let stubs = package.dir.join("exercise");
    std::fs::create_dir_all(&stubs).map_err(|e| Error::io("creating", &stubs, e))?;
    write_if_changed(
        &stubs.join("Cargo.toml"),
        &format!(
            "# Generated by aisec for exercise {id}: do not edit.\n\
             [package]\nname = {stubs}\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [lib]\npath = \"lib.rs\"\n\n\
             [dependencies]\naisec-sdk = {{ path = {sdk} }}\naisec-wire = {{ path = {wire} }}\n",
            id = exercise.id(),
            stubs = toml_string(&stubs_name),
            sdk = path_string(&crates.join("crates/sdk")),
            wire = path_string(&crates.join("crates/wire")),
        ),
    )?;
    write_if_changed(
        &stubs.join("lib.rs"),
        &format!(
            "// Generated by aisec for exercise {id}: do not edit.
             //! The candidate's functions of exercise {id}, each a call into the runner.
             macro_rules! exercise_api {{ ($($t:tt)*) => {{ aisec_wire::client! {{ $($t)* }} }}; }}
             include!({api:?});
",
            id = exercise.id(),
            api = copied.join("api.rs").to_string_lossy(),
        ),
    )?;
    let manifest = format!(
        "# Generated by aisec for exercise {id}: do not edit.\n\
         [package]\nname = {name}\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [[bin]]\nname = {name}\npath = \"main.rs\"\n\n\
         [dependencies]\n\
         aisec-sdk = {{ path = {sdk} }}\n\
         aisec-lab = {{ path = {lab_crate} }}\n\
         serde = {{ version = \"1\", features = [\"derive\"] }}\n\
         exercise = {{ package = {stubs}, path = \"exercise\" }}\n\n\
         [workspace]\n\n{profiles}",
        id = exercise.id(),
        name = toml_string(&package.name),
        stubs = toml_string(&stubs_name),
        sdk = path_string(&crates.join("crates/sdk")),
        lab_crate = path_string(&crates.join("crates/lab")),
    );
    let main = format!(
        "// Generated by aisec for exercise {id}: do not edit.\n\
         #[path = {harness:?}]\nmod harness;\n\n\
         #[global_allocator]\n\
         static ALLOCATOR: aisec_lab::runtime::Allocator = aisec_lab::runtime::Allocator;\n\n\
         fn main() -> std::process::ExitCode {{\n    \
         aisec_lab::harness::main(\n        include_str!({toml:?}),\n        \
         aisec_lab::harness::Entry {{ check: harness::check, run: harness::run, demo: harness::demo }},\n    )\n}}\n",
        id = exercise.id(),
        harness = copied.join("harness.rs").to_string_lossy(),
        toml = copied.join("exercise.toml").to_string_lossy(),
    );
    package.write(lab, &manifest, &main)?;
    build_lab_package(
        &package,
        target,
        cache,
        to,
        &format!("the checker of {} (the lab's own code)", exercise.id()),
    )
}

/// Builds a package of the lab's own code (unconfined) and copies its binary to `to`; its
/// sha256. A compile error is the lab's fault, reported as a tool error naming `what`.
fn build_lab_package(
    package: &Package,
    target: &Path,
    cache: &BuildCache,
    to: &Path,
    what: &str,
) -> Result<String> {
    build_copied(package, target, cache, to, || {
        cargo_build(package, target, None)
    })?
    .map_err(|output| {
        Error::Tool(format!(
            "{what} does not compile:\n{}",
            compiler_messages(&String::from_utf8_lossy(&output.stderr))
        ))
    })
}

/// The runner's generated `main.rs`: the API declaration expanded into a dispatch over the
/// crate `exercise`, served on stdin and stdout.
fn runner_main(id: &str, api: &str) -> String {
    format!(
        "// Generated by aisec for exercise {id}: do not edit.\n\
         macro_rules! exercise_api {{ ($($t:tt)*) => {{ aisec_wire::server! {{ exercise; $($t)* }} }}; }}\n\
         include!({api:?});\n\n\
         #[global_allocator]\nstatic ALLOCATOR: aisec_wire::Allocator = aisec_wire::Allocator;\n\n\
         fn main() -> std::process::ExitCode {{\n    aisec_wire::runner::serve(dispatch)\n}}\n"
    )
}

fn runner_manifest(
    id: &str,
    name: &str,
    crates: &Path,
    crate_name: &str,
    crate_path: &str,
) -> Result<String> {
    Ok(format!(
        "# Generated by aisec for exercise {id}: do not edit.\n\
         [package]\nname = {name}\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [[bin]]\nname = {name}\npath = \"main.rs\"\n\n\
         [dependencies]\n\
         aisec-sdk = {{ path = {sdk} }}\n\
         aisec-wire = {{ path = {wire} }}\n\
         exercise = {{ package = {crate_name}, path = {crate_path} }}\n\n\
         [workspace]\n\n{profiles}",
        name = toml_string(name),
        sdk = path_string(&crates.join("crates/sdk")),
        wire = path_string(&crates.join("crates/wire")),
        crate_name = toml_string(crate_name),
        crate_path = toml_string(crate_path),
        profiles = lab_profiles(crates)?,
    ))
}

/// Builds the runner of `exercise` around its reference solution and copies it to `to`; its
/// sha256.
fn build_solution_runner(
    lab: &LabRoot,
    exercise: &Exercise,
    target: &Path,
    crates: &Path,
    cache: &BuildCache,
    to: &Path,
) -> Result<String> {
    let crate_dir = lab.solutions().join(exercise.id());
    if !crate_dir.join("Cargo.toml").is_file() {
        return Err(Error::Usage(format!(
            "exercise {} has no reference solution at {}",
            exercise.id(),
            crate_dir.display()
        )));
    }
    let mut sources = Vec::new();
    for file in aisec_lab::manifest::list_files(&crate_dir.join("src"))? {
        let path = crate_dir.join("src").join(&file);
        sources.push((format!("src/{file}"), read_lab_file(&path)?));
    }
    let api = read_lab_file(&exercise.dir.join("api.rs"))?;
    let profiles = lab_profiles(lab.path())?;
    // Named for its content (see `build_checker`); the solution crate too, since cargo would
    // otherwise give every such crate, at the same place relative to its runner and linking
    // the same SDK, one artefact.
    let tag = package_tag(
        lab,
        exercise,
        crates,
        &profiles,
        std::iter::once(("api.rs", api.as_slice())).chain(
            sources
                .iter()
                .map(|(name, bytes)| (name.as_str(), bytes.as_slice())),
        ),
    );
    let name = format!("aisec-runner-{}-solution-{tag}", exercise.id());
    let package = Package {
        dir: target.join("aisec/runner").join(&name),
        name,
    };
    // The solution crate is mirrored beside the runner with a generated manifest, so that it
    // links the same copy of the SDK as the runner (see `shared_crates`).
    let mirrored = package.dir.join("exercise");
    mirror(&sources, &mirrored)?;
    let solution = format!("{}-solution-{tag}", exercise.id());
    write_if_changed(
        &mirrored.join("Cargo.toml"),
        &crate_manifest(&solution, crates),
    )?;
    write_bytes_if_changed(&package.dir.join("api.rs"), &api)?;
    let manifest = runner_manifest(exercise.id(), &package.name, crates, &solution, "exercise")?;
    package.write(lab, &manifest, &runner_main(exercise.id(), "api.rs"))?;
    build_lab_package(
        &package,
        target,
        cache,
        to,
        &format!("the reference solution of {}", exercise.id()),
    )
}

/// Copies the candidate's files into `dest`: regular files only, under `src/` and the listed
/// student files, within size caps. `Err` with a message for the candidate otherwise. Files
/// whose content is already there are left alone (so cargo sees nothing new and does not
/// rebuild), and files that are no longer the candidate's are removed.
fn stage_student_files(
    exercise: &Exercise,
    dest: &Path,
) -> Result<std::result::Result<(), String>> {
    let mut files = Vec::new();
    if let Err(reason) = student_tree(&exercise.dir, "src", &mut files) {
        return Ok(Err(reason));
    }
    for listed in &exercise.manifest.student_files {
        if !files.contains(listed) {
            if let Err(reason) = student_tree(&exercise.dir, listed, &mut files) {
                return Ok(Err(reason));
            }
        }
    }
    if files.len() > MAX_STUDENT_FILES {
        return Ok(Err(format!(
            "{} student files: at most {MAX_STUDENT_FILES} are accepted",
            files.len()
        )));
    }
    let mut total = 0u64;
    let mut contents = Vec::new();
    for file in &files {
        let from = exercise.dir.join(file);
        let bytes = std::fs::read(&from).map_err(|e| Error::io("reading", &from, e))?;
        total += bytes.len() as u64;
        if total > MAX_STUDENT_BYTES {
            return Ok(Err(format!(
                "the student files hold more than {} MiB: keep the exercise's sources small",
                MAX_STUDENT_BYTES >> 20
            )));
        }
        contents.push(bytes);
    }
    let files: Vec<(String, Vec<u8>)> = files.into_iter().zip(contents).collect();
    mirror(&files, dest)?;
    Ok(Ok(()))
}

/// The manifest of a crate the runner links (the candidate's or a reference solution): the
/// SDK of `crates` as its one dependency.
fn crate_manifest(name: &str, crates: &Path) -> String {
    format!(
        "[package]\nname = {name}\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [lib]\npath = \"src/lib.rs\"\n\n[dependencies]\naisec-sdk = {{ path = {sdk} }}\n",
        name = toml_string(name),
        sdk = path_string(&crates.join("crates/sdk")),
    )
}

/// Makes `dest/src/` hold exactly `files` (paths relative to `dest`, under `src/`), rewriting
/// only what changed so that cargo rebuilds only what changed; the generated manifest beside
/// them stays.
fn mirror(files: &[(String, Vec<u8>)], dest: &Path) -> Result<()> {
    let staged_src = dest.join("src");
    if staged_src.is_dir() {
        for old in aisec_lab::manifest::list_files(&staged_src)? {
            let relative = format!("src/{old}");
            if !files.iter().any(|(f, _)| *f == relative) {
                let path = dest.join(&relative);
                std::fs::remove_file(&path).map_err(|e| Error::io("removing", &path, e))?;
            }
        }
    }
    for (file, bytes) in files {
        let to = dest.join(file);
        if std::fs::read(&to).ok().as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
        }
        // A file, never a link: replace whatever is there.
        let _ = std::fs::remove_file(&to);
        std::fs::write(&to, bytes).map_err(|e| Error::io("writing", &to, e))?;
    }
    Ok(())
}

/// Lists `relative` (a file, or a folder recursively) under `root` into `out`; a symbolic link
/// or anything but a file or folder is refused, by name.
fn student_tree(
    root: &Path,
    relative: &str,
    out: &mut Vec<String>,
) -> std::result::Result<(), String> {
    let path = root.join(relative);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(_) => return Ok(()),
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(format!(
            "{relative} is a symbolic link: student files must be regular files (copy the content in)"
        ));
    }
    if kind.is_file() {
        out.push(relative.to_owned());
        return Ok(());
    }
    if !kind.is_dir() {
        return Err(format!("{relative} is not a regular file"));
    }
    let mut entries: Vec<_> = std::fs::read_dir(&path)
        .map_err(|e| format!("listing {relative}: {e}"))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(format!("{relative} holds a file whose name is not UTF-8"));
        };
        student_tree(root, &format!("{relative}/{name}"), out)?;
        if out.len() > MAX_STUDENT_FILES {
            return Err(format!("more than {MAX_STUDENT_FILES} student files"));
        }
    }
    Ok(())
}

/// Builds the runner of `exercise` around the candidate's crate, confined, and copies it to
/// `to`; its sha256, or the messages for the candidate when their code does not compile.
fn build_candidate_runner(
    lab: &LabRoot,
    exercise: &Exercise,
    target: &Path,
    crates: &Path,
    level: Level,
    cache: &BuildCache,
    to: &Path,
) -> Result<std::result::Result<String, String>> {
    let candidate = candidate_target(target);
    let name = format!("aisec-runner-{}-{}", exercise.id(), lab_tag(lab));
    let package = Package {
        dir: candidate.join("stage").join(&name),
        name,
    };
    let staged = package.dir.join("exercise");
    if let Err(reason) = stage_student_files(exercise, &staged)? {
        return Ok(Err(reason));
    }
    // The candidate's crate manifest is generated, not copied: its one dependency is the SDK.
    // It is named for the lab (see the solution's), so no two labs' candidates share an
    // artefact in the candidate target folder.
    let crate_name = format!("{}-candidate-{}", exercise.id(), lab_tag(lab));
    write_if_changed(
        &staged.join("Cargo.toml"),
        &crate_manifest(&crate_name, crates),
    )?;
    let api = exercise.dir.join("api.rs");
    let declared = std::fs::read_to_string(&api).map_err(|e| Error::io("reading", &api, e))?;
    write_if_changed(&package.dir.join("api.rs"), &declared)?;
    let manifest = runner_manifest(
        exercise.id(),
        &package.name,
        crates,
        &crate_name,
        "exercise",
    )?;
    package.write(lab, &manifest, &runner_main(exercise.id(), "api.rs"))?;
    let confinement = BuildConfinement::new(crates, &candidate, level)?;
    let output = match build_copied(&package, &candidate, cache, to, || {
        cargo_build(&package, &candidate, Some(&confinement))
    })? {
        Ok(sha256) => return Ok(Ok(sha256)),
        Err(output) => output,
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(aisec_sandbox::LEVEL_NOT_REACHED_EXIT)
        || output.status.code() == Some(aisec_sandbox::LAUNCH_FAILED_EXIT)
    {
        return Err(Error::Tool(format!(
            "the confined build of {} could not start: {}",
            exercise.id(),
            stderr.trim()
        )));
    }
    Ok(Err(compiler_messages(&stderr)))
}

/// What a confined candidate build may touch.
struct BuildConfinement {
    policy: Policy,
    tmp: PathBuf,
}

impl BuildConfinement {
    fn new(crates: &Path, candidate: &Path, level: Level) -> Result<BuildConfinement> {
        let tmp = candidate.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
        let mut read: Vec<PathBuf> =
            existing(&["/usr", "/bin", "/lib", "/lib64", "/etc/ld.so.cache"]);
        read.extend(
            [cargo_home(), rustup_home()]
                .into_iter()
                .filter(|p| p.exists()),
        );
        // The SDK and the protocol crate, and the root manifest they inherit settings from.
        read.push(crates.join("crates/sdk"));
        read.push(crates.join("crates/wire"));
        read.push(crates.join("Cargo.toml"));
        let mut write = vec![candidate.to_owned()];
        write.extend(existing(&["/dev/null"]));
        // cargo takes its package-cache lock and records what it used in its home at every
        // build; rustc and cargo write only where they are told, and the candidate's code
        // runs nothing at build time (no build scripts, no proc-macros: the dependency rule).
        write.extend([cargo_home()].into_iter().filter(|p| p.exists()));
        Ok(BuildConfinement {
            policy: Policy {
                read,
                write,
                processes: true,
                sockets: Sockets::UnixOnly,
                address_space_mib: None,
                cpu_seconds: Some(3600),
                open_files: 4096,
                file_size_mib: 8192,
                die_with_parent: true,
                require: level,
            },
            tmp,
        })
    }
}

fn existing(paths: &[&str]) -> Vec<PathBuf> {
    paths
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect()
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from)
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME").map_or_else(|| home().join(".cargo"), PathBuf::from)
}

fn rustup_home() -> PathBuf {
    std::env::var_os("RUSTUP_HOME").map_or_else(|| home().join(".rustup"), PathBuf::from)
}

/// The cargo to build with: the one running us (`CARGO`), else the first on `PATH`.
fn cargo_program() -> PathBuf {
    if let Some(cargo) = std::env::var_os("CARGO") {
        return PathBuf::from(cargo);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("cargo"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("cargo"))
}

/// The environment a build sees: just enough to find the toolchain, nothing that steers it.
pub(crate) fn build_env(command: &mut Command, tmp: &Path) {
    command.env_clear();
    for key in [
        "PATH",
        "HOME",
        "CARGO_HOME",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
    ] {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    command
        .env("TMPDIR", tmp)
        .env("CARGO_TERM_COLOR", "never")
        .env("CARGO_INCREMENTAL", "0");
}

fn cargo_build(
    package: &Package,
    target: &Path,
    confinement: Option<&BuildConfinement>,
) -> Result<std::process::Output> {
    // Run from a fresh folder outside the lab, so cargo and rustup find no configuration or
    // toolchain file of the lab's (or the candidate's).
    let cwd = tempfile::tempdir().map_err(|e| Error::io("creating", std::env::temp_dir(), e))?;
    let args: Vec<std::ffi::OsString> = vec![
        "build".into(),
        "--release".into(),
        "--offline".into(),
        "--quiet".into(),
        "--manifest-path".into(),
        package.dir.join("Cargo.toml").into(),
        "--target-dir".into(),
        target.into(),
    ];
    let cargo = cargo_program();
    let mut command = match confinement {
        None => {
            let mut command = Command::new(&cargo);
            command.args(&args);
            build_env(&mut command, &std::env::temp_dir());
            command
        }
        Some(confinement) => {
            let mut policy = confinement.policy.clone();
            policy.read.push(cwd.path().to_owned());
            policy.read.push(cargo.clone());
            let launcher = std::env::current_exe()
                .map_err(|e| Error::Tool(format!("finding aisec's own binary: {e}")))?;
            let mut command = aisec_sandbox::command(&launcher, &policy, &cargo, &args)
                .map_err(|e| Error::Tool(format!("confining the build: {e}")))?;
            build_env(&mut command, &confinement.tmp);
            command
        }
    };
    command.current_dir(cwd.path()).stdin(Stdio::null());
    command.output().map_err(|e| {
        Error::Tool(format!(
            "could not run cargo ({e}); is the Rust toolchain installed?"
        ))
    })
}

fn write_if_changed(path: &Path, text: &str) -> Result<()> {
    write_bytes_if_changed(path, text.as_bytes())
}

/// Writes `bytes` to `path` unless it already holds them (so cargo sees nothing new).
fn write_bytes_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes).map_err(|e| Error::io("writing", path, e))
}

/// The `[profile.*]` tables of the lab's root manifest, so generated packages build their
/// dependencies exactly as the lab does and reuse them.
fn lab_profiles(root: &Path) -> Result<String> {
    let path = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| Error::manifest(&path, e.to_string()))?;
    let Some(profiles) = table.get("profile") else {
        return Ok(String::new());
    };
    let mut wrapper = toml::Table::new();
    wrapper.insert("profile".into(), profiles.clone());
    toml::to_string(&wrapper).map_err(|e| Error::manifest(&path, e.to_string()))
}

/// The compiler's error messages (warnings and cargo's progress lines left out), at most 60
/// lines.
fn compiler_messages(stderr: &str) -> String {
    let mut kept = Vec::new();
    let mut in_error = false;
    for line in stderr.lines() {
        // A diagnostic starts at column 0 with its level; its snippet lines (`  -->`, `12 | ...`,
        // `   = help`) belong to it.
        if line.starts_with("error") {
            in_error = true;
        } else if line.starts_with("warning") || line.starts_with("note:") {
            in_error = false;
        }
        if in_error && !line.starts_with("error: could not compile") {
            kept.push(line);
        }
    }
    if kept.is_empty() {
        kept = stderr
            .lines()
            .filter(|l| !l.trim_start().starts_with("Compiling "))
            .collect();
    }
    let mut text = kept.iter().take(60).copied().collect::<Vec<_>>().join("\n");
    if kept.len() > 60 {
        text.push_str(&format!("\n... ({} more lines)", kept.len() - 60));
    }
    text
}

/// How to run an exercise.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Check, run or demo.
    pub mode: Mode,
    /// The seed.
    pub seed: u64,
    /// Wall-clock limit of the whole run: checker, runner, pipes and result.
    pub time_limit: Duration,
    /// Address-space limit of the checker and of the runner, MiB.
    pub memory_mb: u64,
    /// Ask for JSON output.
    pub json: bool,
    /// Allow colour on stdout.
    pub color: bool,
    /// Mode options (demo settings).
    pub options: serde_json::Map<String, serde_json::Value>,
    /// Capture stdout instead of passing it through.
    pub capture_stdout: bool,
    /// Capture stderr instead of passing it through.
    pub capture_stderr: bool,
}

/// How a run ended, seen from outside.
#[derive(Debug)]
pub enum RunEnd {
    /// The checker sent a valid result.
    Finished(HarnessResult),
    /// It ran past its time limit and was killed, with everything it started.
    TimedOut,
    /// It ended without a valid result.
    Died(String),
}

/// A finished run.
#[derive(Debug)]
pub struct RunOutput {
    /// How it ended.
    pub end: RunEnd,
    /// Captured stdout (empty when passed through), at most [`MAX_CAPTURED`] bytes.
    pub stdout: String,
    /// Captured stderr (empty when passed through), at most [`MAX_CAPTURED`] bytes.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

/// Captured output kept per stream; the rest is read and dropped.
pub const MAX_CAPTURED: usize = 1 << 20;
/// The largest result accepted from a checker.
const MAX_RESULT_BYTES: u64 = 16 << 20;
/// How long the grader waits for pipes to close once the run's process group is gone.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// Reads a stream to its end on a thread, keeping the first `cap` bytes.
fn capture(
    stream: Option<impl Read + Send + 'static>,
    cap: usize,
) -> Option<std::sync::mpsc::Receiver<Vec<u8>>> {
    stream.map(|mut s| {
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buffer = [0u8; 8192];
            let mut dropped = 0u64;
            while let Ok(n) = s.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                let room = cap.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&buffer[..room]);
                dropped += (n - room) as u64;
            }
            if dropped > 0 {
                kept.extend_from_slice(format!("\n… ({dropped} more bytes dropped)").as_bytes());
            }
            let _ = send.send(kept);
        });
        receive
    })
}

fn collect(receiver: Option<std::sync::mpsc::Receiver<Vec<u8>>>, until: Instant) -> Vec<u8> {
    receiver
        .and_then(|r| {
            r.recv_timeout(until.saturating_duration_since(Instant::now()))
                .ok()
        })
        .unwrap_or_default()
}

/// Kills the process group `group` leads (the checker and the runner it started).
fn kill_group(group: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(group as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

fn wait_with_limit(
    child: &mut Child,
    limit: Duration,
    started: Instant,
) -> Result<Option<std::process::ExitStatus>> {
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| Error::Tool(format!("waiting for the checker: {e}")))?
        {
            return Ok(Some(status));
        }
        if started.elapsed() > limit {
            kill_group(child.id());
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A private folder for one run: the runner's inputs and its work folder, beside the private
/// copies of the binaries.
struct Scratch {
    dir: tempfile::TempDir,
    checker: PathBuf,
    runner: PathBuf,
    input: PathBuf,
    work: PathBuf,
}

impl Scratch {
    fn new(built: &Built) -> Result<Scratch> {
        let dir = tempfile::Builder::new()
            .prefix("aisec-run-")
            .tempdir()
            .map_err(|e| Error::io("creating a run folder in", std::env::temp_dir(), e))?;
        let make = |name: &str| -> Result<PathBuf> {
            let path = dir.path().join(name);
            std::fs::create_dir_all(&path).map_err(|e| Error::io("creating", &path, e))?;
            Ok(path)
        };
        let (input, work) = (make("in")?, make("work")?);
        Ok(Scratch {
            dir,
            checker: built.checker.clone(),
            runner: built.runner.clone(),
            input,
            work,
        })
    }
}

/// Threads of the runner's kernels: the grader's own setting.
fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// The runner's confinement: read its binary, the system's shared libraries, the CPU's
/// description and its inputs; write its work folder; no network, no new processes; the run's
/// memory and time.
fn runner_policy(scratch: &Scratch, request: &RunRequest, level: Level) -> Policy {
    let mut read = vec![scratch.runner.clone(), scratch.input.clone()];
    read.extend(existing(&[
        "/lib",
        "/lib64",
        "/usr/lib",
        "/usr/lib64",
        "/etc/ld.so.cache",
    ]));
    // The matrix kernels size their blocks from the caches described here; without it they
    // fall back to defaults that run training about twice as slowly.
    read.extend(existing(&["/sys/devices/system/cpu"]));
    Policy {
        read,
        write: vec![scratch.work.clone()],
        processes: false,
        sockets: Sockets::None,
        address_space_mib: Some(request.memory_mb),
        cpu_seconds: Some(request.time_limit.as_secs().saturating_mul(2).max(1) + 1),
        open_files: 256,
        file_size_mib: 64,
        die_with_parent: true,
        require: level,
    }
}

/// Runs the built exercise of `lab` as `request` says.
pub fn run(
    lab: &LabRoot,
    built: &Built,
    request: &RunRequest,
    out_dir: Option<&Path>,
) -> Result<RunOutput> {
    let scratch = Scratch::new(built)?;
    let launcher = std::env::current_exe()
        .map_err(|e| Error::Tool(format!("finding aisec's own binary: {e}")))?;
    let checker_request = Request {
        mode: request.mode,
        seed: request.seed,
        lab: lab.path().to_owned(),
        out_dir: out_dir.map(Path::to_owned),
        memory_mib: request.memory_mb,
        json: request.json,
        color: request.color,
        options: request.options.clone(),
        runner: RunnerSpec {
            launcher,
            binary: scratch.runner.clone(),
            policy: runner_policy(&scratch, request, built.level),
            work_dir: scratch.work.clone(),
            input_dir: scratch.input.clone(),
            threads: threads(),
        },
    };
    let (mut ours, theirs) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| Error::Tool(format!("creating the checker's socket: {e}")))?;
    let mut command = Command::new(&scratch.checker);
    command.env_clear();
    for key in ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS", "PATH"] {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    use std::os::unix::process::CommandExt;
    command
        .current_dir(scratch.dir.path())
        .process_group(0)
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(if request.capture_stdout {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .stderr(if request.capture_stderr {
            Stdio::piped()
        } else {
            Stdio::inherit()
        });
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| Error::Tool(format!("could not start the checker: {e}")))?;
    drop(command);
    let out = capture(child.stdout.take(), MAX_CAPTURED);
    let err = capture(child.stderr.take(), MAX_CAPTURED);
    let line = serde_json::to_string(&checker_request).map_err(|e| Error::Tool(e.to_string()))?;
    // A checker that died at once leaves the socket closed: its exit says why, below.
    let _ = ours.write_all(format!("{line}\n").as_bytes());
    let reader = ours.try_clone().ok();
    let result = capture(
        reader.map(|r| r.take(MAX_RESULT_BYTES)),
        MAX_RESULT_BYTES as usize,
    );
    let status = wait_with_limit(&mut child, request.time_limit, started)?;
    let elapsed = started.elapsed();
    // Whatever the checker left behind (its runner) goes with its group.
    kill_group(child.id());
    drop(ours);
    let until = Instant::now() + PIPE_GRACE;
    let stdout = String::from_utf8_lossy(&collect(out, until)).into_owned();
    let stderr = String::from_utf8_lossy(&collect(err, until)).into_owned();
    let result = collect(result, until);
    let end = match status {
        None => RunEnd::TimedOut,
        Some(status) => match accept_result(&result, built, request) {
            Ok(result) if status.success() => RunEnd::Finished(result),
            Ok(_) => RunEnd::Died(format!("the checker exited with {status} after its result")),
            Err(why) if result.is_empty() => {
                RunEnd::Died(describe_checker_death(status, &stderr, &why))
            }
            Err(why) => RunEnd::Died(format!("the checker's result was refused: {why}")),
        },
    };
    Ok(RunOutput {
        end,
        stdout,
        stderr,
        elapsed,
    })
}

/// The checker's result, if it is one for this exercise and this seed, in the expected schema,
/// with only the checks the exercise declares, each once; whether a check is core is taken
/// from the declaration, not from the result.
fn accept_result(
    bytes: &[u8],
    built: &Built,
    request: &RunRequest,
) -> std::result::Result<HarnessResult, String> {
    let result: HarnessResult =
        serde_json::from_slice(bytes).map_err(|e| format!("not a result ({e})"))?;
    if result.schema != RESULT_SCHEMA {
        return Err(format!(
            "schema {:?}, expected {RESULT_SCHEMA:?}",
            result.schema
        ));
    }
    if result.exercise != built.exercise {
        return Err(format!(
            "exercise {:?}, expected {:?}",
            result.exercise, built.exercise
        ));
    }
    if result.seed != request.seed {
        return Err(format!("seed {}, expected {}", result.seed, request.seed));
    }
    let mut result = result;
    for check in &mut result.checks {
        if check.name == GRADING_CHECK && !check.passed {
            check.core = false;
            continue;
        }
        let Some(declared) = aisec_lab::exercise::declared(&built.checks, &check.name) else {
            return Err(format!(
                "check {:?} is not one the exercise declares",
                report::sanitize(&check.name)
            ));
        };
        check.core = declared.core;
    }
    let mut names: Vec<&str> = result.checks.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    if let Some(twice) = names
        .windows(2)
        .find(|w| w[0] == w[1] && w[0] != GRADING_CHECK)
    {
        return Err(format!(
            "check {:?} is reported twice",
            report::sanitize(twice[0])
        ));
    }
    Ok(result)
}

fn describe_checker_death(status: std::process::ExitStatus, stderr: &str, why: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(signal) = status.signal() {
        return format!("the checker was killed by signal {signal} without a result");
    }
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(why);
    format!("the checker exited with {status} without a result: {last}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisec_lab::harness::{CheckResult, Outcome};

    fn built(checks: &[(&str, bool)]) -> Built {
        Built {
            checker: PathBuf::new(),
            checker_sha256: String::new(),
            runner: PathBuf::new(),
            runner_sha256: String::new(),
            level: Level::Full,
            exercise: "fgsm".into(),
            checks: checks
                .iter()
                .map(|(name, core)| DeclaredCheck {
                    name: (*name).into(),
                    core: *core,
                })
                .collect(),
            _private: std::sync::Arc::new(tempfile::tempdir().unwrap()),
        }
    }

    fn result(checks: &[(&str, bool, bool)]) -> Vec<u8> {
        let result = HarnessResult {
            schema: RESULT_SCHEMA.into(),
            exercise: "fgsm".into(),
            seed: 7,
            outcome: Outcome::Completed,
            checks: checks
                .iter()
                .map(|(name, passed, core)| CheckResult {
                    name: (*name).into(),
                    passed: *passed,
                    measured: String::new(),
                    bar: String::new(),
                    hint: String::new(),
                    core: *core,
                })
                .collect(),
            message: None,
            output: None,
        };
        serde_json::to_vec(&result).unwrap()
    }

    fn request() -> RunRequest {
        RunRequest {
            mode: Mode::Check,
            seed: 7,
            time_limit: Duration::from_secs(1),
            memory_mb: 256,
            json: false,
            color: false,
            options: serde_json::Map::new(),
            capture_stdout: true,
            capture_stderr: true,
        }
    }

    #[test]
    fn a_result_holds_only_declared_checks_once_with_declared_core() {
        let built = built(&[("eps {eps}: runs", false), ("eps {eps}: exact", true)]);
        let accepted = accept_result(
            &result(&[
                ("eps 0.10: exact", true, false),
                ("eps 0.20: exact", false, false),
            ]),
            &built,
            &request(),
        )
        .unwrap();
        assert!(
            accepted.checks.iter().all(|c| c.core),
            "core comes from the declaration"
        );

        let invented = accept_result(
            &result(&[("everything passed", true, false)]),
            &built,
            &request(),
        );
        assert!(
            invented
                .unwrap_err()
                .contains("not one the exercise declares")
        );
        let twice = accept_result(
            &result(&[
                ("eps 0.10: exact", true, false),
                ("eps 0.10: exact", true, false),
            ]),
            &built,
            &request(),
        );
        assert!(twice.unwrap_err().contains("twice"));
        // A passed "grading" check is not the harness's failure record: refused.
        let grading = accept_result(&result(&[("grading", true, false)]), &built, &request());
        assert!(grading.is_err());
        let failed_grading =
            accept_result(&result(&[("grading", false, true)]), &built, &request()).unwrap();
        assert!(!failed_grading.checks[0].core);
        let other_seed = accept_result(
            &result(&[]),
            &built,
            &RunRequest {
                seed: 8,
                ..request()
            },
        );
        assert!(other_seed.unwrap_err().contains("seed"));
    }

    #[test]
    fn compiler_errors_keep_their_snippets_and_drop_warnings() {
        let stderr = "warning: unused variable: `x`\n --> src/lib.rs:1:5\n  |\n1 | let x = 1;\n  |     ^\n\n\
                      error[E0308]: mismatched types\n --> src/lib.rs:7:9\n  |\n7 |     1u8\n  |     ^^^ expected `u32`\n\n\
                      error: could not compile `fgsm` (lib) due to 1 previous error\n";
        let kept = compiler_messages(stderr);
        assert!(
            kept.contains("error[E0308]")
                && kept.contains("7 |     1u8")
                && kept.contains("expected `u32`"),
            "{kept}"
        );
        assert!(
            !kept.contains("unused variable") && !kept.contains("could not compile"),
            "{kept}"
        );
    }
}
