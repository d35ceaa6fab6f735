//! Tampered model folders for the supply-chain lab: from a clean folder, seeded cases of the
//! ways a model artefact is swapped, edited or crafted, each with the verdict per file that a
//! correct verifier gives.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use aisec_sdk::rng::{self, Rng, RngCore};
use aisec_sdk::supply_chain::Verdict;

use crate::manifest::{self, Manifest};
use crate::{Error, Result};

/// The ground truth for a case that finds a file malformed (the reason is the verifier's to give).
const MALFORMED: Verdict = Verdict::Malformed {
    reason: String::new(),
};

/// The ground truth for a case that plants a format able to run code when loaded.
const REFUSED_FORMAT: Verdict = Verdict::RefusedFormat {
    reason: String::new(),
};

/// The ground truth for a listed file whose `tensors` (sorted) differ.
fn hash_mismatch(tensors: Vec<String>) -> Verdict {
    Verdict::HashMismatch { tensors }
}

/// One tampered folder and its ground truth.
#[derive(Debug, Clone)]
pub struct Case {
    /// What was done, in a few words.
    pub name: String,
    /// The folder as the verifier finds it.
    pub dir: PathBuf,
    /// The manifest of the clean folder (what the publisher signed).
    pub manifest: Manifest,
    /// The right verdict for every listed or present file; reasons are left empty, as only the
    /// verdict (and for a hash mismatch, its tensors) is graded.
    pub expected: BTreeMap<String, Verdict>,
}

/// One tensor of a safetensors header.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    dtype: String,
    shape: Vec<usize>,
    start: usize,
    end: usize,
}

/// A safetensors file taken apart: its tensors (in data order) and the file as read, whose
/// data section starts at `data_start`.
#[derive(Debug, Clone)]
struct Parts {
    entries: Vec<Entry>,
    bytes: Vec<u8>,
    data_start: usize,
}

impl Parts {
    /// Reads and parses the safetensors file at `path`.
    fn read(path: &Path) -> Result<Parts> {
        let bytes = read(path)?;
        let (header_len, metadata) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| Error::malformed(path, format!("invalid safetensors file: {e}")))?;
        let mut entries: Vec<Entry> = metadata
            .tensors()
            .into_iter()
            .map(|(name, info)| Entry {
                name,
                dtype: format!("{:?}", info.dtype),
                shape: info.shape.clone(),
                start: info.data_offsets.0,
                end: info.data_offsets.1,
            })
            .collect();
        // Ties (empty tensors) in name order, so a rewritten header does not depend on the
        // crate's hash-map order.
        entries.sort_by(|x, y| (x.start, &x.name).cmp(&(y.start, &y.name)));
        Ok(Parts {
            entries,
            data_start: 8 + header_len,
            bytes,
        })
    }

    /// The data section.
    fn data(&self) -> &[u8] {
        &self.bytes[self.data_start..]
    }

    /// The data section, to edit in place.
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[self.data_start..]
    }

    /// Writes `entries` as a fresh header followed by the data section to `path`.
    fn write(&self, path: &Path) -> Result<()> {
        let mut out = create_with_header(path, &self.entries)?;
        out.write_all(self.data())
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("writing", path, e))
    }
}

/// The header JSON of `entries`, written by hand so a case can also write what a JSON library
/// would refuse to (a duplicate key).
fn header_json(entries: &[Entry]) -> String {
    let body: Vec<String> = entries
        .iter()
        .map(|e| {
            let shape: Vec<String> = e.shape.iter().map(ToString::to_string).collect();
            format!(
                "{:?}:{{\"dtype\":{:?},\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                e.name,
                e.dtype,
                shape.join(","),
                e.start,
                e.end
            )
        })
        .collect();
    format!("{{{}}}", body.join(","))
}

/// Creates `path` holding the 8-byte length and the header JSON of `entries`; the caller
/// writes the data section after it and flushes.
fn create_with_header(path: &Path, entries: &[Entry]) -> Result<BufWriter<File>> {
    let file = File::create(path).map_err(|e| Error::io("creating", path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let header = header_json(entries);
    out.write_all(&(header.len() as u64).to_le_bytes())
        .and_then(|()| out.write_all(header.as_bytes()))
        .map_err(|e| Error::io("writing", path, e))?;
    Ok(out)
}

/// Flips the bits of `mask` in one byte of one tensor of the model at `path`, leaving the rest
/// of the file (header included) as it was, and returns the tensor's name. `tensor` and `byte`
/// are seeded draws, taken modulo the tensor count and the tensor's length.
fn flip_tensor_byte(path: &Path, tensor: usize, byte: usize, mask: u8) -> Result<String> {
    let mut parts = Parts::read(path)?;
    let entry = parts.entries[tensor % parts.entries.len()].clone();
    parts.data_mut()[entry.start + byte % (entry.end - entry.start)] ^= mask;
    write(path, &parts.bytes)?;
    Ok(entry.name)
}

fn pick<T: Clone>(items: &[T], rng: &mut Rng) -> T {
    items[rng.next_u32() as usize % items.len()].clone()
}

/// A pickle (protocol 2) that would call `os.system` when loaded: what a malicious
/// `torch.load` file does, reduced to its opcodes. Never executed here; only its bytes matter.
const PICKLE: &[u8] =
    b"\x80\x02cposix\nsystem\nq\x00X\x0b\x00\x00\x00echo pwned!q\x01\x85q\x02Rq\x03.";

/// The start of a zip archive, as PyTorch's default `torch.save` format writes.
const ZIP: &[u8] = b"PK\x03\x04\x14\x00\x00\x00\x00\x00archive/data.pkl";

/// One case's change to its folder copy, recording the verdicts it should get.
type Edit<'a> = dyn FnMut(&Path, &mut BTreeMap<String, Verdict>) -> Result<()> + 'a;

/// Fills `into` with the clean folder the cases start from: the shipped models and their README
/// from `models`, plus a copy of the standard model under a name without `.safetensors` (a
/// verifier must recognise it by content).
pub fn clean_folder(models: &Path, into: &Path) -> Result<()> {
    for (from, to) in [
        ("README.md", "README.md"),
        ("standard.safetensors", "standard.safetensors"),
        ("adversarial.safetensors", "adversarial.safetensors"),
        ("overfit.safetensors", "overfit.safetensors"),
        ("standard.safetensors", "standard-weights.bin"),
    ] {
        std::fs::copy(models.join(from), into.join(to))
            .map_err(|e| Error::io("copying", models.join(from), e))?;
    }
    Ok(())
}

/// Writes the cases under `out` (one folder each) from the clean folder `clean`, whose
/// `.safetensors` files are the models to tamper with. Choices (which file, tensor and byte)
/// come from `(seed, "tamper")`.
pub fn generate(clean: &Path, out: &Path, seed: u64) -> Result<Vec<Case>> {
    let files = manifest::list_files(clean)?;
    let models: Vec<String> = files
        .iter()
        .filter(|f| f.ends_with(".safetensors"))
        .cloned()
        .collect();
    if models.len() < 2 {
        return Err(Error::invalid(
            "tamper",
            format!("{} needs at least two .safetensors files", clean.display()),
        ));
    }
    let manifest = Manifest::create_for(clean, &files)?;
    let mut rng = rng::rng(seed, "tamper");
    // Folder names say nothing of the case: a verifier must judge the files, not the name.
    let mut names = rng::rng(seed, "tamper-folder-names");
    let mut cases = Vec::new();

    let mut case = |name: &str, edit: &mut Edit| -> Result<()> {
        let dir = out.join(format!("case-{:016x}", rand::RngCore::next_u64(&mut names)));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        for f in &files {
            std::fs::copy(clean.join(f), dir.join(f))
                .map_err(|e| Error::io("copying", clean.join(f), e))?;
        }
        let mut expected: BTreeMap<String, Verdict> =
            files.iter().map(|f| (f.clone(), Verdict::Ok)).collect();
        edit(&dir, &mut expected)?;
        cases.push(Case {
            name: name.to_owned(),
            dir,
            manifest: manifest.clone(),
            expected,
        });
        Ok(())
    };

    // Every case draws its file, tensor and byte from the seed, in this fixed order.
    let mut draws = || {
        (
            pick(&models, &mut rng),
            rng.next_u32() as usize,
            rng.next_u32() as usize,
        )
    };
    let plans: Vec<(String, usize, usize)> = (0..20).map(|_| draws()).collect();
    let plan = |i: usize| plans[i].clone();

    case("clean", &mut |_, _| Ok(()))?;

    let (m, t, b) = plan(0);
    case("flipped byte in a tensor", &mut |dir, expected| {
        let tensor = flip_tensor_byte(&dir.join(&m), t, b, 0x01)?;
        expected.insert(m.clone(), hash_mismatch(vec![tensor]));
        Ok(())
    })?;

    let (m, t, b) = plan(1);
    case("two tensors swapped", &mut |dir, expected| {
        let path = dir.join(&m);
        let mut parts = Parts::read(&path)?;
        let n = parts.entries.len();
        let (i, j) = (t % n, (t % n + 1 + b % (n - 1)) % n);
        let (a, c) = (parts.entries[i].name.clone(), parts.entries[j].name.clone());
        parts.entries[i].name = c.clone();
        parts.entries[j].name = a.clone();
        parts.write(&path)?;
        let mut names = vec![a, c];
        names.sort();
        expected.insert(m.clone(), hash_mismatch(names));
        Ok(())
    })?;

    let (m, t, b) = plan(2);
    case(
        "tensor replaced by a same-shaped one",
        &mut |dir, expected| {
            let path = dir.join(&m);
            let mut parts = Parts::read(&path)?;
            let entry = parts.entries[t % parts.entries.len()].clone();
            let mut noise = rng::rng(b as u64, "replacement");
            parts.data_mut()[entry.start..entry.end]
                .iter_mut()
                .for_each(|v| *v = noise.next_u32() as u8);
            parts.write(&path)?;
            expected.insert(m.clone(), hash_mismatch(vec![entry.name]));
            Ok(())
        },
    )?;

    let (m, _, _) = plan(3);
    case("file deleted", &mut |dir, expected| {
        remove(&dir.join(&m))?;
        expected.insert(m.clone(), Verdict::Missing);
        Ok(())
    })?;

    let (m, _, _) = plan(4);
    case("extra file", &mut |dir, expected| {
        let extra = "extra.safetensors".to_owned();
        std::fs::copy(dir.join(&m), dir.join(&extra))
            .map_err(|e| Error::io("copying", dir.join(&m), e))?;
        expected.insert(extra, Verdict::Unexpected);
        Ok(())
    })?;

    let (m, _, _) = plan(5);
    case("file renamed", &mut |dir, expected| {
        let renamed = format!("renamed-{m}");
        std::fs::rename(dir.join(&m), dir.join(&renamed))
            .map_err(|e| Error::io("renaming", dir.join(&m), e))?;
        expected.insert(m.clone(), Verdict::Missing);
        expected.insert(renamed, Verdict::Unexpected);
        Ok(())
    })?;

    let (m, _, b) = plan(6);
    case("truncated file", &mut |dir, expected| {
        let path = dir.join(&m);
        let parts = Parts::read(&path)?;
        let keep = parts.data_start + b % parts.data().len();
        write(&path, &parts.bytes[..keep])?;
        expected.insert(m.clone(), MALFORMED);
        Ok(())
    })?;

    let (m, _, _) = plan(7);
    case("header length past the end", &mut |dir, expected| {
        let path = dir.join(&m);
        let mut bytes = read(&path)?;
        let len = bytes.len() as u64;
        bytes[..8].copy_from_slice(&len.to_le_bytes());
        write(&path, &bytes)?;
        expected.insert(m.clone(), MALFORMED);
        Ok(())
    })?;

    let (m, t, _) = plan(8);
    case("overlapping offsets", &mut |dir, expected| {
        let path = dir.join(&m);
        let mut parts = Parts::read(&path)?;
        let i = 1 + t % (parts.entries.len() - 1);
        parts.entries[i].start -= 4;
        parts.entries[i].end -= 4;
        parts.write(&path)?;
        expected.insert(m.clone(), MALFORMED);
        Ok(())
    })?;

    let (m, t, _) = plan(9);
    case("gap between tensors", &mut |dir, expected| {
        let path = dir.join(&m);
        let mut parts = Parts::read(&path)?;
        let i = t % parts.entries.len();
        let at = parts.data_start + parts.entries[i].start;
        parts.bytes.splice(at..at, [0u8; 4]);
        for e in &mut parts.entries[i..] {
            e.start += 4;
            e.end += 4;
        }
        parts.write(&path)?;
        expected.insert(m.clone(), MALFORMED);
        Ok(())
    })?;

    let (m, _, _) = plan(10);
    case("trailing bytes", &mut |dir, expected| {
        let path = dir.join(&m);
        let mut bytes = read(&path)?;
        bytes.extend_from_slice(b"trailing bytes!!");
        write(&path, &bytes)?;
        expected.insert(m.clone(), MALFORMED);
        Ok(())
    })?;

    let (m, t, _) = plan(11);
    case(
        "dtype does not match the byte length",
        &mut |dir, expected| {
            let path = dir.join(&m);
            let mut parts = Parts::read(&path)?;
            let i = t % parts.entries.len();
            parts.entries[i].dtype = "F16".into();
            parts.write(&path)?;
            expected.insert(m.clone(), MALFORMED);
            Ok(())
        },
    )?;

    let (m, t, _) = plan(12);
    case("duplicate tensor name", &mut |dir, expected| {
        let path = dir.join(&m);
        let mut parts = Parts::read(&path)?;
        let i = t % parts.entries.len();
        let name = parts.entries[(i + 1) % parts.entries.len()].name.clone();
        parts.entries[i].name = name;
        parts.write(&path)?;
        expected.insert(m.clone(), MALFORMED);
        Ok(())
    })?;

    let (m, _, _) = plan(13);
    case("huge header length", &mut |dir, expected| {
        let path = dir.join(&m);
        let mut bytes = read(&path)?;
        bytes[..8].copy_from_slice(&(1u64 << 62).to_le_bytes());
        write(&path, &bytes)?;
        expected.insert(m.clone(), MALFORMED);
        Ok(())
    })?;

    let (m, _, _) = plan(14);
    case("pickle disguised as safetensors", &mut |dir, expected| {
        write(&dir.join(&m), PICKLE)?;
        expected.insert(m.clone(), REFUSED_FORMAT);
        Ok(())
    })?;

    let (m, _, _) = plan(15);
    case(
        "PyTorch zip disguised as safetensors",
        &mut |dir, expected| {
            write(&dir.join(&m), ZIP)?;
            expected.insert(m.clone(), REFUSED_FORMAT);
            Ok(())
        },
    )?;

    case(
        "pickle added under a harmless name",
        &mut |dir, expected| {
            write(&dir.join("config.json"), PICKLE)?;
            expected.insert("config.json".into(), REFUSED_FORMAT);
            Ok(())
        },
    )?;

    // A model kept under another name is still a model: the manifest lists its tensors.
    let disguised: Vec<String> = manifest
        .files
        .iter()
        .filter(|f| !f.path.ends_with(".safetensors") && !f.tensors.is_empty())
        .map(|f| f.path.clone())
        .collect();
    if let Some(m) = disguised.first() {
        let (m, (_, t, b)) = (m.clone(), plan(16));
        case(
            "flipped byte in a model not named .safetensors",
            &mut |dir, expected| {
                let tensor = flip_tensor_byte(&dir.join(&m), t, b, 0x80)?;
                expected.insert(m.clone(), hash_mismatch(vec![tensor]));
                Ok(())
            },
        )?;
    }

    let others: Vec<String> = manifest
        .files
        .iter()
        .filter(|f| f.tensors.is_empty())
        .map(|f| f.path.clone())
        .collect();
    if let Some(doc) = others.first() {
        let doc = doc.clone();
        case("a listed non-model file edited", &mut |dir, expected| {
            let path = dir.join(&doc);
            let mut bytes = read(&path)?;
            bytes.extend_from_slice(b"\nedited\n");
            write(&path, &bytes)?;
            expected.insert(doc.clone(), hash_mismatch(Vec::new()));
            Ok(())
        })?;
    }
    Ok(cases)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io("reading", path, e))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io("writing", path, e))
}

fn remove(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| Error::io("removing", path, e))
}

/// Writes a well-formed safetensors file of `size_mib` MiB (one F32 tensor named `big`, values
/// from `seed`) to `path`, streaming.
pub fn write_large(path: &Path, size_mib: usize, seed: u64) -> Result<()> {
    let elements = size_mib * (1 << 20) / 4;
    let entries = [Entry {
        name: "big".into(),
        dtype: "F32".into(),
        shape: vec![elements],
        start: 0,
        end: elements * 4,
    }];
    let mut out = create_with_header(path, &entries)?;
    let io = |e| Error::io("writing", path, e);
    let mut noise = rng::rng(seed, "large");
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..size_mib {
        noise.fill_bytes(&mut chunk);
        out.write_all(&chunk).map_err(io)?;
    }
    out.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases(seed: u64) -> (tempfile::TempDir, Vec<Case>) {
        let dir = tempfile::tempdir().unwrap();
        let (clean, out) = (dir.path().join("clean"), dir.path().join("cases"));
        std::fs::create_dir_all(&clean).unwrap();
        clean_folder(&aisec_sdk::models_dir(), &clean).unwrap();
        let cases = generate(&clean, &out, seed).unwrap();
        (dir, cases)
    }

    /// The ground truth of every case, checked against what the lab's own verifier and parser
    /// see in the files actually written.
    #[test]
    fn every_case_has_the_ground_truth_its_files_show() {
        for seed in [1, 2, 3] {
            let (_dir, cases) = cases(seed);
            assert_eq!(cases.len(), 20, "seed {seed}");
            for case in &cases {
                let seen = case.manifest.verify(&case.dir).unwrap();
                for (path, want) in &case.expected {
                    let file = case.dir.join(path);
                    let changed = seen.changed.iter().find(|(p, _)| p == path);
                    let at = format!("seed {seed}, {}: {path}", case.name);
                    match want {
                        Verdict::Ok => assert!(!seen.paths().contains(path), "{at}"),
                        Verdict::Missing => {
                            assert!(seen.missing.contains(path) && !file.exists(), "{at}")
                        }
                        Verdict::Unexpected => assert!(seen.unexpected.contains(path), "{at}"),
                        Verdict::HashMismatch { tensors } => {
                            assert_eq!(changed.map(|(_, t)| t), Some(tensors), "{at}");
                            if case.name.starts_with("flipped byte") {
                                // Same size, other content: a size check alone passes it.
                                let listed = case.manifest.files.iter().find(|f| &f.path == path);
                                let size = std::fs::metadata(&file).unwrap().len();
                                assert_eq!(listed.unwrap().size, size, "{at}");
                            }
                        }
                        Verdict::Malformed { .. } => {
                            assert!(changed.is_some(), "{at}");
                            assert!(manifest::tensor_digests(&file).is_err(), "{at}: parses");
                        }
                        Verdict::RefusedFormat { .. } => {
                            let bytes = std::fs::read(&file).unwrap();
                            assert!(
                                bytes.starts_with(b"\x80\x02") || bytes.starts_with(b"PK\x03\x04"),
                                "{at}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_same_seed_writes_the_same_cases() {
        let digest = |seed| -> Vec<(String, String)> {
            let (_dir, cases) = cases(seed);
            cases
                .iter()
                .flat_map(|c| {
                    manifest::list_files(&c.dir)
                        .unwrap()
                        .into_iter()
                        .map(move |f| {
                            (
                                format!("{}/{f}", c.name),
                                manifest::sha256_file(&c.dir.join(&f)).unwrap().1,
                            )
                        })
                })
                .collect()
        };
        assert_eq!(digest(7), digest(7));
        assert_ne!(digest(7), digest(8));
    }

    #[test]
    fn the_large_model_is_well_formed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("large.safetensors");
        write_large(&path, 2, 1).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 2 << 20);
        assert_eq!(manifest::tensor_digests(&path).unwrap().len(), 1);
    }
}
