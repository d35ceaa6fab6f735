//! PGD: projected gradient descent, the standard strong L-inf evasion attack (reference solution).

use aisec_sdk::rng::{self, Rng};
use aisec_sdk::{Cnn, Result, Tensor};

/// Untargeted L-inf PGD with a random start.
///
/// - `images`: (n, 1, 28, 28), values in [0, 1]; `labels`: the n true classes;
/// - `eps`: the L-inf budget; `step`: the size of each signed-gradient step; `steps`: how many;
/// - `rng`: draw the random start from this generator (and from nothing else), so a seed
///   reproduces the attack.
///
/// Start from a uniformly random point of the eps-ball around each image (clipped to [0, 1]),
/// then `steps` times: step by `step * sign(∇x loss)` and project back onto the eps-ball around
/// the original image intersected with [0, 1]. Returns the adversarial images, (n, 1, 28, 28).
pub fn pgd(
    model: &Cnn,
    images: &Tensor,
    labels: &[u32],
    eps: f32,
    step: f32,
    steps: usize,
    rng: &mut Rng,
) -> Result<Tensor> {
    let eps64 = f64::from(eps);
    // The feasible set: the eps-ball around each pixel, intersected with [0, 1].
    let low = (images - eps64)?.clamp(0f32, 1f32)?;
    let high = (images + eps64)?.clamp(0f32, 1f32)?;
    let noise = Tensor::from_vec(
        rng::uniform(images.elem_count(), -eps, eps, rng),
        images.dims(),
        images.device(),
    )?;
    let mut adv = (images + noise)?.clamp(0f32, 1f32)?;
    for _ in 0..steps {
        let gradient = model.input_gradient(&adv, labels)?;
        adv = (adv + (gradient.sign()? * f64::from(step))?)?
            .maximum(&low)?
            .minimum(&high)?;
    }
    Ok(adv)
}
