//! Frames: an 8-byte little-endian length, then that many bytes. Reading never allocates more
//! than the bytes that actually arrive, and refuses a frame longer than the reader's cap.

use std::io::{self, Read, Write};

/// Writes one frame.
pub fn write(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    out.write_all(&(bytes.len() as u64).to_le_bytes())?;
    out.write_all(bytes)
}

/// Reads one frame of at most `cap` bytes; `Ok(None)` at a clean end of stream (before the
/// length). A frame cut short, or longer than `cap`, is an `InvalidData` error.
pub fn read(input: &mut impl Read, cap: u64) -> io::Result<Option<Vec<u8>>> {
    let mut length = [0u8; 8];
    let mut filled = 0;
    while filled < length.len() {
        match input.read(&mut length[filled..])? {
            0 if filled == 0 => return Ok(None),
            0 => return Err(invalid("the stream ended inside a frame length")),
            n => filled += n,
        }
    }
    let length = u64::from_le_bytes(length);
    if length > cap {
        return Err(invalid(&format!(
            "a frame of {length} bytes is over the {cap}-byte limit"
        )));
    }
    let mut bytes = Vec::new();
    input.take(length).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != length {
        return Err(invalid(&format!(
            "the stream ended after {} of a frame's {length} bytes",
            bytes.len()
        )));
    }
    Ok(Some(bytes))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_hostile_lengths_are_refused() {
        let mut stream = Vec::new();
        write(&mut stream, b"hello").unwrap();
        write(&mut stream, b"").unwrap();
        let mut input = stream.as_slice();
        assert_eq!(read(&mut input, 16).unwrap().unwrap(), b"hello");
        assert_eq!(read(&mut input, 16).unwrap().unwrap(), b"");
        assert!(read(&mut input, 16).unwrap().is_none());

        // A length claiming far more than the cap, then a frame cut short.
        let huge = u64::MAX.to_le_bytes();
        assert!(read(&mut huge.as_slice(), 1 << 20).is_err());
        let mut short = Vec::new();
        write(&mut short, b"0123456789").unwrap();
        short.truncate(12);
        assert!(read(&mut short.as_slice(), 1 << 20).is_err());
        assert!(read(&mut [1u8, 0, 0].as_slice(), 16).is_err());
    }
}
