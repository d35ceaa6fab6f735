//! PGD: projected gradient descent, the standard strong L-inf evasion attack.
//!
//! Read README.md (or `aisec show pgd`) for the brief. Check your work with `aisec check pgd`;
//! see it in action with `aisec run pgd`.

use aisec_sdk::rng::Rng;
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
    // TODO: random start (aisec_sdk::rng::uniform gives seeded noise), then the loop:
    // gradient, signed step, projection.
    todo!()
}
