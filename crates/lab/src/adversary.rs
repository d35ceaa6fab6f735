//! The lab's own L-inf attacks (FGSM, PGD), used to train the adversarial model and to measure
//! robustness in recipes and demos. Candidates write theirs in the evasion exercises; these
//! are the grader's yardstick, not part of the SDK.

use aisec_sdk::rng::{self, Rng};
use aisec_sdk::{Cnn, Dataset, Device, Tensor};

use aisec_sdk::{Error, Result};

/// Settings of an L-inf projected gradient descent attack.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pgd {
    /// Radius of the L-inf ball around each image.
    pub eps: f32,
    /// Size of each signed-gradient step.
    pub step: f32,
    /// Number of steps.
    pub steps: usize,
    /// Start from a uniformly random point of the ball instead of the image itself.
    pub random_start: bool,
}

impl Pgd {
    /// PGD-40 as the labs quote it: 40 steps of 0.01 from a random start.
    pub fn pgd40(eps: f32) -> Pgd {
        Pgd {
            eps,
            step: 0.01,
            steps: 40,
            random_start: true,
        }
    }

    fn validate(&self) -> Result<()> {
        if !(self.eps >= 0.0 && self.eps <= 1.0 && self.step >= 0.0 && self.step.is_finite()) {
            return Err(Error::invalid(
                "pgd",
                format!(
                    "eps {} must be in [0, 1] and step {} non-negative",
                    self.eps, self.step
                ),
            ));
        }
        Ok(())
    }
}

/// Clips `adv` into the eps-ball around `x` and into [0, 1].
pub fn project(adv: &Tensor, x: &Tensor, eps: f32) -> Result<Tensor> {
    let eps = f64::from(eps);
    let low = (x - eps)?.clamp(0f32, 1f32)?;
    let high = (x + eps)?.clamp(0f32, 1f32)?;
    Ok(adv.maximum(&low)?.minimum(&high)?)
}

/// Untargeted FGSM: clip(x + eps · sign(∇x loss), 0, 1), with sign(0) = 0.
pub fn fgsm(model: &Cnn, x: &Tensor, labels: &[u32], eps: f32) -> Result<Tensor> {
    let gradient = model.input_gradient(x, labels)?;
    Ok((x + (gradient.sign()? * f64::from(eps))?)?.clamp(0f32, 1f32)?)
}

/// A uniformly random point of the eps-ball around `x`, clipped to [0, 1].
pub fn random_start(x: &Tensor, eps: f32, rng: &mut Rng) -> Result<Tensor> {
    let noise = rng::uniform(x.elem_count(), -eps, eps, rng);
    let noise = Tensor::from_vec(noise, x.dims(), &Device::Cpu)?;
    Ok((x + noise)?.clamp(0f32, 1f32)?)
}

/// Untargeted L-inf PGD.
pub fn pgd(model: &Cnn, x: &Tensor, labels: &[u32], attack: &Pgd, rng: &mut Rng) -> Result<Tensor> {
    attack.validate()?;
    let mut adv = if attack.random_start {
        random_start(x, attack.eps, rng)?
    } else {
        x.clone()
    };
    for _ in 0..attack.steps {
        let gradient = model.input_gradient(&adv, labels)?;
        adv = project(
            &(adv + (gradient.sign()? * f64::from(attack.step))?)?,
            x,
            attack.eps,
        )?;
    }
    Ok(adv)
}

/// Accuracy of `model` on `data` when every batch is first replaced by `attack(model, x, y)`.
pub fn accuracy_under(
    model: &Cnn,
    data: &Dataset,
    batch_size: usize,
    mut attack: impl FnMut(&Cnn, &Tensor, &[u32]) -> Result<Tensor>,
) -> Result<f64> {
    let mut correct = 0usize;
    for batch in data.batches(batch_size) {
        let (x, y) = batch?;
        let adv = attack(model, &x, y)?;
        correct += model
            .predict(&adv)?
            .iter()
            .zip(y)
            .filter(|(p, t)| p == t)
            .count();
    }
    Ok(if data.is_empty() {
        0.0
    } else {
        correct as f64 / data.len() as f64
    })
}
