//! Robust aggregation for federated learning: your code goes here.
//!
//! Read README.md (or `aisec show robust-aggregation`) for the brief. Check your work with
//! `aisec check robust-aggregation`; see it in action with `aisec run robust-aggregation`.

use aisec_sdk::{Result, Tensor};

/// The server's step for one round of federated training, from the clients' updates.
///
/// - `updates`: (n, d) f32, one row per client: its locally trained weights minus the
///   server's, flattened. Rows come in a new random order every round.
/// - `byzantine`: f, how many of the n rows were sent by attackers (0 when there is no
///   attack). You are not told which.
///
/// Returns the aggregate, (d,) f32, which the server adds to its weights. Every value must be
/// finite and, coordinate by coordinate, within the range the rows span there (0 included).
pub fn aggregate(updates: &Tensor, byzantine: usize) -> Result<Tensor> {
    let _ = (updates, byzantine);
    // TODO: combine the rows so that f rows chosen by an attacker cannot drag the result
    // far from where the honest rows point. The plain mean (FedAvg) is what you must beat.
    todo!()
}
