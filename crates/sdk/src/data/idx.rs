//! Reading IDX files (the MNIST container format), plain or gzip-compressed, as untrusted input.
//!
//! An IDX file is: two zero bytes, a type byte (0x08 = unsigned byte), a dimension count, one
//! big-endian u32 per dimension, then the data in row-major order. Every size is checked before
//! use and the decompressed size is capped, so a hostile file gives an error, not a panic or an
//! unbounded allocation.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Largest decompressed IDX file accepted (full MNIST's training images are 47 MB).
pub const MAX_IDX_BYTES: u64 = 512 << 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const TYPE_U8: u8 = 0x08;

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// The size of each dimension, outermost first.
    pub dims: Vec<usize>,
    /// The values, row-major; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
}

/// Reads the file at `path` (gzip or plain, told apart by content) and decodes it.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let bytes = read_capped(path)?;
    decode_idx(&bytes).map_err(|reason| Error::Idx {
        path: path.to_owned(),
        reason,
    })
}

fn read_capped(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let mut head = [0u8; 2];
    let mut reader = std::io::BufReader::new(file);
    let n_head = read_fully(&mut reader, &mut head).map_err(|e| Error::io("reading", path, e))?;
    let chained = std::io::Cursor::new(head[..n_head].to_vec()).chain(reader);
    let mut bytes = Vec::new();
    let too_big = |what: &str| Error::Idx {
        path: path.to_owned(),
        reason: format!(
            "{what} is larger than the {} MiB limit for IDX files",
            MAX_IDX_BYTES >> 20
        ),
    };
    if head == GZIP_MAGIC {
        let mut decoder = flate2::read::GzDecoder::new(chained).take(MAX_IDX_BYTES + 1);
        decoder.read_to_end(&mut bytes).map_err(|e| Error::Idx {
            path: path.to_owned(),
            reason: format!("gzip data is corrupt or truncated ({e})"),
        })?;
        if bytes.len() as u64 > MAX_IDX_BYTES {
            return Err(too_big("decompressed data"));
        }
    } else {
        chained
            .take(MAX_IDX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("reading", path, e))?;
        if bytes.len() as u64 > MAX_IDX_BYTES {
            return Err(too_big("the file"));
        }
    }
    Ok(bytes)
}

fn read_fully(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Decodes IDX bytes; the error string says what is wrong (the caller adds the file name).
pub fn decode_idx(bytes: &[u8]) -> std::result::Result<IdxArray, String> {
    if bytes.len() < 4 {
        return Err(format!(
            "file is {} bytes long, too short for the 4-byte IDX magic number",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!(
            "bad magic number {:02x}{:02x}{:02x}{:02x}: an IDX file starts with two zero bytes \
             (is this an IDX file?)",
            bytes[0], bytes[1], bytes[2], bytes[3]
        ));
    }
    if bytes[2] != TYPE_U8 {
        return Err(format!(
            "element type 0x{:02x} is not supported: only 0x08 (unsigned byte) is",
            bytes[2]
        ));
    }
    let n_dims = usize::from(bytes[3]);
    if n_dims == 0 {
        return Err("the magic number declares zero dimensions".into());
    }
    let header_len = 4 + 4 * n_dims;
    if bytes.len() < header_len {
        return Err(format!(
            "truncated header: {n_dims} dimensions need {header_len} bytes, the file has {}",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let n_values = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n as u64 <= MAX_IDX_BYTES)
        .ok_or_else(|| {
            format!("dimensions {dims:?} describe more data than the IDX size limit allows")
        })?;
    let payload = &bytes[header_len..];
    if payload.len() < n_values {
        return Err(format!(
            "truncated: dimensions {dims:?} need {n_values} data bytes, the file has {}",
            payload.len()
        ));
    }
    if payload.len() > n_values {
        return Err(format!(
            "{} unexpected bytes after the {n_values} data bytes that dimensions {dims:?} describe",
            payload.len() - n_values
        ));
    }
    Ok(IdxArray {
        dims,
        data: payload.to_vec(),
    })
}

/// Encodes `array` as plain (uncompressed) IDX bytes.
pub fn encode_idx(array: &IdxArray) -> Vec<u8> {
    let mut out = vec![0, 0, TYPE_U8, array.dims.len() as u8];
    for &d in &array.dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(&array.data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(values: &[u8]) -> IdxArray {
        IdxArray {
            dims: vec![values.len()],
            data: values.to_vec(),
        }
    }

    #[test]
    fn round_trips() {
        let array = IdxArray {
            dims: vec![2, 2, 3],
            data: (0..12).collect(),
        };
        assert_eq!(decode_idx(&encode_idx(&array)).unwrap(), array);
    }

    #[test]
    fn rejects_bad_magic() {
        let mut bytes = encode_idx(&labels(&[1, 2, 3]));
        bytes[0] = 0x50; // "PK": a zip file, say
        let err = decode_idx(&bytes).unwrap_err();
        assert!(err.contains("bad magic number"), "{err}");
    }

    #[test]
    fn rejects_non_byte_element_type() {
        let mut bytes = encode_idx(&labels(&[1, 2, 3]));
        bytes[2] = 0x0d; // float
        assert!(decode_idx(&bytes).unwrap_err().contains("only 0x08"));
    }

    #[test]
    fn rejects_truncation_in_header_and_data() {
        let bytes = encode_idx(&IdxArray {
            dims: vec![3, 2],
            data: vec![0; 6],
        });
        let err = decode_idx(&bytes[..6]).unwrap_err();
        assert!(err.contains("truncated header"), "{err}");
        let err = decode_idx(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(
            err.contains("truncated") && err.contains("need 6 data bytes"),
            "{err}"
        );
    }

    #[test]
    fn rejects_trailing_bytes() {
        let mut bytes = encode_idx(&labels(&[1, 2]));
        bytes.push(9);
        assert!(
            decode_idx(&bytes)
                .unwrap_err()
                .contains("1 unexpected bytes")
        );
    }

    #[test]
    fn rejects_dimensions_that_overflow() {
        let mut bytes = vec![0, 0, 8, 3];
        for _ in 0..3 {
            bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        }
        assert!(decode_idx(&bytes).unwrap_err().contains("size limit"));
    }

    #[test]
    fn reads_gzip_and_plain_files_alike() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let array = labels(&[3, 1, 4, 1, 5]);
        let plain = dir.path().join("plain");
        std::fs::write(&plain, encode_idx(&array)).unwrap();
        let gz = dir.path().join("packed.gz");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&encode_idx(&array)).unwrap();
        std::fs::write(&gz, encoder.finish().unwrap()).unwrap();
        assert_eq!(read_idx(&plain).unwrap(), array);
        assert_eq!(read_idx(&gz).unwrap(), array);
    }

    #[test]
    fn corrupt_gzip_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.gz");
        std::fs::write(&path, [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
        let message = read_idx(&path).unwrap_err().to_string();
        assert!(
            message.contains("broken.gz") && message.contains("gzip"),
            "{message}"
        );
    }
}
