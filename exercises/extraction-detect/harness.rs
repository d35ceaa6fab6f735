//! Grading and display for the `extraction-detect` exercise (the lab's code: do not edit).
//!
//! The checker draws a population of API clients from the seed — benign ones asking natural
//! digits (light and heavy users, some focused on one class, some with noisy scanners, all
//! retrying now and then) and attackers extracting the model (Jacobian-augmented synthetic
//! queries, off-domain "copycat" images, random noise) — each on a schedule drawn from the
//! same mixture whatever its role, so neither volume nor rate nor time of day tells an attacker.
//! The victim's predictions in each log come from the shipped standard model. The candidate's
//! detector sees one client's first k queries at a time, for k on a fixed list of checkpoints,
//! each client in a fresh runner.

use aisec_lab::checks::percent;
use aisec_lab::harness::Context;
use aisec_lab::serde_json::json;
use aisec_lab::{Error, Result, plot};
use aisec_sdk::rng::{Rng, RngCore, permutation};
use aisec_sdk::theft::ClientLog;
use aisec_sdk::{Cnn, Dataset, Tensor};
use serde::Deserialize;

/// `[settings]` of exercise.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    clients: usize,
    min_attackers: usize,
    max_attackers: usize,
    min_heavy_queries: usize,
    max_queries: usize,
    checkpoints: Vec<usize>,
}

/// `[bars]` of exercise.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bars {
    min_recall: f64,
    min_precision: f64,
    min_recall_per_attack: f64,
    max_median_queries_to_flag: f64,
}

/// `[demo]` of exercise.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demo {
    clients: usize,
}

const PIXELS: usize = 28 * 28;
const DAY: f64 = 86_400.0;
const HOUR: f64 = 3_600.0;
/// The share of a benign client's queries that resend its previous image.
const RETRY_SHARE: f64 = 0.03;
/// A light benign user asks at least this many digits.
const MIN_QUERIES: usize = 25;

// ---------------------------------------------------------------------------------------------
// Random draws (the checker's own, from `ctx.rng`).

fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn between(rng: &mut Rng, low: f64, high: f64) -> f64 {
    low + (high - low) * unit(rng)
}

fn below(rng: &mut Rng, n: usize) -> usize {
    ((unit(rng) * n as f64) as usize).min(n.saturating_sub(1))
}

fn count_between(rng: &mut Rng, low: usize, high: usize) -> usize {
    low + below(rng, high - low + 1)
}

fn normal(rng: &mut Rng) -> f64 {
    let (u, v) = (1.0 - unit(rng), unit(rng));
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn exponential(rng: &mut Rng, mean: f64) -> f64 {
    -mean * (1.0 - unit(rng)).ln()
}

// ---------------------------------------------------------------------------------------------
// Who the clients are.

/// How an attacker builds its queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attack {
    /// Papernot et al. (2017): a few natural digits, then rounds of x + λ·sign(∇ substitute).
    Jacobian,
    /// Natural-looking images from outside the task (here built from digits: mosaics,
    /// rotations, inversions, blurs, strokes, zoomed crops), as in copycat networks.
    Copycat,
    /// Random images (uniform, Gaussian, salt, blocky noise).
    Noise,
}

impl Attack {
    const ALL: [Attack; 3] = [Attack::Jacobian, Attack::Copycat, Attack::Noise];

    fn name(self) -> &'static str {
        match self {
            Attack::Jacobian => "Jacobian-augmented synthetic",
            Attack::Copycat => "copycat (off-domain images)",
            Attack::Noise => "random noise",
        }
    }
}

/// How a benign client uses the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Habit {
    /// Digits of every class.
    Plain,
    /// Mostly one class (a form whose boxes hold the same digit).
    Focused,
    /// Digits through a noisy scanner.
    Scanner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Benign { habit: Habit, heavy: bool },
    Attacker(Attack),
}

impl Role {
    fn is_attacker(self) -> bool {
        matches!(self, Role::Attacker(_))
    }

    fn name(self) -> String {
        match self {
            Role::Attacker(a) => format!("attacker: {}", a.name()),
            Role::Benign { habit, heavy } => {
                let volume = if heavy { "heavy" } else { "light" };
                let habit = match habit {
                    Habit::Plain => "",
                    Habit::Focused => ", one class mostly",
                    Habit::Scanner => ", noisy scanner",
                };
                format!("benign {volume} user{habit}")
            }
        }
    }
}

/// When a client's queries arrive: drawn from the same mixture for every role.
#[derive(Debug, Clone, Copy)]
enum Schedule {
    /// Around the clock, one query every `gap` seconds on average.
    Steady { gap: f64 },
    /// The same, from 08:00 to 18:00 only.
    Office { gap: f64 },
    /// The same, from 22:00 to 06:00 only.
    Night { gap: f64 },
    /// Bursts of about `size` queries `gap` apart, `pause` between bursts (on average).
    Bursts { size: f64, gap: f64, pause: f64 },
}

impl Schedule {
    fn draw(rng: &mut Rng) -> Schedule {
        let gap = 10f64.powf(between(rng, 0.0, 2.5)); // 1 s to 5 min
        match below(rng, 4) {
            0 => Schedule::Steady { gap },
            1 => Schedule::Office { gap: gap.min(60.0) },
            2 => Schedule::Night { gap: gap.min(60.0) },
            _ => Schedule::Bursts {
                size: between(rng, 10.0, 60.0),
                gap: between(rng, 0.2, 3.0),
                pause: between(rng, 0.3, 4.0) * HOUR,
            },
        }
    }

    fn name(self) -> String {
        match self {
            Schedule::Steady { gap } => format!("steady, every {gap:.0} s"),
            Schedule::Office { gap } => format!("office hours, every {gap:.0} s"),
            Schedule::Night { gap } => format!("nights, every {gap:.0} s"),
            Schedule::Bursts { size, pause, .. } => {
                format!("bursts of ~{size:.0}, {:.1} h apart", pause / HOUR)
            }
        }
    }

    /// `n` arrival times, in seconds since the logs began.
    fn times(self, n: usize, rng: &mut Rng) -> Vec<f64> {
        let window = |t: f64, from: f64, to: f64| -> f64 {
            // The first moment at or after t inside the daily window [from, to) hours.
            let day = (t / DAY).floor() * DAY;
            let hour = (t - day) / HOUR;
            let inside = if from < to {
                hour >= from && hour < to
            } else {
                hour >= from || hour < to
            };
            if inside {
                t
            } else if from < to && hour < from {
                day + from * HOUR
            } else if from < to {
                day + DAY + from * HOUR
            } else {
                day + from * HOUR
            }
        };
        let mut t = between(rng, 0.0, DAY);
        let mut times = Vec::with_capacity(n);
        let mut in_burst = 0.0;
        for _ in 0..n {
            t = match self {
                Schedule::Steady { gap } => t + exponential(rng, gap),
                Schedule::Office { gap } => window(t + exponential(rng, gap), 8.0, 18.0),
                Schedule::Night { gap } => window(t + exponential(rng, gap), 22.0, 6.0),
                Schedule::Bursts { size, gap, pause } => {
                    in_burst += 1.0;
                    if in_burst > exponential(rng, size) + 1.0 {
                        in_burst = 0.0;
                        t + exponential(rng, pause)
                    } else {
                        t + exponential(rng, gap)
                    }
                }
            };
            times.push(t);
        }
        times
    }
}

/// One client of the API: who it is and what the operator logged.
struct Client {
    role: Role,
    schedule: Schedule,
    log: ClientLog,
}

/// Draws who the clients are, in a seeded order: the attackers (at least one of each kind),
/// as many benign heavy users as attackers or more, the rest light benign users.
fn draw_roles(settings: &Settings, n_clients: usize, rng: &mut Rng) -> Vec<Role> {
    let n_attackers = count_between(rng, settings.min_attackers, settings.max_attackers)
        .min(n_clients / 3)
        .max(1);
    let n_heavy = (n_attackers + below(rng, 3)).min(n_clients - n_attackers);
    let mut roles = Vec::with_capacity(n_clients);
    for i in 0..n_attackers {
        let attack = Attack::ALL
            .get(i)
            .copied()
            .unwrap_or_else(|| Attack::ALL[below(rng, 3)]);
        roles.push(Role::Attacker(attack));
    }
    for i in 0..n_clients - n_attackers {
        let habit = match below(rng, 4) {
            0 => Habit::Focused,
            1 => Habit::Scanner,
            _ => Habit::Plain,
        };
        roles.push(Role::Benign {
            habit,
            heavy: i < n_heavy,
        });
    }
    let order = permutation(roles.len(), rng);
    order.into_iter().map(|i| roles[i]).collect()
}

// ---------------------------------------------------------------------------------------------
// Images.

/// The digits clients draw from (the test split), one 784-value row each, with their labels.
struct Pool {
    images: Vec<Vec<f32>>,
    by_class: Vec<Vec<usize>>,
}

impl Pool {
    fn new(data: &Dataset) -> Result<Pool> {
        let images: Vec<Vec<f32>> = data.images().flatten_from(1)?.to_vec2::<f32>()?;
        let by_class = (0..10).map(|c| data.indices_of_class(c)).collect();
        Ok(Pool { images, by_class })
    }

    fn any(&self, rng: &mut Rng) -> &[f32] {
        &self.images[below(rng, self.images.len())]
    }
}

fn pixel(image: &[f32], row: isize, col: isize) -> f32 {
    if (0..28).contains(&row) && (0..28).contains(&col) {
        image[row as usize * 28 + col as usize]
    } else {
        0.0
    }
}

/// A digit as a client's camera or scanner gives it: shifted by up to a pixel, a little
/// fainter, with Gaussian noise of `noise` (0 for none), in [0, 1].
fn natural(digit: &[f32], noise: f64, rng: &mut Rng) -> Vec<f32> {
    let mut jitter = || match below(rng, 4) {
        0 => -1,
        1 => 1,
        _ => 0,
    };
    let (dy, dx) = (jitter(), jitter());
    let scale = between(rng, 0.85, 1.0) as f32;
    let mut out = vec![0f32; PIXELS];
    for row in 0..28 {
        for col in 0..28 {
            let mut v = pixel(digit, row - dy, col - dx) * scale;
            if noise > 0.0 {
                v += (noise * normal(rng)) as f32;
            }
            out[row as usize * 28 + col as usize] = v.clamp(0.0, 1.0);
        }
    }
    out
}

fn benign_queries(pool: &Pool, habit: Habit, n: usize, rng: &mut Rng) -> Vec<Vec<f32>> {
    let noise = if habit == Habit::Scanner {
        between(rng, 0.02, 0.05)
    } else {
        0.0
    };
    let favourite = below(rng, 10);
    let order = permutation(pool.images.len(), rng);
    let mut queries: Vec<Vec<f32>> = Vec::with_capacity(n);
    for i in 0..n {
        if let Some(last) = queries.last().filter(|_| unit(rng) < RETRY_SHARE) {
            queries.push(last.clone());
            continue;
        }
        let class = &pool.by_class[favourite];
        let idx = if habit == Habit::Focused && unit(rng) < 0.7 && !class.is_empty() {
            class[below(rng, class.len())]
        } else {
            order[i % order.len()]
        };
        queries.push(natural(&pool.images[idx], noise, rng));
    }
    queries
}

fn to_tensor(images: &[Vec<f32>]) -> Result<Tensor> {
    let flat: Vec<f32> = images.iter().flatten().copied().collect();
    Ok(Tensor::from_vec(
        flat,
        (images.len(), 1, 28, 28),
        &aisec_sdk::Device::Cpu,
    )?)
}

/// Jacobian-based dataset augmentation: a seed set of natural digits, then rounds that add
/// x + λ·sign(∇x (z_y − z_j)) for every x of the set so far, where z are the logits of the
/// attacker's substitute (here a small model trained on few digits: the shipped overfit one),
/// y the victim's label of x and j another class drawn at random. (∇x of the cross-entropy at
/// label j is ∇x (logsumexp z − z_j), which is ∇x (z_y − z_j) once the substitute is sure of y,
/// and unlike the gradient at y it does not vanish when the substitute is sure.)
fn jacobian_queries(
    pool: &Pool,
    victim: &Cnn,
    substitute: &Cnn,
    n: usize,
    rng: &mut Rng,
) -> Result<Vec<Vec<f32>>> {
    let n_seed = count_between(rng, 20, 50).min(n);
    let lambda = between(rng, 0.05, 0.15) as f32;
    let mut set: Vec<Vec<f32>> = (0..n_seed)
        .map(|_| {
            let digit = pool.any(rng).to_vec();
            natural(&digit, 0.0, rng)
        })
        .collect();
    let mut queries = set.clone();
    while queries.len() < n {
        let x = to_tensor(&set)?;
        let others: Vec<u32> = victim
            .predict(&x)?
            .iter()
            .map(|&y| (y + 1 + below(rng, 9) as u32) % 10)
            .collect();
        let gradient = substitute.input_gradient(&x, &others)?;
        let gradient = gradient.flatten_from(1)?.to_vec2::<f32>()?;
        let mut fresh: Vec<Vec<f32>> = set
            .iter()
            .zip(&gradient)
            .map(|(image, g)| {
                image
                    .iter()
                    .zip(g)
                    .map(|(&v, &d)| {
                        let step = if d > 0.0 {
                            lambda
                        } else if d < 0.0 {
                            -lambda
                        } else {
                            0.0
                        };
                        (v + step).clamp(0.0, 1.0)
                    })
                    .collect()
            })
            .collect();
        let order = permutation(fresh.len(), rng);
        queries.extend(order.iter().map(|&i| fresh[i].clone()));
        set.append(&mut fresh);
    }
    queries.truncate(n);
    Ok(queries)
}

fn rotated(digit: &[f32], quarter_turns: usize) -> Vec<f32> {
    let mut out = digit.to_vec();
    for _ in 0..quarter_turns % 4 {
        let before = out.clone();
        for row in 0..28 {
            for col in 0..28 {
                out[row * 28 + col] = before[(27 - col) * 28 + row];
            }
        }
    }
    out
}

fn blurred(digit: &[f32]) -> Vec<f32> {
    let mut out = digit.to_vec();
    for _ in 0..2 {
        let before = out.clone();
        for row in 0..28isize {
            for col in 0..28isize {
                let mut sum = 0.0;
                for dr in -1..=1 {
                    for dc in -1..=1 {
                        sum += pixel(&before, row + dr, col + dc);
                    }
                }
                out[row as usize * 28 + col as usize] = sum / 9.0;
            }
        }
    }
    let max = out.iter().copied().fold(0f32, f32::max).max(1e-6);
    out.iter().map(|v| (v / max).min(1.0)).collect()
}

/// A mosaic of `tile`×`tile` pieces, each from a random place of a random digit.
fn mosaic(pool: &Pool, tile: usize, rng: &mut Rng) -> Vec<f32> {
    let mut out = vec![0f32; PIXELS];
    for top in (0..28).step_by(tile) {
        for left in (0..28).step_by(tile) {
            let source = pool.any(rng).to_vec();
            let (from_top, from_left) = (below(rng, 28 - tile + 1), below(rng, 28 - tile + 1));
            for r in 0..tile {
                for c in 0..tile {
                    out[(top + r) * 28 + left + c] = source[(from_top + r) * 28 + from_left + c];
                }
            }
        }
    }
    out
}

/// A few random pen strokes on a blank page.
fn strokes(rng: &mut Rng) -> Vec<f32> {
    let mut out = vec![0f32; PIXELS];
    let width = between(rng, 1.0, 2.0);
    for _ in 0..count_between(rng, 2, 5) {
        let (r0, c0) = (between(rng, 3.0, 25.0), between(rng, 3.0, 25.0));
        let (r1, c1) = (between(rng, 3.0, 25.0), between(rng, 3.0, 25.0));
        for row in 0..28 {
            for col in 0..28 {
                let (pr, pc) = (row as f64, col as f64);
                let (dr, dc) = (r1 - r0, c1 - c0);
                let len2 = (dr * dr + dc * dc).max(1e-9);
                let t = (((pr - r0) * dr + (pc - c0) * dc) / len2).clamp(0.0, 1.0);
                let d = ((pr - r0 - t * dr).powi(2) + (pc - c0 - t * dc).powi(2)).sqrt();
                let ink = (width + 0.5 - d).clamp(0.0, 1.0) as f32;
                let v = &mut out[row * 28 + col];
                *v = v.max(ink);
            }
        }
    }
    out
}

/// A random 14×14 window of a digit, blown up to 28×28.
fn zoomed(digit: &[f32], rng: &mut Rng) -> Vec<f32> {
    let (top, left) = (below(rng, 15), below(rng, 15));
    let mut out = vec![0f32; PIXELS];
    for row in 0..28 {
        for col in 0..28 {
            out[row * 28 + col] = digit[(top + row / 2) * 28 + left + col / 2];
        }
    }
    out
}

fn copycat_queries(pool: &Pool, n: usize, rng: &mut Rng) -> Vec<Vec<f32>> {
    // Each copycat draws from three of the six kinds of off-domain images, in its own mix.
    let kinds = permutation(6, rng);
    let kinds = &kinds[..3];
    let weights: Vec<f64> = kinds.iter().map(|_| between(rng, 0.2, 1.0)).collect();
    let total: f64 = weights.iter().sum();
    (0..n)
        .map(|_| {
            let mut pick = unit(rng) * total;
            let mut kind = kinds[0];
            for (&k, &w) in kinds.iter().zip(&weights) {
                kind = k;
                if pick < w {
                    break;
                }
                pick -= w;
            }
            let digit = pool.any(rng).to_vec();
            let image = match kind {
                0 => mosaic(pool, [7, 14][below(rng, 2)], rng),
                1 => rotated(&digit, 1 + 2 * below(rng, 2)),
                2 => digit.iter().map(|v| 1.0 - v).collect(),
                3 => blurred(&digit),
                4 => strokes(rng),
                _ => zoomed(&digit, rng),
            };
            natural(&image, 0.0, rng)
        })
        .collect()
}

fn noise_queries(n: usize, rng: &mut Rng) -> Vec<Vec<f32>> {
    let style = below(rng, 4);
    let salt = between(rng, 0.05, 0.25);
    let spread = between(rng, 0.15, 0.3);
    (0..n)
        .map(|_| match style {
            0 => (0..PIXELS).map(|_| unit(rng) as f32).collect(),
            1 => (0..PIXELS)
                .map(|_| (0.5 + spread * normal(rng)).clamp(0.0, 1.0) as f32)
                .collect(),
            2 => (0..PIXELS)
                .map(|_| f32::from(u8::from(unit(rng) < salt)))
                .collect(),
            _ => {
                let coarse: Vec<f32> = (0..49).map(|_| unit(rng) as f32).collect();
                (0..PIXELS)
                    .map(|i| coarse[(i / 28 / 4) * 7 + (i % 28) / 4])
                    .collect()
            }
        })
        .collect()
}

/// The clients of one run, their logs answered by `victim`.
fn draw_clients(ctx: &Context, settings: &Settings, n_clients: usize) -> Result<Vec<Client>> {
    let data = ctx.data()?;
    let pool = Pool::new(&data.test)?;
    let victim = ctx.model("standard")?;
    let substitute = ctx.model("overfit")?;
    let mut rng = ctx.rng("clients");
    let roles = draw_roles(settings, n_clients, &mut rng);
    let bar = ctx.progress(roles.len() as u64, "drawing the clients");
    let mut clients = Vec::with_capacity(roles.len());
    for role in roles {
        let heavy = match role {
            Role::Attacker(_) | Role::Benign { heavy: true, .. } => true,
            Role::Benign { heavy: false, .. } => false,
        };
        let n = if heavy {
            count_between(&mut rng, settings.min_heavy_queries, settings.max_queries)
        } else {
            count_between(&mut rng, MIN_QUERIES, settings.min_heavy_queries - 1)
        };
        let images = match role {
            Role::Benign { habit, .. } => benign_queries(&pool, habit, n, &mut rng),
            Role::Attacker(Attack::Jacobian) => {
                jacobian_queries(&pool, &victim, &substitute, n, &mut rng)?
            }
            Role::Attacker(Attack::Copycat) => copycat_queries(&pool, n, &mut rng),
            Role::Attacker(Attack::Noise) => noise_queries(n, &mut rng),
        };
        let schedule = Schedule::draw(&mut rng);
        let times = schedule.times(n, &mut rng);
        let images = to_tensor(&images)?;
        let predicted = victim.predict(&images)?;
        clients.push(Client {
            role,
            schedule,
            log: ClientLog::new(times, images, predicted)?,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(clients)
}

// ---------------------------------------------------------------------------------------------
// Running the candidate's detector.

/// Runs the detector on every client, at each checkpoint its log reaches, until it flags the
/// client. Clients are visited in a seeded order, each in a fresh runner, so nothing carries
/// from one client to the next. Returns, per client, the queries it had made when flagged.
fn detect(
    ctx: &mut Context,
    clients: &[Client],
    checkpoints: &[usize],
) -> Result<aisec_sdk::Result<Vec<Option<usize>>>> {
    let model = ctx.model("standard")?;
    let natural = ctx.data()?.population.clone();
    let order = permutation(clients.len(), &mut ctx.rng("visits"));
    let mut flagged_at = vec![None; clients.len()];
    let bar = ctx.progress(clients.len() as u64, "running your detector on each client");
    for client_idx in order {
        ctx.fresh_runner()?;
        let log = &clients[client_idx].log;
        for &k in checkpoints.iter().filter(|&&k| k <= log.len()) {
            match exercise::is_extracting(&log.head(k)?, &model, &natural) {
                Ok(true) => {
                    flagged_at[client_idx] = Some(k);
                    break;
                }
                Ok(false) => {}
                Err(e) => return Ok(Err(e)),
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(Ok(flagged_at))
}

/// What the detector achieved.
struct Score {
    precision: f64,
    recall: f64,
    n_flagged: usize,
    n_attackers: usize,
    false_alarms: usize,
    heavy_false_alarms: usize,
    n_heavy_benign: usize,
    /// Per kind of attack: (caught, of).
    per_attack: Vec<(Attack, usize, usize)>,
    /// Queries made by each caught attacker when it was flagged.
    queries_to_flag: Vec<usize>,
}

fn median(values: &[usize]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2] as f64),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0),
    }
}

fn score(clients: &[Client], flagged_at: &[Option<usize>]) -> Score {
    let flags: Vec<bool> = flagged_at.iter().map(Option::is_some).collect();
    let truth: Vec<bool> = clients.iter().map(|c| c.role.is_attacker()).collect();
    let confusion = aisec_sdk::metrics::Confusion::from_flags(&flags, &truth);
    let heavy_benign: Vec<bool> = clients
        .iter()
        .map(|c| matches!(c.role, Role::Benign { heavy: true, .. }))
        .collect();
    let per_attack = Attack::ALL
        .iter()
        .map(|&a| {
            let mine = clients
                .iter()
                .zip(&flags)
                .filter(|(c, _)| c.role == Role::Attacker(a));
            let (caught, of) = mine.fold((0, 0), |(c, o), (_, &f)| (c + usize::from(f), o + 1));
            (a, caught, of)
        })
        .collect();
    Score {
        precision: confusion.precision(),
        recall: confusion.recall(),
        n_flagged: flags.iter().filter(|&&f| f).count(),
        n_attackers: truth.iter().filter(|&&t| t).count(),
        false_alarms: confusion.false_positives,
        heavy_false_alarms: heavy_benign
            .iter()
            .zip(&flags)
            .filter(|(h, f)| **h && **f)
            .count(),
        n_heavy_benign: heavy_benign.iter().filter(|&&h| h).count(),
        per_attack,
        queries_to_flag: clients
            .iter()
            .zip(flagged_at)
            .filter(|(c, _)| c.role.is_attacker())
            .filter_map(|(_, k)| *k)
            .collect(),
    }
}

fn validate(settings: &Settings) -> Result<()> {
    let bad = |reason: String| Error::invalid("[settings] of exercise.toml", reason);
    let c = &settings.checkpoints;
    if c.is_empty() || c[0] < 2 || c.windows(2).any(|w| w[0] >= w[1]) {
        return Err(bad(format!(
            "checkpoints {c:?} must be increasing and start at 2 or more"
        )));
    }
    if settings.min_attackers == 0
        || settings.min_attackers > settings.max_attackers
        || settings.clients < 3 * settings.max_attackers
        || settings.min_heavy_queries <= MIN_QUERIES
        || settings.max_queries < settings.min_heavy_queries
    {
        return Err(bad(
            "needs 1 <= min_attackers <= max_attackers, clients >= 3 * max_attackers and \
             25 < min_heavy_queries <= max_queries"
                .into(),
        ));
    }
    Ok(())
}

pub fn check(ctx: &mut Context, settings: &Settings, bars: &Bars) -> Result<()> {
    validate(settings)?;
    let clients = draw_clients(ctx, settings, settings.clients)?;
    let flagged = detect(ctx, &clients, &settings.checkpoints)?;
    let Some(flagged_at) = ctx.student("answers for every client at every checkpoint", flagged)
    else {
        return Ok(());
    };
    let calls: usize = clients
        .iter()
        .zip(&flagged_at)
        .map(|(c, f)| {
            let reached = settings.checkpoints.iter().filter(|&&k| k <= c.log.len());
            reached.filter(|&&k| f.is_none_or(|f| k <= f)).count()
        })
        .sum();
    ctx.check(
        "answers for every client at every checkpoint",
        true,
        format!("{calls} answers for {} clients", clients.len()),
        "an answer at each checkpoint",
        "",
    );
    let s = score(&clients, &flagged_at);
    ctx.check(
        "catches the attackers (recall)",
        s.recall >= bars.min_recall,
        format!(
            "flagged {} of {} attackers ({})",
            s.n_attackers - s.per_attack.iter().map(|(_, c, o)| o - c).sum::<usize>(),
            s.n_attackers,
            percent(s.recall)
        ),
        format!(">= {}", percent(bars.min_recall)),
        "look at what a client asks, not how much: synthetic and random queries do not look like \
         natural digits, and successive Jacobian steps sit unnaturally close to each other",
    );
    ctx.check(
        "leaves benign clients alone (precision)",
        s.precision >= bars.min_precision,
        format!(
            "{} of {} flagged clients attack ({}); false alarms: {} ({} of {} benign heavy users)",
            s.n_flagged - s.false_alarms,
            s.n_flagged,
            percent(s.precision),
            s.false_alarms,
            s.heavy_false_alarms,
            s.n_heavy_benign
        ),
        format!(">= {}", percent(bars.min_precision)),
        "benign heavy users ask as much and as fast as attackers, and benign clients retry a \
         query now and then: neither volume, rate nor one duplicate is evidence",
    );
    let worst = s
        .per_attack
        .iter()
        .filter(|(_, _, of)| *of > 0)
        .map(|&(a, caught, of)| (a, caught as f64 / of as f64))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let per_kind = s
        .per_attack
        .iter()
        .map(|(a, caught, of)| format!("{}: {caught} of {of}", a.name()))
        .collect::<Vec<_>>()
        .join(", ");
    ctx.check(
        "catches every kind of attack",
        worst.is_some_and(|(_, r)| r >= bars.min_recall_per_attack),
        per_kind,
        format!(">= {} of each kind", percent(bars.min_recall_per_attack)),
        match worst {
            Some((Attack::Jacobian, _)) => {
                "a Jacobian attacker's queries are small steps from its earlier ones: look at the \
                 distribution of each query's distance to the nearest earlier one (PRADA)"
            }
            Some((Attack::Copycat, _)) => {
                "copycat images are natural-looking but not digits: compare the queries with the \
                 natural digits you are given (the model's confidence, or its penultimate layer)"
            }
            _ => "noise is far from every natural digit, by any measure",
        },
    );
    let median_queries = median(&s.queries_to_flag);
    ctx.check(
        "flags attackers early",
        median_queries.is_some_and(|m| m <= bars.max_median_queries_to_flag),
        match median_queries {
            Some(m) => format!(
                "median {m} queries before the flag over {} caught attackers (each: {:?})",
                s.queries_to_flag.len(),
                {
                    let mut q = s.queries_to_flag.clone();
                    q.sort_unstable();
                    q
                }
            ),
            None => "no attacker flagged".into(),
        },
        format!("median <= {:.0} queries", bars.max_median_queries_to_flag),
        "decide from the first queries: a test that needs the whole log lets the attacker \
         finish first",
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Display.

/// Each query's L2 distance to the nearest earlier query of the same client (PRADA's
/// statistic), the first query left out.
fn min_distances(images: &Tensor) -> Result<Vec<f64>> {
    let x = images.flatten_from(1)?.to_dtype(aisec_sdk::DType::F64)?;
    let gram = x.matmul(&x.t()?)?.to_vec2::<f64>()?;
    Ok((1..gram.len())
        .map(|i| {
            (0..i)
                .map(|j| (gram[i][i] + gram[j][j] - 2.0 * gram[i][j]).max(0.0).sqrt())
                .fold(f64::INFINITY, f64::min)
        })
        .collect())
}

fn show(ctx: &mut Context, settings: &Settings, n_clients: usize) -> Result<()> {
    validate(settings)?;
    if n_clients < 3 {
        return Err(Error::invalid(
            "clients",
            format!("{n_clients} clients: show at least 3"),
        ));
    }
    let clients = draw_clients(ctx, settings, n_clients)?;
    let flagged_at = detect(ctx, &clients, &settings.checkpoints)?
        .map_err(|e| Error::invalid("is_extracting", e.to_string()))?;
    let s = score(&clients, &flagged_at);
    ctx.say(&format!(
        "extraction-detect, seed {}: {} clients of the prediction API, {} of them attacking\n",
        ctx.seed(),
        clients.len(),
        s.n_attackers
    ));
    // Attackers first, then benign clients, each group by size, for the table and the plot.
    let mut rows: Vec<usize> = (0..clients.len()).collect();
    rows.sort_by_key(|&i| {
        (
            !clients[i].role.is_attacker(),
            clients[i].role.name(),
            clients[i].log.len(),
        )
    });
    ctx.say("row  client                                      queries  schedule                       flagged");
    let mut table = Vec::new();
    for (row, &i) in rows.iter().enumerate() {
        let c = &clients[i];
        let verdict = match (flagged_at[i], c.role.is_attacker()) {
            (Some(k), true) => format!("after {k} queries"),
            (Some(k), false) => format!("after {k} queries (false alarm)"),
            (None, true) => "missed".into(),
            (None, false) => "-".into(),
        };
        ctx.say(&format!(
            "{row:>3}  {:<42}  {:>7}  {:<29}  {verdict}",
            c.role.name(),
            c.log.len(),
            c.schedule.name()
        ));
        table.push(json!({
            "row": row,
            "role": c.role.name(),
            "attacker": c.role.is_attacker(),
            "queries": c.log.len(),
            "schedule": c.schedule.name(),
            "flagged_after_queries": flagged_at[i],
        }));
    }
    ctx.say(&format!(
        "\nprecision {}, recall {}; median queries before an attacker was flagged: {}\n",
        percent(s.precision),
        percent(s.recall),
        median(&s.queries_to_flag).map_or("-".into(), |m| format!("{m}"))
    ));

    let out = ctx.out_dir()?.to_owned();
    // The timeline: one row per client, a dot per query at its time, coloured by whether the
    // detector had flagged the client by then.
    let groups = [
        "benign client, not flagged",
        "attacker, not flagged yet",
        "attacker, after the flag",
        "benign client, after a false alarm",
    ];
    let mut points = Vec::new();
    for (row, &i) in rows.iter().enumerate() {
        let c = &clients[i];
        for (q, &t) in c.log.times().iter().enumerate() {
            let after = flagged_at[i].is_some_and(|k| q >= k);
            let group = match (c.role.is_attacker(), after) {
                (false, false) => 0,
                (true, false) => 1,
                (true, true) => 2,
                (false, true) => 3,
            };
            points.push((t / HOUR, row as f64, group));
        }
    }
    let timeline = out.join("timeline.png");
    plot::scatter(
        "Each client's queries over time, and when your detector flagged it",
        "hours since the logs began",
        "client (row of the table; attackers first)",
        &points,
        &groups.map(String::from),
        &timeline,
    )?;
    // PRADA's statistic by kind of client.
    let mut by_kind: Vec<(String, Vec<f64>)> = vec![
        ("benign".into(), Vec::new()),
        (Attack::Jacobian.name().into(), Vec::new()),
        (Attack::Copycat.name().into(), Vec::new()),
        (Attack::Noise.name().into(), Vec::new()),
    ];
    for c in &clients {
        let slot = match c.role {
            Role::Benign { .. } => 0,
            Role::Attacker(Attack::Jacobian) => 1,
            Role::Attacker(Attack::Copycat) => 2,
            Role::Attacker(Attack::Noise) => 3,
        };
        by_kind[slot].1.extend(min_distances(c.log.images())?);
    }
    by_kind.retain(|(_, v)| !v.is_empty());
    let distances = out.join("min-distances.png");
    plot::histogram(
        "Distance of each query to the client's nearest earlier query",
        "L2 distance (pixels in [0, 1])",
        &by_kind,
        30,
        &distances,
    )?;
    // Sample queries: a row of eight per kind of client.
    let mut samples: Vec<Vec<f32>> = Vec::new();
    let mut kinds_shown = Vec::new();
    for role_is in [
        |r: Role| !r.is_attacker(),
        |r: Role| r == Role::Attacker(Attack::Jacobian),
        |r: Role| r == Role::Attacker(Attack::Copycat),
        |r: Role| r == Role::Attacker(Attack::Noise),
    ] {
        if let Some(c) = clients.iter().find(|c| role_is(c.role)) {
            let n = c.log.len();
            let last = c.log.images().narrow(0, n - 8.min(n), 8.min(n))?;
            let mut rows = last.flatten_from(1)?.to_vec2::<f32>()?;
            while rows.len() < 8 {
                rows.push(vec![0.0; PIXELS]);
            }
            samples.extend(rows);
            kinds_shown.push(c.role.name());
        }
    }
    let grid = out.join("queries.png");
    let refs: Vec<&[f32]> = samples.iter().map(Vec::as_slice).collect();
    plot::digit_grid(&refs, 8, 3, &grid)?;
    ctx.say(&format!(
        "picture: {} (one row per client, a dot per query; the colour changes where your detector flagged it)",
        timeline.display()
    ));
    ctx.say(&format!("picture: {}", distances.display()));
    ctx.say(&format!(
        "picture: {} (the last eight queries of: {})",
        grid.display(),
        kinds_shown.join("; ")
    ));
    ctx.emit(json!({
        "seed": ctx.seed(),
        "clients": table,
        "precision": s.precision,
        "recall": s.recall,
        "queries_to_flag": s.queries_to_flag,
        "pictures": [timeline.display().to_string(), distances.display().to_string(), grid.display().to_string()],
    }));
    Ok(())
}

pub fn run(ctx: &mut Context, settings: &Settings) -> Result<()> {
    show(ctx, settings, settings.clients.min(12))
}

pub fn demo(ctx: &mut Context, settings: &Settings, options: &Demo) -> Result<()> {
    show(ctx, settings, options.clients)
}
