//! Scores for classifiers and detectors: accuracy, confusion matrix, ROC/AUC, TPR at a fixed
//! FPR, precision/recall/F1.

use crate::data::N_CLASSES;

/// Fraction of `predicted` equal to `truth` (0 for empty input).
pub fn accuracy(predicted: &[u32], truth: &[u32]) -> f64 {
    let n = predicted.len().min(truth.len());
    if n == 0 {
        return 0.0;
    }
    predicted.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / n as f64
}

/// `matrix[actual][predicted]` counts.
pub fn confusion_matrix(predicted: &[u32], truth: &[u32]) -> [[usize; N_CLASSES]; N_CLASSES] {
    let mut matrix = [[0; N_CLASSES]; N_CLASSES];
    for (&p, &t) in predicted.iter().zip(truth) {
        if (p as usize) < N_CLASSES && (t as usize) < N_CLASSES {
            matrix[t as usize][p as usize] += 1;
        }
    }
    matrix
}

/// Accuracy within each class (`None` for a class with no rows).
pub fn per_class_accuracy(predicted: &[u32], truth: &[u32]) -> [Option<f64>; N_CLASSES] {
    let matrix = confusion_matrix(predicted, truth);
    std::array::from_fn(|c| {
        let total: usize = matrix[c].iter().sum();
        (total > 0).then(|| matrix[c][c] as f64 / total as f64)
    })
}

/// A receiver operating characteristic curve.
///
/// Point `i` is what you get by calling positive every score `>= thresholds[i]`. The first point
/// is (0, 0) with threshold +inf; the last is (1, 1). Tied scores move together, so a tie makes
/// one diagonal step, never a staircase that depends on input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Roc {
    /// False-positive rate at each point, non-decreasing.
    pub fpr: Vec<f64>,
    /// True-positive rate at each point, non-decreasing.
    pub tpr: Vec<f64>,
    /// The score threshold of each point, decreasing.
    pub thresholds: Vec<f64>,
}

impl Roc {
    /// The ROC curve of `scores` (higher means "more likely positive") against `positive`.
    ///
    /// Returns `None` when there is no positive or no negative example (the rates are then
    /// undefined) or when a score is NaN.
    pub fn new(scores: &[f64], positive: &[bool]) -> Option<Roc> {
        let n_pos = positive.iter().filter(|&&p| p).count();
        let n_neg = positive.len() - n_pos;
        if n_pos == 0
            || n_neg == 0
            || scores.len() != positive.len()
            || scores.iter().any(|s| s.is_nan())
        {
            return None;
        }
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let mut roc = Roc {
            fpr: vec![0.0],
            tpr: vec![0.0],
            thresholds: vec![f64::INFINITY],
        };
        let (mut tp, mut fp) = (0usize, 0usize);
        let mut i = 0;
        while i < order.len() {
            let threshold = scores[order[i]];
            while i < order.len() && scores[order[i]] == threshold {
                if positive[order[i]] {
                    tp += 1
                } else {
                    fp += 1
                }
                i += 1;
            }
            roc.fpr.push(fp as f64 / n_neg as f64);
            roc.tpr.push(tp as f64 / n_pos as f64);
            roc.thresholds.push(threshold);
        }
        Some(roc)
    }

    /// Area under the curve (trapezoids; a tie counts half, as in the Mann-Whitney U statistic).
    pub fn auc(&self) -> f64 {
        self.fpr
            .windows(2)
            .zip(self.tpr.windows(2))
            .map(|(f, t)| (f[1] - f[0]) * (t[0] + t[1]) / 2.0)
            .sum()
    }

    /// The highest TPR among thresholds whose FPR is at most `max_fpr` (no interpolation: only
    /// operating points an attacker can actually pick).
    pub fn tpr_at_fpr(&self, max_fpr: f64) -> f64 {
        self.fpr
            .iter()
            .zip(&self.tpr)
            .filter(|(f, _)| **f <= max_fpr + 1e-12)
            .map(|(_, t)| *t)
            .fold(0.0, f64::max)
    }

    /// The largest TPR − FPR over all thresholds (the membership advantage of the best threshold).
    pub fn max_advantage(&self) -> f64 {
        self.fpr
            .iter()
            .zip(&self.tpr)
            .map(|(f, t)| t - f)
            .fold(0.0, f64::max)
    }
}

/// Counts of a binary decision against the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Confusion {
    /// Flagged and truly positive.
    pub true_positives: usize,
    /// Flagged but negative.
    pub false_positives: usize,
    /// Missed positives.
    pub false_negatives: usize,
    /// Correctly left alone.
    pub true_negatives: usize,
}

impl Confusion {
    /// Counts from one flag and one truth value per row.
    pub fn from_flags(flagged: &[bool], truth: &[bool]) -> Confusion {
        let mut c = Confusion::default();
        for (&f, &t) in flagged.iter().zip(truth) {
            match (f, t) {
                (true, true) => c.true_positives += 1,
                (true, false) => c.false_positives += 1,
                (false, true) => c.false_negatives += 1,
                (false, false) => c.true_negatives += 1,
            }
        }
        c
    }

    /// Counts from the flagged row indices and the truly positive row indices among `n` rows.
    /// Indices `>= n` are ignored; repeats count once.
    pub fn from_indices(flagged: &[usize], positive: &[usize], n: usize) -> Confusion {
        let mask = |indices: &[usize]| {
            let mut m = vec![false; n];
            indices
                .iter()
                .filter(|&&i| i < n)
                .for_each(|&i| m[i] = true);
            m
        };
        Confusion::from_flags(&mask(flagged), &mask(positive))
    }

    /// tp / (tp + fp); 0 when nothing was flagged.
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    /// tp / (tp + fn); 0 when there are no positives.
    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }

    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// fp / (fp + tn): the share of negatives flagged; 0 when there are no negatives.
    pub fn false_positive_rate(&self) -> f64 {
        ratio(
            self.false_positives,
            self.false_positives + self.true_negatives,
        )
    }
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_and_confusion() {
        let (p, t) = ([1, 2, 3, 3], [1, 2, 2, 3]);
        assert_eq!(accuracy(&p, &t), 0.75);
        let m = confusion_matrix(&p, &t);
        assert_eq!((m[2][3], m[2][2], m[3][3]), (1, 1, 1));
        let per_class = per_class_accuracy(&p, &t);
        assert_eq!((per_class[2], per_class[0]), (Some(0.5), None));
    }

    /// Hand-computed: scores 0.9(+) 0.8(-) 0.7(+) 0.6(-) with 2 positives and 2 negatives.
    /// Points: (0,0) (0,.5) (.5,.5) (.5,1) (1,1); AUC = 0.75 (3 of 4 pos/neg pairs ordered).
    #[test]
    fn roc_and_auc_by_hand() {
        let roc = Roc::new(&[0.9, 0.8, 0.7, 0.6], &[true, false, true, false]).unwrap();
        assert_eq!(roc.fpr, vec![0.0, 0.0, 0.5, 0.5, 1.0]);
        assert_eq!(roc.tpr, vec![0.0, 0.5, 0.5, 1.0, 1.0]);
        assert_eq!(roc.auc(), 0.75);
        assert_eq!(roc.tpr_at_fpr(0.0), 0.5);
        assert_eq!(roc.tpr_at_fpr(0.49), 0.5);
        assert_eq!(roc.tpr_at_fpr(0.5), 1.0);
        assert_eq!(roc.max_advantage(), 0.5);
    }

    /// Ties: scores 1(+) 1(-) 0(+) 0(-) 0(-). Pairs: (+1 vs -1) tie = 0.5, (+1 vs -0) x2 = 2,
    /// (+0 vs -1) = 0, (+0 vs -0) x2 ties = 1; total 3.5 of 6 pairs → AUC 7/12.
    #[test]
    fn ties_count_half_and_do_not_depend_on_order() {
        let scores = [1.0, 1.0, 0.0, 0.0, 0.0];
        let positive = [true, false, true, false, false];
        let roc = Roc::new(&scores, &positive).unwrap();
        assert!((roc.auc() - 7.0 / 12.0).abs() < 1e-12);
        assert_eq!(roc.fpr, vec![0.0, 1.0 / 3.0, 1.0]);
        assert_eq!(roc.tpr, vec![0.0, 0.5, 1.0]);
        let swapped = Roc::new(
            &[1.0, 1.0, 0.0, 0.0, 0.0],
            &[false, true, false, true, false],
        )
        .unwrap();
        assert_eq!(swapped.auc(), roc.auc());
        assert_eq!(
            roc.tpr_at_fpr(0.01),
            0.0,
            "no threshold reaches 1% FPR with any positive"
        );
    }

    #[test]
    fn degenerate_inputs_have_no_roc() {
        assert!(Roc::new(&[0.1, 0.2], &[true, true]).is_none());
        assert!(Roc::new(&[f64::NAN, 0.2], &[true, false]).is_none());
        let perfect = Roc::new(&[3.0, 2.0, 1.0], &[true, true, false]).unwrap();
        assert_eq!(perfect.auc(), 1.0);
    }

    #[test]
    fn precision_recall_f1() {
        let c = Confusion::from_indices(&[0, 1, 2, 9, 2], &[1, 2, 3, 4], 10);
        assert_eq!(
            (
                c.true_positives,
                c.false_positives,
                c.false_negatives,
                c.true_negatives
            ),
            (2, 2, 2, 4)
        );
        assert_eq!((c.precision(), c.recall(), c.f1()), (0.5, 0.5, 0.5));
        assert_eq!(c.false_positive_rate(), 2.0 / 6.0);
        let none = Confusion::from_indices(&[], &[1], 3);
        assert_eq!((none.precision(), none.f1()), (0.0, 0.0));
    }
}
