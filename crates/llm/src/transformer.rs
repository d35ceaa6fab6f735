//! The llama transformer's forward pass over GGUF weights, step by step as llama.cpp computes
//! it: RMS norm, Q/K/V projections, rotary positions (adjacent pairs), grouped-query attention
//! over an f16 key/value cache, SwiGLU feed-forward, and the tied output layer.

use candle_core::quantized::gguf_file;
use half::f16;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::kernels::{
    ActivationFormat, Activations, Format, QMatrix, dot_f16_as_ggml, matmul_all, round_to_f16,
    scores_as_ggml, softmax_as_ggml, swiglu_as_ggml, weighted_rows_as_ggml,
};

/// The shape of the model, from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Transformer blocks.
    pub layers: usize,
    /// Width of the residual stream.
    pub width: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (each shared by `heads / kv_heads` query heads).
    pub kv_heads: usize,
    /// Width of the feed-forward layer.
    pub hidden: usize,
    /// Vocabulary size.
    pub vocabulary: usize,
    /// Longest sequence the model was trained for.
    pub context: usize,
    /// RMS norm epsilon.
    pub eps: f32,
    /// Rotary base frequency.
    pub rope_base: f32,
}

impl Config {
    /// Width of one head.
    pub fn head_dim(&self) -> usize {
        self.width / self.heads
    }

    fn kv_width(&self) -> usize {
        self.kv_heads * self.head_dim()
    }
}

struct Layer {
    attn_norm: Vec<f32>,
    wq: QMatrix,
    wk: QMatrix,
    wv: QMatrix,
    wo: QMatrix,
    ffn_norm: Vec<f32>,
    gate: QMatrix,
    up: QMatrix,
    down: QMatrix,
}

/// The weights, shared by every conversation.
pub struct Transformer {
    config: Config,
    embedding: QMatrix,
    layers: Vec<Layer>,
    output_norm: Vec<f32>,
}

/// Keys and values of the positions read so far, per layer and key/value head (each a
/// `positions × head_dim` block, so attention reads a head's rows in place), rounded to f16
/// as llama.cpp stores them (and kept as the f32 of that f16, so attention converts nothing).
/// Truncating it forgets the latest positions, so a shared prefix is kept.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    len: usize,
}

impl KvCache {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps the first `len` positions.
    pub fn truncate(&mut self, len: usize, head_dim: usize) {
        if len < self.len {
            for head in self.keys.iter_mut().chain(self.values.iter_mut()) {
                head.truncate(len * head_dim);
            }
            self.len = len;
        }
    }
}

fn metadata_u32(content: &gguf_file::Content, key: &str) -> Result<usize> {
    content
        .metadata
        .get(key)
        .and_then(|v| v.to_u32().ok())
        .map(|v| v as usize)
        .ok_or_else(|| Error::Malformed(format!("the file has no integer {key} in its metadata")))
}

fn metadata_f32(content: &gguf_file::Content, key: &str) -> Option<f32> {
    content.metadata.get(key).and_then(|v| v.to_f32().ok())
}

impl Transformer {
    /// The transformer in a GGUF file read whole into `bytes`, described by `content`.
    pub fn from_gguf(content: &gguf_file::Content, bytes: &[u8]) -> Result<Transformer> {
        let config = Config {
            layers: metadata_u32(content, "llama.block_count")?,
            width: metadata_u32(content, "llama.embedding_length")?,
            heads: metadata_u32(content, "llama.attention.head_count")?,
            kv_heads: metadata_u32(content, "llama.attention.head_count_kv")?,
            hidden: metadata_u32(content, "llama.feed_forward_length")?,
            vocabulary: metadata_u32(content, "llama.vocab_size")?,
            context: metadata_u32(content, "llama.context_length")?,
            eps: metadata_f32(content, "llama.attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
            rope_base: metadata_f32(content, "llama.rope.freq_base").unwrap_or(10_000.0),
        };
        if config.heads == 0
            || config.kv_heads == 0
            || config.width % config.heads != 0
            || config.heads % config.kv_heads != 0
            || config.head_dim() % 2 != 0
        {
            return Err(Error::Malformed(format!(
                "unsupported model shape {config:?}"
            )));
        }
        let loader = Loader { content, bytes };
        let (width, kv, hidden) = (config.width, config.kv_width(), config.hidden);
        let mut layers = Vec::with_capacity(config.layers);
        for l in 0..config.layers {
            let name = |part: &str| format!("blk.{l}.{part}.weight");
            layers.push(Layer {
                attn_norm: loader.vector(&name("attn_norm"), width)?,
                wq: loader.matrix(&name("attn_q"), width, width)?,
                wk: loader.matrix(&name("attn_k"), kv, width)?,
                wv: loader.matrix(&name("attn_v"), kv, width)?,
                wo: loader.matrix(&name("attn_output"), width, width)?,
                ffn_norm: loader.vector(&name("ffn_norm"), width)?,
                gate: loader.matrix(&name("ffn_gate"), hidden, width)?,
                up: loader.matrix(&name("ffn_up"), hidden, width)?,
                down: loader.matrix(&name("ffn_down"), width, hidden)?,
            });
        }
        let embedding = loader.matrix("token_embd.weight", config.vocabulary, width)?;
        if content.tensor_infos.contains_key("output.weight") {
            return Err(Error::Malformed(
                "the model has its own output.weight; only tied embeddings are supported".into(),
            ));
        }
        Ok(Transformer {
            output_norm: loader.vector("output_norm.weight", width)?,
            embedding,
            layers,
            config,
        })
    }

    /// The model's shape.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// An empty cache for this model.
    pub fn new_cache(&self) -> KvCache {
        let heads = self.config.layers * self.config.kv_heads;
        KvCache {
            keys: vec![Vec::new(); heads],
            values: vec![Vec::new(); heads],
            len: 0,
        }
    }

    /// Forgets all but the first `len` positions of `cache`.
    pub fn truncate(&self, cache: &mut KvCache, len: usize) {
        cache.truncate(len, self.config.head_dim());
    }

    /// Reads `tokens` at the positions after those in `cache` (which grows by them) and
    /// returns the logits for the token after the last one.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        // The whole pass runs on one of the pool's threads: each of its parallel sections
        // then hands work to the other threads directly, instead of the calling thread
        // sleeping and waking for every one of them (~150 per generated token).
        if rayon::current_thread_index().is_some() {
            self.forward_in_pool(tokens, cache)
        } else {
            rayon::scope(|_| self.forward_in_pool(tokens, cache))
        }
    }

    fn forward_in_pool(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        let c = &self.config;
        let n = tokens.len();
        let start = cache.len;
        if n == 0 || start + n > c.context {
            return Err(Error::Prompt(format!(
                "{} tokens after {start} do not fit the {}-token context",
                n, c.context
            )));
        }
        if let Some(bad) = tokens.iter().find(|&&t| t as usize >= c.vocabulary) {
            return Err(Error::Prompt(format!(
                "token id {bad} is outside the vocabulary"
            )));
        }
        let (width, kv, hd) = (c.width, c.kv_width(), c.head_dim());
        let mut x = vec![0f32; n * width];
        for (row, &token) in x.chunks_exact_mut(width).zip(tokens) {
            self.embedding.dequantize_row(token as usize, row);
        }
        let mut acts = Activations::default();
        let mut h = vec![0f32; n * width];
        let mut q = vec![0f32; n * width];
        let mut k = vec![0f32; n * kv];
        let mut v = vec![0f32; n * kv];
        let mut attended = vec![0f32; n * width];
        let mut projected = vec![0f32; n * width];
        let mut gate = vec![0f32; n * c.hidden];
        let mut up = vec![0f32; n * c.hidden];
        let rope = Rope::new(hd, c.rope_base, start, n);
        for (l, layer) in self.layers.iter().enumerate() {
            rms_norm(&x, &layer.attn_norm, c.eps, &mut h);
            acts.quantize(&h, n, width, ActivationFormat::Q8_1);
            matmul_all(
                &acts,
                &mut [
                    (&layer.wq, &mut q),
                    (&layer.wk, &mut k),
                    (&layer.wv, &mut v),
                ],
            );
            rope.apply(&mut q, c.heads, hd);
            rope.apply(&mut k, c.kv_heads, hd);
            let heads = l * c.kv_heads..(l + 1) * c.kv_heads;
            for (head, (keys, values)) in cache.keys[heads.clone()]
                .iter_mut()
                .zip(&mut cache.values[heads.clone()])
                .enumerate()
            {
                for (k, v) in k.chunks_exact(kv).zip(v.chunks_exact(kv)) {
                    let at = head * hd..(head + 1) * hd;
                    keys.extend(k[at.clone()].iter().map(|&x| round_f16(x)));
                    values.extend(v[at].iter().map(|&x| round_f16(x)));
                }
            }
            attention(
                c,
                &q,
                &cache.keys[heads.clone()],
                &cache.values[heads],
                start,
                &mut attended,
            );
            acts.quantize(&attended, n, width, ActivationFormat::Q8_1);
            layer.wo.matmul(&acts, &mut projected);
            add(&mut x, &projected);

            rms_norm(&x, &layer.ffn_norm, c.eps, &mut h);
            acts.quantize(&h, n, width, ActivationFormat::Q8_1);
            matmul_all(&acts, &mut [(&layer.gate, &mut gate), (&layer.up, &mut up)]);
            swiglu_as_ggml(&mut gate, &up);
            acts.quantize(&gate, n, c.hidden, ActivationFormat::Q8_1);
            layer.down.matmul(&acts, &mut projected);
            add(&mut x, &projected);
        }
        cache.len = start + n;
        let last = &x[(n - 1) * width..];
        let mut normed = vec![0f32; width];
        rms_norm(last, &self.output_norm, c.eps, &mut normed);
        acts.quantize(&normed, 1, width, ActivationFormat::Q8_0);
        let mut logits = vec![0f32; c.vocabulary];
        self.embedding.matmul(&acts, &mut logits);
        Ok(logits)
    }
}

/// Reads tensors out of the file's bytes, checking each one's type and shape.
struct Loader<'a> {
    content: &'a gguf_file::Content,
    bytes: &'a [u8],
}

impl Loader<'_> {
    fn info(&self, name: &str) -> Result<&gguf_file::TensorInfo> {
        self.content
            .tensor_infos
            .get(name)
            .ok_or_else(|| Error::Malformed(format!("the file has no tensor {name}")))
    }

    fn start(&self, info: &gguf_file::TensorInfo) -> Result<usize> {
        usize::try_from(self.content.tensor_data_offset + info.offset)
            .map_err(|_| Error::Malformed("a tensor offset does not fit in memory".into()))
    }

    /// A `rows × cols` quantised matrix (GGUF shape `[cols, rows]`).
    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<QMatrix> {
        use candle_core::quantized::GgmlDType;
        let info = self.info(name)?;
        let format = match info.ggml_dtype {
            GgmlDType::Q4_1 => Format::Q4_1,
            GgmlDType::Q8_0 => Format::Q8_0,
            other => {
                return Err(Error::Malformed(format!(
                    "tensor {name} is {other:?}; only Q4_1 and Q8_0 are supported"
                )));
            }
        };
        if info.shape.dims() != [rows, cols] {
            return Err(Error::Malformed(format!(
                "tensor {name} has shape {:?}, expected {rows} x {cols}",
                info.shape.dims()
            )));
        }
        let start = self.start(info)?;
        let len = rows * cols / crate::kernels::BLOCK * format.block_bytes();
        self.bytes
            .get(start..start + len)
            .and_then(|bytes| QMatrix::from_blocks(format, rows, cols, bytes))
            .ok_or_else(|| Error::Malformed(format!("tensor {name} runs past the end of the file")))
    }

    /// An f32 vector of `len` values.
    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        let info = self.info(name)?;
        if info.ggml_dtype != candle_core::quantized::GgmlDType::F32 || info.shape.dims() != [len] {
            return Err(Error::Malformed(format!(
                "tensor {name} is {:?} {:?}, expected F32 [{len}]",
                info.ggml_dtype,
                info.shape.dims()
            )));
        }
        let start = self.start(info)?;
        let bytes = self.bytes.get(start..start + 4 * len).ok_or_else(|| {
            Error::Malformed(format!("tensor {name} runs past the end of the file"))
        })?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}

/// `out = x / rms(x) * weight`, per row, the sum of squares in f64 as ggml does.
fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let width = weight.len();
    for (row, out) in x.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
        let sum: f64 = row.iter().map(|&v| f64::from(v * v)).sum();
        let mean = (sum / width as f64) as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for ((o, &v), &w) in out.iter_mut().zip(row).zip(weight) {
            *o = v * scale * w;
        }
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// Rotary tables for `n` positions from `start`: angles `p · base^(-2i/d)` built by repeated
/// multiplication, as ggml builds them.
struct Rope {
    cos: Vec<f32>,
    sin: Vec<f32>,
    half: usize,
}

impl Rope {
    fn new(head_dim: usize, base: f32, start: usize, n: usize) -> Rope {
        let half = head_dim / 2;
        let theta_scale = base.powf(-2.0 / head_dim as f32);
        let mut cos = Vec::with_capacity(n * half);
        let mut sin = Vec::with_capacity(n * half);
        for p in start..start + n {
            let mut theta = p as f32;
            for _ in 0..half {
                cos.push(theta.cos());
                sin.push(theta.sin());
                theta *= theta_scale;
            }
        }
        Rope { cos, sin, half }
    }

    /// Rotates adjacent pairs `(2i, 2i+1)` of every head of every row of `x`.
    fn apply(&self, x: &mut [f32], heads: usize, head_dim: usize) {
        for (t, row) in x.chunks_exact_mut(heads * head_dim).enumerate() {
            let cos = &self.cos[t * self.half..(t + 1) * self.half];
            let sin = &self.sin[t * self.half..(t + 1) * self.half];
            for head in row.chunks_exact_mut(head_dim) {
                for i in 0..self.half {
                    let (x0, x1) = (head[2 * i], head[2 * i + 1]);
                    // As GCC contracts ggml's `x0*cos - x1*sin` and `x0*sin + x1*cos` (the
                    // first product fused, the second rounded).
                    head[2 * i] = x0.mul_add(cos[i], -(x1 * sin[i]));
                    head[2 * i + 1] = x0.mul_add(sin[i], x1 * cos[i]);
                }
            }
        }
    }
}

/// Causal grouped-query attention of the rows of `q` (positions `start..`) over the cached
/// keys and values (one block per key/value head), into `out`, as llama.cpp computes it
/// without flash attention: queries rounded to f16 against f16 keys, the scaled scores through
/// ggml's softmax, probabilities rounded to f16 against f16 values; the dot products summed in
/// the order of the kernel llama.cpp picks (one query: `ggml_vec_dot_f16`; a batch: tinyBLAS).
fn attention(
    c: &Config,
    q: &[f32],
    keys: &[Vec<f32>],
    values: &[Vec<f32>],
    start: usize,
    out: &mut [f32],
) {
    let hd = c.head_dim();
    let group = c.heads / c.kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let single = q.len() == c.width;
    let padded_dim = hd.div_ceil(64) * 64;
    out.par_chunks_mut(hd).enumerate().for_each(|(index, out)| {
        let (t, head) = (index / c.heads, index % c.heads);
        let (keys, values) = (&keys[head / group], &values[head / group]);
        let mut query = vec![0f32; padded_dim];
        for (slot, &v) in query.iter_mut().zip(&q[index * hd..(index + 1) * hd]) {
            *slot = round_f16(v);
        }
        let visible = start + t + 1;
        let padded = visible.div_ceil(64) * 64;
        let mut scores = vec![f32::NEG_INFINITY; padded];
        if hd == padded_dim {
            scores_as_ggml(
                &query,
                &keys[..visible * hd],
                single,
                scale,
                &mut scores[..visible],
            );
        } else {
            // Each key padded with zeros to the query's length.
            let mut key = vec![0f32; padded_dim];
            for (score, cached) in scores.iter_mut().zip(keys.chunks_exact(hd)).take(visible) {
                key[..hd].copy_from_slice(cached);
                *score = dot_f16_as_ggml(&query, &key, single) * scale;
            }
        }
        let mut probs = vec![0f32; padded];
        softmax_as_ggml(&scores, visible, &mut probs);
        round_to_f16(&mut probs[..visible]);
        weighted_rows_as_ggml(&probs[..visible], &values[..visible * hd], hd, single, out);
    });
}

/// `x` rounded to the nearest f16, as f32.
fn round_f16(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}
