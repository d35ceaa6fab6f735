//! Unsupervised tools for looking at activations: PCA, k-means and silhouette scores.
//!
//! Rows are samples, columns features, as `ndarray` matrices; [`to_array`] turns a candle
//! (n, d) tensor into one.

use candle_core::Tensor;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::Rng as _;

use crate::error::{Error, Result};
use crate::rng;

/// A (n, d) f32 tensor as an ndarray matrix.
pub fn to_array(t: &Tensor) -> Result<Array2<f32>> {
    let (n, d) = t.dims2()?;
    let values = t
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Array2::from_shape_vec((n, d), values).map_err(|e| Error::invalid("tensor", e.to_string()))
}

/// Principal component analysis fitted to a set of rows.
#[derive(Debug, Clone)]
pub struct Pca {
    /// Mean of each feature, subtracted before projecting.
    pub mean: Array1<f32>,
    /// (k, d): the principal directions, by decreasing variance, each of unit length.
    pub components: Array2<f32>,
    /// Variance along each component.
    pub explained_variance: Array1<f32>,
}

impl Pca {
    /// Fits `n_components` directions to `data` (n, d). Each component's sign is fixed so that
    /// its largest-magnitude entry is positive, making results reproducible.
    pub fn fit(data: ArrayView2<'_, f32>, n_components: usize) -> Result<Pca> {
        let (n, d) = data.dim();
        if n < 2 || n_components == 0 || n_components > d {
            return Err(Error::invalid(
                "pca",
                format!(
                    "cannot fit {n_components} components to {n} rows of {d} features (need 2+ rows, 1..={d} components)"
                ),
            ));
        }
        let data64 = data.mapv(f64::from);
        let mean = data64
            .mean_axis(Axis(0))
            .ok_or_else(|| Error::invalid("pca", "no rows"))?;
        let centred = &data64 - &mean;
        let covariance = centred.t().dot(&centred) / (n - 1) as f64;
        let matrix = nalgebra::DMatrix::from_fn(d, d, |i, j| covariance[[i, j]]);
        let eigen = nalgebra::SymmetricEigen::new(matrix);
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
        let mut components = Array2::zeros((n_components, d));
        let mut explained_variance = Array1::zeros(n_components);
        for (row, &idx) in order.iter().take(n_components).enumerate() {
            let vector = eigen.eigenvectors.column(idx);
            let pivot =
                vector.iter().copied().fold(
                    0.0f64,
                    |best, v| if v.abs() > best.abs() { v } else { best },
                );
            let sign = if pivot < 0.0 { -1.0 } else { 1.0 };
            for j in 0..d {
                components[[row, j]] = (sign * vector[j]) as f32;
            }
            explained_variance[row] = eigen.eigenvalues[idx].max(0.0) as f32;
        }
        Ok(Pca {
            mean: mean.mapv(|v| v as f32),
            components,
            explained_variance,
        })
    }

    /// Projects rows (n, d) onto the components: (n, k).
    pub fn transform(&self, data: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        if data.ncols() != self.mean.len() {
            return Err(Error::invalid(
                "pca",
                format!(
                    "rows have {} features, the fit had {}",
                    data.ncols(),
                    self.mean.len()
                ),
            ));
        }
        Ok((&data - &self.mean).dot(&self.components.t()))
    }
}

/// The result of k-means clustering.
#[derive(Debug, Clone)]
pub struct KMeans {
    /// (k, d): one centroid per cluster.
    pub centroids: Array2<f32>,
    /// The cluster of each row, in `0..k`.
    pub labels: Vec<usize>,
    /// Sum of squared distances of rows to their centroid.
    pub inertia: f64,
}

impl KMeans {
    /// Clusters `data` (n, d) into `k` groups with Lloyd's algorithm from k-means++ starts,
    /// keeping the best of `n_init` runs. Deterministic for a given `seed`.
    pub fn fit(data: ArrayView2<'_, f32>, k: usize, n_init: usize, seed: u64) -> Result<KMeans> {
        let n = data.nrows();
        if k == 0 || k > n {
            return Err(Error::invalid(
                "kmeans",
                format!("cannot make {k} clusters from {n} rows"),
            ));
        }
        let mut rng = rng::rng(seed, "kmeans");
        let mut best: Option<KMeans> = None;
        for _ in 0..n_init.max(1) {
            let run = lloyd(data, plus_plus_init(data, k, &mut rng), 300);
            if best.as_ref().is_none_or(|b| run.inertia < b.inertia) {
                best = Some(run);
            }
        }
        best.ok_or_else(|| Error::invalid("kmeans", "no run"))
    }

    /// Number of rows in each cluster.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![0; self.centroids.nrows()];
        self.labels.iter().for_each(|&l| sizes[l] += 1);
        sizes
    }
}

fn squared_distance(a: ndarray::ArrayView1<'_, f32>, b: ndarray::ArrayView1<'_, f32>) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum()
}

fn plus_plus_init(data: ArrayView2<'_, f32>, k: usize, rng: &mut rng::Rng) -> Array2<f32> {
    let n = data.nrows();
    let mut centroids = Array2::zeros((k, data.ncols()));
    centroids
        .row_mut(0)
        .assign(&data.row(rng.random_range(0..n)));
    let mut nearest: Vec<f64> = (0..n)
        .map(|i| squared_distance(data.row(i), centroids.row(0)))
        .collect();
    for c in 1..k {
        let total: f64 = nearest.iter().sum();
        let pick = if total > 0.0 {
            let mut target = rng.random::<f64>() * total;
            nearest
                .iter()
                .position(|&d| {
                    target -= d;
                    target <= 0.0
                })
                .unwrap_or(n - 1)
        } else {
            rng.random_range(0..n)
        };
        centroids.row_mut(c).assign(&data.row(pick));
        for (i, d) in nearest.iter_mut().enumerate() {
            *d = d.min(squared_distance(data.row(i), centroids.row(c)));
        }
    }
    centroids
}

fn lloyd(data: ArrayView2<'_, f32>, mut centroids: Array2<f32>, max_iter: usize) -> KMeans {
    let (n, k) = (data.nrows(), centroids.nrows());
    let mut labels = vec![0; n];
    for iteration in 0..max_iter {
        let mut changed = false;
        for (i, label) in labels.iter_mut().enumerate() {
            let nearest = (0..k)
                .map(|c| squared_distance(data.row(i), centroids.row(c)))
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map_or(0, |(c, _)| c);
            changed |= nearest != *label;
            *label = nearest;
        }
        if !changed && iteration > 0 {
            break;
        }
        let mut sums = Array2::<f64>::zeros(centroids.dim());
        let mut counts = vec![0usize; k];
        for (i, &label) in labels.iter().enumerate() {
            counts[label] += 1;
            sums.row_mut(label)
                .zip_mut_with(&data.row(i), |s, &v| *s += f64::from(v));
        }
        for (c, &count) in counts.iter().enumerate() {
            if count > 0 {
                let mean = sums.row(c).mapv(|s| (s / count as f64) as f32);
                centroids.row_mut(c).assign(&mean);
            }
        }
    }
    let inertia = labels
        .iter()
        .enumerate()
        .map(|(i, &l)| squared_distance(data.row(i), centroids.row(l)))
        .sum();
    KMeans {
        centroids,
        labels,
        inertia,
    }
}

/// The silhouette of each row: (b − a) / max(a, b), where a is the mean distance to the other
/// rows of its cluster and b the smallest mean distance to another cluster's rows. Rows alone in
/// their cluster score 0. Needs at least two clusters.
pub fn silhouette_samples(data: ArrayView2<'_, f32>, labels: &[usize]) -> Result<Vec<f64>> {
    let n = data.nrows();
    let k = labels.iter().max().map_or(0, |&m| m + 1);
    if labels.len() != n {
        return Err(Error::invalid(
            "silhouette",
            format!("{} labels for {n} rows", labels.len()),
        ));
    }
    let mut sizes = vec![0usize; k];
    labels.iter().for_each(|&l| sizes[l] += 1);
    if sizes.iter().filter(|&&s| s > 0).count() < 2 {
        return Err(Error::invalid(
            "silhouette",
            "needs at least two non-empty clusters",
        ));
    }
    Ok((0..n)
        .map(|i| {
            let mut sums = vec![0.0; k];
            for j in 0..n {
                if j != i {
                    sums[labels[j]] += squared_distance(data.row(i), data.row(j)).sqrt();
                }
            }
            let own = labels[i];
            if sizes[own] <= 1 {
                return 0.0;
            }
            let a = sums[own] / (sizes[own] - 1) as f64;
            let b = (0..k)
                .filter(|&c| c != own && sizes[c] > 0)
                .map(|c| sums[c] / sizes[c] as f64)
                .fold(f64::INFINITY, f64::min);
            if a.max(b) == 0.0 {
                0.0
            } else {
                (b - a) / a.max(b)
            }
        })
        .collect())
}

/// The mean silhouette over all rows (see [`silhouette_samples`]).
pub fn silhouette_score(data: ArrayView2<'_, f32>, labels: &[usize]) -> Result<f64> {
    let samples = silhouette_samples(data, labels)?;
    Ok(samples.iter().sum::<f64>() / samples.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Points on a line y = 2x (plus tiny noise off-line): the first component is (1, 2)/sqrt(5).
    #[test]
    fn pca_finds_the_known_direction() {
        let data = array![
            [0.0f32, 0.0],
            [1.0, 2.01],
            [2.0, 3.99],
            [3.0, 6.0],
            [-1.0, -2.0]
        ];
        let pca = Pca::fit(data.view(), 1).unwrap();
        let c = pca.components.row(0);
        let want = [1.0 / 5f32.sqrt(), 2.0 / 5f32.sqrt()];
        assert!(
            (c[0] - want[0]).abs() < 1e-3 && (c[1] - want[1]).abs() < 1e-3,
            "{c:?}"
        );
        let projected = pca.transform(data.view()).unwrap();
        // Projections preserve distances along the line: |(3,6) - (0,0)| = 3 sqrt(5).
        assert!(((projected[[3, 0]] - projected[[0, 0]]) - 3.0 * 5f32.sqrt()).abs() < 1e-2);
        let full = Pca::fit(data.view(), 2).unwrap();
        assert!(full.explained_variance[0] > 100.0 * full.explained_variance[1]);
    }

    #[test]
    fn kmeans_separates_two_blobs_and_silhouette_says_so() {
        let mut rows = Vec::new();
        for i in 0..30 {
            let jitter = (i % 5) as f32 * 0.01;
            rows.push([jitter, -jitter]);
            if i < 10 {
                rows.push([10.0 + jitter, 10.0]);
            }
        }
        let data = Array2::from_shape_vec((40, 2), rows.concat()).unwrap();
        let km = KMeans::fit(data.view(), 2, 4, 1).unwrap();
        let mut sizes = km.sizes();
        sizes.sort_unstable();
        assert_eq!(sizes, vec![10, 30]);
        let far = km.labels[1];
        assert!((0..40).all(|i| (km.labels[i] == far) == (data[[i, 0]] > 5.0)));
        assert!(silhouette_score(data.view(), &km.labels).unwrap() > 0.95);
        // Both halves get 15 far-left and 5 far-right rows: no structure, silhouette near 0.
        let arbitrary: Vec<usize> = (0..40).map(|i| (i / 2) % 2).collect();
        assert!(silhouette_score(data.view(), &arbitrary).unwrap().abs() < 0.1);
        assert_eq!(
            KMeans::fit(data.view(), 2, 4, 1).unwrap().labels,
            km.labels,
            "same seed, same clusters"
        );
    }

    #[test]
    fn bad_arguments_are_errors() {
        let data = array![[1.0f32, 2.0]];
        assert!(Pca::fit(data.view(), 1).is_err());
        assert!(KMeans::fit(data.view(), 2, 1, 0).is_err());
        assert!(silhouette_score(data.view(), &[0]).is_err());
    }
}
