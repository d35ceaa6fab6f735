//! Backdoor detection by spectral signatures, decided by transplanting the stamp a suspect
//! group shares (reference solution).

use aisec_sdk::analysis::{self, Pca};
use aisec_sdk::data::{N_CLASSES, PIXELS};
use aisec_sdk::ndarray::Axis;
use aisec_sdk::{Cnn, Dataset, Device, Result, Tensor};

/// Directions of a label's activations searched for the poison: the top singular direction
/// (Tran et al.) and the next two. A thin trigger (a 4-pixel diagonal) moves the poisoned rows
/// less than the split between two writing styles does, and its direction comes second or
/// third.
const DIRECTIONS: usize = 3;
/// The most pixels a stamp is looked for in: a trigger is a small patch, at most 5 × 5.
const STAMP_PIXELS: usize = 25;
/// A pixel belongs to a stamp when the suspects are this bright there on average...
const BRIGHT: f64 = 0.9;
/// ...and the rows of other labels at most this bright (a stroke pixel is bright in many).
const DARK: f64 = 0.2;
/// A candidate stamp pixel is at least this much brighter in the suspect side than in the other
/// labels.
const MIN_CONTRAST: f64 = 0.1;
/// Digits of other labels the stamp is transplanted on.
const TRANSPLANTS: usize = 500;
/// A label is backdoored when its stamp, put on digits of other labels, makes the model read
/// at least this share of them as the label. Clean labels stay near 0 (their candidate stamps
/// are strokes, or nothing); a learnt trigger opens for most digits.
const OPENS: f64 = 0.5;

/// The training rows (indices into `train`) that carry a backdoor trigger.
///
/// - `model`: the model trained on `train`;
/// - `train`: the training set as the model saw it (a backdoor planted or not);
/// - `seed`: unused: every step here is deterministic.
///
/// Per label, the penultimate activations of its rows are centred and projected on their top
/// singular directions (spectral signatures). Along a direction, an exact 1-D 2-means split
/// gives two sides; instead of flagging the highest scores (which needs the poison rate, and
/// fails when the poison is half the label: both groups are then far from the mean), each side
/// is asked what its rows share: the pixels it is brighter in than the rest of the data set
/// (a candidate stamp), the rows of the label bearing that stamp, and the pixels bright in all
/// of them and dark elsewhere (the trigger). The trigger is then transplanted onto digits of
/// other labels: if the model reads most of them as the label, the backdoor is found, and the
/// rows of the label carrying the trigger are flagged. A label whose best candidate does not
/// open the model is left alone.
pub fn detect(model: &Cnn, train: &Dataset, seed: u64) -> Result<Vec<usize>> {
    let _ = seed;
    let activations = analysis::to_array(&model.penultimate(train.images())?)?;
    let pixels = train.images().flatten_from(1)?.to_vec2::<f32>()?;
    let mut flagged = Vec::new();
    for label in 0..N_CLASSES as u32 {
        let rows = train.indices_of_class(label);
        let others: Vec<usize> = (0..train.len())
            .filter(|&row| train.labels()[row] != label)
            .collect();
        if rows.len() <= 2 * DIRECTIONS || others.is_empty() {
            continue;
        }
        let elsewhere = mean_image(&pixels, &others);
        let x = activations.select(Axis(0), &rows);
        let projected = Pca::fit(x.view(), DIRECTIONS)?.transform(x.view())?;
        let mut best: Option<Suspect> = None;
        for direction in projected.columns() {
            let scores: Vec<f64> = direction.iter().map(|&v| f64::from(v)).collect();
            let threshold = two_means_threshold(&scores);
            for upper in [false, true] {
                let side: Vec<usize> = rows
                    .iter()
                    .zip(&scores)
                    .filter(|&(_, &s)| (s >= threshold) == upper)
                    .map(|(&row, _)| row)
                    .collect();
                let suspect = suspect(model, train, &pixels, &rows, &side, &others, &elsewhere)?;
                if best.as_ref().is_none_or(|b| suspect.opens > b.opens) {
                    best = Some(suspect);
                }
            }
        }
        if let Some(best) = best.filter(|b| b.opens >= OPENS) {
            flagged.extend(best.carriers);
        }
    }
    flagged.sort_unstable();
    Ok(flagged)
}

/// What one side of a split points at: the rows carrying its trigger, and how often the
/// trigger makes the model read other digits as the label.
struct Suspect {
    carriers: Vec<usize>,
    opens: f64,
}

/// The trigger `side` (rows of a label, `rows`) shares, and whether it opens the model.
fn suspect(
    model: &Cnn,
    train: &Dataset,
    pixels: &[Vec<f32>],
    rows: &[usize],
    side: &[usize],
    others: &[usize],
    elsewhere: &[f64],
) -> Result<Suspect> {
    let nothing = Suspect {
        carriers: Vec::new(),
        opens: 0.0,
    };
    if side.is_empty() {
        return Ok(nothing);
    }
    // A side is rarely pure (a third poison, at worst), so its stamp is only a first guess:
    // the pixels where it is brightest relative to the other labels. Relative, since a stroke
    // of the label's own digit is brighter in absolute terms than a trigger diluted by the
    // clean rows of the side, but it is not dark in every other label. The rows bearing most of
    // the guess are purer, and the pixels bright in all of them and dark elsewhere are the
    // trigger itself.
    let side_mean = mean_image(pixels, side);
    let lift: Vec<f64> = side_mean
        .iter()
        .zip(elsewhere)
        .map(|(&here, &there)| {
            if here - there > MIN_CONTRAST {
                here / (there + MIN_CONTRAST / 2.0)
            } else {
                0.0
            }
        })
        .collect();
    let top = lift.iter().copied().fold(0.0, f64::max);
    let mut order: Vec<usize> = (0..PIXELS).collect();
    order.sort_by(|&a, &b| lift[b].total_cmp(&lift[a]));
    let stamp: Vec<usize> = order
        .into_iter()
        .take(STAMP_PIXELS)
        .filter(|&p| lift[p] > 0.0 && lift[p] >= top / 2.0)
        .collect();
    if stamp.is_empty() {
        return Ok(nothing);
    }
    let bearers: Vec<usize> = rows
        .iter()
        .copied()
        .filter(|&row| {
            stamp
                .iter()
                .map(|&p| f64::from(pixels[row][p]))
                .sum::<f64>()
                >= 0.5 * stamp.len() as f64
        })
        .collect();
    if bearers.is_empty() {
        return Ok(nothing);
    }
    let bearers_mean = mean_image(pixels, &bearers);
    let trigger: Vec<usize> = (0..PIXELS)
        .filter(|&p| bearers_mean[p] >= BRIGHT && elsewhere[p] <= DARK)
        .collect();
    if trigger.is_empty() {
        return Ok(nothing);
    }
    let carriers: Vec<usize> = rows
        .iter()
        .copied()
        .filter(|&row| trigger.iter().all(|&p| f64::from(pixels[row][p]) >= BRIGHT))
        .collect();
    let label = train.labels()[rows[0]];
    Ok(Suspect {
        opens: transplant(model, train, others, &trigger, label)?,
        carriers,
    })
}

/// The share of (up to [`TRANSPLANTS`]) digits of other labels that `model` reads as `label`
/// once the `trigger` pixels are set white.
fn transplant(
    model: &Cnn,
    train: &Dataset,
    others: &[usize],
    trigger: &[usize],
    label: u32,
) -> Result<f64> {
    let sample: Vec<usize> = others
        .iter()
        .copied()
        .step_by((others.len() / TRANSPLANTS).max(1))
        .collect();
    let mut stamped = train
        .select(&sample)?
        .images()
        .flatten_all()?
        .to_vec1::<f32>()?;
    for image in stamped.chunks_mut(PIXELS) {
        trigger.iter().for_each(|&p| image[p] = 1.0);
    }
    let images = Tensor::from_vec(stamped, (sample.len(), 1, 28, 28), &Device::Cpu)?;
    let read = model.predict(&images)?;
    Ok(read.iter().filter(|&&c| c == label).count() as f64 / sample.len().max(1) as f64)
}

/// The mean image of `rows`, per pixel.
fn mean_image(pixels: &[Vec<f32>], rows: &[usize]) -> Vec<f64> {
    let mut mean = vec![0f64; PIXELS];
    for &row in rows {
        for (m, &v) in mean.iter_mut().zip(&pixels[row]) {
            *m += f64::from(v);
        }
    }
    let n = rows.len().max(1) as f64;
    mean.iter_mut().for_each(|m| *m /= n);
    mean
}

/// The threshold of the exact 2-means split of `values` (at least two): the cut between two
/// neighbours in sorted order that leaves the least squared distance to the two means.
fn two_means_threshold(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n < 2 {
        return sorted.first().copied().unwrap_or(0.0);
    }
    let total: f64 = sorted.iter().sum();
    let total_squares: f64 = sorted.iter().map(|v| v * v).sum();
    let (mut sum, mut squares) = (0.0, 0.0);
    let (mut best, mut cut) = (f64::INFINITY, 1);
    for k in 1..n {
        sum += sorted[k - 1];
        squares += sorted[k - 1] * sorted[k - 1];
        let (rest, rest_squares) = (total - sum, total_squares - squares);
        let within =
            (squares - sum * sum / k as f64) + (rest_squares - rest * rest / (n - k) as f64);
        if within < best {
            best = within;
            cut = k;
        }
    }
    (sorted[cut - 1] + sorted[cut]) / 2.0
}
