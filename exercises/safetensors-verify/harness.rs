//! Grading and display for the `safetensors-verify` exercise (the lab's code: do not edit).

use std::time::Instant;

use aisec_lab::harness::{Context, NoOptions};
use aisec_lab::manifest::Manifest;
use aisec_lab::serde_json::json;
use aisec_lab::tamper::{self, Case};
use aisec_lab::{Error, Result};
use aisec_sdk::supply_chain::{FileVerdict, ManifestEntry, Verdict};
use serde::Deserialize;

/// `[settings]` of exercise.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    large_file_mib: usize,
}

/// `[bars]` of exercise.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bars {
    max_memory_growth_mib: f64,
}

/// A temporary folder holding the clean copy of the shipped models the cases start from.
fn clean_folder(ctx: &Context) -> Result<aisec_lab::tempfile::TempDir> {
    let dir = aisec_lab::tempfile::tempdir()
        .map_err(|e| Error::io("creating", std::env::temp_dir(), e))?;
    tamper::clean_folder(&ctx.lab().path().join("models"), dir.path())?;
    Ok(dir)
}

/// A fresh folder the candidate's code can read (the runner reads nothing else).
fn input_folder(ctx: &Context) -> Result<aisec_lab::tempfile::TempDir> {
    let inputs = ctx.input_dir()?;
    aisec_lab::tempfile::tempdir_in(inputs).map_err(|e| Error::io("creating", inputs, e))
}

fn entries(manifest: &Manifest) -> Vec<ManifestEntry> {
    manifest
        .files
        .iter()
        .map(|f| ManifestEntry {
            path: f.path.clone(),
            size: f.size,
            sha256: f.sha256.clone(),
            tensors: f.tensors.clone(),
        })
        .collect()
}

/// Does `got` say what `want` says? Hash mismatches must name exactly the right tensors; for
/// the other verdicts the kind is enough (a reason is the verifier's own words).
fn agrees(want: &Verdict, got: &Verdict) -> bool {
    match (want, got) {
        (Verdict::HashMismatch { tensors: want }, Verdict::HashMismatch { tensors }) => {
            let mut got = tensors.clone();
            got.sort();
            got.dedup();
            &got == want
        }
        _ => std::mem::discriminant(want) == std::mem::discriminant(got),
    }
}

/// A verdict as reports print it. The ground truth carries no reasons, so an empty one is not
/// printed.
fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::HashMismatch { tensors } if !tensors.is_empty() => {
            format!("HASH_MISMATCH {tensors:?}")
        }
        Verdict::Malformed { reason } if !reason.is_empty() => format!("MALFORMED ({reason})"),
        Verdict::RefusedFormat { reason } if !reason.is_empty() => {
            format!("REFUSED_FORMAT ({reason})")
        }
        other => other.name().to_owned(),
    }
}

/// Compares a case's verdicts with its ground truth: (all right, what differs).
fn compare(case: &Case, got: &[FileVerdict]) -> (bool, Vec<String>) {
    let mut wrong = Vec::new();
    for (path, want) in &case.expected {
        match got.iter().find(|v| &v.path == path) {
            None => wrong.push(format!(
                "{path}: no verdict (expected {})",
                verdict_text(want)
            )),
            Some(v) if !agrees(want, &v.verdict) => wrong.push(format!(
                "{path}: {} (expected {})",
                verdict_text(&v.verdict),
                verdict_text(want)
            )),
            Some(_) => {}
        }
    }
    for v in got {
        if !case.expected.contains_key(&v.path) {
            wrong.push(format!(
                "{}: a verdict for a file that is neither listed nor present",
                v.path
            ));
        }
    }
    (wrong.is_empty(), wrong)
}

/// What the candidate's verifier did with a generated large model.
struct Large {
    /// Verdicts on the intact folder.
    intact: Vec<FileVerdict>,
    /// Verdicts after one byte of its tensor was flipped (size unchanged).
    flipped: Vec<FileVerdict>,
    /// Seconds to verify the intact folder.
    seconds: f64,
    /// Peak growth of resident memory over both runs, MiB (if it could be measured).
    growth_mib: Option<f64>,
}

impl Large {
    fn right(&self) -> bool {
        let only = |v: &[FileVerdict], want: &Verdict| v.len() == 1 && &v[0].verdict == want;
        only(&self.intact, &Verdict::Ok)
            && only(
                &self.flipped,
                &Verdict::HashMismatch {
                    tensors: vec!["big".into()],
                },
            )
    }

    fn describe(&self) -> String {
        let first = |v: &[FileVerdict]| {
            v.first()
                .map(|v| verdict_text(&v.verdict))
                .unwrap_or_else(|| "none".into())
        };
        format!(
            "verdicts {} intact, {} with a byte flipped",
            first(&self.intact),
            first(&self.flipped)
        )
    }
}

/// Verifies a generated `size_mib` model with the candidate's code, intact and with one byte
/// of its tensor flipped, watching the runner's resident memory from outside it.
fn large_file(ctx: &Context, size_mib: usize) -> Result<Large> {
    let dir = input_folder(ctx)?;
    let path = dir.path().join("large.safetensors");
    tamper::write_large(&path, size_mib, ctx.draw_seed())?;
    let expected = entries(&Manifest::create(dir.path())?);
    // The cases before this started the runner, so its memory can be read and reset.
    let measurable = ctx.reset_runner_peak();
    let before = ctx.runner_memory_kib();
    let started = Instant::now();
    let intact = exercise::verify(dir.path(), &expected)?;
    let seconds = started.elapsed().as_secs_f64();
    {
        use std::io::{Read, Seek, SeekFrom, Write};
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("opening", &path, e))?;
        let middle = file
            .metadata()
            .map_err(|e| Error::io("reading", &path, e))?
            .len()
            / 2;
        let mut byte = [0u8; 1];
        let io = |e| Error::io("editing", &path, e);
        file.seek(SeekFrom::Start(middle)).map_err(io)?;
        file.read_exact(&mut byte).map_err(io)?;
        file.seek(SeekFrom::Start(middle)).map_err(io)?;
        file.write_all(&[byte[0] ^ 1]).map_err(io)?;
    }
    let flipped = exercise::verify(dir.path(), &expected)?;
    let growth_mib = match (measurable, before, ctx.runner_memory_kib()) {
        (true, Some((rss_before, _)), Some((_, peak))) => {
            Some(peak.saturating_sub(rss_before) as f64 / 1024.0)
        }
        _ => None,
    };
    Ok(Large {
        intact,
        flipped,
        seconds,
        growth_mib,
    })
}

pub fn check(ctx: &mut Context, settings: &Settings, bars: &Bars) -> Result<()> {
    let size_mib = settings.large_file_mib;
    let max_growth = bars.max_memory_growth_mib;
    let clean = clean_folder(ctx)?;
    let out = input_folder(ctx)?;
    let cases = tamper::generate(clean.path(), out.path(), ctx.draw_seed())?;
    // The cases are verified in an order drawn from the seed, so the position of a call says
    // nothing about its case; they are reported in their usual order.
    let order = aisec_sdk::rng::permutation(cases.len(), &mut ctx.rng("case-order"));
    let mut verdicts: Vec<Option<aisec_sdk::Result<Vec<FileVerdict>>>> =
        (0..cases.len()).map(|_| None).collect();
    for &i in &order {
        let case = &cases[i];
        verdicts[i] = Some(exercise::verify(&case.dir, &entries(&case.manifest)));
    }
    for (case, got) in cases.iter().zip(verdicts) {
        let Some(got) = got else { continue };
        let Some(got) = ctx.student(&format!("{}: runs", case.name), got) else {
            return Ok(());
        };
        let (right, wrong) = compare(case, &got);
        let want: Vec<String> = case
            .expected
            .iter()
            .filter(|(_, e)| **e != Verdict::Ok)
            .map(|(p, e)| format!("{p}: {}", verdict_text(e)))
            .collect();
        // exercise.toml marks the cases that hold the core property.
        ctx.check(
            &case.name,
            right,
            if right {
                format!("{} files, every verdict right", case.expected.len())
            } else {
                wrong.join("; ")
            },
            if want.is_empty() {
                "every file OK".to_owned()
            } else {
                want.join("; ")
            },
            "see the brief's verdict rules: content decides the format, never the file name",
        );
    }

    let Some(large) = ctx.student(
        "verifies a large file",
        large_file(ctx, size_mib)
            .map_err(|e| aisec_sdk::Error::invalid("large file", e.to_string())),
    ) else {
        return Ok(());
    };
    let measured = match large.growth_mib {
        Some(mib) => format!(
            "{size_mib} MiB file verified in {:.2} s ({:.0} MB/s); memory grew by {mib:.1} MiB; {}",
            large.seconds,
            size_mib as f64 * 1.048_576 / large.seconds.max(1e-9),
            large.describe()
        ),
        None => "memory could not be measured on this system (needs Linux's /proc/self/clear_refs)"
            .into(),
    };
    ctx.check(
        "streams: a large file is verified in bounded memory",
        large.right() && large.growth_mib.is_some_and(|g| g <= max_growth),
        measured,
        format!("OK intact, HASH_MISMATCH [\"big\"] flipped; memory growth <= {max_growth} MiB"),
        "hash in fixed-size pieces as you read; never read a whole file or tensor into memory",
    );
    Ok(())
}

fn show(ctx: &mut Context, size_mib: usize) -> Result<()> {
    let clean = clean_folder(ctx)?;
    let out = input_folder(ctx)?;
    let cases = tamper::generate(clean.path(), out.path(), ctx.draw_seed())?;
    ctx.say(&format!(
        "Tamper cases from the shipped models (seed {}):\n",
        ctx.seed()
    ));
    let mut rows = Vec::new();
    let mut right_count = 0;
    for case in &cases {
        let got = exercise::verify(&case.dir, &entries(&case.manifest))?;
        let (right, _) = compare(case, &got);
        right_count += usize::from(right);
        let interesting: Vec<String> = got
            .iter()
            .filter(|v| v.verdict != Verdict::Ok)
            .map(|v| format!("{} {}", v.path, verdict_text(&v.verdict)))
            .collect();
        ctx.say(&format!(
            "  {} {:<48} {}",
            if right { "ok  " } else { "WRONG" },
            case.name,
            if interesting.is_empty() {
                "every file OK".to_owned()
            } else {
                interesting.join("; ")
            }
        ));
        rows.push(json!({
            "case": case.name,
            "right": right,
            "verdicts": got.iter().map(|v| json!({ "path": v.path, "verdict": v.verdict.name(), "detail": verdict_text(&v.verdict) })).collect::<Vec<_>>(),
        }));
    }
    let large = large_file(ctx, size_mib)?;
    let mb_per_s = size_mib as f64 * 1.048_576 / large.seconds.max(1e-9);
    ctx.say(&format!(
        "\n{right_count} of {} cases right. A {size_mib} MiB model verified in {:.2} s: {mb_per_s:.0} MB/s, memory growth {}; {}.",
        cases.len(),
        large.seconds,
        large.growth_mib.map(|g| format!("{g:.1} MiB")).unwrap_or_else(|| "not measurable here".into()),
        large.describe()
    ));
    ctx.emit(json!({
        "seed": ctx.seed(),
        "cases": rows,
        "right": right_count,
        "total": cases.len(),
        "large_file": {
            "mib": size_mib,
            "seconds": large.seconds,
            "mb_per_s": mb_per_s,
            "memory_growth_mib": large.growth_mib,
            "right": large.right(),
        },
    }));
    Ok(())
}

pub fn run(ctx: &mut Context, _: &Settings) -> Result<()> {
    show(ctx, 64)
}

pub fn demo(ctx: &mut Context, settings: &Settings, _: &NoOptions) -> Result<()> {
    show(ctx, settings.large_file_mib)
}
