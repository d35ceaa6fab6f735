//! The CNN's layers as candle custom ops, with backward passes that match PyTorch exactly.
//!
//! candle 0.11's built-in layers get three gradients wrong or wasteful for our purposes: its
//! max-pool backward splits a window's gradient wrongly, its ReLU passes gradient at exactly 0,
//! and its conv backward always computes the input gradient. These ops fix all three:
//! - [`conv_relu_pool`] (convolution, ReLU, 2×2 max-pool in one op) computes, in its backward
//!   pass, only the gradients of the arguments that are tracked (a frozen weight gets none; a
//!   data batch gets none during training) and routes each window's gradient to its first
//!   maximum, if positive;
//! - [`relu`] passes gradient only where the input is positive;
//! - [`cross_entropy`] takes `u32` targets as a slice and returns `softmax - one_hot` exactly.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Device, Layout, Shape, Storage, Tensor, bail};

use crate::kernels::{conv, pool};

type CandleResult<T> = candle_core::Result<T>;

fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    what: &str,
) -> CandleResult<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("{what}: expected a contiguous tensor"),
    }
}

/// Runs `f` on the contiguous f32 data of `t` (made contiguous first if needed).
fn with_data<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> CandleResult<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => Ok(f(contiguous_f32(cpu, layout, "tensor")?)),
        _ => bail!("the aisec CNN ops run on the CPU only"),
    }
}

fn tensor(values: Vec<f32>, shape: &[usize]) -> CandleResult<Tensor> {
    Tensor::from_vec(values, shape, &Device::Cpu)
}

fn conv_shape(x: &[usize], w: &[usize], b: &[usize]) -> CandleResult<conv::ConvShape> {
    match (x, w, b) {
        (&[batch, in_channels, height, width], &[out_channels, w_in, k, k2], &[b_out])
            if w_in == in_channels
                && k == k2
                && b_out == out_channels
                && k >= 1
                && k <= height
                && k <= width =>
        {
            Ok(conv::ConvShape {
                batch,
                in_channels,
                height,
                width,
                out_channels,
                kernel: k,
            })
        }
        _ => bail!(
            "convolution: shapes x {x:?}, weight {w:?}, bias {b:?} do not fit (n,c,h,w), (o,c,k,k), (o)"
        ),
    }
}

/// The output of a convolution of shape `s`, from the storages of x, weight and bias.
fn conv_forward(
    s: &conv::ConvShape,
    x: (&CpuStorage, &Layout),
    weight: (&CpuStorage, &Layout),
    bias: (&CpuStorage, &Layout),
) -> CandleResult<Vec<f32>> {
    let mut out = vec![0.0; s.batch * s.output_len()];
    conv::forward(
        contiguous_f32(x.0, x.1, "x")?,
        contiguous_f32(weight.0, weight.1, "weight")?,
        contiguous_f32(bias.0, bias.1, "bias")?,
        s,
        &mut out,
    );
    Ok(out)
}

/// The gradients of a convolution's tracked arguments (`None` for the others), given the
/// gradient of its output.
fn conv_backward(
    s: &conv::ConvShape,
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    grad_out: &[f32],
) -> CandleResult<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let grad_x = if x.track_op() {
        let mut dx = vec![0.0; s.batch * s.input_len()];
        with_data(weight, |w| conv::backward_input(grad_out, w, s, &mut dx))?;
        Some(tensor(dx, x.dims())?)
    } else {
        None
    };
    let (grad_w, grad_b) = if weight.track_op() || bias.track_op() {
        let (mut dw, mut db) = (vec![0.0; s.weight_len()], vec![0.0; s.out_channels]);
        with_data(x, |x| {
            conv::backward_params(x, grad_out, s, &mut dw, &mut db)
        })?;
        (
            Some(tensor(dw, weight.dims())?),
            Some(tensor(db, bias.dims())?),
        )
    } else {
        (None, None)
    };
    Ok((grad_x, grad_w, grad_b))
}

/// `max_pool2d(relu(conv2d(x, weight, bias)), 2)` as one op (as in PyTorch), without the
/// convolution's output ever becoming a tensor of the graph. The forward pass records, per output, where in its window the gradient
/// goes (one byte), and the backward pass scatters to it; candle's autograd then never
/// allocates, zeroes and accumulates the full-size gradient of the convolution's output.
///
/// x: (batch, in_channels, h, w); weight: (out_channels, in_channels, k, k); bias:
/// (out_channels), with h - k + 1 and w - k + 1 even. Returns (batch, out_channels,
/// (h - k + 1) / 2, (w - k + 1) / 2).
pub fn conv_relu_pool(x: &Tensor, weight: &Tensor, bias: &Tensor) -> CandleResult<Tensor> {
    let op = ConvReluPool {
        record: x.track_op() || weight.track_op() || bias.track_op(),
        positions: OnceLock::new(),
    };
    x.contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)
}

struct ConvReluPool {
    /// Whether a backward pass may follow (anything tracked): only then are positions kept.
    record: bool,
    /// Per output: the window position its gradient goes to ([`pool::NO_GRADIENT`] for none).
    positions: OnceLock<Vec<u8>>,
}

fn conv_pool_shape(x: &[usize], w: &[usize], b: &[usize]) -> CandleResult<conv::ConvShape> {
    let s = conv_shape(x, w, b)?;
    if s.out_height() % 2 != 0 || s.out_width() % 2 != 0 {
        bail!(
            "conv_relu_pool: the convolution's output {}x{} is not even in both sides",
            s.out_height(),
            s.out_width()
        );
    }
    Ok(s)
}

impl CustomOp3 for ConvReluPool {
    fn name(&self) -> &'static str {
        "aisec-conv-relu-maxpool2x2"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CandleResult<(CpuStorage, Shape)> {
        let s = conv_pool_shape(l1.dims(), l2.dims(), l3.dims())?;
        let conv_out = conv_forward(&s, (s1, l1), (s2, l2), (s3, l3))?;
        let (oh, ow) = (s.out_height(), s.out_width());
        let mut out = vec![0.0; conv_out.len() / 4];
        if self.record {
            let mut positions = vec![0; out.len()];
            pool::forward(&conv_out, oh, ow, &mut out, &mut positions);
            if self.positions.set(positions).is_err() {
                bail!("conv_relu_pool: the op was run twice");
            }
        } else {
            pool::forward_only(&conv_out, oh, ow, &mut out);
        }
        Ok((
            CpuStorage::F32(out),
            Shape::from((s.batch, s.out_channels, oh / 2, ow / 2)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad_out: &Tensor,
    ) -> CandleResult<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let s = conv_pool_shape(x.dims(), weight.dims(), bias.dims())?;
        let positions = recorded(&self.positions)?;
        let mut grad_conv = vec![0.0; s.batch * s.output_len()];
        with_data(grad_out, |g| {
            pool::backward(positions, g, s.out_height(), s.out_width(), &mut grad_conv)
        })?;
        conv_backward(&s, x, weight, bias, &grad_conv)
    }
}

/// The positions a pooling op recorded in its forward pass, for its backward pass.
fn recorded(positions: &OnceLock<Vec<u8>>) -> CandleResult<&[u8]> {
    match positions.get() {
        Some(p) => Ok(p),
        None => bail!("max-pool backward: the forward pass recorded no positions"),
    }
}

/// `relu(x)`, with gradient 0 where x <= 0 (as PyTorch).
pub fn relu(x: &Tensor) -> CandleResult<Tensor> {
    x.contiguous()?.apply_op1(Relu)
}

struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "aisec-relu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> CandleResult<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout, "x")?;
        Ok((
            CpuStorage::F32(x.iter().map(|&v| pool::relu(v)).collect()),
            layout.shape().clone(),
        ))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad_out: &Tensor) -> CandleResult<Option<Tensor>> {
        let dx = with_data(x, |x| {
            with_data(grad_out, |g| {
                x.iter()
                    .zip(g)
                    .map(|(&x, &g)| if x > 0.0 { g } else { 0.0 })
                    .collect::<Vec<f32>>()
            })
        })??;
        Ok(Some(tensor(dx, x.dims())?))
    }
}

/// How per-example losses are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// The sum over the batch: each example's gradient is that of its own loss.
    Sum,
    /// The mean over the batch (PyTorch's default).
    Mean,
}

/// Cross-entropy of `logits` (batch, classes) against `targets` (one class index per row), as a
/// scalar. Same as `torch.nn.functional.cross_entropy(logits, targets, reduction=...)`.
pub fn cross_entropy(
    logits: &Tensor,
    targets: &[u32],
    reduction: Reduction,
) -> CandleResult<Tensor> {
    let (n, classes) = logits.dims2()?;
    if targets.len() != n {
        bail!(
            "cross_entropy: {} targets for {n} rows of logits",
            targets.len()
        );
    }
    if let Some(bad) = targets.iter().find(|&&t| t as usize >= classes) {
        bail!("cross_entropy: target {bad} is out of range for {classes} classes");
    }
    logits.contiguous()?.apply_op1(CrossEntropy {
        targets: targets.to_vec(),
        reduction,
    })
}

struct CrossEntropy {
    targets: Vec<u32>,
    reduction: Reduction,
}

impl CrossEntropy {
    fn scale(&self) -> f32 {
        match self.reduction {
            Reduction::Sum => 1.0,
            Reduction::Mean => 1.0 / self.targets.len().max(1) as f32,
        }
    }
}

/// Writes the softmax of one row into `out` and returns the row's cross-entropy against class
/// `target`, computed as (max - z_target) + ln(sum exp(z - max)) so that a confident, correct
/// row (loss near 0) does not lose its digits to cancellation.
fn softmax_row(row: &[f32], target: usize, out: &mut [f32]) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for (o, &v) in out.iter_mut().zip(row) {
        let e = f64::from(v - max).exp();
        *o = e as f32;
        sum += e;
    }
    out.iter_mut()
        .for_each(|o| *o = (f64::from(*o) / sum) as f32);
    f64::from(max - row[target]) + sum.ln()
}

impl CustomOp1 for CrossEntropy {
    fn name(&self) -> &'static str {
        "aisec-cross-entropy"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> CandleResult<(CpuStorage, Shape)> {
        let logits = contiguous_f32(storage, layout, "logits")?;
        let classes = layout.dims()[1];
        let mut probs = vec![0.0; classes];
        let total: f64 = logits
            .chunks(classes)
            .zip(&self.targets)
            .map(|(row, &t)| softmax_row(row, t as usize, &mut probs))
            .sum();
        Ok((
            CpuStorage::F32(vec![total as f32 * self.scale()]),
            Shape::from(()),
        ))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        _res: &Tensor,
        grad_out: &Tensor,
    ) -> CandleResult<Option<Tensor>> {
        let classes = logits.dims()[1];
        let g = grad_out
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?[0]
            * self.scale();
        let dx = with_data(logits, |logits| {
            let mut dx = vec![0.0; logits.len()];
            for ((row, out), &t) in logits
                .chunks(classes)
                .zip(dx.chunks_mut(classes))
                .zip(&self.targets)
            {
                softmax_row(row, t as usize, out);
                out[t as usize] -= 1.0;
                out.iter_mut().for_each(|v| *v *= g);
            }
            dx
        })?;
        Ok(Some(tensor(dx, logits.dims())?))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Var;

    use super::*;

    // The unfused ops, as the reference `conv_relu_pool` must equal.

    /// A valid (no padding), stride-1 convolution with bias.
    ///
    /// x: (batch, in_channels, h, w); weight: (out_channels, in_channels, k, k); bias:
    /// (out_channels). Returns (batch, out_channels, h - k + 1, w - k + 1). Same as
    /// `torch.nn.functional.conv2d(x, weight, bias)`.
    pub fn conv2d(x: &Tensor, weight: &Tensor, bias: &Tensor) -> CandleResult<Tensor> {
        x.contiguous()?
            .apply_op3(&weight.contiguous()?, &bias.contiguous()?, Conv2d)
    }

    struct Conv2d;

    impl CustomOp3 for Conv2d {
        fn name(&self) -> &'static str {
            "aisec-conv2d"
        }

        fn cpu_fwd(
            &self,
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            s3: &CpuStorage,
            l3: &Layout,
        ) -> CandleResult<(CpuStorage, Shape)> {
            let s = conv_shape(l1.dims(), l2.dims(), l3.dims())?;
            let out = conv_forward(&s, (s1, l1), (s2, l2), (s3, l3))?;
            Ok((
                CpuStorage::F32(out),
                Shape::from((s.batch, s.out_channels, s.out_height(), s.out_width())),
            ))
        }

        fn bwd(
            &self,
            x: &Tensor,
            weight: &Tensor,
            bias: &Tensor,
            _res: &Tensor,
            grad_out: &Tensor,
        ) -> CandleResult<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
            let s = conv_shape(x.dims(), weight.dims(), bias.dims())?;
            with_data(grad_out, |g| conv_backward(&s, x, weight, bias, g))?
        }
    }

    /// `max_pool2d(relu(x), 2)`: x (batch, channels, h, w) with h and w even; returns
    /// (batch, channels, h / 2, w / 2). Gradient as in PyTorch (see the module docs).
    pub fn relu_max_pool2x2(x: &Tensor) -> CandleResult<Tensor> {
        x.contiguous()?.apply_op1(ReluMaxPool {
            positions: OnceLock::new(),
        })
    }

    struct ReluMaxPool {
        /// Per output: the window position its gradient goes to ([`pool::NO_GRADIENT`] for none).
        positions: OnceLock<Vec<u8>>,
    }

    fn pool_dims(dims: &[usize]) -> CandleResult<(usize, usize, usize, usize)> {
        match *dims {
            [n, c, h, w] if h % 2 == 0 && w % 2 == 0 => Ok((n, c, h, w)),
            _ => bail!("relu_max_pool2x2: shape {dims:?} is not (n, c, h, w) with even h and w"),
        }
    }

    impl CustomOp1 for ReluMaxPool {
        fn name(&self) -> &'static str {
            "aisec-relu-maxpool2x2"
        }

        fn cpu_fwd(
            &self,
            storage: &CpuStorage,
            layout: &Layout,
        ) -> CandleResult<(CpuStorage, Shape)> {
            let (n, c, h, w) = pool_dims(layout.dims())?;
            let x = contiguous_f32(storage, layout, "x")?;
            let mut out = vec![0.0; n * c * (h / 2) * (w / 2)];
            let mut positions = vec![0; out.len()];
            pool::forward(x, h, w, &mut out, &mut positions);
            if self.positions.set(positions).is_err() {
                bail!("relu_max_pool2x2: the op was run twice");
            }
            Ok((CpuStorage::F32(out), Shape::from((n, c, h / 2, w / 2))))
        }

        fn bwd(
            &self,
            x: &Tensor,
            _res: &Tensor,
            grad_out: &Tensor,
        ) -> CandleResult<Option<Tensor>> {
            let (_, _, h, w) = pool_dims(x.dims())?;
            let positions = recorded(&self.positions)?;
            let mut dx = vec![0.0; x.elem_count()];
            with_data(grad_out, |g| pool::backward(positions, g, h, w, &mut dx))?;
            Ok(Some(tensor(dx, x.dims())?))
        }
    }

    fn values(shape: &[usize], seed: usize) -> CandleResult<Tensor> {
        let n = shape.iter().product::<usize>();
        let v = (0..n)
            .map(|i| (((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0) * 0.8)
            .collect();
        tensor(v, shape)
    }

    fn bits(t: &Tensor) -> CandleResult<Vec<u32>> {
        Ok(t.flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .map(|v| v.to_bits())
            .collect())
    }

    /// Values and the gradients of all three arguments, bit for bit, on a batch with ties and
    /// non-positive windows (the kernels' own tests pin PyTorch's routing).
    #[test]
    fn conv_relu_pool_equals_conv_then_relu_pool() -> CandleResult<()> {
        let x = Var::from_tensor(&values(&[3, 2, 9, 7], 1)?.round()?)?;
        let w = Var::from_tensor(&values(&[4, 2, 2, 2], 2)?)?;
        let b = Var::from_tensor(&values(&[4], 3)?)?;
        let g = values(&[3, 4, 4, 3], 4)?;
        let fused = conv_relu_pool(&x, &w, &b)?;
        let split = relu_max_pool2x2(&conv2d(&x, &w, &b)?)?;
        assert_eq!(bits(&fused)?, bits(&split)?);
        let fused_grads = (fused * &g)?.sum_all()?.backward()?;
        let split_grads = (split * &g)?.sum_all()?.backward()?;
        for v in [&x, &w, &b] {
            let get = |grads: &candle_core::backprop::GradStore| {
                grads
                    .get(v.as_tensor())
                    .cloned()
                    .ok_or_else(|| candle_core::Error::Msg("no gradient".into()))
            };
            let (f, s) = (get(&fused_grads)?, get(&split_grads)?);
            assert_eq!(bits(&f)?, bits(&s)?);
            assert!(f.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0);
        }
        Ok(())
    }

    #[test]
    fn conv_relu_pool_refuses_an_odd_convolution_output() -> CandleResult<()> {
        let err = conv_relu_pool(
            &values(&[1, 1, 6, 6], 1)?,
            &values(&[2, 1, 2, 2], 2)?,
            &values(&[2], 3)?,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not even"), "{err}");
        Ok(())
    }
}
