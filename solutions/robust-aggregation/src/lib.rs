//! Robust aggregation for federated learning: screen out rows far from their neighbours (Krum
//! scores), clip the rest to their median length, average (reference solution).

use aisec_sdk::{Device, Error, Result, Tensor};

/// A row is screened out only when its Krum score is more than this many times the median
/// score: honest rows on non-IID shards differ, but not by this much.
const OUTLIER_FACTOR: f64 = 2.0;

/// The server's step for one round of federated training, from the clients' updates.
///
/// - `updates`: (n, d) f32, one row per client (its local weights minus the server's);
/// - `byzantine`: f, how many rows an attacker may have sent (not which).
///
/// Three steps:
///
/// 1. **Screen.** Each row's Krum score (Blanchard et al.) is the sum of its squared distances
///    to its n − f − 2 nearest rows. Of the f highest-scoring rows, those scoring more than
///    twice the median score are dropped. Loud attacks (reversed, scaled, noise) sit far from
///    every honest row and are dropped; with no attack nothing is. Multi-Krum drops f rows
///    whatever they are, and then loses the honest clients with unusual shards while keeping
///    attackers that hide near the centre ("a little is enough").
/// 2. **Clip.** The surviving rows longer than their median length are scaled down to it, so
///    a row that slipped through the screen moves the result no more than a typical row does.
/// 3. **Average** the survivors. A coordinate-wise median or trimmed mean here would be
///    biased on non-IID data: with the attackers gone, averaging keeps every honest client's
///    say, the rare classes included.
///
/// Returns the aggregate, (d,): a mean of rows scaled by at most 1, so every coordinate lies
/// within the range of the rows (0 included).
pub fn aggregate(updates: &Tensor, byzantine: usize) -> Result<Tensor> {
    let rows = updates.to_vec2::<f32>()?;
    let n = rows.len();
    let d = rows.first().map_or(0, Vec::len);
    if n == 0 {
        return Err(Error::invalid("updates", "no rows to aggregate"));
    }
    let kept = screen(&rows, byzantine);
    let survivors: Vec<&[f32]> = kept.iter().map(|&i| rows[i].as_slice()).collect();
    let scales = clip_scales(&survivors);
    let mut sum = vec![0f64; d];
    for (row, scale) in survivors.iter().zip(&scales) {
        sum.iter_mut()
            .zip(row.iter())
            .for_each(|(s, &v)| *s += scale * f64::from(v));
    }
    let count = survivors.len() as f64;
    let mean: Vec<f32> = sum.into_iter().map(|s| (s / count) as f32).collect();
    Ok(Tensor::from_vec(mean, d, &Device::Cpu)?)
}

/// The rows kept: all but those of the f highest Krum scores that exceed
/// [`OUTLIER_FACTOR`] times the median score.
fn screen(rows: &[Vec<f32>], byzantine: usize) -> Vec<usize> {
    let n = rows.len();
    let neighbours = n
        .saturating_sub(byzantine + 2)
        .clamp(1, n.saturating_sub(1).max(1));
    let mut distance = vec![vec![0f64; n]; n];
    for i in 0..n {
        for j in i + 1..n {
            let d2: f64 = rows[i]
                .iter()
                .zip(&rows[j])
                .map(|(&a, &b)| f64::from(a - b).powi(2))
                .sum();
            distance[i][j] = d2;
            distance[j][i] = d2;
        }
    }
    let scores: Vec<f64> = (0..n)
        .map(|i| {
            let mut others: Vec<f64> = (0..n).filter(|&j| j != i).map(|j| distance[i][j]).collect();
            others.sort_unstable_by(f64::total_cmp);
            others.iter().take(neighbours).sum()
        })
        .collect();
    let mut sorted = scores.clone();
    sorted.sort_unstable_by(f64::total_cmp);
    let median = sorted[n / 2];
    let mut by_score: Vec<usize> = (0..n).collect();
    by_score.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    // A NaN score (a row holding NaN) compares above every number, so it is dropped first.
    let dropped: Vec<usize> = by_score
        .into_iter()
        .take(byzantine.min(n - 1))
        .filter(|&i| scores[i].is_nan() || scores[i] > OUTLIER_FACTOR * median)
        .collect();
    (0..n).filter(|i| !dropped.contains(i)).collect()
}

/// Per row, the factor that brings it down to the median length of `rows` (1 for rows no
/// longer than that).
fn clip_scales(rows: &[&[f32]]) -> Vec<f64> {
    let norms: Vec<f64> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|&v| f64::from(v).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let mut sorted = norms.clone();
    sorted.sort_unstable_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    norms
        .iter()
        .map(|&norm| if norm > median { median / norm } else { 1.0 })
        .collect()
}
