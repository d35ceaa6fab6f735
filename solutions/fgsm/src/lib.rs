//! FGSM: the fast gradient sign method, an untargeted L-inf evasion attack (reference solution).

use aisec_sdk::{Cnn, Result, Tensor};

/// Untargeted L-inf FGSM: one step of size `eps` in the direction that increases the loss.
///
/// - `images`: (n, 1, 28, 28), values in [0, 1];
/// - `labels`: the n true classes;
/// - `eps`: the L-inf budget, in [0, 1].
///
/// Returns the adversarial images, (n, 1, 28, 28): `clip(x + eps * sign(∇x loss), 0, 1)`, with
/// sign(0) = 0. Every pixel must stay within `eps` of the original and inside [0, 1].
pub fn fgsm(model: &Cnn, images: &Tensor, labels: &[u32], eps: f32) -> Result<Tensor> {
    let gradient = model.input_gradient(images, labels)?;
    // candle's sign() maps 0 to 0, so pixels the loss does not depend on stay put.
    let step = (gradient.sign()? * f64::from(eps))?;
    Ok((images + step)?.clamp(0f32, 1f32)?)
}
