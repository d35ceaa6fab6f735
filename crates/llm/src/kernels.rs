//! Quantised matrix products on the CPU, in ggml's block formats and with ggml's arithmetic,
//! so that the model computes what llama.cpp computes for the same file.
//!
//! Weights stay in their GGUF blocks: Q4_1 (32 weights as 4-bit integers with an f16 scale
//! and minimum) for every projection, Q8_0 (32 weights as 8-bit integers with an f16 scale)
//! for the tied embedding and output layer. Activations are quantised per row on the fly,
//! to Q8_1 against Q4_1 weights and to Q8_0 against Q8_0 weights, as ggml does; the block dot
//! products then run on integers. On x86-64 with AVX2 and FMA (checked at run time) the dot
//! products use the same instruction sequence as ggml's, summing in the same order; elsewhere
//! a portable loop computes the same sums.
//!
//! This module holds the crate's only `unsafe` code: the AVX2 intrinsics, each reading a
//! block whose bounds the safe caller has already checked.
#![allow(unsafe_code)]

use half::f16;
use rayon::prelude::*;

/// Values per quantisation block, in every format here.
pub const BLOCK: usize = 32;
/// Bytes of one Q4_1 block: f16 scale, f16 minimum, 16 bytes of nibbles.
pub const Q4_1_BYTES: usize = 20;
/// Bytes of one Q8_0 block: f16 scale, 32 signed bytes.
pub const Q8_0_BYTES: usize = 34;

/// The quantisation of a weight matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// ggml type 3.
    Q4_1,
    /// ggml type 8.
    Q8_0,
}

impl Format {
    /// Bytes of one block in a GGUF file.
    pub fn block_bytes(self) -> usize {
        match self {
            Format::Q4_1 => Q4_1_BYTES,
            Format::Q8_0 => Q8_0_BYTES,
        }
    }

    /// Bytes of a block's packed integers.
    fn quant_bytes(self) -> usize {
        match self {
            Format::Q4_1 => 16,
            Format::Q8_0 => 32,
        }
    }
}

/// One row of a [`QMatrix`].
#[derive(Clone, Copy)]
struct WeightRow<'a> {
    scale: &'a [f32],
    min: &'a [f32],
    quants: &'a [u8],
}

/// A `rows × cols` weight matrix of 32-value blocks, row-major (each row `cols / 32` blocks).
/// Each block's f16 scale (and, for Q4_1, minimum) is kept as the f32 it stands for, beside
/// the block's packed integers, so the dot products convert nothing; the values are exactly
/// those of the GGUF blocks.
#[derive(Debug, Clone)]
pub struct QMatrix {
    format: Format,
    rows: usize,
    cols: usize,
    scale: Vec<f32>,
    min: Vec<f32>,
    quants: Vec<u8>,
}

impl QMatrix {
    /// The matrix stored as GGUF blocks in `bytes` (a GGUF tensor of shape `[cols, rows]`);
    /// `None` if the shape does not fit the bytes or the columns are not whole blocks.
    pub fn from_blocks(format: Format, rows: usize, cols: usize, bytes: &[u8]) -> Option<QMatrix> {
        if cols == 0 || rows == 0 || cols % BLOCK != 0 {
            return None;
        }
        let blocks = rows.checked_mul(cols / BLOCK)?;
        if bytes.len() != blocks.checked_mul(format.block_bytes())? {
            return None;
        }
        let per_block = format.quant_bytes();
        let mut matrix = QMatrix {
            format,
            rows,
            cols,
            scale: Vec::with_capacity(blocks),
            min: Vec::with_capacity(if format == Format::Q4_1 { blocks } else { 0 }),
            quants: Vec::with_capacity(blocks * per_block),
        };
        for block in bytes.chunks_exact(format.block_bytes()) {
            matrix.scale.push(half_at(block, 0));
            match format {
                Format::Q4_1 => {
                    matrix.min.push(half_at(block, 2));
                    matrix.quants.extend_from_slice(&block[4..]);
                }
                Format::Q8_0 => matrix.quants.extend_from_slice(&block[2..]),
            }
        }
        Some(matrix)
    }

    /// Output size.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input size.
    pub fn cols(&self) -> usize {
        self.cols
    }

    fn row(&self, r: usize) -> WeightRow<'_> {
        let blocks = self.cols / BLOCK;
        let per_block = self.format.quant_bytes();
        WeightRow {
            scale: &self.scale[r * blocks..(r + 1) * blocks],
            min: match self.format {
                Format::Q4_1 => &self.min[r * blocks..(r + 1) * blocks],
                Format::Q8_0 => &[],
            },
            quants: &self.quants[r * blocks * per_block..(r + 1) * blocks * per_block],
        }
    }

    /// Row `r` as f32 (the embedding lookup).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let row = self.row(r);
        let per_block = self.format.quant_bytes();
        for (b, out) in out.chunks_exact_mut(BLOCK).enumerate() {
            let d = row.scale[b];
            let q = &row.quants[b * per_block..(b + 1) * per_block];
            match self.format {
                Format::Q4_1 => {
                    let m = row.min[b];
                    for j in 0..16 {
                        out[j] = f32::from(q[j] & 0x0f) * d + m;
                        out[j + 16] = f32::from(q[j] >> 4) * d + m;
                    }
                }
                Format::Q8_0 => {
                    for j in 0..BLOCK {
                        out[j] = f32::from(q[j] as i8) * d;
                    }
                }
            }
        }
    }

    /// `out[t][r] = Σ_c self[r][c] · x[t][c]` for every row `t` of `x` (`tokens × cols`,
    /// quantised as ggml quantises activations), `out` being `tokens × rows`.
    pub fn matmul(&self, x: &Activations, out: &mut [f32]) {
        matmul_all(x, &mut [(self, out)]);
    }

    /// Rows `first..first + values.len() / tokens` of the product with every token of `x`,
    /// into `values` row by row (`values[i * tokens + t]`).
    fn band(&self, x: &Activations, first: usize, values: &mut [f32]) {
        let tokens = x.rows;
        let fast = avx2();
        // One token: two rows at a time, whose independent sums keep the CPU busy.
        #[cfg(target_arch = "x86_64")]
        if fast && tokens == 1 {
            let x = x.row(0);
            let done = values.len() / 2 * 2;
            let mut pairs = values.chunks_exact_mut(2);
            for (i, pair) in pairs.by_ref().enumerate() {
                let rows = [self.row(first + 2 * i), self.row(first + 2 * i + 1)];
                pair.copy_from_slice(&match self.format {
                    Format::Q4_1 => avx::dot_q4_1_q8_1_rows2(rows, x),
                    Format::Q8_0 => avx::dot_q8_0_q8_0_rows2(rows, x),
                });
            }
            for (i, value) in pairs.into_remainder().iter_mut().enumerate() {
                let row = self.row(first + done + i);
                *value = match self.format {
                    Format::Q4_1 => avx::dot_q4_1_q8_1(row, x),
                    Format::Q8_0 => avx::dot_q8_0_q8_0(row, x),
                };
            }
            return;
        }
        for (i, row_out) in values.chunks_exact_mut(tokens).enumerate() {
            let row = self.row(first + i);
            let mut t = 0;
            #[cfg(target_arch = "x86_64")]
            if fast && self.format == Format::Q4_1 {
                while t + GROUP <= tokens {
                    row_out[t..t + GROUP].copy_from_slice(&avx::dot_q4_1_q8_1_group(
                        row,
                        x,
                        t / GROUP,
                    ));
                    t += GROUP;
                }
                while t + 4 <= tokens {
                    let xs = [x.row(t), x.row(t + 1), x.row(t + 2), x.row(t + 3)];
                    row_out[t..t + 4].copy_from_slice(&avx::dot_q4_1_q8_1_n(row, xs));
                    t += 4;
                }
            }
            for (t, value) in row_out.iter_mut().enumerate().skip(t) {
                *value = match (self.format, fast) {
                    (Format::Q4_1, true) => avx::dot_q4_1_q8_1(row, x.row(t)),
                    (Format::Q4_1, false) => dot_q4_1_q8_1(row, x.row(t)),
                    (Format::Q8_0, true) => avx::dot_q8_0_q8_0(row, x.row(t)),
                    (Format::Q8_0, false) => dot_q8_0_q8_0(row, x.row(t)),
                };
            }
        }
    }

    /// The format activations must be quantised to for this matrix.
    pub fn activation_format(&self) -> ActivationFormat {
        match self.format {
            Format::Q4_1 => ActivationFormat::Q8_1,
            Format::Q8_0 => ActivationFormat::Q8_0,
        }
    }
}

/// Every product `matrix · x` into its `out` (as [`QMatrix::matmul`]), in one parallel pass:
/// the projections that read the same activations (query, key and value; gate and up) share
/// one hand-out of work to the threads instead of waiting for each other.
pub fn matmul_all(x: &Activations, products: &mut [(&QMatrix, &mut [f32])]) {
    let tokens = x.rows;
    for (matrix, out) in products.iter() {
        assert!(
            x.cols == matrix.cols && out.len() == tokens * matrix.rows,
            "a product of mismatched sizes"
        );
    }
    let total_rows: usize = products.iter().map(|(matrix, _)| matrix.rows).sum();
    // Each task takes a band of rows for every token, so a weight row is read from memory once
    // per call.
    let band = (total_rows / (rayon::current_num_threads() * 4)).clamp(16, 256);
    // Bands hold a row's values for every token; with one token that is already `out`'s layout.
    let mut by_row: Vec<Vec<f32>> = if tokens == 1 {
        Vec::new()
    } else {
        products
            .iter()
            .map(|(matrix, _)| vec![0f32; tokens * matrix.rows])
            .collect()
    };
    let mut tasks: Vec<(&QMatrix, usize, &mut [f32])> = Vec::new();
    if tokens == 1 {
        for (matrix, out) in products.iter_mut() {
            for (i, values) in out.chunks_mut(band).enumerate() {
                tasks.push((matrix, i * band, values));
            }
        }
    } else {
        for ((matrix, _), values) in products.iter().zip(by_row.iter_mut()) {
            for (i, values) in values.chunks_mut(band * tokens).enumerate() {
                tasks.push((matrix, i * band, values));
            }
        }
    }
    tasks
        .into_par_iter()
        .for_each(|(matrix, first, values)| matrix.band(x, first, values));
    // Transposed in tiles of TILE tokens × TILE rows, so both sides are read and written a
    // cache line at a time; the threads take TILE tokens each.
    const TILE: usize = 16;
    for ((matrix, out), by_row) in products.iter_mut().zip(&by_row) {
        let rows = matrix.rows;
        out.par_chunks_mut(TILE * rows)
            .enumerate()
            .for_each(|(tile, out)| {
                let t0 = tile * TILE;
                for r0 in (0..rows).step_by(TILE) {
                    let r1 = (r0 + TILE).min(rows);
                    for (i, out) in out.chunks_exact_mut(rows).enumerate() {
                        let t = t0 + i;
                        for (r, value) in (r0..r1).zip(&mut out[r0..r1]) {
                            *value = by_row[r * tokens + t];
                        }
                    }
                }
            });
    }
}

/// How activations are quantised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationFormat {
    /// Scale and scaled sum as f16, 32 signed bytes (for Q4_1 weights).
    Q8_1,
    /// Scale as f16, 32 signed bytes (for Q8_0 weights).
    Q8_0,
}

/// Rows of activations quantised in 32-value blocks: per block a scale `d`, for Q8_1 the
/// block's `d · Σq`, and 32 signed bytes.
#[derive(Debug, Clone, Default)]
pub struct Activations {
    rows: usize,
    cols: usize,
    scale: Vec<f32>,
    sum: Vec<f32>,
    quants: Vec<i8>,
    /// `scale` and `sum` again for each whole group of [`GROUP`] rows, block by block with
    /// the group's rows side by side, so a kernel loads one block's values for the whole
    /// group at once.
    grouped_scale: Vec<f32>,
    grouped_sum: Vec<f32>,
}

/// Activation rows that one pass over a weight row serves together.
const GROUP: usize = 8;

/// One row of [`Activations`].
#[derive(Clone, Copy)]
pub struct ActivationRow<'a> {
    scale: &'a [f32],
    sum: &'a [f32],
    quants: &'a [i8],
}

impl Activations {
    /// Quantises `x` (`rows × cols`, `cols` whole blocks) in `format`, reusing the buffers.
    pub fn quantize(&mut self, x: &[f32], rows: usize, cols: usize, format: ActivationFormat) {
        debug_assert_eq!(x.len(), rows * cols);
        debug_assert_eq!(cols % BLOCK, 0);
        let blocks = rows * cols / BLOCK;
        self.rows = rows;
        self.cols = cols;
        self.scale.resize(blocks, 0.0);
        self.sum.resize(blocks, 0.0);
        self.quants.resize(rows * cols, 0);
        for (b, values) in x.chunks_exact(BLOCK).enumerate() {
            let max = values.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = max / 127.0;
            let inverse = if max != 0.0 { 127.0 / max } else { 0.0 };
            let mut total = 0i32;
            for (q, &v) in self.quants[b * BLOCK..(b + 1) * BLOCK]
                .iter_mut()
                .zip(values)
            {
                let rounded = round_ties_even_small(v * inverse) as i32;
                total += rounded;
                *q = rounded as i8;
            }
            self.scale[b] = f16::from_f32(d).to_f32();
            self.sum[b] = match format {
                ActivationFormat::Q8_1 => f16::from_f32(d * total as f32).to_f32(),
                ActivationFormat::Q8_0 => 0.0,
            };
        }
        let per_row = cols / BLOCK;
        let grouped = rows / GROUP * GROUP * per_row;
        self.grouped_scale.resize(grouped, 0.0);
        self.grouped_sum.resize(grouped, 0.0);
        for g in 0..rows / GROUP {
            for b in 0..per_row {
                for t in 0..GROUP {
                    let at = (g * per_row + b) * GROUP + t;
                    let from = (g * GROUP + t) * per_row + b;
                    self.grouped_scale[at] = self.scale[from];
                    self.grouped_sum[at] = self.sum[from];
                }
            }
        }
    }

    /// Group `g`'s block values (see [`Activations::grouped_scale`]) and quantised rows.
    fn group(&self, g: usize) -> (&[f32], &[f32], &[i8]) {
        let per_row = self.cols / BLOCK;
        let blocks = per_row * GROUP;
        (
            &self.grouped_scale[g * blocks..(g + 1) * blocks],
            &self.grouped_sum[g * blocks..(g + 1) * blocks],
            &self.quants[g * GROUP * self.cols..(g + 1) * GROUP * self.cols],
        )
    }

    fn row(&self, t: usize) -> ActivationRow<'_> {
        let blocks = self.cols / BLOCK;
        ActivationRow {
            scale: &self.scale[t * blocks..(t + 1) * blocks],
            sum: &self.sum[t * blocks..(t + 1) * blocks],
            quants: &self.quants[t * self.cols..(t + 1) * self.cols],
        }
    }
}

/// `x` rounded to the nearest integer, ties to even, for `|x| <= 2^22` (the scaled
/// activations are within ±127): adding and removing 1.5·2^23 leaves no fraction bits, in the
/// default rounding mode. Identical to `round_ties_even`, without a libm call on CPUs where
/// that is not one instruction.
fn round_ties_even_small(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23
    (x + MAGIC) - MAGIC
}

fn half_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([bytes[at], bytes[at + 1]])).to_f32()
}

/// Portable Q4_1 · Q8_1 dot product of one weight row and one activation row.
fn dot_q4_1_q8_1(w: WeightRow<'_>, x: ActivationRow<'_>) -> f32 {
    let mut total = 0f32;
    for b in 0..w.scale.len() {
        let nibbles = &w.quants[b * 16..(b + 1) * 16];
        let q = &x.quants[b * BLOCK..(b + 1) * BLOCK];
        let mut sum = 0i32;
        for j in 0..16 {
            sum += i32::from(nibbles[j] & 0x0f) * i32::from(q[j]);
            sum += i32::from(nibbles[j] >> 4) * i32::from(q[j + 16]);
        }
        total += w.scale[b] * x.scale[b] * sum as f32 + w.min[b] * x.sum[b];
    }
    total
}

/// Portable Q8_0 · Q8_0 dot product.
fn dot_q8_0_q8_0(w: WeightRow<'_>, x: ActivationRow<'_>) -> f32 {
    let mut total = 0f32;
    for b in 0..w.scale.len() {
        let sum: i32 = w.quants[b * BLOCK..(b + 1) * BLOCK]
            .iter()
            .zip(&x.quants[b * BLOCK..(b + 1) * BLOCK])
            .map(|(&w, &a)| i32::from(w as i8) * i32::from(a))
            .sum();
        total += w.scale[b] * x.scale[b] * sum as f32;
    }
    total
}

/// `e^x` as ggml's AVX-512 `ggml_v_expf` computes each lane (ARM's optimised-routines
/// polynomial, at most ~1.5 ulp from the true value): llama.cpp's softmax and SiLU use it, so
/// this crate does too. Every step is an IEEE operation or a fused multiply-add, so the result
/// is the same bits on any CPU (fast where the caller is compiled with FMA).
#[inline(always)]
fn ggml_expf(x: f32) -> f32 {
    let r = f32::from_bits(0x4b40_0000); // 0x1.8p23
    let z = x.mul_add(f32::from_bits(0x3fb8_aa3b), r); // log2(e)
    let n = z - r;
    // x - n·ln 2, with ln 2 in two parts.
    let b = (-n).mul_add(
        f32::from_bits(0x35bf_be8e),
        (-n).mul_add(f32::from_bits(0x3f31_7200), x),
    );
    let u = b * b;
    let j = f32::from_bits(0x3c07_2010)
        .mul_add(b, f32::from_bits(0x3d2b_9f17))
        .mul_add(
            u,
            f32::from_bits(0x3e2a_af33).mul_add(b, f32::from_bits(0x3eff_fedb)),
        )
        .mul_add(u, f32::from_bits(0x3f7f_fff6).mul_add(b, 1.0));
    if n.abs() > 192.0 {
        return if n <= 0.0 { 0.0 } else { f32::INFINITY };
    }
    scale_by_power_of_two(j, n as i32)
}

/// `x · 2^n`, rounded once (as `_mm512_scalef_ps`).
#[inline(always)]
fn scale_by_power_of_two(x: f32, n: i32) -> f32 {
    let power = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    if n < -126 {
        // x · 2^-126 is exact for the polynomial's range; the second product rounds once.
        x * power(-126) * power(n + 126)
    } else if n > 127 {
        x * power(127) * power(n - 127)
    } else {
        x * power(n)
    }
}

/// The sum of 16 floats in the order GCC's `_mm512_reduce_add_ps` adds them.
#[inline(always)]
fn reduce_add_16(v: &[f32; 16]) -> f32 {
    let mut t3 = [0f32; 8];
    for i in 0..8 {
        t3[i] = v[8 + i] + v[i];
    }
    let mut t6 = [0f32; 4];
    for i in 0..4 {
        t6[i] = t3[4 + i] + t3[i];
    }
    (t6[0] + t6[2]) + (t6[1] + t6[3])
}

#[inline(always)]
fn dot_f16_body(a: &[f32], b: &[f32], single: bool) -> f32 {
    if single {
        let mut sum = [[0f32; 16]; 4];
        for (ca, cb) in a.chunks_exact(64).zip(b.chunks_exact(64)) {
            for (j, sum) in sum.iter_mut().enumerate() {
                for l in 0..16 {
                    sum[l] = ca[16 * j + l].mul_add(cb[16 * j + l], sum[l]);
                }
            }
        }
        let mut x = [0f32; 16];
        for l in 0..16 {
            x[l] = (sum[0][l] + sum[2][l]) + (sum[1][l] + sum[3][l]);
        }
        reduce_add_16(&x)
    } else {
        let mut acc = [0f32; 16];
        for (ca, cb) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
            for l in 0..16 {
                acc[l] = ca[l].mul_add(cb[l], acc[l]);
            }
        }
        reduce_add_16(&acc)
    }
}

#[inline(always)]
fn softmax_body(scores: &[f32], visible: usize, probs: &mut [f32]) {
    let max = scores[..visible]
        .iter()
        .fold(f32::NEG_INFINITY, |m, &s| m.max(s));
    let mut sum = 0f64;
    for (c, chunk) in probs.chunks_exact_mut(16).enumerate() {
        let mut v = [0f32; 16];
        for (l, value) in v.iter_mut().enumerate() {
            let p = c * 16 + l;
            if p < visible {
                *value = ggml_expf(scores[p] - max);
            }
        }
        chunk.copy_from_slice(&v);
        sum += f64::from(reduce_add_16(&v));
    }
    let inverse = (1.0 / sum) as f32;
    for p in probs[..visible].iter_mut() {
        *p *= inverse;
    }
}

#[inline(always)]
fn swiglu_body(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + ggml_expf(0.0 - *g)) * u;
    }
}

#[cfg(target_arch = "x86_64")]
mod fused {
    //! The bodies above compiled with FMA, so `mul_add` is one instruction.
    #[target_feature(enable = "avx2,fma")]
    pub fn dot_f16(a: &[f32], b: &[f32], single: bool) -> f32 {
        super::dot_f16_body(a, b, single)
    }
    #[target_feature(enable = "avx2,fma")]
    pub fn weighted_rows(
        probs: &[f32],
        values: &[f32],
        width: usize,
        single: bool,
        out: &mut [f32],
    ) {
        super::weighted_rows_body(probs, values, width, single, out)
    }
}

/// A dot product of f16 values (held as f32) as llama.cpp's CPU backend computes it on
/// AVX-512: for one query (`single`), `ggml_vec_dot_f16` (four 16-lane accumulators over
/// steps of 64, combined pairwise); for a batch of queries, llamafile's tinyBLAS (one 16-lane
/// accumulator over steps of 16); both end as GCC's `_mm512_reduce_add_ps`. The caller pads
/// `a` and `b` with zeros to a multiple of 64.
pub fn dot_f16_as_ggml(a: &[f32], b: &[f32], single: bool) -> f32 {
    assert!(
        a.len() == b.len() && a.len() % 64 == 0,
        "padded f16 dot of unequal lengths"
    );
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 and FMA (checked by `avx2`).
        return unsafe { fused::dot_f16(a, b, single) };
    }
    dot_f16_body(a, b, single)
}

/// `scores[p] = dot_f16_as_ggml(query, keys[p]) · scale` for every key (`keys` holds
/// `scores.len()` rows of `query.len()` values, a multiple of 64), summed as
/// [`dot_f16_as_ggml`] sums.
pub fn scores_as_ggml(query: &[f32], keys: &[f32], single: bool, scale: f32, scores: &mut [f32]) {
    let width = query.len();
    assert!(
        width % 64 == 0 && keys.len() == scores.len() * width,
        "attention scores of mismatched sizes"
    );
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 and FMA (checked by `avx2`); the sizes are checked above.
        return unsafe { avx::scores(query, keys, single, scale, scores) };
    }
    for (score, key) in scores.iter_mut().zip(keys.chunks_exact(width)) {
        *score = dot_f16_body(query, key, single) * scale;
    }
}

/// Adds `probs · values` (positions × `width` values, row-major) into `out` (`width`), each
/// output summed over positions in the order [`dot_f16_as_ggml`] sums a column: reading the
/// values row by row gives the same sums as gathering each column.
pub fn weighted_rows_as_ggml(
    probs: &[f32],
    values: &[f32],
    width: usize,
    single: bool,
    out: &mut [f32],
) {
    assert!(
        values.len() == probs.len() * width && out.len() == width,
        "weighted rows of mismatched sizes"
    );
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 and FMA (checked by `avx2`).
        return unsafe {
            if width % 8 == 0 {
                avx::weighted_rows(probs, values, width, single, out)
            } else {
                fused::weighted_rows(probs, values, width, single, out)
            }
        };
    }
    weighted_rows_body(probs, values, width, single, out)
}

/// Accumulator rows of a weighted sum: one per lane of the dot product it stands for, and for
/// `single` per each of its four groups of 16 lanes.
fn accumulator_rows(single: bool) -> usize {
    if single { 64 } else { 16 }
}

/// The accumulator row that position `p` adds into (see [`accumulator_rows`]).
#[inline(always)]
fn accumulator_row(p: usize, single: bool) -> usize {
    if single {
        (p % 64) / 16 * 16 + p % 16
    } else {
        p % 16
    }
}

#[inline(always)]
fn weighted_rows_body(probs: &[f32], values: &[f32], width: usize, single: bool, out: &mut [f32]) {
    let mut acc = vec![0f32; accumulator_rows(single) * width];
    for (p, (&w, row)) in probs.iter().zip(values.chunks_exact(width)).enumerate() {
        let slot = accumulator_row(p, single);
        let acc = &mut acc[slot * width..(slot + 1) * width];
        for (a, &v) in acc.iter_mut().zip(row) {
            *a = v.mul_add(w, *a);
        }
    }
    for (d, o) in out.iter_mut().enumerate() {
        let mut lanes = [0f32; 16];
        for (l, lane) in lanes.iter_mut().enumerate() {
            let at = |j: usize| acc[(j * 16 + l) * width + d];
            *lane = if single {
                (at(0) + at(2)) + (at(1) + at(3))
            } else {
                at(0)
            };
        }
        *o = reduce_add_16(&lanes);
    }
}

/// ggml's softmax of `scores[..visible]` into `probs` (zero beyond `visible`; `probs` a
/// multiple of 16 long): the exponentials by [`ggml_expf`], summed per 16 in f64.
pub fn softmax_as_ggml(scores: &[f32], visible: usize, probs: &mut [f32]) {
    assert!(
        visible >= 1 && visible <= scores.len() && probs.len() % 16 == 0 && probs.len() >= visible,
        "softmax of a badly sized row"
    );
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 and FMA (checked by `avx2`).
        return unsafe { avx::softmax(scores, visible, probs) };
    }
    softmax_body(scores, visible, probs)
}

/// `gate[i] = silu(gate[i]) · up[i]` with ggml's SiLU.
pub fn swiglu_as_ggml(gate: &mut [f32], up: &[f32]) {
    assert_eq!(gate.len(), up.len(), "SwiGLU of unequal lengths");
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 and FMA (checked by `avx2`).
        return unsafe { avx::swiglu(gate, up) };
    }
    swiglu_body(gate, up)
}

/// Each value rounded to the nearest f16 (ties to even), kept as f32.
pub fn round_to_f16(values: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked by `avx2`).
        return unsafe { avx::round_to_f16(values) };
    }
    for v in values {
        *v = f16::from_f32(*v).to_f32();
    }
}

/// Whether the AVX2 kernels can run here.
fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVX2.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    //! ggml's AVX2 block dot products. The public functions
    //! are safe: they check the slice lengths, and run only once [`super::avx2`] has seen the
    //! CPU features.
    use std::arch::x86_64::*;

    use super::{ActivationRow, Activations, BLOCK, GROUP, WeightRow};

    /// Horizontal sum of 8 floats, in ggml's order.
    #[target_feature(enable = "avx2,fma")]
    fn hsum_float_8(x: __m256) -> f32 {
        let mut res = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
        res = _mm_add_ps(res, _mm_movehl_ps(res, res));
        res = _mm_add_ss(res, _mm_movehdup_ps(res));
        _mm_cvtss_f32(res)
    }

    /// [`super::ggml_expf`] of 8 lanes: the same operations lane by lane, the power-of-two
    /// scaling split in two factors (the second one when the first alone would leave the
    /// exponent range), so every lane has the scalar function's bits.
    #[target_feature(enable = "avx2,fma")]
    fn expf_8(x: __m256) -> __m256 {
        let f = |bits: u32| _mm256_set1_ps(f32::from_bits(bits));
        let r = f(0x4b40_0000);
        let z = _mm256_fmadd_ps(x, f(0x3fb8_aa3b), r);
        let n = _mm256_sub_ps(z, r);
        let b = _mm256_fnmadd_ps(n, f(0x35bf_be8e), _mm256_fnmadd_ps(n, f(0x3f31_7200), x));
        let u = _mm256_mul_ps(b, b);
        let j = _mm256_fmadd_ps(
            _mm256_fmadd_ps(
                _mm256_fmadd_ps(f(0x3c07_2010), b, f(0x3d2b_9f17)),
                u,
                _mm256_fmadd_ps(f(0x3e2a_af33), b, f(0x3eff_fedb)),
            ),
            u,
            _mm256_fmadd_ps(f(0x3f7f_fff6), b, _mm256_set1_ps(1.0)),
        );
        // `n` is a whole number; clamped first so the integer steps cannot overflow.
        let clamped = _mm256_min_ps(
            _mm256_max_ps(n, _mm256_set1_ps(-200.0)),
            _mm256_set1_ps(200.0),
        );
        let whole = _mm256_cvtps_epi32(clamped);
        let first = _mm256_min_epi32(
            _mm256_max_epi32(whole, _mm256_set1_epi32(-126)),
            _mm256_set1_epi32(127),
        );
        let second = _mm256_sub_epi32(whole, first);
        let power = |e: __m256i| {
            _mm256_castsi256_ps(_mm256_slli_epi32(
                _mm256_add_epi32(e, _mm256_set1_epi32(127)),
                23,
            ))
        };
        let scaled = _mm256_mul_ps(_mm256_mul_ps(j, power(first)), power(second));
        // Beyond ±192 the result is 0 or infinity, by the sign of `n`.
        let magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0), n);
        let out_of_range = _mm256_cmp_ps(magnitude, _mm256_set1_ps(192.0), _CMP_GT_OQ);
        let positive = _mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_GT_OQ);
        let limit = _mm256_and_ps(positive, _mm256_set1_ps(f32::INFINITY));
        _mm256_blendv_ps(scaled, limit, out_of_range)
    }

    /// 16 lanes summed as GCC's `_mm512_reduce_add_ps` sums them.
    #[target_feature(enable = "avx2,fma")]
    fn reduce_add_16(low: __m256, high: __m256) -> f32 {
        hsum_float_8(_mm256_add_ps(high, low))
    }

    /// [`super::scores_as_ggml`].
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; the query is a multiple of 64 long and `keys` holds
    /// `scores.len()` rows of its length.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn scores(
        query: &[f32],
        keys: &[f32],
        single: bool,
        scale: f32,
        scores: &mut [f32],
    ) {
        let width = query.len();
        let q = query.as_ptr();
        for (score, key) in scores.iter_mut().zip(keys.chunks_exact(width)) {
            let k = key.as_ptr();
            // SAFETY: every offset read is below `width`, the length of both rows.
            let dot = unsafe {
                let at = |p: *const f32, i: usize| _mm256_loadu_ps(p.add(i));
                if single {
                    // Four 16-lane accumulators over steps of 64, combined pairwise.
                    let mut sum = [_mm256_setzero_ps(); 8];
                    for step in (0..width).step_by(64) {
                        for (j, sum) in sum.iter_mut().enumerate() {
                            *sum = _mm256_fmadd_ps(at(q, step + 8 * j), at(k, step + 8 * j), *sum);
                        }
                    }
                    let low =
                        _mm256_add_ps(_mm256_add_ps(sum[0], sum[4]), _mm256_add_ps(sum[2], sum[6]));
                    let high =
                        _mm256_add_ps(_mm256_add_ps(sum[1], sum[5]), _mm256_add_ps(sum[3], sum[7]));
                    reduce_add_16(low, high)
                } else {
                    // One 16-lane accumulator over steps of 16.
                    let (mut low, mut high) = (_mm256_setzero_ps(), _mm256_setzero_ps());
                    for step in (0..width).step_by(16) {
                        low = _mm256_fmadd_ps(at(q, step), at(k, step), low);
                        high = _mm256_fmadd_ps(at(q, step + 8), at(k, step + 8), high);
                    }
                    reduce_add_16(low, high)
                }
            };
            *score = dot * scale;
        }
    }

    /// [`super::weighted_rows_body`] for a width that is whole steps of 8: the accumulator
    /// rows are added up 8 columns at a time, in the order `reduce_add_16` adds lanes.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `width % 8 == 0` and the sizes are as
    /// [`super::weighted_rows_as_ggml`] checks them.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn weighted_rows(
        probs: &[f32],
        values: &[f32],
        width: usize,
        single: bool,
        out: &mut [f32],
    ) {
        let mut acc = vec![0f32; super::accumulator_rows(single) * width];
        for (p, (&w, row)) in probs.iter().zip(values.chunks_exact(width)).enumerate() {
            let slot = super::accumulator_row(p, single);
            let acc = &mut acc[slot * width..(slot + 1) * width];
            let weight = _mm256_set1_ps(w);
            for (a, v) in acc.chunks_exact_mut(8).zip(row.chunks_exact(8)) {
                // SAFETY: both chunks hold 8 floats.
                unsafe {
                    let sum = _mm256_fmadd_ps(
                        _mm256_loadu_ps(v.as_ptr()),
                        weight,
                        _mm256_loadu_ps(a.as_ptr()),
                    );
                    _mm256_storeu_ps(a.as_mut_ptr(), sum);
                }
            }
        }
        for (d, out) in out.chunks_exact_mut(8).enumerate() {
            // SAFETY: every slot row is `width` long and `8 * d + 8 <= width`.
            unsafe {
                let at = |slot: usize| _mm256_loadu_ps(acc.as_ptr().add(slot * width + 8 * d));
                let mut lanes = [_mm256_setzero_ps(); 16];
                for (l, lane) in lanes.iter_mut().enumerate() {
                    *lane = if single {
                        _mm256_add_ps(
                            _mm256_add_ps(at(l), at(32 + l)),
                            _mm256_add_ps(at(16 + l), at(48 + l)),
                        )
                    } else {
                        at(l)
                    };
                }
                let mut t3 = [_mm256_setzero_ps(); 8];
                for i in 0..8 {
                    t3[i] = _mm256_add_ps(lanes[8 + i], lanes[i]);
                }
                let t6 = [
                    _mm256_add_ps(t3[4], t3[0]),
                    _mm256_add_ps(t3[5], t3[1]),
                    _mm256_add_ps(t3[6], t3[2]),
                    _mm256_add_ps(t3[7], t3[3]),
                ];
                let total = _mm256_add_ps(_mm256_add_ps(t6[0], t6[2]), _mm256_add_ps(t6[1], t6[3]));
                _mm256_storeu_ps(out.as_mut_ptr(), total);
            }
        }
    }

    /// [`super::softmax_body`], 16 positions at a time in two registers.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; the sizes are as [`super::softmax_as_ggml`] checks them.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn softmax(scores: &[f32], visible: usize, probs: &mut [f32]) {
        let max = scores[..visible]
            .iter()
            .fold(f32::NEG_INFINITY, |m, &s| m.max(s));
        let max8 = _mm256_set1_ps(max);
        let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let mut sum = 0f64;
        for (c, chunk) in probs.chunks_exact_mut(16).enumerate() {
            let mut halves = [_mm256_setzero_ps(); 2];
            for (h, half) in halves.iter_mut().enumerate() {
                let first = c * 16 + h * 8;
                if first >= visible {
                    continue;
                }
                let mut lanes = [f32::NEG_INFINITY; 8];
                let end = visible.min(first + 8);
                lanes[..end - first].copy_from_slice(&scores[first..end]);
                let shown = _mm256_cmpgt_epi32(_mm256_set1_epi32((end - first) as i32), lane);
                // SAFETY: `lanes` holds 8 floats.
                let x = unsafe { _mm256_loadu_ps(lanes.as_ptr()) };
                let e = expf_8(_mm256_sub_ps(x, max8));
                *half = _mm256_and_ps(e, _mm256_castsi256_ps(shown));
            }
            // SAFETY: `chunk` holds 16 floats.
            unsafe {
                _mm256_storeu_ps(chunk.as_mut_ptr(), halves[0]);
                _mm256_storeu_ps(chunk.as_mut_ptr().add(8), halves[1]);
            }
            sum += f64::from(hsum_float_8(_mm256_add_ps(halves[1], halves[0])));
        }
        let inverse = _mm256_set1_ps((1.0 / sum) as f32);
        let mut chunks = probs[..visible].chunks_exact_mut(8);
        for chunk in chunks.by_ref() {
            // SAFETY: `chunk` holds 8 floats.
            unsafe {
                let p = _mm256_loadu_ps(chunk.as_ptr());
                _mm256_storeu_ps(chunk.as_mut_ptr(), _mm256_mul_ps(p, inverse));
            }
        }
        let inverse = (1.0 / sum) as f32;
        for p in chunks.into_remainder() {
            *p *= inverse;
        }
    }

    /// [`super::swiglu_body`], 8 values at a time.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `gate` and `up` have the same length.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn swiglu(gate: &mut [f32], up: &[f32]) {
        let done = gate.len() / 8 * 8;
        for (g, u) in gate[..done].chunks_exact_mut(8).zip(up.chunks_exact(8)) {
            // SAFETY: both chunks hold 8 floats.
            unsafe {
                let x = _mm256_loadu_ps(g.as_ptr());
                let e = expf_8(_mm256_sub_ps(_mm256_setzero_ps(), x));
                let silu = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0), e));
                _mm256_storeu_ps(
                    g.as_mut_ptr(),
                    _mm256_mul_ps(silu, _mm256_loadu_ps(u.as_ptr())),
                );
            }
        }
        super::swiglu_body(&mut gate[done..], &up[done..]);
    }

    /// Each value rounded to the nearest f16 and back, 8 at a time.
    ///
    /// # Safety
    /// The CPU has AVX2 and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn round_to_f16(values: &mut [f32]) {
        let mut chunks = values.chunks_exact_mut(8);
        for chunk in chunks.by_ref() {
            // SAFETY: `chunk` holds 8 floats.
            unsafe {
                let x = _mm256_loadu_ps(chunk.as_ptr());
                let half = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(x);
                _mm256_storeu_ps(chunk.as_mut_ptr(), _mm256_cvtph_ps(half));
            }
        }
        for v in chunks.into_remainder() {
            *v = half::f16::from_f32(*v).to_f32();
        }
    }

    /// 32 unsigned bytes times 32 signed bytes, summed in pairs then fours, as 8 floats.
    #[target_feature(enable = "avx2,fma")]
    fn mul_sum_us8_pairs_float(ax: __m256i, sy: __m256i) -> __m256 {
        let dot = _mm256_maddubs_epi16(ax, sy);
        let summed = _mm256_madd_epi16(_mm256_set1_epi16(1), dot);
        _mm256_cvtepi32_ps(summed)
    }

    /// 32 signed bytes times 32 signed bytes, as 8 floats.
    #[target_feature(enable = "avx2,fma")]
    fn mul_sum_i8_pairs_float(x: __m256i, y: __m256i) -> __m256 {
        let ax = _mm256_sign_epi8(x, x);
        let sy = _mm256_sign_epi8(y, x);
        mul_sum_us8_pairs_float(ax, sy)
    }

    /// 32 bytes from `bytes[at..at + 32]`.
    ///
    /// # Safety
    /// `at + 32 <= bytes.len()` and the elements are bytes.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load_32<T: Copy>(bytes: &[T], at: usize) -> __m256i {
        debug_assert!(std::mem::size_of::<T>() == 1 && at + 32 <= bytes.len());
        // SAFETY: guaranteed by the caller.
        unsafe { _mm256_loadu_si256(bytes.as_ptr().add(at) as *const __m256i) }
    }

    /// The 32 nibbles of `bytes[at..at + 16]` as 32 bytes: low nibbles first, then high.
    ///
    /// # Safety
    /// `at + 16 <= bytes.len()`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn nibbles_32(bytes: &[u8], at: usize) -> __m256i {
        debug_assert!(at + 16 <= bytes.len());
        // SAFETY: guaranteed by the caller.
        let tmp = unsafe { _mm_loadu_si128(bytes.as_ptr().add(at) as *const __m128i) };
        let both = _mm256_insertf128_si256(_mm256_castsi128_si256(tmp), _mm_srli_epi16(tmp, 4), 1);
        _mm256_and_si256(_mm256_set1_epi8(0x0f), both)
    }

    /// # Safety
    /// The lengths of `w` and every row of `xs` agree (see [`check`]).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn q4_1_q8_1<const N: usize>(w: WeightRow<'_>, xs: [ActivationRow<'_>; N]) -> [f32; N] {
        let mut acc = [_mm256_setzero_ps(); N];
        let mut summs = [0f32; N];
        for b in 0..w.scale.len() {
            // SAFETY: `b` is below the block count, which every slice here holds.
            unsafe {
                let (d0, m0) = (*w.scale.get_unchecked(b), *w.min.get_unchecked(b));
                let bx = nibbles_32(w.quants, b * 16);
                for t in 0..N {
                    let x = &xs[t];
                    summs[t] += m0 * *x.sum.get_unchecked(b);
                    let d0d1 = _mm256_set1_ps(d0 * *x.scale.get_unchecked(b));
                    let by = load_32(x.quants, b * BLOCK);
                    acc[t] = _mm256_fmadd_ps(d0d1, mul_sum_us8_pairs_float(bx, by), acc[t]);
                }
            }
        }
        let mut out = [0f32; N];
        for t in 0..N {
            out[t] = hsum_float_8(acc[t]) + summs[t];
        }
        out
    }

    /// Q4_1 · Q8_1 of one weight row with the [`GROUP`] activation rows of group `g`, each
    /// as [`dot_q4_1_q8_1`]: the per-block scalar products of all rows are one vector each.
    pub fn dot_q4_1_q8_1_group(w: WeightRow<'_>, x: &Activations, g: usize) -> [f32; GROUP] {
        let (scale, sum, quants) = x.group(g);
        let blocks = w.scale.len();
        assert!(
            w.min.len() == blocks
                && w.quants.len() == blocks * 16
                && scale.len() == blocks * GROUP
                && sum.len() == blocks * GROUP
                && quants.len() == blocks * BLOCK * GROUP,
            "a weight row and its activations disagree"
        );
        assert!(super::avx2(), "the AVX2 kernels need AVX2 and FMA");
        // SAFETY: the lengths and the CPU features are checked above.
        unsafe { q4_1_q8_1_group(w, scale, sum, quants) }
    }

    /// # Safety
    /// The lengths agree as [`dot_q4_1_q8_1_group`] checks them.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn q4_1_q8_1_group(
        w: WeightRow<'_>,
        scale: &[f32],
        sum: &[f32],
        quants: &[i8],
    ) -> [f32; GROUP] {
        let blocks = w.scale.len();
        let cols = blocks * BLOCK;
        let mut acc = [_mm256_setzero_ps(); GROUP];
        let mut summs = _mm256_setzero_ps();
        let mut d0d1 = [0f32; GROUP];
        for b in 0..blocks {
            // SAFETY: `b` is below the block count, which every slice here holds per row.
            unsafe {
                let d0 = _mm256_set1_ps(*w.scale.get_unchecked(b));
                let m0 = _mm256_set1_ps(*w.min.get_unchecked(b));
                let scales = _mm256_loadu_ps(scale.as_ptr().add(b * GROUP));
                let sums = _mm256_loadu_ps(sum.as_ptr().add(b * GROUP));
                summs = _mm256_add_ps(summs, _mm256_mul_ps(m0, sums));
                _mm256_storeu_ps(d0d1.as_mut_ptr(), _mm256_mul_ps(d0, scales));
                let bx = nibbles_32(w.quants, b * 16);
                for (t, (acc, d)) in acc.iter_mut().zip(&d0d1).enumerate() {
                    let by = load_32(quants, t * cols + b * BLOCK);
                    *acc = _mm256_fmadd_ps(
                        _mm256_broadcast_ss(d),
                        mul_sum_us8_pairs_float(bx, by),
                        *acc,
                    );
                }
            }
        }
        let mut out = [0f32; GROUP];
        // SAFETY: `out` holds GROUP floats.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), summs) };
        for t in 0..GROUP {
            out[t] += hsum_float_8(acc[t]);
        }
        out
    }

    /// # Safety
    /// The lengths of `w` and `x` agree (see [`check`]).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn q8_0_q8_0(w: WeightRow<'_>, x: ActivationRow<'_>) -> f32 {
        let mut acc = _mm256_setzero_ps();
        for b in 0..w.scale.len() {
            // SAFETY: `b` is below the block count, which every slice here holds.
            unsafe {
                let d = _mm256_set1_ps(*w.scale.get_unchecked(b) * *x.scale.get_unchecked(b));
                let qx = load_32(w.quants, b * BLOCK);
                let qy = load_32(x.quants, b * BLOCK);
                acc = _mm256_fmadd_ps(d, mul_sum_i8_pairs_float(qx, qy), acc);
            }
        }
        hsum_float_8(acc)
    }

    fn check(w: &WeightRow<'_>, quant_bytes: usize, x: &ActivationRow<'_>) {
        let blocks = w.scale.len();
        assert!(
            w.quants.len() == blocks * quant_bytes
                && x.quants.len() == blocks * BLOCK
                && x.scale.len() == blocks
                && x.sum.len() == blocks
                && (w.min.is_empty() || w.min.len() == blocks),
            "a weight row and its activations disagree"
        );
        assert!(super::avx2(), "the AVX2 kernels need AVX2 and FMA");
    }

    /// Q4_1 · Q8_1 of one weight row with each of `N` activation rows, each as ggml's
    /// `ggml_vec_dot_q4_1_q8_1` on AVX2 computes it (the rows share the unpacked weights).
    pub fn dot_q4_1_q8_1_n<const N: usize>(
        w: WeightRow<'_>,
        xs: [ActivationRow<'_>; N],
    ) -> [f32; N] {
        assert_eq!(
            w.min.len(),
            w.scale.len(),
            "a Q4_1 row needs a minimum per block"
        );
        for x in &xs {
            check(&w, 16, x);
        }
        // SAFETY: the lengths and the CPU features are checked above.
        unsafe { q4_1_q8_1(w, xs) }
    }

    /// # Safety
    /// The lengths of both rows and `x` agree (see [`check`]).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn q4_1_q8_1_rows2(w: [WeightRow<'_>; 2], x: ActivationRow<'_>) -> [f32; 2] {
        let mut acc = [_mm256_setzero_ps(); 2];
        let mut summs = [0f32; 2];
        for b in 0..x.scale.len() {
            // SAFETY: `b` is below the block count, which every slice here holds.
            unsafe {
                let by = load_32(x.quants, b * BLOCK);
                for r in 0..2 {
                    let (d0, m0) = (*w[r].scale.get_unchecked(b), *w[r].min.get_unchecked(b));
                    summs[r] += m0 * *x.sum.get_unchecked(b);
                    let d0d1 = _mm256_set1_ps(d0 * *x.scale.get_unchecked(b));
                    let bx = nibbles_32(w[r].quants, b * 16);
                    acc[r] = _mm256_fmadd_ps(d0d1, mul_sum_us8_pairs_float(bx, by), acc[r]);
                }
            }
        }
        [
            hsum_float_8(acc[0]) + summs[0],
            hsum_float_8(acc[1]) + summs[1],
        ]
    }

    /// # Safety
    /// The lengths of both rows and `x` agree (see [`check`]).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn q8_0_q8_0_rows2(w: [WeightRow<'_>; 2], x: ActivationRow<'_>) -> [f32; 2] {
        let mut acc = [_mm256_setzero_ps(); 2];
        for b in 0..x.scale.len() {
            // SAFETY: `b` is below the block count, which every slice here holds.
            unsafe {
                let qy = load_32(x.quants, b * BLOCK);
                for r in 0..2 {
                    let d =
                        _mm256_set1_ps(*w[r].scale.get_unchecked(b) * *x.scale.get_unchecked(b));
                    let qx = load_32(w[r].quants, b * BLOCK);
                    acc[r] = _mm256_fmadd_ps(d, mul_sum_i8_pairs_float(qx, qy), acc[r]);
                }
            }
        }
        [hsum_float_8(acc[0]), hsum_float_8(acc[1])]
    }

    /// Two Q4_1 rows against one Q8_1 row, each exactly as [`dot_q4_1_q8_1`].
    pub fn dot_q4_1_q8_1_rows2(w: [WeightRow<'_>; 2], x: ActivationRow<'_>) -> [f32; 2] {
        for row in &w {
            assert_eq!(
                row.min.len(),
                row.scale.len(),
                "a Q4_1 row needs a minimum per block"
            );
            check(row, 16, &x);
        }
        // SAFETY: the lengths and the CPU features are checked above.
        unsafe { q4_1_q8_1_rows2(w, x) }
    }

    /// Two Q8_0 rows against one Q8_0 row, each exactly as [`dot_q8_0_q8_0`].
    pub fn dot_q8_0_q8_0_rows2(w: [WeightRow<'_>; 2], x: ActivationRow<'_>) -> [f32; 2] {
        for row in &w {
            check(row, 32, &x);
        }
        // SAFETY: the lengths and the CPU features are checked above.
        unsafe { q8_0_q8_0_rows2(w, x) }
    }

    /// Q4_1 · Q8_1, as ggml's `ggml_vec_dot_q4_1_q8_1` on AVX2.
    pub fn dot_q4_1_q8_1(w: WeightRow<'_>, x: ActivationRow<'_>) -> f32 {
        dot_q4_1_q8_1_n(w, [x])[0]
    }

    /// Q8_0 · Q8_0, as ggml's `ggml_vec_dot_q8_0_q8_0` on AVX2.
    pub fn dot_q8_0_q8_0(w: WeightRow<'_>, x: ActivationRow<'_>) -> f32 {
        check(&w, 32, &x);
        // SAFETY: as above.
        unsafe { q8_0_q8_0(w, x) }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod avx {
    //! No AVX2 off x86-64: never called, since [`super::avx2`] is false.
    pub use super::{dot_q4_1_q8_1, dot_q8_0_q8_0};
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random stream, so the tests need no RNG crate.
    fn stream(seed: u32) -> impl FnMut() -> f32 {
        let mut state = seed.wrapping_mul(2654435761).wrapping_add(1);
        move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32) * 2.0 - 1.0
        }
    }

    fn q4_1_matrix(rows: usize, cols: usize, seed: u32) -> (QMatrix, Vec<f32>) {
        let mut next = stream(seed);
        let mut bytes = Vec::new();
        let mut dense = Vec::new();
        for _ in 0..rows * cols / BLOCK {
            let d = f16::from_f32(0.01 + next().abs() * 0.05);
            let m = f16::from_f32(next() * 0.2);
            bytes.extend(d.to_bits().to_le_bytes());
            bytes.extend(m.to_bits().to_le_bytes());
            let nibbles: Vec<u8> = (0..32).map(|_| ((next() + 1.0) * 7.99) as u8).collect();
            let mut block = [0f32; 32];
            for j in 0..16 {
                bytes.push(nibbles[j] | (nibbles[j + 16] << 4));
                block[j] = f32::from(nibbles[j]) * d.to_f32() + m.to_f32();
                block[j + 16] = f32::from(nibbles[j + 16]) * d.to_f32() + m.to_f32();
            }
            dense.extend(block);
        }
        let matrix = QMatrix::from_blocks(Format::Q4_1, rows, cols, &bytes).unwrap();
        (matrix, dense)
    }

    #[test]
    fn q4_1_rows_dequantize_to_what_was_packed() {
        let (matrix, dense) = q4_1_matrix(3, 64, 7);
        let mut row = vec![0f32; 64];
        matrix.dequantize_row(2, &mut row);
        assert_eq!(row, dense[128..192]);
    }

    #[test]
    fn a_quantised_product_is_close_to_the_exact_one_and_both_kernels_agree() {
        // 13 tokens: a group of eight, a four and a single one in the batch kernels.
        let (rows, cols, tokens) = (40, 128, 13);
        let (matrix, dense) = q4_1_matrix(rows, cols, 11);
        let mut next = stream(5);
        let x: Vec<f32> = (0..tokens * cols).map(|_| next()).collect();
        let mut activations = Activations::default();
        activations.quantize(&x, tokens, cols, matrix.activation_format());
        let mut out = vec![0f32; tokens * rows];
        matrix.matmul(&activations, &mut out);
        // One token takes the two-rows-at-a-time path: the same values as in the batch.
        for t in 0..tokens {
            let mut single = Activations::default();
            single.quantize(
                &x[t * cols..(t + 1) * cols],
                1,
                cols,
                matrix.activation_format(),
            );
            let mut one = vec![0f32; rows];
            matrix.matmul(&single, &mut one);
            assert_eq!(one, out[t * rows..(t + 1) * rows], "token {t}");
        }
        for t in 0..tokens {
            for r in 0..rows {
                let exact: f32 = (0..cols)
                    .map(|c| dense[r * cols + c] * x[t * cols + c])
                    .sum();
                let got = out[t * rows + r];
                assert!(
                    (got - exact).abs() < 0.02 * (1.0 + exact.abs()),
                    "{got} vs {exact}"
                );
                let portable = dot_q4_1_q8_1(matrix.row(r), activations.row(t));
                assert!(
                    (got - portable).abs() <= 1e-4 * (1.0 + portable.abs()),
                    "{got} vs {portable}"
                );
            }
        }
    }

    #[test]
    fn a_matrix_that_does_not_fit_its_bytes_is_refused() {
        let bytes = vec![0u8; Q8_0_BYTES * 4];
        assert!(QMatrix::from_blocks(Format::Q8_0, 2, 64, &bytes).is_some());
        assert!(QMatrix::from_blocks(Format::Q8_0, 3, 64, &bytes).is_none());
        assert!(QMatrix::from_blocks(Format::Q8_0, 2, 64, &bytes[1..]).is_none());
        assert!(QMatrix::from_blocks(Format::Q8_0, 2, 40, &bytes).is_none());
    }

    #[test]
    fn ggml_s_exponential_is_within_two_ulp_of_the_true_one() {
        for i in -2000..=800 {
            let x = i as f32 * 0.05;
            let ours = ggml_expf(x);
            let exact = f64::from(x).exp() as f32;
            let ulp = (exact.to_bits() as i64 - ours.to_bits() as i64).abs();
            assert!(
                ulp <= 2 || exact < 1e-37,
                "exp({x}) = {ours}, expected {exact}"
            );
        }
        assert_eq!(ggml_expf(f32::NEG_INFINITY), 0.0);
        assert_eq!(ggml_expf(0.0), 1.0);
    }

    #[test]
    fn the_vector_exponential_softmax_and_silu_have_the_scalar_bits() {
        if !avx2() {
            return;
        }
        let mut inputs: Vec<f32> = (-40_000..=40_000).map(|i| i as f32 * 0.0031).collect();
        inputs.extend([
            f32::NEG_INFINITY,
            f32::INFINITY,
            -1e30,
            1e30,
            -87.5,
            88.8,
            0.0,
            -0.0,
        ]);
        inputs.extend((0..2000).map(|i| -110.0 - i as f32 * 0.01));
        let mut gate = inputs.clone();
        let up: Vec<f32> = inputs.iter().map(|v| 1.0 - v * 0.5).collect();
        let mut expected = gate.clone();
        swiglu_body(&mut expected, &up);
        swiglu_as_ggml(&mut gate, &up);
        for (i, (a, b)) in gate.iter().zip(&expected).enumerate() {
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "silu at {}: {a} vs {b}",
                inputs[i]
            );
        }
        for visible in [1usize, 7, 8, 9, 16, 17, 63, 64, 65, 200] {
            let scores: Vec<f32> = (0..visible)
                .map(|p| ((p as f32) * 0.77).sin() * 30.0 - (p % 5) as f32 * 9.0)
                .collect();
            let padded = visible.div_ceil(64) * 64;
            let (mut ours, mut scalar) = (vec![0f32; padded], vec![0f32; padded]);
            softmax_as_ggml(&scores, visible, &mut ours);
            softmax_body(&scores, visible, &mut scalar);
            assert_eq!(
                ours.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                scalar.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "softmax of {visible}"
            );
        }
        let mut rounded = inputs.clone();
        round_to_f16(&mut rounded);
        for (r, &v) in rounded.iter().zip(&inputs) {
            assert_eq!(r.to_bits(), f16::from_f32(v).to_f32().to_bits(), "{v}");
        }
    }

    #[test]
    fn attention_scores_are_the_padded_dot_products() {
        let width = 128;
        let query: Vec<f32> = (0..width).map(|i| (i as f32 * 0.37).sin()).collect();
        let keys: Vec<f32> = (0..width * 9).map(|i| (i as f32 * 0.11).cos()).collect();
        for single in [true, false] {
            let mut scores = vec![0f32; 9];
            scores_as_ggml(&query, &keys, single, 0.125, &mut scores);
            for (p, score) in scores.iter().enumerate() {
                let key = &keys[p * width..(p + 1) * width];
                let expected = dot_f16_body(&query, key, single) * 0.125;
                assert_eq!(
                    score.to_bits(),
                    expected.to_bits(),
                    "key {p}, single {single}"
                );
            }
        }
    }

    #[test]
    fn the_f16_dot_products_and_softmax_add_up() {
        let a: Vec<f32> = (0..128).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..128).map(|i| (i as f32 * 0.11).cos()).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        for single in [true, false] {
            assert!((dot_f16_as_ggml(&a, &b, single) - plain).abs() < 1e-4);
        }
        let scores = [0.5f32, -1.0, 2.0, 0.0, 1.5];
        let mut probs = [0f32; 16];
        softmax_as_ggml(&scores, 5, &mut probs);
        let total: f32 = probs.iter().sum();
        assert!((total - 1.0).abs() < 1e-6 && probs[5..].iter().all(|&p| p == 0.0));
        assert!(probs[2] > probs[4] && probs[4] > probs[0]);
    }

    #[test]
    fn weighted_rows_sum_each_column_as_the_padded_dot_product_does() {
        // Widths in whole steps of 8 (the vector kernel) and not (the fused loop).
        for (positions, width) in [(70, 8), (70, 12), (130, 64)] {
            let probs: Vec<f32> = (0..positions)
                .map(|p| (p as f32 * 0.3).sin().abs())
                .collect();
            let values: Vec<f32> = (0..positions * width)
                .map(|i| (i as f32 * 0.7).cos())
                .collect();
            for single in [true, false] {
                let mut out = vec![0f32; width];
                weighted_rows_as_ggml(&probs, &values, width, single, &mut out);
                let padded = positions.div_ceil(64) * 64;
                for d in 0..width {
                    let mut column = vec![0f32; padded];
                    let mut weights = vec![0f32; padded];
                    for p in 0..positions {
                        column[p] = values[p * width + d];
                        weights[p] = probs[p];
                    }
                    let expected = dot_f16_as_ggml(&column, &weights, single);
                    assert_eq!(
                        out[d].to_bits(),
                        expected.to_bits(),
                        "width {width}, column {d}, single {single}"
                    );
                }
            }
        }
    }

    #[test]
    fn rounding_by_the_magic_number_is_round_ties_even() {
        for i in -300_000..=300_000 {
            let x = i as f32 * 0.000_43;
            assert_eq!(round_ties_even_small(x), x.round_ties_even(), "{x}");
        }
        for x in [0.5f32, 1.5, 2.5, -0.5, -1.5, 126.5, -127.0, 127.0] {
            assert_eq!(round_ties_even_small(x), x.round_ties_even(), "{x}");
        }
    }
}
