//! A seeded federated-learning simulation: clients on non-IID shards of the training split, a
//! server that applies an aggregation rule each round, and Byzantine clients attacking it.
//!
//! The shared model is a small MLP on the 784 pixels (784 → hidden → 10, ReLU), not the lab's
//! CNN: a check runs ten federations of many rounds, and the MLP's local steps cost a fraction
//! of the CNN's. Its parameters travel as one flat `f32` vector (see [`Federation::dimension`]).
//!
//! Each round every honest client starts from the server's weights, takes a few SGD steps on
//! its own shard and sends `local − server`; the Byzantine clients send what their [`Attack`]
//! computes from every honest update of the round (an omniscient attacker, the strongest one
//! the literature grades against); the rows of the round's update matrix are shuffled, and the
//! server adds whatever the aggregation rule returns. Every draw (shards, which clients are
//! Byzantine, initial weights, batch order, attack noise, row order) comes from the seed given
//! to [`Federation::new`], so the same seed replays the same run for every rule compared.

use aisec_sdk::data::N_CLASSES;
pub use aisec_sdk::data::PIXELS;
use aisec_sdk::rng::{self, Rng, RngCore};
use aisec_sdk::{DType, Dataset, Device, Tensor};
use rayon::prelude::*;

use crate::{Error, Result};

/// The federation's shape and the honest clients' recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Clients in all, honest and Byzantine.
    pub n_clients: usize,
    /// Rounds of the run.
    pub rounds: usize,
    /// SGD steps each honest client takes per round.
    pub local_steps: usize,
    /// Rows per local step.
    pub batch_size: usize,
    /// Learning rate of the local steps.
    pub learning_rate: f32,
    /// Width of the MLP's hidden layer.
    pub hidden: usize,
    /// Concentration of the Dirichlet split of each class over the clients: small values give
    /// each client a few dominant classes, large ones an even mix.
    pub dirichlet_alpha: f64,
    /// The fewest training rows a client may hold (the split is drawn again until each has).
    pub min_shard: usize,
}

impl Config {
    /// Checks every count is positive and the split can give each client `min_shard` rows.
    pub fn validate(&self, n_rows: usize) -> Result<()> {
        let positive = [
            ("n_clients", self.n_clients),
            ("rounds", self.rounds),
            ("local_steps", self.local_steps),
            ("batch_size", self.batch_size),
            ("hidden", self.hidden),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(Error::invalid(
                "federation",
                format!("{name} must be positive"),
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(Error::invalid(
                "federation",
                "learning_rate must be positive",
            ));
        }
        if !(self.dirichlet_alpha > 0.0 && self.dirichlet_alpha.is_finite()) {
            return Err(Error::invalid(
                "federation",
                "dirichlet_alpha must be positive",
            ));
        }
        if self.n_clients.saturating_mul(self.min_shard.max(1)) > n_rows {
            return Err(Error::invalid(
                "federation",
                format!(
                    "{} clients of at least {} rows need more than {n_rows} training rows",
                    self.n_clients, self.min_shard
                ),
            ));
        }
        Ok(())
    }
}

/// What the Byzantine clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// No attack: the clients counted as Byzantine train honestly like the others, so the
    /// rule, told the same f, pays what its caution costs when no one attacks.
    None,
    /// Each sends the honest mean, reversed and scaled: `−κ · mean`.
    SignFlip,
    /// Each sends one honest client's update (drawn per round) times a large factor.
    Scaled,
    /// Each sends noise, `N(0, σ²)` per coordinate, σ a multiple of the honest updates' scale.
    Gaussian,
    /// "A little is enough" (Baruch et al., 2019): `mean − z · std` per coordinate, with the
    /// largest z that keeps the rows inside the honest spread for `n` and `f`.
    LittleIsEnough,
}

impl Attack {
    /// Every scenario, the clean run first.
    pub const ALL: [Attack; 5] = [
        Attack::None,
        Attack::SignFlip,
        Attack::Scaled,
        Attack::Gaussian,
        Attack::LittleIsEnough,
    ];

    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Attack::None => "no attack",
            Attack::SignFlip => "sign-flip",
            Attack::Scaled => "scaled",
            Attack::Gaussian => "gaussian",
            Attack::LittleIsEnough => "a little is enough",
        }
    }

    /// A stable key for JSON and file names.
    pub fn key(self) -> &'static str {
        match self {
            Attack::None => "none",
            Attack::SignFlip => "sign_flip",
            Attack::Scaled => "scaled",
            Attack::Gaussian => "gaussian",
            Attack::LittleIsEnough => "little_is_enough",
        }
    }
}

/// How hard the attacks push.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Strength {
    /// κ of [`Attack::SignFlip`].
    pub sign_flip_scale: f32,
    /// The factor of [`Attack::Scaled`].
    pub scale_factor: f32,
    /// σ of [`Attack::Gaussian`], as a multiple of the root mean square of the honest
    /// updates' coordinates.
    pub gaussian_scale: f32,
    /// Noise added to each sign-flip and "a little is enough" row, as a multiple of the honest
    /// spread of each coordinate: the colluders' rows are near each other, not copies, so
    /// dropping duplicate rows is no defence.
    pub jitter: f32,
}

/// One client: its training rows and whether it attacks.
struct Client {
    /// (rows, 784), values in [0, 1].
    images: Tensor,
    labels: Vec<u32>,
    byzantine: bool,
}

/// The run shared by every rule compared: clients and shards, the Byzantine clients, the
/// initial weights and the seed of every later draw.
pub struct Federation {
    config: Config,
    clients: Vec<Client>,
    n_byzantine: usize,
    initial: Vec<f32>,
    seed: u64,
    /// (rows, 784) test digits.
    test_images: Tensor,
    test_labels: Vec<u32>,
}

impl Federation {
    /// Splits `train` over the clients (Dirichlet per class), makes `n_byzantine` of them
    /// Byzantine and draws the initial weights, all from `rng`; `test` is what accuracy is
    /// measured on.
    pub fn new(
        config: Config,
        train: &Dataset,
        test: &Dataset,
        n_byzantine: usize,
        rng: &mut Rng,
    ) -> Result<Federation> {
        config.validate(train.len())?;
        // Krum, the strictest of the classic rules, needs n > 2f + 2.
        if config.n_clients <= 2 * n_byzantine + 2 {
            return Err(Error::invalid(
                "federation",
                format!(
                    "{n_byzantine} Byzantine clients of {} is too many (n > 2f + 2 is needed)",
                    config.n_clients
                ),
            ));
        }
        let pixels = train.images().flatten_from(1)?;
        let shards = dirichlet_shards(train.labels(), &config, rng)?;
        let order = rng::permutation(config.n_clients, rng);
        let mut byzantine = vec![false; config.n_clients];
        order[..n_byzantine]
            .iter()
            .for_each(|&c| byzantine[c] = true);
        let clients = shards
            .iter()
            .zip(byzantine)
            .map(|(rows, byzantine)| {
                let index: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
                let index = Tensor::from_vec(index, rows.len(), &Device::Cpu)?;
                Ok(Client {
                    images: pixels.index_select(&index, 0)?,
                    labels: rows.iter().map(|&r| train.labels()[r]).collect(),
                    byzantine,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let initial = initial_weights(config.hidden, rng);
        Ok(Federation {
            clients,
            n_byzantine,
            initial,
            seed: rng.next_u64(),
            test_images: test.images().flatten_from(1)?,
            test_labels: test.labels().to_vec(),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Clients in all.
    pub fn n_clients(&self) -> usize {
        self.config.n_clients
    }

    /// Byzantine clients (the `f` the aggregation rule is told).
    pub fn n_byzantine(&self) -> usize {
        self.n_byzantine
    }

    /// Length of the flat parameter vector: hidden·784 + hidden + 10·hidden + 10.
    pub fn dimension(&self) -> usize {
        dimension(self.config.hidden)
    }

    /// Training rows per client, and how many of them each class holds.
    pub fn shard_classes(&self) -> Vec<[usize; N_CLASSES]> {
        self.clients
            .iter()
            .map(|c| {
                let mut counts = [0; N_CLASSES];
                c.labels
                    .iter()
                    .for_each(|&l| counts[(l as usize).min(N_CLASSES - 1)] += 1);
                counts
            })
            .collect()
    }

    /// Which clients are Byzantine (for pictures after a run, never for the rule).
    pub fn byzantine_clients(&self) -> Vec<bool> {
        self.clients.iter().map(|c| c.byzantine).collect()
    }

    /// A run under `attack`, from the initial weights.
    pub fn start(&self, attack: Attack, strength: Strength) -> Session<'_> {
        Session {
            federation: self,
            attack,
            strength,
            weights: self.initial.clone(),
            round: 0,
        }
    }

    /// Test accuracy of `weights`.
    pub fn accuracy(&self, weights: &[f32]) -> Result<f64> {
        let params = Params::from_flat(weights, self.config.hidden)?;
        let logits = params.logits(&self.test_images)?.to_vec2::<f32>()?;
        let correct = logits
            .iter()
            .zip(&self.test_labels)
            .filter(|(row, label)| argmax(row) == Some(**label as usize))
            .count();
        Ok(correct as f64 / self.test_labels.len().max(1) as f64)
    }

    /// A generator of this run for `purpose` (round draws, attack noise, row order).
    fn rng(&self, purpose: &str) -> Rng {
        rng::rng(self.seed, purpose)
    }
}

/// The index of the largest value; NaN counts as smaller than everything, so a diverged
/// model predicts nothing rather than class 0.
fn argmax(row: &[f32]) -> Option<usize> {
    row.iter()
        .enumerate()
        .filter(|(_, v)| !v.is_nan())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
}

/// One round's update matrix and, for the lab's pictures, which rows the attackers sent.
pub struct Updates {
    /// (n, d) row-major.
    values: Vec<f32>,
    n: usize,
    d: usize,
    byzantine: Vec<bool>,
}

impl Updates {
    /// Rows (clients heard this round).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Row `i` (length d).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.d..(i + 1) * self.d]
    }

    /// Whether each row was sent by a Byzantine client.
    pub fn byzantine_rows(&self) -> &[bool] {
        &self.byzantine
    }

    /// The matrix as the rule receives it: (n, d) f32.
    pub fn tensor(&self) -> Result<Tensor> {
        Ok(Tensor::from_slice(
            &self.values,
            (self.n, self.d),
            &Device::Cpu,
        )?)
    }

    /// FedAvg's aggregate: the plain mean of the rows.
    pub fn mean(&self) -> Vec<f32> {
        let mut sum = vec![0f64; self.d];
        for i in 0..self.n {
            sum.iter_mut()
                .zip(self.row(i))
                .for_each(|(s, &v)| *s += f64::from(v));
        }
        sum.into_iter()
            .map(|s| (s / self.n.max(1) as f64) as f32)
            .collect()
    }

    /// The rule's reply as an aggregate, or why it is not one: shape (d,), every value
    /// finite, and every coordinate within the range the rows span there (0 included, so a
    /// damped or clipped update is one), give or take f32 rounding. The range is what makes it
    /// an aggregate of these updates rather than a step of the rule's own choosing.
    pub fn validate(&self, reply: &Tensor) -> std::result::Result<Vec<f32>, String> {
        if reply.dims() != [self.d] {
            return Err(format!(
                "shape {:?}, expected [{}] (one value per coordinate of the updates)",
                reply.dims(),
                self.d
            ));
        }
        let values = reply
            .to_vec1::<f32>()
            .map_err(|e| format!("could not be read: {e}"))?;
        if let Some((j, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(format!("coordinate {j} is {v}: every value must be finite"));
        }
        for (j, &v) in values.iter().enumerate() {
            let (mut low, mut high) = (0f32, 0f32);
            for i in 0..self.n {
                let u = self.values[i * self.d + j];
                low = low.min(u);
                high = high.max(u);
            }
            let slack = 1e-3 * low.abs().max(high.abs());
            if v < low - slack || v > high + slack {
                return Err(format!(
                    "coordinate {j} is {v:e}, outside [{low:e}, {high:e}], the range of the updates there (0 included)"
                ));
            }
        }
        Ok(values)
    }

    /// Where `aggregate` leaves the range the honest rows span (0 included), widened by its
    /// width on each side, if it does: the first such coordinate, described. No mean, median,
    /// trimmed mean or selection of honest rows ever leaves the range itself; attackers' rows
    /// that hide among the honest ones ("a little is enough", a sign-flip row a screen let in)
    /// move a robust aggregate past it, in the reference's calibration runs by a little over a
    /// quarter of the width (late sign-flip rounds, when the reversed rows are no longer long). An
    /// aggregate further out was pulled there by loud attackers' rows, or chosen by the rule
    /// itself, which the range of all rows allows once an attacker sends huge values.
    pub fn outside_honest_range(&self, aggregate: &[f32]) -> Option<String> {
        let honest: Vec<usize> = (0..self.n).filter(|&i| !self.byzantine[i]).collect();
        aggregate.iter().enumerate().find_map(|(j, &v)| {
            let (low, high) = honest.iter().fold((0f32, 0f32), |(low, high), &i| {
                let u = self.values[i * self.d + j];
                (low.min(u), high.max(u))
            });
            let slack = (high - low) + 1e-3 * low.abs().max(high.abs());
            (v < low - slack || v > high + slack).then(|| {
                format!(
                    "coordinate {j} is {v:e}, outside [{:e}, {:e}], the range the honest clients' updates span there widened by its width on each side",
                    low - slack,
                    high + slack
                )
            })
        })
    }
}

/// One rule's run under one attack: the server's weights and the round.
pub struct Session<'f> {
    federation: &'f Federation,
    attack: Attack,
    strength: Strength,
    weights: Vec<f32>,
    round: usize,
}

impl Session<'_> {
    /// Rounds applied so far.
    pub fn round(&self) -> usize {
        self.round
    }

    /// Whether every round has been applied.
    pub fn finished(&self) -> bool {
        self.round >= self.federation.config.rounds
    }

    /// Whether the server's weights hold a value that is not finite (an attack blew them up).
    pub fn diverged(&self) -> bool {
        self.weights.iter().any(|w| !w.is_finite())
    }

    /// The server's weights.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// Test accuracy of the server's weights.
    pub fn accuracy(&self) -> Result<f64> {
        self.federation.accuracy(&self.weights)
    }

    /// This round's updates: every honest client's local training from the server's weights,
    /// the attackers' rows, all shuffled.
    pub fn updates(&self) -> Result<Updates> {
        let fed = self.federation;
        let config = &fed.config;
        let d = fed.dimension();
        let server = Params::from_flat(&self.weights, config.hidden)?;
        let attacked = self.attack != Attack::None;
        let honest: Vec<(usize, &Client)> = fed
            .clients
            .iter()
            .enumerate()
            .filter(|(_, c)| !(attacked && c.byzantine))
            .collect();
        let round = self.round;
        let mut rows: Vec<Vec<f32>> = honest
            .par_iter()
            .map(|&(idx, client)| {
                let mut rng = fed.rng(&format!("client {idx} round {round}"));
                let local = local_training(&server, client, config, &mut rng)?;
                Ok(local
                    .iter()
                    .zip(&self.weights)
                    .map(|(l, s)| l - s)
                    .collect())
            })
            .collect::<Result<Vec<_>>>()?;
        let n_honest = rows.len();
        let mut rng = fed.rng(&format!("{} round {round}", self.attack.key()));
        rows.extend(byzantine_rows(
            self.attack,
            self.strength,
            &rows,
            fed.n_byzantine,
            config.n_clients,
            &mut rng,
        ));
        let order = rng::permutation(rows.len(), &mut fed.rng(&format!("order round {round}")));
        let mut values = Vec::with_capacity(rows.len() * d);
        let mut byzantine = Vec::with_capacity(rows.len());
        for &i in &order {
            values.extend_from_slice(&rows[i]);
            byzantine.push(i >= n_honest);
        }
        Ok(Updates {
            values,
            n: rows.len(),
            d,
            byzantine,
        })
    }

    /// Adds `aggregate` to the server's weights and ends the round.
    pub fn apply(&mut self, aggregate: &[f32]) -> Result<()> {
        if aggregate.len() != self.weights.len() {
            return Err(Error::invalid(
                "aggregate",
                format!(
                    "{} values for {} weights",
                    aggregate.len(),
                    self.weights.len()
                ),
            ));
        }
        self.weights
            .iter_mut()
            .zip(aggregate)
            .for_each(|(w, a)| *w += a);
        self.round += 1;
        Ok(())
    }
}

/// What the Byzantine clients send under `attack`, computed from the honest rows; none
/// without an attack.
fn byzantine_rows(
    attack: Attack,
    strength: Strength,
    honest: &[Vec<f32>],
    f: usize,
    n: usize,
    rng: &mut Rng,
) -> Vec<Vec<f32>> {
    let Some(first) = honest.first() else {
        return Vec::new();
    };
    let d = first.len();
    let (mean, std) = mean_and_std(honest);
    let jittered = |centre: Vec<f32>, rng: &mut Rng| -> Vec<f32> {
        centre
            .iter()
            .zip(&std)
            .map(|(c, s)| c + strength.jitter * s * normal(rng))
            .collect()
    };
    match attack {
        Attack::None => Vec::new(),
        Attack::SignFlip => {
            let centre: Vec<f32> = mean.iter().map(|m| -strength.sign_flip_scale * m).collect();
            (0..f).map(|_| jittered(centre.clone(), rng)).collect()
        }
        Attack::Scaled => (0..f)
            .map(|_| {
                let source = &honest[(rng.next_u64() % honest.len() as u64) as usize];
                source.iter().map(|v| strength.scale_factor * v).collect()
            })
            .collect(),
        Attack::Gaussian => {
            let rms = (honest
                .iter()
                .flatten()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                / (honest.len() * d) as f64)
                .sqrt() as f32;
            let sigma = strength.gaussian_scale * rms;
            (0..f)
                .map(|_| (0..d).map(|_| sigma * normal(rng)).collect())
                .collect()
        }
        Attack::LittleIsEnough => {
            let z = little_is_enough_z(n, f) as f32;
            let centre: Vec<f32> = mean.iter().zip(&std).map(|(m, s)| m - z * s).collect();
            (0..f).map(|_| jittered(centre.clone(), rng)).collect()
        }
    }
}

/// Baruch et al.'s z_max: with s = ⌊n/2 + 1⌋ − f honest clients needed to join the
/// attackers for a majority, the z for which a share (n − s)/n of honest values lies above
/// `mean − z · std` under a normal law.
pub fn little_is_enough_z(n: usize, f: usize) -> f64 {
    let s = (n / 2 + 1).saturating_sub(f).max(1);
    let share = (n.saturating_sub(s)) as f64 / n.max(1) as f64;
    inverse_normal_cdf(share.clamp(1e-6, 1.0 - 1e-6))
}

/// Φ⁻¹(p) by bisection on Φ (accurate to ~1e-7, far below what the attack needs).
fn inverse_normal_cdf(p: f64) -> f64 {
    let (mut low, mut high) = (-10.0f64, 10.0f64);
    for _ in 0..80 {
        let mid = 0.5 * (low + high);
        if normal_cdf(mid) < p {
            low = mid;
        } else {
            high = mid;
        }
    }
    0.5 * (low + high)
}

/// Φ(x) = (1 + erf(x / √2)) / 2, with erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
fn normal_cdf(x: f64) -> f64 {
    let t = x.abs() / std::f64::consts::SQRT_2;
    let k = 1.0 / (1.0 + 0.327_591_1 * t);
    let poly = k
        * (0.254_829_592
            + k * (-0.284_496_736
                + k * (1.421_413_741 + k * (-1.453_152_027 + k * 1.061_405_429))));
    let erf = 1.0 - poly * (-t * t).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Per-coordinate mean and (population) standard deviation of `rows`.
fn mean_and_std(rows: &[Vec<f32>]) -> (Vec<f32>, Vec<f32>) {
    let d = rows.first().map_or(0, Vec::len);
    let n = rows.len().max(1) as f64;
    let mut sum = vec![0f64; d];
    let mut square = vec![0f64; d];
    for row in rows {
        for ((s, q), &v) in sum.iter_mut().zip(square.iter_mut()).zip(row) {
            *s += f64::from(v);
            *q += f64::from(v) * f64::from(v);
        }
    }
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let std = sum
        .iter()
        .zip(&square)
        .map(|(s, q)| ((q / n - (s / n).powi(2)).max(0.0)).sqrt() as f32)
        .collect();
    (mean, std)
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut Rng) -> f32 {
    let unit = |rng: &mut Rng| (f64::from(rng.next_u32()) + 0.5) / 4_294_967_296.0;
    let (u, v) = (unit(rng), unit(rng));
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

/// A Gamma(shape, 1) draw (Marsaglia & Tsang; for shape < 1, Gamma(shape + 1) · U^(1/shape)).
fn gamma(shape: f64, rng: &mut Rng) -> f64 {
    let unit = |rng: &mut Rng| (f64::from(rng.next_u32()) + 0.5) / 4_294_967_296.0;
    if shape < 1.0 {
        return gamma(shape + 1.0, rng) * unit(rng).powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = f64::from(normal(rng));
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = unit(rng);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// The training rows of each client: every class's rows are shuffled and cut in shares drawn
/// from Dirichlet(α, …, α), so each client holds a few classes in bulk and others thinly.
/// Drawn again (up to 100 times) until every client has `min_shard` rows.
fn dirichlet_shards(labels: &[u32], config: &Config, rng: &mut Rng) -> Result<Vec<Vec<usize>>> {
    let n = config.n_clients;
    for _ in 0..100 {
        let mut shards = vec![Vec::new(); n];
        for class in 0..N_CLASSES as u32 {
            let mut rows: Vec<usize> = (0..labels.len()).filter(|&r| labels[r] == class).collect();
            let order = rng::permutation(rows.len(), rng);
            rows = order.into_iter().map(|i| rows[i]).collect();
            let shares: Vec<f64> = (0..n).map(|_| gamma(config.dirichlet_alpha, rng)).collect();
            let total: f64 = shares.iter().sum();
            let mut start = 0;
            let mut cumulative = 0.0;
            for (client, share) in shares.iter().enumerate() {
                cumulative += share / total;
                let end = if client + 1 == n {
                    rows.len()
                } else {
                    ((cumulative * rows.len() as f64).round() as usize).clamp(start, rows.len())
                };
                shards[client].extend_from_slice(&rows[start..end]);
                start = end;
            }
        }
        if shards.iter().all(|s| s.len() >= config.min_shard.max(1)) {
            return Ok(shards);
        }
    }
    Err(Error::invalid(
        "federation",
        format!(
            "no Dirichlet({}) split in 100 draws gave every client {} rows",
            config.dirichlet_alpha, config.min_shard
        ),
    ))
}

/// Parameters of the MLP: hidden·784 + hidden + 10·hidden + 10.
pub fn dimension(hidden: usize) -> usize {
    hidden * PIXELS + hidden + N_CLASSES * hidden + N_CLASSES
}

/// PyTorch's `nn.Linear` default: weights and biases uniform in ±1/√fan_in.
fn initial_weights(hidden: usize, rng: &mut Rng) -> Vec<f32> {
    let first = 1.0 / (PIXELS as f32).sqrt();
    let second = 1.0 / (hidden as f32).sqrt();
    let mut w = rng::uniform(hidden * PIXELS + hidden, -first, first, rng);
    w.extend(rng::uniform(
        N_CLASSES * hidden + N_CLASSES,
        -second,
        second,
        rng,
    ));
    w
}

/// The MLP's tensors: w1 (hidden, 784), b1 (hidden), w2 (10, hidden), b2 (10).
struct Params {
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
}

impl Params {
    /// The tensors of a flat vector laid out as [`dimension`] says.
    fn from_flat(flat: &[f32], hidden: usize) -> Result<Params> {
        if flat.len() != dimension(hidden) {
            return Err(Error::invalid(
                "weights",
                format!("{} values, expected {}", flat.len(), dimension(hidden)),
            ));
        }
        let (w1, rest) = flat.split_at(hidden * PIXELS);
        let (b1, rest) = rest.split_at(hidden);
        let (w2, b2) = rest.split_at(N_CLASSES * hidden);
        let cpu = &Device::Cpu;
        Ok(Params {
            w1: Tensor::from_slice(w1, (hidden, PIXELS), cpu)?,
            b1: Tensor::from_slice(b1, hidden, cpu)?,
            w2: Tensor::from_slice(w2, (N_CLASSES, hidden), cpu)?,
            b2: Tensor::from_slice(b2, N_CLASSES, cpu)?,
        })
    }

    /// The flat vector.
    fn flat(&self) -> Result<Vec<f32>> {
        let parts = [
            self.w1.flatten_all()?,
            self.b1.clone(),
            self.w2.flatten_all()?,
            self.b2.clone(),
        ];
        Ok(Tensor::cat(&parts, 0)?.to_vec1::<f32>()?)
    }

    /// x: (rows, 784) → (hidden pre-activations, logits).
    fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let z1 = x.matmul(&self.w1.t()?)?.broadcast_add(&self.b1)?;
        let logits = z1.relu()?.matmul(&self.w2.t()?)?.broadcast_add(&self.b2)?;
        Ok((z1, logits))
    }

    /// x: (rows, 784) → logits (rows, 10).
    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward(x)?.1)
    }

    /// One SGD step on the mean cross-entropy of (x, labels), gradients written out by hand:
    /// for a two-layer ReLU network they are four products, cheaper than a traced backward.
    fn sgd_step(&self, x: &Tensor, labels: &[u32], learning_rate: f32) -> Result<Params> {
        let rows = labels.len();
        let (z1, logits) = self.forward(x)?;
        let hidden = z1.relu()?;
        let mut one_hot = vec![0f32; rows * N_CLASSES];
        for (i, &l) in labels.iter().enumerate() {
            one_hot[i * N_CLASSES + (l as usize).min(N_CLASSES - 1)] = 1.0;
        }
        let one_hot = Tensor::from_vec(one_hot, (rows, N_CLASSES), &Device::Cpu)?;
        // d(loss)/d(logits) = (softmax − one-hot) / rows.
        let g2 = ((candle_nn::ops::softmax_last_dim(&logits)? - one_hot)? / rows as f64)?;
        let dw2 = g2.t()?.matmul(&hidden)?;
        let db2 = g2.sum(0)?;
        let active = z1.gt(0f32)?.to_dtype(DType::F32)?;
        let g1 = (g2.matmul(&self.w2)? * active)?;
        let dw1 = g1.t()?.matmul(x)?;
        let db1 = g1.sum(0)?;
        let lr = f64::from(learning_rate);
        Ok(Params {
            w1: (&self.w1 - (dw1 * lr)?)?,
            b1: (&self.b1 - (db1 * lr)?)?,
            w2: (&self.w2 - (dw2 * lr)?)?,
            b2: (&self.b2 - (db2 * lr)?)?,
        })
    }
}

/// A client's weights after its local steps from `server`: batches drawn in a shuffled
/// order of its rows, reshuffled each time it runs out.
fn local_training(
    server: &Params,
    client: &Client,
    config: &Config,
    rng: &mut Rng,
) -> Result<Vec<f32>> {
    let m = client.labels.len();
    let mut order = rng::permutation(m, rng);
    let mut next = 0;
    let mut params = Params {
        w1: server.w1.clone(),
        b1: server.b1.clone(),
        w2: server.w2.clone(),
        b2: server.b2.clone(),
    };
    for _ in 0..config.local_steps {
        let mut batch = Vec::with_capacity(config.batch_size);
        while batch.len() < config.batch_size.min(m) {
            if next == m {
                order = rng::permutation(m, rng);
                next = 0;
            }
            batch.push(order[next]);
            next += 1;
        }
        let labels: Vec<u32> = batch.iter().map(|&r| client.labels[r]).collect();
        let index: Vec<u32> = batch.iter().map(|&r| r as u32).collect();
        let index = Tensor::from_vec(index, batch.len(), &Device::Cpu)?;
        let x = client.images.index_select(&index, 0)?;
        params = params.sgd_step(&x, &labels, config.learning_rate)?;
    }
    params.flat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn little_is_enough_z_matches_the_paper() {
        // n = 50, f = 12 in Baruch et al.: s = 14, z = Φ⁻¹(36/50) ≈ 0.58.
        assert!((little_is_enough_z(50, 12) - 0.5828).abs() < 1e-3);
        // n = 20, f = 4: s = 7, Φ⁻¹(13/20) ≈ 0.385.
        assert!((little_is_enough_z(20, 4) - 0.3853).abs() < 1e-3);
    }

    #[test]
    fn a_reply_outside_the_updates_range_or_misshapen_is_refused() {
        let updates = Updates {
            values: vec![0.0, 1.0, 2.0, -1.0, 0.5, 0.0],
            n: 2,
            d: 3,
            byzantine: vec![false, false],
        };
        let ok = Tensor::new(&[-0.5f32, 0.75, 1.0], &Device::Cpu).unwrap();
        assert_eq!(updates.validate(&ok).unwrap(), vec![-0.5, 0.75, 1.0]);
        let outside = Tensor::new(&[0.0f32, 2.0, 0.0], &Device::Cpu).unwrap();
        assert!(
            updates
                .validate(&outside)
                .unwrap_err()
                .contains("coordinate 1")
        );
        let nan = Tensor::new(&[0.0f32, f32::NAN, 0.0], &Device::Cpu).unwrap();
        assert!(updates.validate(&nan).unwrap_err().contains("finite"));
        let wrong = Tensor::zeros((2, 3), DType::F32, &Device::Cpu).unwrap();
        assert!(updates.validate(&wrong).unwrap_err().contains("shape"));
        assert_eq!(updates.mean(), vec![-0.5, 0.75, 1.0]);
    }

    #[test]
    fn the_honest_range_ignores_the_attackers_rows_and_allows_one_width_beyond() {
        // Honest rows 0.1 and 0.3 in the one coordinate, an attacker's at 100: the honest range
        // [0, 0.3] (0 included) widened by its width is [-0.3, 0.6].
        let updates = Updates {
            values: vec![0.1, 0.3, 100.0],
            n: 3,
            d: 1,
            byzantine: vec![false, false, true],
        };
        assert_eq!(updates.outside_honest_range(&[0.2]), None);
        assert_eq!(updates.outside_honest_range(&[0.59]), None);
        assert_eq!(updates.outside_honest_range(&[-0.29]), None);
        let far = updates.outside_honest_range(&[33.0]).unwrap();
        assert!(far.contains("coordinate 0"), "{far}");
        assert!(updates.outside_honest_range(&[-0.4]).is_some());
        // Inside the range of all rows, so well formed: the honest range is what refuses it.
        assert!(
            updates
                .validate(&Tensor::new(&[33.0f32], &Device::Cpu).unwrap())
                .is_ok()
        );
    }
}
