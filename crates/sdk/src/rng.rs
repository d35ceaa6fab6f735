//! Seeded random numbers: every random draw in the lab comes from here, so a seed reproduces it.
//!
//! candle's CPU generator cannot be seeded, so weights, shuffles and noise are drawn from a
//! ChaCha8 stream instead. Independent purposes (initial weights, batch order, attack noise, ...)
//! use separate streams of the same seed, so adding draws to one never shifts another.

use rand::SeedableRng;
pub use rand::{Rng as _, RngCore};
use rand_chacha::ChaCha8Rng;

/// The lab's random number generator: ChaCha8, value-stable across platforms.
pub type Rng = ChaCha8Rng;

/// A generator for `seed`, on the stream named `purpose`.
///
/// The same `(seed, purpose)` always gives the same sequence; different purposes give
/// independent sequences.
pub fn rng(seed: u64, purpose: &str) -> Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream_id(purpose));
    rng
}

/// FNV-1a: a fixed, dependency-free hash, so stream ids never change between releases.
fn stream_id(purpose: &str) -> u64 {
    purpose.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A uniformly random permutation of `0..n` (Fisher-Yates).
pub fn permutation(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    rand::seq::SliceRandom::shuffle(order.as_mut_slice(), rng);
    order
}

/// `n` values drawn uniformly from `[low, high)`.
pub fn uniform(n: usize, low: f32, high: f32, rng: &mut Rng) -> Vec<f32> {
    (0..n)
        .map(|_| low + (high - low) * rand::Rng::random::<f32>(rng))
        .collect()
}

/// A fresh random seed, for when the user gave none (callers print it).
pub fn random_seed() -> u64 {
    rand::random::<u64>() >> 12 // keep seeds short enough to type back
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_purpose_repeat_and_purposes_differ() {
        let a: Vec<u32> = (0..4).map(|_| rng(7, "init").next_u32()).collect();
        let mut r1 = rng(7, "init");
        let mut r2 = rng(7, "init");
        let mut r3 = rng(7, "shuffle");
        let s1: Vec<u32> = (0..8).map(|_| r1.next_u32()).collect();
        let s2: Vec<u32> = (0..8).map(|_| r2.next_u32()).collect();
        let s3: Vec<u32> = (0..8).map(|_| r3.next_u32()).collect();
        assert_eq!(s1, s2);
        assert_ne!(s1, s3);
        assert_eq!(a[0], s1[0]);
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut order = permutation(100, &mut rng(1, "p"));
        assert_ne!(order, (0..100).collect::<Vec<_>>());
        order.sort_unstable();
        assert_eq!(order, (0..100).collect::<Vec<_>>());
    }
}
