//! What the model-theft track's exercises exchange with the lab: how a prediction API answers,
//! and one client's query log as the API's operator records it.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::data::{N_CLASSES, SIDE};
use crate::error::{Error, Result};

/// What a prediction API returns for each query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answers {
    /// The full probability vector (the softmax of the logits).
    Probabilities,
    /// The predicted class only, sent as a one-hot row.
    Labels,
}

impl Answers {
    /// How the API's answers are named in reports.
    pub fn name(self) -> &'static str {
        match self {
            Answers::Probabilities => "probabilities",
            Answers::Labels => "labels only",
        }
    }
}

/// One client's queries to a prediction API, in the order they arrived, as the operator logs
/// them: when, what was asked and what the API predicted.
#[derive(Debug, Clone)]
pub struct ClientLog {
    /// Seconds since the log began, one per query, never decreasing.
    times: Vec<f64>,
    /// The images asked, (n, 1, 28, 28), f32 in [0, 1].
    images: Tensor,
    /// The class the API predicted for each query.
    predicted: Vec<u32>,
}

impl ClientLog {
    /// A log from its columns, checked: one time, image and prediction per query, times
    /// finite and never decreasing, images (n, 1, 28, 28) f32, predictions in `0..10`.
    pub fn new(times: Vec<f64>, images: Tensor, predicted: Vec<u32>) -> Result<ClientLog> {
        let bad = |reason: String| Error::invalid("client log", reason);
        let dims = images.dims();
        if dims.len() != 4 || dims[1..] != [1, SIDE, SIDE] {
            return Err(bad(format!("images of shape {dims:?}, not (n, 1, 28, 28)")));
        }
        if images.dtype() != candle_core::DType::F32 {
            return Err(bad(format!(
                "images of dtype {:?}, not f32",
                images.dtype()
            )));
        }
        let n = dims[0];
        if times.len() != n || predicted.len() != n {
            return Err(bad(format!(
                "{} times and {} predictions for {n} images",
                times.len(),
                predicted.len()
            )));
        }
        if let Some(i) =
            (0..n).find(|&i| !times[i].is_finite() || (i > 0 && times[i] < times[i - 1]))
        {
            return Err(bad(format!(
                "time {} of query {i} is not finite or comes before the one before it",
                times[i]
            )));
        }
        if let Some(p) = predicted.iter().find(|&&p| p as usize >= N_CLASSES) {
            return Err(bad(format!("predicted class {p} is not in 0..10")));
        }
        Ok(ClientLog {
            times,
            images,
            predicted,
        })
    }

    /// Queries in the log.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether the log holds no query.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// When each query arrived, in seconds since the log began.
    pub fn times(&self) -> &[f64] {
        &self.times
    }

    /// The images asked, (n, 1, 28, 28).
    pub fn images(&self) -> &Tensor {
        &self.images
    }

    /// The class the API predicted for each query.
    pub fn predicted(&self) -> &[u32] {
        &self.predicted
    }

    /// The first `n` queries (all of them if there are fewer).
    pub fn head(&self, n: usize) -> Result<ClientLog> {
        let n = n.min(self.len());
        Ok(ClientLog {
            times: self.times[..n].to_vec(),
            images: self.images.narrow(0, 0, n)?,
            predicted: self.predicted[..n].to_vec(),
        })
    }
}
