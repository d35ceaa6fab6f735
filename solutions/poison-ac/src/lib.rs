//! Poisoned-label detection by activation clustering, decided by exclusionary reclassification
//! (reference solution).

use aisec_sdk::analysis::{self, KMeans, Pca};
use aisec_sdk::data::N_CLASSES;
use aisec_sdk::ndarray::{Array2, Axis};
use aisec_sdk::rng;
use aisec_sdk::train::{TrainConfig, Trainer};
use aisec_sdk::{Cnn, Dataset, Result};

/// Dimensions the activations of one class are reduced to before clustering.
const COMPONENTS: usize = 10;
/// Clusters per class: more than two, so a small poisoned group gets a cluster of its own
/// instead of being swallowed by a split between two writing styles.
const CLUSTERS: usize = 4;
/// Epochs of each judge (see [`held_out_readings`]).
const JUDGE_EPOCHS: usize = 8;
/// A cluster is poison when at least this share of it is read as one other class by models
/// that never saw it.
const RECLASSIFIED_SHARE: f64 = 0.5;

/// The training rows (indices into `train`) whose labels look poisoned.
///
/// - `model`: the model trained on `train`, labels and all;
/// - `train`: the training set as the model saw it (possibly with flipped labels);
/// - `seed`: seeds every random choice (k-means starts, the judges' training).
///
/// For each label, the penultimate activations of its rows are reduced with PCA and split
/// with k-means. Every class splits (writing styles differ), so a cluster's size or shape
/// proves nothing; the evidence is exclusionary reclassification: two judges, each trained on
/// one half of the rows, read the other half. A clean cluster is read as its own label; a
/// poisoned cluster as the class its digits really are. When most of a cluster is read as one
/// other class, its label is poisoned from that class, and the rows of that cluster, and every
/// row of the label read as that class, are suspects; those of them read as any class other
/// than their label are misread.
///
/// The judges learned from the poison in their own half, so after a large flip they read
/// part of the other half's poison as the label it was given. A second pair of judges, trained
/// without the suspects the first pair misread, reads every row again and names suspects anew;
/// the suspects it misreads are flagged. The judges' accuracy bounds precision and recall (a
/// misread clean digit is a false alarm), so they are trained to convergence: 8 epochs,
/// decaying rate.
pub fn detect(model: &Cnn, train: &Dataset, seed: u64) -> Result<Vec<usize>> {
    let activations = analysis::to_array(&model.penultimate(train.images())?)?;
    let clusters = (0..N_CLASSES as u32)
        .map(|class| class_clusters(&activations, train, class, seed))
        .collect::<Result<Vec<_>>>()?;
    let first = held_out_readings(train, seed, &[])?;
    let misread = judge(train, &clusters, &first);
    if misread.is_empty() {
        return Ok(Vec::new());
    }
    // Judges trained without the suspects the first judges misread see (almost) no poison,
    // and read the rest of it as what it is.
    let excluded: Vec<usize> = misread.into_iter().flatten().collect();
    let second = held_out_readings(train, seed ^ 1, &excluded)?;
    let mut flagged: Vec<usize> = judge(train, &clusters, &second)
        .into_iter()
        .flatten()
        .collect();
    flagged.sort_unstable();
    flagged.dedup();
    Ok(flagged)
}

/// The rows of one label, grouped by k-means on their reduced activations.
fn class_clusters(
    activations: &Array2<f32>,
    train: &Dataset,
    class: u32,
    seed: u64,
) -> Result<Vec<Vec<usize>>> {
    let rows = train.indices_of_class(class);
    if rows.len() <= 2 * COMPONENTS {
        return Ok(Vec::new());
    }
    let x = activations.select(Axis(0), &rows);
    let reduced = Pca::fit(x.view(), COMPONENTS)?.transform(x.view())?;
    let fit = KMeans::fit(reduced.view(), CLUSTERS, 4, seed ^ u64::from(class))?;
    Ok((0..CLUSTERS)
        .map(|cluster| {
            rows.iter()
                .zip(&fit.labels)
                .filter(|&(_, &c)| c == cluster)
                .map(|(&row, _)| row)
                .collect()
        })
        .collect())
}

/// For each label with a cluster mostly read as one other class (the source of its poison):
/// its misread suspects. The suspects are the rows of its poisoned clusters and every row of it
/// read as a source class; of those, the rows not read as the label (ascending).
fn judge(train: &Dataset, clusters: &[Vec<Vec<usize>>], readings: &[u32]) -> Vec<Vec<usize>> {
    let mut misread = Vec::new();
    for (class, groups) in clusters.iter().enumerate() {
        let class = class as u32;
        let poisoned: Vec<(&Vec<usize>, u32)> = groups
            .iter()
            .filter_map(|rows| read_as_other(rows, readings, class).map(|source| (rows, source)))
            .collect();
        if poisoned.is_empty() {
            continue;
        }
        let sources: Vec<u32> = poisoned.iter().map(|&(_, source)| source).collect();
        let mut rows: Vec<usize> = poisoned
            .iter()
            .flat_map(|(rows, _)| rows.iter().copied())
            .collect();
        rows.extend(
            train
                .indices_of_class(class)
                .into_iter()
                .filter(|&row| sources.contains(&readings[row])),
        );
        rows.sort_unstable();
        rows.dedup();
        misread.push(
            rows.into_iter()
                .filter(|&row| readings[row] != class)
                .collect(),
        );
    }
    misread
}

/// The class other than `label` that the judges read most of `rows` as, if it is most of them.
fn read_as_other(rows: &[usize], readings: &[u32], label: u32) -> Option<u32> {
    let mut votes = [0usize; N_CLASSES];
    rows.iter()
        .for_each(|&row| votes[readings[row] as usize] += 1);
    votes[label as usize] = 0;
    let (other, &count) = votes.iter().enumerate().max_by_key(|&(_, &count)| count)?;
    (!rows.is_empty() && count as f64 >= RECLASSIFIED_SHARE * rows.len() as f64)
        .then_some(other as u32)
}

/// Each row's class as read by a model that never saw it: the rows are split in two halves
/// (a seeded shuffle), a model is trained on each half minus the `excluded` rows, and each
/// reads every row of the other half.
fn held_out_readings(train: &Dataset, seed: u64, excluded: &[usize]) -> Result<Vec<u32>> {
    let mut skip = vec![false; train.len()];
    excluded.iter().for_each(|&row| skip[row] = true);
    let order = rng::permutation(train.len(), &mut rng::rng(seed, "halves"));
    let (first, second) = order.split_at(train.len() / 2);
    let mut readings = vec![0u32; train.len()];
    for (fit_on, read) in [(first, second), (second, first)] {
        let config = TrainConfig {
            epochs: JUDGE_EPOCHS,
            batch_size: 64,
            learning_rate: 1e-3,
            final_learning_rate: Some(1e-5),
            seed,
        };
        let kept: Vec<usize> = fit_on.iter().copied().filter(|&row| !skip[row]).collect();
        let judge = Trainer::new(config).fit(&Cnn::init(seed)?, &train.select(&kept)?)?;
        let predicted = judge.predict(train.select(read)?.images())?;
        read.iter()
            .zip(predicted)
            .for_each(|(&row, p)| readings[row] = p);
    }
    Ok(readings)
}
