//! Label-flip poisoning runs: relabel part of one class as another, train on the result, and
//! keep the ground truth of which rows were flipped.

use aisec_sdk::data::N_CLASSES;
use aisec_sdk::metrics::Confusion;
use aisec_sdk::rng::{self, Rng};
use aisec_sdk::train::{Progress, TrainConfig, Trainer};
use aisec_sdk::{Cnn, Dataset};

use crate::{Error, Result};

/// The smallest and largest share of the source class a drawn plan flips.
pub const FRACTION_RANGE: (f64, f64) = (0.10, 0.30);

/// Which labels a poisoning run flips.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlipPlan {
    /// The class whose rows are relabelled.
    pub source: u32,
    /// The label they get.
    pub target: u32,
    /// The share of the source class's rows that are relabelled.
    pub fraction: f64,
}

impl FlipPlan {
    /// A plan drawn from `rng`: two different classes and a fraction in [`FRACTION_RANGE`],
    /// rounded to whole percent so reports read cleanly.
    pub fn draw(rng: &mut Rng) -> FlipPlan {
        use aisec_sdk::rng::RngCore;
        let classes = N_CLASSES as u32;
        let source = rng.next_u32() % classes;
        let target = (source + 1 + rng.next_u32() % (classes - 1)) % classes;
        let (low, high) = FRACTION_RANGE;
        let fraction =
            (low + f64::from(rng.next_u32()) / f64::from(u32::MAX) * (high - low)) * 100.0;
        FlipPlan {
            source,
            target,
            fraction: fraction.round() / 100.0,
        }
    }

    /// Checks the plan names two different classes and a fraction in (0, 1].
    pub fn validate(&self) -> Result<()> {
        let classes = N_CLASSES as u32;
        if self.source >= classes || self.target >= classes || self.source == self.target {
            return Err(Error::invalid(
                "flip plan",
                format!(
                    "source {} and target {} must be two different classes in 0..{classes}",
                    self.source, self.target
                ),
            ));
        }
        if !(self.fraction > 0.0 && self.fraction <= 1.0) {
            return Err(Error::invalid(
                "flip plan",
                format!("fraction {} must be in (0, 1]", self.fraction),
            ));
        }
        Ok(())
    }

    /// One line for reports: `20% of 3 → 8`.
    pub fn describe(&self) -> String {
        format!(
            "{:.0}% of {} → {}",
            self.fraction * 100.0,
            self.source,
            self.target
        )
    }
}

/// A training set with some labels flipped, and the truth about which.
#[derive(Debug, Clone)]
pub struct Poisoned {
    /// The plan that was applied.
    pub plan: FlipPlan,
    /// The training rows with the poisoned labels.
    pub data: Dataset,
    /// The rows whose label was changed, ascending.
    pub flipped: Vec<usize>,
}

/// Relabels `round(fraction × |source rows|)` rows of class `plan.source`, chosen uniformly with
/// `rng`, as `plan.target`. Images and every other label are untouched.
pub fn flip_labels(train: &Dataset, plan: &FlipPlan, rng: &mut Rng) -> Result<Poisoned> {
    plan.validate()?;
    let source_rows = train.indices_of_class(plan.source);
    if source_rows.is_empty() {
        return Err(Error::invalid(
            "flip plan",
            format!("the training set has no rows of class {}", plan.source),
        ));
    }
    let count =
        ((plan.fraction * source_rows.len() as f64).round() as usize).clamp(1, source_rows.len());
    let order = rng::permutation(source_rows.len(), rng);
    let mut flipped: Vec<usize> = order[..count].iter().map(|&i| source_rows[i]).collect();
    flipped.sort_unstable();
    let mut labels = train.labels().to_vec();
    for &row in &flipped {
        labels[row] = plan.target;
    }
    Ok(Poisoned {
        plan: *plan,
        data: train.with_labels(labels)?,
        flipped,
    })
}

/// The training recipe of every poisoning-lab model (poisoned, repaired and clean alike), so
/// the three differ only in their rows: the standard preset's batch and learning rate, with
/// `epochs` epochs and a cosine decay of the learning rate. The decay matters: without it the
/// last steps leave per-class accuracy swinging by several points from one run to the next,
/// more than the repair is measured against.
pub fn train_config(seed: u64, epochs: usize) -> TrainConfig {
    let mut config = crate::presets::Preset::Standard.config(seed, Some(epochs));
    config.final_learning_rate = Some(1e-5);
    config
}

/// Trains a fresh CNN (initial weights from `seed`) on `data` with [`train_config`].
pub fn train(
    data: &Dataset,
    seed: u64,
    epochs: usize,
    on_step: impl FnMut(&Progress),
) -> Result<Cnn> {
    let model = Trainer::new(train_config(seed, epochs))
        .on_step(on_step)
        .fit(&Cnn::init(seed)?, data)?;
    Ok(model)
}

/// `data` without the rows in `drop` (indices into `data`; out-of-range indices are an error).
pub fn without_rows(data: &Dataset, drop: &[usize]) -> Result<Dataset> {
    let mut keep = vec![true; data.len()];
    for &row in drop {
        match keep.get_mut(row) {
            Some(k) => *k = false,
            None => {
                return Err(Error::invalid(
                    "flagged rows",
                    format!(
                        "row {row} is out of range: the training set has {} rows",
                        data.len()
                    ),
                ));
            }
        }
    }
    let rows: Vec<usize> = (0..data.len()).filter(|&i| keep[i]).collect();
    Ok(data.select(&rows)?)
}

/// Scores `flagged` (repeats count once) against `poisoned`, both indices into `n` rows: the
/// distinct rows flagged are `true_positives + false_positives`, the rows poisoned
/// `true_positives + false_negatives`.
pub fn score(flagged: &[usize], poisoned: &[usize], n: usize) -> Confusion {
    Confusion::from_indices(flagged, poisoned, n)
}

/// The first of `flagged` that is not a row of a training set of `n` rows, as the reason a
/// detector's answer is refused.
pub fn out_of_range(flagged: &[usize], n: usize) -> Option<String> {
    flagged.iter().find(|&&row| row >= n).map(|row| {
        format!(
            "row {row} is out of range (the training set has {n} rows, 0 to {})",
            n.saturating_sub(1)
        )
    })
}

/// The distinct rows a detection flagged.
pub fn flagged_count(detection: &Confusion) -> usize {
    detection.true_positives + detection.false_positives
}

/// A detection as the poisoning checks report it: precision, recall and F1 with the counts.
pub fn describe_detection(detection: &Confusion) -> String {
    format!(
        "precision {:.3}, recall {:.3}, F1 {:.3} ({} flagged, {} of them poisoned, {} poisoned in all)",
        detection.precision(),
        detection.recall(),
        detection.f1(),
        flagged_count(detection),
        detection.true_positives,
        detection.true_positives + detection.false_negatives
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisec_sdk::Tensor;

    fn toy(labels: Vec<u32>) -> Dataset {
        let n = labels.len();
        let images = Tensor::zeros(
            (n, 1, 28, 28),
            aisec_sdk::DType::F32,
            &aisec_sdk::Device::Cpu,
        )
        .unwrap();
        Dataset::new(images, labels).unwrap()
    }

    #[test]
    fn flipped_rows_are_exactly_the_relabelled_ones() {
        let labels: Vec<u32> = (0..400).map(|i| (i % 10) as u32).collect();
        let data = toy(labels.clone());
        for seed in 0..20 {
            let plan = FlipPlan::draw(&mut rng::rng(seed, "plan"));
            assert_ne!(plan.source, plan.target);
            assert!((0.10..=0.30).contains(&plan.fraction), "{plan:?}");
            let poisoned = flip_labels(&data, &plan, &mut rng::rng(seed, "rows")).unwrap();
            let changed: Vec<usize> = (0..labels.len())
                .filter(|&i| poisoned.data.labels()[i] != labels[i])
                .collect();
            assert_eq!(changed, poisoned.flipped, "seed {seed}");
            assert_eq!(
                poisoned.flipped.len(),
                (plan.fraction * 40.0).round() as usize
            );
            for &row in &poisoned.flipped {
                assert_eq!(labels[row], plan.source);
                assert_eq!(poisoned.data.labels()[row], plan.target);
            }
        }
    }

    #[test]
    fn plans_cover_every_class_pair_direction() {
        let mut rng = rng::rng(1, "plan");
        let plans: Vec<FlipPlan> = (0..500).map(|_| FlipPlan::draw(&mut rng)).collect();
        for class in 0..10 {
            assert!(plans.iter().any(|p| p.source == class));
            assert!(plans.iter().any(|p| p.target == class));
        }
    }

    #[test]
    fn bad_plans_and_rows_are_errors() {
        let data = toy(vec![1, 2, 3]);
        let plan = FlipPlan {
            source: 4,
            target: 4,
            fraction: 0.2,
        };
        assert!(flip_labels(&data, &plan, &mut rng::rng(0, "x")).is_err());
        let plan = FlipPlan {
            source: 5,
            target: 4,
            fraction: 0.2,
        };
        assert!(
            flip_labels(&data, &plan, &mut rng::rng(0, "x"))
                .unwrap_err()
                .to_string()
                .contains("no rows of class 5")
        );
        assert!(
            without_rows(&data, &[3])
                .unwrap_err()
                .to_string()
                .contains("out of range")
        );
        assert_eq!(without_rows(&data, &[0, 0, 2]).unwrap().labels(), &[2]);
    }

    #[test]
    fn scores_by_hand() {
        let s = score(&[1, 2, 3, 3], &[2, 3, 4, 5], 10);
        assert_eq!(
            (
                s.true_positives + s.false_positives,
                s.true_positives,
                s.true_positives + s.false_negatives
            ),
            (3, 2, 4)
        );
        assert!((s.precision() - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.recall() - 0.5).abs() < 1e-12);
        assert!((s.f1() - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(score(&[], &[1], 10).f1(), 0.0);
        assert_eq!(flagged_count(&s), 3);
        assert_eq!(
            describe_detection(&s),
            "precision 0.667, recall 0.500, F1 0.571 (3 flagged, 2 of them poisoned, 4 poisoned in all)"
        );
        assert_eq!(out_of_range(&[1, 9], 10), None);
        assert_eq!(
            out_of_range(&[1, 10, 12], 10).unwrap(),
            "row 10 is out of range (the training set has 10 rows, 0 to 9)"
        );
    }
}
