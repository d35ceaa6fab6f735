//! Adam without weight decay, updating each parameter in place in one pass.
//!
//! candle-nn's `AdamW` spends about fourteen tensor ops, each with a fresh allocation, on every
//! parameter at every step. This optimiser does the same arithmetic element by element, in the
//! same order and precision (f32 values, f64 constants rounded to f32, `x * c + 0` where candle
//! scales a tensor), so a run gives the same weights bit for bit as `AdamW` with
//! `weight_decay: 0.0`.

use std::sync::Mutex;

use candle_core::{CpuStorage, InplaceOp2, Layout, Tensor, Var, bail};

use crate::error::{Error, Result};

/// Adam's constants, as PyTorch and candle default them.
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// One parameter's running moments.
struct Moments {
    first: Vec<f32>,
    second: Vec<f32>,
}

/// Adam over a fixed set of variables.
pub struct Adam {
    vars: Vec<Var>,
    moments: Vec<Mutex<Moments>>,
    learning_rate: f64,
    steps: i32,
}

impl Adam {
    /// An optimiser for `vars` (f32, contiguous), with step size `learning_rate`.
    pub fn new(vars: Vec<Var>, learning_rate: f64) -> Result<Adam> {
        let moments = vars
            .iter()
            .map(|var| {
                if var.dtype() != candle_core::DType::F32 || !var.is_contiguous() {
                    return Err(Error::invalid(
                        "optimiser",
                        "parameters must be contiguous f32 tensors",
                    ));
                }
                let n = var.elem_count();
                Ok(Mutex::new(Moments {
                    first: vec![0.0; n],
                    second: vec![0.0; n],
                }))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Adam {
            vars,
            moments,
            learning_rate,
            steps: 0,
        })
    }

    /// Changes the step size for the next steps.
    pub fn set_learning_rate(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
    }

    /// Back-propagates `loss` and takes one step on every variable that got a gradient.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.steps += 1;
        let step = Step {
            learning_rate: self.learning_rate,
            scale_first: 1.0 / (1.0 - BETA1.powi(self.steps)),
            scale_second: 1.0 / (1.0 - BETA2.powi(self.steps)),
        };
        for (var, moments) in self.vars.iter().zip(&self.moments) {
            if let Some(grad) = grads.get(var.as_tensor()) {
                var.as_tensor().inplace_op2(
                    &grad.contiguous()?,
                    &Update {
                        step: &step,
                        moments,
                    },
                )?;
            }
        }
        Ok(())
    }
}

/// The scalars of one step.
struct Step {
    learning_rate: f64,
    scale_first: f64,
    scale_second: f64,
}

/// The in-place update of one parameter from its gradient.
struct Update<'a> {
    step: &'a Step,
    moments: &'a Mutex<Moments>,
}

impl InplaceOp2 for Update<'_> {
    fn name(&self) -> &'static str {
        "aisec-adam-step"
    }

    fn cpu_fwd(
        &self,
        param: &mut CpuStorage,
        param_layout: &Layout,
        grad: &CpuStorage,
        grad_layout: &Layout,
    ) -> candle_core::Result<()> {
        let (CpuStorage::F32(param), CpuStorage::F32(grad)) = (param, grad) else {
            bail!("adam: parameters and gradients must be f32");
        };
        let (Some((p0, p1)), Some((g0, g1))) = (
            param_layout.contiguous_offsets(),
            grad_layout.contiguous_offsets(),
        ) else {
            bail!("adam: parameters and gradients must be contiguous");
        };
        let (param, grad) = (&mut param[p0..p1], &grad[g0..g1]);
        let Ok(mut moments) = self.moments.lock() else {
            bail!("adam: a previous step panicked");
        };
        let Moments { first, second } = &mut *moments;
        if param.len() != grad.len() || param.len() != first.len() {
            bail!("adam: parameter, gradient and moments differ in size");
        }
        // The constants as candle's f32 ops see them: f64 values rounded to f32.
        let (beta1, one_minus_beta1) = (BETA1 as f32, (1.0 - BETA1) as f32);
        let (beta2, one_minus_beta2) = (BETA2 as f32, (1.0 - BETA2) as f32);
        let scale_first = self.step.scale_first as f32;
        let scale_second = self.step.scale_second as f32;
        let (eps, lr) = (EPS as f32, self.step.learning_rate as f32);
        for (((p, &g), m), v) in param.iter_mut().zip(grad).zip(first).zip(second) {
            // `+ 0.0` mirrors candle's affine `x * c + 0`: it turns -0.0 into +0.0.
            *m = (*m * beta1 + 0.0) + (g * one_minus_beta1 + 0.0);
            *v = (*v * beta2 + 0.0) + ((g * g) * one_minus_beta2 + 0.0);
            let m_hat = *m * scale_first + 0.0;
            let v_hat = *v * scale_second + 0.0;
            let adjusted = m_hat / (v_hat.sqrt() * 1.0 + eps);
            *p = (*p * 1.0 + 0.0) - (adjusted * lr + 0.0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;
    use candle_nn::{AdamW, Optimizer, ParamsAdamW};

    use super::*;

    /// A small non-linear loss of two parameters, so the moments change from step to step.
    fn loss(a: &Tensor, b: &Tensor, x: &Tensor) -> candle_core::Result<Tensor> {
        x.matmul(a)?.tanh()?.broadcast_mul(b)?.sqr()?.sum_all()
    }

    #[test]
    fn gives_the_same_weights_bit_for_bit_as_candles_adamw_without_decay() -> Result<()> {
        let dev = Device::Cpu;
        let values = |n: usize, k: f32| (0..n).map(|i| (i as f32 * k).sin()).collect::<Vec<_>>();
        let x = Tensor::from_vec(values(12, 0.7), (4, 3), &dev)?;
        let start_a = Tensor::from_vec(values(6, 1.3), (3, 2), &dev)?;
        let start_b = Tensor::from_vec(vec![0.5f32, -0.0], 2, &dev)?;

        let ours = [Var::from_tensor(&start_a)?, Var::from_tensor(&start_b)?];
        let mut adam = Adam::new(ours.to_vec(), 0.05)?;
        let theirs = [Var::from_tensor(&start_a)?, Var::from_tensor(&start_b)?];
        let params = ParamsAdamW {
            lr: 0.05,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        };
        let mut adamw = AdamW::new(theirs.to_vec(), params)?;
        for step in 0..25 {
            if step == 10 {
                adam.set_learning_rate(0.01);
                adamw.set_learning_rate(0.01);
            }
            adam.backward_step(&loss(&ours[0], &ours[1], &x)?)?;
            adamw.backward_step(&loss(&theirs[0], &theirs[1], &x)?)?;
        }
        for (o, t) in ours.iter().zip(&theirs) {
            let bits = |v: &Var| -> Result<Vec<u32>> {
                Ok(v.flatten_all()?
                    .to_vec1::<f32>()?
                    .iter()
                    .map(|f| f.to_bits())
                    .collect())
            };
            assert_eq!(bits(o)?, bits(t)?);
        }
        // The weights moved: the comparison is not between two untouched copies.
        assert_ne!(
            ours[0].flatten_all()?.to_vec1::<f32>()?,
            start_a.flatten_all()?.to_vec1::<f32>()?
        );
        Ok(())
    }
}
