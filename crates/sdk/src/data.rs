//! The data: 28×28 grey digits with labels, their fixed splits, and batching.
//!
//! The lab ships 10,000 real MNIST digits under `datasets/mnist-10k/` (see its PROVENANCE.md),
//! already split three ways by a seeded, stratified draw:
//!
//! | split        | rows  | use |
//! | ---          | ---   | --- |
//! | `train`      | 8,000 | training the shipped models |
//! | `test`       |   999 | held out: never trained on, used for every accuracy figure |
//! | `population` | 1,001 | held out: known non-members for the privacy labs |
//!
//! [`Mnist::load`] also reads any standard MNIST or Fashion-MNIST folder (the files
//! `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte`, each plain or `.gz`). Such a folder has no population split, so the
//! last 10% of its training rows become the population and are left out of `train`.

pub mod idx;

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// Image side in pixels.
pub const SIDE: usize = 28;
/// Pixels per image.
pub const PIXELS: usize = SIDE * SIDE;
/// Number of classes.
pub const N_CLASSES: usize = 10;

/// A labelled set of digits.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// (n, 1, 28, 28), f32 in [0, 1].
    images: Tensor,
    labels: Vec<u32>,
}

impl Dataset {
    /// A data set from images `(n, 1, 28, 28)` in [0, 1] and one label in `0..10` per image.
    pub fn new(images: Tensor, labels: Vec<u32>) -> Result<Self> {
        let dims = images.dims();
        if dims.len() != 4 || dims[1..] != [1, SIDE, SIDE] {
            return Err(Error::invalid(
                "images",
                format!("shape {dims:?} is not (n, 1, 28, 28)"),
            ));
        }
        if dims[0] != labels.len() {
            return Err(Error::invalid(
                "labels",
                format!("{} labels for {} images", labels.len(), dims[0]),
            ));
        }
        if let Some((row, label)) = labels
            .iter()
            .enumerate()
            .find(|&(_, &l)| l as usize >= N_CLASSES)
        {
            return Err(Error::invalid(
                "labels",
                format!("row {row} has label {label}, outside 0..10"),
            ));
        }
        let images = images.to_dtype(candle_core::DType::F32)?.contiguous()?;
        Ok(Self { images, labels })
    }

    /// A data set from raw bytes (0..=255 per pixel, row-major), as stored in IDX files.
    pub fn from_bytes(pixels: &[u8], labels: Vec<u32>) -> Result<Self> {
        if pixels.len() != labels.len() * PIXELS {
            return Err(Error::invalid(
                "pixels",
                format!(
                    "{} bytes for {} images of {PIXELS} pixels",
                    pixels.len(),
                    labels.len()
                ),
            ));
        }
        let values: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
        let images = Tensor::from_vec(values, (labels.len(), 1, SIDE, SIDE), &Device::Cpu)?;
        Self::new(images, labels)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// All images: (n, 1, 28, 28), f32 in [0, 1].
    pub fn images(&self) -> &Tensor {
        &self.images
    }

    /// One label per image, in `0..10`.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// The rows at `indices`, in that order (repeats allowed).
    pub fn select(&self, indices: &[usize]) -> Result<Dataset> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(Error::invalid(
                "indices",
                format!("row {bad} is out of range for {} rows", self.len()),
            ));
        }
        let index = Tensor::from_vec(
            indices.iter().map(|&i| i as u32).collect::<Vec<_>>(),
            indices.len(),
            &Device::Cpu,
        )?;
        let images = self.images.index_select(&index, 0)?;
        Ok(Dataset {
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        })
    }

    /// The first `n` rows (or all of them, if there are fewer).
    pub fn head(&self, n: usize) -> Result<Dataset> {
        let n = n.min(self.len());
        Ok(Dataset {
            images: self.images.narrow(0, 0, n)?,
            labels: self.labels[..n].to_vec(),
        })
    }

    /// The rows of every data set in `parts`, one set after the other, each in its own order.
    /// Joining no data sets is an error.
    pub fn concat(parts: &[&Dataset]) -> Result<Dataset> {
        if parts.is_empty() {
            return Err(Error::invalid("data sets", "no data sets to join"));
        }
        let images: Vec<&Tensor> = parts.iter().map(|d| &d.images).collect();
        let labels = parts
            .iter()
            .flat_map(|d| d.labels.iter().copied())
            .collect();
        Dataset::new(Tensor::cat(&images, 0)?, labels)
    }

    /// The same images with other labels (for label-flip experiments).
    pub fn with_labels(&self, labels: Vec<u32>) -> Result<Dataset> {
        Dataset::new(self.images.clone(), labels)
    }

    /// The rows whose label is `class`, as indices into this data set.
    pub fn indices_of_class(&self, class: u32) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.labels[i] == class)
            .collect()
    }

    /// Number of rows per class.
    pub fn class_counts(&self) -> [usize; N_CLASSES] {
        let mut counts = [0; N_CLASSES];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// Consecutive batches of at most `batch_size` rows, in order: `(images, labels)`.
    pub fn batches(
        &self,
        batch_size: usize,
    ) -> impl Iterator<Item = Result<(Tensor, &[u32])>> + '_ {
        let batch_size = batch_size.max(1);
        (0..self.len()).step_by(batch_size).map(move |start| {
            let n = batch_size.min(self.len() - start);
            Ok((
                self.images.narrow(0, start, n)?,
                &self.labels[start..start + n],
            ))
        })
    }
}

/// Which split of a [`Mnist`] folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// Training rows.
    Train,
    /// Held-out test rows.
    Test,
    /// Held-out known non-members, for privacy labs.
    Population,
}

impl Split {
    /// Every split, in a fixed order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Test, Split::Population];

    /// The split's name as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
            Split::Population => "population",
        }
    }

    /// Parses a split name (`train`, `test`, `population`).
    pub fn parse(name: &str) -> Result<Split> {
        Split::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                Error::invalid(
                    "split",
                    format!("unknown split {name:?}: use train, test or population"),
                )
            })
    }

    /// The IDX file-name prefix of this split.
    fn file_prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
            Split::Population => "population",
        }
    }
}

/// The three splits of an MNIST-format folder.
#[derive(Debug, Clone)]
pub struct Mnist {
    /// Training rows.
    pub train: Dataset,
    /// Held-out test rows.
    pub test: Dataset,
    /// Held-out known non-members.
    pub population: Dataset,
}

impl Mnist {
    /// The folder of the bundled data set, `datasets/mnist-10k` in the lab this SDK was built in.
    pub fn bundled_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist-10k")
    }

    /// The bundled 10,000 digits.
    pub fn bundled() -> Result<Mnist> {
        Mnist::load(&Mnist::bundled_dir())
    }

    /// Reads the splits from `dir` (see the module docs for the file names).
    pub fn load(dir: &Path) -> Result<Mnist> {
        if !dir.is_dir() {
            return Err(Error::Idx {
                path: dir.to_owned(),
                reason: "not a folder: --data wants a folder holding MNIST-format IDX files".into(),
            });
        }
        let train = read_split(dir, Split::Train)?;
        let test = read_split(dir, Split::Test)?;
        if idx_file(dir, Split::Population, "images").is_some() {
            let population = read_split(dir, Split::Population)?;
            return Ok(Mnist {
                train,
                test,
                population,
            });
        }
        let n_population = train.len() / 10;
        let n_train = train.len() - n_population;
        let population = train.select(&(n_train..train.len()).collect::<Vec<_>>())?;
        let train = train.head(n_train)?;
        Ok(Mnist {
            train,
            test,
            population,
        })
    }

    /// The split `split`.
    pub fn split(&self, split: Split) -> &Dataset {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
            Split::Population => &self.population,
        }
    }
}

fn idx_file(dir: &Path, split: Split, kind: &str) -> Option<PathBuf> {
    let dims = if kind == "images" { 3 } else { 1 };
    let stem = format!("{}-{kind}-idx{dims}-ubyte", split.file_prefix());
    [format!("{stem}.gz"), stem]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

fn read_split(dir: &Path, split: Split) -> Result<Dataset> {
    let missing = |kind: &str| Error::Idx {
        path: dir.to_owned(),
        reason: format!(
            "no {kind} file for the {} split: expected {}-{kind}-idx{}-ubyte or the same with .gz",
            split.name(),
            split.file_prefix(),
            if kind == "images" { 3 } else { 1 }
        ),
    };
    let images_path = idx_file(dir, split, "images").ok_or_else(|| missing("images"))?;
    let labels_path = idx_file(dir, split, "labels").ok_or_else(|| missing("labels"))?;
    let images = idx::read_idx(&images_path)?;
    if images.dims.len() != 3 || images.dims[1..] != [SIDE, SIDE] {
        return Err(Error::Idx {
            path: images_path,
            reason: format!(
                "image dimensions are {:?}; expected (n, 28, 28)",
                images.dims
            ),
        });
    }
    let labels = idx::read_idx(&labels_path)?;
    if labels.dims.len() != 1 {
        return Err(Error::Idx {
            path: labels_path,
            reason: format!(
                "label dimensions are {:?}; expected a single dimension (n)",
                labels.dims
            ),
        });
    }
    if labels.dims[0] != images.dims[0] {
        return Err(Error::Idx {
            path: labels_path,
            reason: format!(
                "{} labels for {} images in {}",
                labels.dims[0],
                images.dims[0],
                images_path.display()
            ),
        });
    }
    if let Some((row, &label)) = labels
        .data
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= N_CLASSES)
    {
        return Err(Error::Idx {
            path: labels_path,
            reason: format!("row {row} has label {label}, outside 0..10"),
        });
    }
    Dataset::from_bytes(
        &images.data,
        labels.data.iter().map(|&l| u32::from(l)).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_splits_have_the_documented_sizes() {
        let mnist = Mnist::bundled().unwrap();
        assert_eq!(
            (mnist.train.len(), mnist.test.len(), mnist.population.len()),
            (8000, 999, 1001)
        );
        assert!(mnist.train.class_counts().iter().all(|&n| n > 600));
        let max = mnist
            .test
            .images()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(max, 1.0);
    }

    #[test]
    fn folder_without_population_holds_out_the_last_tenth_of_train() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, array: idx::IdxArray| {
            std::fs::write(dir.path().join(name), idx::encode_idx(&array)).unwrap()
        };
        let n = 20;
        write(
            "train-images-idx3-ubyte",
            idx::IdxArray {
                dims: vec![n, 28, 28],
                data: (0..n * PIXELS).map(|i| (i / PIXELS) as u8).collect(),
            },
        );
        write(
            "train-labels-idx1-ubyte",
            idx::IdxArray {
                dims: vec![n],
                data: (0..n).map(|i| (i % 10) as u8).collect(),
            },
        );
        write(
            "t10k-images-idx3-ubyte",
            idx::IdxArray {
                dims: vec![2, 28, 28],
                data: vec![0; 2 * PIXELS],
            },
        );
        write(
            "t10k-labels-idx1-ubyte",
            idx::IdxArray {
                dims: vec![2],
                data: vec![1, 2],
            },
        );
        let mnist = Mnist::load(dir.path()).unwrap();
        assert_eq!(
            (mnist.train.len(), mnist.test.len(), mnist.population.len()),
            (18, 2, 2)
        );
        assert_eq!(mnist.population.labels(), &[8, 9]);
    }

    #[test]
    fn size_mismatch_and_wrong_geometry_are_reported_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, array: idx::IdxArray| {
            std::fs::write(dir.path().join(name), idx::encode_idx(&array)).unwrap()
        };
        write(
            "train-images-idx3-ubyte",
            idx::IdxArray {
                dims: vec![3, 28, 28],
                data: vec![0; 3 * PIXELS],
            },
        );
        write(
            "train-labels-idx1-ubyte",
            idx::IdxArray {
                dims: vec![2],
                data: vec![0, 1],
            },
        );
        let message = Mnist::load(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("train-labels-idx1-ubyte")
                && message.contains("2 labels for 3 images"),
            "{message}"
        );

        write(
            "train-images-idx3-ubyte",
            idx::IdxArray {
                dims: vec![2, 32, 32],
                data: vec![0; 2 * 1024],
            },
        );
        let message = Mnist::load(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("train-images-idx3-ubyte") && message.contains("expected (n, 28, 28)"),
            "{message}"
        );
    }

    #[test]
    fn missing_folder_and_files_say_what_is_expected() {
        let message = Mnist::load(Path::new("/no/such/folder"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("not a folder"), "{message}");
        let dir = tempfile::tempdir().unwrap();
        let message = Mnist::load(dir.path()).unwrap_err().to_string();
        assert!(message.contains("train-images-idx3-ubyte"), "{message}");
    }

    #[test]
    fn select_and_batches_keep_rows_and_labels_together() {
        let pixels: Vec<u8> = (0..5)
            .flat_map(|i| std::iter::repeat_n(i as u8 * 50, PIXELS))
            .collect();
        let data = Dataset::from_bytes(&pixels, vec![0, 1, 2, 3, 4]).unwrap();
        let picked = data.select(&[4, 1]).unwrap();
        assert_eq!(picked.labels(), &[4, 1]);
        let first_pixel = picked
            .images()
            .flatten_from(1)
            .unwrap()
            .get(0)
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(first_pixel.to_scalar::<f32>().unwrap(), 200.0 / 255.0);
        let sizes: Vec<usize> = data.batches(2).map(|b| b.unwrap().1.len()).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
        assert!(data.select(&[5]).is_err());
    }

    #[test]
    fn concat_keeps_each_part_in_order() {
        let part = |values: &[u8], labels: Vec<u32>| {
            let pixels: Vec<u8> = values
                .iter()
                .flat_map(|&v| std::iter::repeat_n(v, PIXELS))
                .collect();
            Dataset::from_bytes(&pixels, labels).unwrap()
        };
        let (a, b) = (part(&[10, 20], vec![3, 1]), part(&[30], vec![7]));
        let both = Dataset::concat(&[&a, &b, &a]).unwrap();
        assert_eq!(both.labels(), &[3, 1, 7, 3, 1]);
        let first_pixels: Vec<f32> = both
            .images()
            .flatten_from(1)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap()
            .iter()
            .map(|row| row[0])
            .collect();
        let expected: Vec<f32> = [10u8, 20, 30, 10, 20]
            .iter()
            .map(|&v| f32::from(v) / 255.0)
            .collect();
        assert_eq!(first_pixels, expected);
        assert!(Dataset::concat(&[]).is_err());
    }
}
