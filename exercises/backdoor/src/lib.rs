//! A BadNets-style backdoor: your code goes here.
//!
//! Read README.md (or `aisec show backdoor`) for the brief. Check your work with
//! `aisec check backdoor`.

use aisec_sdk::backdoor::{Backdoor, Trigger};
use aisec_sdk::{Dataset, Result};

/// Plants a backdoor in `train`: a trigger of your design and a target class, and the training
/// set with at most `budget` rows changed (stamped, relabelled, or both) so that a model trained
/// on it reads any digit carrying the trigger as the target, and clean digits as before.
///
/// - `train`: the training set the victim will train on (8,000 digits);
/// - `budget`: the most rows you may change; every other row must come back exactly as given;
/// - `seed`: use it for every random choice, so a seed reproduces your backdoor.
///
/// Return `Backdoor::new(poisoned, trigger, target)`: `poisoned` has the rows of `train` in
/// their order; the trigger is `Trigger::patch(top, left, &pixels)` or `Trigger::new(&mask,
/// &pattern)`, at most 16 pixels in area.
pub fn backdoor(train: &Dataset, budget: usize, seed: u64) -> Result<Backdoor> {
    let _ = (train, budget, seed, Trigger::patch);
    todo!("design a trigger, stamp it on at most `budget` rows and label them your target")
}
