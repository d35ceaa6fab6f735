//! Detecting model extraction from a prediction API's query logs (reference solution).
//!
//! Two tests, either of which flags a client:
//!
//! 1. *PRADA* (Juuti et al., 2019): for each query, its L2 distance to the nearest earlier
//!    query of the same client that the model put in the same class. A benign stream of
//!    natural digits gives distances of a roughly normal spread; Jacobian-based augmentation
//!    adds a query a fixed step `λ·sign(∇)` from an earlier one for every query so far, a
//!    second mode of small distances that a normality statistic sees at once. Exact repeats
//!    (distance 0) are left out: benign clients retry.
//! 2. *Off-domain share*: noise and copycat images are not digits, and the model is unsure of
//!    them or maps them far from where natural digits of their class lie in its penultimate
//!    layer. Natural digits rarely are; a client most of whose queries are is not asking the
//!    task's questions.
//!
//! Neither test looks at how many queries a client makes or how fast: benign heavy users make
//! as many as attackers.

use aisec_sdk::theft::ClientLog;
use aisec_sdk::{Cnn, DType, Dataset, Result, Tensor};

/// PRADA's alarm: a normality statistic below this on the distances flags the client.
const MIN_NORMALITY: f64 = 0.80;
/// Distances needed before the normality statistic is trusted.
const MIN_DISTANCES: usize = 40;
/// A query is off-domain when the model's confidence is below that of all but this share of
/// the natural digits, or its penultimate activations lie farther from its class's natural
/// centroid than all but this share of theirs.
const NATURAL_TAIL: f64 = 0.02;
/// The share of off-domain queries that flags a client (natural digits: about twice
/// `NATURAL_TAIL`; benign clients with shaky cameras a little more).
const MAX_OFF_DOMAIN_SHARE: f64 = 0.4;

/// Whether the client whose queries so far are `log` is extracting the model.
pub fn is_extracting(log: &ClientLog, model: &Cnn, natural: &Dataset) -> Result<bool> {
    if log.is_empty() {
        return Ok(false);
    }
    if off_domain_share(log.images(), model, natural)? > MAX_OFF_DOMAIN_SHARE {
        return Ok(true);
    }
    let distances = same_class_distances(log.images(), log.predicted())?;
    Ok(distances.len() >= MIN_DISTANCES && normality(&distances) < MIN_NORMALITY)
}

/// For each query after the first, its L2 distance to the nearest earlier query of the same
/// predicted class (queries with no earlier one of their class, and exact repeats, left out).
///
/// images: (n, 1, 28, 28); classes: n.
pub fn same_class_distances(images: &Tensor, classes: &[u32]) -> Result<Vec<f64>> {
    let x = images.flatten_from(1)?.to_dtype(DType::F64)?;
    // |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, all pairs at once.
    let gram = x.matmul(&x.t()?)?.to_vec2::<f64>()?;
    let mut distances = Vec::new();
    for i in 1..gram.len() {
        let nearest = (0..i)
            .filter(|&j| classes[j] == classes[i])
            .map(|j| (gram[i][i] + gram[j][j] - 2.0 * gram[i][j]).max(0.0).sqrt())
            .fold(f64::INFINITY, f64::min);
        if nearest.is_finite() && nearest > 1e-4 {
            distances.push(nearest);
        }
    }
    Ok(distances)
}

/// The Shapiro–Francia statistic W′ of `values`: the squared correlation of the sorted values
/// with the expected order statistics of a standard normal sample (Blom's approximation). It
/// is close to 1 for a normal sample and approximates the Shapiro–Wilk W; lower means less
/// normal. 1 for fewer than 5 values, 0 for constant ones.
pub fn normality(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 5 {
        return 1.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mean = sorted.iter().sum::<f64>() / n as f64;
    let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
    for (i, &x) in sorted.iter().enumerate() {
        let score = inverse_normal_cdf((i as f64 + 1.0 - 0.375) / (n as f64 + 0.25));
        xy += (x - mean) * score;
        xx += (x - mean) * (x - mean);
        yy += score * score; // the scores are symmetric, so their mean is 0
    }
    if xx <= 0.0 {
        return 0.0;
    }
    xy * xy / (xx * yy)
}

/// Φ⁻¹(p) for p in (0, 1): Acklam's rational approximation (relative error below 1.2e-9).
fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let poly = |coefficients: &[f64], x: f64| coefficients.iter().fold(0.0, |acc, c| acc * x + c);
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        poly(&C, q) / (poly(&D, q) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        poly(&A, r) * q / (poly(&B, r) * r + 1.0)
    } else {
        -inverse_normal_cdf(1.0 - p)
    }
}

/// The share of `images` that are off-domain: the model less sure of them than of all but
/// [`NATURAL_TAIL`] of the natural digits, or their penultimate activations farther from the
/// natural centroid of their predicted class than all but that share of the natural digits'.
pub fn off_domain_share(images: &Tensor, model: &Cnn, natural: &Dataset) -> Result<f64> {
    let reference = Reference::of(model, natural)?;
    let queries = Profile::of(model, images)?;
    let spread = queries.spread(&reference.centroids);
    let off = (0..queries.classes.len())
        .filter(|&i| {
            queries.confidence[i] < reference.min_confidence || spread[i] > reference.max_spread
        })
        .count();
    Ok(off as f64 / queries.classes.len().max(1) as f64)
}

/// What natural digits look like to the model: the thresholds of "off-domain".
#[derive(Clone)]
struct Reference {
    /// Identifies the model and digits it was computed from.
    fingerprint: [f64; 3],
    min_confidence: f64,
    centroids: Vec<Vec<f64>>,
    max_spread: f64,
}

/// The last reference computed: every call of a run gets the same model and natural digits,
/// so it is computed once per runner.
static LAST_REFERENCE: std::sync::Mutex<Option<Reference>> = std::sync::Mutex::new(None);

impl Reference {
    fn of(model: &Cnn, natural: &Dataset) -> Result<Reference> {
        let weights = model
            .named_tensors()
            .map(|(_, t)| t.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>())
            .collect::<std::result::Result<Vec<f64>, _>>()?;
        let pixels = natural
            .images()
            .sum_all()?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        let fingerprint = [natural.len() as f64, pixels, weights.iter().sum()];
        let mut last = LAST_REFERENCE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(reference) = last.as_ref().filter(|r| r.fingerprint == fingerprint) {
            return Ok(reference.clone());
        }
        let profile = Profile::of(model, natural.images())?;
        let centroids = profile.centroids();
        let reference = Reference {
            fingerprint,
            min_confidence: quantile(&profile.confidence, NATURAL_TAIL),
            max_spread: quantile(&profile.spread(&centroids), 1.0 - NATURAL_TAIL),
            centroids,
        };
        *last = Some(reference.clone());
        Ok(reference)
    }
}

/// What the model makes of a set of images.
struct Profile {
    /// Its probability of the predicted class.
    confidence: Vec<f64>,
    /// The predicted class.
    classes: Vec<usize>,
    /// Penultimate activations, (n, 128).
    features: Vec<Vec<f32>>,
}

impl Profile {
    /// One forward pass: the penultimate activations, and the logits from them by the last
    /// layer (`fc2`).
    fn of(model: &Cnn, images: &Tensor) -> Result<Profile> {
        let penultimate = model.penultimate(images)?;
        let layer = |name: &str| {
            model
                .named_tensors()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t.clone())
                .ok_or_else(|| aisec_sdk::Error::invalid("model", format!("no {name}")))
        };
        let logits = penultimate
            .matmul(&layer("fc2.weight")?.t()?)?
            .broadcast_add(&layer("fc2.bias")?)?;
        let (mut confidence, mut classes) = (Vec::new(), Vec::new());
        for row in logits.to_vec2::<f32>()? {
            let (class, top) =
                row.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (c, &z)| {
                        if z > best.1 { (c, z) } else { best }
                    });
            // softmax at the arg-max: 1 / sum_j exp(z_j - z_max)
            confidence.push(1.0 / row.iter().map(|&z| f64::from(z - top).exp()).sum::<f64>());
            classes.push(class);
        }
        Ok(Profile {
            confidence,
            classes,
            features: penultimate.to_vec2::<f32>()?,
        })
    }

    /// The mean penultimate activations of each predicted class (zeros for a class never
    /// predicted).
    fn centroids(&self) -> Vec<Vec<f64>> {
        let width = self.features.first().map_or(0, Vec::len);
        let mut sums = vec![vec![0.0; width]; 10];
        let mut counts = [0usize; 10];
        for (f, &c) in self.features.iter().zip(&self.classes) {
            for (s, &v) in sums[c].iter_mut().zip(f) {
                *s += f64::from(v);
            }
            counts[c] += 1;
        }
        for (s, &n) in sums.iter_mut().zip(&counts) {
            s.iter_mut().for_each(|v| *v /= n.max(1) as f64);
        }
        sums
    }

    /// Each image's distance to the centroid of its predicted class.
    fn spread(&self, centroids: &[Vec<f64>]) -> Vec<f64> {
        self.features
            .iter()
            .zip(&self.classes)
            .map(|(f, &c)| {
                f.iter()
                    .zip(&centroids[c])
                    .map(|(&v, m)| (f64::from(v) - m).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .collect()
    }
}

/// The `q`-quantile of `values` (nearest rank); 0 for none.
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank =
        ((q.clamp(0.0, 1.0) * sorted.len() as f64) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(rank).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normality_is_high_for_normal_scores_and_low_for_two_modes() {
        let normal: Vec<f64> = (1..=99)
            .map(|i| inverse_normal_cdf(i as f64 / 100.0))
            .collect();
        assert!(normality(&normal) > 0.99);
        let two_modes: Vec<f64> = (0..100)
            .map(|i| if i < 50 { 1.0 } else { 7.0 } + 0.01 * i as f64)
            .collect();
        assert!(normality(&two_modes) < 0.8);
    }
}
