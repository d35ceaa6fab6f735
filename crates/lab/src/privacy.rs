//! Membership-inference targets and the lab's reference attack: an overfit model trained at
//! check time on members drawn from the seed, and disjoint non-member sets to test it against
//! (drawn from the same training split, so the data itself says nothing of membership).

use aisec_sdk::metrics::Roc;
use aisec_sdk::rng;
use aisec_sdk::train::{Progress, Trainer};
use aisec_sdk::{Cnn, Dataset, Mnist, Tensor};

use crate::presets::Preset;
use crate::{Error, Result};

/// A model trained on a few members, and who they are.
pub struct Target {
    /// The overfit model.
    pub model: Cnn,
    /// Rows of the training split it was trained on.
    pub member_rows: Vec<usize>,
    /// Those rows.
    pub members: Dataset,
}

/// Trains the overfit preset's recipe on members drawn from `seed` (rows of `data.train`).
pub fn train_target(data: &Mnist, seed: u64, on_step: impl FnMut(&Progress)) -> Result<Target> {
    let member_rows = Preset::Overfit.member_rows(&data.train, seed);
    let members = data.train.select(&member_rows)?;
    let model = Trainer::new(Preset::Overfit.config(seed, None))
        .on_step(on_step)
        .fit(&Cnn::init(seed)?, &members)?;
    Ok(Target {
        model,
        member_rows,
        members,
    })
}

/// `n` rows of the training split the target was not trained on, drawn with `(seed, purpose)`.
///
/// Members and non-members both come from the training split, so that nothing about a record
/// (which public split it is in, a fingerprint of the bundled data) tells one from the other:
/// only the model's behaviour does.
pub fn non_members(
    target: &Target,
    train: &Dataset,
    n: usize,
    seed: u64,
    purpose: &str,
) -> Result<Dataset> {
    let mut is_member = vec![false; train.len()];
    for &row in &target.member_rows {
        if let Some(slot) = is_member.get_mut(row) {
            *slot = true;
        }
    }
    let outside: Vec<usize> = (0..train.len()).filter(|&r| !is_member[r]).collect();
    if n > outside.len() {
        return Err(Error::invalid(
            "non-members",
            format!(
                "asked for {n} rows, but the training split has {} outside the target's members",
                outside.len()
            ),
        ));
    }
    let order = rng::permutation(outside.len(), &mut rng::rng(seed, purpose));
    let rows: Vec<usize> = order[..n].iter().map(|&i| outside[i]).collect();
    Ok(train.select(&rows)?)
}

/// The reference attack's score of each record: the log-odds its output row gives the true
/// label, `ln p_y − ln Σ_{j≠y} p_j` (higher means "more likely a member").
///
/// Summing the other probabilities instead of computing `1 − p_y` keeps the score apart for
/// rows whose `p_y` rounds to exactly 1.0 in f32, as an overfit model's members do. Zeros (a
/// one-hot answer) are floored at the smallest positive f32, so the score stays finite.
pub fn true_label_log_odds(probabilities: &Tensor, labels: &[u32]) -> Result<Vec<f64>> {
    const FLOOR: f64 = 1e-45;
    per_row(probabilities, labels, |row, label| {
        let own = f64::from(row[label]).max(FLOOR);
        let others: f64 = row
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != label)
            .map(|(_, &p)| f64::from(p))
            .sum();
        own.ln() - others.max(FLOOR).ln()
    })
}

/// Applies `score(row, label)` to each output row and its record's label.
fn per_row(
    probabilities: &Tensor,
    labels: &[u32],
    score: impl Fn(&[f32], usize) -> f64,
) -> Result<Vec<f64>> {
    let rows = probabilities.to_vec2::<f32>()?;
    if rows.len() != labels.len() {
        return Err(Error::invalid(
            "probabilities",
            format!("{} rows for {} labels", rows.len(), labels.len()),
        ));
    }
    rows.iter()
        .zip(labels)
        .map(|(row, &label)| {
            if (label as usize) < row.len() {
                Ok(score(row, label as usize))
            } else {
                Err(Error::invalid(
                    "probabilities",
                    format!("no column for label {label}"),
                ))
            }
        })
        .collect()
}

/// A decision rule "member if the score is above `value`; at exactly `value`, member with
/// probability `tie_share`". The randomised tie is what lets an attacker hit a false-positive
/// budget when many scores are equal (an overfit model's probabilities round to exactly 1.0);
/// its rates are computed in expectation, so results stay deterministic. With `tie_share` 0 it
/// is the plain rule "member if the score is strictly above `value`".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// The score at the boundary.
    pub value: f64,
    /// The share of scores equal to `value` called members, in [0, 1].
    pub tie_share: f64,
}

/// The reference attack's threshold: the rule that calls exactly `max_fpr` of the known
/// non-members members (in expectation), or all of them if `max_fpr` >= 1.
pub fn threshold_at_fpr(non_member_scores: &[f64], max_fpr: f64) -> Threshold {
    let mut sorted: Vec<f64> = non_member_scores
        .iter()
        .copied()
        .filter(|s| !s.is_nan())
        .collect();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let budget = max_fpr.clamp(0.0, 1.0) * sorted.len() as f64;
    let mut above = 0usize;
    for group in sorted.chunk_by(|a, b| a == b) {
        if (above + group.len()) as f64 > budget {
            return Threshold {
                value: group[0],
                tie_share: (budget - above as f64) / group.len() as f64,
            };
        }
        above += group.len();
    }
    Threshold {
        value: f64::NEG_INFINITY,
        tie_share: 1.0,
    }
}

/// Expected (TPR, FPR) of `threshold` on members and non-members.
pub fn expected_rates(
    member_scores: &[f64],
    non_member_scores: &[f64],
    threshold: Threshold,
) -> (f64, f64) {
    let rate = |scores: &[f64]| {
        let above = scores.iter().filter(|&&s| s > threshold.value).count() as f64;
        let tied = scores.iter().filter(|&&s| s == threshold.value).count() as f64;
        (above + threshold.tie_share * tied) / scores.len().max(1) as f64
    };
    (rate(member_scores), rate(non_member_scores))
}

/// An attack's result on members against non-members.
#[derive(Debug, Clone, PartialEq)]
pub struct AttackResult {
    /// Area under the ROC curve.
    pub auc: f64,
    /// The best TPR − FPR over all thresholds.
    pub max_advantage: f64,
    /// TPR at FPR ≤ 1% and ≤ 0.1%.
    pub tpr_at_1pct: f64,
    /// See `tpr_at_1pct`.
    pub tpr_at_01pct: f64,
    /// The curve.
    pub roc: Roc,
}

/// Scores members against non-members; errors when a score is not finite.
pub fn evaluate(member_scores: &[f64], non_member_scores: &[f64]) -> Result<AttackResult> {
    if let Some(bad) = member_scores
        .iter()
        .chain(non_member_scores)
        .find(|s| !s.is_finite())
    {
        return Err(Error::invalid(
            "membership scores",
            format!("{bad} is not a finite score"),
        ));
    }
    let scores: Vec<f64> = member_scores
        .iter()
        .chain(non_member_scores)
        .copied()
        .collect();
    let truth: Vec<bool> = (0..scores.len()).map(|i| i < member_scores.len()).collect();
    let roc = Roc::new(&scores, &truth).ok_or_else(|| {
        Error::invalid(
            "membership scores",
            "needs at least one member and one non-member",
        )
    })?;
    Ok(AttackResult {
        auc: roc.auc(),
        max_advantage: roc.max_advantage(),
        tpr_at_1pct: roc.tpr_at_fpr(0.01),
        tpr_at_01pct: roc.tpr_at_fpr(0.001),
        roc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_spends_exactly_the_budget_ties_included() {
        let known = [0.9, 0.8, 0.8, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0];
        // 10%: exactly the 0.9 (everything above the tie at 0.8, none of the tie).
        let t = threshold_at_fpr(&known, 0.1);
        assert_eq!(
            t,
            Threshold {
                value: 0.8,
                tie_share: 0.0
            }
        );
        assert_eq!(expected_rates(&[], &known, t).1, 0.1);
        // 20%: 0.9 plus a third of the three tied at 0.8.
        let t = threshold_at_fpr(&known, 0.2);
        assert_eq!(t.value, 0.8);
        assert!((t.tie_share - 1.0 / 3.0).abs() < 1e-12);
        assert!((expected_rates(&[], &known, t).1 - 0.2).abs() < 1e-12);
        let (tpr, fpr) = expected_rates(&[1.0, 0.8, 0.8, 0.6], &known, t);
        assert!((tpr - (1.0 + 2.0 / 3.0) / 4.0).abs() < 1e-12 && (fpr - 0.2).abs() < 1e-12);
        assert_eq!(threshold_at_fpr(&known, 0.0).tie_share, 0.0);
        assert_eq!(
            expected_rates(&[1.0], &known, threshold_at_fpr(&known, 0.0)).1,
            0.0
        );
        assert_eq!(
            expected_rates(&[], &known, threshold_at_fpr(&known, 1.0)).1,
            1.0
        );
        // Every score tied: the budget is spent as a share of the tie.
        let t = threshold_at_fpr(&[1.0; 20], 0.05);
        assert_eq!(
            t,
            Threshold {
                value: 1.0,
                tie_share: 0.05
            }
        );
    }

    #[test]
    fn evaluation_by_hand_and_bad_scores() {
        // members 0.9, 0.7; non-members 0.8, 0.6: AUC = 3 of 4 pairs ordered = 0.75.
        let r = evaluate(&[0.9, 0.7], &[0.8, 0.6]).unwrap();
        assert!((r.auc - 0.75).abs() < 1e-12);
        assert!((r.max_advantage - 0.5).abs() < 1e-12);
        assert_eq!(r.tpr_at_1pct, 0.5);
        // All tied: chance.
        let r = evaluate(&[0.5, 0.5], &[0.5, 0.5, 0.5]).unwrap();
        assert!((r.auc - 0.5).abs() < 1e-12);
        assert_eq!(r.tpr_at_1pct, 0.0);
        assert!(evaluate(&[f64::NAN], &[0.1]).is_err());
        assert!(evaluate(&[0.2], &[f64::INFINITY]).is_err());
        assert!(evaluate(&[], &[0.1]).is_err());
    }

    #[test]
    fn members_and_non_members_never_overlap() {
        let data = Mnist::bundled().unwrap();
        let pixels = |d: &Dataset| -> Vec<Vec<u8>> {
            let values = d
                .images()
                .flatten_from(1)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            values
                .iter()
                .map(|row| row.iter().map(|&v| (v * 255.0).round() as u8).collect())
                .collect()
        };
        let population: std::collections::HashSet<Vec<u8>> =
            pixels(&data.population).into_iter().collect();
        for seed in [1, 2, 3] {
            let rows = Preset::Overfit.member_rows(&data.train, seed);
            let distinct: std::collections::HashSet<usize> = rows.iter().copied().collect();
            assert_eq!(distinct.len(), rows.len());
            assert!(rows.iter().all(|&r| r < data.train.len()));
            let target = Target {
                model: Cnn::init(seed).unwrap(),
                members: data.train.select(&rows).unwrap(),
                member_rows: rows,
            };
            let members = pixels(&target.members);
            let drawn = non_members(&target, &data.train, 500, seed, "non-members").unwrap();
            let unseen: std::collections::HashSet<Vec<u8>> = pixels(&drawn).into_iter().collect();
            assert_eq!(unseen.len(), 500, "seed {seed}: 500 distinct non-members");
            for image in &members {
                assert!(
                    !unseen.contains(image),
                    "seed {seed}: a member is among the non-members"
                );
                assert!(
                    !population.contains(image),
                    "seed {seed}: a member is among the known non-members"
                );
            }
            let again = non_members(&target, &data.train, 500, seed, "non-members").unwrap();
            assert_eq!(pixels(&again), pixels(&drawn), "same seed, same draw");
        }
        let target = Target {
            model: Cnn::init(1).unwrap(),
            members: data.train.head(1).unwrap(),
            member_rows: vec![0],
        };
        assert!(non_members(&target, &data.train, data.train.len(), 1, "x").is_err());
    }

    #[test]
    fn log_odds_read_the_true_label_column() {
        let p = Tensor::new(&[[0.1f32, 0.9], [0.7, 0.3]], &aisec_sdk::Device::Cpu).unwrap();
        assert!(true_label_log_odds(&p, &[5, 0]).is_err());
        assert!(true_label_log_odds(&p, &[0]).is_err());
        let odds = true_label_log_odds(&p, &[1, 1]).unwrap();
        assert!((odds[0] - (0.9f64 / 0.1).ln()).abs() < 1e-5, "{odds:?}");
        assert!((odds[1] - (0.3f64 / 0.7).ln()).abs() < 1e-5, "{odds:?}");
        // A row whose true label rounds to 1.0 still scores by how small the rest is, and a
        // one-hot answer stays finite.
        let p = Tensor::new(
            &[[1.0f32, 1e-20], [1.0, 1e-30], [0.0, 1.0]],
            &aisec_sdk::Device::Cpu,
        )
        .unwrap();
        let odds = true_label_log_odds(&p, &[0, 0, 0]).unwrap();
        assert!(
            odds[1] > odds[0] && odds.iter().all(|s| s.is_finite()),
            "{odds:?}"
        );
    }
}
