//! Take-home bundles: a candidate's copy of the lab with the chosen exercises as stubs and no
//! reference solutions, and grading what comes back inside the issuer's own lab, so nothing in
//! the returned folder but the student files can move the grade.

use std::path::{Path, PathBuf};

use aisec_lab::LabRoot;

use crate::error::{Error, Result};
use crate::exercise::Exercise;
use crate::integrity;
use crate::registry::Registry;
use crate::sandbox::copy_tree;

/// Top-level parts of the lab a bundle carries: `integrity::COVERED` (what the grade depends
/// on) but `exercises` (added one by one), plus `docs`. Keep the two lists in step.
const CARRIED: [&str; 6] = [
    "Cargo.toml",
    "Cargo.lock",
    "crates",
    "models",
    "datasets",
    "docs",
];

/// What goes on the bundle's cover page.
#[derive(Debug, Clone, Default)]
pub struct Cover {
    /// A title for the assignment.
    pub title: Option<String>,
    /// When it is due, as the issuer writes it.
    pub due: Option<String>,
}

/// A written bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Its folder.
    pub dir: PathBuf,
    /// Files written.
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// Writes a bundle of `ids` from `lab` into `out` (which must not exist or be empty): the
/// workspace, models and data, each chosen exercise with its stub as `src/`, a candidate
/// README, and a lab manifest for the bundle. Reference solutions are never copied.
pub fn assign(
    lab: &LabRoot,
    registry: &Registry,
    ids: &[String],
    out: &Path,
    cover: &Cover,
) -> Result<Bundle> {
    if ids.is_empty() {
        return Err(Error::Usage(
            "name at least one exercise to assign (--exercises fgsm,pgd)".into(),
        ));
    }
    let chosen = ids
        .iter()
        .map(|id| registry.get(id))
        .collect::<Result<Vec<&Exercise>>>()?;
    if out.exists()
        && std::fs::read_dir(out)
            .map_err(|e| Error::io("listing", out, e))?
            .next()
            .is_some()
    {
        return Err(Error::Usage(format!(
            "{} is not empty: choose a new folder for the bundle",
            out.display()
        )));
    }
    for part in CARRIED {
        let from = lab.path().join(part);
        if from.exists() {
            copy_tree(&from, &out.join(part))?;
        }
    }
    let omitted = omitted_models(&chosen);
    if !omitted.is_empty() {
        for model in &omitted {
            let path = out.join("models").join(model);
            if path.exists() {
                std::fs::remove_file(&path).map_err(|e| Error::io("removing", &path, e))?;
            }
        }
        bundle_models_manifest(lab, &omitted)?.write(&out.join("models"))?;
    }
    let readme = lab.exercises().join("README.md");
    if readme.is_file() {
        copy_tree(&readme, &out.join("exercises/README.md"))?;
    }
    for exercise in &chosen {
        let to = out.join("exercises").join(exercise.id());
        copy_tree(&exercise.dir, &to)?;
        // The candidate starts from the stub, whatever the issuer's own copy holds.
        let src = to.join("src");
        std::fs::remove_dir_all(&src).map_err(|e| Error::io("removing", &src, e))?;
        for file in &exercise.manifest.student_files {
            copy_tree(&exercise.stub_path(file), &to.join(file))?;
        }
    }
    std::fs::write(out.join(".gitignore"), "/target\n/out\n")
        .map_err(|e| Error::io("writing", out.join(".gitignore"), e))?;
    let readme = candidate_readme(&chosen, cover);
    std::fs::write(out.join("README.md"), readme)
        .map_err(|e| Error::io("writing", out.join("README.md"), e))?;
    let bundle_lab = LabRoot::at(out);
    integrity::write_manifest(&bundle_lab)?;
    let files = aisec_lab::manifest::list_files(out)?;
    let bytes = files
        .iter()
        .map(|f| std::fs::metadata(out.join(f)).map(|m| m.len()).unwrap_or(0))
        .sum();
    Ok(Bundle {
        dir: out.to_owned(),
        files: files.len(),
        bytes,
    })
}

/// The on-demand models (see [`aisec_lab::llm::ON_DEMAND_MODELS`]) none of `exercises` needs:
/// a bundle of them leaves these out.
fn omitted_models(exercises: &[&Exercise]) -> Vec<&'static str> {
    aisec_lab::llm::ON_DEMAND_MODELS
        .iter()
        .copied()
        .filter(|model| {
            !exercises
                .iter()
                .any(|e| e.manifest.models.iter().any(|m| m == model))
        })
        .collect()
}

/// The models manifest a bundle without `omitted` carries: the lab's, less those entries.
fn bundle_models_manifest(
    lab: &LabRoot,
    omitted: &[&str],
) -> Result<aisec_lab::manifest::Manifest> {
    Ok(aisec_lab::manifest::Manifest::read(&lab.models())?.without(omitted))
}

fn candidate_readme(chosen: &[&Exercise], cover: &Cover) -> String {
    let title = cover
        .title
        .clone()
        .unwrap_or_else(|| "AI-security take-home lab".into());
    let mut text = format!("# {title}\n\n");
    if let Some(due) = &cover.due {
        text.push_str(&format!("**Due:** {due}\n\n"));
    }
    text.push_str(
        "A hands-on lab: implement each exercise below in Rust against a small CNN, and check \
         your work with the local grader. Everything runs offline on a laptop CPU.\n\n## The exercises\n\n",
    );
    for e in chosen {
        text.push_str(&format!(
            "- `{}` ({}, {} points): {} — the brief is `exercises/{}/README.md`\n",
            e.id(),
            e.manifest.track,
            e.manifest.points,
            e.manifest.title,
            e.id()
        ));
    }
    text.push_str(
        "\n## Set up and work\n\n\
         You need Rust (rustup.rs). The first build compiles the ML library (a few minutes).\n\n\
         ```\n\
         cargo run --release -- list              # your exercises and their status\n\
         cargo run --release -- show <id>         # the brief\n\
         cargo run --release -- run <id>          # see what your code does (pictures in out/)\n\
         cargo run --release -- check --all       # grade everything, as the interviewer will\n\
         cargo run --release -- hint <id>         # a hint, if you are stuck\n\
         ```\n\n\
         Edit only `exercises/<id>/src/lib.rs`. Exercises may depend on `aisec-sdk` and nothing \
         else. The grader checks every other file against `LAB_MANIFEST`; a changed file makes \
         every exercise fail locally, and the interviewer grades your `src/` files in their own \
         copy of the lab anyway.\n\n\
         ## What to hand back\n\n\
         This whole folder, without `target/` (for example `zip -r lab.zip . -x 'target/*'`). \
         The grade uses a seed you do not know, so make your code right, not lucky.\n",
    );
    text
}

/// Paths (relative to the bundle) of the covered files of a returned bundle that differ from
/// the issuer's lab manifest, are extra, or are missing, limited to the parts the bundle
/// carries and to `held`, the exercises it holds. Student files are not covered.
pub fn changed_files(
    issuer: &LabRoot,
    registry: &Registry,
    returned: &Path,
    held: &[String],
) -> Result<Vec<String>> {
    let mut manifest = integrity::read_manifest(issuer)?;
    // A bundle of exercises that need no on-demand model was issued without it, and with a
    // models manifest that does not list it: that is what is expected back.
    let held_exercises: Vec<&Exercise> =
        held.iter().filter_map(|id| registry.get(id).ok()).collect();
    let omitted = omitted_models(&held_exercises);
    if !omitted.is_empty() {
        let omitted_paths: Vec<String> = omitted.iter().map(|m| format!("models/{m}")).collect();
        manifest
            .files
            .retain(|entry| !omitted_paths.contains(&entry.path));
        let expected = bundle_models_manifest(issuer, &omitted)?.to_text();
        let digest = aisec_lab::manifest::sha256_hex(expected.as_bytes());
        for entry in manifest
            .files
            .iter_mut()
            .filter(|e| e.path == "models/MANIFEST")
        {
            entry.size = expected.len() as u64;
            entry.sha256 = digest.clone();
        }
    }
    // Files of exercises the bundle does not hold are out of scope; everything else is in.
    manifest.files.retain(|entry| {
        match entry
            .path
            .strip_prefix("exercises/")
            .and_then(|rest| rest.split_once('/'))
        {
            Some((id, _)) => held.iter().any(|h| h == id),
            None => true,
        }
    });
    let present = integrity::covered_files(&LabRoot::at(returned))?;
    Ok(manifest.verify_files(returned, present)?.paths())
}

/// The exercise folders of a returned bundle.
pub fn exercise_ids(returned: &Path) -> Result<Vec<String>> {
    let dir = returned.join("exercises");
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        Error::Usage(format!(
            "{} does not look like a returned bundle (no exercises/ folder: {e})",
            returned.display()
        ))
    })?;
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| e.path().join("exercise.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    Ok(ids)
}

/// A returned bundle graded in a fresh copy of the issuer's lab.
pub struct Graded {
    /// The grade.
    pub report: crate::Report,
    /// The exercises graded, as the issuer's lab has them (briefs, talking points).
    pub registry: Registry,
    /// Exercise folders of the bundle the issuer's lab does not have: listed, not graded.
    pub unknown: Vec<String>,
    /// The fresh copy the grade ran in; removed when this is dropped.
    _copy: tempfile::TempDir,
}

/// Grades the returned bundle at `returned` against the issuer's lab `issuer`: only the
/// bundle's student files are used, snapshotted (regular files only, no symbolic links, made
/// read-only) before anything runs, into a fresh copy of the issuer's lab without its
/// reference solutions. Every other file of the bundle that differs from the issuer's lab is
/// listed in `bundle_changes`; exercise folders the issuer's lab lacks are listed and skipped.
pub fn grade_returned(
    issuer: &LabRoot,
    returned: &Path,
    options: &mut crate::grade::GradeOptions<'_>,
) -> Result<Graded> {
    let returned = returned
        .canonicalize()
        .map_err(|e| Error::io("resolving", returned, e))?;
    let ours = issuer
        .path()
        .canonicalize()
        .map_err(|e| Error::io("resolving", issuer.path(), e))?;
    if returned.starts_with(&ours) || ours.starts_with(&returned) {
        return Err(Error::Usage(format!(
            "{} is (inside) the lab that grades it: grade a returned bundle from your own lab \
             elsewhere, e.g. `aisec --lab ~/aisec-lab grade {}`",
            returned.display(),
            returned.display()
        )));
    }
    let held = exercise_ids(&returned)?;
    let issuer_registry = Registry::load(issuer)?;
    let (ids, unknown): (Vec<String>, Vec<String>) = held
        .into_iter()
        .partition(|id| issuer_registry.get(id).is_ok());
    if ids.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds no exercise of this lab to grade{}",
            returned.display(),
            if unknown.is_empty() {
                String::new()
            } else {
                format!(" (unknown: {})", unknown.join(", "))
            }
        )));
    }
    let changes = changed_files(issuer, &issuer_registry, &returned, &ids)?;
    let copy_dir = tempfile::Builder::new()
        .prefix("aisec-grade-")
        .tempdir()
        .map_err(|e| Error::io("creating", std::env::temp_dir(), e))?;
    let lab_dir = copy_dir.path().join("lab");
    let intake = copy_dir.path().join("returned");
    std::fs::create_dir_all(&lab_dir).map_err(|e| Error::io("creating", &lab_dir, e))?;
    let copy = crate::sandbox::copy_lab(issuer, &lab_dir)?;
    let registry = Registry::load(&copy)?;
    snapshot(&registry, &returned, &intake, &ids)?;
    transplant(&registry, &intake, &ids)?;
    let exercises: Vec<&Exercise> = ids
        .iter()
        .map(|id| registry.get(id))
        .collect::<Result<_>>()?;
    let mut report = crate::grade::grade(&copy, &exercises, options)?;
    report.bundle_changes = Some(changes);
    Ok(Graded {
        report,
        registry,
        unknown,
        _copy: copy_dir,
    })
}

/// Copies the student files of `ids` from `returned` into `intake` (regular files only) and
/// makes them read-only, so what is graded is what was handed in, whatever happens later.
fn snapshot(registry: &Registry, returned: &Path, intake: &Path, ids: &[String]) -> Result<()> {
    for id in ids {
        let exercise = registry.get(id)?;
        let from = returned.join("exercises").join(id);
        let to = intake.join("exercises").join(id);
        let mut parts = vec!["src".to_owned()];
        parts.extend(exercise.manifest.student_files.iter().cloned());
        for part in parts {
            let source = from.join(&part);
            if std::fs::symlink_metadata(&source).is_ok() {
                copy_tree(&source, &to.join(&part))?;
            }
        }
        if to.exists() {
            for file in aisec_lab::manifest::list_files(&to)? {
                let path = to.join(&file);
                let mut permissions = std::fs::metadata(&path)
                    .map_err(|e| Error::io("reading", &path, e))?
                    .permissions();
                permissions.set_readonly(true);
                std::fs::set_permissions(&path, permissions)
                    .map_err(|e| Error::io("protecting", &path, e))?;
            }
        }
    }
    Ok(())
}

/// Puts the returned bundle's student files (and only those) for each exercise of `ids` into
/// the lab `registry` was loaded from: a fresh copy of the issuer's lab.
pub fn transplant(registry: &Registry, returned: &Path, ids: &[String]) -> Result<()> {
    for id in ids {
        let ours = registry.get(id)?;
        let to = &ours.dir;
        let src = to.join("src");
        if src.exists() {
            std::fs::remove_dir_all(&src).map_err(|e| Error::io("removing", &src, e))?;
        }
        let theirs = returned.join("exercises").join(id);
        let theirs_src = theirs.join("src");
        if theirs_src.is_dir() {
            copy_tree(&theirs_src, &src)?;
        }
        for file in &ours.manifest.student_files {
            let from = theirs.join(file);
            if from.is_file() {
                copy_tree(&from, &to.join(file))?;
            }
        }
    }
    Ok(())
}
