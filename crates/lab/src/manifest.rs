//! Hash manifests: a folder's files, their sha256, per-tensor digests of every file whose
//! content is safetensors (whatever its name), and one root digest over everything.
//!
//! The same code writes and checks `models/MANIFEST` and `datasets/*/MANIFEST`, and backs the
//! grader's integrity check. Format (`MANIFEST`, JSON):
//!
//! ```json
//! {
//!   "format": "aisec-manifest/1",
//!   "root_sha256": "<hex>",
//!   "files": [
//!     { "path": "standard.safetensors", "size": 321400, "sha256": "<hex>",
//!       "tensors": { "conv1.bias": "<hex>", "...": "..." } }
//!   ]
//! }
//! ```
//!
//! - `path` is relative to the folder, with `/` separators; files are sorted by path; the
//!   manifest itself is not listed.
//! - A tensor digest is sha256 over `dtype`, NUL, the shape as comma-separated decimals, NUL,
//!   then the tensor's raw bytes, so it names the edited tensor when a file's hash changes.
//! - `root_sha256` is sha256 over one line `path NUL size NUL sha256 LF` per file in order, so a
//!   rename, a swap, an addition or a deletion changes it even when every file is intact.
//!
//! Hashing streams each file in 1 MiB pieces: memory use does not grow with file size.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The manifest file name.
pub const MANIFEST: &str = "MANIFEST";
/// The format tag this code writes and reads.
pub const FORMAT: &str = "aisec-manifest/1";
/// Largest safetensors header the manifest tool reads (as the safetensors format allows).
const MAX_HEADER: u64 = 100_000_000;
const PIECE: usize = 1 << 20;

/// One file's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the folder, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the whole file, lower-case hex.
    pub sha256: String,
    /// For a file whose content is safetensors (a `.safetensors` name or not): tensor name →
    /// digest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tensors: BTreeMap<String, String>,
}

/// A folder's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Digest over all entries (see the module docs).
    pub root_sha256: String,
    /// One entry per file, sorted by path.
    pub files: Vec<FileEntry>,
}

/// What differs between a folder and its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Verification {
    /// Listed files that are missing.
    pub missing: Vec<String>,
    /// Files present but not listed.
    pub unexpected: Vec<String>,
    /// Listed files whose content differs: path and the tensors whose digests differ (empty
    /// when the file is not a safetensors file or its header no longer parses).
    pub changed: Vec<(String, Vec<String>)>,
}

impl Verification {
    /// True when the folder matches its manifest exactly.
    pub fn is_ok(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.changed.is_empty()
    }

    /// Every path at fault, sorted.
    pub fn paths(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .missing
            .iter()
            .chain(&self.unexpected)
            .cloned()
            .chain(self.changed.iter().map(|(p, _)| p.clone()))
            .collect();
        all.sort();
        all
    }
}

fn hex(digest: impl AsRef<[u8]>) -> String {
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(Sha256::digest(bytes))
}

/// sha256 of a whole file, streamed.
pub fn sha256_file(path: &Path) -> Result<(u64, String)> {
    hash_stream(path, None)
}

/// Copies `from` to `to` and returns the size and sha256 of the bytes written, reading the
/// file once.
pub fn sha256_copy(from: &Path, to: &Path) -> Result<(u64, String)> {
    let mut out = std::fs::File::create(to).map_err(|e| Error::io("creating", to, e))?;
    hash_stream(from, Some((&mut out, to)))
}

/// Hashes `path` in pieces, writing each piece to `copy` as well when given.
fn hash_stream(
    path: &Path,
    mut copy: Option<(&mut std::fs::File, &Path)>,
) -> Result<(u64, String)> {
    use std::io::Write;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; PIECE];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| Error::io("reading", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        if let Some((out, to)) = copy.as_mut() {
            out.write_all(&buffer[..n])
                .map_err(|e| Error::io("writing", *to, e))?;
        }
        size += n as u64;
    }
    Ok((size, hex(hasher.finalize())))
}

/// Per-tensor digests of a safetensors file, streamed.
pub fn tensor_digests(path: &Path) -> Result<BTreeMap<String, String>> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| Error::io("reading", path, e))?
        .len();
    let bad = |reason: String| Error::malformed(path, reason);
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes)
        .map_err(|_| bad("shorter than the 8-byte safetensors header length".into()))?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER || header_len.saturating_add(8) > file_len {
        return Err(bad(format!(
            "header length {header_len} does not fit in the {file_len}-byte file"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|e| Error::io("reading", path, e))?;
    let metadata: safetensors::tensor::Metadata = serde_json::from_slice(&header)
        .map_err(|e| bad(format!("invalid safetensors header: {e}")))?;
    if metadata.data_len() as u64 + 8 + header_len != file_len {
        return Err(bad(format!(
            "the header describes {} data bytes but the file holds {}",
            metadata.data_len(),
            file_len - 8 - header_len
        )));
    }
    let infos = metadata.tensors();
    let mut ordered: Vec<(&String, &&safetensors::tensor::TensorInfo)> = infos.iter().collect();
    ordered.sort_by_key(|(_, info)| info.data_offsets);
    let mut digests = BTreeMap::new();
    let mut buffer = vec![0u8; PIECE];
    for (name, info) in ordered {
        let mut hasher = Sha256::new();
        let shape: Vec<String> = info.shape.iter().map(ToString::to_string).collect();
        hasher.update(format!("{:?}\0{}\0", info.dtype, shape.join(",")).as_bytes());
        let mut remaining = info.data_offsets.1 - info.data_offsets.0;
        while remaining > 0 {
            let n = remaining.min(PIECE);
            file.read_exact(&mut buffer[..n])
                .map_err(|e| Error::io("reading", path, e))?;
            hasher.update(&buffer[..n]);
            remaining -= n;
        }
        digests.insert(name.clone(), hex(hasher.finalize()));
    }
    Ok(digests)
}

/// Every regular file under `dir` (recursively), as sorted `/`-separated relative paths,
/// leaving out the manifest itself.
pub fn list_files(dir: &Path) -> Result<Vec<String>> {
    let mut files = aisec_sdk::supply_chain::list_files(dir)?;
    files.retain(|f| f != MANIFEST);
    Ok(files)
}

fn entry_for(dir: &Path, relative: &str) -> Result<FileEntry> {
    let path = dir.join(relative);
    let (size, sha256) = sha256_file(&path)?;
    // A file named .safetensors must parse; any other file is listed with its tensors when its
    // content is safetensors, so a model under another name is still checked tensor by tensor.
    let digests = tensor_digests(&path);
    let tensors = if relative.ends_with(".safetensors") {
        digests?
    } else {
        digests.unwrap_or_default()
    };
    Ok(FileEntry {
        path: relative.to_owned(),
        size,
        sha256,
        tensors,
    })
}

/// The root digest over `files` (see the module docs).
pub fn root_digest(files: &[FileEntry]) -> String {
    let mut hasher = Sha256::new();
    for f in files {
        hasher.update(format!("{}\0{}\0{}\n", f.path, f.size, f.sha256).as_bytes());
    }
    hex(hasher.finalize())
}

impl Manifest {
    /// Hashes every file under `dir`.
    pub fn create(dir: &Path) -> Result<Manifest> {
        Manifest::create_for(dir, &list_files(dir)?)
    }

    /// Hashes the given files of `dir` (sorted, `/`-separated relative paths).
    pub fn create_for(dir: &Path, files: &[String]) -> Result<Manifest> {
        let files = files
            .iter()
            .map(|p| entry_for(dir, p))
            .collect::<Result<Vec<_>>>()?;
        Ok(Manifest {
            format: FORMAT.to_owned(),
            root_sha256: root_digest(&files),
            files,
        })
    }

    /// The manifest as `MANIFEST` holds it.
    pub fn to_text(&self) -> String {
        // A manifest is plain strings and numbers: serialising it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// This manifest without the entries for `paths`, its root digest recomputed.
    pub fn without(&self, paths: &[&str]) -> Manifest {
        let files: Vec<FileEntry> = self
            .files
            .iter()
            .filter(|entry| !paths.contains(&entry.path.as_str()))
            .cloned()
            .collect();
        Manifest {
            format: self.format.clone(),
            root_sha256: root_digest(&files),
            files,
        }
    }

    /// Writes the manifest to `dir/MANIFEST`.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(MANIFEST);
        std::fs::write(&path, self.to_text()).map_err(|e| Error::io("writing", &path, e))?;
        Ok(path)
    }

    /// Reads and checks `dir/MANIFEST` (format, sorted unique relative paths, hex digests, and
    /// a root digest consistent with the entries).
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
        Manifest::parse(&text).map_err(|reason| Error::malformed(&path, reason))
    }

    /// Parses manifest text; the error says what is wrong.
    pub fn parse(text: &str) -> std::result::Result<Manifest, String> {
        let manifest: Manifest =
            serde_json::from_str(text).map_err(|e| format!("not a valid manifest: {e}"))?;
        if manifest.format != FORMAT {
            return Err(format!("format {:?} is not {FORMAT:?}", manifest.format));
        }
        let is_hex = |s: &str| {
            s.len() == 64
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        for pair in manifest.files.windows(2) {
            if pair[0].path >= pair[1].path {
                return Err(format!(
                    "entries are not sorted and unique at {:?}",
                    pair[1].path
                ));
            }
        }
        for f in &manifest.files {
            let unsafe_path = f.path.is_empty()
                || f.path.starts_with('/')
                || f.path.contains('\\')
                || f.path
                    .split('/')
                    .any(|part| part.is_empty() || part == "." || part == "..");
            if unsafe_path {
                return Err(format!("path {:?} is not a plain relative path", f.path));
            }
            if !is_hex(&f.sha256) || !f.tensors.values().all(|d| is_hex(d)) {
                return Err(format!(
                    "{:?}: digests must be 64 lower-case hex digits",
                    f.path
                ));
            }
        }
        if manifest.root_sha256 != root_digest(&manifest.files) {
            return Err(
                "root_sha256 does not match the entries (the manifest was edited by hand?)".into(),
            );
        }
        Ok(manifest)
    }

    /// Compares `dir` with this manifest.
    pub fn verify(&self, dir: &Path) -> Result<Verification> {
        self.verify_files(dir, list_files(dir)?)
    }

    /// Compares `present` (the files of `dir` that should be listed) with this manifest.
    pub fn verify_files(&self, dir: &Path, present: Vec<String>) -> Result<Verification> {
        let mut result = Verification::default();
        for entry in &self.files {
            if !present.contains(&entry.path) {
                result.missing.push(entry.path.clone());
                continue;
            }
            let path = dir.join(&entry.path);
            let (size, sha256) = sha256_file(&path)?;
            if size == entry.size && sha256 == entry.sha256 {
                continue;
            }
            let tensors = match tensor_digests(&path) {
                Ok(now) if !entry.tensors.is_empty() => {
                    let names: std::collections::BTreeSet<&String> =
                        entry.tensors.keys().chain(now.keys()).collect();
                    names
                        .into_iter()
                        .filter(|n| entry.tensors.get(*n) != now.get(*n))
                        .cloned()
                        .collect()
                }
                _ => Vec::new(),
            };
            result.changed.push((entry.path.clone(), tensors));
        }
        result.unexpected = present
            .into_iter()
            .filter(|p| !self.files.iter().any(|e| &e.path == p))
            .collect();
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_model(path: &Path, fill: f32) {
        let t = candle_core::Tensor::full(fill, (2, 3), &candle_core::Device::Cpu).unwrap();
        let u = candle_core::Tensor::full(1.5f32, 4, &candle_core::Device::Cpu).unwrap();
        candle_core::safetensors::save(
            &[("a.weight".to_owned(), t), ("b.bias".to_owned(), u)]
                .into_iter()
                .collect(),
            path,
        )
        .unwrap();
    }

    #[test]
    fn create_then_verify_finds_each_kind_of_difference() {
        let dir = tempfile::tempdir().unwrap();
        write_model(&dir.path().join("m.safetensors"), 0.5);
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/notes.txt"), "hello").unwrap();
        std::fs::write(dir.path().join("gone.txt"), "bye").unwrap();
        let manifest = Manifest::create(dir.path()).unwrap();
        assert_eq!(
            manifest
                .files
                .iter()
                .map(|f| f.path.as_str())
                .collect::<Vec<_>>(),
            ["gone.txt", "m.safetensors", "sub/notes.txt"]
        );
        assert_eq!(manifest.files[1].tensors.len(), 2);
        manifest.write(dir.path()).unwrap();
        let read = Manifest::read(dir.path()).unwrap();
        assert_eq!(read, manifest);
        assert!(read.verify(dir.path()).unwrap().is_ok());

        write_model(&dir.path().join("m.safetensors"), 0.25);
        std::fs::remove_file(dir.path().join("gone.txt")).unwrap();
        std::fs::write(dir.path().join("extra.bin"), [0u8]).unwrap();
        let v = read.verify(dir.path()).unwrap();
        assert_eq!(v.missing, ["gone.txt"]);
        assert_eq!(v.unexpected, ["extra.bin"]);
        assert_eq!(
            v.changed,
            vec![("m.safetensors".to_owned(), vec!["a.weight".to_owned()])]
        );
        assert_eq!(v.paths(), ["extra.bin", "gone.txt", "m.safetensors"]);
    }

    #[test]
    fn root_digest_changes_on_rename_even_with_identical_content() {
        let a = FileEntry {
            path: "a".into(),
            size: 1,
            sha256: "0".repeat(64),
            tensors: BTreeMap::new(),
        };
        let b = FileEntry {
            path: "b".into(),
            ..a.clone()
        };
        assert_ne!(root_digest(&[a]), root_digest(&[b]));
    }

    #[test]
    fn hand_edited_or_hostile_manifests_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x"), "1").unwrap();
        let manifest = Manifest::create(dir.path()).unwrap();
        let text = serde_json::to_string(&manifest).unwrap();
        assert!(Manifest::parse(&text).is_ok());
        let edited = text.replace(&manifest.files[0].sha256, &"a".repeat(64));
        assert!(
            Manifest::parse(&edited)
                .unwrap_err()
                .contains("root_sha256")
        );
        let mut escaping = manifest.clone();
        escaping.files[0].path = "../etc/passwd".into();
        escaping.root_sha256 = root_digest(&escaping.files);
        assert!(
            Manifest::parse(&serde_json::to_string(&escaping).unwrap())
                .unwrap_err()
                .contains("plain relative path")
        );
        assert!(
            Manifest::parse("{")
                .unwrap_err()
                .contains("not a valid manifest")
        );
    }

    #[test]
    fn malformed_safetensors_headers_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.safetensors");
        std::fs::write(&path, u64::MAX.to_le_bytes()).unwrap();
        assert!(
            tensor_digests(&path)
                .unwrap_err()
                .to_string()
                .contains("does not fit")
        );
        std::fs::write(&path, [2u8, 0, 0, 0, 0, 0, 0, 0, b'{', b'}', 7]).unwrap();
        assert!(
            tensor_digests(&path)
                .unwrap_err()
                .to_string()
                .contains("data bytes")
        );
    }
}
