//! The lab's CNN: a small LeNet-style network for 28×28 digits, in candle.
//!
//! Layers (PyTorch names and layouts, so a file saved here loads into the module below):
//!
//! | layer   | op                         | output        |
//! | ---     | ---                        | ---           |
//! | input   |                            | (n, 1, 28, 28) |
//! | `conv1` | conv 5×5, 1→16, ReLU, max-pool 2×2  | (n, 16, 12, 12) |
//! | `conv2` | conv 5×5, 16→32, ReLU, max-pool 2×2 | (n, 32, 4, 4)   |
//! | `fc1`   | flatten, linear 512→128, ReLU (the penultimate layer) | (n, 128) |
//! | `fc2`   | linear 128→10 (logits)      | (n, 10)       |
//!
//! The PyTorch equivalent, which `safetensors.torch.load_file` + `load_state_dict` fills from
//! a file written by [`Cnn::save`]:
//!
//! ```python
//! class Cnn(torch.nn.Module):
//!     def __init__(self):
//!         super().__init__()
//!         self.conv1 = torch.nn.Conv2d(1, 16, 5)
//!         self.conv2 = torch.nn.Conv2d(16, 32, 5)
//!         self.fc1 = torch.nn.Linear(512, 128)
//!         self.fc2 = torch.nn.Linear(128, 10)
//!
//!     def forward(self, x):
//!         x = F.max_pool2d(F.relu(self.conv1(x)), 2)
//!         x = F.max_pool2d(F.relu(self.conv2(x)), 2)
//!         x = F.relu(self.fc1(x.flatten(1)))
//!         return self.fc2(x)
//! ```

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};

use crate::data::{Dataset, N_CLASSES, SIDE};
use crate::error::{Error, Result};
use crate::kernels;
use crate::ops::{self, Reduction};
use crate::rng;

/// Rows per forward pass when a large set is evaluated in pieces (bounds memory).
pub const EVAL_BATCH: usize = 512;

/// Width of the penultimate layer (`fc1`'s output).
pub const PENULTIMATE: usize = 128;

/// Every parameter: PyTorch name and shape, in the order the network uses them.
pub const PARAMETERS: [(&str, &[usize]); 8] = [
    ("conv1.weight", &[16, 1, 5, 5]),
    ("conv1.bias", &[16]),
    ("conv2.weight", &[32, 16, 5, 5]),
    ("conv2.bias", &[32]),
    ("fc1.weight", &[PENULTIMATE, 512]),
    ("fc1.bias", &[PENULTIMATE]),
    ("fc2.weight", &[N_CLASSES, PENULTIMATE]),
    ("fc2.bias", &[N_CLASSES]),
];

/// The CNN's weights; cheap to clone (tensors are shared).
#[derive(Debug, Clone)]
pub struct Cnn {
    /// One tensor per entry of [`PARAMETERS`], in that order.
    params: Vec<Tensor>,
}

impl Cnn {
    /// Fresh weights drawn as PyTorch's default initialisation does: every weight and bias
    /// uniform in ±1/sqrt(fan_in), from the seeded stream `(seed, "init")`.
    pub fn init(seed: u64) -> Result<Cnn> {
        let mut rng = rng::rng(seed, "init");
        let mut params = Vec::with_capacity(PARAMETERS.len());
        let mut fan_in = 1;
        for (name, shape) in PARAMETERS {
            if name.ends_with("weight") {
                fan_in = shape[1..].iter().product::<usize>();
            }
            let bound = 1.0 / (fan_in as f32).sqrt();
            let n = shape.iter().product();
            params.push(Tensor::from_vec(
                rng::uniform(n, -bound, bound, &mut rng),
                shape,
                &Device::Cpu,
            )?);
        }
        Ok(Cnn { params })
    }

    /// Builds a network from named tensors, checking that exactly [`PARAMETERS`] are present
    /// with the right shapes. `source` names where they came from, for error messages.
    pub fn from_tensors(mut tensors: HashMap<String, Tensor>, source: &Path) -> Result<Cnn> {
        let bad = |reason: String| Error::Model {
            path: source.to_owned(),
            reason,
        };
        let mut params = Vec::with_capacity(PARAMETERS.len());
        for (name, shape) in PARAMETERS {
            let t = tensors.remove(name).ok_or_else(|| {
                bad(format!(
                    "tensor {name:?} is missing (this architecture needs {})",
                    parameter_names()
                ))
            })?;
            if t.dims() != shape {
                return Err(bad(format!(
                    "tensor {name:?} has shape {:?}, expected {shape:?}",
                    t.dims()
                )));
            }
            if !t.dtype().is_float() {
                return Err(bad(format!(
                    "tensor {name:?} has dtype {:?}, expected a float type",
                    t.dtype()
                )));
            }
            let t = t.to_dtype(DType::F32)?;
            let finite = t
                .flatten_all()?
                .to_vec1::<f32>()?
                .iter()
                .all(|v| v.is_finite());
            if !finite {
                return Err(bad(format!("tensor {name:?} holds NaN or infinite values")));
            }
            params.push(t);
        }
        if let Some(extra) = tensors.keys().min() {
            return Err(bad(format!(
                "unexpected tensor {extra:?}: this architecture has only {}",
                parameter_names()
            )));
        }
        Ok(Cnn { params })
    }

    /// Reads a `.safetensors` file with PyTorch's names and layouts.
    pub fn load(path: &Path) -> Result<Cnn> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("reading model", path, e))?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| {
            Error::Model {
                path: path.to_owned(),
                reason: format!("not a readable safetensors file ({e})"),
            }
        })?;
        Cnn::from_tensors(tensors, path)
    }

    /// Writes the weights as a `.safetensors` file (f32, PyTorch's names and layouts).
    pub fn save(&self, path: &Path) -> Result<()> {
        let tensors: HashMap<String, Tensor> = self
            .named_tensors()
            .map(|(name, t)| (name.to_owned(), t.detach()))
            .collect();
        candle_core::safetensors::save(&tensors, path).map_err(|e| Error::Model {
            path: path.to_owned(),
            reason: format!("could not write ({e})"),
        })
    }

    /// `(name, tensor)` for every parameter, in [`PARAMETERS`] order.
    pub fn named_tensors(&self) -> impl Iterator<Item = (&'static str, &Tensor)> {
        PARAMETERS.iter().map(|(name, _)| *name).zip(&self.params)
    }

    /// A copy whose parameters are candle `Var`s, for training; the vars are returned too (in
    /// [`PARAMETERS`] order) for the optimiser. Updating a var updates that copy.
    pub fn trainable(&self) -> Result<(Cnn, Vec<Var>)> {
        let vars = self
            .params
            .iter()
            .map(Var::from_tensor)
            .collect::<candle_core::Result<Vec<_>>>()?;
        let params = vars.iter().map(|v| v.as_tensor().clone()).collect();
        Ok((Cnn { params }, vars))
    }

    /// A copy with every parameter detached from any autograd graph (plain constants).
    pub fn frozen(&self) -> Cnn {
        Cnn {
            params: self.params.iter().map(Tensor::detach).collect(),
        }
    }

    fn check_input(x: &Tensor) -> Result<()> {
        let dims = x.dims();
        if dims.len() != 4 || dims[1..] != [1, SIDE, SIDE] {
            return Err(Error::invalid(
                "input batch",
                format!("shape {dims:?} is not (n, 1, 28, 28)"),
            ));
        }
        if x.dtype() != DType::F32 {
            return Err(Error::invalid(
                "input batch",
                format!("dtype {:?} is not f32", x.dtype()),
            ));
        }
        Ok(())
    }

    /// The penultimate activations and the logits of a batch, differentiable with candle's
    /// autograd with respect to whatever is tracked (the input, the parameters, or both).
    ///
    /// x: (n, 1, 28, 28), f32. Returns ((n, 128), (n, 10)).
    pub fn forward_with_penultimate(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        Cnn::check_input(x)?;
        let p = &self.params;
        let h = ops::conv_relu_pool(x, &p[0], &p[1])?;
        let h = ops::conv_relu_pool(&h, &p[2], &p[3])?;
        let h = h.flatten_from(1)?;
        let penultimate = ops::relu(&h.matmul(&p[4].t()?)?.broadcast_add(&p[5])?)?;
        let logits = penultimate.matmul(&p[6].t()?)?.broadcast_add(&p[7])?;
        Ok((penultimate, logits))
    }

    /// The logits of a batch, differentiable. x: (n, 1, 28, 28) → (n, 10).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_with_penultimate(x)?.1)
    }

    /// Runs `f` over `x` in pieces of [`EVAL_BATCH`] rows with frozen weights and concatenates
    /// the results along the first dimension.
    fn in_pieces(
        &self,
        x: &Tensor,
        f: impl Fn(&Cnn, &Tensor) -> Result<Tensor> + Sync,
    ) -> Result<Tensor> {
        Cnn::check_input(x)?;
        let frozen = self.frozen();
        let x = x.detach();
        let n = x.dim(0)?;
        kernels::on_worker(|| {
            let pieces = (0..n.max(1))
                .step_by(EVAL_BATCH)
                .map(|start| f(&frozen, &x.narrow(0, start, EVAL_BATCH.min(n - start))?))
                .collect::<Result<Vec<_>>>()?;
            Ok(Tensor::cat(&pieces, 0)?)
        })
    }

    /// Logits of any number of images, without autograd. x: (n, 1, 28, 28) → (n, 10).
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.in_pieces(x, |m, x| m.forward(x))
    }

    /// Class probabilities (softmax of the logits). x: (n, 1, 28, 28) → (n, 10), rows sum to 1.
    pub fn probabilities(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::softmax_last_dim(&self.logits(x)?)?)
    }

    /// The predicted class of each image (arg-max of the logits).
    pub fn predict(&self, x: &Tensor) -> Result<Vec<u32>> {
        Ok(self.logits(x)?.argmax(1)?.to_vec1::<u32>()?)
    }

    /// Penultimate-layer activations (`relu(fc1(...))`). x: (n, 1, 28, 28) → (n, 128).
    pub fn penultimate(&self, x: &Tensor) -> Result<Tensor> {
        self.in_pieces(x, |m, x| Ok(m.forward_with_penultimate(x)?.0))
    }

    /// Fraction of `data` classified correctly.
    pub fn accuracy(&self, data: &Dataset) -> Result<f64> {
        let predicted = self.predict(data.images())?;
        Ok(crate::metrics::accuracy(&predicted, data.labels()))
    }

    /// The gradient of the summed cross-entropy loss with respect to the input batch, with the
    /// weights frozen (no weight gradient is computed), and that loss.
    ///
    /// x: (n, 1, 28, 28) f32; labels: n classes. Returns (loss, gradient (n, 1, 28, 28)).
    /// Each image's gradient is that of its own loss, whatever else is in the batch. Equal to
    /// PyTorch's `torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), x)`.
    pub fn loss_and_input_gradient(&self, x: &Tensor, labels: &[u32]) -> Result<(f32, Tensor)> {
        Cnn::check_input(x)?;
        let n = x.dim(0)?;
        if labels.len() != n {
            return Err(Error::invalid(
                "labels",
                format!("{} labels for {n} images", labels.len()),
            ));
        }
        let frozen = self.frozen();
        let mut loss = 0.0;
        let mut pieces = Vec::new();
        kernels::on_worker(|| -> Result<()> {
            for start in (0..n).step_by(EVAL_BATCH) {
                let len = EVAL_BATCH.min(n - start);
                let input = Var::from_tensor(&x.narrow(0, start, len)?)?;
                let piece_loss = ops::cross_entropy(
                    &frozen.forward(input.as_tensor())?,
                    &labels[start..start + len],
                    Reduction::Sum,
                )?;
                let grads = piece_loss.backward()?;
                loss += piece_loss.to_scalar::<f32>()?;
                let grad = grads.get(input.as_tensor()).ok_or_else(|| {
                    Error::invalid("input batch", "no gradient reached the input")
                })?;
                pieces.push(grad.clone());
            }
            Ok(())
        })?;
        let gradient = if pieces.is_empty() {
            x.zeros_like()?
        } else {
            Tensor::cat(&pieces, 0)?
        };
        Ok((loss, gradient))
    }

    /// The gradient of the summed cross-entropy loss with respect to the input batch; see
    /// [`Cnn::loss_and_input_gradient`].
    pub fn input_gradient(&self, x: &Tensor, labels: &[u32]) -> Result<Tensor> {
        Ok(self.loss_and_input_gradient(x, labels)?.1)
    }
}

fn parameter_names() -> String {
    PARAMETERS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}
