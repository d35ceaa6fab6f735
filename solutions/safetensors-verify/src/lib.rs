//! A model-folder verifier: every file against a hash manifest, safetensors headers checked
//! before anything is trusted, pickles refused by content (reference solution).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use aisec_sdk::serde;
use aisec_sdk::serde_json::{self, Value};
use aisec_sdk::sha2::{Digest, Sha256};
use aisec_sdk::supply_chain::{self, FileVerdict, ManifestEntry, Verdict};
use aisec_sdk::{Error, Result};

/// The largest header accepted (the safetensors format's own limit).
const MAX_HEADER: u64 = 100_000_000;
/// Files are read in pieces of this size, so memory does not grow with the file.
const PIECE: usize = 1 << 20;

/// One verdict per file that is listed in `manifest` or present under `dir`, sorted by path.
///
/// Precedence for a present file: a pickle or zip archive (by its first bytes) is refused,
/// whatever its name; a file not listed is unexpected; one whose size and sha256 match is OK.
/// A listed file that differs is checked as safetensors when the manifest lists tensors for it
/// (malformed, or a hash mismatch naming the tensors whose digests differ); any other listed
/// file that differs is a hash mismatch with no tensors named.
pub fn verify(dir: &Path, manifest: &[ManifestEntry]) -> Result<Vec<FileVerdict>> {
    let present: BTreeSet<String> = supply_chain::list_files(dir)?.into_iter().collect();
    let listed: BTreeMap<&str, &ManifestEntry> =
        manifest.iter().map(|e| (e.path.as_str(), e)).collect();
    let paths: BTreeSet<&str> = present
        .iter()
        .map(String::as_str)
        .chain(listed.keys().copied())
        .collect();
    let mut verdicts = Vec::new();
    for path in paths {
        let verdict = match (listed.get(path), present.contains(path)) {
            (Some(_), false) => Verdict::Missing,
            (entry, _) => judge(&dir.join(path), entry.copied())?,
        };
        verdicts.push(FileVerdict {
            path: path.to_owned(),
            verdict,
        });
    }
    Ok(verdicts)
}

fn judge(path: &Path, entry: Option<&ManifestEntry>) -> Result<Verdict> {
    if let Some(reason) = refused_format(path)? {
        return Ok(Verdict::RefusedFormat { reason });
    }
    let Some(entry) = entry else {
        return Ok(Verdict::Unexpected);
    };
    let (size, sha256) = sha256_file(path)?;
    if size == entry.size && sha256 == entry.sha256 {
        return Ok(Verdict::Ok);
    }
    if entry.tensors.is_empty() {
        return Ok(Verdict::HashMismatch {
            tensors: Vec::new(),
        });
    }
    let header = match read_header(path)? {
        Ok(header) => header,
        Err(reason) => return Ok(Verdict::Malformed { reason }),
    };
    let now = tensor_digests(path, &header)?;
    let names: BTreeSet<&String> = now.keys().chain(entry.tensors.keys()).collect();
    let tensors = names
        .into_iter()
        .filter(|name| now.get(*name) != entry.tensors.get(*name))
        .cloned()
        .collect();
    Ok(Verdict::HashMismatch { tensors })
}

/// Why the file is a format this verifier refuses, judged by its first bytes.
fn refused_format(path: &Path) -> Result<Option<String>> {
    let mut start = [0u8; 4];
    let mut file = open(path)?;
    let n = read_up_to(&mut file, &mut start).map_err(|e| io(path, e))?;
    let start = &start[..n];
    Ok(
        if start.len() >= 2 && start[0] == 0x80 && (2..=5).contains(&start[1]) {
            Some(format!(
                "a pickle (protocol {}): loading it can run code",
                start[1]
            ))
        } else if start == b"PK\x03\x04" {
            Some("a zip archive (PyTorch's torch.save format holds a pickle)".into())
        } else {
            None
        },
    )
}

/// One tensor of a checked header.
struct TensorInfo {
    name: String,
    dtype: String,
    shape: Vec<u64>,
    start: u64,
    end: u64,
}

/// A header that passed every check: the data section's offset, and the tensors in data order.
struct Header {
    data_start: u64,
    tensors: Vec<TensorInfo>,
}

fn dtype_size(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 1,
        "U16" | "I16" | "F16" | "BF16" => 2,
        "U32" | "I32" | "F32" => 4,
        "U64" | "I64" | "F64" => 8,
        _ => return None,
    })
}

/// Reads and checks a safetensors header: `Ok(Err(reason))` when the file is malformed.
fn read_header(path: &Path) -> Result<std::result::Result<Header, String>> {
    let mut file = open(path)?;
    let file_len = file.metadata().map_err(|e| io(path, e))?.len();
    let mut len_bytes = [0u8; 8];
    if read_up_to(&mut file, &mut len_bytes).map_err(|e| io(path, e))? < 8 {
        return Ok(Err(format!(
            "{file_len} bytes: too short for the 8-byte header length"
        )));
    }
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER {
        return Ok(Err(format!(
            "header length {header_len} exceeds the {MAX_HEADER}-byte limit"
        )));
    }
    let data_start = 8 + header_len;
    if data_start > file_len {
        return Ok(Err(format!(
            "header length {header_len} runs past the end of the {file_len}-byte file"
        )));
    }
    let mut text = vec![0u8; header_len as usize];
    file.read_exact(&mut text).map_err(|e| io(path, e))?;
    Ok(
        check_header(&text, file_len - data_start).map(|tensors| Header {
            data_start,
            tensors,
        }),
    )
}

/// Checks a header's JSON against a data section of `data_len` bytes; returns the tensors in
/// data order. Public to the crate's fuzz target through [`parse_header`].
fn check_header(text: &[u8], data_len: u64) -> std::result::Result<Vec<TensorInfo>, String> {
    let entries: Entries =
        serde_json::from_slice(text).map_err(|e| format!("header is not a JSON object: {e}"))?;
    let mut seen = BTreeSet::new();
    let mut tensors = Vec::new();
    for (name, value) in entries.0 {
        if !seen.insert(name.clone()) {
            return Err(format!("tensor {name:?} appears twice"));
        }
        if name == "__metadata__" {
            let strings = value
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string));
            if !strings {
                return Err("__metadata__ must map strings to strings".into());
            }
            continue;
        }
        let bad = |what: &str| format!("tensor {name:?}: {what}");
        let dtype = value["dtype"]
            .as_str()
            .ok_or_else(|| bad("no dtype"))?
            .to_owned();
        let size = dtype_size(&dtype).ok_or_else(|| bad(&format!("unknown dtype {dtype:?}")))?;
        let shape = value["shape"]
            .as_array()
            .ok_or_else(|| bad("no shape"))?
            .iter()
            .map(Value::as_u64)
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| bad("shape must be non-negative integers"))?;
        let offsets = value["data_offsets"]
            .as_array()
            .filter(|o| o.len() == 2)
            .and_then(|o| Some((o[0].as_u64()?, o[1].as_u64()?)))
            .ok_or_else(|| bad("data_offsets must be two non-negative integers"))?;
        let (start, end) = offsets;
        if start > end {
            return Err(bad(&format!("offsets [{start}, {end}] run backwards")));
        }
        let bytes = shape
            .iter()
            .try_fold(size, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad("shape × dtype size overflows"))?;
        if end - start != bytes {
            return Err(bad(&format!(
                "{dtype} {shape:?} needs {bytes} bytes but its offsets span {}",
                end - start
            )));
        }
        tensors.push(TensorInfo {
            name,
            dtype,
            shape,
            start,
            end,
        });
    }
    tensors.sort_by_key(|t| (t.start, t.end));
    let mut at = 0u64;
    for t in &tensors {
        if t.start != at {
            let what = if t.start < at {
                "overlaps the tensor before it"
            } else {
                "leaves a gap before it"
            };
            return Err(format!(
                "tensor {:?} at offset {} {what} (expected {at})",
                t.name, t.start
            ));
        }
        at = t.end;
    }
    if at != data_len {
        return Err(if at < data_len {
            format!(
                "{} bytes after the last tensor: trailing data",
                data_len - at
            )
        } else {
            format!("tensors need {at} data bytes but the file holds {data_len}")
        });
    }
    Ok(tensors)
}

/// Parses a header's JSON text against a data section of `data_len` bytes: the tensor names in
/// data order, or why it is malformed. (The entry point of the fuzz target.)
pub fn parse_header(text: &[u8], data_len: u64) -> std::result::Result<Vec<String>, String> {
    check_header(text, data_len).map(|t| t.into_iter().map(|t| t.name).collect())
}

/// The JSON object's entries in order, duplicates kept (a map type would silently keep one).
struct Entries(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Per-tensor digests (sha256 over dtype, NUL, the shape joined by commas, NUL, the bytes),
/// streamed in data order.
fn tensor_digests(path: &Path, header: &Header) -> Result<BTreeMap<String, String>> {
    let mut file = open(path)?;
    file.seek(SeekFrom::Start(header.data_start))
        .map_err(|e| io(path, e))?;
    let mut buffer = vec![0u8; PIECE];
    let mut digests = BTreeMap::new();
    for t in &header.tensors {
        let mut hasher = Sha256::new();
        let shape: Vec<String> = t.shape.iter().map(u64::to_string).collect();
        hasher.update(format!("{}\0{}\0", t.dtype, shape.join(",")).as_bytes());
        let mut remaining = t.end - t.start;
        while remaining > 0 {
            let n = remaining.min(PIECE as u64) as usize;
            file.read_exact(&mut buffer[..n]).map_err(|e| io(path, e))?;
            hasher.update(&buffer[..n]);
            remaining -= n as u64;
        }
        digests.insert(t.name.clone(), hex(&hasher.finalize()));
    }
    Ok(digests)
}

fn sha256_file(path: &Path) -> Result<(u64, String)> {
    let mut file = open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; PIECE];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(|e| io(path, e))?;
        if n == 0 {
            return Ok((size, hex(&hasher.finalize())));
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn open(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| io(path, e))
}

fn read_up_to(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::invalid(path.display().to_string(), e.to_string())
}
