//! FGSM: the fast gradient sign method, an untargeted L-inf evasion attack.
//!
//! Read README.md (or `aisec show fgsm`) for the brief. Check your work with `aisec check fgsm`;
//! see it in action with `aisec run fgsm`.

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
    // TODO: take the gradient of the loss with respect to the input (the SDK's
    // `Cnn::input_gradient`), step by eps in the direction of its sign, and clip to [0, 1].
    todo!()
}
