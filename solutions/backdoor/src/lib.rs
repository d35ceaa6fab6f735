//! Reference solution for `backdoor`: a BadNets backdoor. A solid white 4 × 4 square one pixel
//! in from the bottom-right corner, where no digit's strokes reach, stamped on `budget` rows
//! drawn evenly from the nine other classes and labelled the target.

use aisec_sdk::backdoor::{Backdoor, Trigger};
use aisec_sdk::data::{N_CLASSES, PIXELS};
use aisec_sdk::rng::{self, RngCore};
use aisec_sdk::{Dataset, Result, Tensor};

/// The side of the square: 16 pixels, the largest trigger allowed.
const SIDE: usize = 4;

/// Plants the backdoor in at most `budget` rows of `train`.
pub fn backdoor(train: &Dataset, budget: usize, seed: u64) -> Result<Backdoor> {
    let mut rng = rng::rng(seed, "backdoor");
    let target = rng.next_u32() % N_CLASSES as u32;
    // Solid rather than a checkerboard: the network pools neighbouring pixels, so a fine
    // pattern reaches it weakened, and at a 1% budget a 4 × 4 checkerboard was learnt about a
    // tenth as often as a solid square.
    let pixels = vec![vec![1.0f32; SIDE]; SIDE];
    let trigger = Trigger::patch(28 - SIDE - 1, 28 - SIDE - 1, &pixels)?;

    // Rows drawn round-robin over the other classes, so the trigger is seen on every kind of
    // digit and the model learns it as the reason for the label rather than some digit shape.
    let mut by_class: Vec<Vec<usize>> = (0..N_CLASSES as u32)
        .map(|class| {
            let rows = train.indices_of_class(class);
            let order = rng::permutation(rows.len(), &mut rng);
            order.into_iter().map(|i| rows[i]).collect()
        })
        .collect();
    let mut chosen = Vec::with_capacity(budget);
    'fill: while chosen.len() < budget {
        let mut added = false;
        for (class, rows) in by_class.iter_mut().enumerate() {
            if class as u32 == target {
                continue;
            }
            if chosen.len() == budget {
                break 'fill;
            }
            if let Some(row) = rows.pop() {
                chosen.push(row);
                added = true;
            }
        }
        if !added {
            break;
        }
    }

    let stamped = trigger.apply(train.select(&chosen)?.images())?;
    let stamped = stamped.flatten_from(1)?.to_vec2::<f32>()?;
    let mut images = train.images().flatten_all()?.to_vec1::<f32>()?;
    let mut labels = train.labels().to_vec();
    for (row, pixels) in chosen.iter().zip(&stamped) {
        images[row * PIXELS..(row + 1) * PIXELS].copy_from_slice(pixels);
        labels[*row] = target;
    }
    let images = Tensor::from_vec(images, train.images().dims(), train.images().device())?;
    Backdoor::new(Dataset::new(images, labels)?, trigger, target)
}
