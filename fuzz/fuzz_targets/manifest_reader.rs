//! Fuzzes the lab's manifest reader: any text parses to a manifest or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Ok(text) = std::str::from_utf8(input) {
        let _ = aisec_lab::manifest::Manifest::parse(text);
    }
});
